//! The [`TemporalStore`] trait: what samplers, eval and serving read from a graph.
//!
//! Time convention (for every method here): times are `f64`; "before t" is the
//! half-open window `(-inf, t)`, so an event at exactly `t` is never visible to a
//! query at `t`. Event ids are rows in time order (`u32`); ids below a cutoff and
//! times below `t` are both prefixes of every adjacency list.
//!
//! Two implementations: [`super::MemStore`] (all in RAM) and [`super::MmapStore`]
//! (memory-mapped graph directory). Both keep appended events in an in-memory
//! tail, visible to every query at once, until [`TemporalStore::compact`].

use crate::store::{EventCols, EventId, Neighbors, NodeId, StoreError, Time};

pub trait TemporalStore: Send + Sync {
    /// Nodes, including ones first seen in appended events (ids are `0..num_nodes`).
    fn num_nodes(&self) -> u32;

    /// Events, base plus tail.
    fn num_events(&self) -> usize;

    /// Edge feature width `d` (0 when the graph has none).
    fn feat_dim(&self) -> usize;

    /// Whether only the source's adjacency is stored.
    fn directed(&self) -> bool;

    /// (oldest, newest) event time; `None` for an empty store.
    fn time_range(&self) -> Option<(Time, Time)>;

    /// Time of the newest event: appends must not be older.
    fn newest_time(&self) -> Option<Time> {
        self.time_range().map(|(_, hi)| hi)
    }

    /// (src, dst, t) of event `e`. Panics if `e >= num_events()`, like slice indexing.
    fn event(&self, e: EventId) -> (NodeId, NodeId, Time);

    /// The `feat_dim` features of event `e` (empty when `feat_dim == 0`).
    /// Panics if `e >= num_events()`.
    fn event_feat(&self, e: EventId) -> &[f32];

    /// All events as contiguous columns: the compacted base, then the tail (each
    /// present only when non-empty), in event-id order.
    fn event_segments(&self) -> Vec<EventCols<'_>>;

    /// A node's adjacency sorted by (time, event id); empty for `node >= num_nodes`.
    fn neighbors(&self, node: NodeId) -> Neighbors<'_>;

    /// Number of adjacency entries of `node`.
    fn degree(&self, node: NodeId) -> usize {
        self.neighbors(node).len()
    }

    /// Node feature width (0 when the graph has none).
    fn node_feat_dim(&self) -> usize;

    /// Features of `node`; `None` when the graph has none or the node was added
    /// by an append (it has no row).
    fn node_feat(&self, node: NodeId) -> Option<&[f32]>;

    /// Append one event; returns its id (= the previous `num_events()`).
    /// Refused: a time older than [`TemporalStore::newest_time`] (equal is fine),
    /// a non-finite time or feature, `feat.len() != feat_dim()`, node id
    /// `u32::MAX`, more than `u32::MAX` events. Node ids at or beyond `num_nodes`
    /// extend the graph. The event is visible to `neighbors` immediately.
    fn append(&mut self, src: NodeId, dst: NodeId, t: Time, feat: &[f32]) -> Result<EventId, StoreError>;

    /// Events appended since the last compaction.
    fn tail_len(&self) -> usize;

    /// Fold the tail into the shards. Every query answers the same afterwards.
    fn compact(&mut self) -> Result<(), StoreError>;
}
