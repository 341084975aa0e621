//! The epoch loop (semantics in the module docs of [`crate::train`]).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use serde::{Deserialize, Serialize};
use tch::{Kind, Tensor};

use crate::dist::{Exchange, Replica, StepRecord, rank_slice, slice_roots};
use crate::eval::protocol::RankMetrics;
use crate::eval::protocol::event_times;
use crate::model::api::Loss;
use crate::model::{Carry, ModelConfig, PairBatch, Roots, TemporalModel};
use crate::sample::batch::{Batch, BatchConfig, BatchPipeline, batch_ranges};
use crate::sample::negatives::NegativeSet;
use crate::sample::negatives::{DstRange, NegConfig, NegStrategy};
use crate::store::split::Split;
use crate::store::{EventId, TemporalStore};
use crate::train::TrainError;
use crate::train::adam::Adam;
use crate::train::checkpoint::{self as ck, Staging, TrainState};
use crate::train::select::{SelectBy, validation_rank, validation_set};
use crate::train::stream::{SplitMetrics, StreamConfig, replay, score_split};

/// How a config scales features, for messages.
fn scaling_name(c: &ModelConfig) -> String {
    match &c.feature_scaling {
        Some(s) => format!("standard, {} sigmas", s.sigmas),
        None => "none".into(),
    }
}

/// Training flags, saved in `config.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    pub epochs: usize,
    /// Epochs without a better validation AP before stopping.
    pub patience: usize,
    pub lr: f64,
    pub batch_size: usize,
    pub seed: u64,
    pub threads: usize,
    pub prefetch: usize,
    /// The split as given (`0.7,0.15,0.15` or `t=..,..`).
    pub split: String,
    pub device: String,
    /// Share of each batch's negatives drawn from the source's earlier destinations
    /// (`--hist-negatives`; 0, all random, in configs written before it existed).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub hist_negatives: f64,
    /// The validation metric that picks the epoch (`--select-by`).
    #[serde(default, skip_serializing_if = "is_ap")]
    pub select_by: SelectBy,
    /// Negatives per validation positive under `--select-by mrr`.
    #[serde(default = "default_select_k")]
    pub select_k: u32,
    /// The training objective (`--loss`; BCE in configs written before it existed).
    #[serde(default, skip_serializing_if = "is_bce")]
    pub loss: Loss,
}

fn is_bce(l: &Loss) -> bool {
    *l == Loss::Bce
}

fn is_zero(x: &f64) -> bool {
    *x == 0.0
}

fn is_ap(s: &SelectBy) -> bool {
    *s == SelectBy::Ap
}

pub fn default_select_k() -> u32 {
    20
}

/// What `config.json` holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CheckpointConfig {
    pub linkcast_version: String,
    pub model: ModelConfig,
    pub train: TrainConfig,
    /// Facts about the training data: path, counts, split ranges.
    pub data: serde_json::Value,
}

/// One epoch's record (a line of `metrics.jsonl`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EpochRecord {
    pub epoch: usize,
    pub loss: f64,
    pub train_events: usize,
    pub train_seconds: f64,
    pub events_per_s: f64,
    pub val: SplitMetrics,
    /// Validation ranking under `--select-by mrr` (absent otherwise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub val_rank: Option<RankMetrics>,
    pub peak_rss_mb: f64,
    /// Where the training seconds went (absent from lines written by older builds).
    #[serde(default)]
    pub phases: Phases,
}

/// What a finished run reports.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TrainOutcome {
    pub state: TrainState,
    pub epochs: Vec<EpochRecord>,
    pub val: SplitMetrics,
    pub test: SplitMetrics,
}

