//! [`TemporalModel`]: the one interface every model family implements, below
//! [`crate::eval::scorer::StreamScorer`]. The trainer, streaming validation,
//! `eval`, the serving layer, the benchmarks and data-parallel training drive a
//! model only through it (as `Box<dyn TemporalModel>`, built by
//! [`crate::model::registry::build`]).
//!
//! What a model is, in four parts:
//! - **Weights**: a `VarStore` (saved by name; the trainer snapshots, restores,
//!   optimises and broadcasts them without knowing the family).
//! - **State** kept between batches: node memory (TGN, JODIE, DyRep), projections
//!   of walk matrices (TPNet), or none (TGAT, GraphMixer, DyGFormer). It is reset,
//!   absorbed batch by batch, saved with its watermark, restored, grown for new
//!   nodes, and replicated across ranks by every rank absorbing the same batches.
//! - **Scoring** arbitrary `(src, dst, t)` pairs from events before a cut-off: the
//!   model decides whether it embeds each endpoint once (node-embedding families,
//!   [`crate::model::embedded`]) or each pair on its own.
//! - **Training**: logits and the loss of a batch laid out `[src (m), dst (m),
//!   negative dst (m)]`, the layout the batch pipeline prepares.
//!
//! Time convention (design.md invariants 1-3): a batch whose first event id is
//! `cutoff` is answered from events with id `< cutoff` and from state that absorbed
//! exactly those; absorbing comes after scoring. Callers check the watermark; a
//! model trusts what it is given.

use std::any::Any;
use std::ops::Range;
use std::path::Path;

use tch::{Device, Tensor, nn};

use crate::eval::sides::{CandidateRows, SideDecoder};
use crate::model::{ModelConfig, ModelError};
use crate::sample::neighbors::{Sampled, SamplerConfig, Strategy};
use crate::store::{EventId, NodeId, TemporalStore, Time};

/// Roots of one forward pass: `nodes[i]` at `t[i]`, and the sampled layers
/// (`layers[0]` is `R x k`, root-major; see [`crate::sample::neighbors`]).
#[derive(Clone, Copy)]
pub struct Roots<'a> {
    pub nodes: &'a [NodeId],
    pub t: &'a [Time],
    pub layers: &'a [Sampled],
}

/// A training or validation batch as the model sees it: roots laid out `[src (m),
/// dst (m), negative dst (m)]` with their sampled neighbourhoods, all from events
/// with id `< cutoff`. Positive `i` is `(src_i, dst_i)`, negative `i` `(src_i, neg_i)`.
#[derive(Clone, Copy)]
pub struct PairBatch<'a> {
    pub roots: Roots<'a>,
    pub m: usize,
    pub cutoff: EventId,
}

impl PairBatch<'_> {
    /// The batch's endpoints (sources and positive destinations): the nodes whose
    /// state the batch's own events change.
    pub fn endpoints(&self) -> &[NodeId] {
        &self.roots.nodes[..2 * self.m]
    }
}

/// Queries for [`TemporalModel::score_pairs`]: pair `i` is `(src[i], dst[i])` at
/// `t[i]` (one length).
#[derive(Clone, Copy)]
pub struct Pairs<'a> {
    pub src: &'a [NodeId],
    pub dst: &'a [NodeId],
    pub t: &'a [Time],
}

/// What scoring a batch hands on to absorbing it, opaque outside the family (TGN:
/// the memory rows its forward pass folded, so absorbing does not recompute them).
/// Absorbing with [`Carry::none`] is always correct, only maybe slower.
#[derive(Default)]
pub struct Carry(Option<Box<dyn Any + Send>>);

impl Carry {
    pub fn none() -> Carry {
        Carry(None)
    }
    pub fn new<T: Any + Send>(value: T) -> Carry {
        Carry(Some(Box::new(value)))
    }
    /// The carried value, when there is one of type `T`.
    pub fn take<T: Any>(self) -> Option<T> {
        self.0.and_then(|b| b.downcast::<T>().ok()).map(|b| *b)
    }
}

