//! linkcast: link prediction on continuous-time dynamic graphs.
//!
//! Data moves one way: [`ingest`] (parse, validate, map ids, sort by time) ->
//! [`store`] (columnar events + temporal adjacency shards, memory-mapped) ->
//! sample -> model -> train -> eval -> serve. [`mod@bench`] holds the synthetic
//! generator and throughput harnesses. Everything except the model code
//! (behind the default `torch` feature) builds without libtorch.

pub mod bench;
#[cfg(feature = "torch")]
pub mod dist;
pub mod eval;
#[doc(hidden)]
pub mod fuzz;
pub mod ingest;
#[cfg(feature = "torch")]
pub mod model;
pub mod sample;
pub mod serve;
pub mod store;
#[cfg(feature = "torch")]
pub mod train;
pub mod util;
