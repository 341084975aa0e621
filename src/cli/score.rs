//! `linkcast score`: probabilities for a file of `src,dst,time` queries, written in
//! input order (CSV or Parquet by `-o`'s extension; CSV on stdout without `-o`).

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use serde_json::json;

use linkcast::serve::queries::{read_queries, write_scores};

use crate::cli::live::{LiveArgs, Rows, file_error, open_scorer};

const ROWS: Rows = Rows { one: "query", many: "queries", verb: "score", doing: "scoring" };

#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  linkcast score runs/collegemsg-tgn --queries queries.csv -o scores.parquet\n  \
    linkcast score runs/collegemsg-tgn --queries q.parquet --unknown cold -o scores.csv\n  \
    linkcast score edgebank --data runs/collegemsg --queries queries.csv"
)]
pub struct Args {
    #[command(flatten)]
    pub live: LiveArgs,
    /// CSV/TSV with a header naming src, dst and time (or t, ts), or Parquet with those columns.
    #[arg(long, value_name = "FILE")]
    pub queries: PathBuf,
    /// Output: .csv or .parquet (written atomically) [default: CSV on stdout].
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Print the summary as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Queries per progress step.
const STEP: usize = 65_536;

pub fn run(a: Args) -> anyhow::Result<()> {
    let queries =
        read_queries(&a.queries).with_context(|| format!("reading queries {}", a.queries.display()))?;
    let scorer = open_scorer(&a.live)?;
    let started = Instant::now();
    let bar = crate::cli::bar(queries.len() as u64, "scoring");
    let mut scores = Vec::with_capacity(queries.len());
    for (i, chunk) in queries.chunks(STEP).enumerate() {
        let s = scorer.score(chunk).map_err(|e| file_error(e, &a.queries, i * STEP, &ROWS))?;
        scores.extend(s);
        bar.inc(chunk.len() as u64);
    }
    bar.finish_and_clear();
    let seconds = started.elapsed().as_secs_f64();
    match &a.output {
        Some(p) => write_scores(p, &queries, &scores).with_context(|| format!("writing {}", p.display()))?,
        None => {
            let tmp = tempfile::NamedTempFile::new()?;
            write_scores(tmp.path(), &queries, &scores)?;
            print!("{}", std::fs::read_to_string(tmp.path())?);
        }
    }
    let cold = scores.iter().filter(|s| s.cold_src || s.cold_dst).count();
    let summary = json!({
        "target": scorer.name(), "queries": queries.len(), "cold": cold, "seconds": seconds,
        "rows_per_s": queries.len() as f64 / seconds.max(1e-9),
        "watermark_time": scorer.watermark_time(), "output": a.output,
    });
    if a.json {
        eprintln!("{summary}");
    } else if !crate::cli::quiet() {
        eprintln!(
            "scored {} queries ({} with a cold node) in {:.3} s: {:.0} rows/s{}",
            queries.len(),
            cold,
            seconds,
            queries.len() as f64 / seconds.max(1e-9),
            a.output.as_ref().map(|p| format!("; wrote {}", p.display())).unwrap_or_default()
        );
    }
    Ok(())
}
