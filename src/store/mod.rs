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
//! Built by a parallel counting sort ([`csr`]); appended events live in an
//! in-memory tail, visible at once, until `compact` folds them into the shards.
//!
//! On disk ([`mod@format`] has the byte-level layout): a directory with `meta.json`
//! (format version, counts, time range, feature dims, shard layout, ids kind,
//! provenance, and per array file its name, dtype, length and XXH3-64) and one flat
//! little-endian array per file, each behind a 64-byte header (magic, version,
//! dtype, count, row width) so data is 8-byte aligned in a map:
//! `events/{src.u32,dst.u32,t.f64,feats.f32}`,
//! `shards/NNNNN/{offsets.u64,nbr.u32,t.f64,eid.u32}`, `node_feats.f32`,
//! `ids/int.i64` or `ids/{str_offsets.u64,str_bytes.u8}`.
//! Size: 16 B/event of events + 16 B per adjacency entry (2 entries per event
//! undirected, 1 directed or self-loop) = 48 B/event undirected, plus 4 B per
//! feature value and 8 B per node of offsets.
//!
//! Modules: [`traits`] (the trait), [`api`] (shared value types), [`adj`]
//! (adjacency queries), [`csr`] (building), [`mem`] / [`mmap`] (the two stores),
//! [`mod@write`] (writing, ids, node features), [`mod@verify`] (checksums and contents),
//! [`mod@format`] (layout, headers, meta.json), [`error`], [`scaling`] (feature
//! standardisation statistics); out of core: [`runs`] (sorted runs and
//! their k-way merge) and [`write_external`] (the log, windowed adjacency and meta.json with
//! bounded memory, byte-identical to [`write_graph`]).

pub mod adj;
pub(crate) mod column;
pub mod csr;
pub mod error;
pub mod format;
pub(crate) mod graph;
pub mod ids;
pub mod log;
pub mod mem;
pub mod mmap;
pub mod runs;
pub mod scaling;
pub(crate) mod tail;
pub mod traits;
pub mod verify;
pub mod write;
pub mod write_external;

#[cfg(test)]
mod tests;

pub use csr::{CsrShard, build_shards, check_events};
pub use error::StoreError;
pub use format::{ArrayMeta, Dtype, FORMAT_VERSION, Meta, ShardMeta, read_meta};
pub use ids::{ExternalIds, IdMap, Side};
pub use log::EventLog;
pub use mem::MemStore;
pub use mmap::MmapStore;
pub use traits::TemporalStore;
pub use verify::{FileCheck, VerifyReport, check_structure, verify};
pub use write::{read_ids, read_node_features, write_graph};

pub type NodeId = u32;
/// Row of the event log. u32 caps a graph at 4.29e9 events, which keeps the
/// adjacency at 16 bytes per entry (neighbour u32 + time f64 + event id u32).
pub type EventId = u32;
pub type Time = f64;

pub mod api;
pub mod split;
pub mod stats;

pub use api::*;
