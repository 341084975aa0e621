//! A trained model as an [`crate::eval::scorer::StreamScorer`]: the evaluation
//! protocols and the serving layer drive it like any baseline, through the model
//! interface ([`TemporalModel`]) whatever the family.
//!
//! `start(upto)` resets the model's state and replays events `0..upto` with the
//! model's weights (never trusting state that may have seen the evaluated split);
//! `score` answers arbitrary `(src, dst, t)` queries of one batch from events
//! before the batch only (the model decides how: node-embedding families embed
//! each distinct `(node, t)` once, pair models each pair); `absorb` folds the
//! batch into the state.
//!
//! The scorer owns its model (`Box`, the default) or borrows one (`&mut dyn
//! TemporalModel`: the trainer ranks its validation split with the model it trains).

use std::ops::{DerefMut, Range};
use std::path::Path;

use tch::Device;

use crate::eval::scorer::{EvalError, StreamScorer, check_queries, check_range};
use crate::eval::sides::{CandidateRows, SideDecoder};
use crate::model::{Carry, Pairs, TemporalModel};
use crate::store::{EventId, NodeId, TemporalStore, Time};
use crate::train::checkpoint::{self as ck};
use crate::train::trainer::{CheckpointConfig, load_named};
use crate::train::{TrainError, stream};

pub struct ModelScorer<M = Box<dyn TemporalModel>> {
    pub model: M,
    /// Events per replay batch in `start`.
    batch_size: usize,
    /// Seed of the neighbour sampler (the one used in training).
    seed: u64,
    name: String,
}

fn ev(context: &str, e: impl std::error::Error + Send + Sync + 'static) -> EvalError {
    EvalError::source(context.to_string(), e)
}

impl ModelScorer<Box<dyn TemporalModel>> {
    /// Load `model_dir` (written by `linkcast train`) onto `device`.
    pub fn open(model_dir: &Path, device: Device) -> Result<ModelScorer, TrainError> {
        let dir = ck::locate(model_dir)?;
        ck::verify(&dir)?;
        let config: CheckpointConfig = ck::read_json(&dir, ck::CONFIG)?;
        let model = crate::model::build(config.model.clone(), device, config.train.seed)?;
        load_named(&*model, &dir.join(ck::WEIGHTS))?;
        Ok(ModelScorer::from_model(model, config.train.batch_size, config.train.seed))
    }

    /// Wrap a model in memory (tests, or a model just trained).
    pub fn from_model(model: Box<dyn TemporalModel>, batch_size: usize, seed: u64) -> ModelScorer {
        ModelScorer::wrap(model, batch_size, seed)
    }
}

impl<'a> ModelScorer<&'a mut (dyn TemporalModel + 'static)> {
    /// Score with a model borrowed for the scorer's life.
    pub fn borrowed(model: &'a mut (dyn TemporalModel + 'static), batch_size: usize, seed: u64) -> Self {
        ModelScorer::wrap(model, batch_size, seed)
    }
}

impl<M: DerefMut<Target = dyn TemporalModel> + Send + Sync> ModelScorer<M> {
    fn wrap(model: M, batch_size: usize, seed: u64) -> Self {
        let name = model.config().kind.to_string();
        ModelScorer { model, batch_size: batch_size.max(1), seed, name }
    }

    /// The cutoff to answer a shared query at `t` from (every event of `store`), or
    /// `None` when the model's state is behind the store (the caller must go
    /// through `score`); an error for a time the model cannot encode.
    fn shared_cutoff(&self, store: &dyn TemporalStore, t: Time) -> Result<Option<EventId>, EvalError> {
        let n = store.num_events();
        if self.model.stateful() && self.model.absorbed() != n {
            return Ok(None);
        }
        if !t.is_finite() {
            return Err(EvalError::Causality { scorer: self.name.clone(), why: format!("query time {t}") });
        }
        Ok(Some(n as EventId))
    }

    /// Check the graph fits the model (node count, feature widths).
    pub fn check_store(&self, store: &dyn TemporalStore) -> Result<(), TrainError> {
        self.model.check_store(store).map_err(TrainError::from)
    }

