//! TPNet-lite's heuristic inputs: for a pair `(u, v)` at `t`, the signals of
//! Cornell et al. 2025 ("On the Power of Heuristics in Temporal Graphs"), exact, from
//! the events before the batch:
//! - local recency: `t` minus the time of the latest `u -> v` event, and of `v -> u`;
//! - local popularity: the decayed counts of those events, `sum exp(-lambda (t - t_e))`;
//! - global popularity: each endpoint's decayed event count (either side);
//! - recency order: where `v` stands among `u`'s partners by their latest meeting
//!   (1 = the latest, either direction), and `u` among `v`'s, as `1 / position`
//!   (0 past [`RECENT`]). This is the order the local-recency heuristic ranks by;
//!   the gaps alone say how long ago, not whether a fresher partner exists.
//!
//! (Global recency, each endpoint's time since its latest event, the model already
//! reads from its sampled neighbour.) The walk projections estimate some of these
//! through random inner products; here they are exact, so a model trained to rank
//! can weigh recency against frequency, which no single `lambda` lets it do.
//!
//! State: per directed pair `(last time, decayed count at that time)`, per node
//! `(decayed count, time of that count)`. It is a function of events `0..absorbed`
//! of the store alone, so it is not saved: after a model state is loaded (serving,
//! `ingest-events`), [`PairClock::sync`] rebuilds it from the store's events up to
//! the projections' watermark on first use. Numbers in `f64`; only non-positive time
//! differences are exponentiated.

use std::collections::HashMap;

use foldhash::fast::FixedState;

use crate::store::{EventId, NodeId, TemporalStore, Time};

/// Decayed counts per pair: `u -> v`, `v -> u`, node `u`, node `v`.
pub const COUNTS: usize = 4;
/// Partners kept per node in recency order.
pub const RECENT: usize = 16;
/// Columns of [`PairSignals::write`]: two flags, two gaps, the counts, two orders.
pub const WIDTH: usize = 4 + COUNTS + 2;

#[derive(Debug, Default, Clone)]
pub struct PairClock {
    decay: f64,
    /// Directed pair `(u << 32) | v` -> (time of its latest event, decayed count then).
    pairs: HashMap<u64, (Time, f64), FixedState>,
    /// Per node: (decayed count of its events, time of the latest).
    nodes: Vec<(f64, Time)>,
    /// Per node: its latest distinct partners, most recent first (`len` in `recent_len`).
    recent: Vec<[NodeId; RECENT]>,
    recent_len: Vec<u8>,
    /// Events `0..absorbed` are counted.
    pub absorbed: usize,
}

/// One pair's inputs at a query time.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PairSignals {
    /// `t` minus the latest `u -> v` time, and `v -> u` (meaningful where `has_*`).
    pub dt_uv: f64,
    pub dt_vu: f64,
    pub has_uv: bool,
    pub has_vu: bool,
    /// `log(1 + x)` of the decayed counts: `u -> v`, `v -> u`, node `u`, node `v`.
    pub counts: [f32; COUNTS],
    /// `1 / position` of `v` among `u`'s latest partners and of `u` among `v`'s (0: not
    /// among the latest [`RECENT`]).
    pub order: [f32; 2],
}

impl PairSignals {
    /// Append the model's inputs: `[has u->v, has v->u, gap u->v, gap v->u, counts]`,
    /// a gap as `log(1 + dt) * scale` (0 where there is no such event).
    pub fn write(&self, scale: f64, out: &mut Vec<f32>) {
        let gap = |has: bool, dt: f64| if has { (dt.max(0.0).ln_1p() * scale) as f32 } else { 0.0 };
        out.extend([
            self.has_uv as u8 as f32,
            self.has_vu as u8 as f32,
            gap(self.has_uv, self.dt_uv),
            gap(self.has_vu, self.dt_vu),
        ]);
        out.extend_from_slice(&self.counts);
        out.extend_from_slice(&self.order);
    }
}

fn key(u: NodeId, v: NodeId) -> u64 {
    (u64::from(u) << 32) | u64::from(v)
}

impl PairClock {
    pub fn new(decay: f64) -> PairClock {
        PairClock { decay, ..PairClock::default() }
    }

    pub fn reset(&mut self) {
        self.pairs.clear();
        self.nodes.clear();
        self.recent.clear();
        self.recent_len.clear();
        self.absorbed = 0;
    }

    /// Move `p` to the front of `x`'s latest partners.
    fn touch(&mut self, x: NodeId, p: NodeId) {
        let (list, len) = (&mut self.recent[x as usize], &mut self.recent_len[x as usize]);
        let n = *len as usize;
        let at = list[..n].iter().position(|&q| q == p).unwrap_or(n.min(RECENT - 1));
        list.copy_within(0..at, 1);
        list[0] = p;
        *len = (n + usize::from(at == n)).min(RECENT) as u8;
    }

    /// `1 / position` of `p` among `x`'s latest partners (0 when not among them).
    fn order(&self, x: NodeId, p: NodeId) -> f32 {
        let (Some(list), Some(&len)) = (self.recent.get(x as usize), self.recent_len.get(x as usize)) else {
            return 0.0;
        };
        list[..len as usize].iter().position(|&q| q == p).map_or(0.0, |i| 1.0 / (i + 1) as f32)
    }

    fn shrink(&self, dt: f64) -> f64 {
        (-self.decay * dt.max(0.0)).exp()
    }

