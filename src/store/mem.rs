//! `MemStore`: the whole graph in RAM (tests, small jobs, a freshly ingested graph).
//!
//! Same shapes and time convention as [`super::TemporalStore`]; the shards come
//! from [`super::csr::build_shards`], the code `write_graph` uses, so a `MemStore`
//! and an `MmapStore` of the same data hold identical arrays. Compaction appends the
//! tail to the event columns and rebuilds the shards (O(E), in parallel).

use crate::store::column::Column;
use crate::store::csr::{build_shards, check_events};
use crate::store::graph::{Graph, ShardCols, delegate_store_queries};
use crate::store::tail::Tail;
use crate::store::{EventLog, GraphData, NodeFeatures, StoreError, TemporalStore, WriteOptions};

pub struct MemStore {
    graph: Graph,
}

/// Node count of a `GraphData`: the id map's size, or (when it is empty, e.g. a
/// generated graph without external ids) the largest node id + 1.
pub(crate) fn data_num_nodes(data: &GraphData) -> u32 {
    if data.ids.names.is_empty() { data.events.max_node_plus_one() } else { data.ids.num_nodes() }
}

/// Check that node features are `num_nodes x dim` and finite.
pub(crate) fn check_node_features(nf: &NodeFeatures, num_nodes: u32) -> Result<(), StoreError> {
    let expected = num_nodes as usize * nf.dim;
    if nf.values.len() != expected {
        return Err(StoreError::FeatureWidth {
            what: "node feature matrix (num_nodes x dim)",
            expected,
            found: nf.values.len(),
        });
    }
    if let Some(k) = nf.values.iter().position(|x| !x.is_finite()) {
        return Err(StoreError::NonFinite {
            row: (k / nf.dim.max(1)) as u64,
            what: "node feature",
            value: nf.values[k] as f64,
        });
    }
    Ok(())
}

impl MemStore {
    /// An empty store; events arrive by `append`.
    pub fn new(feat_dim: usize, directed: bool) -> Self {
        Self::from_log(EventLog::with_feat_dim(feat_dim), directed).expect("an empty log is valid")
    }

    /// From a time-sorted log; nodes are `0..log.max_node_plus_one()`.
    pub fn from_log(log: EventLog, directed: bool) -> Result<Self, StoreError> {
        let n = log.max_node_plus_one();
        Self::build(log, n, directed, WriteOptions::default().shard_nodes, None)
    }

    /// From what ingest produced (the events are copied; ids stay with the caller).
    pub fn from_data(data: &GraphData) -> Result<Self, StoreError> {
        Self::from_data_with(data, &WriteOptions::default())
    }

    /// Like [`MemStore::from_data`] with an explicit shard size.
    pub fn from_data_with(data: &GraphData, opts: &WriteOptions) -> Result<Self, StoreError> {
        let n = data_num_nodes(data);
        Self::build(data.events.clone(), n, data.directed, opts.shard_nodes, data.node_features.clone())
    }

    /// The general constructor: `num_nodes` may exceed the ids the events use
    /// (isolated nodes); node features, if any, must be `num_nodes x dim`.
    pub fn build(
        log: EventLog,
        num_nodes: u32,
        directed: bool,
        shard_nodes: u32,
        node_features: Option<NodeFeatures>,
    ) -> Result<Self, StoreError> {
        if shard_nodes == 0 {
            return Err(StoreError::InvalidOption("shard_nodes must be at least 1".into()));
        }
        check_events(&log.src, &log.dst, &log.t, &log.feats, log.feat_dim, num_nodes)?;
        let nf = node_features.filter(|nf| nf.dim > 0);
        if let Some(nf) = &nf {
            check_node_features(nf, num_nodes)?;
        }
        let shards = build_shards(&log.src, &log.dst, &log.t, num_nodes, directed, shard_nodes);
        let first = log.len() as u32;
        let (node_feat_dim, node_feats) = match nf {
            Some(nf) => (nf.dim, Column::Owned(nf.values)),
            None => (0, Column::default()),
        };
        Ok(MemStore {
            graph: Graph {
                feat_dim: log.feat_dim,
                directed,
                shard_nodes,
                base_nodes: num_nodes,
                num_nodes,
                src: Column::Owned(log.src),
                dst: Column::Owned(log.dst),
                t: Column::Owned(log.t),
                feats: Column::Owned(log.feats),
                shards: shards.into_iter().map(ShardCols::from).collect(),
                node_feat_dim,
                node_feats,
                tail: Tail::new(first, log.feat_dim),
            },
        })
    }

    /// Number of adjacency shards (after the last compaction).
    pub fn num_shards(&self) -> usize {
        self.graph.shards.len()
    }
}

fn take_vec<T: crate::store::format::Element>(c: &mut Column<T>) -> Vec<T> {
    match std::mem::take(c) {
        Column::Owned(v) => v,
        Column::Mapped(m) => m.as_slice().to_vec(),
    }
}

impl TemporalStore for MemStore {
    delegate_store_queries!();

    fn compact(&mut self) -> Result<(), StoreError> {
        let g = &mut self.graph;
        if g.tail.len() == 0 && g.num_nodes == g.base_nodes {
            return Ok(());
        }
        let mut src = take_vec(&mut g.src);
        let mut dst = take_vec(&mut g.dst);
        let mut t = take_vec(&mut g.t);
        let mut feats = take_vec(&mut g.feats);
        src.extend_from_slice(&g.tail.log.src);
        dst.extend_from_slice(&g.tail.log.dst);
        t.extend_from_slice(&g.tail.log.t);
        feats.extend_from_slice(&g.tail.log.feats);
        // Free the old adjacency before building the new one: peak memory stays at
        // one copy of the shards.
        g.shards.clear();
        let shards = build_shards(&src, &dst, &t, g.num_nodes, g.directed, g.shard_nodes);
        g.shards = shards.into_iter().map(ShardCols::from).collect();
        g.src = Column::Owned(src);
        g.dst = Column::Owned(dst);
        g.t = Column::Owned(t);
        g.feats = Column::Owned(feats);
        g.base_nodes = g.num_nodes;
        g.tail.clear();
        Ok(())
    }
}
