// The slot-level core of the factored temporal attention (src/model/parts.rs) as one
// CPU operator with its own backward: per root and head, scores over the K slots,
// masked softmax, and the attention-weighted slot inputs.
//
// Why a custom operator: in libtorch ops this core is a gather of the node rows, two
// or three batched products for the scores, masking, softmax, two or three batched
// products for the weighted sums and a concatenation, each with a backward node.
// Those products are R tiny matrices (K x in x H), where the batched-GEMM path and
// the per-operator overhead, not the arithmetic, cost the time: on a 2-core CPU
// they were the largest item of a TGN training step. Here one pass per root does
// it all from the rows in place (no [R*K, in] gathered copy, no concatenation).
//
// Shapes (f32 unless noted; `W = n + t + e`):
//   nodes [M, n], index [R*K] (int64; empty: the rows are the slots, M = R*K)
//   time [R*K, t], edge [R*K, e] (e may be 0)
//   q [H, R, W]: the scaled query of each head moved into input space
//   mask [R, K] (bool)
//   -> xbar [H, R, W] = sum_k a[h, r, k] x[r, k], a = softmax over the valid
//      slots of q[h, r] . x[r, k]; a row with no valid slot gets a = 0.
// Masked slots' inputs are never read (their gradients are zero).
//
// Determinism: every output row is computed by one thread in a fixed order,
// including the gradient to shared node rows (each row sums the slots that read
// it, in slot order).
//
// C interface (called from src/model/slot_attn.rs):
//   lc_slot_attn(nodes, index, time, edge, q, mask, &out, err, cap) -> 0, or -1 with
//   the message in err. Tensor arguments are `at::Tensor*` (tch's C_tensor);
//   index and edge may be null. `out` receives a new `at::Tensor*`.
#include <ATen/ATen.h>

#include "kernel_abi.h"
#include <ATen/Parallel.h>
#include <torch/csrc/autograd/custom_function.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <exception>
#include <vector>

namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// Plain pointers to one call's inputs; `idx` null means slot i reads node row i.
struct Parts {
  const float* nodes;
  const int64_t* idx;
  const float* time;
  const float* edge;
  const float* q;
  const bool* mask;
  int64_t R, K, H, n, t, e, W;

  const float* node_row(int64_t slot) const { return nodes + (idx ? idx[slot] : slot) * n; }
  const float* q_row(int64_t h, int64_t r) const { return q + (h * R + r) * W; }
};

#define LC_INLINE inline __attribute__((always_inline))

LC_INLINE float dot(const float* a, const float* b, int64_t len) {
  float s = 0.f;
#pragma omp simd reduction(+ : s)
  for (int64_t i = 0; i < len; ++i) s += a[i] * b[i];
  return s;
}

LC_INLINE void axpy(float alpha, const float* x, float* y, int64_t len) {
#pragma omp simd
  for (int64_t i = 0; i < len; ++i) y[i] += alpha * x[i];
}

// Root r's valid slot inputs as the rows of `x [K, W]` (masked slots' rows are
// left as they are and never read): every head's scores and sums then run over
// one contiguous W-long row per slot, hot in L1, instead of two or three parts
// scattered over the node, time and edge tensors.
LC_INLINE void gather_root(const Parts& p, int64_t r, float* x) {
  const bool* m = p.mask + r * p.K;
  for (int64_t k = 0; k < p.K; ++k) {
    if (!m[k]) continue;
    const int64_t slot = r * p.K + k;
    float* row = x + k * p.W;
    std::memcpy(row, p.node_row(slot), p.n * sizeof(float));
    std::memcpy(row + p.n, p.time + slot * p.t, p.t * sizeof(float));
    if (p.e) std::memcpy(row + p.n + p.t, p.edge + slot * p.e, p.e * sizeof(float));
  }
}

