//! The TGN family: TGN, JODIE, DyRep and TGAT ([`ModelKind`] presets over one
//! network, [`TgnNet`]). Per-node memory (not TGAT) updated by a GRU or RNN cell
//! from pending messages, an embedding of each root (temporal graph attention over
//! sampled neighbours, the memory itself, or JODIE's time projection), and the MLP
//! link decoder on pairs of embeddings. Endpoints are embedded once per batch
//! ([`crate::model::embedded`]).
//!
//! - `embed.rs`: memory with pending messages folded in, node inputs, attention.
//! - `absorb.rs`: folding a scored batch into the memory (TGN's order).
//! - `memory.rs`: the memory state and its messages, saved with the watermark.
//!
//! Time convention: the host computes `dt = t_root - t_neighbour` in `f64` and
//! ships it as `f32`; memory is plain tensors outside the `VarStore`, detached
//! between batches, never a trainable parameter.

mod absorb;
mod embed;
pub mod memory;
#[cfg(test)]
mod tests;

use std::ops::Range;
use std::path::Path;

use tch::nn;
use tch::{Device, Tensor};

pub use absorb::Folded;

use crate::eval::sides::{CandidateRows, SideDecoder};
use crate::model::ModelError;
use crate::model::api::{Carry, PairBatch, Pairs, Roots, TemporalModel};
use crate::model::config::{Embedding, ModelConfig, ModelKind, Updater};
use crate::model::embedded::{self, NodeEmbedder};
use crate::model::parts::{LinkDecoder, MemoryCell, TemporalAttention, TimeEncoder};
use crate::sample::neighbors::SamplerConfig;
use crate::store::{EventId, NodeId, TemporalStore, Time};
use memory::Memory;

/// The network of the TGN family: weights, the parts its preset asks for, and the
/// memory (models with memory).
#[derive(Debug)]
pub struct TgnNet {
    cfg: ModelConfig,
    vs: nn::VarStore,
    device: Device,
    time: TimeEncoder,
    attn: Vec<TemporalAttention>,
    cell: Option<MemoryCell>,
    node_proj: Option<nn::Linear>,
    jodie: Option<nn::Linear>,
    decoder: LinkDecoder,
    pub memory: Option<Memory>,
}

// SAFETY: `TgnNet` is `!Sync` only because `tch::Tensor` is (tch marks it `Send`
// but not `Sync`, conservatively). Every method taking `&self` runs out-of-place
// libtorch operators that read the weight and memory tensors and allocate new
// outputs; all in-place writes (memory persist/store, optimiser steps through
// `&mut` handles, `grow`, `reset_state`, loading) need `&mut TgnNet` or
// `&mut Memory`, so Rust's borrow rules already exclude them while any `&TgnNet`
// is shared. libtorch supports concurrent reads of one tensor from many threads
// (atomic reference counts, thread-local grad mode; concurrent inference through
// one module is a documented PyTorch use, and tch itself marks `CModule` `Sync`).
// Live serving relies on this to score from many threads at once (`crate::serve`).
unsafe impl Sync for TgnNet {}

impl TgnNet {
    /// Build the net for `cfg` (validated, of a TGN-family kind) on `device`; the
    /// caller has seeded libtorch's generator ([`crate::model::registry::build`]).
    pub fn new(cfg: ModelConfig, device: Device) -> Result<TgnNet, ModelError> {
        if cfg.kind == ModelKind::Graphmixer {
            return Err(ModelError::Config("graphmixer is not of the TGN family".into()));
        }
        let vs = nn::VarStore::new(device);
        let root = vs.root();
        // Weights are created in this order (time, attention, cell, node projection,
        // JODIE's projection, decoder): the seeded draws and the names are what
        // checkpoints of earlier builds hold.
        let mut time = TimeEncoder::new(&root / "time", cfg.time_dim, cfg.time_trainable);
        time.max = cfg.dt_max;
        let x = cfg.node_input_dim();
        let attn_layers = match cfg.embedding {
            Embedding::Attention => cfg.layers,
            _ if cfg.dst_embedding_in_message => cfg.layers,
            _ => 0,
        };
        let attn = (0..attn_layers)
            .map(|l| {
                let nd = if l == 0 { x } else { cfg.emb_dim };
                TemporalAttention::new(
                    &root / format!("attn{l}"),
                    nd,
                    cfg.edge_dim,
                    cfg.time_dim,
                    cfg.heads,
                    cfg.emb_dim,
                )
            })
            .collect();
        let other_dim = if cfg.dst_embedding_in_message { cfg.emb_dim } else { cfg.memory_dim };
        let cell = cfg.has_memory().then(|| {
            let input = cfg.memory_dim + other_dim + cfg.time_dim + cfg.edge_dim;
            MemoryCell::new(&root / "memory", input, cfg.memory_dim, cfg.updater == Updater::Gru)
        });
        let node_proj = (cfg.node_dim > 0)
            .then(|| nn::linear(&root / "node_proj", cfg.node_dim as i64, x as i64, Default::default()));
        let jodie = (cfg.embedding == Embedding::TimeProjection).then(|| {
            let c =
                nn::LinearConfig { ws_init: nn::Init::Randn { mean: 0.0, stdev: 0.1 }, ..Default::default() };
            nn::linear(&root / "time_proj", 1, cfg.memory_dim as i64, c)
        });
        let emb_out = match cfg.embedding {
            Embedding::Identity | Embedding::TimeProjection => cfg.memory_dim,
            Embedding::Attention => cfg.emb_dim,
        };
        let decoder = LinkDecoder::new(&root / "decoder", emb_out);
        let memory = cfg.has_memory().then(|| {
            Memory::new(
                cfg.num_nodes as usize,
                cfg.memory_dim,
                other_dim,
                cfg.edge_dim,
                cfg.aggregator,
                cfg.time_origin,
                device,
            )
        });
        Ok(TgnNet { cfg, vs, device, time, attn, cell, node_proj, jodie, decoder, memory })
    }

