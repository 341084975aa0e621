//! The slow, obvious oracle: a plain `Vec<(src, dst, t)>` scanned linearly, and the
//! shared check that compares any [`TemporalStore`] against it.

use crate::store::{
    EventId, EventLog, ExternalIds, GraphData, IdMap, NodeId, TemporalStore, Time, check_structure,
};

#[derive(Debug, Clone)]
pub struct Oracle {
    pub events: Vec<(NodeId, NodeId, Time)>,
    pub feats: Vec<Vec<f32>>,
    pub feat_dim: usize,
    pub directed: bool,
    pub num_nodes: u32,
}

impl Oracle {
    pub fn new(events: Vec<(NodeId, NodeId, Time)>, feat_dim: usize, directed: bool, num_nodes: u32) -> Self {
        let feats = (0..events.len()).map(|e| feat_of(e, feat_dim)).collect();
        let n = events.iter().map(|&(s, d, _)| s.max(d) + 1).max().unwrap_or(0).max(num_nodes);
        Oracle { events, feats, feat_dim, directed, num_nodes: n }
    }

    pub fn log(&self) -> EventLog {
        let mut log = EventLog::with_feat_dim(self.feat_dim);
        for (e, &(s, d, t)) in self.events.iter().enumerate() {
            log.push(s, d, t, &self.feats[e]);
        }
        log
    }

    /// GraphData with integer ids 1000 + i, so ids differ from dense ids.
    pub fn data(&self) -> GraphData {
        GraphData {
            events: self.log(),
            ids: IdMap::new(ExternalIds::Int((0..self.num_nodes as i64).map(|i| 1000 + i).collect()), None),
            node_features: None,
            directed: self.directed,
            provenance: serde_json::json!({ "source": "oracle" }),
        }
    }

    pub fn push(&mut self, s: NodeId, d: NodeId, t: Time) {
        self.feats.push(feat_of(self.events.len(), self.feat_dim));
        self.events.push((s, d, t));
        self.num_nodes = self.num_nodes.max(s + 1).max(d + 1);
    }

    /// Entries of `v` in event order: (neighbour, time, event id).
    pub fn neighbors(&self, v: NodeId) -> Vec<(NodeId, Time, EventId)> {
        let mut out = Vec::new();
        for (e, &(s, d, t)) in self.events.iter().enumerate() {
            if s == v {
                out.push((d, t, e as EventId));
            } else if !self.directed && d == v {
                out.push((s, t, e as EventId));
            }
        }
        out
    }
}

/// Deterministic features of event `e`, distinct per event.
pub fn feat_of(e: usize, d: usize) -> Vec<f32> {
    (0..d).map(|j| e as f32 * 10.0 + j as f32).collect()
}

/// Compare every query of `store` with the oracle. `what` names the store and
/// the stage for failure messages.
pub fn check_store(store: &dyn TemporalStore, o: &Oracle, what: &str) {
    assert_eq!(store.num_events(), o.events.len(), "{what}: num_events");
    assert_eq!(store.num_nodes(), o.num_nodes, "{what}: num_nodes");
    assert_eq!(store.feat_dim(), o.feat_dim, "{what}: feat_dim");
    assert_eq!(store.directed(), o.directed, "{what}: directed");
    let range = o.events.first().map(|f| (f.2, o.events.last().map_or(f.2, |l| l.2)));
    assert_eq!(store.time_range(), range, "{what}: time_range");

    for (e, &ev) in o.events.iter().enumerate() {
        assert_eq!(store.event(e as EventId), ev, "{what}: event {e}");
        assert_eq!(store.event_feat(e as EventId), &o.feats[e][..], "{what}: features of event {e}");
    }
    let mut next = 0u32;
    let mut flat = Vec::new();
    for seg in store.event_segments() {
        assert_eq!(seg.first, next, "{what}: segments must be contiguous");
        assert!(!seg.t.is_empty(), "{what}: empty segment");
        assert_eq!(seg.feats.len(), seg.t.len() * o.feat_dim, "{what}: segment feature shape");
        for i in 0..seg.t.len() {
            flat.push((seg.src[i], seg.dst[i], seg.t[i]));
        }
        next += seg.t.len() as u32;
    }
    assert_eq!(flat, o.events, "{what}: event_segments");

    for v in 0..o.num_nodes + 2 {
        let expected = o.neighbors(v);
        let nb = store.neighbors(v);
        let got: Vec<_> = nb.iter().collect();
        assert_eq!(got, expected, "{what}: neighbours of node {v}");
        assert_eq!(nb.len(), expected.len(), "{what}: len of node {v}");
        assert_eq!(store.degree(v), expected.len(), "{what}: degree of node {v}");
        for (i, x) in expected.iter().enumerate() {
            assert_eq!(nb.get(i), Some(*x), "{what}: get({i}) of node {v}");
        }
        assert_eq!(nb.get(expected.len()), None);
        // Queries at, between and beyond this node's entries, where the answers
        // change; with many equal timestamps these hit every tie boundary.
        let mut times: Vec<Time> = expected.iter().flat_map(|&(_, t, _)| [t, t + 0.5, t - 0.5]).collect();
        times.extend([f64::NEG_INFINITY, 0.0, 1e18, f64::INFINITY]);
        let mut cutoffs: Vec<EventId> = expected.iter().flat_map(|&(_, _, e)| [e, e + 1]).collect();
        cutoffs.extend([0, o.events.len() as EventId, EventId::MAX]);
        for &t in &times {
            for &c in &cutoffs {
                // Linear scan of the oracle's list.
                let want = expected.iter().filter(|&&(_, te, e)| te < t && e < c).count();
                assert_eq!(nb.count_before(t, c), want, "{what}: count_before({t}, {c}) of node {v}");
                let before: Vec<_> = nb.before(t, c).iter().collect();
                assert_eq!(before, expected[..want].to_vec(), "{what}: before({t}, {c}) of node {v}");
            }
        }
    }
    let problems = check_structure(store);
    assert!(problems.is_empty(), "{what}: check_structure: {problems:?}");
}
