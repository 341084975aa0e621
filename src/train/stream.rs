//! Streaming evaluation with one negative per positive: each batch is scored with
//! the inputs the sampler and memory allow (events before the batch only), then
//! absorbed. AP and AUC are reported pooled over the split and as the mean over
//! batches (the TGN / DyGLib / PyG convention).

use std::ops::Range;
use std::sync::Arc;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::eval::metrics::{average_precision, roc_auc};
use crate::eval::protocol::event_times;
use crate::model::{Carry, PairBatch, Roots, TemporalModel};
use crate::sample::batch::{BatchConfig, BatchPipeline, batch_ranges};
use crate::sample::negatives::{DstRange, NegConfig};
use crate::store::{EventId, TemporalStore};
use crate::train::TrainError;

/// AP / AUC of a scored split.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SplitMetrics {
    pub ap: f64,
    pub auc: f64,
    pub ap_batch_mean: f64,
    pub auc_batch_mean: f64,
    pub positives: usize,
    pub batches: usize,
    pub seconds: f64,
    pub pairs_per_s: f64,
}

/// Probabilities of the positives and their negatives, batch by batch.
#[derive(Debug, Default)]
pub struct Scored {
    pub pos: Vec<f64>,
    pub neg: Vec<f64>,
    /// End offset into `pos`/`neg` of each batch.
    pub ends: Vec<usize>,
    pub seconds: f64,
}

impl Scored {
    pub fn metrics(&self) -> Result<SplitMetrics, TrainError> {
        let pooled = |p: &[f64], n: &[f64]| -> Result<(f64, f64), TrainError> {
            let scores: Vec<f64> = p.iter().chain(n).copied().collect();
            let labels: Vec<bool> = (0..scores.len()).map(|i| i < p.len()).collect();
            Ok((average_precision(&scores, &labels)?, roc_auc(&scores, &labels)?))
        };
        let (ap, auc) = pooled(&self.pos, &self.neg)?;
        let mut start = 0;
        let (mut sap, mut sauc) = (0.0, 0.0);
        for &end in &self.ends {
            let (a, u) = pooled(&self.pos[start..end], &self.neg[start..end])?;
            sap += a;
            sauc += u;
            start = end;
        }
        let nb = self.ends.len().max(1) as f64;
        let pairs = (self.pos.len() + self.neg.len()) as f64;
        Ok(SplitMetrics {
            ap,
            auc,
            ap_batch_mean: sap / nb,
            auc_batch_mean: sauc / nb,
            positives: self.pos.len(),
            batches: self.ends.len(),
            seconds: self.seconds,
            pairs_per_s: pairs / self.seconds.max(1e-9),
        })
    }
}

/// How evaluation batches are made.
#[derive(Debug, Clone)]
pub struct StreamConfig {
    pub batch_size: usize,
    pub neg: NegConfig,
    /// Keys the negative draws; fixed for evaluation so every epoch and every model
    /// sees the same negatives.
    pub round: u64,
    pub prefetch: usize,
    pub dst: DstRange,
}

/// Absorb events `model.absorbed()..upto` without scoring (stateful models only).
pub fn replay(
    model: &mut dyn TemporalModel,
    store: &dyn TemporalStore,
    upto: usize,
    batch_size: usize,
    tick: &mut dyn FnMut(usize),
) -> Result<(), TrainError> {
    if !model.stateful() {
        return Ok(());
    }
    let from = model.absorbed();
    if from > upto {
        return Err(TrainError::Invalid(format!(
            "the memory has absorbed {from} events, cannot rewind to {upto}: reset it first"
        )));
    }
    let times = event_times(store);
    for r in batch_ranges(&times, from..upto, batch_size) {
        let n = r.len();
        model.absorb(store, r, Carry::none())?;
        tick(n);
    }
    Ok(())
}

/// Score the events `range` (each batch: score, then absorb).
pub fn score_split(
    model: &mut dyn TemporalModel,
    store: Arc<dyn TemporalStore>,
    range: Range<usize>,
    cfg: &StreamConfig,
    tick: &mut dyn FnMut(usize),
) -> Result<Scored, TrainError> {
    let start = Instant::now();
    if model.stateful() && model.absorbed() != range.start {
        return Err(TrainError::Invalid(format!(
            "scoring events {}..{} needs a memory that absorbed exactly the {} events before them (it has {})",
            range.start,
            range.end,
            range.start,
            model.absorbed()
        )));
    }
    let times = event_times(&*store);
    let ranges = batch_ranges(&times, range.clone(), cfg.batch_size);
    let bcfg = BatchConfig {
        batch_size: cfg.batch_size,
        neg: cfg.neg,
        sampler: model.sampler_config(0),
        round: cfg.round,
        prefetch: cfg.prefetch,
        hist_negatives: 0.0,
    };
    let pipe = BatchPipeline::start(store.clone(), bcfg, cfg.dst, ranges)?;
    let mut out = Scored::default();
    for b in pipe {
        let b = b?;
        let n = b.len();
        let (pos, neg, carry) = tch::no_grad(|| -> Result<(Vec<f64>, Vec<f64>, Carry), TrainError> {
            let roots = Roots { nodes: &b.roots, t: &b.root_t, layers: &b.layers };
            let batch = PairBatch { roots, m: n, cutoff: b.range.start as EventId };
            let (logits, carry) = model.batch_logits(&*store, &batch)?;
            let logits = logits.sigmoid();
            let (p, q) = (logits.get(0), logits.get(1));
            let p = Vec::<f32>::try_from(p.to_device(tch::Device::Cpu))?;
            let q = Vec::<f32>::try_from(q.to_device(tch::Device::Cpu))?;
            Ok((p.into_iter().map(f64::from).collect(), q.into_iter().map(f64::from).collect(), carry))
        })?;
        out.pos.extend(pos);
        out.neg.extend(neg);
        out.ends.push(out.pos.len());
        // Same weights as the scoring pass: what it carries is what absorbing needs.
        model.absorb(&*store, b.range.clone(), carry)?;
        tick(n);
    }
    out.seconds = start.elapsed().as_secs_f64();
    Ok(out)
}