/// Progress reports for the caller's bars and logs.
pub enum Progress<'a> {
    EpochStart { epoch: usize, events: usize },
    Batch { events: usize, loss: f64 },
    Phase { name: &'a str, events: usize },
    Events(usize),
    EpochEnd(&'a EpochRecord),
}

pub struct Trainer {
    pub model: Box<dyn TemporalModel>,
    adam: Adam,
    store: Arc<dyn TemporalStore>,
    pub cfg: TrainConfig,
    split: Split,
    dst: DstRange,
    out: PathBuf,
    ids_tsv: String,
    data: serde_json::Value,
    state: TrainState,
    best: Vec<(String, Tensor)>,
    records: Vec<EpochRecord>,
    /// Test builds and the learning test: stop after this many training batches per epoch.
    pub max_batches: Option<usize>,
    /// Tests: fail after this many training batches in total (an interrupted run).
    pub fail_after_batches: Option<usize>,
    batches_done: usize,
    /// Phase times of the running pass.
    phases: Phases,
    /// Data-parallel training (`--distributed`): this process is one replica of
    /// the group; it scores its slice of every batch, gradients are summed over
    /// the group, and every replica absorbs the whole batch (see [`crate::dist`]).
    pub replica: Option<Replica>,
    /// Per-step records, collected when `Some` (`--step-log`).
    pub steps: Option<Vec<StepRecord>>,
    /// The weights and model state at the end of the training epochs (before the
    /// best weights are restored), kept when `steps` is collected.
    trained: Vec<(String, Tensor)>,
    /// Validation negatives of `--select-by mrr`, drawn on first use.
    select_set: Option<NegativeSet>,
}

/// What [`Trainer::train_pass`] did.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PassStats {
    pub batches: usize,
    pub events: usize,
    pub seconds: f64,
    /// Sum of the batches' mean losses.
    pub loss_sum: f64,
    /// Where the pass's wall-clock time went.
    pub phases: Phases,
}

/// Wall-clock seconds of a training pass by phase, measured on the host. On the
/// CPU every libtorch call returns when its work is done, so the phases add up to
/// the pass; on a GPU they are the host's time to issue the work (a phase that
/// reads a value back also waits for the work queued before it).
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Phases {
    /// Waiting for the next prepared batch (sampling, negatives, gathering run on
    /// the rayon pool ahead of the model; this is the part not hidden).
    pub wait_batch: f64,
    /// Memory update of the batch's nodes, embeddings, decoder and loss.
    pub forward: f64,
    /// Backpropagation to the parameters.
    pub backward: f64,
    /// The optimiser step (with the gradient exchange when data-parallel).
    pub step: f64,
    /// Folding the batch into the memory after the step (no gradients).
    pub absorb: f64,
    /// Everything else in the loop (loss bookkeeping, progress, step records).
    pub other: f64,
}

impl Phases {
    /// Forward from `t0` to `t1`, backward to `t2`, the step until now.
    fn add_step(&mut self, t0: Instant, t1: Instant, t2: Instant) {
        self.forward += (t1 - t0).as_secs_f64();
        self.backward += (t2 - t1).as_secs_f64();
        self.step += t2.elapsed().as_secs_f64();
    }
}

const EVAL_TAG: u64 = 0x6576_616c_5f6e_6567; // "eval_neg"

