//! Baselines that need no training and no libtorch, each a [`StreamScorer`].
//!
//! A query is `(u, v, t)`: will `u` link to `v` at time `t`? Every score reads only
//! absorbed events, all strictly earlier than `t`. With a half-life `h`, an event at
//! time `tau` weighs `2^(-(t - tau) / h)` (no half-life: weight 1).
//!
//! Names in the second column are those of Cornell et al. 2025, "On the Power of
//! Heuristics in Temporal Graphs" (GR, LR, GP, LP; combined by ordering on one and
//! breaking ties with the next).
//!
//! | name | Cornell et al. 2025 | score of `(u, v, t)` |
//! |---|---|---|
//! | `edgebank` | | 1 if the pair was seen in an absorbed event, else 0 (EdgeBank, unlimited memory) |
//! | `edgebank-tw` | | 1 if the pair's last absorbed event lies in `[t - window, t)`, else 0 |
//! | `recency` | local recency (LR) | `1 / (1 + (t - last))`, `last` the pair's newest event; 0 if never seen |
//! | `global-recency` | global recency (GR) | `1 / (1 + (t - last))`, `last` the newest event with `v` as destination; 0 if none |
//! | `local-popularity` | local popularity (LP) | weighted count of the pair's events |
//! | `popularity` | global popularity (GP) | weighted count of the events with `v` as destination |
//! | `lr-gp` | LR, ties broken by GP | lexicographic |
//! | `lr-lp-gp` | LR, then LP, then GP | lexicographic |
//! | `lp-gp` | LP, ties broken by GP | lexicographic |
//! | `lr-gr` | LR, ties broken by GR | lexicographic |
//! | `common-neighbours` | | distinct common neighbours of `u` and `v` in the static view |
//! | `adamic-adar` | | `sum over common neighbours w of 1 / ln(deg w)` in the static view |
//!
//! Direction ([`Direction`]), whatever the store's direction: by default a pair is
//! the directed `(src, dst)` of an event, as TGB and DyGLib count EdgeBank's pairs,
//! and the global heuristics count `v`'s appearances as a destination (Cornell et
//! al.'s definitions). The `-undirected` variant of each name (e.g.
//! `edgebank-undirected`) makes `(u, v)` and `(v, u)` one pair and counts both
//! endpoints of an event. Common neighbours and Adamic-Adar always read the
//! undirected view and have no variant.
//!
//! Lexicographic combinations order candidates by their first key, then by the
//! next on exact ties (a pair never seen has LR = LP = 0, so its destination's
//! popularity decides). The protocols compare the keys themselves
//! ([`StreamScorer::score_keys`]); `score` folds them into one number per query, a
//! rank among the nodes: with `k(w)` the keys of `(u, w, t)` (all keys are `>= 0`,
//! so all-zero is the least), the score of `(u, v, t)` is
//! `[k(v) != 0] + #{w : 0 < k(w) < k(v)}`. Any two candidates of one source at one
//! time compare exactly as their keys do (serving's top-k), whatever the number of
//! nodes without events, at the cost of one pass over the nodes with events per
//! (source, time) of a call.
//!
//! Static view: a `petgraph` [`GraphMap`] of the distinct pairs of the absorbed
//! events (self-loops dropped), updated incrementally; with a window it holds only
//! the events with time `>= t_b - window`, where `t_b` is the earliest query time
//! of the batch being scored (one snapshot per batch), and degrees are distinct
//! neighbours in that view.
//!
//! Causality: state holds absorbed events only (ids `< batch.start` when scoring),
//! and a batch whose earliest query time is not later than the newest absorbed
//! event is refused, so no query sees an event at or after its own time.
//! Scoring runs on the rayon pool without heap allocation per query (a
//! combination's one-number score allocates once per (source, time) of a call).

use std::cmp::Ordering;
use std::collections::VecDeque;
use std::fmt;
use std::ops::Range;
use std::str::FromStr;
use std::sync::Arc;

use foldhash::fast::FixedState;
use petgraph::Undirected;
use petgraph::graphmap::GraphMap;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::eval::heuristics::{Comp, Heuristic};
use crate::eval::metrics::lex_cmp;
use crate::eval::scorer::{EvalError, StreamScorer, check_queries, check_range};
use crate::store::{NodeId, TemporalStore, Time};

#[cfg(test)]
#[path = "baselines_tests.rs"]
mod tests;

