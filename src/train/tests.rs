//! Tests of the models and the training loop on a slice of the bundled CollegeMsg:
//! model-level causality (with leaky variants that must be caught), determinism,
//! resume, and a learning test against the popularity baseline.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::eval::baselines::{BaselineConfig, BaselineKind, make_baseline};
use crate::eval::protocol::{ApConfig, Metrics, Part, eval_ap};
use crate::eval::scorer::{EvalError, StreamScorer};
use crate::ingest::{IngestOptions, ingest_files};
use crate::model::Pairs;
use crate::model::config::{ModelConfig, ModelKind};
use crate::sample::batch::batch_ranges;
use crate::sample::negatives::{DstRange, NegStrategy};
use crate::store::split::{Split, SplitSpec};
use crate::store::{EventLog, MemStore, NodeId, TemporalStore, Time};
use crate::train::scorer::ModelScorer;
use crate::train::trainer::Trainer;
use crate::train::{TrainConfig, TrainOutcome};

fn collegemsg() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("datasets/collegemsg/CollegeMsg.txt.gz")
}

/// The first `n` events of CollegeMsg, plus `extra` events fed after them (ingest
/// order: sorted stably by time, so an extra event lands after every original
/// event with the same or an earlier timestamp).
pub(crate) fn store_of(n: usize, extra: &[(NodeId, NodeId, Time)]) -> MemStore {
    let data = ingest_files(&[collegemsg()], &IngestOptions::default()).unwrap().data;
    let ev = &data.events;
    let mut rows: Vec<(NodeId, NodeId, Time)> = (0..n).map(|i| (ev.src[i], ev.dst[i], ev.t[i])).collect();
    rows.extend_from_slice(extra);
    let mut log = EventLog::with_feat_dim(0);
    for (s, d, t) in rows {
        log.push(s, d, t, &[]);
    }
    log.stable_sort_by_time();
    MemStore::from_log(log, false).unwrap()
}

pub(crate) fn tiny(kind: ModelKind, nodes: u32) -> ModelConfig {
    let mut c = ModelConfig::preset(kind, nodes, 0, 0);
    if c.has_memory() {
        c.memory_dim = 16;
    }
    c.time_dim = 8;
    c.emb_dim = 16;
    c.neighbors = if kind == ModelKind::Graphmixer { 6 } else { 5 };
    if kind == ModelKind::Dygformer {
        // One block, no dropout: replicas and reruns compare bit for bit.
        c.layers = 1;
        c.dropout = 0.0;
    }
    if matches!(kind, ModelKind::Tpnet | ModelKind::TpnetLite) {
        c.mixer_layers = 1;
        c.projection_dim = 16;
        c.decay = 1e-6;
    }
    c
}

/// Every model kind, for the tests that must hold for all of them.
pub(crate) const ALL_KINDS: [ModelKind; 8] = [
    ModelKind::Tgn,
    ModelKind::Jodie,
    ModelKind::Dyrep,
    ModelKind::Tgat,
    ModelKind::Graphmixer,
    ModelKind::Tpnet,
    ModelKind::TpnetLite,
    ModelKind::Dygformer,
];

pub(crate) fn times(store: &dyn TemporalStore) -> Vec<Time> {
    store.event_segments().iter().flat_map(|s| s.t.iter().copied()).collect()
}

/// Scores of the given queries for the batch `batch` after replaying `0..batch.start`;
/// `leak` scores with the batch (and what follows it) already visible.
fn batch_scores(
    kind: ModelKind,
    store: &dyn TemporalStore,
    batch: std::ops::Range<usize>,
    q: &[(NodeId, NodeId, Time)],
    leak: bool,
) -> Vec<f64> {
    let model = crate::model::build(tiny(kind, 2000), tch::Device::Cpu, 7).unwrap();
    let mut sc = ModelScorer::from_model(model, 50, 0);
    sc.start(store, batch.start).unwrap();
    let (src, dst, t): (Vec<_>, Vec<_>, Vec<_>) =
        q.iter().copied().fold((vec![], vec![], vec![]), |mut a, x| {
            a.0.push(x.0);
            a.1.push(x.1);
            a.2.push(x.2);
            a
        });
    let mut out = Vec::new();
    let seen = if leak {
        // Wrong on both counts: the memory absorbs the batch before it is scored and
        // the sampler's cut-off is the end of the log.
        sc.absorb(store, batch.clone()).unwrap();
        store.num_events()..store.num_events()
    } else {
        batch
    };
    let res = sc.score(store, seen.clone(), &src, &dst, &t, &mut out);
    if leak && sc.model.stateful() {
        // The scorer refuses a state ahead of the batch; score through the model directly.
        assert!(matches!(res, Err(EvalError::Causality { .. })), "{res:?}");
        return leaky_direct(&mut sc, store, &src, &dst, &t);
    }
    res.unwrap();
    out
}

