//! Link-prediction metrics: average precision, AUC-ROC, MRR and Hits@k.
//!
//! # Binary metrics (pooled scores with labels)
//!
//! Input: `scores: &[f64]` and `labels: &[bool]` of equal length `n`; a higher
//! score means "more likely a true link". Cost: one sort, O(n log n).
//!
//! - **Average precision** ([`average_precision`]) is the step-wise sum that
//!   scikit-learn's `average_precision_score` computes (no interpolation):
//!   `AP = sum_n (R_n - R_{n-1}) * P_n`, over the distinct score thresholds in
//!   descending order, where `P_n` and `R_n` are precision and recall of the
//!   prediction "positive iff score >= threshold_n". Equivalently
//!   `AP = (1/P) * sum_g tp_g * precision_g` over groups `g` of tied scores.
//! - **AUC-ROC** ([`roc_auc`]) is the probability that a random positive scores
//!   above a random negative, a tied pair counting 1/2 (the Mann-Whitney U
//!   statistic divided by `P * N`). This equals the trapezoidal area under the
//!   ROC curve whose points are the distinct thresholds, which is what
//!   scikit-learn's `roc_auc_score` computes.
//!
//! Ties: scores that compare equal with `==` form one threshold, so they are
//! one step of the precision-recall curve and one diagonal segment of the ROC
//! curve. In particular `-0.0` and `+0.0` tie, as they do in scikit-learn.
//! Infinite scores are accepted (they order as expected); NaN is rejected.
//!
//! Counts are kept as integers; AUC is an exact integer ratio converted once,
//! and AP sums its per-threshold terms with Neumaier compensation, so results
//! do not drift with `n` (the differential test holds them to scikit-learn
//! within 1e-9).
//!
//! Errors ([`MetricError`]): empty input, length mismatch, a NaN score, and
//! single-class input. scikit-learn returns AP = 1.0 when every label is
//! positive and AP = 0.0 with a warning when none is, and AUC = nan with a
//! warning (older versions raised) for either case; linkcast refuses all of
//! these, because a protocol that pairs each positive with negatives never
//! produces one class, so such a batch means a bug upstream, and a silent 0 or
//! 1 would bias a batch mean.
//!
//! # Ranking metrics (one positive against K negatives)
//!
//! [`rank_metrics`] ranks a positive's score among its K negatives' scores.
//! With ties, the optimistic rank is `1 + #{neg > pos}` and the pessimistic
//! rank `1 + #{neg >= pos}`; the rank is their mean (as in TGB's evaluator),
//! and the reciprocal rank is `1 / rank`.
//!
//! Hits@k is the *mean of the two indicators* `[optimistic <= k]` and
//! `[pessimistic <= k]`: 1 when both ranks are within k, 0 when neither, 0.5
//! when the tied block straddles k. A positive tied with one negative for first
//! place (ranks 1 and 2, mean rank 1.5) thus scores 0.5 for Hits@1. This
//! differs from TGB, which thresholds the mean rank (1.5 <= 1 is false, so 0):
//! ours gives a constant-score model the same expected Hits@k as breaking the
//! ties uniformly at random would, at the block's ends.
//!
//! TGB's convention (`tgb.linkproppred.evaluate.Evaluator`, py-tgb 2.3.0) is kept
//! beside ours: its rank is the same mean `1 + (#{neg > pos} + #{neg >= pos}) / 2`,
//! so MRR is identical (TGB averages in float32, so its printed MRR can differ in
//! the 7th digit), and its Hits@k is `[rank <= k]` on that mean rank
//! ([`RankOutcome::hits_tgb`]; [`RankSummary::hits_tgb`]). Golden values from
//! py-tgb's own `Evaluator` are in the tests (`scripts/golden_tgb_rank.py`).
//!
//! Lexicographic keys (combined heuristics): [`lex_cmp`] orders rows of keys, and
//! [`rank_metrics_lex`] and [`lex_dense_ranks`] rank them exactly, without folding
//! several keys into one float.
//!
//! [`RankSummary`] averages over queries: MRR and Hits@{1,3,10}. Build it with
//! [`RankAccumulator`] (whose `merge` makes it a rayon fold/reduce), or with
//! [`rank_summary_rows`] for a row-major `(queries, K)` block of negatives.
//!
//! Sources: scikit-learn's documentation of `average_precision_score` and
//! `roc_auc_score`; Mann and Whitney (1947); Huang et al., "Temporal Graph
//! Benchmark" (2023) for the optimistic/pessimistic rank. The golden values in
//! the tests come from `scripts/golden_metrics.py`.

