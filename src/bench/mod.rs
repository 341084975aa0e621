//! Synthetic data and throughput harnesses.
//!
//! - [`generate`]: the seeded synthetic temporal graph (power-law endpoints,
//!   increasing times with bursts), streamed to CSV/Parquet or built in memory;
//! - [`ingest`]: `linkcast bench ingest`, parse + shard-build throughput as JSON.

pub mod generate;
pub mod ingest;
pub mod sample;

pub use generate::{GenError, GenReport, GenSpec, OutFormat, generate_graph, generate_log};
pub use ingest::{BenchInput, IngestBench, IngestBenchReport, run_ingest_bench};
