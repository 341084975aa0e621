//! Negative sampling for link prediction, after Poursafaei et al. (NeurIPS 2022).
//!
//! One negative destination per positive event `(src, dst, t)`, for the
//! one-negative-per-positive protocol (AP / AUC): the negative pair is
//! `(src, neg)`. Strategies ([`NegStrategy`]):
//! - `random`: uniform over the destination range ([`DstRange`]): all nodes, or
//!   for a bipartite graph only the destination side `n_src..num_nodes`;
//! - `historical`: a destination `d` such that the pair `(src, d)` was seen before
//!   the current batch (event id `< batch.start`) and is not a positive of the
//!   current batch (so never a positive at this timestamp, since batches never cut
//!   a tie group); falls back to `random` when no such pair exists;
//! - `inductive`: like `historical`, but the pair must have been seen for the
//!   first time in the evaluation period (`eval_start <= first id < batch.start`),
//!   never in training and never in the future; falls back to `random`.
//!
//! Time convention: a batch is an event-id range `start..end` of a time-sorted
//! log; "before the batch" means event id `< start` (design.md invariant 3).
//!
//! State: [`PairHistory`] keeps, per source, the distinct destinations seen so far
//! in order of first appearance, with the event id of that first appearance. It
//! grows incrementally as batches advance (no rebuild per batch; going back in
//! time rebuilds it once), and any cutoff is a prefix of each list.
//!
//! Determinism: every draw comes from a counter-based generator keyed by
//! `(seed, round, event id, draw index)` (SplitMix64 streams), so the output depends on
//! neither the batch size nor the thread count. `round` is the epoch (fresh
//! negatives each epoch) or any fixed number for evaluation.
//!
//! The one-vs-many negative sets of the ranking protocol live in
//! [`rank`] (re-exported here); TGB's way of drawing them, every destination, and
//! sets imported from TGB's files in [`tgb`].

use std::collections::HashSet;
use std::fmt;
use std::ops::Range;
use std::path::PathBuf;
use std::str::FromStr;

use foldhash::fast::FixedState;
use serde::{Deserialize, Serialize};

use crate::store::{EventId, IdMap, NodeId, TemporalStore};

#[path = "negatives_rank.rs"]
pub mod rank;
pub use rank::{NO_NEGATIVE, NegSetHeader, NegSetStyle, NegativeSet, RankConfig, split_hash};
#[path = "negatives_tgb.rs"]
pub mod tgb;

#[cfg(test)]
#[path = "negatives_tests.rs"]
mod tests;

/// Errors of negative sampling and of negative-set files.
#[derive(Debug, thiserror::Error)]
pub enum NegError {
    #[error("destination range {lo}..{hi} is empty")]
    EmptyDstRange { lo: NodeId, hi: NodeId },
    #[error("destination range {lo}..{hi} exceeds the graph's {num_nodes} nodes")]
    DstRangeOutOfBounds { lo: NodeId, hi: NodeId, num_nodes: u32 },
    #[error("event range {start}..{end} is not within the store's {num_events} events")]
    RangeOutOfBounds { start: usize, end: usize, num_events: usize },
    #[error("invalid negative-sampling option: {0}")]
    InvalidOption(String),
    #[error("unknown negative strategy {0:?} (expected random, historical or inductive)")]
    UnknownStrategy(String),
    #[error("negative-set file {path}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: not a valid negative-set file: {why}")]
    Format { path: PathBuf, why: String },
    #[error(
        "negative set was made for another graph or split: {what} is {found}, the file expects {expected}"
    )]
    Mismatch { what: &'static str, expected: u64, found: u64 },
}

/// How a negative destination is chosen (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NegStrategy {
    #[default]
    Random,
    Historical,
    Inductive,
}

impl fmt::Display for NegStrategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            NegStrategy::Random => "random",
            NegStrategy::Historical => "historical",
            NegStrategy::Inductive => "inductive",
        })
    }
}

