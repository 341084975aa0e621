//! Candidate retrieval for `top_k` in retrieve-then-rerank mode (`--retrieve N`):
//! at most `N` destinations per query, from cheap signals, and only those go
//! through the model. The rest of the catalogue is never scored, so the answer is
//! the model's top-k among the retrieved, and its recall against the exhaustive
//! top-k is measured, not assumed (`linkcast bench recall`, docs/SERVING.md).
//!
//! The sources, in this order until `N` are found (each a list in a fixed order,
//! duplicates and non-candidates skipped):
//! 1. **history**: the source's own partners, most recent first (the order of the
//!    recency heuristic; EdgeBank's set);
//! 2. **hops**: destinations two hops away (a bipartite graph's source side is one
//!    hop further: items of users who share an item), ranked by the number of
//!    walks that reach them, each node expanding only its [`HOP_FANOUT`] most
//!    recent neighbours so hubs cost a bounded amount;
//! 3. **popular** and **active**, alternating: the destinations with the most
//!    events, best first, and the destinations of the newest events, newest first
//!    (a memory model's freshest nodes; at most `max(4096, 16 N)` events read).
//!
//! Time convention: everything reads events with id `< cutoff` only, and
//! [`Popularity`] counts exactly the events it was shown, so the same code serves
//! a live scorer (cutoff = every event) and a replay of a test split (cutoff = the
//! batch's first event).

use std::collections::HashMap;

use crate::store::{EventId, IdMap, NodeId, TemporalStore};

/// Neighbours read per node when expanding hops (the most recent ones).
pub const HOP_FANOUT: usize = 32;

/// Events read backwards for recently active destinations, at least (or 16 per
/// candidate wanted).
pub const ACTIVE_SCAN: usize = 4096;

/// Destinations the popularity list keeps (the most any query can take from it).
pub const POPULAR_KEEP: usize = 10_000;

const NONE: u32 = u32::MAX;

/// Destination-side event counts, and the [`POPULAR_KEEP`] most counted nodes kept
/// in order as events arrive (counts only grow, so the list is exact).
/// Memory: 8 bytes per node plus 4 per kept entry.
#[derive(Debug, Clone, Default)]
pub struct Popularity {
    count: Vec<u32>,
    pos: Vec<u32>,
    top: Vec<NodeId>,
    keep: usize,
}

impl Popularity {
    /// Counts over events `0..upto` of `store` (destinations only).
    pub fn build(store: &dyn TemporalStore, upto: usize, keep: usize) -> Popularity {
        let n = store.num_nodes() as usize;
        let mut count = vec![0u32; n];
        let mut seen = 0usize;
        for seg in store.event_segments() {
            for &d in seg.dst.iter().take(upto.saturating_sub(seen)) {
                count[d as usize] = count[d as usize].saturating_add(1);
            }
            seen += seg.dst.len();
        }
        let mut order: Vec<NodeId> = (0..n as NodeId).filter(|&v| count[v as usize] > 0).collect();
        let by = |a: &NodeId, b: &NodeId| count[*b as usize].cmp(&count[*a as usize]).then(a.cmp(b));
        if order.len() > keep && keep > 0 {
            order.select_nth_unstable_by(keep - 1, by);
        }
        order.truncate(keep);
        order.sort_unstable_by(by);
        let mut pos = vec![NONE; n];
        for (i, &v) in order.iter().enumerate() {
            pos[v as usize] = i as u32;
        }
        Popularity { count, pos, top: order, keep }
    }

    fn grow(&mut self, n: usize) {
        if self.count.len() < n {
            self.count.resize(n, 0);
            self.pos.resize(n, NONE);
        }
    }

    /// `(count desc, id asc)`: is `a` before `b`?
    fn before(&self, a: NodeId, b: NodeId) -> bool {
        let (ca, cb) = (self.count[a as usize], self.count[b as usize]);
        ca > cb || (ca == cb && a < b)
    }