/// Queries per rayon task: below this, splitting costs more than it saves.
const MIN_PAR: usize = 1024;

/// Which baseline (the direction is separate: [`Direction`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BaselineKind {
    EdgeBank,
    EdgeBankTw,
    /// Global popularity (GP).
    Popularity,
    /// Local recency (LR).
    Recency,
    /// Global recency (GR).
    GlobalRecency,
    /// Local popularity (LP).
    LocalPopularity,
    LrGp,
    LrLpGp,
    LpGp,
    LrGr,
    CommonNeighbours,
    AdamicAdar,
}

impl BaselineKind {
    pub const ALL: [BaselineKind; 12] = [
        BaselineKind::EdgeBank,
        BaselineKind::EdgeBankTw,
        BaselineKind::Popularity,
        BaselineKind::Recency,
        BaselineKind::GlobalRecency,
        BaselineKind::LocalPopularity,
        BaselineKind::LrGp,
        BaselineKind::LrLpGp,
        BaselineKind::LpGp,
        BaselineKind::LrGr,
        BaselineKind::CommonNeighbours,
        BaselineKind::AdamicAdar,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            BaselineKind::EdgeBank => "edgebank",
            BaselineKind::EdgeBankTw => "edgebank-tw",
            BaselineKind::Popularity => "popularity",
            BaselineKind::Recency => "recency",
            BaselineKind::GlobalRecency => "global-recency",
            BaselineKind::LocalPopularity => "local-popularity",
            BaselineKind::LrGp => "lr-gp",
            BaselineKind::LrLpGp => "lr-lp-gp",
            BaselineKind::LpGp => "lp-gp",
            BaselineKind::LrGr => "lr-gr",
            BaselineKind::CommonNeighbours => "common-neighbours",
            BaselineKind::AdamicAdar => "adamic-adar",
        }
    }

    /// Whether the baseline has a directed and an undirected variant.
    pub fn has_direction(&self) -> bool {
        !matches!(self, BaselineKind::CommonNeighbours | BaselineKind::AdamicAdar)
    }

    /// Whether a half-life (decay) changes its scores: every popularity key.
    pub fn uses_half_life(&self) -> bool {
        self.comps(None).iter().any(|c| matches!(c, Comp::LocalPopularity | Comp::GlobalPopularity))
    }

    /// The keys of a recency/popularity baseline, in lexicographic order (empty for the static view).
    fn comps(&self, window: Option<f64>) -> Vec<Comp> {
        use Comp::*;
        match self {
            BaselineKind::EdgeBank => vec![Seen],
            BaselineKind::EdgeBankTw => vec![Window(window.unwrap_or(f64::NAN))],
            BaselineKind::Popularity => vec![GlobalPopularity],
            BaselineKind::Recency => vec![LocalRecency],
            BaselineKind::GlobalRecency => vec![GlobalRecency],
            BaselineKind::LocalPopularity => vec![LocalPopularity],
            BaselineKind::LrGp => vec![LocalRecency, GlobalPopularity],
            BaselineKind::LrLpGp => vec![LocalRecency, LocalPopularity, GlobalPopularity],
            BaselineKind::LpGp => vec![LocalPopularity, GlobalPopularity],
            BaselineKind::LrGr => vec![LocalRecency, GlobalRecency],
            BaselineKind::CommonNeighbours | BaselineKind::AdamicAdar => vec![],
        }
    }
}

impl fmt::Display for BaselineKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

fn unknown_baseline(s: &str) -> EvalError {
    let names: Vec<&str> = BaselineKind::ALL.iter().map(|k| k.as_str()).collect();
    EvalError::InvalidOption(format!(
        "unknown baseline {s:?} (expected one of {}; add -undirected for the undirected variant)",
        names.join(", ")
    ))
}

impl FromStr for BaselineKind {
    type Err = EvalError;
    fn from_str(s: &str) -> Result<Self, EvalError> {
        let s = s.trim().to_ascii_lowercase().replace('_', "-");
        let alias = match s.as_str() {
            "edgebank-inf" | "edgebank-unlimited" => "edgebank",
            "edgebank-window" => "edgebank-tw",
            "lr" | "local-recency" => "recency",
            "gp" | "global-popularity" => "popularity",
            "gr" => "global-recency",
            "lp" => "local-popularity",
            "common-neighbors" | "cn" => "common-neighbours",
            "aa" => "adamic-adar",
            other => other,
        };
        BaselineKind::ALL.into_iter().find(|k| k.as_str() == alias).ok_or_else(|| unknown_baseline(&s))
    }
}

