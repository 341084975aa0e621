// The element-wise part of a GRU cell as one CPU operator with its own backward
// (src/model/gru_gates.rs): from the two gate pre-activations to the new state.
//
// Why: libtorch's CPU `gru_cell` runs the gates as about ten element-wise operators
// over [P, d] slices (add, sigmoid, multiply, tanh, subtract, ...) and its backward
// as a dozen more, each a pass over memory with its own dispatch and autograd node;
// TGN runs the cell over ~500 nodes with pending messages in every batch. Here the
// forward is one pass per row and the backward another, with no transcendental
// function (it reuses the saved gates).
//
// Shapes (f32): gi [P, 3d] = x W_ih^T + b_ih, gh [P, 3d] = h W_hh^T + b_hh, h [P, d];
// gate order (r, z, n) as PyTorch's GRU. Formula as libtorch's `gru_cell`:
//   r = sigmoid(gi_r + gh_r), z = sigmoid(gi_z + gh_z), n = tanh(gi_n + r * gh_n),
//   h' = (h - n) * z + n.
// exp is computed here (vectorisable: 2^k times a degree-7 polynomial on
// |t| <= ln2/2, ~1 float ulp); sigmoid(a) = 1 / (1 + e^-a), tanh(a) = 1 - 2 / (1 + e^2a).
// Against libtorch's functions the gates agree to a few 1e-8 (tested to 1e-6).
//
// C interface: lc_gru_gates(gi, gh, h, &out, err, cap) -> 0, or -1 with the message in
// err. Tensor arguments are `at::Tensor*`; `out` receives a new `at::Tensor*` [P, d].
#include <ATen/ATen.h>

#include "kernel_abi.h"
#include <ATen/Parallel.h>
#include <torch/csrc/autograd/custom_function.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <exception>

namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

#define LC_INLINE inline __attribute__((always_inline))

// e^a for a in [-87, 88] (callers clamp), branch-free so loops vectorise.
LC_INLINE float exp_f(float a) {
  // Round to the nearest integer by adding and removing 1.5 * 2^23 (vectorises
  // everywhere, unlike a call to nearbyint on a baseline x86-64 target).
  const float k = (a * 1.44269504088896341f + 12582912.f) - 12582912.f;
  const float t = (a - k * 0.693145751953125f) - k * 1.428606765330187e-06f;
  float p = 1.f / 5040;
  p = p * t + 1.f / 720;
  p = p * t + 1.f / 120;
  p = p * t + 1.f / 24;
  p = p * t + 1.f / 6;
  p = p * t + 0.5f;
  p = p * t + 1.f;
  p = p * t + 1.f;
  const int32_t bits = (static_cast<int32_t>(k) + 127) << 23;
  float scale;
  std::memcpy(&scale, &bits, sizeof scale);
  return p * scale;
}

LC_INLINE float clamp_exp_arg(float a) { return std::min(88.f, std::max(-87.f, a)); }
LC_INLINE float sigmoid_f(float a) { return 1.f / (1.f + exp_f(clamp_exp_arg(-a))); }
LC_INLINE float tanh_f(float a) { return 1.f - 2.f / (1.f + exp_f(clamp_exp_arg(2.f * a))); }

constexpr int64_t kGrain = 16;  // rows per task (3d values each)

// Rows [p0, p1): the new state `out [P, d]` and the saved gates `s [P, 3d]` = (r, z, n).
__attribute__((target_clones("avx2", "default"))) void forward_rows(const float* gi, const float* gh,
                                                                            const float* h, int64_t d,
                                                                            int64_t p0, int64_t p1,
                                                                            float* out, float* s) {
  for (int64_t row = p0; row < p1; ++row) {
    const float* a = gi + row * 3 * d;
    const float* b = gh + row * 3 * d;
    const float* hr = h + row * d;
    float* sr = s + row * 3 * d;
    float* o = out + row * d;
#pragma omp simd
    for (int64_t j = 0; j < d; ++j) {
      const float r = sigmoid_f(a[j] + b[j]);
      const float z = sigmoid_f(a[d + j] + b[d + j]);
      const float n = tanh_f(a[2 * d + j] + r * b[2 * d + j]);
      sr[j] = r;
      sr[d + j] = z;
      sr[2 * d + j] = n;
      o[j] = (hr[j] - n) * z + n;
    }
  }
}

