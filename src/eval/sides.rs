//! Scores that split at the decoder's sum: `logit(u, v) = w . relu(s_u + c_v) + b`,
//! with `s_u` a row of the source's side and `c_v` a row of the candidate's side
//! (for the node-embedding models, `P_s h_u + b_s` and `P_d h_v` at the query time;
//! `crate::model::embedded` computes them). A cache of candidate rows at one time
//! (`crate::serve::scorer::cache`) then answers every later query at that time with
//! one pass of [`SideDecoder::probability`] over the candidates.
//!
//! Rows are `f32`, row-major, `width` values each. Torch-free, so the serving layer
//! and its cache build without libtorch.

use crate::store::NodeId;

/// Padding in [`CandidateRows::reads`].
pub const NO_NODE: NodeId = NodeId::MAX;

/// The candidates' side at one time `t`: `rows [C, width]`, and `reads [C, k]`, the
/// other nodes whose state or events each row was computed from (its sampled
/// neighbours; [`NO_NODE`] pads). A row stays what the model would compute at `t`
/// until an event touches its candidate or one of its reads: what a cache
/// invalidates by.
#[derive(Debug, Clone, Default)]
pub struct CandidateRows {
    pub width: usize,
    pub rows: Vec<f32>,
    pub k: usize,
    pub reads: Vec<NodeId>,
}

/// The layer that joins the two sides: `logit = w . relu(src_row + cand_row) + b`.
#[derive(Debug, Clone)]
pub struct SideDecoder {
    pub w: Vec<f32>,
    pub b: f32,
}

impl SideDecoder {
    /// The probability of one pair from its two rows (each `w.len()` wide).
    #[inline(always)]
    pub fn probability(&self, src_row: &[f32], cand_row: &[f32]) -> f32 {
        let logit = hidden_dot(src_row, cand_row, &self.w) + self.b;
        1.0 / (1.0 + (-logit).exp())
    }

    /// `out[i]` = the probability of `(src_row, row(i))` for every `i`. On x86-64
    /// CPUs with AVX2 and FMA (checked at run time) the loop is compiled for them:
    /// the portable build targets SSE2, where the 8-lane sum takes two registers
    /// and no fused multiply-add.
    pub fn probabilities<'a>(&self, src_row: &[f32], row: impl Fn(usize) -> &'a [f32], out: &mut [f64]) {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
            // SAFETY: the CPU has the features the function is compiled for.
            unsafe { self.probabilities_avx2(src_row, &row, out) };
            return;
        }
        self.probabilities_plain::<false>(src_row, &row, out);
    }

    /// Four candidates at a time ([`hidden_dot4`]: four independent sums, and the
    /// source's row loaded once for the four), then the rest one by one.
    /// `FMA`: sums by fused multiply-add (only where the CPU has it: elsewhere
    /// `mul_add` is a library call).
    #[inline(always)]
    fn probabilities_plain<'a, const FMA: bool>(
        &self,
        src_row: &[f32],
        row: &impl Fn(usize) -> &'a [f32],
        out: &mut [f64],
    ) {
        let mut quads = out.chunks_exact_mut(4);
        let mut i = 0;
        for o in &mut quads {
            let l = hidden_dot4_with::<FMA>(src_row, [row(i), row(i + 1), row(i + 2), row(i + 3)], &self.w);
            let mut e = [0f32; 4];
            for (e, l) in e.iter_mut().zip(l) {
                *e = exp_approx(-(l + self.b));
            }
            for (o, e) in o.iter_mut().zip(e) {
                *o = f64::from(1.0 / (1.0 + e));
            }
            i += 4;
        }
        for o in quads.into_remainder() {
            *o = f64::from(self.probability(src_row, row(i)));
            i += 1;
        }
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn probabilities_avx2<'a>(
        &self,
        src_row: &[f32],
        row: &impl Fn(usize) -> &'a [f32],
        out: &mut [f64],
    ) {
        self.probabilities_plain::<true>(src_row, row, out);
    }
}

