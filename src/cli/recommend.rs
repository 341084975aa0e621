//! `linkcast recommend`: the likeliest next partners of one source, or of every
//! `(src, time)` of a file (`--sources`, candidate work shared by the sources that
//! ask at one time: `serve::scorer::many`).

use std::path::PathBuf;

use anyhow::Context;
use serde_json::json;

use linkcast::serve::TopK;
use linkcast::serve::queries::{read_sources, write_recommendations};

use crate::cli::live::{LiveArgs, Rows, file_error, open_scorer, parse_time};

const ROWS: Rows = Rows { one: "source", many: "sources", verb: "rank", doing: "recommending" };

#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  linkcast recommend runs/collegemsg-tgn --src 42 --at 1098777143 --top-k 10\n  \
    linkcast recommend runs/wikipedia-tgn --src 17 --at 2678400 --exclude-seen --json\n  \
    linkcast recommend runs/big-tgn --src 42 --at 2000001 --retrieve 1000\n  \
    linkcast recommend runs/collegemsg-tgn --sources asks.csv -o top10.parquet"
)]
pub struct Args {
    #[command(flatten)]
    pub live: LiveArgs,
    /// Source node (external id).
    #[arg(long, value_name = "ID", required_unless_present = "sources", conflicts_with = "sources")]
    pub src: Option<String>,
    /// Query time: strictly after the newest absorbed event.
    #[arg(long, value_name = "TIME", required_unless_present = "sources", conflicts_with = "sources")]
    pub at: Option<String>,
    /// Many sources: a CSV/TSV with a header naming src and time (or t, ts, at), or
    /// Parquet with those columns. Writes `src,time,rank,dst,score,cold_src` rows
    /// (query order, best first) to --output, or CSV on stdout. Sources asking at the
    /// same time share the candidates' work; each answer equals its own `--src` run.
    #[arg(long, value_name = "FILE")]
    pub sources: Option<PathBuf>,
    /// With --sources: .csv or .parquet (written atomically) [default: CSV on stdout].
    #[arg(short, long, value_name = "FILE", requires = "sources")]
    pub output: Option<PathBuf>,
    #[arg(long, default_value_t = 10)]
    pub top_k: usize,
    /// Leave out destinations the source already had an event with.
    #[arg(long)]
    pub exclude_seen: bool,
    /// Rank only these candidates: a file with one external id per line.
    #[arg(long, value_name = "FILE", conflicts_with = "retrieve")]
    pub candidates: Option<PathBuf>,
    /// Retrieve then rerank: score only the N candidates found in the source's
    /// history, its 2-hop neighbourhood and the most popular destinations (the
    /// model's top-k among them; recall against all candidates: `bench recall`).
    #[arg(long, value_name = "N")]
    pub retrieve: Option<usize>,
    #[arg(long)]
    pub json: bool,
    /// With --sources: keep candidate rows per query time in at most this many MiB,
    /// so every block of sources at one time reuses them (the top-k cache of `serve`,
    /// docs/SERVING.md; TGN family, GraphMixer). 0: off.
    #[arg(long, default_value_t = 1024, value_name = "MIB", requires = "sources")]
    pub topk_cache_mb: u64,
}

pub fn run(a: Args) -> anyhow::Result<()> {
    let candidates = match &a.candidates {
        Some(p) => Some(
            std::fs::read_to_string(p)
                .with_context(|| format!("reading {}", p.display()))?
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(String::from)
                .collect::<Vec<_>>(),
        ),
        None => None,
    };
    let opts = TopK { k: a.top_k, exclude_seen: a.exclude_seen, candidates, retrieve: a.retrieve };
    if let Some(path) = &a.sources {
        return many(&a, path, &opts);
    }
    let (src, at_text) = (a.src.as_deref().unwrap_or_default(), a.at.as_deref().unwrap_or_default());
    let at = parse_time(at_text)?;
    let scorer = open_scorer(&a.live)?;
    let started = std::time::Instant::now();
    let (ranked, cold) =
        scorer.top_k(src, at, &opts).with_context(|| format!("recommending for {src} at {at_text}"))?;
    let ms = started.elapsed().as_secs_f64() * 1e3;
    if a.json {
        println!(
            "{}",
            json!({"src": src, "at": at, "k": a.top_k, "cold_src": cold, "target": scorer.name(),
                   "ms": ms, "results": ranked})
        );
        return Ok(());
    }
    println!("{:>4}  {:<20} {:>10}", "rank", "dst", "score");
    for (i, r) in ranked.iter().enumerate() {
        println!("{:>4}  {:<20} {:>10.6}", i + 1, r.dst, r.score);
    }
    if !crate::cli::quiet() {
        eprintln!(
            "top {} in {ms:.1} ms{}",
            ranked.len(),
            if cold { " (source unknown: scored cold)" } else { "" }
        );
    }
    Ok(())
}

/// Queries per call: a progress step, and the span within which sources at one
/// time are grouped.
const STEP: usize = 8192;

fn many(a: &Args, path: &std::path::Path, opts: &TopK) -> anyhow::Result<()> {
    let queries = read_sources(path).with_context(|| format!("reading sources {}", path.display()))?;
    let mut scorer = open_scorer(&a.live)?;
    scorer.set_topk_cache(a.topk_cache_mb << 20);
    let started = std::time::Instant::now();
    let bar = crate::cli::bar(queries.len() as u64, "recommending");
    let mut results = Vec::with_capacity(queries.len());
    for (i, chunk) in queries.chunks(STEP).enumerate() {
        let r = scorer.top_k_many(chunk, opts).map_err(|e| file_error(e, path, i * STEP, &ROWS))?;
        results.extend(r);
        bar.inc(chunk.len() as u64);
    }
    bar.finish_and_clear();
    let seconds = started.elapsed().as_secs_f64();
    match &a.output {
        Some(p) => write_recommendations(p, &queries, &results)
            .with_context(|| format!("writing {}", p.display()))?,
        None => {
            let tmp = tempfile::NamedTempFile::new()?;
            write_recommendations(tmp.path(), &queries, &results)?;
            print!("{}", std::fs::read_to_string(tmp.path())?);
        }
    }
    let cold = results.iter().filter(|r| r.1).count();
    let qps = queries.len() as f64 / seconds.max(1e-9);
    if a.json {
        eprintln!(
            "{}",
            json!({"target": scorer.name(), "queries": queries.len(), "cold_sources": cold, "k": a.top_k,
                   "seconds": seconds, "queries_per_s": qps, "output": a.output})
        );
    } else if !crate::cli::quiet() {
        eprintln!(
            "top {} for {} sources ({cold} cold) in {seconds:.3} s: {qps:.1} queries/s{}",
            a.top_k,
            queries.len(),
            a.output.as_ref().map(|p| format!("; wrote {}", p.display())).unwrap_or_default()
        );
    }
    Ok(())
}