/// How pairs and node counts treat an event's direction (module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// `(src, dst)` as in the event; global keys count destinations (TGB, DyGLib, Cornell et al.).
    #[default]
    Directed,
    /// `(u, v)` and `(v, u)` are one pair; global keys count both endpoints.
    Undirected,
}

/// A baseline as named on the command line: `KIND` or `KIND-undirected`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BaselineName {
    pub kind: BaselineKind,
    pub direction: Direction,
}

impl fmt::Display for BaselineName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.kind.as_str())?;
        if self.direction == Direction::Undirected && self.kind.has_direction() {
            f.write_str("-undirected")?;
        }
        Ok(())
    }
}

impl FromStr for BaselineName {
    type Err = EvalError;
    fn from_str(s: &str) -> Result<Self, EvalError> {
        let norm = s.trim().to_ascii_lowercase().replace('_', "-");
        let (base, direction) = match norm.strip_suffix("-undirected") {
            Some(b) => (b, Direction::Undirected),
            None => (norm.as_str(), Direction::Directed),
        };
        let kind: BaselineKind = base.parse().map_err(|_| unknown_baseline(&norm))?;
        if direction == Direction::Undirected && !kind.has_direction() {
            return Err(EvalError::InvalidOption(format!(
                "{kind} always reads the undirected view; it has no -undirected variant"
            )));
        }
        Ok(BaselineName { kind, direction })
    }
}

/// A baseline and its parameters (times in the graph's time unit).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BaselineConfig {
    pub kind: BaselineKind,
    /// `edgebank-tw`: required. `common-neighbours` / `adamic-adar`: optional (unlimited when `None`).
    pub window: Option<f64>,
    /// Popularity keys (`popularity`, `local-popularity`, the combinations with LP or
    /// GP): half-life of an event's weight; `None` = no decay (plain counts).
    pub half_life: Option<f64>,
    /// Directed pairs (the default) or undirected ones; ignored by the static view.
    #[serde(default)]
    pub direction: Direction,
}

impl BaselineConfig {
    /// The directed variant without parameters.
    pub fn new(kind: BaselineKind) -> Self {
        BaselineConfig { kind, window: None, half_life: None, direction: Direction::Directed }
    }

    /// The variant `name` without parameters.
    pub fn named(name: BaselineName) -> Self {
        BaselineConfig { direction: name.direction, ..Self::new(name.kind) }
    }

    pub fn validate(&self) -> Result<(), EvalError> {
        for (what, v) in [("window", self.window), ("half-life", self.half_life)] {
            if let Some(v) = v
                && (v.is_nan() || v <= 0.0)
            {
                return Err(EvalError::InvalidOption(format!("{what} must be positive, got {v}")));
            }
        }
        if self.kind == BaselineKind::EdgeBankTw && self.window.is_none() {
            return Err(EvalError::InvalidOption("edgebank-tw needs a time window".into()));
        }
        Ok(())
    }

    /// Report name: the variant, with the parameters that change the scores.
    pub fn name(&self) -> String {
        let mut n = BaselineName { kind: self.kind, direction: self.direction }.to_string();
        match self.kind {
            BaselineKind::EdgeBankTw | BaselineKind::CommonNeighbours | BaselineKind::AdamicAdar => {
                if let Some(w) = self.window {
                    n.push_str(&format!("(window={})", short(w)));
                }
            }
            k if k.uses_half_life() => {
                if let Some(h) = self.half_life {
                    n.push_str(&format!("(half-life={})", short(h)));
                }
            }
            _ => {}
        }
        n
    }
}

/// A parameter for a name: at most 3 decimals.
fn short(x: f64) -> f64 {
    (x * 1e3).round() / 1e3
}

/// Events in training touching masked nodes are skipped when absorbing (TGN's
/// inductive masking; see [`crate::eval::protocol::inductive_mask`]).
#[derive(Debug, Clone)]
pub struct TrainMask {
    pub masked: Arc<Vec<bool>>,
    /// End of the training period (event id).
    pub train_end: usize,
}

impl TrainMask {
    fn skips(&self, e: usize, s: NodeId, d: NodeId) -> bool {
        let m = |n: NodeId| self.masked.get(n as usize).copied().unwrap_or(false);
        e < self.train_end && (m(s) || m(d))
    }
}

