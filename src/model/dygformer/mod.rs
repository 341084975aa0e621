//! DyGFormer (Yu et al., NeurIPS 2023, "Towards Better Dynamic Graph Learning: New
//! Architecture and Unified Library"): a transformer over the first-hop interaction
//! sequences of both endpoints of a pair. No state between batches: a query is
//! answered from the store alone. Every pair is its own forward pass (the
//! co-occurrence channel couples the two sequences), so nothing is embedded once
//! per node.
//!
//! For a pair `(u, v)` at `t`, each endpoint's sequence has `L = neighbors + 1`
//! positions: the endpoint itself (time difference 0, no edge), then its `L - 1`
//! most recent interactions strictly before `t` in time order, then padding.
//! Channels per position:
//! - the neighbour's node features (when the graph has them), the edge's features
//!   (when it has them), a fixed cosine encoding of `t - t_j` (zero at padding);
//! - the co-occurrence encoding: the element's count among `u`'s sequence and among
//!   `v`'s, each through one shared MLP (`1 -> c -> c`), summed (zero at padding).
//!   An endpoint without history counts only in its own sequence (see `counts`).
//!
//! Each channel is cut into non-overlapping patches of `P` positions and projected
//! to `c`; a patch's channels are concatenated (width `h = channels * c`). One
//! pre-LN transformer (`layers` blocks of `heads` heads, GELU feed-forward of
//! `4h`, dropout while training) runs over the `2L/P` patches of both sequences;
//! patches made only of padding are masked as keys and left out of the pooling
//! (the reference code attends to and averages them), so they are never computed:
//! every per-token layer runs on the packed non-empty patches, and only attention
//! sees the padded `[p, 2Np]` layout. The output is mean-pooled per
//! endpoint, projected, and an MLP decoder scores `[h_u, h_v]`.
//!
//! Shapes: `R` endpoint rows (distinct `(node, t)`), `p` pairs, `Np = L / P`
//! patches per sequence; row channels `[R, Np, c]` are computed once per row and
//! gathered per pair, co-occurrence `[p, 2L]` per pair, the transformer works on
//! `[p, 2Np, h]`. Time convention: differences on the host in `f64`, shipped as
//! `f32`, clamped to `dt_max` like GraphMixer's.

#[cfg(test)]
mod tests;

use std::collections::HashMap;

use rayon::prelude::*;
use tch::nn::{self, Module};
use tch::{Device, Kind, Tensor};

use crate::model::ModelError;
use crate::model::api::{Carry, PairBatch, Pairs, TemporalModel};
use crate::model::config::{ModelConfig, ModelKind};
use crate::model::inputs::{f32s, gather_edges, gather_nodes, i64s};
use crate::model::parts::{Mlp, TimeEncoder};
use crate::sample::neighbors::{NeighborSampler, Sampled, SamplerConfig, Strategy};
use crate::store::{EventId, NodeId, TemporalStore, Time};

/// Pairs per forward pass when scoring (bounds the `[p, 2Np, 4h]` activations).
const SCORE_CHUNK: usize = 512;

/// Channels of a patch: node features and edge features when the graph has them,
/// time, co-occurrence.
pub fn channels(cfg: &ModelConfig) -> usize {
    2 + usize::from(cfg.node_dim > 0) + usize::from(cfg.edge_dim > 0)
}

/// One pre-LN transformer block.
#[derive(Debug)]
struct Block {
    ln1: nn::LayerNorm,
    qkv: nn::Linear,
    proj: nn::Linear,
    ln2: nn::LayerNorm,
    ff1: nn::Linear,
    ff2: nn::Linear,
}

