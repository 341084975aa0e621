//! Evaluation protocols (design.md, Evaluation protocols), driving any
//! [`StreamScorer`] with streaming semantics: start at the first event of the
//! evaluated part, then per batch (never cutting a tie group) score, then absorb.
//!
//! - [`eval_ap`]: one negative per positive (`random`, `historical` or
//!   `inductive`, from [`NegativeSampler`]); AP and AUC-ROC pooled over the part
//!   and as the mean over batches (the TGN/DyGLib convention), for all events and
//!   for the transductive / inductive (new-node) subsets. A positive is "new
//!   node" when either endpoint is absent from the training events (after TGN's
//!   masking, see [`inductive_mask`], when a mask is used); a negative pair belongs
//!   to the subset of its positive.
//! - [`eval_rank`]: each positive against its K negatives of a [`NegativeSet`]
//!   (the same file for every model) or against every candidate destination
//!   ([`RankNegatives::All`], never a true destination of that source at that
//!   time); MRR and Hits@1/3/10 with ties as the mean of the optimistic and
//!   pessimistic rank, Hits@k both in linkcast's convention and in TGB's (see
//!   [`crate::eval::metrics`]).
//!
//! Both rank with [`StreamScorer::score_keys`], so a scorer that orders by several
//! keys (a combined heuristic) is ranked exactly: within a query by comparing the
//! keys, and for `ap`'s pooled metrics by the keys' dense rank over the whole part.
//!
//! Both return metrics plus the number of scored pairs; the caller times the run
//! and writes an [`EvalRecord`].

use std::collections::HashSet;
use std::fmt;
use std::ops::Range;
use std::str::FromStr;

use foldhash::fast::FixedState;
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::eval::metrics::{
    RankAccumulator, RankOutcome, binary_metrics, lex_dense_ranks, rank_metrics, rank_metrics_lex,
};
use crate::eval::scorer::{EvalError, StreamScorer, check_range};
use crate::sample::batch::batch_ranges;
use crate::sample::negatives::{DstRange, NO_NEGATIVE, NegConfig, NegStrategy, NegativeSampler, NegativeSet};
use crate::store::split::Split;
use crate::store::{EventId, EventLog, MemStore, NodeFeatures, NodeId, TemporalStore, Time};

#[cfg(test)]
#[path = "protocol_tests.rs"]
mod tests;

/// Which part of the chronological split is evaluated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Part {
    Val,
    #[default]
    Test,
}

impl Part {
    pub fn range(&self, split: &Split) -> Range<usize> {
        match self {
            Part::Val => split.val.clone(),
            Part::Test => split.test.clone(),
        }
    }
}

impl fmt::Display for Part {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Part::Val => "val",
            Part::Test => "test",
        })
    }
}

impl FromStr for Part {
    type Err = EvalError;
    fn from_str(s: &str) -> Result<Self, EvalError> {
        match s.trim() {
            "val" | "valid" | "validation" => Ok(Part::Val),
            "test" => Ok(Part::Test),
            o => Err(EvalError::InvalidOption(format!("unknown split part {o:?} (expected val or test)"))),
        }
    }
}

/// All event times of the store in id order (one copy; the batching needs a slice).
pub fn event_times(store: &dyn TemporalStore) -> Vec<Time> {
    let mut t = Vec::with_capacity(store.num_events());
    for seg in store.event_segments() {
        t.extend_from_slice(seg.t);
    }
    t
}

/// The chronological split of a store's events.
pub fn split_store(
    store: &dyn TemporalStore,
    spec: crate::store::split::SplitSpec,
) -> Result<Split, EvalError> {
    let segs = store.event_segments();
    let times: Vec<&[Time]> = segs.iter().map(|s| s.t).collect();
    Ok(Split::compute_segmented(&times, spec)?)
}

/// TGN's masking protocol for the inductive setting (Rossi et al. 2020): among the
/// nodes that appear in an event after the training period (validation or test),
/// a seeded sample of `round(frac * nodes with any event)` (capped at their number)
/// is masked; training skips every training event touching a masked node, so these
/// nodes are truly unseen at evaluation. `mask[n]` is true for a masked node.
pub fn inductive_mask(store: &dyn TemporalStore, split: &Split, frac: f64, seed: u64) -> Vec<bool> {
    let n = store.num_nodes() as usize;
    let (mut any, mut later) = (vec![false; n], vec![false; n]);
    for seg in store.event_segments() {
        let first = seg.first as usize;
        for (i, (&s, &d)) in seg.src.iter().zip(seg.dst).enumerate() {
            any[s as usize] = true;
            any[d as usize] = true;
            if first + i >= split.train.end {
                later[s as usize] = true;
                later[d as usize] = true;
            }
        }
    }
    let total = any.iter().filter(|&&x| x).count();
    let mut cands: Vec<u32> = (0..n as u32).filter(|&v| later[v as usize]).collect();
    let take = ((frac.clamp(0.0, 1.0) * total as f64).round() as usize).min(cands.len());
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    cands.shuffle(&mut rng);
    let mut mask = vec![false; n];
    for &v in &cands[..take] {
        mask[v as usize] = true;
    }
    mask
}

