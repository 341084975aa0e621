//! GraphMixer (Cong et al., ICLR 2023): an MLP-mixer over each node's `K` most
//! recent links (edge features and a fixed cosine encoding of `t - t_j`, zeros at
//! padding), mean-pooled, plus a node encoder (own features and the mean of the
//! sampled neighbours' features) when the graph has node features; the shared MLP
//! link decoder on pairs of embeddings. No state between batches: a query is
//! answered from the store alone. Endpoints are embedded once per batch
//! ([`crate::model::embedded`]).
//!
//! Shapes: `R` roots, `K` links per root (`neighbors` in the config), `c` channels
//! (`emb_dim`); the mixer works on `[R, K, c]`.

use tch::nn::{self, Module};
use tch::{Device, Kind, Tensor};

use crate::eval::sides::{CandidateRows, SideDecoder};
use crate::model::ModelError;
use crate::model::api::{Carry, PairBatch, Pairs, Roots, TemporalModel};
use crate::model::config::{ModelConfig, ModelKind};
use crate::model::embedded::{self, NodeEmbedder};
use crate::model::inputs::{f32s, gather_edges, gather_nodes};
use crate::model::parts::{LinkDecoder, MixerBlock, TimeEncoder};
use crate::sample::neighbors::{SamplerConfig, Strategy};
use crate::store::{EventId, NodeId, TemporalStore, Time};

#[derive(Debug)]
pub struct GraphMixer {
    cfg: ModelConfig,
    vs: nn::VarStore,
    device: Device,
    time: TimeEncoder,
    token_in: nn::Linear,
    blocks: Vec<MixerBlock>,
    out: nn::Linear,
    node_in: Option<nn::Linear>,
    merge: Option<nn::Linear>,
    decoder: LinkDecoder,
}

// SAFETY: as for `TgnNet` (src/model/tgn/mod.rs): `!Sync` only through
// `tch::Tensor`; every `&self` method runs out-of-place operators on the weights,
// every in-place write needs `&mut`.
unsafe impl Sync for GraphMixer {}

impl GraphMixer {
    /// Build the mixer for `cfg` (validated, kind GraphMixer) on `device`; the
    /// caller has seeded libtorch's generator.
    pub fn new(cfg: ModelConfig, device: Device) -> Result<GraphMixer, ModelError> {
        if cfg.kind != ModelKind::Graphmixer {
            return Err(ModelError::Config(format!("{} is not graphmixer", cfg.kind)));
        }
        let vs = nn::VarStore::new(device);
        let root = vs.root();
        // Creation order (time encoder, mixer, decoder) and names are what
        // checkpoints of earlier builds hold; the time encoding is always fixed.
        let mut time = TimeEncoder::new(&root / "time", cfg.time_dim, false);
        time.max = cfg.dt_max;
        let c = cfg.emb_dim;
        let p = &root / "mixer";
        let token_in =
            nn::linear(&p / "token_in", (cfg.edge_dim + cfg.time_dim) as i64, c as i64, Default::default());
        let blocks = (0..cfg.mixer_layers)
            .map(|i| {
                MixerBlock::new(
                    &p / format!("block{i}"),
                    cfg.neighbors,
                    c,
                    cfg.token_expansion,
                    cfg.channel_expansion,
                )
            })
            .collect();
        let out = nn::linear(&p / "out", c as i64, c as i64, Default::default());
        let node_in = (cfg.node_dim > 0)
            .then(|| nn::linear(&p / "node_in", cfg.node_dim as i64, c as i64, Default::default()));
        let merge =
            (cfg.node_dim > 0).then(|| nn::linear(&p / "merge", 2 * c as i64, c as i64, Default::default()));
        let decoder = LinkDecoder::new(&root / "decoder", cfg.emb_dim);
        Ok(GraphMixer { cfg, vs, device, time, token_in, blocks, out, node_in, merge, decoder })
    }

    fn sampler(&self, seed: u64) -> SamplerConfig {
        SamplerConfig::new(self.cfg.fanouts(), Strategy::Recent, seed)
    }

    /// Embeddings of the roots, `[R, c]`.
    fn embed_roots(&self, store: &dyn TemporalStore, roots: Roots<'_>) -> Result<Tensor, ModelError> {
        let dev = self.device;
        let s = roots
            .layers
            .first()
            .ok_or_else(|| ModelError::Config("graphmixer needs one sampled layer".into()))?;
        let (r, k) = (roots.nodes.len() as i64, s.k as i64);
        if s.k != self.cfg.neighbors {
            return Err(ModelError::Config(format!(
                "graphmixer built for {} links, got {}",
                self.cfg.neighbors, s.k
            )));
        }
        let dt: Vec<f32> =
            s.t.iter()
                .enumerate()
                .map(|(i, &ts)| if s.mask[i] != 0 { (roots.t[i / s.k] - ts) as f32 } else { 0.0 })
                .collect();
        let te = self.time.forward(&f32s(&dt, &[r, k], dev));
        let feats = gather_edges(store, &s.eid, &s.mask, &self.cfg);
        let feats = f32s(&feats, &[r, k, self.cfg.edge_dim as i64], dev);
        let maskf: Vec<f32> = s.mask.iter().map(|&x| x as f32).collect();
        let maskf = f32s(&maskf, &[r, k, 1], dev);
        let mut x = self.token_in.forward(&Tensor::cat(&[&feats, &te], 2)) * &maskf;
        for b in &self.blocks {
            x = b.forward(&x);
        }
        let link = self.out.forward(&x.mean_dim(1, false, Kind::Float));
        match (&self.node_in, &self.merge) {
            (Some(node_in), Some(merge)) => {
                // Own features plus the mean over the valid sampled neighbours.
                let d = self.cfg.node_dim;
                let own = f32s(&gather_nodes(store, roots.nodes, &self.cfg), &[r, d as i64], dev);
                let nb = f32s(&gather_nodes(store, &s.nbr, &self.cfg), &[r, k, d as i64], dev);
                let cnt = maskf.sum_dim_intlist(1, false, Kind::Float).clamp_min(1.0);
                let mean = (nb * &maskf).sum_dim_intlist(1, false, Kind::Float) / cnt;
                let node = node_in.forward(&(own + mean));
                Ok(merge.forward(&Tensor::cat(&[&link, &node], 1)))
            }
            _ => Ok(link),
        }
    }
}

impl NodeEmbedder for GraphMixer {
    fn embed(&self, store: &dyn TemporalStore, roots: Roots<'_>) -> Result<(Tensor, Carry), ModelError> {
        Ok((self.embed_roots(store, roots)?, Carry::none()))
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

impl TemporalModel for GraphMixer {
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
    fn grow(&mut self, nodes: u32) {
        self.cfg.num_nodes = self.cfg.num_nodes.max(nodes);
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
