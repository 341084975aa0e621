//! Baselines that need no training and no libtorch, each a [`StreamScorer`]:
//!
//! | kind | score of a query `(u, v, t)` |
//! |---|---|
//! | `edgebank` | 1 if the pair was seen in an absorbed event, else 0 (EdgeBank, unlimited memory) |
//! | `edgebank-tw` | 1 if the pair's last absorbed event lies in `[t - window, t)`, else 0 |
//! | `popularity` | the destination's exponentially decayed degree at `t` (half-life flag) |
//! | `recency` | `1 / (1 + (t - last))` for the pair's last absorbed event at `last`; 0 if never seen |
//! | `common-neighbours` | distinct common neighbours of `u` and `v` in the static view |
//! | `adamic-adar` | `sum over common neighbours w of 1 / ln(deg w)` in the static view |
//!
//! Pairs follow the store's direction: for an undirected store `(u, v)` and
//! `(v, u)` are one pair; for a directed one they differ. Popularity counts both
//! endpoints of an undirected event and only the destination (in-degree) of a
//! directed one. Common neighbours and Adamic-Adar always read the undirected view.
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
//! Scoring runs on the rayon pool without heap allocation per query.

use std::collections::{HashMap, HashSet, VecDeque};
use std::fmt;
use std::ops::Range;
use std::str::FromStr;
use std::sync::Arc;

use foldhash::fast::FixedState;
use petgraph::Undirected;
use petgraph::graphmap::GraphMap;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::eval::scorer::{EvalError, StreamScorer, check_queries, check_range};
use crate::store::{NodeId, TemporalStore, Time};

#[cfg(test)]
#[path = "baselines_tests.rs"]
mod tests;

/// Queries per rayon task: below this, splitting costs more than it saves.
const MIN_PAR: usize = 1024;

/// Which baseline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BaselineKind {
    EdgeBank,
    EdgeBankTw,
    Popularity,
    Recency,
    CommonNeighbours,
    AdamicAdar,
}

impl BaselineKind {
    pub const ALL: [BaselineKind; 6] = [
        BaselineKind::EdgeBank,
        BaselineKind::EdgeBankTw,
        BaselineKind::Popularity,
        BaselineKind::Recency,
        BaselineKind::CommonNeighbours,
        BaselineKind::AdamicAdar,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            BaselineKind::EdgeBank => "edgebank",
            BaselineKind::EdgeBankTw => "edgebank-tw",
            BaselineKind::Popularity => "popularity",
            BaselineKind::Recency => "recency",
            BaselineKind::CommonNeighbours => "common-neighbours",
            BaselineKind::AdamicAdar => "adamic-adar",
        }
    }
}

impl fmt::Display for BaselineKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for BaselineKind {
    type Err = EvalError;
    fn from_str(s: &str) -> Result<Self, EvalError> {
        let s = s.trim().to_ascii_lowercase().replace('_', "-");
        let alias = match s.as_str() {
            "edgebank-inf" | "edgebank-unlimited" => "edgebank",
            "edgebank-window" => "edgebank-tw",
            "common-neighbors" | "cn" => "common-neighbours",
            "aa" => "adamic-adar",
            other => other,
        };
        BaselineKind::ALL.into_iter().find(|k| k.as_str() == alias).ok_or_else(|| {
            let names: Vec<&str> = BaselineKind::ALL.iter().map(|k| k.as_str()).collect();
            EvalError::InvalidOption(format!("unknown baseline {s:?} (expected one of {})", names.join(", ")))
        })
    }
}

/// A baseline and its parameters (times in the graph's time unit).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BaselineConfig {
    pub kind: BaselineKind,
    /// `edgebank-tw`: required. `common-neighbours` / `adamic-adar`: optional (unlimited when `None`).
    pub window: Option<f64>,
    /// `popularity`: half-life of a degree contribution; `None` = no decay (plain degree).
    pub half_life: Option<f64>,
}

