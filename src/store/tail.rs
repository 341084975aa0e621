//! The append-only tail: events added after the base was built, not yet compacted.
//!
//! Shapes: `log` holds tail events with ids `first .. first + log.len()` (columnar,
//! like the base log); `adj[node]` holds that node's tail entries as three parallel
//! vectors sorted by (time, event id), since appends arrive in time order and get
//! increasing ids. Only nodes touched since the last compaction have an entry, so
//! an idle store with millions of nodes pays nothing for the tail.

use std::collections::HashMap;

use crate::store::{AdjList, EventId, EventLog, NodeId, Time};

#[derive(Debug, Default, Clone)]
pub(crate) struct TailList {
    pub nbr: Vec<NodeId>,
    pub t: Vec<Time>,
    pub eid: Vec<EventId>,
}

impl TailList {
    fn push(&mut self, nbr: NodeId, t: Time, eid: EventId) {
        self.nbr.push(nbr);
        self.t.push(t);
        self.eid.push(eid);
    }

    pub fn as_adj(&self) -> AdjList<'_> {
        AdjList { nbr: &self.nbr, t: &self.t, eid: &self.eid }
    }
}

#[derive(Debug, Default)]
pub(crate) struct Tail {
    /// Event id of the first tail event (= base event count).
    pub first: EventId,
    pub log: EventLog,
    pub adj: HashMap<NodeId, TailList>,
}

impl Tail {
    pub fn new(first: EventId, feat_dim: usize) -> Self {
        Tail { first, log: EventLog::with_feat_dim(feat_dim), adj: HashMap::new() }
    }

    pub fn len(&self) -> usize {
        self.log.len()
    }

    /// Record an already validated event; returns its id.
    pub fn push(&mut self, src: NodeId, dst: NodeId, t: Time, feat: &[f32], directed: bool) -> EventId {
        let eid = self.first + self.log.len() as EventId;
        self.log.push(src, dst, t, feat);
        self.adj.entry(src).or_default().push(dst, t, eid);
        if !directed && src != dst {
            self.adj.entry(dst).or_default().push(src, t, eid);
        }
        eid
    }

    #[inline]
    pub fn list(&self, node: NodeId) -> AdjList<'_> {
        // The common case (nothing appended) skips hashing.
        if self.adj.is_empty() {
            return AdjList::default();
        }
        self.adj.get(&node).map(TailList::as_adj).unwrap_or_default()
    }

    /// Forget the tail after compaction; `first` moves past the folded events.
    pub fn clear(&mut self) {
        self.first += self.log.len() as EventId;
        let d = self.log.feat_dim;
        self.log = EventLog::with_feat_dim(d);
        self.adj.clear();
    }
}