/// `sum_k w[k] * max(0, a[k] + d[k])`, in 8 independent lanes so the compiler can
/// keep them in one vector register.
#[inline(always)]
pub fn hidden_dot(a: &[f32], d: &[f32], w: &[f32]) -> f32 {
    let mut acc = [0f32; 8];
    let (ac, dc, wc) = (a.chunks_exact(8), d.chunks_exact(8), w.chunks_exact(8));
    let (ar, dr, wr) = (ac.remainder(), dc.remainder(), wc.remainder());
    for ((x, y), z) in ac.zip(dc).zip(wc) {
        for l in 0..8 {
            acc[l] += z[l] * (x[l] + y[l]).max(0.0);
        }
    }
    let mut tail = 0f32;
    for ((x, y), z) in ar.iter().zip(dr).zip(wr) {
        tail += z * (x + y).max(0.0);
    }
    acc.iter().sum::<f32>() + tail
}

/// `e^x` in `f32` without a library call or a branch, so the four of
/// [`SideDecoder::probabilities`] share vector registers: `x = n ln 2 + r` with
/// `|r| <= ln 2 / 2`, `e^r` by its Taylor series to `r^7` (truncation below 5e-9
/// relative), times `2^n` built in the exponent bits. `n` is rounded by adding
/// and subtracting `1.5 * 2^23`, whose low bits then hold `n` for the exponent.
/// Within 3 ulp of `expf` over the clamped range (tested); beyond it saturates
/// (`e^-87`, `e^88`), and NaN stays NaN.
#[inline(always)]
pub fn exp_approx(x: f32) -> f32 {
    const SHIFT: f32 = 12_582_912.0; // 1.5 * 2^23
    // ln 2 in two parts, so `n * LN2_HI` is exact for |n| <= 128.
    const LN2_HI: f32 = 0.693_145_75;
    const LN2_LO: f32 = 1.428_606_8e-6;
    let x = x.clamp(-87.0, 88.0);
    let shifted = x * std::f32::consts::LOG2_E + SHIFT;
    let n = shifted - SHIFT;
    let r = (x - n * LN2_HI) - n * LN2_LO;
    let p = 1.0
        + r * (1.0
            + r * (0.5
                + r * (1.0 / 6.0
                    + r * (1.0 / 24.0 + r * (1.0 / 120.0 + r * (1.0 / 720.0 + r * (1.0 / 5040.0)))))));
    // `n + 127` sits in the low bits of `shifted`; everything above them shifts out.
    p * f32::from_bits(shifted.to_bits().wrapping_add(127) << 23)
}

/// [`hidden_dot`] of one row `a` against four rows `d` at once, each sum in the
/// same order as `hidden_dot`'s (so bit for bit its result): four independent
/// accumulators keep the adds from waiting on each other.
#[inline(always)]
pub fn hidden_dot4(a: &[f32], d: [&[f32]; 4], w: &[f32]) -> [f32; 4] {
    hidden_dot4_with::<false>(a, d, w)
}