impl FromStr for NegStrategy {
    type Err = NegError;
    fn from_str(s: &str) -> Result<Self, NegError> {
        match s.trim() {
            "random" | "rnd" => Ok(NegStrategy::Random),
            "historical" | "hist" => Ok(NegStrategy::Historical),
            "inductive" | "ind" => Ok(NegStrategy::Inductive),
            other => Err(NegError::UnknownStrategy(other.to_string())),
        }
    }
}

/// The half-open range of node ids that can be destinations: all nodes, or the
/// destination side of a bipartite graph.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DstRange {
    pub lo: NodeId,
    pub hi: NodeId,
}

impl DstRange {
    /// Every node `0..num_nodes`.
    pub fn all(num_nodes: u32) -> Self {
        DstRange { lo: 0, hi: num_nodes }
    }

    /// The destination side for a bipartite id map (`n_src..num_nodes`), else all.
    /// `num_nodes` is the store's (it may exceed the map's after appends).
    pub fn for_graph(ids: &IdMap, num_nodes: u32) -> Self {
        DstRange { lo: ids.n_src.unwrap_or(0).min(num_nodes), hi: num_nodes }
    }

    pub fn len(&self) -> u32 {
        self.hi.saturating_sub(self.lo)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn contains(&self, d: NodeId) -> bool {
        (self.lo..self.hi).contains(&d)
    }

    /// Non-empty and within a graph of `num_nodes` nodes.
    pub fn check(&self, num_nodes: u32) -> Result<(), NegError> {
        if self.is_empty() {
            return Err(NegError::EmptyDstRange { lo: self.lo, hi: self.hi });
        }
        if self.hi > num_nodes {
            return Err(NegError::DstRangeOutOfBounds { lo: self.lo, hi: self.hi, num_nodes });
        }
        Ok(())
    }

    /// A uniform draw.
    pub(crate) fn draw(&self, rng: &mut Draws) -> NodeId {
        self.lo + rng.below(u64::from(self.len())) as NodeId
    }
}

/// `range` must lie within `0..num_events`.
pub(crate) fn check_range(range: &Range<usize>, num_events: usize) -> Result<(), NegError> {
    if range.start > range.end || range.end > num_events {
        return Err(NegError::RangeOutOfBounds { start: range.start, end: range.end, num_events });
    }
    Ok(())
}

/// Hash-set key of a directed pair.
#[inline]
pub(crate) fn pair_key(s: NodeId, d: NodeId) -> u64 {
    (u64::from(s) << 32) | u64::from(d)
}

pub(crate) type PairSet = HashSet<u64, FixedState>;

/// Counter-based random numbers: a SplitMix64 stream whose start is a hash of
/// `(seed, tag, round, event id)`. Why not one RNG per batch: keying by event id
/// makes every draw independent of batch size, order of work and thread count.
#[derive(Debug, Clone)]
pub(crate) struct Draws(u64);

/// SplitMix64's finaliser: a bijective 64-bit mixer.
#[inline]
pub(crate) fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl Draws {
    /// Streams with different tags never coincide for the same other keys
    /// (tags separate the one-negative sampler from the ranking sets).
    pub(crate) fn new(seed: u64, tag: u64, round: u64, eid: u64) -> Self {
        Draws(mix64(seed ^ mix64(tag ^ mix64(round ^ mix64(eid ^ 0x9E37_79B9_7F4A_7C15)))))
    }

    #[inline]
    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        mix64(self.0)
    }

    /// Uniform in `0..n` (`n > 0`) by a 128-bit multiply; the bias is below
    /// `n / 2^64`, far under anything a test or a metric can see.
    #[inline]
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }
}

/// Per source, the distinct destinations seen in events `0..upto`, in order of
/// first appearance, each with the id of that first event. A cutoff `c` selects
/// the prefix of pairs first seen before `c`.
#[derive(Debug, Default, Clone)]
pub struct PairHistory {
    seen: PairSet,
    per_src: Vec<Vec<(NodeId, EventId)>>,
    upto: usize,
}