impl Block {
    fn new(p: nn::Path<'_>, h: i64) -> Block {
        Block {
            ln1: nn::layer_norm(&p / "ln1", vec![h], Default::default()),
            qkv: nn::linear(&p / "qkv", h, 3 * h, Default::default()),
            proj: nn::linear(&p / "proj", h, h, Default::default()),
            ln2: nn::layer_norm(&p / "ln2", vec![h], Default::default()),
            ff1: nn::linear(&p / "ff1", h, 4 * h, Default::default()),
            ff2: nn::linear(&p / "ff2", 4 * h, h, Default::default()),
        }
    }

    /// `x [Nv, h]`: the non-empty patches of `p` pairs of `s` patches each, at the
    /// flat positions `at` (`[Nv]` into `p * s`); `keys [p, 1, 1, s]` (true: a key to
    /// attend to). Only attention sees the padded layout; every per-token layer runs
    /// on the packed patches, whose outputs are all that is ever read.
    #[allow(clippy::too_many_arguments)]
    fn forward(
        &self,
        x: &Tensor,
        at: &Tensor,
        keys: &Tensor,
        (p, s): (i64, i64),
        heads: i64,
        dropout: f64,
        train: bool,
    ) -> Tensor {
        let h = x.size()[1];
        let qkv = self.qkv.forward(&self.ln1.forward(x));
        let full = Tensor::zeros([p * s, 3 * h], (qkv.kind(), qkv.device())).index_copy(0, at, &qkv);
        let full = full.view([p, s, 3, heads, h / heads]).permute([2, 0, 3, 1, 4]);
        let (q, k, v) = (full.get(0), full.get(1), full.get(2));
        let a = Tensor::scaled_dot_product_attention(&q, &k, &v, Some(keys), 0.0, false, None, false);
        let a = a.permute([0, 2, 1, 3]).reshape([p * s, h]).index_select(0, at);
        let x = x + self.proj.forward(&a).dropout(dropout, train);
        let f =
            self.ff2.forward(&self.ff1.forward(&self.ln2.forward(&x)).gelu("none")).dropout(dropout, train);
        x + f
    }
}

#[derive(Debug)]
pub struct DyGFormer {
    cfg: ModelConfig,
    vs: nn::VarStore,
    device: Device,
    time: TimeEncoder,
    cooc: Mlp,
    node_proj: Option<nn::Linear>,
    edge_proj: Option<nn::Linear>,
    time_proj: nn::Linear,
    cooc_proj: nn::Linear,
    blocks: Vec<Block>,
    out: nn::Linear,
    decoder: Mlp,
}

// SAFETY: as for `TgnNet` (src/model/tgn/mod.rs): `!Sync` only through
// `tch::Tensor`; every `&self` method runs out-of-place operators on the weights.
unsafe impl Sync for DyGFormer {}

/// Endpoint rows: `nodes[e]` at `t[e]` with its sampled neighbours (row `e` of `layer`).
struct Ends<'a> {
    nodes: &'a [NodeId],
    t: &'a [Time],
    layer: &'a Sampled,
}

impl DyGFormer {
    /// Build DyGFormer for `cfg` (validated) on `device`; the caller has seeded
    /// libtorch's generator.
    pub fn new(cfg: ModelConfig, device: Device) -> Result<DyGFormer, ModelError> {
        if cfg.kind != ModelKind::Dygformer {
            return Err(ModelError::Config(format!("{} is not dygformer", cfg.kind)));
        }
        let vs = nn::VarStore::new(device);
        let root = vs.root();
        let mut time = TimeEncoder::new(&root / "time", cfg.time_dim, false);
        time.max = cfg.dt_max;
        let (c, pz) = (cfg.emb_dim as i64, cfg.patch_size as i64);
        let h = c * channels(&cfg) as i64;
        let lin = |name: &str, d: usize| nn::linear(&root / name, pz * d as i64, c, Default::default());
        let node_proj = (cfg.node_dim > 0).then(|| lin("node_proj", cfg.node_dim));
        let edge_proj = (cfg.edge_dim > 0).then(|| lin("edge_proj", cfg.edge_dim));
        let time_proj = lin("time_proj", cfg.time_dim);
        let cooc_proj = lin("cooc_proj", cfg.emb_dim);
        let cooc = Mlp::new(&root / "cooc", 1, cfg.emb_dim, cfg.emb_dim);
        let blocks = (0..cfg.layers).map(|i| Block::new(&root / format!("block{i}"), h)).collect();
        let out = nn::linear(&root / "out", h, h, Default::default());
        let decoder = Mlp::new(&root / "decoder", 2 * h as usize, h as usize, 1);
        Ok(DyGFormer {
            cfg,
            vs,
            device,
            time,
            cooc,
            node_proj,
            edge_proj,
            time_proj,
            cooc_proj,
            blocks,
            out,
            decoder,
        })
    }