/// Build a baseline scorer.
pub fn make_baseline(cfg: &BaselineConfig) -> Result<Box<dyn StreamScorer>, EvalError> {
    make_baseline_masked(cfg, None)
}

/// Build a baseline scorer that skips masked training events.
pub fn make_baseline_masked(
    cfg: &BaselineConfig,
    mask: Option<TrainMask>,
) -> Result<Box<dyn StreamScorer>, EvalError> {
    cfg.validate()?;
    let name = cfg.name();
    Ok(match cfg.kind {
        BaselineKind::CommonNeighbours => {
            Box::new(Streaming::new(name, mask, StaticView::new(cfg.window, false)))
        }
        BaselineKind::AdamicAdar => Box::new(Streaming::new(name, mask, StaticView::new(cfg.window, true))),
        k => {
            let undirected = cfg.direction == Direction::Undirected;
            let h = Heuristic::new(k.comps(cfg.window), undirected, cfg.half_life);
            Box::new(Streaming::new(name, mask, h))
        }
    })
}

/// What a baseline keeps: absorbed events in, scores out.
pub(crate) trait Memory: Send + Sync {
    fn reset(&mut self);
    fn add(&mut self, s: NodeId, d: NodeId, t: Time);
    /// Called once per batch before scoring, with the earliest query time.
    fn prepare(&mut self, _t_min: Time) {}
    /// Whether `prepare(t_min)` would change nothing (so scoring can share `&self`).
    fn prepared(&self, _t_min: Time) -> bool {
        true
    }
    /// Keys per query: 1 for one score, more for a lexicographic combination.
    fn width(&self) -> usize {
        1
    }
    /// The one score (width 1 only).
    fn score_one(&self, s: NodeId, d: NodeId, t: Time) -> f64;
    /// The `width()` keys of a query, most significant first.
    fn keys_one(&self, s: NodeId, d: NodeId, t: Time, out: &mut [f64]) {
        out[0] = self.score_one(s, d, t);
    }
    /// One past the largest node id absorbed (every node with a non-zero key is below it).
    fn node_bound(&self) -> u32 {
        0
    }
}

/// Drives a [`Memory`] with the streaming protocol and enforces causality.
struct Streaming<M> {
    name: String,
    mask: Option<TrainMask>,
    mem: M,
    /// Events `0..upto` are absorbed.
    upto: usize,
    /// Time of the newest absorbed event.
    watermark: Time,
    started: bool,
}

impl<M: Memory> Streaming<M> {
    fn new(name: String, mask: Option<TrainMask>, mem: M) -> Self {
        Streaming { name, mask, mem, upto: 0, watermark: f64::NEG_INFINITY, started: false }
    }

    /// Keys of every query, `width()` per query, row-major.
    fn keys_all(&self, src: &[NodeId], dst: &[NodeId], t: &[Time], out: &mut Vec<f64>) {
        let w = self.mem.width();
        out.clear();
        out.resize(src.len() * w, 0.0);
        let mem = &self.mem;
        out.par_chunks_mut(w)
            .zip(src.par_iter().zip(dst.par_iter()).zip(t.par_iter()))
            .with_min_len(MIN_PAR)
            .for_each(|(k, ((&s, &d), &t))| mem.keys_one(s, d, t, k));
    }

    fn score_all(&self, src: &[NodeId], dst: &[NodeId], t: &[Time], out: &mut Vec<f64>) {
        out.clear();
        let mem = &self.mem;
        if mem.width() == 1 {
            out.par_extend(
                src.par_iter()
                    .zip(dst.par_iter())
                    .zip(t.par_iter())
                    .with_min_len(MIN_PAR)
                    .map(|((&s, &d), &t)| mem.score_one(s, d, t)),
            );
            return;
        }
        self.lex_share(src, dst, t, out);
    }