/// [`hidden_dot4`], with `FMA` each lane's step one fused multiply-add (rounded
/// once, so within float rounding of the unfused sum, not bit for bit).
#[inline(always)]
fn hidden_dot4_with<const FMA: bool>(a: &[f32], d: [&[f32]; 4], w: &[f32]) -> [f32; 4] {
    let e = w.len();
    let full = e / 8 * 8;
    let (a, d) = (&a[..e], [&d[0][..e], &d[1][..e], &d[2][..e], &d[3][..e]]);
    let mut acc = [[0f32; 8]; 4];
    for c in (0..full).step_by(8) {
        let (x, z) = (&a[c..c + 8], &w[c..c + 8]);
        for (acc, d) in acc.iter_mut().zip(&d) {
            let y = &d[c..c + 8];
            for l in 0..8 {
                let h = (x[l] + y[l]).max(0.0);
                acc[l] = if FMA { z[l].mul_add(h, acc[l]) } else { acc[l] + z[l] * h };
            }
        }
    }
    let mut out = [0f32; 4];
    for ((o, acc), d) in out.iter_mut().zip(&acc).zip(&d) {
        let mut tail = 0f32;
        for k in full..e {
            tail += w[k] * (a[k] + d[k]).max(0.0);
        }
        *o = acc.iter().sum::<f32>() + tail;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hidden_dot_equals_the_plain_sum() {
        // Widths around the 8-lane split, with negative sums that the ReLU cuts.
        for width in [1usize, 7, 8, 9, 17, 100] {
            let a: Vec<f32> = (0..width).map(|i| ((i * 37 % 11) as f32 - 5.0) * 0.3).collect();
            let d: Vec<f32> = (0..width).map(|i| ((i * 13 % 7) as f32 - 3.0) * 0.2).collect();
            let w: Vec<f32> = (0..width).map(|i| ((i * 5 % 9) as f32 - 4.0) * 0.1).collect();
            let plain: f64 = (0..width).map(|i| f64::from(w[i]) * f64::from((a[i] + d[i]).max(0.0))).sum();
            assert!((f64::from(hidden_dot(&a, &d, &w)) - plain).abs() < 1e-5, "width {width}");
        }
        // Four at a time: bit for bit one at a time, and `probabilities` (both paths)
        // equal to `probability`.
        for width in [3usize, 8, 13, 100] {
            let row = |r: usize| -> Vec<f32> {
                (0..width).map(|i| (((i + 3 * r) * 29 % 17) as f32 - 8.0) * 0.07).collect()
            };
            let a = row(9);
            let w: Vec<f32> = (0..width).map(|i| ((i * 7 % 5) as f32 - 2.0) * 0.3).collect();
            let rows: Vec<Vec<f32>> = (0..11).map(row).collect();
            let four = hidden_dot4(&a, [&rows[0], &rows[1], &rows[2], &rows[3]], &w);
            for q in 0..4 {
                assert_eq!(four[q].to_bits(), hidden_dot(&a, &rows[q], &w).to_bits(), "width {width}");
            }
            let dec = SideDecoder { w: w.clone(), b: -0.25 };
            let mut out = vec![0f64; rows.len()];
            dec.probabilities(&a, |i| &rows[i], &mut out);
            let mut plain = vec![0f64; rows.len()];
            dec.probabilities_plain::<false>(&a, &|i| &rows[i][..], &mut plain);
            let fused = hidden_dot4_with::<true>(&a, [&rows[0], &rows[1], &rows[2], &rows[3]], &w);
            for q in 0..4 {
                assert!((fused[q] - four[q]).abs() <= 1e-5 * (1.0 + four[q].abs()), "width {width}: fused");
            }
            for (i, r) in rows.iter().enumerate() {
                let one = f64::from(dec.probability(&a, r));
                assert!(
                    (out[i] - one).abs() < 1e-7 && (plain[i] - one).abs() < 1e-7,
                    "width {width} row {i}"
                );
            }
        }
        // The exponential against the library's, over the range a sigmoid sees.
        let mut x = -87.0f32;
        while x < 88.0 {
            let (a, b) = (exp_approx(x), x.exp());
            assert!(((a - b) / b).abs() <= 3.0 * f32::EPSILON, "exp({x}): {a} vs {b}");
            x += 0.0137;
        }
        assert_eq!(exp_approx(-1e30), exp_approx(-87.0));
        assert!(exp_approx(f32::NAN).is_nan());
        let dec = SideDecoder { w: vec![1.0, -2.0], b: 0.5 };
        // relu(1 + 0) * 1 + relu(-1 + 3) * -2 + 0.5 = 1 - 4 + 0.5 = -2.5.
        let p = dec.probability(&[1.0, -1.0], &[0.0, 3.0]);
        assert!((f64::from(p) - 1.0 / (1.0 + 2.5f64.exp())).abs() < 1e-7);
    }
}