    /// `score` without touching any state: the model only reads its weights and
    /// state, so this runs through `&self` (and from many threads at once).
    fn score_batch(
        &self,
        store: &dyn TemporalStore,
        batch: Range<usize>,
        src: &[NodeId],
        dst: &[NodeId],
        t: &[Time],
        out: &mut Vec<f64>,
    ) -> Result<(), EvalError> {
        out.clear();
        check_range(&batch, store.num_events())?;
        check_queries(&self.name, src, dst, t)?;
        if self.model.stateful() && self.model.absorbed() != batch.start {
            return Err(EvalError::Causality {
                scorer: self.name.clone(),
                why: format!(
                    "scoring a batch starting at event {} with a state that absorbed {} events",
                    batch.start,
                    self.model.absorbed()
                ),
            });
        }
        if src.is_empty() {
            return Ok(());
        }
        let probs = self
            .model
            .score_pairs(store, batch.start as EventId, Pairs { src, dst, t }, self.seed)
            .map_err(|e| ev("scoring pairs", e))?;
        out.extend(probs.into_iter().map(f64::from));
        Ok(())
    }
}

impl<M: DerefMut<Target = dyn TemporalModel> + Send + Sync> StreamScorer for ModelScorer<M> {
    fn name(&self) -> String {
        self.name.clone()
    }

    fn start(&mut self, store: &dyn TemporalStore, upto: usize) -> Result<(), EvalError> {
        self.model.check_store(store).map_err(|e| ev("model does not fit the graph", e))?;
        self.model.reset_state();
        stream::replay(&mut *self.model, store, upto, self.batch_size, &mut |_| {})
            .map_err(|e| ev("replaying the events before the evaluated split", e))
    }

    fn score(
        &mut self,
        store: &dyn TemporalStore,
        batch: Range<usize>,
        src: &[NodeId],
        dst: &[NodeId],
        t: &[Time],
        out: &mut Vec<f64>,
    ) -> Result<(), EvalError> {
        self.score_batch(store, batch, src, dst, t, out)
    }

    fn score_shared(
        &self,
        store: &dyn TemporalStore,
        src: &[NodeId],
        dst: &[NodeId],
        t: &[Time],
        out: &mut Vec<f64>,
    ) -> Result<bool, EvalError> {
        let n = store.num_events();
        self.score_batch(store, n..n, src, dst, t, out).map(|()| true)
    }

    fn score_grid(
        &self,
        store: &dyn TemporalStore,
        src: &[NodeId],
        cand: &[NodeId],
        t: Time,
        out: &mut Vec<f64>,
    ) -> Result<bool, EvalError> {
        let Some(cutoff) = self.shared_cutoff(store, t)? else { return Ok(false) };
        let grid = self
            .model
            .score_grid(store, cutoff, src, cand, t, self.seed)
            .map_err(|e| ev("scoring a grid of pairs", e))?;
        let Some(p) = grid else { return Ok(false) };
        out.clear();
        out.extend(p.into_iter().map(f64::from));
        Ok(true)
    }

    fn candidate_rows(
        &self,
        store: &dyn TemporalStore,
        cand: &[NodeId],
        t: Time,
    ) -> Result<Option<CandidateRows>, EvalError> {
        let Some(cutoff) = self.shared_cutoff(store, t)? else { return Ok(None) };
        self.model.candidate_rows(store, cutoff, cand, t, self.seed).map_err(|e| ev("candidate rows", e))
    }

    fn source_rows(
        &self,
        store: &dyn TemporalStore,
        src: &[NodeId],
        t: Time,
    ) -> Result<Option<Vec<f32>>, EvalError> {
        let Some(cutoff) = self.shared_cutoff(store, t)? else { return Ok(None) };
        self.model.source_rows(store, cutoff, src, t, self.seed).map_err(|e| ev("source rows", e))
    }

    fn side_decoder(&self) -> Option<SideDecoder> {
        self.model.side_decoder()
    }

    fn absorb(&mut self, store: &dyn TemporalStore, batch: Range<usize>) -> Result<(), EvalError> {
        if !self.model.stateful() {
            return Ok(());
        }
        if self.model.absorbed() != batch.start {
            return Err(EvalError::Causality {
                scorer: self.name(),
                why: format!(
                    "absorbing {}..{} after {} events",
                    batch.start,
                    batch.end,
                    self.model.absorbed()
                ),
            });
        }
        self.model.absorb(store, batch, Carry::none()).map_err(|e| ev("absorbing a batch", e))
    }

    fn ensure_nodes(&mut self, num_nodes: u32) -> Result<(), EvalError> {
        self.model.grow(num_nodes);
        Ok(())
    }

    fn save_state(&self, path: &Path) -> Result<bool, EvalError> {
        self.model.save_state(path).map_err(|e| ev("saving the model state", e))
    }

    fn load_state(&mut self, path: &Path) -> Result<Option<usize>, EvalError> {
        if !self.model.stateful() || !path.exists() {
            return Ok(None);
        }
        self.model.load_state(path).map_err(|e| ev("loading the model state", e))
    }
}