    /// A combination's one number per query (module docs): the query's rank among
    /// the nodes with a non-zero key, from reference keys built and sorted once per
    /// distinct (source, time).
    fn lex_share(&self, src: &[NodeId], dst: &[NodeId], t: &[Time], out: &mut Vec<f64>) {
        let w = self.mem.width();
        let n = self.mem.node_bound() as usize;
        let mut order: Vec<usize> = (0..src.len()).collect();
        order.sort_unstable_by(|&a, &b| src[a].cmp(&src[b]).then(t[a].total_cmp(&t[b])));
        let mut groups: Vec<Range<usize>> = Vec::new();
        let mut lo = 0;
        for i in 1..=order.len() {
            let (a, b) = (order[lo], order.get(i).copied().unwrap_or(usize::MAX));
            if b == usize::MAX || src[b] != src[a] || t[b].to_bits() != t[a].to_bits() {
                groups.push(lo..i);
                lo = i;
            }
        }
        let mem = &self.mem;
        let nonzero = |k: &[f64]| k.iter().any(|&x| x != 0.0);
        let ranks: Vec<(usize, f64)> = groups
            .par_iter()
            .flat_map_iter(|g| {
                let (s, tq) = (src[order[g.start]], t[order[g.start]]);
                let mut refs = vec![0.0; n * w];
                for (v, k) in refs.chunks_mut(w).enumerate() {
                    mem.keys_one(s, v as NodeId, tq, k);
                }
                let mut rows: Vec<&[f64]> = refs.chunks(w).filter(|k| nonzero(k)).collect();
                rows.sort_unstable_by(|a, b| lex_cmp(a, b));
                let mut key = vec![0.0; w];
                order[g.clone()]
                    .iter()
                    .map(|&i| {
                        mem.keys_one(s, dst[i], tq, &mut key);
                        let below = rows.partition_point(|r| lex_cmp(r, &key) == Ordering::Less);
                        (i, (usize::from(nonzero(&key)) + below) as f64)
                    })
                    .collect::<Vec<_>>()
            })
            .collect();
        out.resize(src.len(), 0.0);
        for (i, v) in ranks {
            out[i] = v;
        }
    }

    fn absorb_to(&mut self, store: &dyn TemporalStore, end: usize) -> Result<(), EvalError> {
        check_range(&(self.upto..end.max(self.upto)), store.num_events())?;
        for seg in store.event_segments() {
            let first = seg.first as usize;
            let (lo, hi) = (self.upto.max(first), end.min(first + seg.src.len()));
            for e in lo..hi {
                let i = e - first;
                let (s, d, t) = (seg.src[i], seg.dst[i], seg.t[i]);
                self.watermark = self.watermark.max(t);
                if self.mask.as_ref().is_some_and(|m| m.skips(e, s, d)) {
                    continue;
                }
                self.mem.add(s, d, t);
            }
        }
        self.upto = self.upto.max(end);
        Ok(())
    }

    fn causality(&self, why: String) -> EvalError {
        EvalError::Causality { scorer: self.name.clone(), why }
    }

    fn check_watermark(&self, t_min: Time, empty: bool) -> Result<(), EvalError> {
        if !empty && t_min <= self.watermark {
            return Err(self.causality(format!(
                "a query at time {t_min} is not later than the newest absorbed event (time {})",
                self.watermark
            )));
        }
        Ok(())
    }

    /// Bring the state to `batch.start`, check the queries, prepare for the earliest query time.
    fn before_scoring(
        &mut self,
        store: &dyn TemporalStore,
        batch: &Range<usize>,
        src: &[NodeId],
        dst: &[NodeId],
        t: &[Time],
    ) -> Result<(), EvalError> {
        check_range(batch, store.num_events())?;
        check_queries(&self.name, src, dst, t)?;
        if !self.started {
            self.start(store, batch.start)?;
        }
        if self.upto > batch.start {
            return Err(self.causality(format!(
                "batch starts at event {} but events up to {} were already absorbed",
                batch.start, self.upto
            )));
        }
        // Events skipped by the caller are absorbed now, before scoring.
        self.absorb_to(store, batch.start)?;
        let t_min = t.iter().copied().fold(f64::INFINITY, f64::min);
        self.check_watermark(t_min, src.is_empty())?;
        self.mem.prepare(t_min);
        Ok(())
    }
}

impl<M: Memory> StreamScorer for Streaming<M> {
    fn name(&self) -> String {
        self.name.clone()
    }

    fn start(&mut self, store: &dyn TemporalStore, upto: usize) -> Result<(), EvalError> {
        check_range(&(0..upto), store.num_events())?;
        self.mem.reset();
        self.upto = 0;
        self.watermark = f64::NEG_INFINITY;
        self.started = true;
        self.absorb_to(store, upto)
    }

    fn score(
        &mut self,
        store: &dyn TemporalStore,
        batch: Range<usize>,
        src: &[NodeId],
        dst: &[NodeId],
        t: &[Time],
        out: &mut Vec<f64>,
    ) -> Result<(), EvalError> {
        self.before_scoring(store, &batch, src, dst, t)?;
        self.score_all(src, dst, t, out);
        Ok(())
    }