// Roots [r0, r1): attention weights `a [H, R, K]` and `xbar [H, R, W]` (each row
// written whole here, on the thread that computes it).
__attribute__((target_clones("avx2", "default"))) void forward_rows(const Parts& p, int64_t r0,
                                                                            int64_t r1, float* a,
                                                                            float* xbar) {
  std::vector<float> s(p.K), x(p.K * p.W);
  for (int64_t r = r0; r < r1; ++r) {
    const bool* m = p.mask + r * p.K;
    gather_root(p, r, x.data());
    for (int64_t h = 0; h < p.H; ++h) {
      const float* q = p.q_row(h, r);
      float* ar = a + (h * p.R + r) * p.K;
      std::fill(ar, ar + p.K, 0.f);
      std::fill(xbar + (h * p.R + r) * p.W, xbar + (h * p.R + r + 1) * p.W, 0.f);
      float best = -INFINITY;
      for (int64_t k = 0; k < p.K; ++k) {
        if (!m[k]) continue;
        s[k] = dot(q, x.data() + k * p.W, p.W);
        best = std::max(best, s[k]);
      }
      if (best == -INFINITY) continue;  // no valid slot: a = 0, xbar = 0
      float total = 0.f;
      for (int64_t k = 0; k < p.K; ++k) {
        ar[k] = m[k] ? std::exp(s[k] - best) : 0.f;
        total += ar[k];
      }
      float* out = xbar + (h * p.R + r) * p.W;
      for (int64_t k = 0; k < p.K; ++k) {
        if (!m[k]) continue;
        ar[k] /= total;
        axpy(ar[k], x.data() + k * p.W, out, p.W);
      }
    }
  }
}

// Gradients of roots [r0, r1) from `g [H, R, W]`: the softmax's input gradients
// `ds [H, R, K]`, dq [H, R, W], and the per-slot input gradients dnode [R*K, n]
// (only when slots are node rows, else null: see `node_grads`), dtime [R*K, t],
// dedge [R*K, e] (null when not needed). Every row written is written whole.
__attribute__((target_clones("avx2", "default"))) void backward_rows(
    const Parts& p, const float* a, const float* g, int64_t r0, int64_t r1, float* ds, float* dq,
    float* dnode, float* dtime, float* dedge) {
  std::vector<float> x(p.K * p.W);
  for (int64_t r = r0; r < r1; ++r) {
    const bool* m = p.mask + r * p.K;
    gather_root(p, r, x.data());
    for (int64_t h = 0; h < p.H; ++h) {
      const float* ar = a + (h * p.R + r) * p.K;
      const float* gr = g + (h * p.R + r) * p.W;
      float* dsr = ds + (h * p.R + r) * p.K;
      // da_k = g . x_k; ds_k = a_k (da_k - sum_j a_j da_j) (softmax backward).
      float mean = 0.f;
      for (int64_t k = 0; k < p.K; ++k) {
        dsr[k] = m[k] && ar[k] != 0.f ? dot(gr, x.data() + k * p.W, p.W) : 0.f;
        mean += ar[k] * dsr[k];
      }
      for (int64_t k = 0; k < p.K; ++k) dsr[k] = ar[k] * (dsr[k] - mean);
      if (dq) {
        float* dqr = dq + (h * p.R + r) * p.W;
        std::fill(dqr, dqr + p.W, 0.f);
        for (int64_t k = 0; k < p.K; ++k)
          if (m[k] && dsr[k] != 0.f) axpy(dsr[k], x.data() + k * p.W, dqr, p.W);
      }
    }
    // dx_k = sum_h a_hk g_h + ds_hk q_h, split over the parts; masked slots get 0.
    for (int64_t k = 0; k < p.K; ++k) {
      const int64_t slot = r * p.K + k;
      if (dnode) std::fill(dnode + slot * p.n, dnode + (slot + 1) * p.n, 0.f);
      if (dtime) std::fill(dtime + slot * p.t, dtime + (slot + 1) * p.t, 0.f);
      if (dedge) std::fill(dedge + slot * p.e, dedge + (slot + 1) * p.e, 0.f);
      if (!m[k]) continue;
      for (int64_t h = 0; h < p.H; ++h) {
        const float ah = a[(h * p.R + r) * p.K + k];
        const float dh = ds[(h * p.R + r) * p.K + k];
        const float* gr = g + (h * p.R + r) * p.W;
        const float* qr = p.q_row(h, r);
        if (dnode) {
          axpy(ah, gr, dnode + slot * p.n, p.n);
          axpy(dh, qr, dnode + slot * p.n, p.n);
        }
        if (dtime) {
          axpy(ah, gr + p.n, dtime + slot * p.t, p.t);
          axpy(dh, qr + p.n, dtime + slot * p.t, p.t);
        }
        if (dedge) {
          axpy(ah, gr + p.n + p.t, dedge + slot * p.e, p.e);
          axpy(dh, qr + p.n + p.t, dedge + slot * p.e, p.e);
        }
      }
    }
  }
}