/// Scores from the whole log (cut-off = end) with whatever the state holds.
fn leaky_direct(
    sc: &mut ModelScorer,
    store: &dyn TemporalStore,
    src: &[NodeId],
    dst: &[NodeId],
    t: &[Time],
) -> Vec<f64> {
    let cutoff = store.num_events() as u32;
    let p = sc.model.score_pairs(store, cutoff, Pairs { src, dst, t }, 0).unwrap();
    p.into_iter().map(f64::from).collect()
}

/// libtorch's intra-op pool is shared by the whole process: two tests training at
/// once would change each other's reduction order. Tests that compare bits hold this.
static TORCH: std::sync::Mutex<()> = std::sync::Mutex::new(());

pub(crate) fn torch_lock() -> std::sync::MutexGuard<'static, ()> {
    TORCH.lock().unwrap_or_else(|e| e.into_inner())
}

#[test]
fn causality_planted_events_do_not_change_scores() {
    let _g = torch_lock();
    let base = store_of(3000, &[]);
    let t = times(&base);
    let ranges = batch_ranges(&t, 0..base.num_events(), 100);
    let batch = ranges[20].clone();
    let (a, b) = (batch.start, batch.end);
    let ev = |e: usize| base.event(e as u32);
    // Queries: the batch's positives and a few other pairs at the batch's times.
    let mut q: Vec<(NodeId, NodeId, Time)> = (a..b).map(ev).collect();
    q.extend((a..b).map(|e| (ev(e).0, ev(a - 1 - (e - a) % 50).1, ev(e).2)));
    // Planted: at the batch's own first timestamp, inside the batch, and later, all
    // touching the batch's endpoints.
    let (s0, d0, t0) = ev(a);
    let (s1, d1, t1) = ev((a + b) / 2);
    let planted =
        [(s0, d1, t0), (d0, s1, t0), (s1, d0, t1), (s0, d0, t1), (d1, s0, ev(b - 1).2 + 1.0), (s0, s1, 1e12)];
    let with = store_of(3000, &planted);
    assert_eq!(with.num_events(), 3006);
    for e in 0..a {
        assert_eq!(base.event(e as u32), with.event(e as u32), "events before the batch must be unchanged");
    }
    for kind in ALL_KINDS {
        let clean = batch_scores(kind, &base, a..b, &q, false);
        let planted_scores = batch_scores(kind, &with, a..b, &q, false);
        assert_eq!(clean.len(), q.len());
        let same = clean.iter().zip(&planted_scores).all(|(x, y)| x.to_bits() == y.to_bits());
        assert!(same, "{kind}: planted events changed the scores");
        // The deliberately leaky variant must see them.
        let leaky = batch_scores(kind, &with, a..b, &q, true);
        let differs = clean.iter().zip(&leaky).any(|(x, y)| x.to_bits() != y.to_bits());
        assert!(differs, "{kind}: the leaky variant was not caught");
    }
}

pub(crate) fn train_cfg(epochs: usize, seed: u64) -> TrainConfig {
    TrainConfig {
        epochs,
        patience: 10,
        lr: 1e-3,
        batch_size: 100,
        seed,
        threads: 2,
        prefetch: 2,
        split: "0.7,0.15,0.15".into(),
        device: "cpu".into(),
        hist_negatives: 0.0,
        select_by: Default::default(),
        select_k: crate::train::trainer::default_select_k(),
        loss: Default::default(),
    }
}

pub(crate) fn trainer(store: &Arc<MemStore>, kind: ModelKind, cfg: TrainConfig, out: &Path) -> Trainer {
    trainer_with(store, tiny(kind, store.num_nodes()), cfg, out)
}

fn trainer_with(store: &Arc<MemStore>, mut mc: ModelConfig, cfg: TrainConfig, out: &Path) -> Trainer {
    let s: Arc<dyn TemporalStore> = store.clone();
    let split = Split::compute(&times(&**store), SplitSpec::default()).unwrap();
    mc.time_origin = store.time_range().unwrap().0;
    let model = crate::model::build(mc, tch::Device::Cpu, cfg.seed).unwrap();
    let dst = DstRange::all(store.num_nodes());
    Trainer::new(model, s, cfg, split, dst, out, String::new(), serde_json::json!({})).unwrap()
}

fn losses(o: &TrainOutcome) -> Vec<(u64, u64)> {
    o.epochs.iter().map(|e| (e.loss.to_bits(), e.val.ap.to_bits())).collect()
}

