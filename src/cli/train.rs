//! `linkcast train DATA -o MODEL_DIR`: train a temporal GNN on a graph directory or
//! an edge-list file, with early stopping on validation AP, a checkpoint after every
//! epoch, and a final evaluation of the best weights on the test split.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use linkcast::dist::{DistEnv, LAUNCHER_STORE_VAR, Replica, StepRecord, StoreServer};
use linkcast::eval::protocol::{inductive_mask, masked_view};
use linkcast::model::config::{Aggregator, DataFacts, ModelKind};
use linkcast::model::{ModelConfig, parse_device};
use linkcast::sample::negatives::DstRange;
use linkcast::store::TemporalStore;
use linkcast::store::scaling::{FeatureScaling, ScalingMethod};
use linkcast::store::split::{Split, SplitSpec};
use linkcast::train::trainer::Progress;
use linkcast::train::{TrainConfig, Trainer};

use crate::cli::ingest::ReadFlags;

#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  linkcast train datasets/collegemsg/CollegeMsg.txt.gz -o runs/tgn-collegemsg
  linkcast train runs/collegemsg --model graphmixer --epochs 5 -o runs/gm-collegemsg
  linkcast train runs/collegemsg --model tpnet --epochs 3 -o runs/tpnet-collegemsg
  linkcast train runs/wikipedia --model tgn --device cuda --threads 8 -o runs/tgn-wiki
  linkcast train runs/collegemsg -o runs/tgn-collegemsg --epochs 20 --resume
  linkcast train runs/collegemsg -o runs/tgn-dp --distributed --nproc 2
  torchrun --nnodes 2 --nproc-per-node 1 --rdzv-backend static --node-rank 0 \\
      --master-addr node0 --master-port 29500 --no-python linkcast train runs/wiki -o runs/tgn-dp --distributed")]
