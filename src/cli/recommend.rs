//! `linkcast recommend`: the likeliest next partners of one source at a time.

use std::path::PathBuf;

use anyhow::Context;
use serde_json::json;

use linkcast::serve::TopK;

use crate::cli::live::{LiveArgs, open_scorer, parse_time};

#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  linkcast recommend runs/collegemsg-tgn --src 42 --at 1098777143 --top-k 10\n  \
    linkcast recommend runs/wikipedia-tgn --src 17 --at 2678400 --exclude-seen --json\n  \
    linkcast recommend runs/big-tgn --src 42 --at 2000001 --retrieve 1000"
)]
pub struct Args {
    #[command(flatten)]
    pub live: LiveArgs,
    /// Source node (external id).
    #[arg(long, value_name = "ID")]
    pub src: String,
    /// Query time: strictly after the newest absorbed event.
    #[arg(long, value_name = "TIME")]
    pub at: String,
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
}

pub fn run(a: Args) -> anyhow::Result<()> {
    let at = parse_time(&a.at)?;
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
    let scorer = open_scorer(&a.live)?;
    let started = std::time::Instant::now();
    let opts = TopK { k: a.top_k, exclude_seen: a.exclude_seen, candidates, retrieve: a.retrieve };
    let (ranked, cold) =
        scorer.top_k(&a.src, at, &opts).with_context(|| format!("recommending for {} at {}", a.src, a.at))?;
    let ms = started.elapsed().as_secs_f64() * 1e3;
    if a.json {
        println!(
            "{}",
            json!({"src": a.src, "at": at, "k": a.top_k, "cold_src": cold, "target": scorer.name(),
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
            "{} candidates ranked in {ms:.1} ms{}",
            ranked.len(),
            if cold { " (source unknown: scored cold)" } else { "" }
        );
    }
    Ok(())
}