/// Every family through the model interface: same seed and threads give identical
/// losses and test AP, another seed other losses, and a run interrupted mid-epoch
/// and resumed equals the uninterrupted one.
#[test]
fn training_is_deterministic_and_resume_equals_uninterrupted() {
    let _g = torch_lock();
    let store = Arc::new(store_of(4000, &[]));
    let dir = tempfile::tempdir().unwrap();
    for kind in ALL_KINDS {
        let run = |name: &str, seed: u64| {
            trainer(&store, kind, train_cfg(2, seed), &dir.path().join(format!("{kind}-{name}")))
                .run(&mut |_| {})
                .unwrap()
        };
        let a = run("a", 3);
        let b = run("b", 3);
        assert_eq!(losses(&a), losses(&b), "{kind}: same seed, same threads: identical losses");
        assert_eq!(a.test.ap.to_bits(), b.test.ap.to_bits(), "{kind}");
        let c = run("c", 4);
        assert_ne!(losses(&a), losses(&c), "{kind}: another seed gives other losses");

        // Interrupted in the middle of epoch 2, then resumed from the epoch-1 checkpoint.
        let out = dir.path().join(format!("{kind}-d"));
        let mut t = trainer(&store, kind, train_cfg(2, 3), &out);
        let per_epoch = a.epochs[0].train_events.div_ceil(100);
        t.fail_after_batches = Some(per_epoch + per_epoch / 2);
        assert!(t.run(&mut |_| {}).is_err());
        let state: crate::train::checkpoint::TrainState =
            crate::train::checkpoint::read_json(&out, crate::train::checkpoint::STATE).unwrap();
        assert_eq!(state.epochs_done, 1, "{kind}: the checkpoint holds the last completed epoch");
        let mut r = trainer(&store, kind, train_cfg(2, 3), &out);
        r.resume().unwrap();
        let stateful = r.model.stateful();
        let d = r.run(&mut |_| {}).unwrap();
        assert_eq!(losses(&a), losses(&d), "{kind}: resume must equal the uninterrupted run");
        assert_eq!(a.test.ap.to_bits(), d.test.ap.to_bits(), "{kind}");
        for f in ["config.json", "model.safetensors", "metrics.jsonl", "state.json", "results.json"] {
            assert!(out.join(f).is_file(), "{kind}: {f} missing");
        }
        assert_eq!(out.join("memory.safetensors").is_file(), stateful, "{kind}: the state is saved iff kept");
        assert_eq!(std::fs::read_to_string(out.join("metrics.jsonl")).unwrap().lines().count(), 2);
    }
}

#[test]
fn resume_refuses_another_model() {
    let store = Arc::new(store_of(2000, &[]));
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("m");
    let mut cfg = train_cfg(1, 0);
    cfg.lr = 1e-4;
    trainer(&store, ModelKind::Tgn, cfg.clone(), &out).run(&mut |_| {}).unwrap();
    let mut g = trainer(&store, ModelKind::Graphmixer, cfg, &out);
    let err = g.resume().unwrap_err().to_string();
    assert!(err.contains("tgn") && err.contains("graphmixer"), "{err}");
}

/// AP of a scorer on the validation split with the `ap` protocol (random negatives).
fn val_ap(scorer: &mut dyn StreamScorer, store: &dyn TemporalStore, split: &Split) -> f64 {
    let cfg = ApConfig { strategy: NegStrategy::Random, seed: 11, batch_size: 200, mask: None };
    let run = eval_ap(scorer, store, split, Part::Val, DstRange::all(store.num_nodes()), &cfg, &mut |_| {})
        .unwrap();
    match run.metrics {
        Metrics::Ap(m) => m.all.ap,
        other => panic!("expected ap metrics, got {other:?}"),
    }
}

/// Scores uniformly at random: what the learning test must reject.
struct Noise(u64);
impl StreamScorer for Noise {
    fn name(&self) -> String {
        "noise".into()
    }
    fn start(&mut self, _: &dyn TemporalStore, _: usize) -> Result<(), EvalError> {
        Ok(())
    }
    fn score(
        &mut self,
        _: &dyn TemporalStore,
        _: std::ops::Range<usize>,
        src: &[NodeId],
        _: &[NodeId],
        _: &[Time],
        out: &mut Vec<f64>,
    ) -> Result<(), EvalError> {
        out.clear();
        for _ in src {
            self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            out.push((self.0 >> 11) as f64 / (1u64 << 53) as f64);
        }
        Ok(())
    }
    fn absorb(&mut self, _: &dyn TemporalStore, _: std::ops::Range<usize>) -> Result<(), EvalError> {
        Ok(())
    }
}