/// A model family behind one interface (see the module docs).
///
/// `Sync`: every `&self` method runs out-of-place libtorch operators only (many
/// serving threads score through one model at once); in-place writes to weights or
/// state need `&mut self`.
pub trait TemporalModel: Send + Sync + std::fmt::Debug {
    // --- What it is --------------------------------------------------------------

    /// The configuration it was built from (saved with every checkpoint).
    fn config(&self) -> &ModelConfig;
    fn device(&self) -> Device;
    /// The weights (names are stable: checkpoints load by name).
    fn vars(&self) -> &nn::VarStore;

    /// The neighbourhoods the batch pipeline samples for this model's roots.
    fn sampler_config(&self, seed: u64) -> SamplerConfig {
        SamplerConfig::new(self.config().fanouts(), Strategy::Recent, seed)
    }

    /// Check that the graph fits the model (node count, feature widths).
    fn check_store(&self, store: &dyn TemporalStore) -> Result<(), ModelError> {
        check_sizes(self.config(), store)
    }

    // --- State between batches -----------------------------------------------------

    /// Whether absorbing events changes what the model answers (memory, projections).
    /// Stateless models (`false`) answer from the store alone; the methods below are
    /// then no-ops.
    fn stateful(&self) -> bool {
        false
    }
    /// Events `0..absorbed()` are in the state (0 when stateless).
    fn absorbed(&self) -> usize {
        0
    }
    /// Time of the newest absorbed event (`None`: nothing absorbed, or stateless).
    fn watermark_time(&self) -> Option<f64> {
        None
    }
    /// Start the state over (no events absorbed).
    fn reset_state(&mut self) {}
    /// Fold events `range` into the state (no gradients), after they were scored.
    /// `range.start` must equal `absorbed()`. `carry` is what scoring this batch at
    /// this state returned, or [`Carry::none`].
    fn absorb(
        &mut self,
        _store: &dyn TemporalStore,
        _range: Range<usize>,
        _carry: Carry,
    ) -> Result<(), ModelError> {
        Ok(())
    }
    /// For a data-parallel replica that scored only a slice of `batch`: what
    /// absorbing the whole batch needs so that every replica stores the state one
    /// process would (computed now, with the weights before the optimiser step).
    fn replica_carry(&self, _store: &dyn TemporalStore, _batch: &PairBatch<'_>) -> Result<Carry, ModelError> {
        Ok(Carry::none())
    }
    /// Make room for node ids `< num_nodes` (live appends); new nodes get fresh state.
    /// The weights never depend on the node count.
    fn grow(&mut self, num_nodes: u32);
    /// Save the state with its watermark to `path`; `false` when stateless.
    fn save_state(&self, _path: &Path) -> Result<bool, ModelError> {
        Ok(false)
    }
    /// Restore what `save_state` wrote: the events it had absorbed, or `None` when
    /// stateless (rebuilt by replay instead).
    fn load_state(&mut self, _path: &Path) -> Result<Option<usize>, ModelError> {
        Ok(None)
    }
    /// Bytes the state holds (all nodes).
    fn state_bytes(&self) -> u64 {
        0
    }
    /// The state's tensors by name (copies), for records that compare replicas.
    fn state_tensors(&self) -> Vec<(String, Tensor)> {
        Vec::new()
    }

    // --- Scoring and training ------------------------------------------------------

    /// Probabilities of `pairs` from events with id `< cutoff` and the current state
    /// (no gradients). `seed` keys any sampling the model does.
    fn score_pairs(
        &self,
        store: &dyn TemporalStore,
        cutoff: EventId,
        pairs: Pairs<'_>,
        seed: u64,
    ) -> Result<Vec<f32>, ModelError>;