use std::cmp::Ordering;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// Why a metric could not be computed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum MetricError {
    #[error("{metric}: no scores to evaluate")]
    Empty { metric: &'static str },
    #[error("{metric}: {scores} scores but {labels} labels")]
    LengthMismatch { metric: &'static str, scores: usize, labels: usize },
    #[error("{metric}: score at index {index} is NaN")]
    NanScore { metric: &'static str, index: usize },
    #[error(
        "{metric}: undefined with one class ({positives} positives, {negatives} negatives); \
         need at least one of each"
    )]
    SingleClass { metric: &'static str, positives: usize, negatives: usize },
    #[error("rank: {negatives} negative scores is not {queries} queries x {k} negatives each")]
    RankShape { queries: usize, k: usize, negatives: usize },
}

/// AP and AUC of one set of scored pairs, computed from one sort.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BinaryMetrics {
    pub ap: f64,
    pub auc: f64,
}

/// Average precision, step-wise as scikit-learn's `average_precision_score`.
/// See the module docs for the definition, ties and errors.
pub fn average_precision(scores: &[f64], labels: &[bool]) -> Result<f64, MetricError> {
    let groups = sorted_groups("average_precision", scores, labels)?;
    Ok(ap_from_groups(&groups))
}

/// AUC-ROC with tied scores counted 1/2 (Mann-Whitney U / (P * N)).
/// See the module docs for ties and errors.
pub fn roc_auc(scores: &[f64], labels: &[bool]) -> Result<f64, MetricError> {
    let groups = sorted_groups("roc_auc", scores, labels)?;
    Ok(auc_from_groups(&groups))
}

/// Both binary metrics with a single sort (the common case in `--protocol ap`).
pub fn binary_metrics(scores: &[f64], labels: &[bool]) -> Result<BinaryMetrics, MetricError> {
    let groups = sorted_groups("binary_metrics", scores, labels)?;
    Ok(BinaryMetrics { ap: ap_from_groups(&groups), auc: auc_from_groups(&groups) })
}

/// One block of tied scores: how many positives and negatives share it.
#[derive(Debug, Clone, Copy)]
struct TieGroup {
    pos: u64,
    neg: u64,
}

/// Validated input reduced to tie groups in descending score order, plus the
/// class totals. Everything the binary metrics need is in these counts.
struct Groups {
    groups: Vec<TieGroup>,
    positives: u64,
    negatives: u64,
}