// Rows [p0, p1) of the gradients from `g [P, d]`: dgi, dgh [P, 3d] and dh [P, d]
// (all written: a branch per output in the loop would keep it from vectorising).
__attribute__((target_clones("avx2", "default"))) void backward_rows(
    const float* g, const float* gh, const float* h, const float* s, int64_t d, int64_t p0, int64_t p1,
    float* dgi, float* dgh, float* dh) {
  for (int64_t row = p0; row < p1; ++row) {
    const float* gr = g + row * d;
    const float* b = gh + row * 3 * d;
    const float* hr = h + row * d;
    const float* sr = s + row * 3 * d;
    float* di = dgi + row * 3 * d;
    float* dg = dgh + row * 3 * d;
    float* dhr = dh + row * d;
#pragma omp simd
    for (int64_t j = 0; j < d; ++j) {
      const float r = sr[j], z = sr[d + j], n = sr[2 * d + j];
      const float go = gr[j];
      // h' = (h - n) z + n: dz = g (h - n), dn = g (1 - z), dh = g z.
      const float dn_pre = go * (1.f - z) * (1.f - n * n);  // through tanh
      const float dr_pre = dn_pre * b[2 * d + j] * r * (1.f - r);
      const float dz_pre = go * (hr[j] - n) * z * (1.f - z);
      di[j] = dr_pre;
      di[d + j] = dz_pre;
      di[2 * d + j] = dn_pre;
      dg[j] = dr_pre;
      dg[d + j] = dz_pre;
      dg[2 * d + j] = dn_pre * r;
      dhr[j] = go * z;
    }
  }
}

struct GruGates : public torch::autograd::Function<GruGates> {
  static at::Tensor forward(AutogradContext* ctx, at::Tensor gi, at::Tensor gh, at::Tensor h) {
    const int64_t P = h.size(0), d = h.size(1);
    at::Tensor out = at::empty({P, d}, h.options());
    at::Tensor s = at::empty({P, 3 * d}, h.options());
    const float *a = gi.data_ptr<float>(), *b = gh.data_ptr<float>(), *hp = h.data_ptr<float>();
    float *op = out.data_ptr<float>(), *sp = s.data_ptr<float>();
    at::parallel_for(0, P, kGrain, [&](int64_t p0, int64_t p1) { forward_rows(a, b, hp, d, p0, p1, op, sp); });
    ctx->save_for_backward({gh, h, s});
    return out;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    auto saved = ctx->get_saved_variables();
    const at::Tensor &gh = saved[0], &h = saved[1], &s = saved[2];
    at::Tensor g = grads[0].contiguous();
    const int64_t P = h.size(0), d = h.size(1);
    auto f = h.options();
    at::Tensor dgi = at::empty({P, 3 * d}, f), dgh = at::empty({P, 3 * d}, f), dh = at::empty({P, d}, f);
    float *dip = dgi.data_ptr<float>(), *dgp = dgh.data_ptr<float>(), *dhp = dh.data_ptr<float>();
    const float *gp = g.data_ptr<float>(), *bp = gh.data_ptr<float>(), *hp = h.data_ptr<float>(),
                *sp = s.data_ptr<float>();
    at::parallel_for(0, P, kGrain, [&](int64_t p0, int64_t p1) {
      backward_rows(gp, bp, hp, sp, d, p0, p1, dip, dgp, dhp);
    });
    auto wanted = [&](int i, at::Tensor& t) { return ctx->needs_input_grad(i) ? t : at::Tensor(); };
    return {wanted(0, dgi), wanted(1, dgh), wanted(2, dh)};
  }
};


}  // namespace

extern "C" int lc_gru_gates(const at::Tensor* gi, const at::Tensor* gh, const at::Tensor* h,
                            at::Tensor** out, char* err, size_t cap) {
  return linkcast::guarded(err, cap, [&] {
    auto f32 = [](const at::Tensor& t, const char* name) {
      TORCH_CHECK(t.device().is_cpu() && t.scalar_type() == at::kFloat && t.dim() == 2,
                  "gru gates: ", name, " must be a 2-d CPU float tensor");
      return t.contiguous();
    };
    at::Tensor a = f32(*gi, "gi"), b = f32(*gh, "gh"), hh = f32(*h, "h");
    const int64_t P = hh.size(0), d = hh.size(1);
    TORCH_CHECK(a.size(0) == P && b.size(0) == P && a.size(1) == 3 * d && b.size(1) == 3 * d,
                "gru gates: gi and gh must be [P, 3d] for h [P, d]");
    *out = new at::Tensor(GruGates::apply(a, b, hh));
  });
}
