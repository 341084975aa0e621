//! `Graph`: the query engine shared by [`super::MemStore`] and [`super::MmapStore`].
//!
//! Shapes: base event columns `src/dst/t: [E0]`, `feats: [E0 x d]`; shards of
//! `shard_nodes` nodes covering `[0, base_nodes)`, each a temporal CSR
//! (`offsets: u64[n_local + 1]`, `nbr/t/eid: [m]`); node features `[N0 x k]`; then
//! the [`Tail`] with events `E0..E` and their per-node entries. Only the backing of
//! the columns differs between the two stores (owned vectors or memory maps), and
//! how they compact.

use crate::store::column::Column;
use crate::store::csr::CsrShard;
use crate::store::tail::Tail;
use crate::store::{AdjList, EventCols, EventId, Neighbors, NodeId, StoreError, Time};

pub(crate) struct ShardCols {
    pub offsets: Column<u64>,
    pub nbr: Column<NodeId>,
    pub t: Column<Time>,
    pub eid: Column<EventId>,
}

impl From<CsrShard> for ShardCols {
    fn from(s: CsrShard) -> Self {
        ShardCols {
            offsets: Column::Owned(s.offsets),
            nbr: Column::Owned(s.nbr),
            t: Column::Owned(s.t),
            eid: Column::Owned(s.eid),
        }
    }
}

impl ShardCols {
    /// Entries of local node `i` (offsets were validated when built or opened).
    #[inline]
    pub fn list(&self, i: usize) -> AdjList<'_> {
        let off = self.offsets.as_slice();
        let (lo, hi) = (off[i] as usize, off[i + 1] as usize);
        AdjList {
            nbr: &self.nbr.as_slice()[lo..hi],
            t: &self.t.as_slice()[lo..hi],
            eid: &self.eid.as_slice()[lo..hi],
        }
    }
}

pub(crate) struct Graph {
    pub feat_dim: usize,
    pub directed: bool,
    pub shard_nodes: u32,
    /// Nodes covered by the shards.
    pub base_nodes: u32,
    /// `base_nodes` or more once appends introduced new nodes.
    pub num_nodes: u32,
    pub src: Column<NodeId>,
    pub dst: Column<NodeId>,
    pub t: Column<Time>,
    pub feats: Column<f32>,
    pub shards: Vec<ShardCols>,
    /// 0 when there are no node features.
    pub node_feat_dim: usize,
    pub node_feats: Column<f32>,
    pub tail: Tail,
}

impl Graph {
    pub fn base_events(&self) -> usize {
        self.t.len()
    }

    pub fn num_events(&self) -> usize {
        self.base_events() + self.tail.len()
    }

    pub fn time_range(&self) -> Option<(Time, Time)> {
        let base = self.t.as_slice();
        let lo = base.first().or(self.tail.log.t.first())?;
        let hi = self.tail.log.t.last().or(base.last())?;
        Some((*lo, *hi))
    }

    fn locate(&self, e: EventId) -> Result<usize, usize> {
        let base = self.base_events();
        let e = e as usize;
        if e < base {
            Ok(e)
        } else if e < self.num_events() {
            Err(e - base)
        } else {
            panic!("event id {e} out of range (the store has {} events)", self.num_events())
        }
    }

    pub fn event(&self, e: EventId) -> (NodeId, NodeId, Time) {
        match self.locate(e) {
            Ok(i) => (self.src.as_slice()[i], self.dst.as_slice()[i], self.t.as_slice()[i]),
            Err(j) => (self.tail.log.src[j], self.tail.log.dst[j], self.tail.log.t[j]),
        }
    }

    pub fn event_feat(&self, e: EventId) -> &[f32] {
        let d = self.feat_dim;
        match self.locate(e) {
            Ok(i) => &self.feats.as_slice()[i * d..(i + 1) * d],
            Err(j) => &self.tail.log.feats[j * d..(j + 1) * d],
        }
    }