    fn sampler(&self, seed: u64) -> SamplerConfig {
        SamplerConfig::new(self.cfg.fanouts(), Strategy::Recent, seed)
    }

    fn seq_len(&self) -> usize {
        self.cfg.neighbors + 1
    }

    /// Whether position `j` of row `r`'s sequence holds an element.
    fn valid(s: &Sampled, r: usize, j: usize) -> bool {
        j == 0 || s.mask[r * s.k + j - 1] != 0
    }

    /// The per-row channels (node, edge, time), patched and projected: `[R, Np, (ch - 1) c]`,
    /// and whether each patch holds any element: `[R * Np]`.
    fn row_channels(&self, store: &dyn TemporalStore, e: &Ends<'_>) -> (Tensor, Vec<bool>) {
        let dev = self.device;
        let s = e.layer;
        let (rows, k, l, pz) = (e.nodes.len(), s.k, self.seq_len(), self.cfg.patch_size);
        let np = l / pz;
        let (ri, npi) = (rows as i64, np as i64);
        let patch = |x: Tensor, d: usize| x.view([ri, npi, (pz * d) as i64]);
        let mut valid = vec![0f32; rows * l];
        let mut dt = vec![0f32; rows * l];
        for r in 0..rows {
            valid[r * l] = 1.0;
            for j in 1..l {
                let i = r * k + j - 1;
                if s.mask[i] != 0 {
                    valid[r * l + j] = 1.0;
                    dt[r * l + j] = (e.t[r] - s.t[i]).max(0.0) as f32;
                }
            }
        }
        let vmask = f32s(&valid, &[ri, l as i64, 1], dev);
        let td = self.cfg.time_dim;
        let te = self.time.forward(&f32s(&dt, &[ri, l as i64], dev)) * &vmask;
        let mut parts = Vec::with_capacity(3);
        if let Some(np_) = &self.node_proj {
            let d = self.cfg.node_dim;
            let own = f32s(&gather_nodes(store, e.nodes, &self.cfg), &[ri, 1, d as i64], dev);
            let nb = f32s(&gather_nodes(store, &s.nbr, &self.cfg), &[ri, k as i64, d as i64], dev);
            let x = Tensor::cat(&[own, nb], 1) * &vmask;
            parts.push(np_.forward(&patch(x, d)));
        }
        if let Some(ep) = &self.edge_proj {
            let d = self.cfg.edge_dim;
            let fe = f32s(&gather_edges(store, &s.eid, &s.mask, &self.cfg), &[ri, k as i64, d as i64], dev);
            let x = Tensor::cat(&[Tensor::zeros([ri, 1, d as i64], (Kind::Float, dev)), fe], 1);
            parts.push(ep.forward(&patch(x, d)));
        }
        parts.push(self.time_proj.forward(&patch(te, td)));
        let any: Vec<bool> =
            (0..rows * np).map(|q| (0..pz).any(|j| valid[(q / np) * l + (q % np) * pz + j] != 0.0)).collect();
        (Tensor::cat(&parts, 2), any)
    }