// Node rows [m0, m1) of the gradient to shared node rows `dnode [M, n]`: row m sums,
// in slot order, `sum_h a_hk g_h + ds_hk q_h` (node part) over the valid slots that
// read it, `slots[start[m] .. start[m + 1])`. One thread per row and a fixed order:
// deterministic, without the per-slot copy and the scatter of an index_add_.
__attribute__((target_clones("avx2", "default"))) void node_grads(const Parts& p, const float* a,
                                                                          const float* g, const float* ds,
                                                                          const int64_t* start,
                                                                          const int64_t* slots, int64_t m0,
                                                                          int64_t m1, float* dnode) {
  for (int64_t row = m0; row < m1; ++row) {
    float* out = dnode + row * p.n;
    std::fill(out, out + p.n, 0.f);
    for (int64_t i = start[row]; i < start[row + 1]; ++i) {
      const int64_t slot = slots[i], r = slot / p.K, k = slot % p.K;
      for (int64_t h = 0; h < p.H; ++h) {
        const int64_t hr = h * p.R + r;
        axpy(a[hr * p.K + k], g + hr * p.W, out, p.n);
        axpy(ds[hr * p.K + k], p.q_row(h, r), out, p.n);
      }
    }
  }
}

// Roots per parallel task: enough work (K * H * W multiply-adds each) to pay for
// the hand-off.
constexpr int64_t kGrain = 32;

Parts parts_of(const at::Tensor& nodes, const at::Tensor& index, const at::Tensor& time,
               const at::Tensor& edge, const at::Tensor& q, const at::Tensor& mask) {
  Parts p{};
  p.R = mask.size(0);
  p.K = mask.size(1);
  p.H = q.size(0);
  p.n = nodes.size(1);
  p.t = time.size(1);
  p.e = edge.size(1);
  p.W = p.n + p.t + p.e;
  p.nodes = nodes.data_ptr<float>();
  p.idx = index.numel() ? index.data_ptr<int64_t>() : nullptr;
  p.time = time.data_ptr<float>();
  p.edge = p.e ? edge.data_ptr<float>() : nullptr;
  p.q = q.data_ptr<float>();
  p.mask = mask.data_ptr<bool>();
  return p;
}

struct SlotAttention : public torch::autograd::Function<SlotAttention> {
  static at::Tensor forward(AutogradContext* ctx, at::Tensor nodes, at::Tensor index, bool indexed,
                            at::Tensor time, at::Tensor edge, at::Tensor q, at::Tensor mask) {
    Parts p = parts_of(nodes, index, time, edge, q, mask);
    auto f = q.options();
    at::Tensor a = at::empty({p.H, p.R, p.K}, f);
    at::Tensor xbar = at::empty({p.H, p.R, p.W}, f);
    float* ap = a.data_ptr<float>();
    float* xp = xbar.data_ptr<float>();
    at::parallel_for(0, p.R, kGrain, [&](int64_t r0, int64_t r1) { forward_rows(p, r0, r1, ap, xp); });
    ctx->save_for_backward({nodes, index, time, edge, q, mask, a});
    ctx->saved_data["indexed"] = indexed;
    return xbar;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    auto saved = ctx->get_saved_variables();
    const at::Tensor &nodes = saved[0], &index = saved[1], &time = saved[2], &edge = saved[3],
                     &q = saved[4], &mask = saved[5], &a = saved[6];
    at::Tensor g = grads[0].contiguous();
    Parts p = parts_of(nodes, index, time, edge, q, mask);
    auto f = q.options();
    // needs_input_grad counts tensor arguments only (nodes 0, index 1, time 2,
    // edge 3, q 4, mask 5); the returned list has one entry per argument.
    const bool want_node = ctx->needs_input_grad(0), want_time = ctx->needs_input_grad(2),
               want_edge = p.e && ctx->needs_input_grad(3), want_q = ctx->needs_input_grad(4);
    const bool indexed = ctx->saved_data["indexed"].toBool();
    at::Tensor ds = at::empty({p.H, p.R, p.K}, f);
    at::Tensor dnode = want_node ? at::empty({nodes.size(0), p.n}, f) : at::Tensor();
    at::Tensor dtime = want_time ? at::empty({p.R * p.K, p.t}, f) : at::Tensor();
    at::Tensor dedge = want_edge ? at::empty({p.R * p.K, p.e}, f) : at::Tensor();
    at::Tensor dq = want_q ? at::empty({p.H, p.R, p.W}, f) : at::Tensor();
    auto ptr = [](at::Tensor& t) { return t.defined() ? t.data_ptr<float>() : nullptr; };
    float *dsp = ds.data_ptr<float>(), *dqp = ptr(dq), *dnp = ptr(dnode), *dtp = ptr(dtime),
          *dep = ptr(dedge);
    const float* ap = a.data_ptr<float>();
    const float* gp = g.data_ptr<float>();
    at::parallel_for(0, p.R, kGrain, [&](int64_t r0, int64_t r1) {
      backward_rows(p, ap, gp, r0, r1, dsp, dqp, indexed ? nullptr : dnp, dtp, dep);
    });
    if (want_node && indexed) {
      // The valid slots grouped by the node row they read, in slot order (a
      // counting sort), then one pass per row.
      const int64_t M = nodes.size(0);
      std::vector<int64_t> start(M + 1, 0), slots;
      for (int64_t s = 0; s < p.R * p.K; ++s)
        if (p.mask[s]) ++start[p.idx[s] + 1];
      for (int64_t i = 0; i < M; ++i) start[i + 1] += start[i];
      slots.resize(start[M]);
      std::vector<int64_t> fill(start.begin(), start.end() - 1);
      for (int64_t s = 0; s < p.R * p.K; ++s)
        if (p.mask[s]) slots[fill[p.idx[s]]++] = s;
      // About kGrain roots' worth of slots per task.
      const int64_t grain = std::max<int64_t>(1, kGrain * p.K * M / std::max<int64_t>(1, start[M]));
      at::parallel_for(0, M, grain, [&](int64_t m0, int64_t m1) {
        node_grads(p, ap, gp, dsp, start.data(), slots.data(), m0, m1, dnp);
      });
    }
    return {dnode, at::Tensor(), at::Tensor(), dtime, dedge, dq, at::Tensor()};
  }
};


}  // namespace