fn sorted_groups(metric: &'static str, scores: &[f64], labels: &[bool]) -> Result<Groups, MetricError> {
    if scores.len() != labels.len() {
        return Err(MetricError::LengthMismatch { metric, scores: scores.len(), labels: labels.len() });
    }
    if scores.is_empty() {
        return Err(MetricError::Empty { metric });
    }
    // NaN must be rejected before sorting: total_cmp would order it, and a
    // NaN never compares equal, so it would silently form its own threshold.
    if let Some(index) = scores.iter().position(|s| s.is_nan()) {
        return Err(MetricError::NanScore { metric, index });
    }
    let positives = labels.iter().filter(|&&l| l).count();
    let negatives = labels.len() - positives;
    if positives == 0 || negatives == 0 {
        return Err(MetricError::SingleClass { metric, positives, negatives });
    }

    let mut pairs: Vec<(f64, bool)> = scores.iter().copied().zip(labels.iter().copied()).collect();
    // Descending. total_cmp puts -0.0 just below +0.0 with nothing between, so
    // grouping with `==` below still merges them into one tie, as sklearn does.
    pairs.sort_unstable_by(|a, b| b.0.total_cmp(&a.0));

    let mut groups: Vec<TieGroup> = Vec::new();
    let mut current = f64::NAN; // never == anything, so the first pair opens a group
    for (score, label) in pairs {
        if score != current {
            groups.push(TieGroup { pos: 0, neg: 0 });
            current = score;
        }
        let g = groups.last_mut().expect("a group was just pushed");
        if label {
            g.pos += 1;
        } else {
            g.neg += 1;
        }
    }
    Ok(Groups { groups, positives: positives as u64, negatives: negatives as u64 })
}

fn ap_from_groups(g: &Groups) -> f64 {
    // AP = (1/P) * sum_g tp_g * TP_g / (TP_g + FP_g), with TP_g, FP_g the
    // cumulative counts at and above group g. Groups without positives add 0
    // (recall does not move), which is why tied negatives only lower the
    // precision of the thresholds below them.
    let mut sum = NeumaierSum::default();
    let (mut tp, mut fp) = (0u64, 0u64);
    for grp in &g.groups {
        tp += grp.pos;
        fp += grp.neg;
        if grp.pos > 0 {
            sum.add(grp.pos as f64 * (tp as f64 / (tp + fp) as f64));
        }
    }
    sum.value() / g.positives as f64
}

fn auc_from_groups(g: &Groups) -> f64 {
    // 2U = sum over groups of neg_g * (2 * positives strictly above + pos_g):
    // each negative beats no positive above it and ties with each one in its
    // own group (1/2 each). Exact in u128, so the only rounding is the final
    // division.
    let mut twice_u: u128 = 0;
    let mut pos_above: u128 = 0;
    for grp in &g.groups {
        twice_u += grp.neg as u128 * (2 * pos_above + grp.pos as u128);
        pos_above += grp.pos as u128;
    }
    let denom = 2 * g.positives as u128 * g.negatives as u128;
    twice_u as f64 / denom as f64
}

/// Compensated (Neumaier) summation: the error stays O(eps) instead of growing
/// with the number of terms.
#[derive(Debug, Clone, Copy, Default)]
struct NeumaierSum {
    sum: f64,
    compensation: f64,
}

impl NeumaierSum {
    fn add(&mut self, x: f64) {
        let t = self.sum + x;
        if self.sum.abs() >= x.abs() {
            self.compensation += (self.sum - t) + x;
        } else {
            self.compensation += (x - t) + self.sum;
        }
        self.sum = t;
    }

    fn merge(&mut self, other: NeumaierSum) {
        self.add(other.sum);
        self.add(other.compensation);
    }

    fn value(self) -> f64 {
        self.sum + self.compensation
    }
}

/// The k of Hits@k reported in [`RankSummary::hits`], in field order.
pub const HITS_AT: [usize; 3] = [1, 3, 10];

/// Where one positive ranks among its negatives (1 = best).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RankOutcome {
    /// `1 + #{negatives scoring strictly above the positive}`.
    pub optimistic: usize,
    /// `1 + #{negatives scoring at or above the positive}`.
    pub pessimistic: usize,
}

impl RankOutcome {
    /// Mean of the optimistic and pessimistic rank.
    pub fn rank(&self) -> f64 {
        (self.optimistic + self.pessimistic) as f64 / 2.0
    }

    /// `1 / rank()`.
    pub fn reciprocal_rank(&self) -> f64 {
        2.0 / (self.optimistic + self.pessimistic) as f64
    }

    /// Hits@k as the mean of `[optimistic <= k]` and `[pessimistic <= k]`:
    /// 0, 0.5 (the tied block straddles k) or 1.
    pub fn hits(&self, k: usize) -> f64 {
        self.hits_halves(k) as f64 / 2.0
    }

