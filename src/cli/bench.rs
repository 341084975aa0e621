//! `linkcast bench <harness>`: throughput benchmarks, each printing one JSON object
//! on stdout (progress and logs go to stderr). Harnesses: `ingest` (parse, build
//! shards, write), `sample` (temporal neighbour sampling); later issues add `scale`.
//! The measuring code lives in `linkcast::bench`; this file only turns flags into its configuration.

use std::path::PathBuf;

use anyhow::Context;

use linkcast::bench::generate::GenSpec;
use linkcast::bench::ingest::{BenchInput, IngestBench, run_ingest_bench};
use linkcast::bench::sample::{SampleBench, SampleInput, run_sample_bench};
use linkcast::sample::neighbors::Strategy;
use linkcast::store::WriteOptions;

#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  linkcast bench ingest datasets/collegemsg/CollegeMsg.txt.gz
  linkcast bench ingest --generate 10000000
  linkcast bench ingest --generate 1000000 --gen-features 4 --out-dir runs/bench-graph")]
pub struct Args {
    #[command(subcommand)]
    pub harness: Harness,
}

#[derive(Debug, clap::Subcommand)]
pub enum Harness {
    /// Ingest throughput: rows/s for parsing and for building shards, bytes on disk, peak RSS.
    Ingest(IngestArgs),
    /// Temporal neighbour sampling: batches/s, roots/s, sampled slots/s, peak RSS.
    Sample(SampleArgs),
}

#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  linkcast bench ingest ../shared/datasets/email-eu-core-temporal/email-Eu-core-temporal.txt.gz
  linkcast bench ingest --generate 10000000
  linkcast bench ingest data.csv --features rating --shard-nodes 65536")]
pub struct IngestArgs {
    /// Edge-list file to ingest (any format `linkcast ingest` reads).
    #[arg(required_unless_present = "generate", conflicts_with = "generate")]
    pub file: Option<PathBuf>,
    /// Instead of FILE: generate a CSV with this many events first (not timed).
    #[arg(long, value_name = "N_EVENTS")]
    pub generate: Option<u64>,
    /// Nodes of the generated graph (default: events / 10).
    #[arg(long, requires = "generate")]
    pub gen_nodes: Option<u32>,
    /// Feature columns of the generated graph.
    #[arg(long, requires = "generate", default_value_t = 0)]
    pub gen_features: usize,
    #[arg(long, requires = "generate", default_value_t = 1)]
    pub gen_seed: u64,
    /// Zipf exponent of the generated endpoints.
    #[arg(long, requires = "generate", default_value_t = GenSpec::default().zipf)]
    pub gen_zipf: f64,
    /// Bursty generated times (see `linkcast generate --bursty`).
    #[arg(long, requires = "generate")]
    pub gen_bursty: bool,
    /// Keep the graph in DIR (default: a temporary directory, removed afterwards).
    #[arg(long, value_name = "DIR")]
    pub out_dir: Option<PathBuf>,
    /// Replace an existing --out-dir.
    #[arg(long)]
    pub force: bool,
    /// Nodes per adjacency shard.
    #[arg(long, default_value_t = WriteOptions::default().shard_nodes)]
    pub shard_nodes: u32,
    #[command(flatten)]
    pub read: crate::cli::ingest::ReadFlags,
}

pub fn run(a: Args) -> anyhow::Result<()> {
    match a.harness {
        Harness::Ingest(i) => run_ingest(i),
        Harness::Sample(s) => run_sample(s),
    }
}

fn run_ingest(a: IngestArgs) -> anyhow::Result<()> {
    let input = match (a.file, a.generate) {
        (_, Some(events)) => BenchInput::Generate(GenSpec {
            nodes: a.gen_nodes.unwrap_or_else(|| (events / 10).clamp(2, u64::from(u32::MAX)) as u32),
            events,
            seed: a.gen_seed,
            zipf: a.gen_zipf,
            features: a.gen_features,
            bursty: a.gen_bursty,
        }),
        (Some(f), None) => BenchInput::File(f),
        (None, None) => anyhow::bail!("give a FILE or --generate N_EVENTS"),
    };
    let bench = IngestBench {
        input,
        options: a.read.options(),
        write: WriteOptions { shard_nodes: a.shard_nodes, replace: a.force },
        out_dir: a.out_dir,
    };
    let report = run_ingest_bench(&bench).context("bench ingest failed")?;
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}

#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  linkcast bench sample runs/email-eu --strategy recent --threads 2
  linkcast bench sample ../shared/datasets/wikipedia-uit/ml_wikipedia.txt --bipartite --strategy uniform
  linkcast bench sample --generate 10000000 --gen-nodes 1000000 --layers 2")]
pub struct SampleArgs {
    /// A graph directory (memory-mapped) or an edge-list file (ingested first, not timed).
    #[arg(required_unless_present = "generate", conflicts_with = "generate")]
    pub graph: Option<PathBuf>,
    /// Instead of GRAPH: generate a graph with this many events in memory (not timed).
    #[arg(long, value_name = "N_EVENTS")]
    pub generate: Option<u64>,
    /// Nodes of the generated graph (default: events / 10).
    #[arg(long, requires = "generate")]
    pub gen_nodes: Option<u32>,
    #[arg(long, requires = "generate", default_value_t = 1)]
    pub gen_seed: u64,
    /// Zipf exponent of the generated endpoints.
    #[arg(long, requires = "generate", default_value_t = GenSpec::default().zipf)]
    pub gen_zipf: f64,
    /// Events per batch (roots per batch = 3x: sources, destinations, one negative each).
    #[arg(long, default_value_t = 600)]
    pub batch: usize,
    /// Neighbours per root and layer.
    #[arg(long, default_value_t = 10)]
    pub k: usize,
    /// `recent` or `uniform`.
    #[arg(long, default_value = "recent")]
    pub strategy: Strategy,
    /// Sampling threads (a rayon pool of this size).
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
    /// Hops (1 for TGN, 2 for TGAT); each layer samples k per root of the previous one.
    #[arg(long, default_value_t = 1)]
    pub layers: usize,
    /// Seed of the uniform draws and of the negatives.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Binary search every root instead of the per-node chronological cursors.
    #[arg(long)]
    pub no_cursor: bool,
    /// Replay the whole log this many times (longer timings on small graphs).
    #[arg(long, default_value_t = 1)]
    pub repeat: usize,
    #[command(flatten)]
    pub read: crate::cli::ingest::ReadFlags,
}

fn run_sample(a: SampleArgs) -> anyhow::Result<()> {
    let input = match (a.graph, a.generate) {
        (_, Some(events)) => SampleInput::Generate(GenSpec {
            nodes: a.gen_nodes.unwrap_or_else(|| (events / 10).clamp(2, u64::from(u32::MAX)) as u32),
            events,
            seed: a.gen_seed,
            zipf: a.gen_zipf,
            features: 0,
            bursty: false,
        }),
        (Some(g), None) => SampleInput::Path(g),
        (None, None) => anyhow::bail!("give a GRAPH or --generate N_EVENTS"),
    };
    let bench = SampleBench {
        input,
        read: a.read.options(),
        batch: a.batch,
        k: a.k,
        layers: a.layers,
        strategy: a.strategy,
        threads: a.threads,
        seed: a.seed,
        cursor: !a.no_cursor,
        repeat: a.repeat,
    };
    let report = run_sample_bench(&bench).context("bench sample failed")?;
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}
