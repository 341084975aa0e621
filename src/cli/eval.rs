//! `linkcast eval [TARGET] DATA`: evaluate a baseline (or, in the torch build, a
//! trained model) on the validation or test part of a graph under the `ap` or
//! `rank` protocol, streaming (score a batch, then absorb it). Prints a human
//! table or a JSON record, and appends the record to `--output`.
//! `linkcast eval --compare RUNS...` prints recorded runs as a markdown table.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, bail};

use linkcast::eval::baselines::{
    BaselineConfig, BaselineKind, BaselineName, TrainMask, make_baseline_masked,
};
use linkcast::eval::protocol::{
    ApConfig, EvalRecord, Metrics, Part, RankNegatives, eval_ap, eval_rank_queries, inductive_mask,
    masked_view, split_store,
};
use linkcast::eval::scorer::StreamScorer;
use linkcast::sample::negatives::{DstRange, NegStrategy, NegativeSet, RankConfig};
use linkcast::store::split::{Split, SplitSpec};
use linkcast::store::{MmapStore, TemporalStore, read_ids};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Protocol {
    Ap,
    Rank,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SplitPart {
    Val,
    Test,
}

#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  linkcast eval --baseline edgebank runs/collegemsg
  linkcast eval edgebank-tw runs/collegemsg --negatives historical --seed 1 --output runs/evals.json
  linkcast negatives runs/collegemsg -o runs/collegemsg/test.neg
  linkcast eval --baseline popularity runs/collegemsg --protocol rank --negatives-file runs/collegemsg/test.neg
  linkcast eval --baseline lr-gp runs/collegemsg --protocol rank --tgb --k 100
  linkcast eval --baseline edgebank-undirected runs/collegemsg --protocol rank --k all
  linkcast eval --baseline common-neighbours runs/wikipedia --protocol rank --k all --split val
  linkcast eval --compare runs/evals.json runs/tgn-evals.json
  linkcast eval --compare --aggregate runs/evals.json")]
pub struct Args {
    /// `[TARGET] DATA`: a baseline name or model directory, then the graph directory
    /// written by `linkcast ingest`; with --baseline only DATA; with --compare, run files.
    #[arg(value_name = "PATHS")]
    pub paths: Vec<PathBuf>,
    /// Evaluate a baseline: edgebank, edgebank-tw, recency (LR), global-recency (GR),
    /// local-popularity (LP), popularity (GP), lr-gp, lr-lp-gp, lp-gp, lr-gr (lexicographic),
    /// common-neighbours, adamic-adar; NAME-undirected for the undirected variant (pairs are
    /// directed (src, dst) by default, whatever the graph's direction).
    #[arg(long, value_name = "NAME", value_parser = parse_baseline)]
    pub baseline: Option<BaselineName>,
    #[arg(long, value_enum, default_value = "ap")]
    pub protocol: Protocol,
    /// `ap` protocol: how the one negative per positive is drawn.
    #[arg(long, default_value = "random", value_parser = parse_strategy)]
    pub negatives: NegStrategy,
    /// `rank` protocol without --negatives-file: negatives per positive (a number, or `all`).
    #[arg(long, default_value = "100")]
    pub k: String,
    /// `rank` protocol without --negatives-file: draw the negatives as TGB does (up to
    /// --hist-fraction of K from the source's training-period destinations, the rest
    /// uniform over destinations it never reached in training; see `linkcast negatives --tgb`).
    #[arg(long, conflicts_with = "negatives_file")]
    pub tgb: bool,
    /// `rank` protocol without --negatives-file: share of historical negatives.
    #[arg(long, default_value_t = RankConfig::default().hist_fraction, conflicts_with = "negatives_file")]
    pub hist_fraction: f64,
    /// `rank` protocol: negative set written by `linkcast negatives` for this graph and split.
    #[arg(long, value_name = "FILE")]
    pub negatives_file: Option<PathBuf>,
    #[arg(long, value_enum, default_value = "test")]
    pub split: SplitPart,
    /// Split: fractions TRAIN,VAL,TEST or t=VAL_START,TEST_START (never cuts a tie group).
    #[arg(long = "split-spec", default_value_t = SplitSpec::default(), value_name = "SPEC")]
    pub split_spec: SplitSpec,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Positive events per batch (batches never cut a group of equal timestamps).
    #[arg(long, default_value_t = 200)]
    pub batch_size: usize,
    /// Time window (graph time units) of edgebank-tw (default: the validation period's
    /// length) and of common-neighbours / adamic-adar (default: unlimited).
    #[arg(long)]
    pub window: Option<f64>,
    /// Half-life of the popularity keys (popularity, local-popularity, lr-gp, lr-lp-gp,
    /// lp-gp) in graph time units (default: the validation period's length).
    #[arg(long)]
    pub half_life: Option<f64>,
    /// TGN's inductive masking: mask this fraction of nodes (seeded by --mask-seed).
    #[arg(long, value_name = "FRAC")]
    pub mask: Option<f64>,
    #[arg(long, default_value_t = 0)]
    pub mask_seed: u64,
    /// Model targets: auto, cpu, cuda or cuda:N.
    #[arg(long, default_value = "auto")]
    pub device: String,
    /// Threads for libtorch and rayon [default: all cores].
    #[arg(long)]
    pub threads: Option<usize>,
    /// Print the JSON record instead of the table.
    #[arg(long)]
    pub json: bool,
    /// Append the record to this JSON file (an array of records).
    #[arg(short = 'o', long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Rank protocol: also write each query's rank to this CSV (event id, source,
    /// destination and time as dense ids and graph time, optimistic, pessimistic and
    /// mean rank), for per-query comparisons of two targets on the same negatives.
    #[arg(long, value_name = "FILE")]
    pub ranks: Option<PathBuf>,
    /// Name the record's target (default: the model kind or baseline name), e.g.
    /// `tgn+hist` for a variant, so --compare shows it on its own row.
    #[arg(long, value_name = "NAME")]
    pub label: Option<String>,
    /// Evaluate on a graph whose time column steps back in time at more than 1% of
    /// adjacent rows (see `linkcast ingest --help`); refused by default.
    #[arg(long)]
    pub allow_unsorted_time: bool,
    /// Print the recorded runs in PATHS side by side as a markdown table.
    #[arg(long)]
    pub compare: bool,
    /// With --compare: one row per configuration, mean ± std over seeds.
    #[arg(long, requires = "compare")]
    pub aggregate: bool,
}

fn parse_baseline(s: &str) -> Result<BaselineName, String> {
    s.parse().map_err(|e: linkcast::eval::EvalError| e.to_string())
}

fn parse_strategy(s: &str) -> Result<NegStrategy, String> {
    s.parse().map_err(|e: linkcast::sample::negatives::NegError| e.to_string())
}

/// Length of the validation period in graph time (first validation event to first
/// test event, or to the last event when the test part is empty).
fn val_period(store: &dyn TemporalStore, split: &Split) -> Option<f64> {
    let lo = split.val_start?;
    let hi = split.test_start.or_else(|| store.newest_time())?;
    (hi > lo).then_some(hi - lo)
}

/// A model directory written by `linkcast train`, on `--device`.
#[cfg(feature = "torch")]
fn open_model(path: &Path, a: &Args, store: &dyn TemporalStore) -> anyhow::Result<Box<dyn StreamScorer>> {
    linkcast::util::mem::keep_freed_memory();
    crate::cli::train::set_threads(a.threads);
    let device = linkcast::model::parse_device(&a.device)?;
    let scorer = linkcast::train::scorer::ModelScorer::open(path, device)
        .with_context(|| format!("loading model {}", path.display()))?;
    scorer.check_store(store).with_context(|| format!("model {} on this graph", path.display()))?;
    Ok(Box::new(scorer))
}

#[cfg(not(feature = "torch"))]
fn open_model(path: &Path, _: &Args, _: &dyn TemporalStore) -> anyhow::Result<Box<dyn StreamScorer>> {
    bail!("{}: evaluating a model directory needs the default `torch` build", path.display())
}

/// Resolve what is evaluated: a baseline (by --baseline or by name), or a model directory.
fn open_target(
    target: &str,
    a: &Args,
    store: &dyn TemporalStore,
    split: &Split,
    mask: Option<TrainMask>,
) -> anyhow::Result<Box<dyn StreamScorer>> {
    let path = Path::new(target);
    if path.is_dir() {
        return open_model(path, a, store);
    }
    let name: BaselineName =
        target.parse().with_context(|| format!("{target}: neither a baseline name nor a model directory"))?;
    let kind = name.kind;
    // Window and half-life come from the validation period, fixed before any test
    // number exists.
    let period = val_period(store, split);
    let cfg = BaselineConfig {
        kind,
        direction: name.direction,
        window: match kind {
            BaselineKind::EdgeBankTw => Some(
                a.window
                    .or(period)
                    .context("edgebank-tw: the validation period is empty; give its window with --window")?,
            ),
            _ => a.window,
        },
        half_life: if kind.uses_half_life() { a.half_life.or(period) } else { None },
    };
    Ok(make_baseline_masked(&cfg, mask)?)
}

pub fn run(a: Args) -> anyhow::Result<()> {
    if a.compare {
        return compare(&a.paths, a.aggregate);
    }
    let (target, data) = match (&a.baseline, a.paths.as_slice()) {
        (Some(b), [data]) => (b.to_string(), data.clone()),
        (None, [t, data]) => (t.display().to_string(), data.clone()),
        (Some(_), _) => bail!("with --baseline give exactly one path: the graph directory"),
        (None, _) => bail!("give TARGET DATA (a baseline name or model directory, then a graph directory)"),
    };
    let mut store: Box<dyn TemporalStore> =
        Box::new(MmapStore::open(&data).with_context(|| format!("opening graph {}", data.display()))?);
    let order = crate::cli::ingest::graph_time_order(&data)?;
    crate::cli::ingest::check_time_order(&data, order.as_ref(), a.allow_unsorted_time)?;
    let ids = read_ids(&data).with_context(|| format!("reading ids of {}", data.display()))?;
    let mut split = split_store(&*store, a.split_spec).context("splitting the graph")?;
    let part = match a.split {
        SplitPart::Val => Part::Val,
        SplitPart::Test => Part::Test,
    };
    let dst = DstRange::for_graph(&ids, store.num_nodes());
    if let Some(f) = a.mask
        && !(0.0..=1.0).contains(&f)
    {
        bail!("--mask must be a fraction in [0, 1], got {f}");
    }
    let mut mask = a.mask.map(|f| inductive_mask(&*store, &split, f, a.mask_seed));
    if let Some(m) = &mask
        && Path::new(&target).is_dir()
    {
        // A model trained with `--mask` never saw the masked nodes' training events,
        // in its memory or its neighbour lists: evaluate it on that same view, where
        // the masked nodes are simply new.
        let (view, view_split) = masked_view(&*store, &split, m).context("building the masked view")?;
        store = Box::new(view);
        split = view_split;
        mask = None;
    }
    let train_mask =
        mask.clone().map(|m| TrainMask { masked: std::sync::Arc::new(m), train_end: split.train.end });
    let mut scorer = open_target(&target, &a, &*store, &split, train_mask)?;
    let range = part.range(&split);
    let bar = crate::cli::show_progress().then(|| {
        let pb = indicatif::ProgressBar::new(range.len() as u64);
        pb.set_style(
            indicatif::ProgressStyle::with_template(
                "{msg} [{bar:40}] {pos}/{len} events {per_sec} eta {eta}",
            )
            .expect("valid template"),
        );
        pb.set_message(format!("eval {}", scorer.name()));
        pb
    });
    let mut progress = |n: usize| {
        if let Some(pb) = &bar {
            pb.inc(n as u64);
        }
    };
    let started = Instant::now();
    let mut style = None;
    let (run, negatives, k, seed) = match a.protocol {
        Protocol::Ap => {
            let cfg = ApConfig { strategy: a.negatives, seed: a.seed, batch_size: a.batch_size, mask };
            let run = eval_ap(scorer.as_mut(), &*store, &split, part, dst, &cfg, &mut progress)?;
            (run, a.negatives.to_string(), None, a.seed)
        }
        Protocol::Rank => {
            // One call for every source of negatives: a file, every destination, or a set
            // generated here.
            let (set, label, k, seed) = if let Some(f) = &a.negatives_file {
                let set = NegativeSet::load_for(f, &*store)
                    .with_context(|| format!("negative set {}", f.display()))?;
                let (k, seed) = (set.header.k as usize, set.header.seed);
                (Some(set), format!("file:{}", f.display()), k, seed)
            } else if a.k.trim() == "all" {
                // TGB with more negatives than destinations takes them all, too.
                (None, "all".to_string(), dst.len() as usize - 1, a.seed)
            } else {
                let k: u32 =
                    a.k.trim().parse().with_context(|| format!("--k {:?}: a number or `all`", a.k))?;
                let cfg = RankConfig { k, hist_fraction: a.hist_fraction, seed: a.seed };
                let set = if a.tgb {
                    NegativeSet::generate_tgb(&*store, range.clone(), split.train.end, dst, &cfg)
                } else {
                    NegativeSet::generate(&*store, range.clone(), dst, &cfg)
                }
                .context("generating the negative set")?;
                let label = if a.tgb { "tgb" } else { "generated" };
                (Some(set), label.to_string(), k as usize, a.seed)
            };
            style = Some(set.as_ref().map_or_else(|| "all".to_string(), NegativeSet::style_label));
            let negatives = set.as_ref().map_or(RankNegatives::All, RankNegatives::Set);
            let mut ranks = a.ranks.as_ref().map(|_| Vec::new());
            let run = eval_rank_queries(
                scorer.as_mut(),
                &*store,
                &split,
                part,
                dst,
                negatives,
                a.batch_size,
                &mut progress,
                ranks.as_mut(),
            )?;
            if let (Some(path), Some(ranks)) = (&a.ranks, &ranks) {
                write_ranks(path, &*store, range.clone(), ranks)?;
            }
            (run, label, Some(k), seed)
        }
    };
    let seconds = started.elapsed().as_secs_f64();
    if let Some(pb) = bar {
        pb.finish_and_clear();
    }
    let record = EvalRecord {
        target: a.label.clone().unwrap_or_else(|| scorer.name()),
        data: data.display().to_string(),
        protocol: match a.protocol {
            Protocol::Ap => "ap",
            Protocol::Rank => "rank",
        }
        .to_string(),
        negatives,
        negatives_style: style,
        k,
        seed,
        split: part,
        split_spec: a.split_spec.to_string(),
        events: range,
        batch_size: a.batch_size,
        metrics: run.metrics,
        pairs: run.pairs,
        seconds,
        pairs_per_s: run.pairs as f64 / seconds.max(1e-9),
        threads: rayon::current_num_threads(),
        version: env!("CARGO_PKG_VERSION").to_string(),
    };
    if let Some(out) = &a.output {
        append_record(out, &record)?;
    }
    if a.json {
        println!("{}", serde_json::to_string_pretty(&record)?);
    } else {
        print!("{}", human(&record));
    }
    Ok(())
}

/// `--ranks`: one CSV line per query of `range` (every positive is a query).
fn write_ranks(
    path: &Path,
    store: &dyn linkcast::store::TemporalStore,
    range: std::ops::Range<usize>,
    ranks: &[linkcast::eval::metrics::RankOutcome],
) -> anyhow::Result<()> {
    use std::fmt::Write as _;
    anyhow::ensure!(ranks.len() == range.len(), "{} ranks for {} queries", ranks.len(), range.len());
    let mut text = String::with_capacity(48 * ranks.len() + 64);
    text.push_str("event,src,dst,time,rank_optimistic,rank_pessimistic,rank\n");
    for (e, r) in range.zip(ranks) {
        let (s, d, t) = store.event(e as u32);
        let _ = writeln!(text, "{e},{s},{d},{t},{},{},{}", r.optimistic, r.pessimistic, r.rank());
    }
    linkcast::util::atomic::write_file(path, text.as_bytes())
        .with_context(|| format!("writing {}", path.display()))
}

/// Read a run file: a JSON array of records, one record, or JSON lines.
fn read_records(path: &Path) -> anyhow::Result<Vec<EvalRecord>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    if let Ok(v) = serde_json::from_str::<Vec<EvalRecord>>(&text) {
        return Ok(v);
    }
    if let Ok(r) = serde_json::from_str::<EvalRecord>(&text) {
        return Ok(vec![r]);
    }
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .enumerate()
        .map(|(i, l)| {
            serde_json::from_str(l)
                .with_context(|| format!("{}:{}: not an eval record", path.display(), i + 1))
        })
        .collect()
}