impl Trainer {
    /// A new run writing to `out`. `ids_tsv`: the external id of each node, one per line.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        model: Box<dyn TemporalModel>,
        store: Arc<dyn TemporalStore>,
        cfg: TrainConfig,
        split: Split,
        dst: DstRange,
        out: &Path,
        ids_tsv: String,
        data: serde_json::Value,
    ) -> Result<Trainer, TrainError> {
        model.check_store(&*store)?;
        for (name, r) in [("training", &split.train), ("validation", &split.val), ("test", &split.test)] {
            if r.is_empty() {
                return Err(TrainError::Invalid(format!(
                    "the {name} part of the split {} is empty: nothing to {}",
                    cfg.split,
                    if name == "training" { "train on" } else { "evaluate" }
                )));
            }
        }
        if cfg.batch_size == 0 || cfg.epochs == 0 {
            return Err(TrainError::Invalid("batch size and epochs must be at least 1".into()));
        }
        if !(0.0..=1.0).contains(&cfg.hist_negatives) {
            return Err(TrainError::Invalid(format!(
                "--hist-negatives is a share of the negatives, in [0, 1]; got {}",
                cfg.hist_negatives
            )));
        }
        if cfg.select_by == SelectBy::Mrr && cfg.select_k == 0 {
            return Err(TrainError::Invalid("--select-k must be at least 1".into()));
        }
        let adam = Adam::new(model.trainables(), cfg.lr);
        let best = snapshot(&*model);
        Ok(Trainer {
            model,
            adam,
            store,
            cfg,
            split,
            dst,
            out: out.to_path_buf(),
            ids_tsv,
            data,
            state: TrainState::default(),
            best,
            records: Vec::new(),
            max_batches: None,
            fail_after_batches: None,
            batches_done: 0,
            phases: Phases::default(),
            replica: None,
            steps: None,
            select_set: None,
            trained: Vec::new(),
        })
    }

    /// Continue from the checkpoint in `out` (its last completed epoch).
    pub fn resume(&mut self) -> Result<(), TrainError> {
        let dir = ck::locate(&self.out)?;
        ck::verify(&dir)?;
        let saved: CheckpointConfig = ck::read_json(&dir, ck::CONFIG)?;
        let cfg = self.model.config();
        if saved.model != *cfg {
            return Err(TrainError::Checkpoint {
                path: dir.clone(),
                msg: format!(
                    "was trained as {} with another configuration (edge/node features {}/{}, memory {}, \
                     embedding {}, feature scaling {}): cannot resume with {} ({}/{}, {}, {}, {})",
                    saved.model.kind,
                    saved.model.edge_dim,
                    saved.model.node_dim,
                    saved.model.memory_dim,
                    saved.model.emb_dim,
                    scaling_name(&saved.model),
                    cfg.kind,
                    cfg.edge_dim,
                    cfg.node_dim,
                    cfg.memory_dim,
                    cfg.emb_dim,
                    scaling_name(cfg)
                ),
            });
        }
        let mut a = saved.train.clone();
        let mut b = self.cfg.clone();
        // Epochs and patience may change on resume; nothing else.
        a.epochs = 0;
        b.epochs = 0;
        a.patience = 0;
        b.patience = 0;
        if a != b {
            return Err(TrainError::Checkpoint {
                path: dir.clone(),
                msg: format!("was trained with other flags ({a:?}); resume with the same ones"),
            });
        }
        self.state = ck::read_json(&dir, ck::STATE)?;
        // A run that ended at its epoch limit continues when given more epochs; one
        // that stopped early stays stopped unless the patience grew.
        self.state.finished = self.state.bad_epochs >= self.cfg.patience.max(1);
        load_named(&*self.model, &dir.join(ck::RESUME_WEIGHTS))?;
        self.adam.load(&dir.join(ck::RESUME_ADAM))?;
        let best_path = dir.join(ck::WEIGHTS);
        self.best = read_named(&best_path)?;
        let text = std::fs::read_to_string(dir.join(ck::METRICS)).unwrap_or_default();
        self.records = text.lines().filter_map(|l| serde_json::from_str(l).ok()).collect();
        self.records.truncate(self.state.epochs_done);
        Ok(())
    }

    pub fn state(&self) -> &TrainState {
        &self.state
    }

    fn eval_stream(&self) -> StreamConfig {
        StreamConfig {
            batch_size: self.cfg.batch_size,
            neg: NegConfig {
                strategy: NegStrategy::Random,
                seed: self.cfg.seed ^ EVAL_TAG,
                eval_start: self.split.val.start,
            },
            round: 0,
            prefetch: self.cfg.prefetch,
            dst: self.dst,
        }
    }

    /// Train epochs until `epochs` or early stopping, then evaluate the best weights.
    pub fn run(&mut self, on: &mut dyn FnMut(Progress<'_>)) -> Result<TrainOutcome, TrainError> {
        if let Some(rep) = &self.replica {
            // Every replica starts from rank 0's weights (identical anyway for one
            // seed, or one checkpoint on --resume; this makes it a guarantee).
            for (_, v) in sorted_variables(&*self.model) {
                let mut t = v.detach().contiguous();
                rep.group.broadcast_within(&mut t, 0, rep.group.join_timeout)?;
                tch::no_grad(|| v.shallow_clone().copy_(&t));
            }
        }
        while !self.state.finished && self.state.epochs_done < self.cfg.epochs {
            let epoch = self.state.epochs_done;
            let rec = self.epoch(epoch, on)?;
            on(Progress::EpochEnd(&rec));
            let better = match (self.cfg.select_by, &rec.val_rank) {
                (SelectBy::Mrr, Some(r)) => {
                    self.state.best_epoch.is_none()
                        || r.mrr > self.state.best_val_mrr.unwrap_or(f64::NEG_INFINITY)
                }
                _ => self.state.best_epoch.is_none() || rec.val.ap > self.state.best_val_ap,
            };
            if better {
                self.state.best_epoch = Some(epoch);
                self.state.best_val_ap = rec.val.ap;
                self.state.best_val_mrr = rec.val_rank.as_ref().map(|r| r.mrr);
                self.state.bad_epochs = 0;
                self.best = snapshot(&*self.model);
            } else {
                self.state.bad_epochs += 1;
            }
            self.state.epochs_done = epoch + 1;
            self.records.push(rec);
            if self.state.bad_epochs >= self.cfg.patience.max(1) {
                self.state.finished = true;
            }
            self.checkpoint(better, None)?;
        }
        self.state.finished = true;
        if self.steps.is_some() {
            self.trained = snapshot(&*self.model);
            self.trained.extend(self.model.state_tensors());
        }
        // Final evaluation: best weights, state rebuilt from the data before each split.
        restore(&*self.model, &self.best);
        self.model.reset_state();
        let train_end = self.split.train.end;
        on(Progress::Phase { name: "replay", events: train_end });
        let bs = self.cfg.batch_size;
        replay(&mut *self.model, &*self.store, train_end, bs, &mut |n| on(Progress::Events(n)))?;
        let sc = self.eval_stream();
        on(Progress::Phase { name: "validation", events: self.split.val.len() });
        let val = score_split(&mut *self.model, self.store.clone(), self.split.val.clone(), &sc, &mut |n| {
            on(Progress::Events(n))
        })?
        .metrics()?;
        on(Progress::Phase { name: "test", events: self.split.test.len() });
        let test =
            score_split(&mut *self.model, self.store.clone(), self.split.test.clone(), &sc, &mut |n| {
                on(Progress::Events(n))
            })?
            .metrics()?;
        let outcome = TrainOutcome {
            state: self.state.clone(),
            epochs: self.records.clone(),
            val: val.clone(),
            test: test.clone(),
        };
        self.checkpoint(true, Some(&outcome))?;
        Ok(outcome)
    }

    fn epoch(&mut self, epoch: usize, on: &mut dyn FnMut(Progress<'_>)) -> Result<EpochRecord, TrainError> {
        let train = self.split.train.clone();
        let times = event_times(&*self.store);
        let mut ranges = batch_ranges(&times, train.clone(), self.cfg.batch_size);
        drop(times);
        if let Some(m) = self.max_batches {
            ranges.truncate(m);
        }
        let pass = self.train_pass(epoch, ranges, on)?;
        // Validation continues the stream: the state has absorbed the training events.
        let val_events = self.split.val.clone();
        if self.model.stateful() && self.model.absorbed() != val_events.start {
            replay(&mut *self.model, &*self.store, val_events.start, self.cfg.batch_size, &mut |_| {})?;
        }
        on(Progress::Phase { name: "validation", events: val_events.len() });
        let sc = self.eval_stream();
        let val = score_split(&mut *self.model, self.store.clone(), val_events, &sc, &mut |n| {
            on(Progress::Events(n))
        })?
        .metrics()?;
        let val_rank = match self.cfg.select_by {
            SelectBy::Ap => None,
            SelectBy::Mrr => Some(self.rank_validation(on)?),
        };
        Ok(EpochRecord {
            epoch,
            loss: pass.loss_sum / pass.batches.max(1) as f64,
            train_events: pass.events,
            train_seconds: pass.seconds,
            events_per_s: pass.events as f64 / pass.seconds.max(1e-9),
            val,
            val_rank,
            peak_rss_mb: crate::util::mem::peak_rss_bytes().unwrap_or(0) as f64 / 1e6,
            phases: pass.phases,
        })
    }

    /// Validation MRR of the current weights (see [`crate::train::select`]).
    fn rank_validation(&mut self, on: &mut dyn FnMut(Progress<'_>)) -> Result<RankMetrics, TrainError> {
        if self.select_set.is_none() {
            let set = validation_set(&*self.store, &self.split, self.dst, self.cfg.select_k, self.cfg.seed)?;
            self.select_set = Some(set);
        }
        let set = self.select_set.as_ref().expect("drawn above");
        on(Progress::Phase { name: "validation ranking", events: self.split.val.len() });
        validation_rank(
            &mut *self.model,
            &*self.store,
            &self.split,
            self.dst,
            set,
            self.cfg.batch_size,
            self.cfg.seed,
            &mut |n| on(Progress::Events(n)),
        )
    }

    /// The training part of an epoch: state reset, then one optimiser step per
    /// batch of `ranges` (consecutive, from the first training event) followed by
    /// absorbing that batch. Public for `linkcast bench train`, which times it alone.
    pub fn train_pass(
        &mut self,
        epoch: usize,
        ranges: Vec<std::ops::Range<usize>>,
        on: &mut dyn FnMut(Progress<'_>),
    ) -> Result<PassStats, TrainError> {
        self.model.reset_state();
        let events: usize = ranges.iter().map(|r| r.len()).sum();
        on(Progress::EpochStart { epoch, events });
        let bcfg = BatchConfig {
            batch_size: self.cfg.batch_size,
            neg: NegConfig {
                strategy: NegStrategy::Random,
                seed: self.cfg.seed,
                eval_start: self.split.val.start,
            },
            sampler: self.model.sampler_config(self.cfg.seed),
            round: epoch as u64,
            prefetch: self.cfg.prefetch,
            hist_negatives: self.cfg.hist_negatives,
        };
        let start = Instant::now();
        let pipe = BatchPipeline::start(self.store.clone(), bcfg, self.dst, ranges)?;
        let mut loss_acc = Tensor::zeros([], (Kind::Double, self.model.device()));
        let (mut read, mut read_at, mut shown) = (0.0, 0usize, f64::NAN);
        let mut batches = 0usize;
        self.phases = Phases::default();
        let mut waited = Instant::now();
        for b in pipe {
            let b = b?;
            let step_start = Instant::now();
            self.phases.wait_batch += (step_start - waited).as_secs_f64();
            let n = b.len() as i64;
            let (loss, exchange, scored, carry) = self.step(&b)?;
            // The loss stays on the device and is read every 16 batches: reading it
            // is a synchronisation that would stall a GPU once per batch.
            loss_acc += loss.to_kind(Kind::Double);
            batches += 1;
            if batches.is_multiple_of(16) {
                let total = loss_acc.double_value(&[]);
                if !total.is_finite() {
                    return Err(TrainError::Invalid(format!(
                        "loss became {total} in epoch {epoch} by batch {}",
                        b.index
                    )));
                }
                shown = (total - read) / (batches - read_at) as f64;
                (read, read_at) = (total, batches);
            }
            if self.model.stateful() {
                // The batch's own events become state only after the step.
                if self.model.absorbed() != b.range.start {
                    // A truncated epoch (max_batches) never skips events in between.
                    return Err(TrainError::Invalid("batches out of order".into()));
                }
                let t = Instant::now();
                self.model.absorb(&*self.store, b.range.clone(), carry)?;
                self.phases.absorb += t.elapsed().as_secs_f64();
            }
            if let Some(steps) = &mut self.steps {
                let r0 = b.range.start;
                steps.push(StepRecord {
                    epoch,
                    batch: b.index,
                    events: [b.range.start, b.range.end],
                    scored: [r0 + scored.start, r0 + scored.end],
                    absorbed: if self.model.stateful() { b.len() } else { 0 },
                    loss: loss.double_value(&[]),
                    step_s: step_start.elapsed().as_secs_f64(),
                    allreduce_s: exchange.seconds,
                    payload_bytes: exchange.payload_bytes,
                    sent_bytes: exchange.sent_bytes,
                    received_bytes: exchange.received_bytes,
                });
            }
            on(Progress::Batch { events: n as usize, loss: shown });
            self.batches_done += 1;
            waited = Instant::now();
            if self.fail_after_batches.is_some_and(|m| self.batches_done >= m) {
                return Err(TrainError::Invalid(format!(
                    "interrupted after {} batches (test)",
                    self.batches_done
                )));
            }
        }
        let loss_sum = loss_acc.double_value(&[]);
        if !loss_sum.is_finite() {
            return Err(TrainError::Invalid(format!("loss became {loss_sum} in epoch {epoch}")));
        }
        let seconds = start.elapsed().as_secs_f64();
        let mut phases = self.phases;
        let p = &phases;
        phases.other = (seconds - p.wait_batch - p.forward - p.backward - p.step - p.absorb).max(0.0);
        Ok(PassStats { batches, events, seconds, loss_sum, phases })
    }

    /// One optimiser step on batch `b`: the batch's loss (detached, on the device),
    /// what the gradient exchange cost, the positives this process scored (indices
    /// into the batch), and what absorbing the batch may reuse (computed before the
    /// step). One process: BCE means over the whole batch. A replica: its slice's BCE
    /// sums divided by the global batch size, gradients and loss summed over the
    /// group (equal to the one-process ones up to rounding), then the same Adam step
    /// on every replica.
    fn step(&mut self, b: &Batch) -> Result<(Tensor, Exchange, std::ops::Range<usize>, Carry), TrainError> {
        let n = b.len();
        let t0 = Instant::now();
        let cutoff = b.range.start as EventId;
        let Some(rep) = &self.replica else {
            // The roots begin with the batch's sources and destinations, so the
            // forward pass saw every endpoint (TGN: folded its pending messages).
            let roots = Roots { nodes: &b.roots, t: &b.root_t, layers: &b.layers };
            let (loss, carry) = self.model.batch_loss(
                &*self.store,
                &PairBatch { roots, m: n, cutoff },
                None,
                self.cfg.loss,
            )?;
            let t1 = Instant::now();
            let grads = self.adam.gradients(&loss);
            let t2 = Instant::now();
            self.adam.step_with(&grads);
            self.phases.add_step(t0, t1, t2);
            return Ok((loss.detach(), Exchange::default(), 0..n, carry));
        };
        let part = rank_slice(n, rep.rank(), rep.world());
        let local = if part.is_empty() {
            None
        } else {
            let (nodes, t, layers) = slice_roots(&b.roots, &b.root_t, &b.layers, n, part.clone());
            let roots = Roots { nodes: &nodes, t: &t, layers: &layers };
            let slice = PairBatch { roots, m: part.len(), cutoff };
            Some(self.model.batch_loss(&*self.store, &slice, Some(n), self.cfg.loss)?.0)
        };
        // This replica scored only its slice: what absorbing the whole batch needs is
        // computed here, before the step, so that all replicas store the state one
        // process would.
        let whole = Roots { nodes: &b.roots, t: &b.root_t, layers: &b.layers };
        let carry = self.model.replica_carry(&*self.store, &PairBatch { roots: whole, m: n, cutoff })?;
        let t1 = Instant::now();
        let grads = local.as_ref().map(|l| self.adam.gradients(l)).unwrap_or_default();
        let t2 = Instant::now();
        let (summed, loss, exchange) = rep.exchange(&grads, &self.adam.params(), local.as_ref())?;
        self.adam.step_with(&summed);
        self.phases.add_step(t0, t1, t2);
        let loss = Tensor::from(loss).to_kind(Kind::Float).to_device(self.model.device());
        Ok((loss, exchange, part, carry))
    }

    /// Whether this process writes the model directory (rank 0, or a single process).
    pub fn is_writer(&self) -> bool {
        self.replica.as_ref().is_none_or(|r| r.rank() == 0)
    }

    /// The weights (and node memory, as `memory.mem`) at the end of the training
    /// epochs, when per-step records were collected; empty otherwise.
    pub fn write_trained(&self, path: &Path) -> Result<(), TrainError> {
        write_named(&self.trained, path)
    }

    /// Write the checkpoint directory; `best_now`: the current weights are the best
    /// (their memory is saved with them).
    pub(crate) fn checkpoint(
        &self,
        best_now: bool,
        outcome: Option<&TrainOutcome>,
    ) -> Result<(), TrainError> {
        if !self.is_writer() {
            return Ok(());
        }
        let stage = Staging::begin(&self.out)?;
        let config = CheckpointConfig {
            linkcast_version: env!("CARGO_PKG_VERSION").into(),
            model: self.model.config().clone(),
            train: self.cfg.clone(),
            data: self.data.clone(),
        };
        stage.write_json(ck::CONFIG, &config)?;
        write_named(&self.best, &stage.path(ck::WEIGHTS))?;
        stage.written(ck::WEIGHTS)?;
        write_named(&snapshot(&*self.model), &stage.path(ck::RESUME_WEIGHTS))?;
        stage.written(ck::RESUME_WEIGHTS)?;
        self.adam.save(&stage.path(ck::RESUME_ADAM))?;
        stage.written(ck::RESUME_ADAM)?;
        let mut state = self.state.clone();
        if best_now {
            if self.model.save_state(&stage.path(ck::MEMORY))? {
                stage.written(ck::MEMORY)?;
                state.watermark_events = self.model.absorbed();
                state.watermark_time = self.model.watermark_time();
            } else {
                let n = if outcome.is_some() { self.split.test.end } else { self.split.val.end };
                state.watermark_events = n;
                state.watermark_time = self.store.time_range().map(|_| self.store.event((n - 1) as u32).2);
            }
        } else if let Ok(prev) = ck::read_json::<TrainState>(&self.out, ck::STATE) {
            state.watermark_events = prev.watermark_events;
            state.watermark_time = prev.watermark_time;
        }
        stage.write_json(ck::STATE, &state)?;
        stage.write(ck::IDS, self.ids_tsv.as_bytes())?;
        let mut lines = String::new();
        for r in &self.records {
            lines.push_str(&serde_json::to_string(r).map_err(|e| TrainError::Invalid(e.to_string()))?);
            lines.push('\n');
        }
        stage.write(ck::METRICS, lines.as_bytes())?;
        if let Some(o) = outcome {
            stage.write_json(ck::RESULTS, o)?;
        }
        plot(&self.records, &stage.path(ck::PLOT));
        stage.commit()
    }
}

/// Plot the curves; a failed plot is logged, never fatal.
fn plot(records: &[EpochRecord], path: &Path) {
    use crate::util::plot::{Panel, Series, plot_curves};
    let pts =
        |f: &dyn Fn(&EpochRecord) -> f64| records.iter().map(|r| (r.epoch as f64 + 1.0, f(r))).collect();
    let panels = [
        Panel {
            title: "training loss".into(),
            y_label: "BCE".into(),
            series: vec![Series { name: "loss".into(), points: pts(&|r| r.loss) }],
        },
        Panel {
            title: "validation".into(),
            y_label: "score".into(),
            series: vec![
                Series { name: "AP".into(), points: pts(&|r| r.val.ap) },
                Series { name: "AUC".into(), points: pts(&|r| r.val.auc) },
            ],
        },
    ];
    if let Err(e) = plot_curves(path, "linkcast train", "epoch", &panels) {
        tracing::warn!("could not draw {}: {e}", path.display());
    }
}

/// Every variable by name (sorted), not copied.
fn sorted_variables(model: &dyn TemporalModel) -> Vec<(String, Tensor)> {
    let mut v: Vec<(String, Tensor)> = model.vars().variables().into_iter().collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

/// A detached copy of every variable, by name (sorted).
fn snapshot(model: &dyn TemporalModel) -> Vec<(String, Tensor)> {
    let mut v: Vec<(String, Tensor)> =
        model.vars().variables().into_iter().map(|(n, t)| (n, t.detach().copy())).collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

fn restore(model: &dyn TemporalModel, saved: &[(String, Tensor)]) {
    let vars = model.vars().variables();
    tch::no_grad(|| {
        for (n, t) in saved {
            if let Some(v) = vars.get(n) {
                v.shallow_clone().copy_(t);
            }
        }
    });
}

fn write_named(named: &[(String, Tensor)], path: &Path) -> Result<(), TrainError> {
    let cpu: Vec<(String, Tensor)> =
        named.iter().map(|(n, t)| (n.clone(), t.to_device(tch::Device::Cpu))).collect();
    Tensor::write_safetensors(&cpu, path)?;
    Ok(())
}

fn read_named(path: &Path) -> Result<Vec<(String, Tensor)>, TrainError> {
    let mut v = Tensor::read_safetensors(path)
        .map_err(|e| TrainError::Checkpoint { path: path.to_path_buf(), msg: e.to_string() })?;
    v.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(v)
}

/// Load weights saved by this module into `model`, checking names and shapes.
pub fn load_named(model: &dyn TemporalModel, path: &Path) -> Result<(), TrainError> {
    let saved = read_named(path)?;
    let vars = model.vars().variables();
    for (n, v) in &vars {
        let Some((_, t)) = saved.iter().find(|(s, _)| s == n) else {
            return Err(TrainError::Checkpoint { path: path.to_path_buf(), msg: format!("no tensor {n:?}") });
        };
        if t.size() != v.size() {
            return Err(TrainError::Checkpoint {
                path: path.to_path_buf(),
                msg: format!("{n} has shape {:?}, the model expects {:?}", t.size(), v.size()),
            });
        }
    }
    let dev = model.device();
    let on_dev: Vec<(String, Tensor)> = saved.into_iter().map(|(n, t)| (n, t.to_device(dev))).collect();
    restore(model, &on_dev);
    Ok(())
}
