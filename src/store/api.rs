//! Value types of the store API, shared by ingest, stats, bench and the sampler:
//! what ingest hands over ([`GraphData`]), how to write it ([`WriteOptions`],
//! [`WriteReport`]), and the borrowed views queries return ([`EventCols`],
//! [`AdjList`], [`Neighbors`]; their query methods live in `adj.rs`).
//!
//! Time convention: `f64` times; "before t" is the half-open `(-inf, t)`.

use serde::{Deserialize, Serialize};

use crate::store::{EventId, EventLog, IdMap, NodeId, Time};

/// Node features: a row-major `num_nodes x dim` matrix (dense ids).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NodeFeatures {
    pub dim: usize,
    pub values: Vec<f32>,
}

/// Everything ingest hands to the store to persist.
#[derive(Debug, Clone)]
pub struct GraphData {
    pub events: EventLog,
    pub ids: IdMap,
    pub node_features: Option<NodeFeatures>,
    /// Keep only the source's adjacency (`--directed`); default stores both directions.
    pub directed: bool,
    /// Free-form record of where the data came from (files, format, row counts,
    /// out-of-order rows...), copied into meta.json under "provenance".
    pub provenance: serde_json::Value,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WriteOptions {
    /// Nodes per adjacency shard.
    pub shard_nodes: u32,
    /// Replace an existing non-empty output directory.
    pub replace: bool,
}

impl Default for WriteOptions {
    fn default() -> Self {
        Self { shard_nodes: 1 << 16, replace: false }
    }
}

/// What `write_graph` did.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WriteReport {
    pub events: u64,
    pub nodes: u32,
    pub shards: usize,
    pub bytes_on_disk: u64,
    /// Seconds to build the adjacency (CSR) in memory.
    pub build_seconds: f64,
    /// Seconds to write, checksum and rename.
    pub write_seconds: f64,
}

/// One contiguous run of events (columns of the same length; `feats` is `len x feat_dim`).
#[derive(Debug, Clone, Copy)]
pub struct EventCols<'a> {
    /// Event id of the first row.
    pub first: EventId,
    pub src: &'a [NodeId],
    pub dst: &'a [NodeId],
    pub t: &'a [Time],
    pub feats: &'a [f32],
}

/// One contiguous run of a node's adjacency, sorted by (time, event id).
#[derive(Debug, Clone, Copy, Default)]
pub struct AdjList<'a> {
    pub nbr: &'a [NodeId],
    pub t: &'a [Time],
    pub eid: &'a [EventId],
}

/// A node's full adjacency: the compacted part, then the not-yet-compacted tail
/// (every tail entry is later than every base entry).
#[derive(Debug, Clone, Copy, Default)]
pub struct Neighbors<'a> {
    pub base: AdjList<'a>,
    pub tail: AdjList<'a>,
}