/// Append to a JSON array file, written atomically.
fn append_record(path: &Path, r: &EvalRecord) -> anyhow::Result<()> {
    let mut all = if path.exists() { read_records(path)? } else { Vec::new() };
    all.push(r.clone());
    let text = serde_json::to_string_pretty(&all)?;
    linkcast::util::atomic::write_file(path, text.as_bytes())
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

fn human(r: &EvalRecord) -> String {
    let mut s = format!(
        "{} on {} ({} part {}..{}, split {}), protocol {}, negatives {}{}, seed {}\n",
        r.target,
        r.data,
        r.split,
        r.events.start,
        r.events.end,
        r.split_spec,
        r.protocol,
        r.negatives,
        r.k.map(|k| format!(" (K={k})")).unwrap_or_default(),
        r.seed
    );
    match &r.metrics {
        Metrics::Ap(m) => {
            s.push_str("subset         positives  AP pooled  AUC pooled  AP batch-mean  AUC batch-mean\n");
            for (name, sub) in
                [("all", Some(m.all)), ("transductive", m.transductive), ("inductive", m.inductive)]
            {
                match sub {
                    Some(b) => s.push_str(&format!(
                        "{name:<14} {:>9}  {:>9.4}  {:>10.4}  {:>13.4}  {:>14.4}\n",
                        b.positives, b.ap, b.auc, b.ap_batch_mean, b.auc_batch_mean
                    )),
                    None => s.push_str(&format!("{name:<14} {:>9}\n", 0)),
                }
            }
            if m.masked {
                s.push_str(&format!("(new nodes by TGN's mask: {} masked nodes)\n", m.masked_nodes));
            }
        }
        Metrics::Rank(m) => {
            if let Some(style) = &r.negatives_style {
                s.push_str(&format!("negatives drawn: {style}\n"));
            }
            s.push_str(&format!(
                "MRR {:.4} (rank = mean of optimistic and pessimistic; the same in TGB's convention)\n",
                m.mrr
            ));
            s.push_str(&format!(
                "Hits@1 {:.4}  Hits@3 {:.4}  Hits@10 {:.4}  linkcast convention (a tie straddling k counts 1/2)\n",
                m.hits1, m.hits3, m.hits10
            ));
            if let (Some(h1), Some(h3), Some(h10)) = (m.hits1_tgb, m.hits3_tgb, m.hits10_tgb) {
                s.push_str(&format!(
                    "Hits@1 {h1:.4}  Hits@3 {h3:.4}  Hits@10 {h10:.4}  TGB convention (mean rank <= k)\n"
                ));
            }
            s.push_str(&format!("{} queries, {} with fewer than K negatives\n", m.queries, m.queries_short));
        }
    }
    s.push_str(&format!(
        "{} pairs in {:.2} s ({:.0} pairs/s, {} threads)\n",
        r.pairs, r.seconds, r.pairs_per_s, r.threads
    ));
    s
}

/// The headline numbers of a run: AP/AUC pooled for `ap`; MRR, linkcast's and
/// TGB's Hits for `rank`.
const HEADS: usize = 8;
fn headline(r: &EvalRecord) -> [Option<f64>; HEADS] {
    match &r.metrics {
        Metrics::Ap(m) => {
            [Some(m.all.ap), Some(m.all.auc), m.inductive.map(|b| b.ap), None, None, None, None, None]
        }
        Metrics::Rank(m) => {
            [None, None, None, Some(m.mrr), Some(m.hits1), Some(m.hits10), m.hits1_tgb, m.hits10_tgb]
        }
    }
}

/// The negatives column: the strategy (ap), or where the set came from, how it was
/// drawn and K (rank).
fn negatives_label(r: &EvalRecord) -> String {
    let source = if r.negatives.starts_with("file:") { "file" } else { r.negatives.as_str() };
    match (r.k, &r.negatives_style) {
        (Some(k), Some(style)) if style != source => format!("{source} {style} K={k}"),
        (Some(k), _) if r.protocol == "rank" => format!("{source} K={k}"),
        _ => source.to_string(),
    }
}

fn mean_std(v: &[f64]) -> (f64, f64) {
    let n = v.len() as f64;
    let mean = v.iter().sum::<f64>() / n;
    let var = if v.len() > 1 { v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0) } else { 0.0 };
    (mean, var.sqrt())
}

