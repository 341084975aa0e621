//! Queries on one node's adjacency: [`AdjList`] (one contiguous run) and
//! [`Neighbors`] (the compacted run, then the tail run).
//!
//! Shapes: `nbr[i]`, `t[i]`, `eid[i]` for entry `i`; entries sorted by (time, event
//! id). Since event ids are rows of a time-sorted log, the list is also sorted by
//! event id alone, so both "time < t" and "event id < cutoff" select prefixes and
//! [`AdjList::count_before`] is two binary searches. Time windows are half-open:
//! "before t" is `(-inf, t)`; an entry at exactly `t` is never counted.

use crate::store::{AdjList, EventId, Neighbors, NodeId, Time};

impl<'a> AdjList<'a> {
    pub fn len(&self) -> usize {
        self.eid.len()
    }

    pub fn is_empty(&self) -> bool {
        self.eid.is_empty()
    }

    /// Entry `i` as (neighbour, time, event id).
    pub fn get(&self, i: usize) -> Option<(NodeId, Time, EventId)> {
        Some((*self.nbr.get(i)?, *self.t.get(i)?, *self.eid.get(i)?))
    }

    /// Number of entries with time `< t` AND event id `< eid_cutoff` (a prefix).
    /// Pass `EventId::MAX` as the cutoff to filter by time only.
    pub fn count_before(&self, t: Time, eid_cutoff: EventId) -> usize {
        let by_time = self.t.partition_point(|&x| x < t);
        // The id prefix can only be shorter than the time prefix when the cutoff
        // falls inside it: usually it does not (a batch's cutoff is its first
        // event), so check the last entry before searching.
        match by_time.checked_sub(1).map(|i| self.eid[i]) {
            Some(last) if last >= eid_cutoff => self.eid[..by_time].partition_point(|&e| e < eid_cutoff),
            _ => by_time,
        }
    }

    /// The first `n` entries (clamped to the length).
    pub fn prefix(&self, n: usize) -> AdjList<'a> {
        let n = n.min(self.len());
        AdjList { nbr: &self.nbr[..n], t: &self.t[..n], eid: &self.eid[..n] }
    }

    /// Entries `[start, end)` (clamped to the length).
    pub fn slice(&self, start: usize, end: usize) -> AdjList<'a> {
        let end = end.min(self.len());
        let start = start.min(end);
        AdjList { nbr: &self.nbr[start..end], t: &self.t[start..end], eid: &self.eid[start..end] }
    }

    /// (neighbour, time, event id) in (time, event id) order.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = (NodeId, Time, EventId)> + ExactSizeIterator + 'a {
        let (nbr, t, eid) = (self.nbr, self.t, self.eid);
        (0..eid.len()).map(move |i| (nbr[i], t[i], eid[i]))
    }
}

impl<'a> Neighbors<'a> {
    pub fn len(&self) -> usize {
        self.base.len() + self.tail.len()
    }

    pub fn is_empty(&self) -> bool {
        self.base.is_empty() && self.tail.is_empty()
    }

    /// Entry `i` counting the base first, then the tail.
    pub fn get(&self, i: usize) -> Option<(NodeId, Time, EventId)> {
        match i.checked_sub(self.base.len()) {
            None => self.base.get(i),
            Some(j) => self.tail.get(j),
        }
    }

    /// Number of entries with time `< t` AND event id `< eid_cutoff`; they are the
    /// first `count_before(..)` entries of [`Neighbors::iter`].
    pub fn count_before(&self, t: Time, eid_cutoff: EventId) -> usize {
        let b = self.base.count_before(t, eid_cutoff);
        // Tail entries are later than every base entry, so the tail contributes
        // only when the whole base qualifies.
        if b < self.base.len() { b } else { b + self.tail.count_before(t, eid_cutoff) }
    }

    /// The first `n` entries (clamped).
    pub fn prefix(&self, n: usize) -> Neighbors<'a> {
        let nb = n.min(self.base.len());
        Neighbors { base: self.base.prefix(nb), tail: self.tail.prefix(n - nb) }
    }

    /// Entries with time `< t` and event id `< eid_cutoff`: what a causal sampler
    /// may see. Most recent last.
    pub fn before(&self, t: Time, eid_cutoff: EventId) -> Neighbors<'a> {
        self.prefix(self.count_before(t, eid_cutoff))
    }

    /// (neighbour, time, event id) in (time, event id) order: base then tail.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = (NodeId, Time, EventId)> + 'a {
        self.base.iter().chain(self.tail.iter())
    }
}
