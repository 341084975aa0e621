//! `linkcast generate`: stream a seeded synthetic temporal graph (power-law
//! endpoints, increasing integer times with ties and bursts, optional f32
//! feature columns) to CSV or Parquet; see `bench::generate` for the model.
//! Same flags and seed -> identical bytes. `-o -` writes to stdout (for
//! `linkcast generate ... -o - | linkcast ingest - ...`); a path is written
//! atomically (temporary file, then rename).

use std::io::{self, Write};
use std::path::PathBuf;

use anyhow::Context;

use linkcast::bench::generate::{GenError, GenSpec, OutFormat, write_to, write_to_path};

#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  linkcast generate -o synth.csv --nodes 10000 --events 1000000 --seed 1
  linkcast generate -o synth.parquet --nodes 1000000 --events 100000000 --features 4 --bursty
  linkcast generate -o - --nodes 1000 --events 50000 | linkcast ingest - -o runs/synth")]
pub struct Args {
    /// Output file, or `-` for stdout.
    #[arg(short, long, value_name = "FILE")]
    pub output: PathBuf,
    /// Number of nodes (ids 0..N; popular ones scattered by a seeded permutation).
    #[arg(long, default_value_t = 10_000)]
    pub nodes: u32,
    /// Number of events.
    #[arg(long, default_value_t = 1_000_000)]
    pub events: u64,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Zipf exponent of endpoint popularity (0 = uniform).
    #[arg(long, default_value_t = 1.1)]
    pub zipf: f64,
    /// Number of f32 edge-feature columns (f0, f1, ...).
    #[arg(long, default_value_t = 0)]
    pub features: usize,
    /// Output format; default from the file extension (.parquet -> parquet, else csv).
    #[arg(long, value_enum)]
    pub format: Option<OutFormat>,
    /// Bursts of activity with ties, separated by long heavy-tailed quiet periods.
    #[arg(long)]
    pub bursty: bool,
}

pub fn run(a: Args) -> anyhow::Result<()> {
    let spec = GenSpec {
        nodes: a.nodes,
        events: a.events,
        seed: a.seed,
        zipf: a.zipf,
        features: a.features,
        bursty: a.bursty,
    };
    spec.validate()?;
    let to_stdout = a.output.as_os_str() == "-";
    let format = a.format.unwrap_or_else(|| {
        let ext = a.output.extension().map(|e| e.to_string_lossy().to_ascii_lowercase());
        if ext.as_deref() == Some("parquet") { OutFormat::Parquet } else { OutFormat::Csv }
    });
    let report = if to_stdout {
        let mut out = io::BufWriter::with_capacity(1 << 20, io::stdout());
        match write_to(&spec, format, &mut out).and_then(|r| Ok(out.flush().map(|()| r)?)) {
            Ok(r) => r,
            // The reader closed the pipe (`... | head`): stop quietly, like other filters.
            Err(GenError::Io(e)) if e.kind() == io::ErrorKind::BrokenPipe => return Ok(()),
            Err(e) => return Err(e).context("writing to stdout"),
        }
    } else {
        write_to_path(&spec, format, &a.output).with_context(|| format!("writing {}", a.output.display()))?
    };
    tracing::info!(
        events = report.events,
        bytes = report.bytes,
        seconds = report.seconds,
        "generated {}",
        if to_stdout { "stdout".into() } else { a.output.display().to_string() }
    );
    Ok(())
}