    pub fn event_segments(&self) -> Vec<EventCols<'_>> {
        let mut out = Vec::with_capacity(2);
        if self.base_events() > 0 {
            out.push(EventCols {
                first: 0,
                src: self.src.as_slice(),
                dst: self.dst.as_slice(),
                t: self.t.as_slice(),
                feats: self.feats.as_slice(),
            });
        }
        let log = &self.tail.log;
        if !log.is_empty() {
            out.push(EventCols {
                first: self.tail.first,
                src: &log.src,
                dst: &log.dst,
                t: &log.t,
                feats: &log.feats,
            });
        }
        out
    }

    #[inline]
    pub fn base_list(&self, node: NodeId) -> AdjList<'_> {
        if node >= self.base_nodes {
            return AdjList::default();
        }
        let sn = self.shard_nodes as usize;
        let node = node as usize;
        self.shards[node / sn].list(node % sn)
    }

    #[inline]
    pub fn neighbors(&self, node: NodeId) -> Neighbors<'_> {
        Neighbors { base: self.base_list(node), tail: self.tail.list(node) }
    }

    pub fn node_feat(&self, node: NodeId) -> Option<&[f32]> {
        let k = self.node_feat_dim;
        if k == 0 {
            return None;
        }
        let i = node as usize;
        self.node_feats.as_slice().get(i * k..(i + 1) * k)
    }

    /// Validate and record one event in the tail.
    pub fn append(&mut self, src: NodeId, dst: NodeId, t: Time, feat: &[f32]) -> Result<EventId, StoreError> {
        let n = self.num_events() as u64;
        if n >= u32::MAX as u64 {
            return Err(StoreError::TooManyEvents { count: n + 1 });
        }
        if feat.len() != self.feat_dim {
            return Err(StoreError::FeatureWidth {
                what: "appended event features",
                expected: self.feat_dim,
                found: feat.len(),
            });
        }
        if !t.is_finite() {
            return Err(StoreError::NonFinite { row: n, what: "time", value: t });
        }
        if let Some(&x) = feat.iter().find(|x| !x.is_finite()) {
            return Err(StoreError::NonFinite { row: n, what: "feature", value: x as f64 });
        }
        for node in [src, dst] {
            if node == u32::MAX {
                return Err(StoreError::NodeIdTooLarge { node });
            }
        }
        if let Some((_, newest)) = self.time_range()
            && t < newest
        {
            return Err(StoreError::OutOfOrder { t, newest });
        }
        self.num_nodes = self.num_nodes.max(src + 1).max(dst + 1);
        Ok(self.tail.push(src, dst, t, feat, self.directed))
    }
}

/// Implements the read side of [`super::TemporalStore`] by forwarding to a
/// `graph: Graph` field; each store adds `compact`.
macro_rules! delegate_store_queries {
    () => {
        fn num_nodes(&self) -> u32 {
            self.graph.num_nodes
        }
        fn num_events(&self) -> usize {
            self.graph.num_events()
        }
        fn feat_dim(&self) -> usize {
            self.graph.feat_dim
        }
        fn directed(&self) -> bool {
            self.graph.directed
        }
        fn time_range(&self) -> Option<($crate::store::Time, $crate::store::Time)> {
            self.graph.time_range()
        }
        fn event(
            &self,
            e: $crate::store::EventId,
        ) -> ($crate::store::NodeId, $crate::store::NodeId, $crate::store::Time) {
            self.graph.event(e)
        }
        fn event_feat(&self, e: $crate::store::EventId) -> &[f32] {
            self.graph.event_feat(e)
        }
        fn event_segments(&self) -> Vec<$crate::store::EventCols<'_>> {
            self.graph.event_segments()
        }
        fn neighbors(&self, node: $crate::store::NodeId) -> $crate::store::Neighbors<'_> {
            self.graph.neighbors(node)
        }
        fn node_feat_dim(&self) -> usize {
            self.graph.node_feat_dim
        }
        fn node_feat(&self, node: $crate::store::NodeId) -> Option<&[f32]> {
            self.graph.node_feat(node)
        }
        fn append(
            &mut self,
            src: $crate::store::NodeId,
            dst: $crate::store::NodeId,
            t: $crate::store::Time,
            feat: &[f32],
        ) -> Result<$crate::store::EventId, $crate::store::StoreError> {
            self.graph.append(src, dst, t, feat)
        }
        fn tail_len(&self) -> usize {
            self.graph.tail.len()
        }
    };
}
pub(crate) use delegate_store_queries;