impl PairHistory {
    pub fn new() -> Self {
        Self::default()
    }

    /// Events absorbed so far: `0..upto()`.
    pub fn upto(&self) -> usize {
        self.upto
    }

    /// Number of distinct pairs seen.
    pub fn num_pairs(&self) -> usize {
        self.seen.len()
    }

    /// Absorb events up to (not including) `upto`. Moving forward costs only the
    /// new events; moving back rebuilds from the start (e.g. a new epoch).
    pub fn advance<S: TemporalStore + ?Sized>(&mut self, store: &S, upto: usize) -> Result<(), NegError> {
        check_range(&(0..upto), store.num_events())?;
        if upto < self.upto {
            self.seen.clear();
            self.per_src.iter_mut().for_each(Vec::clear);
            self.upto = 0;
        }
        // Read the columns segment by segment (base, then tail) rather than one
        // `event()` lookup per row.
        for seg in store.event_segments() {
            let first = seg.first as usize;
            let (lo, hi) = (self.upto.max(first), upto.min(first + seg.src.len()));
            for e in lo..hi {
                let (s, d) = (seg.src[e - first], seg.dst[e - first]);
                if self.seen.insert(pair_key(s, d)) {
                    let s = s as usize;
                    if s >= self.per_src.len() {
                        self.per_src.resize_with(s + 1, Vec::new);
                    }
                    self.per_src[s].push((d, e as EventId));
                }
            }
        }
        self.upto = upto;
        Ok(())
    }

    /// All pairs of `src` absorbed so far: (destination, first event id), by first id.
    pub fn of(&self, src: NodeId) -> &[(NodeId, EventId)] {
        self.per_src.get(src as usize).map_or(&[], Vec::as_slice)
    }

    /// Pairs of `src` first seen at an event id in `lo..hi`.
    pub fn first_seen_in(&self, src: NodeId, lo: EventId, hi: EventId) -> &[(NodeId, EventId)] {
        let l = self.of(src);
        let a = l.partition_point(|&(_, e)| e < lo);
        let b = l.partition_point(|&(_, e)| e < hi).max(a);
        &l[a..b]
    }

    /// Whether `(s, d)` was seen in the absorbed events.
    pub fn contains(&self, s: NodeId, d: NodeId) -> bool {
        self.seen.contains(&pair_key(s, d))
    }
}

/// Options of the one-negative-per-positive sampler.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct NegConfig {
    pub strategy: NegStrategy,
    pub seed: u64,
    /// First event id of the evaluation period (validation start): `inductive`
    /// draws only pairs first seen at or after it. Ignored by the other strategies.
    pub eval_start: usize,
}

impl Default for NegConfig {
    fn default() -> Self {
        NegConfig { strategy: NegStrategy::Random, seed: 0, eval_start: 0 }
    }
}

const TAG_ONE: u64 = 0x006f_6e65_5f6e_6567; // "one_neg"
const TAG_MIX: u64 = 0x006d_6978_5f6e_6567; // "mix_neg"
/// Rejection tries before scanning the candidate list from a random start.
const MAX_TRIES: usize = 16;

/// One negative destination per positive event; stateful (its [`PairHistory`]
/// advances with the batches), so one sampler serves one pass over the events.
#[derive(Debug, Clone)]
pub struct NegativeSampler {
    cfg: NegConfig,
    dst: DstRange,
    history: PairHistory,
    batch_pos: PairSet,
    /// `random` only: the share of draws made `historical` instead (training's
    /// `--hist-negatives`); 0 draws exactly what plain `random` draws.
    hist_mix: f64,
}

impl NegativeSampler {
    pub fn new(cfg: NegConfig, dst: DstRange) -> Result<Self, NegError> {
        if dst.is_empty() {
            return Err(NegError::EmptyDstRange { lo: dst.lo, hi: dst.hi });
        }
        Ok(NegativeSampler {
            cfg,
            dst,
            history: PairHistory::new(),
            batch_pos: PairSet::default(),
            hist_mix: 0.0,
        })
    }