    /// Hits@k in half units (0, 1 or 2), so sums over queries stay exact.
    fn hits_halves(&self, k: usize) -> u64 {
        u64::from(self.optimistic <= k) + u64::from(self.pessimistic <= k)
    }

    /// Hits@k as TGB's `Evaluator` counts it: 1 when the mean rank is at most k.
    pub fn hits_tgb(&self, k: usize) -> bool {
        self.optimistic + self.pessimistic <= 2 * k
    }
}

/// Rank of `pos_score` among `neg_scores` (see the module docs for ties).
///
/// NaN is not a score a model should produce, and this function cannot fail,
/// so NaN counts against the positive: a NaN negative counts as scoring above
/// it, and a NaN positive ranks below every negative. A broken model then
/// reads as bad, never as good. No negatives gives rank 1.
pub fn rank_metrics(pos_score: f64, neg_scores: &[f64]) -> RankOutcome {
    if pos_score.is_nan() {
        let last = neg_scores.len() + 1;
        return RankOutcome { optimistic: last, pessimistic: last };
    }
    let (mut above, mut tied) = (0usize, 0usize);
    for &n in neg_scores {
        if n > pos_score || n.is_nan() {
            above += 1;
        } else if n == pos_score {
            tied += 1;
        }
    }
    RankOutcome { optimistic: 1 + above, pessimistic: 1 + above + tied }
}

/// Lexicographic order of two rows of keys (most significant first). Keys are
/// finite scores; a NaN compares as equal to anything (it never occurs).
pub fn lex_cmp(a: &[f64], b: &[f64]) -> Ordering {
    for (x, y) in a.iter().zip(b) {
        match x.partial_cmp(y) {
            Some(Ordering::Equal) | None => continue,
            Some(o) => return o,
        }
    }
    Ordering::Equal
}

/// [`rank_metrics`] for rows of `width` keys: `pos` is one row, `negs` holds
/// `negs.len() / width` rows; ties are exact equality of every key.
pub fn rank_metrics_lex(pos: &[f64], negs: &[f64], width: usize) -> RankOutcome {
    let (mut above, mut tied) = (0usize, 0usize);
    for n in negs.chunks_exact(width) {
        match lex_cmp(n, pos) {
            Ordering::Greater => above += 1,
            Ordering::Equal => tied += 1,
            Ordering::Less => {}
        }
    }
    RankOutcome { optimistic: 1 + above, pessimistic: 1 + above + tied }
}

/// One score per row of `width` keys that orders the rows exactly as [`lex_cmp`]
/// does: the row's dense rank (0 = lowest; equal rows share a rank). `keys` holds
/// `n * width` values, row-major.
pub fn lex_dense_ranks(keys: &[f64], width: usize) -> Vec<f64> {
    let rows: Vec<&[f64]> = keys.chunks_exact(width).collect();
    let mut order: Vec<usize> = (0..rows.len()).collect();
    order.par_sort_unstable_by(|&a, &b| lex_cmp(rows[a], rows[b]));
    let mut out = vec![0.0; rows.len()];
    let mut rank = 0u64;
    for (i, w) in order.iter().enumerate() {
        if i > 0 && lex_cmp(rows[order[i - 1]], rows[*w]) != Ordering::Equal {
            rank += 1;
        }
        out[*w] = rank as f64;
    }
    out
}

/// Hits@{1,3,10} (see [`HITS_AT`]); each is a fraction of queries in [0, 1].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct HitsAtK {
    pub at1: f64,
    pub at3: f64,
    pub at10: f64,
}

/// Ranking metrics averaged over `n` queries.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RankSummary {
    /// Mean reciprocal of the mean rank: the same in linkcast's and TGB's convention.
    pub mrr: f64,
    /// linkcast's Hits@k: the mean of the optimistic and pessimistic indicators.
    pub hits: HitsAtK,
    /// TGB's Hits@k: the mean rank at most k.
    pub hits_tgb: HitsAtK,
    pub n: usize,
}