pub struct Args {
    /// Graph directory (from `linkcast ingest`) or an edge-list file `ingest` accepts.
    pub data: PathBuf,
    /// Model directory to write (checkpoint after every epoch, atomically).
    #[arg(short = 'o', long = "output", value_name = "MODEL_DIR")]
    pub output: PathBuf,
    /// Model preset: tgn, jodie, dyrep, tgat, graphmixer, tpnet, tpnet-lite or dygformer.
    #[arg(long, default_value = "tgn")]
    pub model: ModelKind,
    /// Training epochs at most (early stopping may end sooner).
    #[arg(long, default_value_t = 10)]
    pub epochs: usize,
    /// Stop after this many epochs without a better validation AP.
    #[arg(long, default_value_t = 3)]
    pub patience: usize,
    /// Adam learning rate.
    #[arg(long, default_value_t = 1e-4)]
    pub lr: f64,
    /// Events per batch (a batch ends only where the timestamp changes).
    #[arg(long, default_value_t = 200)]
    pub batch_size: usize,
    /// Seed of the weights, the negatives and the sampler.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Threads for batch preparation (rayon) and libtorch's intra-op pool [default: all cores].
    #[arg(long)]
    pub threads: Option<usize>,
    /// auto, cpu, cuda or cuda:N.
    #[arg(long, default_value = "auto")]
    pub device: String,
    /// Split: fractions TRAIN,VAL,TEST or t=VAL_START,TEST_START (never cuts a tie group).
    #[arg(long, default_value_t = SplitSpec::default(), value_name = "SPEC")]
    pub split: SplitSpec,
    /// Memory width (TGN, JODIE, DyRep).
    #[arg(long)]
    pub memory_dim: Option<usize>,
    /// Time-encoding width [default: 100].
    #[arg(long)]
    pub time_dim: Option<usize>,
    /// Embedding width [default: 100].
    #[arg(long)]
    pub emb_dim: Option<usize>,
    /// Neighbours per attention layer, links per node for GraphMixer, or for DyGFormer
    /// each endpoint's latest interactions (its sequence length minus one) [default: 31].
    #[arg(long)]
    pub neighbors: Option<usize>,
    /// Attention layers (TGN, TGAT), or DyGFormer's transformer blocks [default: 2].
    #[arg(long)]
    pub layers: Option<usize>,
    /// Attention heads [default: 2].
    #[arg(long)]
    pub heads: Option<usize>,
    /// TPNet: longest temporal walks kept (k) [default: 3].
    #[arg(long)]
    pub walk_hops: Option<usize>,
    /// TPNet-lite: read the walk-matrix pair features and node recencies only, not the
    /// exact pair recency, pair and node popularity (on by default).
    #[arg(long)]
    pub no_heuristic_inputs: bool,
    /// TPNet: width of the walk-matrix projections [default: 10 * floor(ln(2E)), E events].
    #[arg(long)]
    pub projection_dim: Option<usize>,
    /// TPNet: decay lambda of walk weights per time unit [default: ln 2 / the validation period].
    #[arg(long)]
    pub decay: Option<f64>,
    /// DyGFormer: positions per patch; neighbors + 1 must be a multiple [default: 1].
    #[arg(long)]
    pub patch_size: Option<usize>,
    /// DyGFormer: dropout in the transformer while training [default: 0.1].
    #[arg(long)]
    pub dropout: Option<f64>,
    /// Message aggregator: last or mean.
    #[arg(long)]
    pub aggregator: Option<Aggregator>,
    /// Train the time encoder's frequencies (original TGN; unstable with large time gaps).
    #[arg(long)]
    pub trainable_time: bool,
    /// Feature scaling: `standard` standardises every edge-feature column (a --weight
    /// column too) with the mean and standard deviation of the training period's events,
    /// and node features over the nodes active in it; the statistics are saved with the
    /// model and applied in eval, score, recommend, ingest-events and serve. `none`
    /// feeds features as stored.
    #[arg(long, default_value_t = ScalingMethod::Standard, value_name = "none|standard")]
    pub feature_scaling: ScalingMethod,
    /// Share of each training batch's negatives drawn from the source's earlier
    /// destinations (historical negatives: pairs that did happen, just not now), the
    /// rest uniform. Ranking asks which of a node's past partners comes next; all-random
    /// negatives never ask the model that. 0 (the default) is all random.
    #[arg(long, default_value_t = 0.0, value_name = "FRAC")]
    pub hist_negatives: f64,
    /// The validation metric that picks the epoch kept and drives --patience: `ap`
    /// (one random negative per positive) or `mrr` (each positive against --select-k
    /// negatives, half historical, drawn once per run; the state is rebuilt by replay
    /// first, as eval does).
    #[arg(long, default_value_t = linkcast::train::select::SelectBy::Ap, value_name = "ap|mrr")]
    pub select_by: linkcast::train::select::SelectBy,
    /// Negatives per validation positive under --select-by mrr.
    #[arg(long, default_value_t = linkcast::train::trainer::default_select_k(), value_name = "K")]
    pub select_k: u32,
    /// The training objective over each positive and the negative drawn with it:
    /// `bce` (each pair judged alone against 1 or 0, TGN's), `pairwise` (BPR:
    /// -ln sigmoid(s_pos - s_neg), the positive must outscore its negative; scores
    /// then order candidates but are not probabilities), or `bce+pairwise` (both).
    #[arg(long, default_value_t = linkcast::model::api::Loss::Bce, value_name = "bce|pairwise|bce+pairwise")]
    pub loss: linkcast::model::api::Loss,
    /// Standard deviations that `standard` scaling maps to +-1: (x - mean) / (N * std).
    /// The default 3 puts a feature's bulk in the +-1 range of the time encoding and the
    /// memory next to it; 1 gives plain z-scores.
    #[arg(long, default_value_t = linkcast::store::scaling::DEFAULT_SIGMAS, value_name = "N")]
    pub feature_sigmas: f64,
    /// Do not clamp time differences to the training period's length at evaluation
    /// (by default a gap longer than any seen in training is encoded as the longest one).
    #[arg(long)]
    pub no_dt_clamp: bool,
    /// TGN's inductive masking: remove every training event of a seeded FRAC of the nodes
    /// active after the training period, so they are unseen at evaluation (evaluate with the
    /// same `--mask FRAC --mask-seed S` in `linkcast eval`).
    #[arg(long, value_name = "FRAC")]
    pub mask: Option<f64>,
    /// Seed of the `--mask` node sample.
    #[arg(long, default_value_t = 0)]
    pub mask_seed: u64,
    /// Batches prepared ahead of the model.
    #[arg(long, default_value_t = 4)]
    pub prefetch: usize,
    /// Continue the run in MODEL_DIR from its last completed epoch.
    #[arg(long, conflicts_with = "force")]
    pub resume: bool,
    /// Replace MODEL_DIR if it exists.
    #[arg(long)]
    pub force: bool,
    /// Print the final report as JSON.
    #[arg(long)]
    pub json: bool,
    /// Only the first N training batches of each epoch (quick checks).
    #[arg(long, hide = true)]
    pub max_batches: Option<usize>,
    /// Data-parallel training over PyTorch's c10d (Gloo): this process is one rank, found
    /// from torchrun's RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT (e.g. `torchrun
    /// --no-python linkcast train ... --distributed`), or from --nproc. Rank 0 writes MODEL_DIR.
    #[arg(long)]
    pub distributed: bool,
    /// With --distributed: start N ranks on this machine (loopback) and wait for them
    /// (ignored when RANK is already set).
    #[arg(long, value_name = "N", requires = "distributed")]
    pub nproc: Option<usize>,
    /// With --distributed: how long joining the group, and the first exchange after it,
    /// may wait for every rank to arrive [env LINKCAST_DIST_TIMEOUT; default 600].
    #[arg(long, value_name = "SECS", requires = "distributed")]
    pub dist_timeout: Option<u64>,
    /// With --distributed: how long each gradient exchange waits for the other ranks. A
    /// rank that dies is noticed at once (its connections close); this bounds the wait
    /// for one that stalls or is cut off, after which every rank stops with an error and
    /// `--resume` continues from the last epoch [env LINKCAST_DIST_OP_TIMEOUT; default 300].
    #[arg(long, value_name = "SECS", requires = "distributed")]
    pub dist_op_timeout: Option<u64>,
    /// Write per-step records to DIR/rank{R}.json (events scored and absorbed, loss, step
    /// time, bytes exchanged) and the weights and memory after the last epoch to
    /// DIR/rank{R}.safetensors [default with --distributed: MODEL_DIR.ranks].
    #[arg(long, value_name = "DIR")]
    pub step_log: Option<PathBuf>,
    #[command(flatten)]
    pub read: ReadFlags,
}