fn compare(paths: &[PathBuf], aggregate: bool) -> anyhow::Result<()> {
    if paths.is_empty() {
        bail!("--compare needs at least one run file");
    }
    let mut runs = Vec::new();
    for p in paths {
        runs.extend(read_records(p)?);
    }
    println!(
        "| target | data | split | protocol | negatives | seeds | AP | AUC | AP new-node | MRR | Hits@1 | Hits@10 | Hits@1 TGB | Hits@10 TGB | seconds | pairs/s |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    // Groups of runs that differ only in the seed (each run its own group without --aggregate).
    let mut groups: Vec<(String, Vec<&EvalRecord>)> = Vec::new();
    for r in &runs {
        let key = format!("{}|{}|{}|{}|{}", r.target, r.data, r.split, r.protocol, negatives_label(r));
        match groups.iter_mut().find(|(k, _)| aggregate && *k == key) {
            Some((_, g)) => g.push(r),
            None => groups.push((key, vec![r])),
        }
    }
    for (_, g) in groups {
        let r0 = g[0];
        let data = Path::new(&r0.data).file_name().map_or(r0.data.clone(), |f| f.to_string_lossy().into());
        let seeds: Vec<String> = g.iter().map(|r| r.seed.to_string()).collect();
        let mut cells = vec![
            r0.target.clone(),
            data,
            r0.split.to_string(),
            r0.protocol.clone(),
            negatives_label(r0),
            seeds.join(","),
        ];
        let heads: Vec<[Option<f64>; HEADS]> = g.iter().map(|r| headline(r)).collect();
        for i in 0..HEADS {
            let v: Vec<f64> = heads.iter().filter_map(|h| h[i]).collect();
            cells.push(match v.len() {
                0 => "".into(),
                1 => format!("{:.4}", v[0]),
                _ => {
                    let (m, s) = mean_std(&v);
                    format!("{m:.4} ± {s:.4}")
                }
            });
        }
        let (sec, _) = mean_std(&g.iter().map(|r| r.seconds).collect::<Vec<_>>());
        let (pps, _) = mean_std(&g.iter().map(|r| r.pairs_per_s).collect::<Vec<_>>());
        cells.push(format!("{sec:.3}"));
        cells.push(format!("{pps:.0}"));
        println!("| {} |", cells.join(" | "));
    }
    Ok(())
}