    /// Probabilities of every pair of `src x cand` at time `t`, source-major, from
    /// events with id `< cutoff`, when the model can share the candidates' work
    /// across sources (node-embedding families: each node embedded once); `None`
    /// for models that score each pair on its own (the caller scores pairs).
    fn score_grid(
        &self,
        _store: &dyn TemporalStore,
        _cutoff: EventId,
        _src: &[NodeId],
        _cand: &[NodeId],
        _t: Time,
        _seed: u64,
    ) -> Result<Option<Vec<f32>>, ModelError> {
        Ok(None)
    }

    /// The candidates' side of the decoder at `t` from events `< cutoff`
    /// ([`CandidateRows`]), for models whose score splits as
    /// `w . relu(src_row + cand_row) + b` and whose candidate rows read at most one
    /// sampled layer; `None` otherwise (pair models, deeper embeddings).
    fn candidate_rows(
        &self,
        _store: &dyn TemporalStore,
        _cutoff: EventId,
        _cand: &[NodeId],
        _t: Time,
        _seed: u64,
    ) -> Result<Option<CandidateRows>, ModelError> {
        Ok(None)
    }

    /// The sources' side (`[S, width]`) matching [`TemporalModel::candidate_rows`];
    /// `None` where that is `None`.
    fn source_rows(
        &self,
        _store: &dyn TemporalStore,
        _cutoff: EventId,
        _src: &[NodeId],
        _t: Time,
        _seed: u64,
    ) -> Result<Option<Vec<f32>>, ModelError> {
        Ok(None)
    }

    /// The decoder's last layer that joins the two sides; `None` where
    /// [`TemporalModel::candidate_rows`] is `None`.
    fn side_decoder(&self) -> Option<SideDecoder> {
        None
    }

    /// Logits `[2, m]` of `batch`'s positives (row 0) and negatives (row 1), with
    /// gradients, and what absorbing the batch may reuse.
    fn batch_logits(
        &self,
        store: &dyn TemporalStore,
        batch: &PairBatch<'_>,
    ) -> Result<(Tensor, Carry), ModelError>;

    /// The training loss of `batch` under `loss` ([`pair_loss`]): means over the
    /// batch; with `Some(total)`, sums divided by `total` (a replica's share of a
    /// global batch of `total` positives).
    fn batch_loss(
        &self,
        store: &dyn TemporalStore,
        batch: &PairBatch<'_>,
        total: Option<usize>,
        loss: Loss,
    ) -> Result<(Tensor, Carry), ModelError> {
        let (logits, carry) = self.batch_logits(store, batch)?;
        Ok((pair_loss(&logits, total, loss), carry))
    }

    /// The trainable variables, in name order.
    fn trainables(&self) -> Vec<(String, Tensor)> {
        let mut v: Vec<(String, Tensor)> =
            self.vars().variables().into_iter().filter(|(_, t)| t.requires_grad()).collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    }
}

/// The training objective over a batch's logits `[2, m]` (positive `i` and its
/// negative in column `i`): `train --loss`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub enum Loss {
    /// Binary cross-entropy: positives against ones, negatives against zeros
    /// (TGN's). Each pair is judged alone, so nothing asks the model to put a
    /// positive above the negative it was drawn with.
    #[default]
    #[serde(rename = "bce")]
    Bce,
    /// Bayesian personalised ranking: `-ln sigmoid(s_pos - s_neg)` per column,
    /// the pairwise form of the ranking question (a positive against a negative
    /// of the same source and time). Only differences are trained, so scores are
    /// ranks, not probabilities.
    #[serde(rename = "pairwise")]
    Pairwise,
    /// The sum of the two: ranked pairs and calibrated probabilities.
    #[serde(rename = "bce+pairwise")]
    BcePairwise,
}

impl std::str::FromStr for Loss {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "bce" => Ok(Loss::Bce),
            "pairwise" | "bpr" => Ok(Loss::Pairwise),
            "bce+pairwise" => Ok(Loss::BcePairwise),
            other => Err(format!("unknown loss {other:?}: expected bce, pairwise or bce+pairwise")),
        }
    }
}