    fn score_keys(
        &mut self,
        store: &dyn TemporalStore,
        batch: Range<usize>,
        src: &[NodeId],
        dst: &[NodeId],
        t: &[Time],
        out: &mut Vec<f64>,
    ) -> Result<usize, EvalError> {
        self.before_scoring(store, &batch, src, dst, t)?;
        self.keys_all(src, dst, t, out);
        Ok(self.mem.width())
    }

    fn score_shared(
        &self,
        store: &dyn TemporalStore,
        src: &[NodeId],
        dst: &[NodeId],
        t: &[Time],
        out: &mut Vec<f64>,
    ) -> Result<bool, EvalError> {
        check_queries(&self.name, src, dst, t)?;
        let t_min = t.iter().copied().fold(f64::INFINITY, f64::min);
        if !self.started || self.upto != store.num_events() || !self.mem.prepared(t_min) {
            return Ok(false);
        }
        self.check_watermark(t_min, src.is_empty())?;
        self.score_all(src, dst, t, out);
        Ok(true)
    }

    fn absorb(&mut self, store: &dyn TemporalStore, batch: Range<usize>) -> Result<(), EvalError> {
        check_range(&batch, store.num_events())?;
        if !self.started {
            self.start(store, batch.start)?;
        }
        self.absorb_to(store, batch.end)
    }
}

/// The undirected static view for common neighbours and Adamic-Adar: edge weight =
/// number of events of the pair inside the window.
struct StaticView {
    g: GraphMap<NodeId, u32, Undirected, FixedState>,
    /// Distinct neighbours per node in `g` (O(1) degree for Adamic-Adar).
    deg: Vec<u32>,
    window: Option<f64>,
    /// Events in the view, oldest first (kept only with a window, for eviction).
    queue: VecDeque<(NodeId, NodeId, Time)>,
    adamic: bool,
}

impl StaticView {
    fn new(window: Option<f64>, adamic: bool) -> Self {
        StaticView { g: GraphMap::default(), deg: Vec::new(), window, queue: VecDeque::new(), adamic }
    }

    fn deg_add(&mut self, n: NodeId, delta: i32) {
        let n = n as usize;
        if n >= self.deg.len() {
            self.deg.resize(n + 1, 0);
        }
        self.deg[n] = self.deg[n].saturating_add_signed(delta);
    }
}

impl Memory for StaticView {
    fn reset(&mut self) {
        self.g.clear();
        self.deg.clear();
        self.queue.clear();
    }

    fn add(&mut self, s: NodeId, d: NodeId, t: Time) {
        if s == d {
            return;
        }
        match self.g.edge_weight_mut(s, d) {
            Some(w) => *w += 1,
            None => {
                self.g.add_edge(s, d, 1);
                self.deg_add(s, 1);
                self.deg_add(d, 1);
            }
        }
        if self.window.is_some() {
            self.queue.push_back((s, d, t));
        }
    }

    fn prepared(&self, t_min: Time) -> bool {
        match (self.window, self.queue.front()) {
            (Some(w), Some(&(_, _, t))) => t >= t_min - w,
            _ => true,
        }
    }

    fn prepare(&mut self, t_min: Time) {
        let Some(w) = self.window else { return };
        while let Some(&(s, d, t)) = self.queue.front() {
            if t >= t_min - w {
                break;
            }
            self.queue.pop_front();
            let w = self.g.edge_weight_mut(s, d).expect("every queued event has its edge");
            *w -= 1;
            if *w == 0 {
                self.g.remove_edge(s, d);
                self.deg_add(s, -1);
                self.deg_add(d, -1);
            }
        }
    }

    fn score_one(&self, s: NodeId, d: NodeId, _t: Time) -> f64 {
        let deg = |n: NodeId| self.deg.get(n as usize).copied().unwrap_or(0);
        let (a, b) = if deg(s) <= deg(d) { (s, d) } else { (d, s) };
        if deg(a) == 0 || deg(b) == 0 {
            return 0.0;
        }
        let mut score = 0.0;
        for w in self.g.neighbors(a) {
            if w != b && self.g.contains_edge(b, w) {
                score += if self.adamic {
                    let k = deg(w);
                    if k > 1 { 1.0 / f64::from(k).ln() } else { 0.0 }
                } else {
                    1.0
                };
            }
        }
        score
    }
}