/// Nodes with an event in the training period, skipping training events that touch
/// a masked node.
pub fn train_nodes(store: &dyn TemporalStore, split: &Split, mask: Option<&[bool]>) -> Vec<bool> {
    let n = store.num_nodes() as usize;
    let masked = |v: NodeId| mask.is_some_and(|m| m.get(v as usize).copied().unwrap_or(false));
    let mut seen = vec![false; n];
    for seg in store.event_segments() {
        let first = seg.first as usize;
        let hi = split.train.end.saturating_sub(first).min(seg.src.len());
        for i in 0..hi {
            let (s, d) = (seg.src[i], seg.dst[i]);
            if !masked(s) && !masked(d) {
                seen[s as usize] = true;
                seen[d as usize] = true;
            }
        }
    }
    seen
}

/// Options of the `ap` protocol.
#[derive(Debug, Clone, Default)]
pub struct ApConfig {
    pub strategy: NegStrategy,
    pub seed: u64,
    pub batch_size: usize,
    /// TGN's mask ([`inductive_mask`]): training events touching masked nodes do not
    /// count as seen for the new-node subset.
    pub mask: Option<Vec<bool>>,
}

/// AP / AUC of one subset of positives and their negatives.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BinarySubset {
    /// Positive events in the subset (each with one negative).
    pub positives: usize,
    /// AP over all the subset's pairs pooled.
    pub ap: f64,
    pub auc: f64,
    /// Mean over batches (with at least one positive of the subset) of the per-batch AP.
    pub ap_batch_mean: f64,
    pub auc_batch_mean: f64,
    pub batches: usize,
}

/// Results of the `ap` protocol.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApMetrics {
    pub all: BinarySubset,
    /// Both endpoints seen in training.
    pub transductive: Option<BinarySubset>,
    /// Either endpoint new (not seen in training, or masked).
    pub inductive: Option<BinarySubset>,
    /// Whether the new-node rule used TGN's mask.
    pub masked: bool,
    pub masked_nodes: usize,
}

/// Results of the `rank` protocol.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RankMetrics {
    /// The same in linkcast's and TGB's convention.
    pub mrr: f64,
    /// linkcast's Hits@k (a tied block straddling k counts 1/2).
    pub hits1: f64,
    pub hits3: f64,
    pub hits10: f64,
    /// TGB's Hits@k (mean rank <= k); absent in records written before they existed.
    #[serde(default)]
    pub hits1_tgb: Option<f64>,
    #[serde(default)]
    pub hits3_tgb: Option<f64>,
    #[serde(default)]
    pub hits10_tgb: Option<f64>,
    pub queries: usize,
    /// Negatives per query (the file's K; the destination count minus one for `all`).
    pub k: usize,
    /// Queries ranked against fewer than K distinct usable negatives
    /// (rows holding [`NO_NEGATIVE`], or `all` minus true destinations).
    pub queries_short: usize,
}

/// Metrics of either protocol (JSON: `{"ap": {...}}` or `{"rank": {...}}`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Metrics {
    Ap(ApMetrics),
    Rank(RankMetrics),
}

/// What a protocol returns: metrics and the number of (src, dst, t) pairs scored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProtocolRun {
    pub metrics: Metrics,
    pub pairs: u64,
}

/// One evaluation run as written by `linkcast eval --json` / `--output`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalRecord {
    /// Model or baseline name.
    pub target: String,
    /// Graph directory.
    pub data: String,
    /// `ap` or `rank`.
    pub protocol: String,
    /// `random` / `historical` / `inductive` (ap); `file:PATH`, `generated`, `tgb` or `all` (rank).
    pub negatives: String,
    /// rank: how the negatives were drawn (`linkcast(hist=50)`, `tgb(hist<=50)`, `all`,
    /// `tgb-import`; see [`crate::sample::negatives::NegSetStyle`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub negatives_style: Option<String>,
    pub k: Option<usize>,
    pub seed: u64,
    pub split: Part,
    pub split_spec: String,
    /// Event ids evaluated.
    pub events: Range<usize>,
    pub batch_size: usize,
    pub metrics: Metrics,
    pub pairs: u64,
    pub seconds: f64,
    pub pairs_per_s: f64,
    pub threads: usize,
    pub version: String,
}