    /// Under `random`, make a seeded share `frac` of the draws `historical` (a
    /// destination the source reached before the batch, never a positive of the
    /// batch; random when it has none). Which draws are historical depends on
    /// `(seed, round, event id)` only, like every draw. Other strategies ignore it.
    pub fn with_hist_mix(mut self, frac: f64) -> Result<Self, NegError> {
        if !(0.0..=1.0).contains(&frac) {
            return Err(NegError::InvalidOption(format!(
                "the share of historical negatives must be in [0, 1], got {frac}"
            )));
        }
        self.hist_mix = frac;
        Ok(self)
    }

    pub fn config(&self) -> &NegConfig {
        &self.cfg
    }

    pub fn dst_range(&self) -> DstRange {
        self.dst
    }

    pub fn history(&self) -> &PairHistory {
        &self.history
    }

    /// Write one negative per event of `batch` into `out` (cleared first; its
    /// capacity is reused). `round` keys the draws (e.g. the epoch).
    pub fn sample<S: TemporalStore + ?Sized>(
        &mut self,
        store: &S,
        batch: Range<usize>,
        round: u64,
        out: &mut Vec<NodeId>,
    ) -> Result<(), NegError> {
        check_range(&batch, store.num_events())?;
        self.dst.check(store.num_nodes())?;
        out.clear();
        out.reserve(batch.len());
        if self.cfg.strategy == NegStrategy::Random && self.hist_mix == 0.0 {
            for e in batch {
                out.push(self.dst.draw(&mut Draws::new(self.cfg.seed, TAG_ONE, round, e as u64)));
            }
            return Ok(());
        }
        self.history.advance(store, batch.start)?;
        self.batch_pos.clear();
        for e in batch.clone() {
            let (s, d, _) = store.event(e as EventId);
            self.batch_pos.insert(pair_key(s, d));
        }
        let start = batch.start as EventId;
        let ind_lo = self.cfg.eval_start.min(batch.start) as EventId;
        for e in batch {
            let (s, _, _) = store.event(e as EventId);
            let mut rng = Draws::new(self.cfg.seed, TAG_ONE, round, e as u64);
            let cands = match self.cfg.strategy {
                NegStrategy::Historical => self.history.of(s),
                NegStrategy::Inductive => self.history.first_seen_in(s, ind_lo, start),
                // A separate stream decides, so a random draw stays what it was.
                NegStrategy::Random => {
                    let u = Draws::new(self.cfg.seed, TAG_MIX, round, e as u64).below(1 << 53) as f64;
                    if u < self.hist_mix * (1u64 << 53) as f64 { self.history.of(s) } else { &[] }
                }
            };
            // An empty list leaves `rng` untouched, so the fallback is the plain random draw.
            let pick = pick_allowed(cands, &mut rng, |d| !self.batch_pos.contains(&pair_key(s, d)));
            out.push(pick.unwrap_or_else(|| self.dst.draw(&mut rng)));
        }
        Ok(())
    }
}

/// A uniform candidate for which `allowed` holds: rejection sampling first (exact
/// when it succeeds), then a cyclic scan from a random start so the answer is
/// found whenever one exists. `None` when no candidate is allowed.
pub(crate) fn pick_allowed(
    cands: &[(NodeId, EventId)],
    rng: &mut Draws,
    allowed: impl Fn(NodeId) -> bool,
) -> Option<NodeId> {
    let n = cands.len();
    if n == 0 {
        return None;
    }
    for _ in 0..MAX_TRIES {
        let d = cands[rng.below(n as u64) as usize].0;
        if allowed(d) {
            return Some(d);
        }
    }
    let start = rng.below(n as u64) as usize;
    (0..n).map(|i| cands[(start + i) % n].0).find(|&d| allowed(d))
}
