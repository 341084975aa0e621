// The fixed time encoding `cos(dt * w + b)` as one CPU pass (src/model/time_enc.rs).
//
// Why: in libtorch operators it is a multiply and an add over the full
// `[N, d]` output, then a cosine, three passes over a buffer of `N * d` floats
// (TGN's 6,000 slots x 100 frequencies per batch, about 7% of a 2-core training
// step). Here each element is formed and encoded once, in registers.
//
// Numbers: `y = dt * w + b` is rounded exactly as the operator form rounds it (a
// float multiply, then a float add; the build turns off fused multiply-add
// contraction), and `cos(y)` is accurate to about one float ulp for every y:
// y is reduced by pi/2 in double precision (Cody-Waite with a three-part pi/2 whose
// first two parts have 23 significant bits, so `k * P1` and `k * P2` are exact
// for |k| < 2^30 and the reduced argument carries ~1e-16 absolute error), then
// short Taylor polynomials for sin and cos on [-pi/4, pi/4] in float (truncation
// error below 3e-8 of the last term). Arguments beyond 1e9 (a gap of 30 years at
// the fastest frequency) go through the C library's double cos.
//
// Rows whose dt is exactly 0 (padding slots, and no real neighbour: a neighbour is
// always strictly earlier) copy the encoding of 0, computed once.
//
// C interface (called from src/model/time_enc.rs):
//   lc_time_encode(dt, w, b, out, err, cap) -> 0, or -1 with the message in err.
//   dt [N] (any shape, flattened), w [d], b [d]: CPU float; `out` receives a new
//   `at::Tensor*` of shape dt.shape + [d]. No gradients (the encoding is fixed).
#include <ATen/ATen.h>

#include "kernel_abi.h"
#include <ATen/Parallel.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <exception>
#include <vector>

namespace {

constexpr double kTwoOverPi = 0.6366197723675814;
constexpr double kP1 = 0x1.921fb4p+0;             // pi/2, first 23 bits
constexpr double kP2 = 0x1.4442dp-24;             // the next 23 bits
constexpr double kP3 = 0x1.8469898cc5170p-48;     // the rest, rounded
constexpr double kRound = 6755399441055744.0;     // 1.5 * 2^52: t + kRound rounds t to an integer
constexpr float kBig = 1e9f;                      // beyond: the C library's cos

// cos of each `dt * w[j] + b[j]`, j < d, into `out`.
__attribute__((target_clones("avx512f", "avx2", "default"))) void encode_row(float dt, const float* w,
                                                                            const float* b, int64_t d,
                                                                            float* out) {
#pragma omp simd
  for (int64_t j = 0; j < d; ++j) {
    float y = dt * w[j];
    y = y + b[j];
    const double yd = y;
    const double shifted = yd * kTwoOverPi + kRound;
    const double k = shifted - kRound;
    int64_t bits;
    std::memcpy(&bits, &shifted, sizeof bits);
    const int64_t quadrant = bits & 3;  // k mod 4 (also for negative k)
    const double r = ((yd - k * kP1) - k * kP2) - k * kP3;
    const float rf = static_cast<float>(r);
    const float z = rf * rf;
    const float c =
        1.f + z * (-0.5f + z * (1.f / 24 + z * (-1.f / 720 + z * (1.f / 40320 + z * (-1.f / 3628800)))));
    const float s = rf + rf * z * (-1.f / 6 + z * (1.f / 120 + z * (-1.f / 5040 + z * (1.f / 362880))));
    // cos(r + q pi/2) = cos r, -sin r, -cos r, sin r for q = 0, 1, 2, 3.
    const float v = (quadrant & 1) ? s : c;
    out[j] = ((quadrant + 1) & 2) ? -v : v;
  }
}


}  // namespace

extern "C" int lc_time_encode(const at::Tensor* dt, const at::Tensor* w, const at::Tensor* b,
                              at::Tensor** out, char* err, size_t cap) {
  return linkcast::guarded(err, cap, [&] {
    auto f32 = [](const at::Tensor& t, const char* name) {
      TORCH_CHECK(t.device().is_cpu() && t.scalar_type() == at::kFloat,
                  "time encoding: ", name, " must be a CPU float tensor");
      return t.contiguous();
    };
    const at::Tensor x = f32(*dt, "dt"), ww = f32(*w, "w"), bb = f32(*b, "b");
    TORCH_CHECK(ww.dim() == 1 && bb.dim() == 1 && ww.size(0) == bb.size(0),
                "time encoding: w and b must be [d]");
    const int64_t n = x.numel(), d = ww.size(0);
    std::vector<int64_t> shape = x.sizes().vec();
    shape.push_back(d);
    at::Tensor y = at::empty(shape, x.options());
    const float* xp = x.data_ptr<float>();
    const float* wp = ww.data_ptr<float>();
    const float* bp = bb.data_ptr<float>();
    float* yp = y.data_ptr<float>();
    float wmax = 0.f, bmax = 0.f;
    for (int64_t j = 0; j < d; ++j) {
      wmax = std::max(wmax, std::fabs(wp[j]));
      bmax = std::max(bmax, std::fabs(bp[j]));
    }
    // The row loop runs over a multiple of the widest vector (16 floats): a
    // scalar remainder (4 of TGN's 100) would cost about a third of the row.
    const int64_t dp = (d + 15) / 16 * 16;
    std::vector<float> wpad(dp, 0.f), bpad(dp, 0.f), zero(dp);
    std::copy(wp, wp + d, wpad.begin());
    std::copy(bp, bp + d, bpad.begin());
    encode_row(0.f, wpad.data(), bpad.data(), dp, zero.data());
    // Rows per task: ~10k elements, enough to pay for the hand-off.
    const int64_t grain = std::max<int64_t>(1, 10000 / std::max<int64_t>(d, 1));
    at::parallel_for(0, n, grain, [&](int64_t r0, int64_t r1) {
      std::vector<float> buf(dp);
      for (int64_t i = r0; i < r1; ++i) {
        float* row = yp + i * d;
        const float t = xp[i];
        if (t == 0.f) {
          std::memcpy(row, zero.data(), d * sizeof(float));
          continue;
        }
        encode_row(t, wpad.data(), bpad.data(), dp, buf.data());
        std::memcpy(row, buf.data(), d * sizeof(float));
        if (!(std::fabs(t) * wmax + bmax < kBig)) {  // also NaN and infinity
          for (int64_t j = 0; j < d; ++j) {
            float v = t * wp[j];
            v = v + bp[j];
            if (!(std::fabs(v) < kBig)) row[j] = static_cast<float>(std::cos(static_cast<double>(v)));
          }
        }
      }
    });
    *out = new at::Tensor(std::move(y));
  });
}
