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
    /// Cost as the graph grows: ingest, disk, sampling, training and scoring per size (JSON + PNG).
    Scale(ScaleArgs),
    /// Training and scoring throughput of a fresh model on a graph directory: events/s, pairs/s.
    #[cfg(feature = "torch")]
    Train(TrainArgs),
    /// HTTP load on a running `linkcast serve`: requests/s, errors, p50/p99 per request kind.
    #[cfg(feature = "torch")]
    Http(crate::cli::serve::LoadArgs),
    /// Hostile clients on a running `linkcast serve`: each abuse class's answers, a normal client's p50/p99 beside.
    #[cfg(feature = "torch")]
    Abuse(crate::cli::serve::AbuseArgs),
    /// Serving from the library: single-pair latency, batch pairs/s, top-k ms, ingest events/s.
    #[cfg(feature = "torch")]
    Serve(ServeArgs),
    /// Retrieve-then-rerank on replayed test queries: recall@k against exhaustive top-k, ms per query.
    #[cfg(feature = "torch")]
    Recall(RecallArgs),
}

#[cfg(feature = "torch")]
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  linkcast bench recall runs/collegemsg-tgn
  linkcast bench recall runs/wikipedia-tgn --budgets 100,1000 --queries 500
  linkcast bench recall recency --data datasets/collegemsg/CollegeMsg.txt.gz")]
pub struct RecallArgs {
    #[command(flatten)]
    pub live: crate::cli::live::LiveArgs,
    /// Retrieval budgets N (candidates per query) to measure.
    #[arg(long, value_delimiter = ',', default_value = "100,1000")]
    pub budgets: Vec<usize>,
    /// Cut-offs k of recall@k.
    #[arg(long, value_delimiter = ',', default_value = "10,100")]
    pub ks: Vec<usize>,
    /// Test queries, evenly spaced over the test events (each also ranks the whole catalogue).
    #[arg(long, default_value_t = 200)]
    pub queries: usize,
    /// Replay batch size [default: the model's, 200 for a baseline].
    #[arg(long)]
    pub batch: Option<usize>,
    /// Train/validation/test split of the graph (as in `linkcast eval`).
    #[arg(long = "split-spec", default_value_t = linkcast::store::split::SplitSpec::default(), value_name = "SPEC")]
    pub split_spec: linkcast::store::split::SplitSpec,
}

#[cfg(feature = "torch")]
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  linkcast bench serve runs/collegemsg-tgn
  linkcast bench serve runs/wikipedia-tgn --single 2000 --topk-queries 20 --device cuda
  linkcast bench serve popularity --data runs/collegemsg")]
pub struct ServeArgs {
    #[command(flatten)]
    pub live: crate::cli::live::LiveArgs,
    /// Single-pair score calls, timed one by one.
    #[arg(long, default_value_t = 1000)]
    pub single: usize,
    /// Pairs per batch score call.
    #[arg(long, default_value_t = 10_000)]
    pub batch: usize,
    #[arg(long, default_value_t = 5)]
    pub batch_calls: usize,
    /// Top-k queries over every candidate destination.
    #[arg(long, default_value_t = 5)]
    pub topk_queries: usize,
    #[arg(long, default_value_t = 10)]
    pub k: usize,
    /// Also time top-k in retrieve-then-rerank mode with this budget.
    #[arg(long, value_name = "N")]
    pub retrieve: Option<usize>,
    /// Also time top-k for this many random sources at one time in one call (the
    /// many-sources mode of `recommend --sources`), in queries/s.
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub many_sources: usize,
    /// Random events ingested (not saved), in batches of --ingest-batch.
    #[arg(long, default_value_t = 20_000)]
    pub ingest_events: usize,
    #[arg(long, default_value_t = 200)]
    pub ingest_batch: usize,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Also time top-k through the top-k cache of this many MiB (`serve
    /// --topk-cache-mb`): its fill, warm queries, and queries after the ingest (0: skip).
    #[arg(long, default_value_t = 0, value_name = "MIB")]
    pub topk_cache_mb: u64,
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
        Harness::Scale(s) => run_scale_cli(s),
        #[cfg(feature = "torch")]
        Harness::Train(t) => run_train(t),
        #[cfg(feature = "torch")]
        Harness::Http(h) => crate::cli::serve::run_load(h),
        #[cfg(feature = "torch")]
        Harness::Abuse(h) => crate::cli::serve::run_abuse(h),
        #[cfg(feature = "torch")]
        Harness::Serve(s) => run_serve(s),
        #[cfg(feature = "torch")]
        Harness::Recall(r) => run_recall(r),
    }
}