/// Size the rayon pool and libtorch's intra-op pool once, before any work.
pub fn set_threads(threads: Option<usize>) -> usize {
    let n =
        threads.unwrap_or_else(|| std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)).max(1);
    let _ = rayon::ThreadPoolBuilder::new().num_threads(n).build_global();
    tch::set_num_threads(n as i32);
    tch::set_num_interop_threads(1);
    n
}

pub fn run(a: Args) -> anyhow::Result<()> {
    if let Some(n) = a.nproc
        && std::env::var_os("RANK").is_none()
    {
        return launch(&a, n);
    }
    linkcast::util::mem::keep_freed_memory();
    let dist_env = if a.distributed {
        Some(DistEnv::from_env().context(
            "--distributed runs as one rank of a group: start it with torchrun --no-python \
             (or set RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT), or pass --nproc N for N ranks here",
        )?)
    } else {
        None
    };
    let rank = dist_env.as_ref().map_or(0, |e| e.rank);
    // Ranks sharing a machine share its cores (torchrun sets LOCAL_WORLD_SIZE).
    let local_world = std::env::var("LOCAL_WORLD_SIZE").ok().and_then(|v| v.parse::<usize>().ok());
    let threads = set_threads(a.threads.or_else(|| {
        let local = local_world.filter(|_| a.distributed)?;
        let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
        Some((cores / local.max(1)).max(1))
    }));
    let device = parse_device(&a.device)?;
    if rank == 0 && a.output.exists() && !a.resume && !a.force {
        anyhow::bail!(
            "{} already exists (pass --force to replace it, or --resume to continue it)",
            a.output.display()
        );
    }
    if rank == 0 && a.resume {
        refuse_foreign_entries(&a.output)?;
    }
    let replica = match dist_env {
        Some(env) => {
            tracing::info!(rank = env.rank, world = env.world, master = %format!("{}:{}", env.master_addr, env.master_port), "joining the process group");
            let (join, op) = (join_timeout(a.dist_timeout), op_timeout(a.dist_op_timeout));
            let group = env.join(join, op).with_context(|| {
                format!(
                    "rank {} joining {}:{} (waited up to {} s for the other ranks)",
                    env.rank,
                    env.master_addr,
                    env.master_port,
                    join.as_secs()
                )
            })?;
            Some(Replica::new(group, env)?)
        }
        None => None,
    };
    let data = crate::cli::data::open(&a.data, &a.read)?;
    let mut store: Arc<dyn TemporalStore> = data.store.clone();
    let segments = store.event_segments();
    let times: Vec<&[f64]> = segments.iter().map(|s| s.t).collect();
    let mut split = Split::compute_segmented(&times, a.split).context("splitting the data")?;
    drop(segments);
    let mut masked = serde_json::Value::Null;
    if let Some(f) = a.mask {
        if !(0.0..=1.0).contains(&f) {
            anyhow::bail!("--mask must be a fraction in [0, 1], got {f}");
        }
        let m = inductive_mask(&*store, &split, f, a.mask_seed);
        let (view, view_split) =
            masked_view(&*store, &split, &m).context("building the masked training view")?;
        masked = serde_json::json!({"frac": f, "seed": a.mask_seed, "nodes": m.iter().filter(|&&x| x).count(),
            "events_removed": store.num_events() - view.num_events()});
        tracing::info!("masking: {masked}");
        store = Arc::new(view);
        split = view_split;
    }
    let mut mc = ModelConfig::preset(a.model, store.num_nodes(), store.feat_dim(), store.node_feat_dim());
    if let Some(v) = a.memory_dim
        && mc.has_memory()
    {
        mc.memory_dim = v;
    }
    if let Some(v) = a.time_dim {
        mc.time_dim = v;
    }
    if let Some(v) = a.emb_dim {
        mc.emb_dim = v;
    }
    if let Some(v) = a.neighbors {
        mc.neighbors = v;
    }
    if let Some(v) = a.layers {
        mc.layers = v;
    }
    if let Some(v) = a.heads {
        mc.heads = v;
    }
    if let Some(v) = a.aggregator {
        mc.aggregator = v;
    }
    mc.time_trainable = a.trainable_time;
    mc.time_origin = store.time_range().map_or(0.0, |(lo, _)| lo);
    // The longest time difference training can see (ModelConfig::dt_max): evaluation
    // and serving clamp to it instead of feeding the time encoder values it never saw.
    mc.dt_max = (!a.no_dt_clamp && split.train.end > 0)
        .then(|| store.event((split.train.end - 1) as u32).2 - mc.time_origin)
        .filter(|&m| m > 0.0);
    // Over what the trainer trains on: the masked view's training events under --mask,
    // the training part of a custom --split.
    mc.feature_scaling = match a.feature_scaling {
        ScalingMethod::Standard => {
            if !(a.feature_sigmas.is_finite() && a.feature_sigmas > 0.0) {
                anyhow::bail!("--feature-sigmas must be a positive number, got {}", a.feature_sigmas);
            }
            FeatureScaling::standard(&*store, split.train.clone())
                .context("feature statistics of the training period")?
                .map(|s| s.with_sigmas(a.feature_sigmas))
        }
        ScalingMethod::None => None,
    };
    if let Some(v) = a.walk_hops {
        mc.walk_hops = v;
    }
    if let Some(v) = a.patch_size {
        mc.patch_size = v;
    }
    if let Some(v) = a.dropout {
        mc.dropout = v;
    }
    if a.no_heuristic_inputs {
        mc.heuristic_inputs = false;
    }
    if let Some(v) = a.projection_dim {
        mc.projection_dim = v;
    }
    if let Some(v) = a.decay {
        if !(v.is_finite() && v >= 0.0) {
            anyhow::bail!("--decay must be a finite number >= 0, got {v}");
        }
        mc.decay = v;
    }
    let val_period = match (split.val_start, split.test_start) {
        (Some(a), Some(b)) if b > a => b - a,
        _ => 0.0,
    };
    mc.fit_data(&DataFacts {
        nodes: store.num_nodes(),
        events: store.num_events(),
        time_range: store.time_range().unwrap_or((0.0, 1.0)),
        val_period,
    });
    let model = linkcast::model::build(mc, device, a.seed)?;
    let cfg = TrainConfig {
        epochs: a.epochs,
        patience: a.patience,
        lr: a.lr,
        batch_size: a.batch_size,
        seed: a.seed,
        threads,
        prefetch: a.prefetch,
        split: a.split.to_string(),
        device: format!("{device:?}").to_lowercase(),
        hist_negatives: a.hist_negatives,
        select_by: a.select_by,
        select_k: a.select_k,
        loss: a.loss,
    };
    let facts = serde_json::json!({
        "path": data.path.display().to_string(),
        "kind": data.kind,
        "nodes": store.num_nodes(),
        "events": store.num_events(),
        "edge_dim": store.feat_dim(),
        "node_dim": store.node_feat_dim(),
        "bipartite": data.ids.is_bipartite(),
        "mask": masked,
        "split": {"train": [split.train.start, split.train.end], "val": [split.val.start, split.val.end],
                  "test": [split.test.start, split.test.end]},
    });
    let dst = DstRange::for_graph(&data.ids, store.num_nodes());
    if rank == 0 && a.force && a.output.exists() {
        std::fs::remove_dir_all(&a.output).with_context(|| format!("removing {}", a.output.display()))?;
    }
    let mut trainer = Trainer::new(model, store.clone(), cfg, split, dst, &a.output, data.ids_tsv(), facts)?;
    trainer.max_batches = a.max_batches;
    let world = replica.as_ref().map_or(1, |r| r.world());
    trainer.replica = replica;
    let step_log = a.step_log.clone().or_else(|| a.distributed.then(|| default_step_log(&a.output)));
    if step_log.is_some() {
        trainer.steps = Some(Vec::new());
    }
    if a.resume {
        trainer.resume().with_context(|| format!("resuming {}", a.output.display()))?;
        tracing::info!("resuming after epoch {}", trainer.state().epochs_done);
    }
    tracing::info!(model = %a.model, ?device, threads, "training");
    let mut bar: Option<ProgressBar> = None;
    let mut loss_avg = 0.0;
    let show = crate::cli::show_progress();
    let mut epochs_seen = trainer.state().epochs_done;
    let outcome = trainer.run(&mut |p| match p {
        Progress::EpochStart { epoch, events } => {
            loss_avg = 0.0;
            if show {
                let b = ProgressBar::with_draw_target(Some(events as u64), ProgressDrawTarget::stderr());
                b.set_style(
                    ProgressStyle::with_template(
                        "epoch {prefix} [{elapsed_precise}] {wide_bar} {pos}/{len} events ({per_sec}) {msg}",
                    )
                    .unwrap_or_else(|_| ProgressStyle::default_bar()),
                );
                b.set_prefix(format!("{}", epoch + 1));
                bar = Some(b);
            }
        }
        Progress::Batch { events, loss } => {
            if loss.is_finite() {
                loss_avg = loss;
            }
            if let Some(b) = &bar {
                b.inc(events as u64);
                b.set_message(format!("loss {loss_avg:.4}"));
            }
        }
        Progress::Phase { name, events } => {
            if show {
                let b = ProgressBar::with_draw_target(Some(events as u64), ProgressDrawTarget::stderr());
                b.set_style(
                    ProgressStyle::with_template("{prefix} [{elapsed_precise}] {wide_bar} {pos}/{len} events ({per_sec})")
                        .unwrap_or_else(|_| ProgressStyle::default_bar()),
                );
                b.set_prefix(name.to_string());
                bar = Some(b);
            }
        }
        Progress::Events(n) => {
            if let Some(b) = &bar {
                b.inc(n as u64);
            }
        }
        Progress::EpochEnd(r) => {
            if let Some(b) = bar.take() {
                b.finish_and_clear();
            }
            epochs_seen = r.epoch + 1;
            if !crate::cli::quiet() && rank == 0 {
                let mrr = r
                    .val_rank
                    .as_ref()
                    .map(|m| format!("  val MRR {:.4} (K={})", m.mrr, m.k))
                    .unwrap_or_default();
                eprintln!(
                    "epoch {:>3}: loss {:.4}  val AP {:.4} AUC {:.4}{mrr}  {:.0} events/s  ({:.1} s + {:.1} s val)",
                    r.epoch + 1,
                    r.loss,
                    r.val.ap,
                    r.val.auc,
                    r.events_per_s,
                    r.train_seconds,
                    r.val.seconds
                );
            }
        }
    });
    if let Some(b) = bar.take() {
        b.finish_and_clear();
    }
    let outcome = match outcome {
        Err(e @ linkcast::train::TrainError::Dist(linkcast::dist::DistError::PeerLost { .. })) => {
            let saved = if epochs_seen > 0 {
                format!(
                    "{} holds the last complete epoch ({epochs_seen}): rerun this command with --resume \
                     once every rank can run",
                    a.output.display()
                )
            } else {
                "no epoch had completed, so nothing was saved".to_string()
            };
            return Err(anyhow::Error::new(e).context(format!(
                "rank {rank}: distributed training stopped in epoch {}; {saved}",
                epochs_seen + 1
            )));
        }
        r => r?,
    };
    if let Some(dir) = &step_log {
        write_step_log(&trainer, dir, rank, world, threads)?;
    }
    if !trainer.is_writer() {
        return Ok(());
    }
    if a.json {
        println!("{}", serde_json::to_string_pretty(&outcome)?);
    } else {
        let best = outcome.state.best_epoch.map_or(0, |e| e + 1);
        println!(
            "{}: best epoch {best} of {}; val AP {:.4} AUC {:.4}; test AP {:.4} AUC {:.4} (batch means {:.4} / {:.4}); model in {}",
            a.model,
            outcome.state.epochs_done,
            outcome.val.ap,
            outcome.val.auc,
            outcome.test.ap,
            outcome.test.auc,
            outcome.test.ap_batch_mean,
            outcome.test.auc_batch_mean,
            a.output.display()
        );
    }
    Ok(())
}