/// The learning criterion: validation AP at least `MARGIN` above the popularity baseline.
const MARGIN: f64 = 0.02;

#[test]
fn tgn_and_graphmixer_learn_beyond_popularity() {
    let _g = torch_lock();
    let store = Arc::new(store_of(20_000, &[]));
    let split = Split::compute(&times(&*store), SplitSpec::default()).unwrap();
    let mut pop = make_baseline(&BaselineConfig::new(BaselineKind::Popularity)).unwrap();
    let pop_ap = val_ap(pop.as_mut(), &*store, &split);
    let noise_ap = val_ap(&mut Noise(5), &*store, &split);
    assert!(noise_ap < pop_ap + MARGIN, "the criterion must reject noise ({noise_ap} vs {pop_ap})");
    let dir = tempfile::tempdir().unwrap();
    for kind in [ModelKind::Tgn, ModelKind::Graphmixer] {
        let out = dir.path().join(kind.to_string());
        // Default sizes (memory/time/embedding 100), as users train.
        let mut t =
            trainer_with(&store, ModelConfig::preset(kind, store.num_nodes(), 0, 0), train_cfg(2, 0), &out);
        t.run(&mut |_| {}).unwrap();
        let mut sc = ModelScorer::open(&out, tch::Device::Cpu).unwrap();
        let ap = val_ap(&mut sc, &*store, &split);
        eprintln!("{kind}: validation AP {ap:.4}, popularity {pop_ap:.4}, noise {noise_ap:.4}");
        assert!(ap > pop_ap + MARGIN, "{kind}: validation AP {ap:.4} vs popularity {pop_ap:.4} + {MARGIN}");
    }
}

/// `--select-by mrr`: the epoch kept is the one of the highest recorded validation
/// MRR, and that number is what the saved model's validation ranking gives against
/// the same negatives (the state rebuilt by replay either way), for a stateful and a
/// stateless family. `--hist-negatives` changes training; resume keeps both flags.
#[test]
fn select_by_mrr_keeps_the_best_ranking_epoch() {
    use crate::train::select::{SelectBy, validation_rank, validation_set};
    let _g = torch_lock();
    let store = Arc::new(store_of(4000, &[]));
    let split = Split::compute(&times(&*store), SplitSpec::default()).unwrap();
    let dst = DstRange::all(store.num_nodes());
    let dir = tempfile::tempdir().unwrap();
    for kind in [ModelKind::Tgn, ModelKind::TpnetLite] {
        let mut cfg = train_cfg(3, 2);
        cfg.lr = 3e-3;
        cfg.select_by = SelectBy::Mrr;
        cfg.select_k = 10;
        cfg.hist_negatives = 0.5;
        let out = dir.path().join(format!("{kind}-mrr"));
        let o = trainer(&store, kind, cfg.clone(), &out).run(&mut |_| {}).unwrap();
        let mrrs: Vec<f64> = o.epochs.iter().map(|e| e.val_rank.as_ref().unwrap().mrr).collect();
        let best = (0..mrrs.len()).fold(0, |b, i| if mrrs[i] > mrrs[b] { i } else { b });
        assert_eq!(o.state.best_epoch, Some(best), "{kind}: {mrrs:?}");
        assert_eq!(o.state.best_val_mrr, Some(mrrs[best]));
        let mut sc = ModelScorer::open(&out, tch::Device::Cpu).unwrap();
        let set = validation_set(&*store, &split, dst, 10, 2).unwrap();
        let again = validation_rank(&mut *sc.model, &*store, &split, dst, &set, 100, 2, &mut |_| {}).unwrap();
        assert_eq!(again.mrr.to_bits(), mrrs[best].to_bits(), "{kind}: the kept weights rank as recorded");

        // Historical negatives change what is trained; the plain run differs.
        let mut plain = cfg.clone();
        plain.hist_negatives = 0.0;
        let p =
            trainer(&store, kind, plain, &dir.path().join(format!("{kind}-plain"))).run(&mut |_| {}).unwrap();
        assert_ne!(losses(&p), losses(&o), "{kind}: --hist-negatives changed nothing");

        // Resume must be given the same selection flags.
        let mut other = cfg.clone();
        other.epochs = 4;
        other.select_by = SelectBy::Ap;
        let err = trainer(&store, kind, other, &out).resume().unwrap_err().to_string();
        assert!(err.contains("other flags"), "{err}");
        let mut more = cfg;
        more.epochs = 4;
        let mut r = trainer(&store, kind, more, &out);
        r.resume().unwrap();
        assert_eq!(r.run(&mut |_| {}).unwrap().epochs.len(), 4);
    }
}