    /// Co-occurrence counts of every position of both sequences of each pair:
    /// `[p, 2L, 2]` (count in `u`'s sequence, in `v`'s), zeros at padding.
    fn counts(&self, e: &Ends<'_>, iu: &[usize], iv: &[usize]) -> Vec<f32> {
        let s = e.layer;
        let l = self.seq_len();
        // An endpoint without history counts as a node of its own, matching nothing
        // in the other sequence: serving gives every unknown node one placeholder id
        // (two unknown endpoints would otherwise look like the same node), and
        // evaluation must answer as serving does.
        let seq = |r: usize, side: NodeId| -> Vec<NodeId> {
            let cold = (0..s.k).all(|j| s.mask[r * s.k + j] == 0);
            (0..l)
                .filter(|&j| Self::valid(s, r, j))
                .map(|j| match j {
                    0 if cold => NodeId::MAX - side,
                    0 => e.nodes[r],
                    _ => s.nbr[r * s.k + j - 1],
                })
                .collect()
        };
        let mut out = vec![0f32; iu.len() * 2 * l * 2];
        out.par_chunks_mut(2 * l * 2).enumerate().for_each(|(q, o)| {
            let (a, b) = (seq(iu[q], 0), seq(iv[q], 1));
            let (mut sa, mut sb) = (a.clone(), b.clone());
            sa.sort_unstable();
            sb.sort_unstable();
            let count = |s: &[NodeId], x: NodeId| {
                (s.partition_point(|&y| y <= x) - s.partition_point(|&y| y < x)) as f32
            };
            // Valid positions come first in each sequence.
            for (side, ids) in [(0, &a), (1, &b)] {
                for (j, &x) in ids.iter().enumerate() {
                    let at = (side * l + j) * 2;
                    o[at] = count(&sa, x);
                    o[at + 1] = count(&sb, x);
                }
            }
        });
        out
    }

    /// Logits of the pairs `(ends[iu[q]], ends[iv[q]])` (both rows at the pair's time).
    fn logits(&self, store: &dyn TemporalStore, e: &Ends<'_>, iu: &[usize], iv: &[usize]) -> Tensor {
        let dev = self.device;
        let (p, l, pz) = (iu.len() as i64, self.seq_len(), self.cfg.patch_size);
        let np = (l / pz) as i64;
        let (rows_x, any) = self.row_channels(store, e);
        let ix = |v: &[usize]| i64s(&v.iter().map(|&i| i as i64).collect::<Vec<_>>(), dev);
        let (xu, xv) = (ix(iu), ix(iv));
        let stat = Tensor::cat(&[rows_x.index_select(0, &xu), rows_x.index_select(0, &xv)], 1);
        // Co-occurrence: f(count in u's) + f(count in v's), zero at padding.
        let cnt = f32s(&self.counts(e, iu, iv), &[p, 2 * l as i64, 2], dev);
        // A position holds an element iff it counts at least itself in its own sequence.
        let present = cnt.sum_dim_intlist(2, true, Kind::Float).gt(0.0).to_kind(Kind::Float);
        let enc =
            (self.cooc.forward(&cnt.narrow(2, 0, 1)) + self.cooc.forward(&cnt.narrow(2, 1, 1))) * present;
        let cooc = self.cooc_proj.forward(&enc.view([p, 2 * np, pz as i64 * self.cfg.emb_dim as i64]));
        let x = Tensor::cat(&[stat, cooc], 2); // [p, 2Np, h]
        let keys: Vec<bool> = iu
            .iter()
            .zip(iv)
            .flat_map(|(&u, &v)| {
                let np = np as usize;
                any[u * np..(u + 1) * np]
                    .iter()
                    .chain(&any[v * np..(v + 1) * np])
                    .copied()
                    .collect::<Vec<_>>()
            })
            .collect();
        // Packed non-empty patches: flat position, and pooling segment (2 per pair: u, v).
        let (mut at, mut seg, mut cnt) = (Vec::new(), Vec::new(), vec![0f32; 2 * p as usize]);
        for (f, _) in keys.iter().enumerate().filter(|k| *k.1) {
            let (q, pos) = (f as i64 / (2 * np), f as i64 % (2 * np));
            let g = 2 * q + i64::from(pos >= np);
            at.push(f as i64);
            seg.push(g);
            cnt[g as usize] += 1.0;
        }
        let keys = crate::model::upload(Tensor::from_slice(&keys).view([p, 1, 1, 2 * np]), dev);
        let (at, seg) = (i64s(&at, dev), i64s(&seg, dev));
        let train = x.requires_grad();
        let h = x.size()[2];
        let mut x = x.view([p * 2 * np, h]).index_select(0, &at);
        for b in &self.blocks {
            x = b.forward(&x, &at, &keys, (p, 2 * np), self.cfg.heads as i64, self.cfg.dropout, train);
        }
        // Mean over each endpoint's non-empty patches (its first patch always holds
        // the endpoint itself).
        let sums = Tensor::zeros([2 * p, h], (x.kind(), dev)).index_add(0, &seg, &x);
        let pooled = (sums / f32s(&cnt, &[2 * p, 1], dev)).view([p, 2, h]);
        let pool = |side: i64| pooled.select(1, side);
        let (hu, hv) = (self.out.forward(&pool(0)), self.out.forward(&pool(1)));
        self.decoder.forward(&Tensor::cat(&[hu, hv], 1)).squeeze_dim(-1)
    }
}