/// A checkpoint is replaced as a whole directory, so anything else in MODEL_DIR
/// would be dropped by the first epoch's save: above all a served live state and
/// its write-ahead log (`MODEL_DIR/live`, `MODEL_DIR/live.wal`), which hold
/// acknowledged events. `--resume` refuses rather than lose them.
fn refuse_foreign_entries(dir: &std::path::Path) -> anyhow::Result<()> {
    use linkcast::util::manifest::{MANIFEST, MODEL_FILES};
    let Ok(rd) = std::fs::read_dir(dir) else { return Ok(()) };
    let mut foreign: Vec<String> = rd
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n != MANIFEST && !MODEL_FILES.iter().any(|f| f.split('/').next() == Some(n.as_str())))
        .collect();
    if foreign.is_empty() {
        return Ok(());
    }
    foreign.sort();
    anyhow::bail!(
        "{} holds {} besides the checkpoint (a served live state and its write-ahead log hold events \
         ingested after training); --resume replaces the directory and would drop them: move them out \
         first, or pass --force instead of --resume to train afresh and discard them",
        dir.display(),
        foreign.join(", ")
    )
}

/// How long joining the group may wait for the other ranks: `--dist-timeout`, else
/// `LINKCAST_DIST_TIMEOUT` seconds, 600 by default.
fn join_timeout(flag: Option<u64>) -> std::time::Duration {
    seconds(flag, "LINKCAST_DIST_TIMEOUT", 600)
}

