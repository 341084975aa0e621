//! `linkcast bench train`: training and scoring throughput of a model on a graph
//! directory (memory-mapped), the training and scoring stage of `bench scale`.
//!
//! Workload: a fresh model (TGN by default, preset sizes) for the whole graph (its
//! node memory is `N x` the memory width, allocated up front and reported as
//! `model_memory_bytes`); the first `batches` training batches of the log, or one
//! whole epoch when the first 70% of the events (about the default split's
//! training part) hold fewer (`full_epoch`; batch boundaries as in `linkcast train`: never inside
//! a group of equal timestamps),
//! each one optimiser step plus absorbing the batch into memory, exactly the
//! trainer's loop ([`Trainer::train_pass`]), timed as `train_seconds`. Then
//! `score_pairs` random pairs (endpoints uniform over all nodes, seeded) at the time
//! of the first event after the trained prefix, in chunks of 10,000 through the
//! evaluation scorer, timed as `score_seconds`. Opening the graph and building the
//! model are timed apart (`open_seconds`). Peak RSS is the process high-water mark.
//!
//! `phases` splits the training time into waiting for the next prepared batch,
//! forward, backward, optimiser step and absorbing (host seconds). With
//! `op_profile > 0` the pass runs under the operator profiler ([`super::op_profile`])
//! and the report adds the top operators by self time, the time per operator
//! category, and the training time spent outside libtorch (Rust, sampling, waits);
//! the profiler slows the pass, so its `train_events_per_s` is not a throughput figure.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::bench::ingest::{Machine, rate};
use crate::bench::op_profile::{CategoryStat, OpProfile, OpStat, by_category};
use crate::eval::scorer::StreamScorer;
use crate::model::config::{DataFacts, ModelConfig, ModelKind};
use crate::sample::batch::batch_ranges;
use crate::sample::negatives::DstRange;
use crate::sample::neighbors::SplitMix64;
use crate::store::split::{Split, SplitSpec};
use crate::store::{MmapStore, NodeId, TemporalStore, Time};
use crate::train::scorer::ModelScorer;
use crate::train::trainer::{Phases, TrainConfig, Trainer};
use crate::util::mem::{peak_rss_bytes, rss_anon_bytes};