impl TemporalModel for DyGFormer {
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
        let n = pairs.src.len();
        let mut out = Vec::with_capacity(n);
        let sampler = NeighborSampler::new(store, self.sampler(seed))?;
        for lo in (0..n).step_by(SCORE_CHUNK) {
            let hi = (lo + SCORE_CHUNK).min(n);
            // Distinct (node, t) rows: a rank query's source is one row for its candidates.
            let mut index: HashMap<(NodeId, u64), usize> = HashMap::with_capacity(2 * (hi - lo));
            let (mut nodes, mut times) = (Vec::new(), Vec::new());
            let mut row = |v: NodeId, tt: f64| -> usize {
                *index.entry((v, tt.to_bits())).or_insert_with(|| {
                    nodes.push(v);
                    times.push(tt);
                    nodes.len() - 1
                })
            };
            let iu: Vec<usize> = (lo..hi).map(|i| row(pairs.src[i], pairs.t[i])).collect();
            let iv: Vec<usize> = (lo..hi).map(|i| row(pairs.dst[i], pairs.t[i])).collect();
            let layers = sampler.sample_layers(&nodes, &times, cutoff)?;
            let ends = Ends { nodes: &nodes, t: &times, layer: &layers[0] };
            let p = tch::no_grad(|| self.logits(store, &ends, &iu, &iv).sigmoid().to_device(Device::Cpu));
            out.extend(Vec::<f32>::try_from(p)?);
        }
        Ok(out)
    }

    fn batch_logits(
        &self,
        store: &dyn TemporalStore,
        batch: &PairBatch<'_>,
    ) -> Result<(Tensor, Carry), ModelError> {
        let m = batch.m;
        let layer = batch
            .roots
            .layers
            .first()
            .ok_or_else(|| ModelError::Config("dygformer needs one sampled layer".into()))?;
        if layer.k != self.cfg.neighbors {
            return Err(ModelError::Config(format!(
                "dygformer built for {} neighbours, got {}",
                self.cfg.neighbors, layer.k
            )));
        }
        let ends = Ends { nodes: batch.roots.nodes, t: batch.roots.t, layer };
        // Positives (src_i, dst_i), then negatives (src_i, neg_i).
        let iu: Vec<usize> = (0..m).chain(0..m).collect();
        let iv: Vec<usize> = (m..3 * m).collect();
        let logits = self.logits(store, &ends, &iu, &iv).view([2, m as i64]);
        Ok((logits, Carry::none()))
    }
}