extern "C" int lc_slot_attn(const at::Tensor* nodes, const at::Tensor* index, const at::Tensor* time,
                            const at::Tensor* edge, const at::Tensor* q, const at::Tensor* mask,
                            at::Tensor** out, char* err, size_t cap) {
  return linkcast::guarded(err, cap, [&] {
    auto f32 = [](const at::Tensor& t, const char* name) {
      TORCH_CHECK(t.device().is_cpu() && t.scalar_type() == at::kFloat && t.dim() >= 2,
                  "slot attention: ", name, " must be a CPU float tensor of rank 2 or more");
      return t.contiguous();
    };
    at::Tensor n = f32(*nodes, "nodes"), tm = f32(*time, "time"), qq = f32(*q, "q");
    at::Tensor m = mask->contiguous();
    TORCH_CHECK(m.scalar_type() == at::kBool && m.dim() == 2, "slot attention: mask must be [R, K] bool");
    const int64_t R = m.size(0), K = m.size(1);
    // Absent parts are empty tensors, not undefined ones (autograd functions
    // expect defined inputs): no edge is `[R*K, 0]`, no index is `[0]`.
    at::Tensor e = edge ? f32(*edge, "edge") : at::empty({R * K, 0}, tm.options());
    at::Tensor ix = index ? index->contiguous() : at::empty({0}, tm.options().dtype(at::kLong));
    TORCH_CHECK(tm.size(0) == R * K, "slot attention: time has ", tm.size(0), " rows for ", R * K, " slots");
    TORCH_CHECK(e.size(0) == R * K, "slot attention: edge rows != slots");
    TORCH_CHECK(qq.dim() == 3 && qq.size(1) == R && qq.size(2) == n.size(1) + tm.size(1) + e.size(1),
                "slot attention: q must be [H, R, n + t + e]");
    if (index) {
      TORCH_CHECK(ix.scalar_type() == at::kLong && ix.numel() == R * K,
                  "slot attention: index must be [R*K] int64");
      // The kernel reads rows by these indices: out-of-range ones are an error, not
      // a stray read.
      if (R * K > 0) {
        auto [lo, hi] = at::aminmax(ix);
        TORCH_CHECK(lo.item<int64_t>() >= 0 && hi.item<int64_t>() < n.size(0),
                    "slot attention: index out of range for ", n.size(0), " node rows");
      }
    } else {
      TORCH_CHECK(n.size(0) == R * K, "slot attention: without index, nodes must have R*K rows");
    }
    *out = new at::Tensor(SlotAttention::apply(n, ix, index != nullptr, tm, e, qq, m));
  });
}