/// A scorer's keys: `width` per query for `queries` queries, the same width every batch.
fn check_width(
    scorer: &dyn StreamScorer,
    width: &mut usize,
    w: usize,
    len: usize,
    queries: usize,
) -> Result<(), EvalError> {
    if w == 0 || (*width != 0 && w != *width) {
        return Err(EvalError::InvalidOption(format!(
            "{}: {w} keys per query after {} in earlier batches",
            scorer.name(),
            *width
        )));
    }
    *width = w;
    if len != queries * w {
        return Err(EvalError::Shape {
            scorer: scorer.name(),
            what: "scores",
            expected: queries * w,
            found: len,
        });
    }
    Ok(())
}

fn check_part(range: &Range<usize>, part: Part, store: &dyn TemporalStore) -> Result<(), EvalError> {
    check_range(range, store.num_events())?;
    if range.is_empty() {
        return Err(EvalError::EmptySplit { part: part.to_string() });
    }
    Ok(())
}

/// Pooled and per-batch metrics of one subset.
#[derive(Default)]
struct SubsetAcc {
    scores: Vec<f64>,
    labels: Vec<bool>,
    positives: usize,
    ap_sum: f64,
    auc_sum: f64,
    batches: usize,
}

impl SubsetAcc {
    fn batch(&mut self, pos: &[f64], neg: &[f64]) -> Result<(), EvalError> {
        if pos.is_empty() {
            return Ok(());
        }
        let n0 = self.scores.len();
        self.scores.extend_from_slice(pos);
        self.scores.extend_from_slice(neg);
        self.labels.extend(pos.iter().map(|_| true).chain(neg.iter().map(|_| false)));
        let m = binary_metrics(&self.scores[n0..], &self.labels[n0..])?;
        self.ap_sum += m.ap;
        self.auc_sum += m.auc;
        self.batches += 1;
        self.positives += pos.len();
        Ok(())
    }

    fn finish(&self) -> Result<Option<BinarySubset>, EvalError> {
        if self.positives == 0 {
            return Ok(None);
        }
        let m = binary_metrics(&self.scores, &self.labels)?;
        let b = self.batches as f64;
        Ok(Some(BinarySubset {
            positives: self.positives,
            ap: m.ap,
            auc: m.auc,
            ap_batch_mean: self.ap_sum / b,
            auc_batch_mean: self.auc_sum / b,
            batches: self.batches,
        }))
    }
}

/// The `ap` protocol on `part` of `split`: one negative per positive, streaming.
/// `progress` is called with the number of events of each finished batch.
pub fn eval_ap(
    scorer: &mut dyn StreamScorer,
    store: &dyn TemporalStore,
    split: &Split,
    part: Part,
    dst: DstRange,
    cfg: &ApConfig,
    progress: &mut dyn FnMut(usize),
) -> Result<ProtocolRun, EvalError> {
    let range = part.range(split);
    check_part(&range, part, store)?;
    let times = event_times(store);
    let seen = train_nodes(store, split, cfg.mask.as_deref());
    let neg_cfg = NegConfig { strategy: cfg.strategy, seed: cfg.seed, eval_start: split.val.start };
    let mut sampler = NegativeSampler::new(neg_cfg, dst)?;
    scorer.start(store, range.start)?;
    let (mut negs, mut src, mut dsts, mut ts, mut out) = (vec![], vec![], vec![], vec![], vec![]);
    // Keys of every batch (positives, then negatives), kept so that a scorer with
    // several keys is ranked over the whole part before any metric is computed.
    let (mut keys, mut batch_len, mut new_node) = (vec![], vec![], vec![]);
    let mut width = 0usize;
    let mut pairs = 0u64;
    for batch in batch_ranges(&times, range.clone(), cfg.batch_size) {
        sampler.sample(store, batch.clone(), 0, &mut negs)?;
        let n = batch.len();
        src.clear();
        dsts.clear();
        ts.clear();
        for e in batch.clone() {
            let (s, d, t) = store.event(e as EventId);
            src.push(s);
            dsts.push(d);
            ts.push(t);
        }
        src.extend_from_within(..n);
        dsts.extend_from_slice(&negs);
        ts.extend_from_within(..n);
        let w = scorer.score_keys(store, batch.clone(), &src, &dsts, &ts, &mut out)?;
        check_width(scorer, &mut width, w, out.len(), 2 * n)?;
        pairs += 2 * n as u64;
        keys.extend_from_slice(&out);
        batch_len.push(n);
        new_node.extend((0..n).map(|i| !seen[src[i] as usize] || !seen[dsts[i] as usize]));
        scorer.absorb(store, batch)?;
        progress(n);
    }
    let scores = if width > 1 { lex_dense_ranks(&keys, width) } else { keys };
    let mut subsets: [SubsetAcc; 3] = Default::default();
    let (mut pos_sub, mut neg_sub): ([Vec<f64>; 2], [Vec<f64>; 2]) = Default::default();
    let (mut off, mut q) = (0usize, 0usize);
    for n in batch_len {
        let (pos, neg) = scores[off..off + 2 * n].split_at(n);
        subsets[0].batch(pos, neg)?;
        for v in pos_sub.iter_mut().chain(neg_sub.iter_mut()) {
            v.clear();
        }
        for i in 0..n {
            let new = usize::from(new_node[q + i]);
            pos_sub[new].push(pos[i]);
            neg_sub[new].push(neg[i]);
        }
        subsets[1].batch(&pos_sub[0], &neg_sub[0])?;
        subsets[2].batch(&pos_sub[1], &neg_sub[1])?;
        off += 2 * n;
        q += n;
    }
    let all = subsets[0].finish()?.ok_or(EvalError::EmptySplit { part: part.to_string() })?;
    let metrics = ApMetrics {
        all,
        transductive: subsets[1].finish()?,
        inductive: subsets[2].finish()?,
        masked: cfg.mask.is_some(),
        masked_nodes: cfg.mask.as_ref().map_or(0, |m| m.iter().filter(|&&x| x).count()),
    };
    Ok(ProtocolRun { metrics: Metrics::Ap(metrics), pairs })
}

