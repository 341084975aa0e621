//! `linkcast bench ingest`: throughput of the ingest pipeline, as one JSON object.
//!
//! Stages, each timed on its own:
//! 1. (only with `--generate N`) write a synthetic CSV to a temporary directory:
//!    reported as `generate_seconds`, never counted in the throughputs;
//! 2. parse: [`ingest_files`] (read, gunzip, split fields, map ids, sort by time);
//! 3. build: the adjacency shards (temporal CSR), `WriteReport::build_seconds`;
//! 4. write: arrays, checksums, meta.json, rename (`WriteReport::write_seconds`).
//!
//! Throughputs are rows (events) per second. Peak RSS is the process high-water
//! mark (VmHWM) after the last stage, so it covers the generator too (which holds
//! only a few chunks of rows at a time) and the binary's baseline, reported as
//! `start_rss_bytes`. Parameters are recorded without any git
//! state, so two reports can be compared by their `params` alone.

use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::bench::generate::{GenError, GenSpec, OutFormat, write_to_path};
use crate::ingest::{IngestError, IngestOptions, ingest_files};
use crate::store::{StoreError, WriteOptions, write_graph};
use crate::util::mem::{peak_rss_bytes, rss_bytes};

#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error("generating the input")]
    Generate(#[from] GenError),
    #[error("ingesting {file}")]
    Ingest {
        file: String,
        #[source]
        source: Box<IngestError>,
    },
    #[error("writing the graph")]
    Store(#[from] StoreError),
    #[error("{what}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
}

/// Where the rows come from.
#[derive(Debug, Clone)]
pub enum BenchInput {
    File(PathBuf),
    /// Generate this graph as CSV first (not timed as part of ingest).
    Generate(GenSpec),
}

#[derive(Debug, Clone)]
pub struct IngestBench {
    pub input: BenchInput,
    pub options: IngestOptions,
    pub write: WriteOptions,
    /// Keep the graph here; `None` = a temporary directory, removed afterwards.
    pub out_dir: Option<PathBuf>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Machine {
    pub cpus: usize,
    pub os: String,
    pub arch: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IngestParams {
    pub file: String,
    pub file_bytes: u64,
    /// The generator's spec when the input was generated.
    pub generated: Option<GenSpec>,
    pub format: String,
    pub feat_dim: usize,
    pub shard_nodes: u32,
    pub directed: bool,
    pub linkcast_version: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IngestBenchReport {
    pub bench: String,
    pub params: IngestParams,
    pub events: u64,
    pub nodes: u32,
    pub shards: usize,
    pub generate_seconds: Option<f64>,
    pub parse_seconds: f64,
    pub parse_rows_per_s: f64,
    pub build_seconds: f64,
    pub build_rows_per_s: f64,
    pub write_seconds: f64,
    pub write_rows_per_s: f64,
    /// parse + build + write.
    pub total_seconds: f64,
    pub bytes_on_disk: u64,
    pub bytes_per_event: f64,
    pub peak_rss_bytes: Option<u64>,
    /// Resident memory when the benchmark started: the binary's own baseline
    /// (a libtorch-linked build maps a few hundred MB of libraries before any work).
    pub start_rss_bytes: Option<u64>,
    pub threads: usize,
    pub machine: Machine,
    /// What ingest reported (rows read, out-of-order rows, skipped rows...).
    pub ingest_report: serde_json::Value,
}

impl Machine {
    /// This machine: logical cores, OS, architecture.
    pub fn current() -> Machine {
        Machine {
            cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
            os: std::env::consts::OS.into(),
            arch: std::env::consts::ARCH.into(),
        }
    }
}

/// `n` per second (0 for an empty interval).
pub fn rate(rows: u64, secs: f64) -> f64 {
    if secs > 0.0 { rows as f64 / secs } else { 0.0 }
}

fn io_err(what: String) -> impl FnOnce(std::io::Error) -> BenchError {
    move |source| BenchError::Io { what, source }
}

/// Run the benchmark (see the module docs).
pub fn run_ingest_bench(b: &IngestBench) -> Result<IngestBenchReport, BenchError> {
    let start_rss_bytes = rss_bytes();
    // Generated input lives in its own temporary directory, removed on return.
    let gen_dir = tempfile::Builder::new()
        .prefix("linkcast-bench-")
        .tempdir()
        .map_err(io_err("creating a temporary directory".into()))?;
    let (file, generated, generate_seconds) = match &b.input {
        BenchInput::File(p) => (p.clone(), None, None),
        BenchInput::Generate(spec) => {
            let p = gen_dir.path().join("generated.csv");
            let t = Instant::now();
            write_to_path(spec, OutFormat::Csv, &p)?;
            (p, Some(spec.clone()), Some(t.elapsed().as_secs_f64()))
        }
    };
    let file_bytes = std::fs::metadata(&file).map_err(io_err(format!("reading {}", file.display())))?.len();
    let mut options = b.options.clone();
    if let Some(spec) = &generated
        && options.features.is_none()
        && spec.features > 0
    {
        // The generated header is `src,dst,t,f0..`: take every feature column.
        options.features = Some(format!("f0..f{}", spec.features - 1).parse().map_err(|source| {
            BenchError::Ingest { file: file.display().to_string(), source: Box::new(source) }
        })?);
    }

    let t = Instant::now();
    let ingested = ingest_files(std::slice::from_ref(&file), &options).map_err(|source| {
        BenchError::Ingest { file: file.display().to_string(), source: Box::new(source) }
    })?;
    let parse_seconds = t.elapsed().as_secs_f64();
    let data = ingested.data;
    let events = data.events.len() as u64;
    let feat_dim = data.events.feat_dim;
    let format =
        ingested.report.files.first().map_or_else(|| options.format.to_string(), |f| f.format.to_string());
    let ingest_report = serde_json::to_value(&ingested.report).unwrap_or(serde_json::Value::Null);

    let out_tmp;
    let out: &Path = match &b.out_dir {
        Some(d) => d,
        None => {
            out_tmp = tempfile::Builder::new()
                .prefix("linkcast-bench-graph-")
                .tempdir()
                .map_err(io_err("creating a temporary directory".into()))?;
            out_tmp.path()
        }
    };
    // write_graph renames a finished directory into place: give it a fresh name
    // inside a temporary directory, or the user's directory itself.
    let target = if b.out_dir.is_some() { out.to_path_buf() } else { out.join("graph") };
    let w = write_graph(&target, &data, &b.write)?;
    drop(data);

    Ok(IngestBenchReport {
        bench: "ingest".into(),
        params: IngestParams {
            file: if generated.is_some() { "(generated csv)".into() } else { file.display().to_string() },
            file_bytes,
            generated,
            format,
            feat_dim,
            shard_nodes: b.write.shard_nodes,
            directed: options.directed,
            linkcast_version: env!("CARGO_PKG_VERSION").into(),
        },
        events,
        nodes: w.nodes,
        shards: w.shards,
        generate_seconds,
        parse_seconds,
        parse_rows_per_s: rate(events, parse_seconds),
        build_seconds: w.build_seconds,
        build_rows_per_s: rate(events, w.build_seconds),
        write_seconds: w.write_seconds,
        write_rows_per_s: rate(events, w.write_seconds),
        total_seconds: parse_seconds + w.build_seconds + w.write_seconds,
        bytes_on_disk: w.bytes_on_disk,
        bytes_per_event: if events > 0 { w.bytes_on_disk as f64 / events as f64 } else { 0.0 },
        peak_rss_bytes: peak_rss_bytes(),
        start_rss_bytes,
        threads: rayon::current_num_threads(),
        machine: Machine::current(),
        ingest_report,
    })
}
