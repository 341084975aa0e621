//! A trained model as an [`crate::eval::scorer::StreamScorer`]: the evaluation
//! protocols (and later the serving layer) drive it like any baseline.
//!
//! `start(upto)` resets the memory and replays events `0..upto` with the model's
//! weights (never trusting memory that may have seen the evaluated split);
//! `score` answers arbitrary `(src, dst, t)` queries of one batch from events
//! before the batch only: distinct `(node, t)` roots are embedded once (a rank
//! query's source appears once for its K + 1 candidates), then the decoder scores
//! every pair; `absorb` folds the batch into the memory.

use std::collections::HashMap;
use std::ops::Range;
use std::path::Path;

use tch::Device;

use crate::eval::scorer::{EvalError, StreamScorer, check_queries, check_range};
use crate::model::{Net, Roots};
use crate::sample::neighbors::NeighborSampler;
use crate::store::{EventId, NodeId, TemporalStore, Time};
use crate::train::checkpoint::{self as ck};
use crate::train::trainer::{CheckpointConfig, load_named};
use crate::train::{TrainError, stream};

pub struct ModelScorer {
    pub net: Net,
    /// Events per replay batch in `start`.
    batch_size: usize,
    /// Seed of the neighbour sampler (the one used in training).
    seed: u64,
    name: String,
}

fn ev(context: &str, e: impl std::error::Error + Send + Sync + 'static) -> EvalError {
    EvalError::source(context.to_string(), e)
}

impl ModelScorer {
    /// Load `model_dir` (written by `linkcast train`) onto `device`.
    pub fn open(model_dir: &Path, device: Device) -> Result<ModelScorer, TrainError> {
        let dir = ck::locate(model_dir)?;
        let config: CheckpointConfig = ck::read_json(&dir, ck::CONFIG)?;
        let net = Net::new(config.model.clone(), device, config.train.seed)?;
        load_named(&net, &dir.join(ck::WEIGHTS))?;
        Ok(ModelScorer::from_net(net, config.train.batch_size, config.train.seed))
    }

    /// Wrap a net in memory (tests, or a model just trained).
    pub fn from_net(net: Net, batch_size: usize, seed: u64) -> ModelScorer {
        let name = net.cfg.kind.to_string();
        ModelScorer { net, batch_size: batch_size.max(1), seed, name }
    }

    /// Check the graph fits the model (node count, feature widths).
    pub fn check_store(&self, store: &dyn TemporalStore) -> Result<(), TrainError> {
        self.net.check_store(store).map_err(TrainError::from)
    }

    /// `score` without touching any state: the model only reads its weights and
    /// memory, so this runs through `&self` (and from many threads at once).
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
        let n = src.len();
        if self.net.cfg.has_memory() && self.net.absorbed() != batch.start {
            return Err(EvalError::Causality {
                scorer: self.name.clone(),
                why: format!(
                    "scoring a batch starting at event {} with a memory that absorbed {} events",
                    batch.start,
                    self.net.absorbed()
                ),
            });
        }
        if n == 0 {
            return Ok(());
        }
        // Distinct (node, time) roots.
        let mut index: HashMap<(NodeId, u64), i64> = HashMap::with_capacity(n);
        let (mut nodes, mut times) = (Vec::with_capacity(n), Vec::with_capacity(n));
        let mut root = |v: NodeId, tt: Time| -> i64 {
            *index.entry((v, tt.to_bits())).or_insert_with(|| {
                nodes.push(v);
                times.push(tt);
                nodes.len() as i64 - 1
            })
        };
        let a: Vec<i64> = src.iter().zip(t).map(|(&s, &tt)| root(s, tt)).collect();
        let b: Vec<i64> = dst.iter().zip(t).map(|(&d, &tt)| root(d, tt)).collect();
        let sampler = NeighborSampler::new(store, self.net.sampler_config(self.seed))
            .map_err(|e| ev("neighbour sampler", e))?;
        let layers = sampler
            .sample_layers(&nodes, &times, batch.start as EventId)
            .map_err(|e| ev("neighbour sampling", e))?;
        let probs = tch::no_grad(|| -> Result<Vec<f32>, EvalError> {
            let emb = self
                .net
                .embed(store, Roots { nodes: &nodes, t: &times, layers: &layers })
                .map_err(|e| ev("embedding", e))?;
            let proj = self.net.project(&emb);
            let p = self.net.logits(&proj, &a, &b).sigmoid().to_device(Device::Cpu);
            Vec::<f32>::try_from(p).map_err(|e| ev("reading scores", e))
        })?;
        out.extend(probs.into_iter().map(f64::from));
        Ok(())
    }
}

impl StreamScorer for ModelScorer {
    fn name(&self) -> String {
        self.name.clone()
    }

    fn start(&mut self, store: &dyn TemporalStore, upto: usize) -> Result<(), EvalError> {
        self.net.check_store(store).map_err(|e| ev("model does not fit the graph", e))?;
        self.net.reset_memory();
        stream::replay(&mut self.net, store, upto, self.batch_size, &mut |_| {})
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

    fn absorb(&mut self, store: &dyn TemporalStore, batch: Range<usize>) -> Result<(), EvalError> {
        if !self.net.cfg.has_memory() {
            return Ok(());
        }
        if self.net.absorbed() != batch.start {
            return Err(EvalError::Causality {
                scorer: self.name(),
                why: format!("absorbing {}..{} after {} events", batch.start, batch.end, self.net.absorbed()),
            });
        }
        self.net.absorb(store, batch).map_err(|e| ev("absorbing a batch", e))
    }

    fn ensure_nodes(&mut self, num_nodes: u32) -> Result<(), EvalError> {
        self.net.grow(num_nodes);
        Ok(())
    }

    fn save_state(&self, path: &Path) -> Result<bool, EvalError> {
        match &self.net.memory {
            Some(m) => m.save(path).map(|_| true).map_err(|e| ev("saving the memory", e)),
            None => Ok(false),
        }
    }

    fn load_state(&mut self, path: &Path) -> Result<Option<usize>, EvalError> {
        match self.net.memory.as_mut() {
            Some(m) if path.exists() => {
                m.load(path).map_err(|e| ev("loading the memory", e))?;
                Ok(Some(m.absorbed))
            }
            _ => Ok(None),
        }
    }
}
