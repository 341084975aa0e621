//! Subcommands, one file each. Each turns raw flags into a validated configuration,
//! calls the library, and reports (human text on stderr/stdout, JSON with `--json`).

use clap::{Parser, Subcommand};

pub mod bench;
#[cfg(feature = "torch")]
pub mod data;
pub mod doctor;
pub mod eval;
pub mod generate;
pub mod ingest;
#[cfg(feature = "torch")]
pub mod ingest_events;
#[cfg(feature = "torch")]
pub mod live;
pub mod negatives;
#[cfg(feature = "torch")]
pub mod recommend;
#[cfg(feature = "torch")]
pub mod score;
#[cfg(feature = "torch")]
pub mod serve;
pub mod stats;
#[cfg(feature = "torch")]
pub mod train;
pub mod verify;

#[derive(Debug, Parser)]
#[command(
    name = "linkcast",
    version,
    about = "Link prediction on continuous-time dynamic graphs",
    after_help = "Examples:\n  linkcast ingest datasets/collegemsg/CollegeMsg.txt.gz -o runs/collegemsg\n  linkcast stats runs/collegemsg\n  linkcast doctor\n\nExit status: 0 on success, 1 on an error (one line on stderr), 141 when the reader of stdout went\naway (`linkcast stats G --json | head`): the process ends at that write, quietly, as cat and grep do.\n`serve` keeps running when a client disconnects."
)]
pub struct Cli {
    /// More log output (-v info, -vv debug, -vvv trace); or set RUST_LOG.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    /// Only errors on stderr; no progress bars.
    #[arg(short, long, global = true)]
    pub quiet: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Parse edge-list files into a graph directory (events + temporal adjacency).
    Ingest(ingest::Args),
    /// Statistics of a graph directory: sizes, degrees, components, split surprise.
    Stats(stats::Args),
    /// Check a graph, model or live state directory: every checksum, then the contents.
    Verify(verify::Args),
    /// Stream a seeded synthetic temporal graph (power-law endpoints) to CSV or Parquet.
    Generate(generate::Args),
    /// One-vs-many negative set of a split, saved once so every model ranks against it.
    Negatives(negatives::Args),
    /// Evaluate a baseline or model under the ap (AP/AUC) or rank (MRR/Hits@k) protocol.
    Eval(eval::Args),
    /// Train a temporal GNN (TGN, JODIE, DyRep, TGAT, GraphMixer) on a graph or edge-list file.
    #[cfg(feature = "torch")]
    Train(train::Args),
    /// Score candidate links from a file of (src, dst, time) queries with a model or baseline.
    #[cfg(feature = "torch")]
    Score(score::Args),
    /// The likeliest next destinations of one source at a given time.
    #[cfg(feature = "torch")]
    Recommend(recommend::Args),
    /// Bring a model's live state up to date with new events, and save it.
    #[cfg(feature = "torch")]
    IngestEvents(ingest_events::Args),
    /// Serve a model over HTTP: score, recommend, ingest events (write-ahead logged).
    #[cfg(feature = "torch")]
    Serve(serve::Args),
    /// Throughput benchmarks, printed as JSON.
    Bench(bench::Args),
    /// libtorch version, CUDA, devices, threads, and where libtorch was loaded from.
    Doctor(doctor::Args),
}

pub fn run(cmd: Command) -> anyhow::Result<()> {
    if prints_to_a_reader(&cmd) {
        default_sigpipe();
    }
    match cmd {
        Command::Ingest(a) => ingest::run(a),
        Command::Stats(a) => stats::run(a),
        Command::Verify(a) => verify::run(a),
        Command::Generate(a) => generate::run(a),
        Command::Negatives(a) => negatives::run(a),
        Command::Eval(a) => eval::run(a),
        #[cfg(feature = "torch")]
        Command::Train(a) => train::run(a),
        #[cfg(feature = "torch")]
        Command::Score(a) => score::run(a),
        #[cfg(feature = "torch")]
        Command::Recommend(a) => recommend::run(a),
        #[cfg(feature = "torch")]
        Command::IngestEvents(a) => ingest_events::run(a),
        #[cfg(feature = "torch")]
        Command::Serve(a) => serve::run(a),
        Command::Bench(a) => bench::run(a),
        Command::Doctor(a) => doctor::run(a),
    }
}

/// Whether `cmd` writes its results to stdout for a reader that may go away
/// (`| head`): everything but the HTTP server and its load generator, whose sockets
/// report a closed peer as an error to handle, not as the end of the program.
fn prints_to_a_reader(cmd: &Command) -> bool {
    match cmd {
        #[cfg(feature = "torch")]
        Command::Serve(_) => false,
        #[cfg(feature = "torch")]
        Command::Bench(b) if matches!(b.harness, bench::Harness::Http(_)) => false,
        _ => true,
    }
}

/// A closed pipe ends the program quietly, as it ends `cat` or `grep`: the Rust
/// runtime ignores SIGPIPE, so a write to a pipe whose reader left returns EPIPE and
/// `println!` panics with a stack trace. With the default disposition restored the
/// kernel ends the process at that write instead: nothing on stderr, and the shell
/// reports status 141 (128 + SIGPIPE). Every output file is written to a temporary
/// name and renamed when complete, so no half-written file is left under its name.
fn default_sigpipe() {
    #[cfg(unix)]
    // SAFETY: called once, before any thread is spawned; restoring a signal's
    // default disposition touches no Rust state.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

/// Set once from the global `--quiet` flag, before any subcommand runs.
static QUIET: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

pub fn init_tracing(verbose: u8, quiet: bool) {
    use tracing_subscriber::EnvFilter;
    QUIET.store(quiet, std::sync::atomic::Ordering::Relaxed);
    let default = match (quiet, verbose) {
        (true, _) => "error",
        (_, 0) => "warn",
        (_, 1) => "info",
        (_, 2) => "debug",
        _ => "trace",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).try_init();
}

/// Whether `--quiet` was given.
#[cfg_attr(not(feature = "torch"), allow(dead_code))]
pub fn quiet() -> bool {
    QUIET.load(std::sync::atomic::Ordering::Relaxed)
}

/// A progress bar drawn on stderr when `show_progress()`, hidden otherwise.
#[cfg_attr(not(feature = "torch"), allow(dead_code))]
pub fn bar(len: u64, what: &str) -> indicatif::ProgressBar {
    if !show_progress() {
        return indicatif::ProgressBar::hidden();
    }
    let b = indicatif::ProgressBar::new(len);
    if let Ok(style) =
        indicatif::ProgressStyle::with_template("{msg} {bar:40} {pos}/{len} [{elapsed_precise}, {per_sec}]")
    {
        b.set_style(style);
    }
    b.set_message(what.to_string());
    b
}

/// Whether to draw progress bars: not with --quiet and only on a terminal.
pub fn show_progress() -> bool {
    use std::io::IsTerminal;
    !QUIET.load(std::sync::atomic::Ordering::Relaxed) && std::io::stderr().is_terminal()
}
