//! Synthetic data and throughput harnesses.
//!
//! - [`generate`]: the seeded synthetic temporal graph (power-law endpoints,
//!   increasing times with bursts), streamed to CSV/Parquet or built in memory;
//! - [`ingest`]: `linkcast bench ingest`, parse + shard-build throughput as JSON;
//! - [`sample`]: `linkcast bench sample`, neighbour sampling throughput;
//! - [`scale`]: `linkcast bench scale`, every stage at growing generated sizes;
//! - `train` (torch feature): `linkcast bench train`, training and scoring throughput;
//! - `op_profile` (torch feature): per-operator libtorch time for `bench train --op-profile`.

pub mod generate;
pub mod ingest;
#[cfg(feature = "torch")]
pub mod op_profile;
pub mod sample;
pub mod scale;
#[cfg(feature = "torch")]
pub mod train;

pub use generate::{GenError, GenReport, GenSpec, OutFormat, generate_graph, generate_log};
pub use ingest::{BenchInput, IngestBench, IngestBenchReport, run_ingest_bench};