    /// One more event with destination `v`.
    pub fn bump(&mut self, v: NodeId) {
        self.grow(v as usize + 1);
        let c = &mut self.count[v as usize];
        *c = c.saturating_add(1);
        let p = self.pos[v as usize];
        if p == NONE {
            if self.top.len() >= self.keep {
                match self.top.last() {
                    Some(&last) if self.before(v, last) => {
                        self.pos[last as usize] = NONE;
                        self.top.pop();
                    }
                    _ => return,
                }
            }
            self.top.push(v);
        }
        // Move `v` up to its place: everything between it and there shifts down one.
        let from = if p == NONE { self.top.len() - 1 } else { p as usize };
        let to = self.top[..from].partition_point(|&x| self.before(x, v));
        if to < from {
            self.top[to..=from].rotate_right(1);
            for i in to..=from {
                self.pos[self.top[i] as usize] = i as u32;
            }
        } else {
            self.pos[v as usize] = from as u32;
        }
    }

    /// The most counted destinations, best first (ties: lower id first).
    pub fn top(&self) -> &[NodeId] {
        &self.top
    }

    pub fn count(&self, v: NodeId) -> u32 {
        self.count.get(v as usize).copied().unwrap_or(0)
    }

    pub fn bytes(&self) -> u64 {
        ((self.count.capacity() + self.pos.capacity() + self.top.capacity()) * 4) as u64
    }
}

/// What one retrieval found: the candidates in retrieval order, and how many came
/// from each source.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Retrieved {
    pub candidates: Vec<NodeId>,
    pub history: usize,
    pub hops: usize,
    pub popular: usize,
    pub active: usize,
}