#[cfg(feature = "torch")]
fn run_recall(a: RecallArgs) -> anyhow::Result<()> {
    use linkcast::serve::recall::{RecallBench, run_recall};
    let batch =
        a.batch.or_else(|| crate::cli::ingest_events::model_batch_size(&a.live.target)).unwrap_or(200);
    let (mut target, store, mut ids) = crate::cli::live::open_parts(&a.live)?;
    ids.build_index();
    let split =
        linkcast::eval::protocol::split_store(&*store, a.split_spec).context("splitting the graph")?;
    let cfg = RecallBench { budgets: a.budgets, ks: a.ks, queries: a.queries, batch };
    let pb = crate::cli::bar(cfg.queries.min(split.test.len()) as u64, "queries");
    let started = std::time::Instant::now();
    let report =
        run_recall(target.as_mut(), &*store, &ids, split.test.clone(), &cfg, |n| pb.set_position(n as u64))
            .context("recall benchmark")?;
    pb.finish_and_clear();
    let mut v = serde_json::to_value(&report)?;
    v["seconds"] = serde_json::json!(started.elapsed().as_secs_f64());
    v["threads"] = serde_json::json!(rayon::current_num_threads());
    v["peak_rss_mb"] = serde_json::json!(linkcast::util::mem::peak_rss_bytes().map(|b| b as f64 / 1e6));
    v["version"] = serde_json::json!(env!("CARGO_PKG_VERSION"));
    println!("{}", serde_json::to_string_pretty(&v)?);
    Ok(())
}

#[cfg(feature = "torch")]
fn run_serve(a: ServeArgs) -> anyhow::Result<()> {
    use linkcast::serve::bench::{ServeBench, run_serve_bench};
    let opened = std::time::Instant::now();
    let mut scorer = crate::cli::live::open_scorer(&a.live)?;
    let open_seconds = opened.elapsed().as_secs_f64();
    let cfg = ServeBench {
        single: a.single,
        batch: a.batch,
        batch_calls: a.batch_calls,
        topk_queries: a.topk_queries,
        k: a.k,
        retrieve: a.retrieve,
        many_sources: a.many_sources,
        ingest_events: a.ingest_events,
        ingest_batch: a.ingest_batch,
        seed: a.seed,
        topk_cache_mb: a.topk_cache_mb,
    };
    let report = run_serve_bench(&mut scorer, &cfg).context("serving benchmark")?;
    let mut v = serde_json::to_value(&report)?;
    v["open_seconds"] = serde_json::json!(open_seconds);
    v["device"] = serde_json::json!(a.live.device);
    v["threads"] = serde_json::json!(rayon::current_num_threads());
    v["peak_rss_mb"] = serde_json::json!(linkcast::util::mem::peak_rss_bytes().map(|b| b as f64 / 1e6));
    v["version"] = serde_json::json!(env!("CARGO_PKG_VERSION"));
    println!("{}", serde_json::to_string_pretty(&v)?);
    Ok(())
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
    /// Sample only this many batches, spread evenly over the log (large graphs).
    #[arg(long, value_name = "B")]
    pub max_batches: Option<u64>,
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
        max_batches: a.max_batches,
    };
    let report = run_sample_bench(&bench).context("bench sample failed")?;
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}

#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  linkcast bench scale --sizes 1e5,1e6,1e7 -o runs/scale
  linkcast bench scale --sizes 1e5,1e6,1e7,1e8,1e9 --memory-limit 8G --train-max-events 1e8 -o runs/scale

