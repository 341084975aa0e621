//! `linkcast stats GRAPH_DIR [--json] [--from T] [--to T] [--split SPEC]`: statistics
//! of a graph directory (see `store::stats` for every definition). The graph is
//! memory-mapped, not loaded. The window `[from, to)` is half-open, in the
//! graph's own time unit.

use std::path::PathBuf;

use anyhow::Context;

use linkcast::store::MmapStore;
use linkcast::store::split::SplitSpec;
use linkcast::store::stats::{StatsOptions, Window, compute_stats};

#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  linkcast stats runs/collegemsg
  linkcast stats runs/collegemsg --json
  linkcast stats runs/collegemsg --from 1082040961 --to 1084000000
  linkcast stats runs/collegemsg --split 0.8,0.1,0.1
  linkcast stats runs/collegemsg --split t=1085000000,1090000000")]
pub struct Args {
    /// Graph directory written by `linkcast ingest`.
    pub graph: PathBuf,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Only events with t >= FROM.
    #[arg(long, value_name = "T", allow_negative_numbers = true)]
    pub from: Option<f64>,
    /// Only events with t < TO.
    #[arg(long, value_name = "T", allow_negative_numbers = true)]
    pub to: Option<f64>,
    /// Split for the surprise index: fractions TRAIN,VAL,TEST or t=VAL_START,TEST_START.
    #[arg(long, default_value_t = SplitSpec::default(), value_name = "SPEC")]
    pub split: SplitSpec,
}

pub fn run(a: Args) -> anyhow::Result<()> {
    let store = MmapStore::open(&a.graph).with_context(|| format!("opening graph {}", a.graph.display()))?;
    let opts = StatsOptions {
        split: a.split,
        window: Window { from: a.from, to: a.to },
        n_src: store.meta().n_src.filter(|_| store.meta().bipartite),
    };
    let stats = compute_stats(&store, &opts).context("computing statistics")?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&stats)?);
    } else {
        print!("{stats}");
    }
    Ok(())
}