/// The negatives of the `rank` protocol.
#[derive(Debug, Clone, Copy)]
pub enum RankNegatives<'a> {
    /// K per positive from a saved (or freshly generated) set covering the part.
    Set(&'a NegativeSet),
    /// Every destination of the range except the true ones of that source at that time.
    All,
}

/// The `rank` protocol on `part` of `split`: each positive scored with its
/// negatives in the same `score` call (K + 1 consecutive queries, same source and
/// time), batched `batch_size` positives at a time, streaming.
#[allow(clippy::too_many_arguments)]
pub fn eval_rank(
    scorer: &mut dyn StreamScorer,
    store: &dyn TemporalStore,
    split: &Split,
    part: Part,
    dst: DstRange,
    negatives: RankNegatives<'_>,
    batch_size: usize,
    progress: &mut dyn FnMut(usize),
) -> Result<ProtocolRun, EvalError> {
    eval_rank_queries(scorer, store, split, part, dst, negatives, batch_size, progress, None)
}

/// [`eval_rank`], also writing each query's outcome into `ranks` (in event order:
/// one per positive of the part) when given, for per-query analysis (`eval --ranks`).
#[allow(clippy::too_many_arguments)]
pub fn eval_rank_queries(
    scorer: &mut dyn StreamScorer,
    store: &dyn TemporalStore,
    split: &Split,
    part: Part,
    dst: DstRange,
    negatives: RankNegatives<'_>,
    batch_size: usize,
    progress: &mut dyn FnMut(usize),
    mut ranks: Option<&mut Vec<RankOutcome>>,
) -> Result<ProtocolRun, EvalError> {
    let range = part.range(split);
    check_part(&range, part, store)?;
    dst.check(store.num_nodes())?;
    let k = match negatives {
        RankNegatives::Set(set) => {
            let r = &set.header.range;
            if r.start != range.start as u64 || r.end != range.end as u64 {
                return Err(EvalError::InvalidOption(format!(
                    "the negative set covers events {}..{}, but the {part} part of split {} is {}..{}",
                    r.start, r.end, split.spec, range.start, range.end
                )));
            }
            set.header.k as usize
        }
        // Every destination but the positive itself.
        RankNegatives::All => dst.len() as usize - 1,
    };
    let times = event_times(store);
    scorer.start(store, range.start)?;
    let (mut src, mut dsts, mut ts, mut scores) = (vec![], vec![], vec![], vec![]);
    let mut offsets: Vec<usize> = vec![];
    let mut trues: HashSet<(u64, u64), FixedState> = HashSet::default();
    let mut acc = RankAccumulator::default();
    let (mut pairs, mut short, mut width) = (0u64, 0usize, 0usize);
    for batch in batch_ranges(&times, range.clone(), batch_size) {
        src.clear();
        dsts.clear();
        ts.clear();
        offsets.clear();
        offsets.push(0);
        if let RankNegatives::All = negatives {
            // The batch holds whole tie groups: the true destinations at each time.
            trues.clear();
            for e in batch.clone() {
                let (s, d, t) = store.event(e as EventId);
                trues.insert((pair(s, d), t.to_bits()));
            }
        }
        for e in batch.clone() {
            let (s, d, t) = store.event(e as EventId);
            let before = src.len();
            src.push(s);
            dsts.push(d);
            match negatives {
                RankNegatives::Set(set) => {
                    let row = set.query(e).expect("range checked");
                    dsts.extend(row.iter().copied().filter(|&x| x != NO_NEGATIVE));
                }
                RankNegatives::All => {
                    dsts.extend((dst.lo..dst.hi).filter(|&x| !trues.contains(&(pair(s, x), t.to_bits()))));
                }
            }
            let added = dsts.len() - before;
            src.resize(before + added, s);
            ts.resize(before + added, t);
            if added - 1 < k {
                short += 1;
            }
            offsets.push(dsts.len());
        }
        let w = scorer.score_keys(store, batch.clone(), &src, &dsts, &ts, &mut scores)?;
        check_width(scorer, &mut width, w, scores.len(), src.len())?;
        pairs += src.len() as u64;
        let outcome = |o: &[usize]| {
            if w == 1 {
                rank_metrics(scores[o[0]], &scores[o[0] + 1..o[1]])
            } else {
                rank_metrics_lex(&scores[o[0] * w..(o[0] + 1) * w], &scores[(o[0] + 1) * w..o[1] * w], w)
            }
        };
        let batch_acc = offsets
            .par_windows(2)
            .fold(RankAccumulator::default, |mut a, o| {
                a.push(outcome(o));
                a
            })
            .reduce(RankAccumulator::default, RankAccumulator::merge);
        if let Some(r) = ranks.as_deref_mut() {
            r.extend(offsets.windows(2).map(outcome));
        }
        acc = acc.merge(batch_acc);
        scorer.absorb(store, batch.clone())?;
        progress(batch.len());
    }
    let s = acc.finish()?;
    let metrics = RankMetrics {
        mrr: s.mrr,
        hits1: s.hits.at1,
        hits3: s.hits.at3,
        hits10: s.hits.at10,
        hits1_tgb: Some(s.hits_tgb.at1),
        hits3_tgb: Some(s.hits_tgb.at3),
        hits10_tgb: Some(s.hits_tgb.at10),
        queries: s.n,
        k,
        queries_short: short,
    };
    Ok(ProtocolRun { metrics: Metrics::Rank(metrics), pairs })
}