/// How long one collective waits for its peers: `--dist-op-timeout`, else
/// `LINKCAST_DIST_OP_TIMEOUT` seconds, 300 by default. Between two exchanges the
/// ranks do the same work, except that rank 0 writes the checkpoint at an epoch's
/// end, so this needs to cover skew and a checkpoint, not a whole epoch.
fn op_timeout(flag: Option<u64>) -> std::time::Duration {
    seconds(flag, "LINKCAST_DIST_OP_TIMEOUT", 300)
}

fn seconds(flag: Option<u64>, var: &str, default: u64) -> std::time::Duration {
    let s = flag.or_else(|| std::env::var(var).ok().and_then(|v| v.trim().parse::<u64>().ok()));
    std::time::Duration::from_secs(s.unwrap_or(default).max(1))
}

fn default_step_log(output: &std::path::Path) -> PathBuf {
    let mut s = output.as_os_str().to_os_string();
    s.push(".ranks");
    PathBuf::from(s)
}

/// Means over a rank's steps (the first step of each epoch included).
fn step_summary(steps: &[StepRecord]) -> serde_json::Value {
    let n = steps.len().max(1) as f64;
    let mean = |f: &dyn Fn(&StepRecord) -> f64| steps.iter().map(f).sum::<f64>() / n;
    let mut times: Vec<f64> = steps.iter().map(|s| s.step_s).collect();
    times.sort_by(f64::total_cmp);
    serde_json::json!({
        "steps": steps.len(),
        "events_scored": steps.iter().map(|s| s.scored[1] - s.scored[0]).sum::<usize>(),
        "events_absorbed": steps.iter().map(|s| s.absorbed).sum::<usize>(),
        "mean_step_s": mean(&|s| s.step_s),
        "median_step_s": times.get(times.len() / 2).copied().unwrap_or(0.0),
        "mean_allreduce_s": mean(&|s| s.allreduce_s),
        "mean_payload_bytes": mean(&|s| s.payload_bytes as f64),
        "mean_sent_bytes": mean(&|s| s.sent_bytes as f64),
        "mean_received_bytes": mean(&|s| s.received_bytes as f64),
    })
}

