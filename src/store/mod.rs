//! The temporal graph store: columnar events plus per-node temporal adjacency.
//!
//! Flow: ingest builds a [`GraphData`] -> [`write_graph`] persists it as a graph
//! directory (meta.json + flat little-endian arrays) -> [`MmapStore::open`] maps
//! it back without reading it all; [`MemStore`] is the in-RAM twin used by tests
//! and small jobs. Both implement [`TemporalStore`], and one test suite runs
//! against both.
//!
//! Time convention: times are `f64` (see [`log`]); a query "before t" means the
//! half-open window `(-inf, t)`: an event at exactly `t` is never visible.
//! Event ids are rows in time order, so "event id < cutoff" is a prefix too.
//!
//! Adjacency: node-range shards, each a temporal CSR (per node: neighbour, time,
//! event id, sorted by time then event id). By default both directions are
//! stored (an event `u -> v` is in `u`'s list with neighbour `v` and in `v`'s list
//! with neighbour `u`; a self-loop appears once); `directed` keeps only `u`'s.

pub mod ids;
pub mod log;

pub use ids::{ExternalIds, IdMap, Side};
pub use log::EventLog;

pub type NodeId = u32;
/// Row of the event log. u32 caps a graph at 4.29e9 events, which keeps the
/// adjacency at 16 bytes per entry (neighbour u32 + time f64 + event id u32).
pub type EventId = u32;
pub type Time = f64;

pub mod api;
pub mod split;
pub mod stats;

pub use api::*;