    /// Count event `u -> v` at `t` (events in time order).
    pub fn push(&mut self, u: NodeId, v: NodeId, t: Time) {
        let g = |c: f64, at: Time, decay: f64| c * (-decay * (t - at).max(0.0)).exp() + 1.0;
        let e = self.pairs.entry(key(u, v)).or_insert((t, 0.0));
        *e = (t, g(e.1, e.0, self.decay));
        let hi = u.max(v) as usize + 1;
        if self.nodes.len() < hi {
            self.nodes.resize(hi, (0.0, t));
            self.recent.resize(hi, [0; RECENT]);
            self.recent_len.resize(hi, 0);
        }
        self.touch(u, v);
        if u != v {
            self.touch(v, u);
        }
        let both = [u, v];
        for &x in if u == v { &both[..1] } else { &both[..] } {
            let (c, at) = self.nodes[x as usize];
            self.nodes[x as usize] = (g(c, at, self.decay), t);
        }
    }

    /// Bring the clock to events `0..upto` of `store` (forward from where it is, or
    /// from scratch when it is ahead).
    pub fn sync(&mut self, store: &dyn TemporalStore, upto: usize) {
        if self.absorbed > upto {
            self.reset();
        }
        for e in self.absorbed..upto {
            let (s, d, t) = store.event(e as EventId);
            self.push(s, d, t);
        }
        self.absorbed = upto;
    }

    /// The inputs of `(u, v)` at `t` (events before the clock's watermark only).
    pub fn signals(&self, u: NodeId, v: NodeId, t: Time) -> PairSignals {
        let pair = |a, b| self.pairs.get(&key(a, b)).copied();
        let node = |x: NodeId| self.nodes.get(x as usize).map_or(0.0, |&(c, at)| c * self.shrink(t - at));
        let (uv, vu) = (pair(u, v), pair(v, u));
        let lp = |p: Option<(Time, f64)>| p.map_or(0.0, |(at, c)| c * self.shrink(t - at));
        PairSignals {
            dt_uv: uv.map_or(0.0, |(at, _)| t - at),
            dt_vu: vu.map_or(0.0, |(at, _)| t - at),
            has_uv: uv.is_some(),
            has_vu: vu.is_some(),
            counts: [lp(uv), lp(vu), node(u), node(v)].map(|x: f64| x.ln_1p() as f32),
            order: [self.order(u, v), self.order(v, u)],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `1 / position` of `p` among `x`'s partners by latest meeting (later event
    /// first on equal times, as the clock applies events in order), by brute force.
    fn order(ev: &[(u32, u32, f64)], x: u32, p: u32) -> f32 {
        let mut latest: Vec<(usize, u32)> = Vec::new(); // (event index, partner)
        for (i, &(a, b, _)) in ev.iter().enumerate() {
            for (me, other) in [(a, b), (b, a)] {
                if me == x && !(a == b && me != a) {
                    latest.retain(|&(_, q)| q != other);
                    latest.push((i, other));
                }
            }
        }
        latest.sort_by(|l, r| r.0.cmp(&l.0));
        latest.iter().take(RECENT).position(|&(_, q)| q == p).map_or(0.0, |i| 1.0 / (i + 1) as f32)
    }

    /// Move-to-front past the list's capacity against the brute force.
    #[test]
    fn recency_order_keeps_the_latest_partners() {
        let mut c = PairClock::new(0.0);
        let mut ev = Vec::new();
        let mut x = 7u64;
        for i in 0..400 {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            let (u, v) = (((x >> 33) % 3) as u32, ((x >> 40) % 40) as u32);
            ev.push((u, v, i as f64));
            c.push(u, v, i as f64);
            for p in 0..40 {
                assert_eq!(c.order(u, p), order(&ev, u, p), "after {i} events: {p} among {u}'s partners");
            }
        }
    }

    /// The clock against sums over the raw event list.
    #[test]
    fn signals_equal_sums_over_earlier_events() {
        let ev: Vec<(u32, u32, f64)> =
            vec![(0, 1, 1.0), (1, 0, 2.0), (0, 1, 4.0), (2, 1, 4.0), (0, 2, 7.5), (1, 2, 9.0)];
        let decay = 0.3;
        let mut c = PairClock::new(decay);
        for &(u, v, t) in &ev {
            c.push(u, v, t);
        }
        let t = 10.0;
        let sum = |f: &dyn Fn(&(u32, u32, f64)) -> bool| -> f64 {
            ev.iter().filter(|e| f(e)).map(|e| (-decay * (t - e.2)).exp()).sum()
        };
        for (u, v) in [(0, 1), (1, 0), (1, 2), (2, 0), (3, 0)] {
            let s = c.signals(u, v, t);
            let last =
                |a, b| ev.iter().filter(|e| (e.0, e.1) == (a, b)).map(|e| e.2).fold(None, |_, x| Some(x));
            assert_eq!(s.has_uv, last(u, v).is_some());
            assert_eq!(s.has_vu, last(v, u).is_some());
            if let Some(l) = last(u, v) {
                assert_eq!(s.dt_uv, t - l);
            }
            let want = [
                sum(&|e| (e.0, e.1) == (u, v)),
                sum(&|e| (e.0, e.1) == (v, u)),
                sum(&|e| e.0 == u || e.1 == u),
                sum(&|e| e.0 == v || e.1 == v),
            ];
            for (got, w) in s.counts.iter().zip(want) {
                assert!((*got as f64 - w.ln_1p()).abs() < 1e-6, "({u}, {v}): {got} vs {}", w.ln_1p());
            }
            assert_eq!(s.order, [order(&ev, u, v), order(&ev, v, u)], "({u}, {v})");
        }
    }
}