#[derive(Debug, thiserror::Error)]
pub enum TrainBenchError {
    #[error("opening the graph {0}")]
    Open(String, #[source] crate::store::StoreError),
    #[error("invalid benchmark setting: {0}")]
    Invalid(String),
    #[error("training")]
    Train(#[from] crate::train::TrainError),
    #[error("model")]
    Model(#[from] crate::model::ModelError),
    #[error("scoring")]
    Eval(#[from] crate::eval::scorer::EvalError),
    #[error("scratch directory")]
    Io(#[from] std::io::Error),
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TrainBench {
    pub graph: PathBuf,
    pub model: ModelKind,
    pub batches: usize,
    pub batch_size: usize,
    pub score_pairs: usize,
    pub threads: usize,
    pub seed: u64,
    pub device: String,
    /// Profile the training pass per operator and report this many operators (0: off).
    #[serde(default)]
    pub op_profile: usize,
    /// Key the operator profile by input shapes as well.
    #[serde(default)]
    pub op_shapes: bool,
}

/// Where the training pass spent its time, per libtorch operator.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OpProfileReport {
    /// Self time of every operator together (seconds inside libtorch).
    pub libtorch_self_s: f64,
    /// Training time not inside any libtorch operator: Rust batch handling, waits
    /// for prepared batches, the loop itself.
    pub outside_libtorch_s: f64,
    pub categories: Vec<CategoryStat>,
    /// The operators with the largest self time.
    pub top: Vec<OpStat>,
    /// How many distinct operators (or operator-and-shape keys) were seen.
    pub distinct: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TrainBenchReport {
    pub bench: String,
    pub params: TrainBench,
    pub events: usize,
    pub nodes: u32,
    pub model: ModelConfig,
    /// Bytes of the state the model keeps between batches (node memory and pending
    /// messages, or walk-matrix projections) for all nodes.
    pub model_memory_bytes: u64,
    pub open_seconds: f64,
    pub train_batches: usize,
    /// The batches covered the whole training part of the default split.
    pub full_epoch: bool,
    pub train_events: usize,
    pub train_seconds: f64,
    pub train_events_per_s: f64,
    pub mean_loss: f64,
    /// The training time by phase (host seconds).
    pub phases: Phases,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub op_profile: Option<OpProfileReport>,
    pub score_pairs: usize,
    pub score_seconds: f64,
    pub score_pairs_per_s: f64,
    /// The state update alone (stateful models): the trained prefix replayed into a
    /// reset state, batch by batch, with no scoring. Zero for stateless models.
    #[serde(default)]
    pub state_update_events: usize,
    #[serde(default)]
    pub state_update_seconds: f64,
    #[serde(default)]
    pub state_update_events_per_s: f64,
    pub peak_rss_bytes: Option<u64>,
    /// Anonymous memory at the end (node memory, weights, buffers; not the map).
    pub end_rss_anon_bytes: Option<u64>,
    pub machine: Machine,
}

/// Pairs per scoring call.
const SCORE_CHUNK: usize = 10_000;

pub fn run_train_bench(b: &TrainBench, device: tch::Device) -> Result<TrainBenchReport, TrainBenchError> {
    if b.batches == 0 || b.batch_size == 0 {
        return Err(TrainBenchError::Invalid("batches and batch size must be at least 1".into()));
    }
    let t0 = Instant::now();
    let mmap =
        MmapStore::open(&b.graph).map_err(|e| TrainBenchError::Open(b.graph.display().to_string(), e))?;
    let store: Arc<dyn TemporalStore> = Arc::new(mmap);
    let (events, nodes) = (store.num_events(), store.num_nodes());
    // Batch boundaries over a prefix of the log only: the whole time column of a
    // billion-event graph is not needed (and not read) for a few batches.
    let segments = store.event_segments();
    let t: &[Time] = segments.first().map_or(&[], |s| s.t);
    // The default split's training part is the first 70% of events (to the nearest
    // group of equal timestamps; close enough for a throughput figure).
    let epoch = (t.len() as f64 * 0.7) as usize;
    let prefix = (b.batches * b.batch_size * 2).min(epoch);
    let mut ranges = batch_ranges(&t[..prefix], 0..prefix, b.batch_size);
    let full_epoch = ranges.len() <= b.batches && prefix == epoch;
    ranges.truncate(b.batches);
    let end = ranges.last().map_or(0, |r| r.end);
    if end + 2 > events || ranges.is_empty() {
        return Err(TrainBenchError::Invalid(format!(
            "{events} events are too few for {} batches of {}",
            b.batches, b.batch_size
        )));
    }
    let (query_t, test_t) = (t[end], t[end + 1]);
    drop(segments);
    let mut mc = ModelConfig::preset(b.model, nodes, store.feat_dim(), store.node_feat_dim());
    mc.time_origin = store.time_range().map_or(0.0, |(lo, _)| lo);
    // Data-sized defaults as `train` fits them; the benchmark's split has no real
    // validation period, so 15% of the time span (the default split's share) stands in.
    let span = store.time_range().unwrap_or((0.0, 1.0));
    mc.fit_data(&DataFacts { nodes, events, time_range: span, val_period: 0.15 * (span.1 - span.0) });
    // As `train` does by default, so the gathers cost what they cost there.
    mc.feature_scaling = crate::store::scaling::FeatureScaling::standard(&*store, 0..end)
        .map_err(|e| TrainBenchError::Invalid(format!("feature statistics: {e}")))?;
    let model = crate::model::build(mc.clone(), device, b.seed)?;
    let model_memory_bytes = model.state_bytes();
    let split = Split {
        spec: SplitSpec::default(),
        train: 0..end,
        val: end..end + 1,
        test: end + 1..end + 2,
        val_start: Some(query_t),
        test_start: Some(test_t),
    };
    let cfg = TrainConfig {
        epochs: 1,
        patience: 1,
        lr: 1e-4,
        batch_size: b.batch_size,
        seed: b.seed,
        threads: b.threads,
        prefetch: 4,
        split: "bench".into(),
        device: format!("{device:?}").to_lowercase(),
        hist_negatives: 0.0,
        select_by: Default::default(),
        select_k: crate::train::trainer::default_select_k(),
        loss: Default::default(),
    };
    let scratch = tempfile::tempdir()?;
    let mut trainer = Trainer::new(
        model,
        store.clone(),
        cfg,
        split,
        DstRange::all(nodes),
        &scratch.path().join("model"),
        String::new(),
        serde_json::Value::Null,
    )?;
    let open_seconds = t0.elapsed().as_secs_f64();

    let profile = (b.op_profile > 0).then(|| OpProfile::start(b.op_shapes));
    let pass = trainer.train_pass(0, ranges, &mut |_| {});
    let op_profile = profile.map(|p| {
        let stats = p.stop();
        let libtorch_self_s: f64 = stats.iter().map(|s| s.self_s).sum();
        let seconds = pass.as_ref().map_or(0.0, |p| p.seconds);
        OpProfileReport {
            libtorch_self_s,
            outside_libtorch_s: (seconds - libtorch_self_s).max(0.0),
            categories: by_category(&stats),
            distinct: stats.len(),
            top: stats.into_iter().take(b.op_profile).collect(),
        }
    });
    let pass = pass?;

    // Scoring right after the trained prefix (the memory has absorbed it).
    let mut rng = SplitMix64::new(b.seed ^ 0x7363_6f72_6573);
    let src: Vec<NodeId> = (0..b.score_pairs).map(|_| rng.below(u64::from(nodes)) as NodeId).collect();
    let dst: Vec<NodeId> = (0..b.score_pairs).map(|_| rng.below(u64::from(nodes)) as NodeId).collect();
    let ts = vec![query_t; b.score_pairs];
    let mut scorer = ModelScorer::from_model(trainer.model, b.batch_size, b.seed);
    let mut out = Vec::new();
    let clock = Instant::now();
    for lo in (0..b.score_pairs).step_by(SCORE_CHUNK) {
        let hi = (lo + SCORE_CHUNK).min(b.score_pairs);
        scorer.score(&*store, end..end, &src[lo..hi], &dst[lo..hi], &ts[lo..hi], &mut out)?;
    }
    let score_seconds = clock.elapsed().as_secs_f64();
    // The state update alone, over the same prefix.
    let (mut state_update_events, mut state_update_seconds) = (0, 0.0);
    if scorer.model.stateful() {
        scorer.model.reset_state();
        let clock = Instant::now();
        crate::train::stream::replay(&mut *scorer.model, &*store, end, b.batch_size, &mut |_| {})?;
        state_update_seconds = clock.elapsed().as_secs_f64();
        state_update_events = end;
    }
    Ok(TrainBenchReport {
        bench: "train".into(),
        params: b.clone(),
        events,
        nodes,
        model: mc,
        model_memory_bytes,
        open_seconds,
        train_batches: pass.batches,
        full_epoch,
        train_events: pass.events,
        train_seconds: pass.seconds,
        train_events_per_s: rate(pass.events as u64, pass.seconds),
        mean_loss: pass.loss_sum / pass.batches.max(1) as f64,
        phases: pass.phases,
        op_profile,
        score_pairs: b.score_pairs,
        score_seconds,
        score_pairs_per_s: rate(b.score_pairs as u64, score_seconds),
        state_update_events,
        state_update_seconds,
        state_update_events_per_s: rate(state_update_events as u64, state_update_seconds),
        peak_rss_bytes: peak_rss_bytes(),
        end_rss_anon_bytes: rss_anon_bytes(),
        machine: Machine::current(),
    })
}