/// Running sums for a [`RankSummary`]; `merge` combines partial sums, so it
/// works as a rayon `fold` / `reduce` and the result does not depend on how the
/// queries were split (hits are exact integers, MRR is compensated).
#[derive(Debug, Clone, Copy, Default)]
pub struct RankAccumulator {
    rr: NeumaierSum,
    hits_halves: [u64; 3],
    hits_tgb: [u64; 3],
    n: usize,
}

impl RankAccumulator {
    pub fn push(&mut self, outcome: RankOutcome) {
        self.rr.add(outcome.reciprocal_rank());
        for (h, k) in self.hits_halves.iter_mut().zip(HITS_AT) {
            *h += outcome.hits_halves(k);
        }
        for (h, k) in self.hits_tgb.iter_mut().zip(HITS_AT) {
            *h += u64::from(outcome.hits_tgb(k));
        }
        self.n += 1;
    }

    pub fn merge(mut self, other: RankAccumulator) -> RankAccumulator {
        self.rr.merge(other.rr);
        for (h, o) in self.hits_halves.iter_mut().zip(other.hits_halves) {
            *h += o;
        }
        for (h, o) in self.hits_tgb.iter_mut().zip(other.hits_tgb) {
            *h += o;
        }
        self.n += other.n;
        self
    }

    /// The averages; an error when no query was pushed (a mean of nothing).
    pub fn finish(&self) -> Result<RankSummary, MetricError> {
        if self.n == 0 {
            return Err(MetricError::Empty { metric: "rank" });
        }
        let n = self.n as f64;
        let hit = |i: usize| self.hits_halves[i] as f64 / (2.0 * n);
        let tgb = |i: usize| self.hits_tgb[i] as f64 / n;
        Ok(RankSummary {
            mrr: self.rr.value() / n,
            hits: HitsAtK { at1: hit(0), at3: hit(1), at10: hit(2) },
            hits_tgb: HitsAtK { at1: tgb(0), at3: tgb(1), at10: tgb(2) },
            n: self.n,
        })
    }
}

impl FromIterator<RankOutcome> for RankAccumulator {
    fn from_iter<I: IntoIterator<Item = RankOutcome>>(iter: I) -> Self {
        let mut acc = RankAccumulator::default();
        for o in iter {
            acc.push(o);
        }
        acc
    }
}

/// Summary over outcomes already computed.
pub fn rank_summary(outcomes: &[RankOutcome]) -> Result<RankSummary, MetricError> {
    outcomes.iter().copied().collect::<RankAccumulator>().finish()
}

/// Ranks `pos_scores[i]` against row `i` of `neg_scores`, a row-major
/// `(pos_scores.len(), k)` block, on the rayon pool, and summarises.
pub fn rank_summary_rows(
    pos_scores: &[f64],
    neg_scores: &[f64],
    k: usize,
) -> Result<RankSummary, MetricError> {
    let queries = pos_scores.len();
    if queries.checked_mul(k) != Some(neg_scores.len()) {
        return Err(MetricError::RankShape { queries, k, negatives: neg_scores.len() });
    }
    // k = 0 is allowed (every positive ranks first); chunks need a non-zero size.
    let acc = if k == 0 {
        pos_scores.iter().map(|&p| rank_metrics(p, &[])).collect()
    } else {
        pos_scores
            .par_iter()
            .zip(neg_scores.par_chunks(k))
            .fold(RankAccumulator::default, |mut acc, (&p, negs)| {
                acc.push(rank_metrics(p, negs));
                acc
            })
            .reduce(RankAccumulator::default, RankAccumulator::merge)
    };
    acc.finish()
}

#[cfg(test)]
#[path = "metrics_tests.rs"]
mod tests;