impl BaselineConfig {
    pub fn new(kind: BaselineKind) -> Self {
        BaselineConfig { kind, window: None, half_life: None }
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

    /// Report name, with the parameters that change the scores.
    pub fn name(&self) -> String {
        let mut n = self.kind.to_string();
        match self.kind {
            BaselineKind::EdgeBankTw | BaselineKind::CommonNeighbours | BaselineKind::AdamicAdar => {
                if let Some(w) = self.window {
                    n.push_str(&format!("(window={})", short(w)));
                }
            }
            BaselineKind::Popularity => {
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
        BaselineKind::EdgeBank => Box::new(Streaming::new(name, mask, EdgeBank::default())),
        BaselineKind::EdgeBankTw => {
            let w = cfg.window.expect("validated");
            Box::new(Streaming::new(name, mask, PairTimes::new(PairScore::Window(w))))
        }
        BaselineKind::Recency => Box::new(Streaming::new(name, mask, PairTimes::new(PairScore::Recency))),
        BaselineKind::Popularity => Box::new(Streaming::new(name, mask, Popularity::new(cfg.half_life))),
        BaselineKind::CommonNeighbours => {
            Box::new(Streaming::new(name, mask, StaticView::new(cfg.window, false)))
        }
        BaselineKind::AdamicAdar => Box::new(Streaming::new(name, mask, StaticView::new(cfg.window, true))),
    })
}

/// What a baseline keeps: absorbed events in, scores out.
trait Memory: Send + Sync {
    fn reset(&mut self, directed: bool);
    fn add(&mut self, s: NodeId, d: NodeId, t: Time);
    /// Called once per batch before scoring, with the earliest query time.
    fn prepare(&mut self, _t_min: Time) {}
    /// Whether `prepare(t_min)` would change nothing (so scoring can share `&self`).
    fn prepared(&self, _t_min: Time) -> bool {
        true
    }
    fn score_one(&self, s: NodeId, d: NodeId, t: Time) -> f64;
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

    fn score_all(&self, src: &[NodeId], dst: &[NodeId], t: &[Time], out: &mut Vec<f64>) {
        out.clear();
        let mem = &self.mem;
        out.par_extend(
            src.par_iter()
                .zip(dst.par_iter())
                .zip(t.par_iter())
                .with_min_len(MIN_PAR)
                .map(|((&s, &d), &t)| mem.score_one(s, d, t)),
        );
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
}

impl<M: Memory> StreamScorer for Streaming<M> {
    fn name(&self) -> String {
        self.name.clone()
    }

    fn start(&mut self, store: &dyn TemporalStore, upto: usize) -> Result<(), EvalError> {
        check_range(&(0..upto), store.num_events())?;
        self.mem.reset(store.directed());
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
        check_range(&batch, store.num_events())?;
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
        if !src.is_empty() && t_min <= self.watermark {
            return Err(self.causality(format!(
                "a query at time {t_min} is not later than the newest absorbed event (time {})",
                self.watermark
            )));
        }
        self.mem.prepare(t_min);
        self.score_all(src, dst, t, out);
        Ok(())
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
        if !src.is_empty() && t_min <= self.watermark {
            return Err(self.causality(format!(
                "a query at time {t_min} is not later than the newest absorbed event (time {})",
                self.watermark
            )));
        }
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

type FastSet = HashSet<u64, FixedState>;
type FastMap<V> = HashMap<u64, V, FixedState>;

/// Hash key of a pair, symmetric for an undirected graph.
#[inline]
fn key(s: NodeId, d: NodeId, directed: bool) -> u64 {
    let (a, b) = if directed || s <= d { (s, d) } else { (d, s) };
    (u64::from(a) << 32) | u64::from(b)
}

/// EdgeBank with unlimited memory: every pair ever absorbed.
#[derive(Default)]
struct EdgeBank {
    seen: FastSet,
    directed: bool,
}

impl Memory for EdgeBank {
    fn reset(&mut self, directed: bool) {
        self.seen.clear();
        self.directed = directed;
    }
    fn add(&mut self, s: NodeId, d: NodeId, _t: Time) {
        self.seen.insert(key(s, d, self.directed));
    }
    fn score_one(&self, s: NodeId, d: NodeId, _t: Time) -> f64 {
        f64::from(u8::from(self.seen.contains(&key(s, d, self.directed))))
    }
}

#[derive(Debug, Clone, Copy)]
enum PairScore {
    /// EdgeBank with a time window.
    Window(f64),
    Recency,
}

/// The time of each pair's last absorbed event.
struct PairTimes {
    last: FastMap<Time>,
    directed: bool,
    how: PairScore,
}

impl PairTimes {
    fn new(how: PairScore) -> Self {
        PairTimes { last: FastMap::default(), directed: false, how }
    }
}

impl Memory for PairTimes {
    fn reset(&mut self, directed: bool) {
        self.last.clear();
        self.directed = directed;
    }
    fn add(&mut self, s: NodeId, d: NodeId, t: Time) {
        self.last.insert(key(s, d, self.directed), t);
    }
    fn score_one(&self, s: NodeId, d: NodeId, t: Time) -> f64 {
        let Some(&last) = self.last.get(&key(s, d, self.directed)) else { return 0.0 };
        match self.how {
            PairScore::Window(w) => f64::from(u8::from(last >= t - w && last < t)),
            PairScore::Recency => 1.0 / (1.0 + (t - last).max(0.0)),
        }
    }
}

/// Per node, an exponentially decayed degree: `value` as of time `last`.
struct Popularity {
    value: Vec<f64>,
    last: Vec<Time>,
    /// `ln 2 / half_life` (0 = no decay).
    rate: f64,
    directed: bool,
}

impl Popularity {
    fn new(half_life: Option<f64>) -> Self {
        let rate = half_life.map_or(0.0, |h| std::f64::consts::LN_2 / h);
        Popularity { value: Vec::new(), last: Vec::new(), rate, directed: false }
    }

    fn bump(&mut self, n: NodeId, t: Time) {
        let n = n as usize;
        if n >= self.value.len() {
            self.value.resize(n + 1, 0.0);
            self.last.resize(n + 1, f64::NEG_INFINITY);
        }
        self.value[n] = self.decayed(n, t) + 1.0;
        self.last[n] = t;
    }

    #[inline]
    fn decayed(&self, n: usize, t: Time) -> f64 {
        let v = self.value.get(n).copied().unwrap_or(0.0);
        if self.rate == 0.0 || v == 0.0 {
            return v;
        }
        v * (-(t - self.last[n]).max(0.0) * self.rate).exp()
    }
}

impl Memory for Popularity {
    fn reset(&mut self, directed: bool) {
        self.value.clear();
        self.last.clear();
        self.directed = directed;
    }
    fn add(&mut self, s: NodeId, d: NodeId, t: Time) {
        self.bump(d, t);
        if !self.directed && s != d {
            self.bump(s, t);
        }
    }
    fn score_one(&self, _s: NodeId, d: NodeId, t: Time) -> f64 {
        self.decayed(d as usize, t)
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
    fn reset(&mut self, _directed: bool) {
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