impl std::fmt::Display for Loss {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Loss::Bce => "bce",
            Loss::Pairwise => "pairwise",
            Loss::BcePairwise => "bce+pairwise",
        })
    }
}

/// `loss` of logits `[2, m]` (see [`TemporalModel::batch_loss`]): BCE is the sum
/// of the positives' and the negatives' means, the pairwise term the mean over
/// columns; with `Some(total)` every mean is a sum divided by `total`.
pub fn pair_loss(logits: &Tensor, total: Option<usize>, loss: Loss) -> Tensor {
    let (pos, neg) = (logits.get(0), logits.get(1));
    let red = if total.is_some() { tch::Reduction::Sum } else { tch::Reduction::Mean };
    let bce = || {
        pos.binary_cross_entropy_with_logits::<Tensor>(&pos.ones_like(), None, None, red)
            + neg.binary_cross_entropy_with_logits::<Tensor>(&neg.zeros_like(), None, None, red)
    };
    // softplus(neg - pos) = -ln sigmoid(pos - neg), stable for large gaps.
    let bpr = || {
        let d = (&neg - &pos).softplus();
        if total.is_some() { d.sum(tch::Kind::Float) } else { d.mean(tch::Kind::Float) }
    };
    let out = match loss {
        Loss::Bce => bce(),
        Loss::Pairwise => bpr(),
        Loss::BcePairwise => bce() + bpr(),
    };
    match total {
        Some(t) => out / t as f64,
        None => out,
    }
}

/// The graph must not have more nodes than the model was built for, and its edge
/// and node feature widths must be the model's.
pub fn check_sizes(c: &ModelConfig, store: &dyn TemporalStore) -> Result<(), ModelError> {
    if store.num_nodes() > c.num_nodes {
        return Err(ModelError::Mismatch(format!(
            "the graph has {} nodes, the model was built for {}",
            store.num_nodes(),
            c.num_nodes
        )));
    }
    if store.feat_dim() != c.edge_dim || store.node_feat_dim() != c.node_dim {
        return Err(ModelError::Mismatch(format!(
            "the graph has {} edge and {} node features, the model expects {} and {}",
            store.feat_dim(),
            store.node_feat_dim(),
            c.edge_dim,
            c.node_dim
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Hand values: softplus(x) = ln(1 + e^x); positives [2, -1], negatives [0, 1].
    /// BPR: (softplus(-2) + softplus(2)) / 2 = 1.126928; BCE: (softplus(-2) +
    /// softplus(1)) / 2 + (softplus(0) + softplus(1)) / 2 = 1.723299 (Python's
    /// math.log1p(math.exp(x)), not this code).
    #[test]
    fn pair_losses_match_hand_values() {
        let logits = Tensor::from_slice(&[2.0f32, -1.0, 0.0, 1.0]).view([2, 2]);
        let v = |l: Loss, total| pair_loss(&logits, total, l).double_value(&[]);
        assert!((v(Loss::Pairwise, None) - 1.126928).abs() < 1e-5);
        assert!((v(Loss::Bce, None) - 1.723299).abs() < 1e-5);
        assert!((v(Loss::BcePairwise, None) - (1.126928 + 1.723299)).abs() < 1e-5);
        // A replica's share: sums over its columns divided by the global batch.
        assert!((v(Loss::Pairwise, Some(4)) - 0.563464).abs() < 1e-5);
        assert!((v(Loss::Bce, Some(4)) - 0.861650).abs() < 1e-5);
        for l in [Loss::Bce, Loss::Pairwise, Loss::BcePairwise] {
            assert_eq!(l.to_string().parse::<Loss>().unwrap(), l);
            let json = serde_json::to_string(&l).unwrap();
            assert_eq!(json, format!("\"{l}\""));
        }
        assert!("hinge".parse::<Loss>().is_err());
    }
}