Each size: `generate | ingest` (no CSV on disk), bytes on disk by part, `bench sample` over the
memory map, and (torch builds, up to --train-max-events) `bench train` for TGN training events/s
and scoring pairs/s; every stage runs in its own process, so its peak RSS is its own. Writes
OUT/scale.json and OUT/scale.png (log-log curves); graphs go to OUT/g-E and are deleted after
their size unless --keep.")]
pub struct ScaleArgs {
    /// Events per size, comma-separated, increasing (1e5 notation accepted).
    #[arg(long, value_delimiter = ',', value_parser = parse_count, default_value = "1e5,1e6,1e7")]
    pub sizes: Vec<u64>,
    /// Output directory (scale.json, scale.png, and the graphs while they are measured).
    #[arg(short, long, value_name = "DIR", default_value = "runs/scale")]
    pub output: PathBuf,
    /// Nodes = events / this (at least 2), capped by --max-nodes.
    #[arg(long, default_value_t = 10)]
    pub events_per_node: u64,
    #[arg(long, value_parser = parse_count, default_value = "1e7")]
    pub max_nodes: u64,
    /// Zipf exponent of the generated endpoints.
    #[arg(long, default_value_t = GenSpec::default().zipf)]
    pub zipf: f64,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// The ingest's memory limit (e.g. 4G, 25%); default: the ingest's own default.
    #[arg(long, value_parser = parse_memory)]
    pub memory_limit: Option<u64>,
    /// Keep each size's graph directory.
    #[arg(long)]
    pub keep: bool,
    /// f32 edge-feature columns per generated event (read through the map by training).
    #[arg(long, default_value_t = 0)]
    pub features: usize,
    /// Ingest as directed (one adjacency direction: less disk for the largest sizes).
    #[arg(long)]
    pub directed: bool,
    /// Sampling batches per size, spread over the log.
    #[arg(long, default_value_t = 200)]
    pub sample_batches: u64,
    /// Events per sampling batch (3 roots per event).
    #[arg(long, default_value_t = 600)]
    pub sample_batch: usize,
    /// Training batches per size: the first ones of the log, or one whole epoch (the
    /// first 70% of events) when that is fewer.
    #[arg(long, default_value_t = 500)]
    pub train_batches: usize,
    #[arg(long, default_value_t = 200)]
    pub train_batch: usize,
    /// No training/scoring above this many events (node memory grows with the node count).
    #[arg(long, value_parser = parse_count, default_value = "1e8")]
    pub train_max_events: u64,
    /// Random pairs scored per size after training.
    #[arg(long, default_value_t = 100_000)]
    pub score_pairs: usize,
    /// Threads for sampling and libtorch.
    #[arg(long, default_value_t = std::thread::available_parallelism().map_or(1, |n| n.get()))]
    pub threads: usize,
    /// Run nothing: join these earlier reports (scale.json files) into OUT/scale.json and redraw the plot.
    #[arg(long, value_delimiter = ',', value_name = "JSON,...")]
    pub merge: Vec<PathBuf>,
}

/// A count such as `1000000`, `1e6` or `2.5e7`.
fn parse_count(s: &str) -> Result<u64, String> {
    let v: f64 = s.trim().parse().map_err(|_| format!("{s:?} is not a count (examples: 100000, 1e6)"))?;
    if !(v >= 1.0 && v.is_finite() && v.fract() == 0.0 && v <= 1e15) {
        return Err(format!("{s:?} is not a whole number between 1 and 1e15"));
    }
    Ok(v as u64)
}

fn parse_memory(s: &str) -> Result<u64, String> {
    linkcast::util::mem::parse_size(s)
}

