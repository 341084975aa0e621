//! [`ChronoCursor`]: per-node positions that make chronological replay cheap.
//!
//! The cursor holds a `stamp` (an event id) and, per node `v`, `counts[v]` = the
//! number of `v`'s adjacency entries with event id `< stamp`. Since an entry's
//! event id is the event's row, `counts` is maintained from the event log alone:
//! moving the stamp from `a` to `b` adds 1 to `src` and (undirected, not a
//! self-loop) to `dst` for each event in `[a, b)`, or subtracts when moving back.
//! A query `(v, t, cutoff)` with `stamp == min(cutoff, num_events)` then knows the
//! id prefix `p = counts[v]` without touching `v`'s list; only the time prefix is
//! left: entries with id `< cutoff` and time `>= t` can only be the last few of
//! that prefix (ties with the root's own timestamp, when a batch cut a tie
//! group), so a check of entry `p - 1` (whose cache line the sampler reads next
//! anyway) and, rarely, a gallop back finish it.
//!
//! Result = `count_before(t, cutoff)` exactly. Replaying batches in time order moves
//! the stamp by one batch per call (one pass over the batch's events); a large
//! jump back (evaluation restarting) is answered by binary search instead, leaving
//! the cursor where it was.
//!
//! Indices address the concatenation base ++ tail of [`Neighbors`].

use crate::store::{EventId, Neighbors, NodeId, TemporalStore, Time};

/// Per-node entry counts below a stamp (see the module docs).
#[derive(Debug, Clone)]
pub struct ChronoCursor {
    stamp: EventId,
    counts: Vec<u32>,
}

#[inline]
fn t_at(nb: &Neighbors<'_>, i: usize) -> Time {
    let b = nb.base.t.len();
    if i < b { nb.base.t[i] } else { nb.tail.t[i - b] }
}

/// First index in `[lo, hi)` where the monotone `pred` (true, then false) is false.
#[inline]
fn partition(mut lo: usize, mut hi: usize, pred: impl Fn(usize) -> bool) -> usize {
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if pred(mid) { lo = mid + 1 } else { hi = mid }
    }
    lo
}

/// First index `< to` with time `>= t`, given that index `to - 1` has time `>= t`.
#[inline]
fn gallop_back(nb: &Neighbors<'_>, to: usize, t: Time) -> usize {
    let before = |i: usize| t_at(nb, i) < t;
    let (mut hi, mut step) = (to - 1, 1usize);
    // Invariant: index hi has time >= t.
    loop {
        if hi < step {
            return partition(0, hi, before);
        }
        let probe = hi - step;
        if before(probe) {
            return partition(probe + 1, hi, before);
        }
        hi = probe;
        step = step.saturating_mul(2);
    }
}

impl ChronoCursor {
    /// A cursor at stamp 0 (every count 0) for the nodes of `store`.
    pub fn new<S: TemporalStore + ?Sized>(store: &S) -> Self {
        Self { stamp: 0, counts: vec![0; store.num_nodes() as usize] }
    }

    /// The event id the counts are taken below.
    pub fn stamp(&self) -> EventId {
        self.stamp
    }

    /// Move the stamp to `min(cutoff, num_events)` when that is forward, or back by
    /// at most `max_back` events; returns whether the cursor now answers `cutoff`.
    /// `store` must be the store the cursor was made for (the sampler guarantees it).
    pub fn seek<S: TemporalStore + ?Sized>(&mut self, store: &S, cutoff: EventId, max_back: usize) -> bool {
        let target = cutoff.min(store.num_events().min(EventId::MAX as usize) as EventId);
        if target < self.stamp && (self.stamp - target) as usize > max_back {
            return false;
        }
        let (lo, hi, add) =
            if target >= self.stamp { (self.stamp, target, true) } else { (target, self.stamp, false) };
        let directed = store.directed();
        let counts = &mut self.counts;
        for seg in store.event_segments() {
            // Events of this segment inside [lo, hi).
            let first = seg.first as usize;
            let a = (lo as usize).max(first) - first;
            let b = (hi as usize).min(first + seg.src.len()).saturating_sub(first);
            for i in a..b.max(a) {
                let (s, d) = (seg.src[i], seg.dst[i]);
                bump(counts, s, add);
                if !directed && d != s {
                    bump(counts, d, add);
                }
            }
        }
        self.stamp = target;
        true
    }

    /// Entries of `node` with id below the stamp (0 for unknown nodes): where its
    /// visible prefix ends, give or take ties, for prefetching.
    #[inline]
    pub fn hint(&self, node: NodeId) -> usize {
        self.counts.get(node as usize).map_or(0, |&c| c as usize)
    }

    /// `nb.count_before(t, cutoff)` for `nb = store.neighbors(node)`, where the
    /// cursor has been moved to `cutoff` by [`ChronoCursor::seek`].
    #[inline]
    pub fn count_before(&self, node: NodeId, nb: &Neighbors<'_>, t: Time, cutoff: EventId) -> usize {
        let Some(&c) = self.counts.get(node as usize) else {
            return nb.count_before(t, cutoff);
        };
        let p = (c as usize).min(nb.len());
        if p == 0 || t_at(nb, p - 1) < t { p } else { gallop_back(nb, p, t) }
    }
}

#[inline]
fn bump(counts: &mut [u32], v: NodeId, add: bool) {
    if let Some(c) = counts.get_mut(v as usize) {
        *c = if add { c.wrapping_add(1) } else { c.wrapping_sub(1) };
    }
}