/// `DIR/rank{R}.json` (per-step records and their summary) and
/// `DIR/rank{R}.safetensors` (weights and memory after the last epoch).
fn write_step_log(
    trainer: &Trainer,
    dir: &std::path::Path,
    rank: usize,
    world: usize,
    threads: usize,
) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let steps = trainer.steps.as_deref().unwrap_or_default();
    let summary = step_summary(steps);
    let log = serde_json::json!({
        "rank": rank,
        "world": world,
        "backend": if world > 1 || trainer.replica.is_some() { "c10d-gloo" } else { "none" },
        "threads": threads,
        "device": trainer.cfg.device,
        "summary": summary,
        "steps": steps,
    });
    let path = dir.join(format!("rank{rank}.json"));
    linkcast::util::atomic::write_file(&path, serde_json::to_string_pretty(&log)?.as_bytes())
        .with_context(|| format!("writing {}", path.display()))?;
    let wpath = dir.join(format!("rank{rank}.safetensors"));
    trainer.write_trained(&wpath).with_context(|| format!("writing {}", wpath.display()))?;
    if !crate::cli::quiet() {
        eprintln!(
            "rank {rank}/{world}: {} steps, {:.1} ms/step (all-reduce {:.1} ms), {:.0} bytes sent/step; log in {}",
            summary["steps"],
            summary["mean_step_s"].as_f64().unwrap_or(0.0) * 1e3,
            summary["mean_allreduce_s"].as_f64().unwrap_or(0.0) * 1e3,
            summary["mean_sent_bytes"].as_f64().unwrap_or(0.0),
            path.display()
        );
    }
    Ok(())
}