/// At most `n` candidate destinations for `src` (see the module docs) from events
/// with id `< cutoff`. `exclude_seen` leaves out the source's past partners (the
/// history source then gives nothing). `cold`: the source has no id in the graph,
/// so only popular nodes are retrieved.
#[allow(clippy::too_many_arguments)] // one call site each; a struct would only rename them
pub fn retrieve(
    store: &dyn TemporalStore,
    ids: &IdMap,
    pop: &Popularity,
    src: NodeId,
    cold: bool,
    cutoff: EventId,
    n: usize,
    exclude_seen: bool,
) -> Retrieved {
    let mut out = Retrieved::default();
    if n == 0 {
        return out;
    }
    let num_nodes = store.num_nodes();
    let recent = |v: NodeId| {
        let nb = store.neighbors(v);
        let upto = nb.count_before(f64::INFINITY, cutoff);
        nb.prefix(upto)
    };
    let history = if cold { Default::default() } else { recent(src) };
    let seen: std::collections::HashSet<NodeId> =
        if exclude_seen { history.iter().map(|(v, _, _)| v).collect() } else { Default::default() };
    let mut taken = std::collections::HashSet::with_capacity(2 * n);
    let ok = |v: NodeId| v != src && v < num_nodes && ids.is_destination(v) && !seen.contains(&v);
    let mut take = |v: NodeId, out: &mut Vec<NodeId>| {
        let new = out.len() < n && ok(v) && taken.insert(v);
        if new {
            out.push(v);
        }
        new
    };
    if !exclude_seen {
        for (v, _, _) in history.iter().rev() {
            take(v, &mut out.candidates);
            if out.candidates.len() == n {
                break;
            }
        }
    }
    out.history = out.candidates.len();
    if !cold && out.candidates.len() < n {
        // Walk counts over `hops` steps from the source, each node expanding its most
        // recent distinct neighbours.
        let hops = if ids.is_bipartite() { 3 } else { 2 };
        let mut frontier: HashMap<NodeId, u64> = HashMap::from([(src, 1)]);
        for _ in 0..hops {
            let mut next: HashMap<NodeId, u64> = HashMap::with_capacity(frontier.len() * HOP_FANOUT);
            for (&w, &c) in &frontier {
                let mut distinct = 0;
                let mut last = NONE;
                for (x, _, _) in recent(w).iter().rev() {
                    if x == last {
                        continue;
                    }
                    last = x;
                    *next.entry(x).or_default() += c;
                    distinct += 1;
                    if distinct == HOP_FANOUT {
                        break;
                    }
                }
            }
            frontier = next;
        }
        let mut ranked: Vec<(NodeId, u64)> = frontier.into_iter().filter(|&(v, _)| ok(v)).collect();
        ranked.sort_unstable_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        let before = out.candidates.len();
        for (v, _) in ranked {
            take(v, &mut out.candidates);
            if out.candidates.len() == n {
                break;
            }
        }
        out.hops = out.candidates.len() - before;
    }
    // The rest alternates between the most popular destinations and the most
    // recently active ones (newest event first): a memory model's freshest nodes.
    let mut popular = pop.top().iter().copied();
    let newest = cutoff.min(store.num_events() as EventId);
    let mut active = (0..newest).rev().take(ACTIVE_SCAN.max(16 * n)).map(|e| store.event(e).1);
    let mut active_left = true;
    while out.candidates.len() < n {
        let p = popular.next();
        if p.is_some_and(|v| take(v, &mut out.candidates)) {
            out.popular += 1;
        }
        if active_left && out.candidates.len() < n {
            // The next destination not taken yet, within the bounded stretch.
            active_left = active.any(|v| take(v, &mut out.candidates));
            out.active += usize::from(active_left);
        }
        if p.is_none() && !active_left {
            break;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{EventLog, ExternalIds, MemStore};
    use proptest::prelude::*;

    fn store(events: &[(u32, u32)], directed: bool) -> MemStore {
        let mut log = EventLog::with_feat_dim(0);
        for (i, &(s, d)) in events.iter().enumerate() {
            log.push(s, d, i as f64, &[]);
        }
        MemStore::from_log(log, directed).unwrap()
    }

    fn ids(n: u32) -> IdMap {
        let mut m = IdMap::new(ExternalIds::Int((0..n as i64).collect()), None);
        m.build_index();
        m
    }

    proptest! {
        // The incrementally kept list equals a sort of the final counts.
        #[test]
        fn popularity_kept_as_events_arrive_equals_a_sort(
            dsts in proptest::collection::vec(0u32..40, 1..300),
            keep in 1usize..12,
        ) {
            let mut p = Popularity { keep, ..Default::default() };
            let mut count = vec![0u32; 40];
            for &d in &dsts {
                p.bump(d);
                count[d as usize] += 1;
            }
            let mut all: Vec<u32> = (0..40).filter(|&v| count[v as usize] > 0).collect();
            all.sort_by(|a, b| count[*b as usize].cmp(&count[*a as usize]).then(a.cmp(b)));
            all.truncate(keep);
            prop_assert_eq!(p.top(), &all[..]);
            for (i, &v) in p.top().iter().enumerate() {
                prop_assert_eq!(p.pos[v as usize] as usize, i);
            }
            // And building from a store gives the same list.
            let evs: Vec<(u32, u32)> = dsts.iter().map(|&d| (39 - d % 40, d)).collect();
            let s = store(&evs, true);
            let built = Popularity::build(&s, evs.len(), keep);
            prop_assert_eq!(built.top(), &all[..]);
        }
    }

    #[test]
    fn sources_in_order_without_duplicates_and_nothing_past_the_cutoff() {
        // 0 talked to 1 then 2; 1 and 2 talked to 3, 4; 5 is the most popular; the
        // last event (0 -> 6) is past the cutoff.
        let ev = [(0, 1), (0, 2), (1, 3), (2, 3), (2, 4), (7, 5), (8, 5), (9, 5), (0, 6)];
        let s = store(&ev, false);
        let m = ids(s.num_nodes());
        let pop = Popularity::build(&s, 8, 100);
        assert_eq!(pop.top()[0], 5);
        let r = retrieve(&s, &m, &pop, 0, false, 8, 100, false);
        assert_eq!(&r.candidates[..2], &[2, 1], "history, most recent first");
        assert_eq!(r.candidates[2], 3, "reached by two walks");
        assert!(!r.candidates.contains(&0) && !r.candidates.contains(&6));
        let mut u = r.candidates.clone();
        u.sort();
        u.dedup();
        assert_eq!(u.len(), r.candidates.len());
        assert_eq!(r.history + r.hops + r.popular + r.active, r.candidates.len());
        // The budget is a cap, and exclude_seen drops the history.
        assert_eq!(retrieve(&s, &m, &pop, 0, false, 8, 2, false).candidates, vec![2, 1]);
        let x = retrieve(&s, &m, &pop, 0, false, 8, 100, true);
        assert!(x.history == 0 && !x.candidates.contains(&1) && !x.candidates.contains(&2));
        // A cold source gets the popular ones only.
        // A cold source gets popular and recently active ones only: 5 (popular),
        // then 4 (the newest destination before the cutoff other than 5), then 3.
        let c = retrieve(&s, &m, &pop, s.num_nodes(), true, 8, 3, false);
        assert_eq!(c.candidates, vec![5, 4, 3]);
        assert_eq!((c.history, c.hops, c.popular, c.active), (0, 0, 2, 1));
    }
}
