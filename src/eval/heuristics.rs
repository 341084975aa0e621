//! The memory behind EdgeBank and the recency / popularity heuristics of Cornell et
//! al. 2025 ("On the Power of Heuristics in Temporal Graphs"), and their
//! lexicographic combinations: one [`Heuristic`] keeps exactly the per-pair and
//! per-node state its keys ([`Comp`]) need, absorbs events one at a time, and
//! answers a query `(u, v, t)` with one key per component, most significant first.
//!
//! State, all from absorbed events (strictly before every query time, see
//! `baselines.rs`): per pair its newest event time and its decayed event count;
//! per node the newest time and the decayed count of its events as a destination
//! (directed) or as either endpoint (undirected). A decayed count is kept as
//! `(value, as_of)` and decayed on read: `value * 2^(-(t - as_of) / half_life)`, so
//! absorbing and scoring cost O(1) per event and per query.

use std::collections::HashMap;

use foldhash::fast::FixedState;

use crate::eval::baselines::Memory;
use crate::store::{NodeId, Time};

/// One key of a heuristic (higher = likelier).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Comp {
    /// EdgeBank: 1 if the pair was ever seen.
    Seen,
    /// EdgeBank with a window: 1 if the pair's newest event is in `[t - w, t)`.
    Window(f64),
    /// LR: `1 / (1 + (t - newest pair event))`, 0 if never seen.
    LocalRecency,
    /// LP: decayed count of the pair's events.
    LocalPopularity,
    /// GR: `1 / (1 + (t - newest event of the destination))`, 0 if none.
    GlobalRecency,
    /// GP: decayed count of the destination's events.
    GlobalPopularity,
}

type FastMap<V> = HashMap<u64, V, FixedState>;

/// Hash key of a pair, symmetric when undirected.
#[inline]
fn key(s: NodeId, d: NodeId, undirected: bool) -> u64 {
    let (a, b) = if !undirected || s <= d { (s, d) } else { (d, s) };
    (u64::from(a) << 32) | u64::from(b)
}

#[inline]
fn recency(last: Time, t: Time) -> f64 {
    1.0 / (1.0 + (t - last).max(0.0))
}

/// A decayed count `(value, as_of)` read at `t`.
#[inline]
fn decayed((v, as_of): (f64, Time), t: Time, rate: f64) -> f64 {
    if rate == 0.0 || v == 0.0 { v } else { v * (-(t - as_of).max(0.0) * rate).exp() }
}

/// Per-pair state: newest event time, decayed count.
#[derive(Debug, Clone, Copy)]
struct PairState {
    last: Time,
    count: (f64, Time),
}

/// See the module docs.
pub(crate) struct Heuristic {
    comps: Vec<Comp>,
    undirected: bool,
    /// `ln 2 / half_life` (0 = no decay).
    rate: f64,
    need_pairs: bool,
    need_nodes: bool,
    pairs: FastMap<PairState>,
    node_last: Vec<Time>,
    node_count: Vec<(f64, Time)>,
    /// One past the largest node id absorbed.
    bound: u32,
}

impl Heuristic {
    pub(crate) fn new(comps: Vec<Comp>, undirected: bool, half_life: Option<f64>) -> Self {
        use Comp::*;
        let need_pairs = comps.iter().any(|c| matches!(c, Seen | Window(_) | LocalRecency | LocalPopularity));
        let need_nodes = comps.iter().any(|c| matches!(c, GlobalRecency | GlobalPopularity));
        Heuristic {
            comps,
            undirected,
            rate: half_life.map_or(0.0, |h| std::f64::consts::LN_2 / h),
            need_pairs,
            need_nodes,
            pairs: FastMap::default(),
            node_last: Vec::new(),
            node_count: Vec::new(),
            bound: 0,
        }
    }

    fn bump_node(&mut self, n: NodeId, t: Time) {
        let n = n as usize;
        if n >= self.node_last.len() {
            self.node_last.resize(n + 1, f64::NEG_INFINITY);
            self.node_count.resize(n + 1, (0.0, f64::NEG_INFINITY));
        }
        self.node_last[n] = self.node_last[n].max(t);
        self.node_count[n] = (decayed(self.node_count[n], t, self.rate) + 1.0, t);
    }

    #[inline]
    fn comp(&self, c: Comp, s: NodeId, d: NodeId, t: Time) -> f64 {
        let pair = || self.pairs.get(&key(s, d, self.undirected));
        match c {
            Comp::Seen => f64::from(u8::from(pair().is_some())),
            Comp::Window(w) => f64::from(u8::from(pair().is_some_and(|p| p.last >= t - w && p.last < t))),
            Comp::LocalRecency => pair().map_or(0.0, |p| recency(p.last, t)),
            Comp::LocalPopularity => pair().map_or(0.0, |p| decayed(p.count, t, self.rate)),
            Comp::GlobalRecency => {
                self.node_last.get(d as usize).filter(|l| l.is_finite()).map_or(0.0, |&l| recency(l, t))
            }
            Comp::GlobalPopularity => {
                self.node_count.get(d as usize).map_or(0.0, |&c| decayed(c, t, self.rate))
            }
        }
    }
}

impl Memory for Heuristic {
    fn reset(&mut self) {
        self.pairs.clear();
        self.node_last.clear();
        self.node_count.clear();
        self.bound = 0;
    }

    fn add(&mut self, s: NodeId, d: NodeId, t: Time) {
        self.bound = self.bound.max(s.max(d).saturating_add(1));
        if self.need_pairs {
            let rate = self.rate;
            let p = self
                .pairs
                .entry(key(s, d, self.undirected))
                .or_insert(PairState { last: f64::NEG_INFINITY, count: (0.0, f64::NEG_INFINITY) });
            p.last = p.last.max(t);
            p.count = (decayed(p.count, t, rate) + 1.0, t);
        }
        if self.need_nodes {
            self.bump_node(d, t);
            if self.undirected && s != d {
                self.bump_node(s, t);
            }
        }
    }

    fn width(&self) -> usize {
        self.comps.len()
    }

    fn node_bound(&self) -> u32 {
        self.bound
    }

    fn score_one(&self, s: NodeId, d: NodeId, t: Time) -> f64 {
        self.comp(self.comps[0], s, d, t)
    }

    fn keys_one(&self, s: NodeId, d: NodeId, t: Time, out: &mut [f64]) {
        for (o, &c) in out.iter_mut().zip(&self.comps) {
            *o = self.comp(c, s, d, t);
        }
    }
}