#[inline]
fn pair(s: NodeId, d: NodeId) -> u64 {
    (u64::from(s) << 32) | u64::from(d)
}

/// The graph a model is trained on under TGN's masking protocol: every training
/// event touching a masked node removed (from the events, the adjacency the sampler
/// reads and so from the memory), validation and test kept whole, node ids and
/// node features unchanged. The split keeps the original period boundaries (by
/// time), so validation and test are the same events as in `store`.
pub fn masked_view(
    store: &dyn TemporalStore,
    split: &Split,
    mask: &[bool],
) -> Result<(MemStore, Split), EvalError> {
    let d = store.feat_dim();
    let mut log = EventLog::with_feat_dim(d);
    for seg in store.event_segments() {
        let first = seg.first as usize;
        for i in 0..seg.t.len() {
            let (s, t) = (seg.src[i], seg.dst[i]);
            let in_train = first + i < split.train.end;
            if in_train && (mask.get(s as usize) == Some(&true) || mask.get(t as usize) == Some(&true)) {
                continue;
            }
            log.push(s, t, seg.t[i], &seg.feats[i * d..(i + 1) * d]);
        }
    }
    let nf = (store.node_feat_dim() > 0).then(|| {
        let dim = store.node_feat_dim();
        let mut values = vec![0f32; store.num_nodes() as usize * dim];
        for v in 0..store.num_nodes() {
            if let Some(f) = store.node_feat(v) {
                values[v as usize * dim..(v as usize + 1) * dim].copy_from_slice(f);
            }
        }
        NodeFeatures { dim, values }
    });
    let kept = log.len();
    let view = MemStore::build(
        log,
        store.num_nodes(),
        store.directed(),
        crate::store::WriteOptions::default().shard_nodes,
        nf,
    )
    .map_err(|e| EvalError::source("building the masked training view", e))?;
    let removed = store.num_events() - kept;
    let train_end = split.train.end - removed;
    let new_split = Split {
        train: 0..train_end,
        val: train_end..train_end + split.val.len(),
        test: train_end + split.val.len()..kept,
        ..split.clone()
    };
    Ok((view, new_split))
}