    fn sampler(&self, seed: u64) -> SamplerConfig {
        SamplerConfig::new(self.cfg.fanouts(), crate::sample::neighbors::Strategy::Recent, seed)
    }
}

impl NodeEmbedder for TgnNet {
    fn embed(&self, store: &dyn TemporalStore, roots: Roots<'_>) -> Result<(Tensor, Carry), ModelError> {
        let (emb, folded) = self.embed_folded(store, roots)?;
        Ok((emb, folded.map_or_else(Carry::none, Carry::new)))
    }
    fn decoder(&self) -> &LinkDecoder {
        &self.decoder
    }
    fn embed_device(&self) -> Device {
        self.device
    }
    fn embed_sampler(&self, seed: u64) -> SamplerConfig {
        self.sampler(seed)
    }
}

impl TemporalModel for TgnNet {
    fn config(&self) -> &ModelConfig {
        &self.cfg
    }
    fn device(&self) -> Device {
        self.device
    }
    fn vars(&self) -> &nn::VarStore {
        &self.vs
    }
    fn sampler_config(&self, seed: u64) -> SamplerConfig {
        self.sampler(seed)
    }

    fn stateful(&self) -> bool {
        self.memory.is_some()
    }
    fn absorbed(&self) -> usize {
        self.memory.as_ref().map_or(0, |m| m.absorbed)
    }
    fn watermark_time(&self) -> Option<f64> {
        self.memory.as_ref().map(|m| m.watermark_time).filter(|t| t.is_finite())
    }
    fn reset_state(&mut self) {
        if let Some(m) = self.memory.as_mut() {
            m.reset();
        }
    }
    fn absorb(
        &mut self,
        store: &dyn TemporalStore,
        range: Range<usize>,
        carry: Carry,
    ) -> Result<(), ModelError> {
        self.absorb_folded(store, range, carry.take::<Folded>())
    }
    fn replica_carry(&self, _store: &dyn TemporalStore, batch: &PairBatch<'_>) -> Result<Carry, ModelError> {
        Ok(self.fold_pending(batch.endpoints())?.map_or_else(Carry::none, Carry::new))
    }
    fn grow(&mut self, nodes: u32) {
        if nodes <= self.cfg.num_nodes {
            return;
        }
        self.cfg.num_nodes = nodes;
        if let Some(m) = self.memory.as_mut() {
            m.grow(nodes as usize);
        }
    }
    fn save_state(&self, path: &Path) -> Result<bool, ModelError> {
        match &self.memory {
            Some(m) => m.save(path).map(|()| true),
            None => Ok(false),
        }
    }
    fn load_state(&mut self, path: &Path) -> Result<Option<usize>, ModelError> {
        match self.memory.as_mut() {
            Some(m) => {
                m.load(path)?;
                Ok(Some(m.absorbed))
            }
            None => Ok(None),
        }
    }
    fn state_bytes(&self) -> u64 {
        self.memory.as_ref().map_or(0, |m| m.bytes() as u64)
    }
    fn state_tensors(&self) -> Vec<(String, Tensor)> {
        self.memory.iter().map(|m| ("memory.mem".to_string(), m.mem.detach().copy())).collect()
    }

    fn score_pairs(
        &self,
        store: &dyn TemporalStore,
        cutoff: EventId,
        pairs: Pairs<'_>,
        seed: u64,
    ) -> Result<Vec<f32>, ModelError> {
        embedded::score_pairs(self, store, cutoff, pairs, seed)
    }
    fn candidate_rows(
        &self,
        store: &dyn TemporalStore,
        cutoff: EventId,
        cand: &[NodeId],
        t: Time,
        seed: u64,
    ) -> Result<Option<CandidateRows>, ModelError> {
        embedded::candidate_rows(self, store, cutoff, cand, t, seed)
    }
    fn source_rows(
        &self,
        store: &dyn TemporalStore,
        cutoff: EventId,
        src: &[NodeId],
        t: Time,
        seed: u64,
    ) -> Result<Option<Vec<f32>>, ModelError> {
        embedded::source_rows(self, store, cutoff, src, t, seed).map(Some)
    }
    fn side_decoder(&self) -> Option<SideDecoder> {
        self.decoder.side_decoder()
    }
    fn score_grid(
        &self,
        store: &dyn TemporalStore,
        cutoff: EventId,
        src: &[NodeId],
        cand: &[NodeId],
        t: Time,
        seed: u64,
    ) -> Result<Option<Vec<f32>>, ModelError> {
        embedded::score_grid(self, store, cutoff, src, cand, t, seed).map(Some)
    }
    fn batch_logits(
        &self,
        store: &dyn TemporalStore,
        batch: &PairBatch<'_>,
    ) -> Result<(Tensor, Carry), ModelError> {
        embedded::batch_logits(self, store, batch)
    }
}
