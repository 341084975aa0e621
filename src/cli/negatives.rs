//! `linkcast negatives GRAPH_DIR -o FILE`: generate the one-vs-many negative set of
//! a split once (K negatives per positive, never a true destination of that source
//! at that timestamp), so every model is later ranked against identical negatives.
//! Three ways to draw: linkcast's (half historical from any earlier event, half
//! random, by default), TGB's `hist_rnd` (`--tgb`), or every destination
//! (`--k all`); or `--import ROWS` reads rows that TGB's own sampler drew
//! (`scripts/tgb_negatives.py`). The file records the graph's event count and a
//! hash of the split's events, and is refused for another graph.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, bail};

use linkcast::sample::negatives::tgb::parse_rows;
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
  linkcast negatives runs/wikipedia --split 0.8,0.1,0.1 --hist-fraction 0 -o runs/wiki-random.neg
  linkcast negatives runs/collegemsg --tgb --k 100 --seed 1 -o runs/collegemsg/test-tgb.neg
  linkcast negatives runs/collegemsg --k all -o runs/collegemsg/test-all.neg
  linkcast negatives runs/collegemsg --import runs/collegemsg/tgb-rows.txt -o runs/collegemsg/test-tgbpy.neg")]
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
    /// Negatives per positive (a number), or `all`: every destination but the true ones.
    #[arg(long, default_value = "100")]
    pub k: String,
    /// Share of historical negatives (destinations the source reached before); the rest random.
    #[arg(long, default_value_t = RankConfig::default().hist_fraction)]
    pub hist_fraction: f64,
    /// Draw as TGB does: up to floor(K * hist-fraction) from the destinations the source
    /// reached in the training period, the rest uniform over destinations it never reached
    /// in training; a row is shorter than K rather than repeat a negative.
    #[arg(long, conflicts_with = "import")]
    pub tgb: bool,
    /// Read the rows instead of drawing them: one line `SRC DST T NEG...` per positive, in
    /// the graph's dense ids (scripts/tgb_negatives.py writes it from a TGB pickle).
    #[arg(long, value_name = "ROWS")]
    pub import: Option<PathBuf>,
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
        bail!("the {:?} part of split {} is empty", a.part, a.split);
    }
    let dst = DstRange::for_graph(&ids, store.num_nodes());
    let all = a.k.trim() == "all";
    let start = Instant::now();
    let set = if let Some(rows) = &a.import {
        let text = std::fs::read_to_string(rows).with_context(|| format!("reading {}", rows.display()))?;
        let rows_parsed = parse_rows(&text, rows)?;
        NegativeSet::import_rows(&store, range.clone(), dst, &rows_parsed, rows, a.seed)?
    } else if all {
        NegativeSet::generate_all(&store, range.clone(), dst).context("listing every destination")?
    } else {
        let k: u32 = a.k.trim().parse().with_context(|| format!("--k {:?}: a number or `all`", a.k))?;
        let cfg = RankConfig { k, hist_fraction: a.hist_fraction, seed: a.seed };
        if a.tgb {
            NegativeSet::generate_tgb(&store, range.clone(), split.train.end, dst, &cfg)
        } else {
            NegativeSet::generate(&store, range.clone(), dst, &cfg)
        }
        .context("generating negatives")?
    };
    let seconds = start.elapsed().as_secs_f64();
    set.save(&a.output).with_context(|| format!("writing {}", a.output.display()))?;
    let queries = set.num_queries();
    let summary = serde_json::json!({
        "graph": a.graph.display().to_string(),
        "output": a.output.display().to_string(),
        "part": format!("{:?}", a.part).to_lowercase(),
        "split": a.split.to_string(),
        "events": [range.start, range.end],
        "train_events": [split.train.start, split.train.end],
        "destinations": [dst.lo, dst.hi],
        "queries": queries,
        "k": set.header.k,
        "historical_per_query": set.header.n_hist,
        "style": set.style_label(),
        "seed": a.seed,
        "seconds": seconds,
        "queries_per_s": queries as f64 / seconds.max(1e-9),
    });
    if a.json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        println!(
            "wrote {}: {} queries x {} negatives ({}) for events {}..{}, {:.2} s",
            a.output.display(),
            queries,
            set.header.k,
            set.style_label(),
            range.start,
            range.end,
            seconds
        );
    }
    Ok(())
}