fn run_scale_cli(a: ScaleArgs) -> anyhow::Result<()> {
    use linkcast::bench::scale::{ScaleSpec, merge_reports, plot_scale, run_scale, write_json};
    if !a.merge.is_empty() {
        let report = merge_reports(&a.merge).context("merging reports")?;
        std::fs::create_dir_all(&a.output).with_context(|| format!("creating {}", a.output.display()))?;
        write_json(&a.output.join("scale.json"), &report).context("writing the report")?;
        plot_scale(&report, &a.output.join("scale.png")).context("drawing the plot")?;
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }
    let spec = ScaleSpec {
        sizes: a.sizes,
        events_per_node: a.events_per_node,
        max_nodes: a.max_nodes,
        zipf: a.zipf,
        seed: a.seed,
        features: a.features,
        memory_limit: a.memory_limit,
        directed: a.directed,
        work_dir: a.output.clone(),
        keep: a.keep,
        sample_batch: a.sample_batch,
        sample_batches: a.sample_batches,
        train_batch: a.train_batch,
        train_batches: a.train_batches,
        train_max_events: a.train_max_events,
        score_pairs: a.score_pairs,
        threads: a.threads,
    };
    let exe = std::env::current_exe().context("locating the linkcast binary")?;
    let json = a.output.join("scale.json");
    let png = a.output.join("scale.png");
    let report = run_scale(&exe, &spec, &mut |s| {
        tracing::info!(
            events = s.events,
            nodes = s.nodes,
            ingest_rows_per_s = s.ingest_rows_per_s as u64,
            disk_bytes_per_event = s.disk.bytes_per_event,
            sample_roots_per_s = s.sample_roots_per_s as u64,
            train_events_per_s = s.train_events_per_s.map(|v| v as u64),
            "size done"
        );
    })
    .context("bench scale failed")?;
    write_json(&json, &report).context("writing the report")?;
    plot_scale(&report, &png).context("drawing the plot")?;
    println!("{}", serde_json::to_string_pretty(&report)?);
    tracing::info!("wrote {} and {}", json.display(), png.display());
    Ok(())
}

#[cfg(feature = "torch")]
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  linkcast bench train runs/scale/g-10000000 --batches 50
  linkcast bench train runs/wikipedia --model graphmixer --score-pairs 1000000 --device cuda
  linkcast bench train runs/collegemsg --batches 100000 --threads 2 --op-profile 25

Times the first --batches training batches of the log (one optimiser step and one memory update
each, as `linkcast train`), then --score-pairs random pairs right after them.")]
pub struct TrainArgs {
    /// A graph directory (written by `linkcast ingest`; memory-mapped).
    pub graph: PathBuf,
    #[arg(long, default_value = "tgn")]
    pub model: linkcast::model::config::ModelKind,
    #[arg(long, default_value_t = 50)]
    pub batches: usize,
    #[arg(long, default_value_t = 200)]
    pub batch_size: usize,
    #[arg(long, default_value_t = 100_000)]
    pub score_pairs: usize,
    /// libtorch threads (default: every core).
    #[arg(long)]
    pub threads: Option<usize>,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// Profile the training pass per libtorch operator and list the top N by self
    /// time, with time per category and the time outside libtorch (slows the pass).
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub op_profile: usize,
    /// Key the operator profile by input shapes too.
    #[arg(long, requires = "op_profile")]
    pub op_shapes: bool,
}

#[cfg(feature = "torch")]
fn run_train(a: TrainArgs) -> anyhow::Result<()> {
    use linkcast::bench::train::{TrainBench, run_train_bench};
    let device = linkcast::model::parse_device(&a.device)?;
    let threads = a.threads.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    tch::set_num_threads(threads as i32);
    let bench = TrainBench {
        graph: a.graph.clone(),
        model: a.model,
        batches: a.batches,
        batch_size: a.batch_size,
        score_pairs: a.score_pairs,
        threads,
        seed: a.seed,
        device: a.device,
        op_profile: a.op_profile,
        op_shapes: a.op_shapes,
    };
    // As `linkcast train`: keep freed pages mapped, or every batch page-faults its
    // buffers back in and the figure understates training speed.
    linkcast::util::mem::keep_freed_memory();
    let report = run_train_bench(&bench, device)
        .with_context(|| format!("bench train on {} failed", a.graph.display()))?;
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}