/// `--distributed --nproc N`: start N ranks of this same command on this machine
/// (torchrun's variables, loopback rendezvous on a free port), wait for all, and
/// stop the others as soon as one fails. Rank 0's stdout is this process's.
fn launch(a: &Args, n: usize) -> anyhow::Result<()> {
    if n == 0 {
        anyhow::bail!("--nproc must be at least 1");
    }
    if a.output.exists() && !a.resume && !a.force {
        anyhow::bail!(
            "{} already exists (pass --force to replace it, or --resume to continue it)",
            a.output.display()
        );
    }
    let exe = std::env::current_exe().context("finding the linkcast executable")?;
    // This process serves the rendezvous store, as torchrun's agent does: the kernel
    // picks its port while binding it, so concurrent launches cannot collide.
    let store = StoreServer::serve("127.0.0.1", join_timeout(a.dist_timeout))
        .context("serving the rendezvous store")?;
    let port = store.port;
    let args: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
    let mut children = Vec::with_capacity(n);
    for r in 0..n {
        let mut c = std::process::Command::new(&exe);
        c.args(&args)
            .env("RANK", r.to_string())
            .env("LOCAL_RANK", r.to_string())
            .env("WORLD_SIZE", n.to_string())
            .env("LOCAL_WORLD_SIZE", n.to_string())
            .env("MASTER_ADDR", "127.0.0.1")
            .env("MASTER_PORT", port.to_string())
            .env(LAUNCHER_STORE_VAR, "1");
        if r > 0 {
            c.stdout(std::process::Stdio::null());
        }
        let child = c.spawn().with_context(|| format!("starting rank {r}"))?;
        children.push(Some(child));
    }
    let mut failed: Option<(usize, std::process::ExitStatus)> = None;
    while children.iter().any(Option::is_some) {
        for (r, slot) in children.iter_mut().enumerate() {
            let Some(c) = slot else { continue };
            if let Some(st) = c.try_wait().context("waiting for a rank")? {
                *slot = None;
                if !st.success() && failed.is_none() {
                    failed = Some((r, st));
                }
            }
        }
        if failed.is_some() {
            for c in children.iter_mut().flatten() {
                let _ = c.kill();
                let _ = c.wait();
            }
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    drop(store);
    if let Some((r, st)) = failed {
        anyhow::bail!("rank {r} of {n} failed ({st}); the other ranks were stopped");
    }
    Ok(())
}
