//! `linkcast negatives GRAPH_DIR -o FILE`: generate the one-vs-many negative set of
//! a split once (K negatives per positive, half historical and half random by
//! default, never a true destination of that source at that timestamp), so every
//! model is later ranked against identical negatives. The file records the graph's
//! event count and a hash of the split's events, and is refused for another graph.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;

use linkcast::sample::negatives::{DstRange, NegativeSet, RankConfig};
use linkcast::store::split::{Split, SplitSpec};
use linkcast::store::{MmapStore, TemporalStore, read_ids};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Part {
    Val,
    Test,
}

#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  linkcast negatives runs/collegemsg -o runs/collegemsg/test.neg
  linkcast negatives runs/collegemsg --part val --k 50 --seed 7 -o runs/collegemsg/val.neg
  linkcast negatives runs/wikipedia --split 0.8,0.1,0.1 --hist-fraction 0 -o runs/wiki-random.neg")]
pub struct Args {
    /// Graph directory written by `linkcast ingest`.
    pub graph: PathBuf,
    /// Output file (written atomically).
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub output: PathBuf,
    /// Which part of the chronological split gets negatives.
    #[arg(long, value_enum, default_value = "test")]
    pub part: Part,
    /// Split: fractions TRAIN,VAL,TEST or t=VAL_START,TEST_START (never cuts a tie group).
    #[arg(long, default_value_t = SplitSpec::default(), value_name = "SPEC")]
    pub split: SplitSpec,
    /// Negatives per positive.
    #[arg(long, default_value_t = RankConfig::default().k)]
    pub k: u32,
    /// Share of historical negatives (destinations the source reached before); the rest random.
    #[arg(long, default_value_t = RankConfig::default().hist_fraction)]
    pub hist_fraction: f64,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Print a JSON summary.
    #[arg(long)]
    pub json: bool,
}

pub fn run(a: Args) -> anyhow::Result<()> {
    let store = MmapStore::open(&a.graph).with_context(|| format!("opening graph {}", a.graph.display()))?;
    let ids = read_ids(&a.graph).with_context(|| format!("reading ids of {}", a.graph.display()))?;
    let segments = store.event_segments();
    let times: Vec<&[f64]> = segments.iter().map(|s| s.t).collect();
    let split = Split::compute_segmented(&times, a.split).context("splitting the graph")?;
    let range = match a.part {
        Part::Val => split.val.clone(),
        Part::Test => split.test.clone(),
    };
    if range.is_empty() {
        anyhow::bail!("the {:?} part of split {} is empty", a.part, a.split);
    }
    let cfg = RankConfig { k: a.k, hist_fraction: a.hist_fraction, seed: a.seed };
    let dst = DstRange::for_graph(&ids, store.num_nodes());
    let start = Instant::now();
    let set = NegativeSet::generate(&store, range.clone(), dst, &cfg).context("generating negatives")?;
    let seconds = start.elapsed().as_secs_f64();
    set.save(&a.output).with_context(|| format!("writing {}", a.output.display()))?;
    let queries = set.num_queries();
    let summary = serde_json::json!({
        "graph": a.graph.display().to_string(),
        "output": a.output.display().to_string(),
        "part": format!("{:?}", a.part).to_lowercase(),
        "split": a.split.to_string(),
        "events": [range.start, range.end],
        "queries": queries,
        "k": set.header.k,
        "historical_per_query": set.header.n_hist,
        "seed": a.seed,
        "seconds": seconds,
        "queries_per_s": queries as f64 / seconds.max(1e-9),
    });
    if a.json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        println!(
            "wrote {}: {} queries x {} negatives ({} historical) for events {}..{}, {:.2} s",
            a.output.display(),
            queries,
            set.header.k,
            set.header.n_hist,
            range.start,
            range.end,
            seconds
        );
    }
    Ok(())
}
