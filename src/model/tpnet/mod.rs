//! TPNet (Lu et al., NeurIPS 2024, "Improving Temporal Link Prediction via Temporal
//! Walk Matrix Projection") and TPNet-lite: pair models over random projections of
//! temporal walk matrices ([`projections`]), the state they keep between batches.
//!
//! Both score a pair `(u, v)` at `t` from `f(u, v)`: the inner products of the
//! projected walk rows of `u` and `v` decayed to `t` (clamped, `log(1 + x)`), then
//! an MLP (`pair_mlp`). Every pair is scored on its own; nothing is embedded once
//! per node.
//! - **TPNet**: each endpoint's `m` most recent neighbours `w` strictly before `t`
//!   become tokens `[node features of w, time encoding of log(1 + t - t_w), edge
//!   features, f(w, u), f(w, v)]`, projected by an MLP to `c` channels, padded slots
//!   zeroed, mixed by MLP-mixer blocks and mean-pooled over the valid slots (the
//!   reference code forgets to mask). The decoder reads `[h_u, h_v, f(u, v)]`.
//! - **TPNet-lite**: no neighbour encoder; the decoder reads `[f(u, v)]` and the
//!   time encodings of each endpoint's gap since its latest event, for cheap
//!   ranking over many candidates; with `heuristic_inputs` (the default) also the
//!   pair's gaps since its latest `u -> v` and `v -> u` events (with flags for
//!   "none") and `log(1 + x)` of the decayed counts of those events and of each
//!   endpoint's events ([`clock`]): the signals of the recency and popularity
//!   heuristics, exact, as plain numbers (which the neighbour tokens give the full
//!   model through time encodings).
//!
//! Work shared where exact: `f(w, e)` of an endpoint row's own neighbours is computed
//! once per distinct `(node, t)` row, not per candidate; the projections are frozen
//! within a batch, so every pair feature of a batch comes from one gather and one
//! batched product. Time convention: differences on the host in `f64`, shipped as
//! `f32`; decays are `exp` of non-positive differences only.

pub mod clock;
pub mod projections;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::ops::Range;
use std::path::Path;
use std::sync::{Mutex, MutexGuard};

use tch::nn;
use tch::{Device, Kind, Tensor};

use crate::model::ModelError;
use crate::model::api::{Carry, PairBatch, Pairs, TemporalModel};
use crate::model::config::{ModelConfig, ModelKind};
use crate::model::inputs::{f32s, gather_edges, gather_nodes, i64s};
use crate::model::parts::{MixerBlock, Mlp, TimeEncoder};
use crate::sample::neighbors::{NeighborSampler, Sampled, SamplerConfig, Strategy};
use crate::store::{EventId, NodeId, TemporalStore, Time};
use clock::PairClock;
use projections::Projections;

#[derive(Debug)]
pub struct TpNet {
    cfg: ModelConfig,
    vs: nn::VarStore,
    device: Device,
    lite: bool,
    time: TimeEncoder,
    pair_mlp: Mlp,
    token: Option<Mlp>,
    blocks: Vec<MixerBlock>,
    decoder: Mlp,
    pub proj: Projections,
    /// The heuristic inputs' state (TPNet-lite with `heuristic_inputs`): a function
    /// of the absorbed events, rebuilt from the store when behind the projections
    /// (after a state is loaded); behind a lock because scoring runs through `&self`.
    clock: Mutex<PairClock>,
}

// SAFETY: as for `TgnNet` (src/model/tgn/mod.rs): `!Sync` only through
// `tch::Tensor`; every `&self` method runs out-of-place operators on the weights
// and projections, every in-place write (absorb, reset, grow, load) needs `&mut`.
unsafe impl Sync for TpNet {}

/// Endpoint rows: `nodes[e]` at `t[e]` with its sampled neighbours (row `e` of `layer`).
struct Ends<'a> {
    nodes: &'a [NodeId],
    t: &'a [Time],
    layer: &'a Sampled,
}

impl TpNet {
    /// Build TPNet or TPNet-lite for `cfg` (validated) on `device`; `seed` keys the
    /// projection matrix `P` (the caller has seeded libtorch for the weights).
    pub fn new(cfg: ModelConfig, device: Device, seed: u64) -> Result<TpNet, ModelError> {
        let lite = match cfg.kind {
            ModelKind::Tpnet => false,
            ModelKind::TpnetLite => true,
            k => return Err(ModelError::Config(format!("{k} is not of the TPNet family"))),
        };
        let vs = nn::VarStore::new(device);
        let root = vs.root();
        let mut time = TimeEncoder::new(&root / "time", cfg.time_dim, false);
        time.max = None;
        let f = (2 * cfg.walk_hops + 2).pow(2);
        let pair_mlp = Mlp::new(&root / "pair_mlp", f, 4 * f, f);
        let c = cfg.emb_dim;
        let (token, blocks, decoder) = if lite {
            let extra = if cfg.heuristic_inputs { clock::WIDTH } else { 0 };
            (None, Vec::new(), Mlp::new(&root / "decoder", f + 2 * cfg.time_dim + extra, c, 1))
        } else {
            let input = cfg.node_dim + cfg.time_dim + cfg.edge_dim + 2 * f;
            let token = Mlp::new(&root / "token", input, 2 * c, c);
            let blocks = (0..cfg.mixer_layers)
                .map(|i| {
                    MixerBlock::new(
                        &root / format!("block{i}"),
                        cfg.neighbors,
                        c,
                        cfg.token_expansion,
                        cfg.channel_expansion,
                    )
                })
                .collect();
            (Some(token), blocks, Mlp::new(&root / "decoder", 2 * c + f, c, 1))
        };
        let proj = Projections::new(
            cfg.num_nodes as usize,
            cfg.walk_hops,
            cfg.projection_dim,
            cfg.decay,
            seed,
            device,
        );
        let clock = Mutex::new(PairClock::new(cfg.decay));
        Ok(TpNet { cfg, vs, device, lite, time, pair_mlp, token, blocks, decoder, proj, clock })
    }

    /// The clock, brought to the projections' watermark (see the field).
    fn clock(&self, store: &dyn TemporalStore) -> MutexGuard<'_, PairClock> {
        let mut c = self.clock.lock().unwrap_or_else(|e| e.into_inner());
        if c.absorbed != self.proj.absorbed {
            c.sync(store, self.proj.absorbed);
        }
        c
    }

    /// The heuristic inputs of the pairs `(a[i], b[i])` at `t[i]`: `[p, clock::WIDTH]`.
    fn heuristic(&self, store: &dyn TemporalStore, a: &[i64], b: &[i64], t: &[f64]) -> Tensor {
        // Gaps enter as log(1 + dt) over log(1 + the training period's length), so
        // 0..1 over the gaps training saw: a plain number the decoder can rank by.
        let scale = 1.0 / self.cfg.dt_max.unwrap_or(1e9).max(1.0).ln_1p();
        let mut x = Vec::with_capacity(clock::WIDTH * t.len());
        {
            let c = self.clock(store);
            for i in 0..t.len() {
                c.signals(a[i] as NodeId, b[i] as NodeId, t[i]).write(scale, &mut x);
            }
        }
        f32s(&x, &[t.len() as i64, clock::WIDTH as i64], self.device)
    }

    fn sampler(&self, seed: u64) -> SamplerConfig {
        SamplerConfig::new(self.cfg.fanouts(), Strategy::Recent, seed)
    }

    /// `f(a[i], b[i])` at `t[i]` after the pair MLP: `[n, F]`.
    fn pair(&self, a: &[i64], b: &[i64], t: &[f64]) -> Tensor {
        let raw = self.proj.pair_features(a, b, t);
        self.pair_mlp.forward(&raw)
    }

    /// Encoding of `log(1 + dt)` (`dt >= 0` on the host), zero where `valid` is 0: `[n, td]`.
    fn time_of(&self, dt: &[f64], valid: &[u8]) -> Tensor {
        let x: Vec<f32> = dt.iter().map(|&d| d.max(0.0).ln_1p() as f32).collect();
        let m: Vec<f32> = valid.iter().map(|&v| v as f32).collect();
        let n = dt.len() as i64;
        self.time.forward(&f32s(&x, &[n], self.device)) * f32s(&m, &[n, 1], self.device)
    }

    /// Logits of the pairs `(ends[iu[p]], ends[iv[p]])`, each at its source row's time.
    fn logits(&self, store: &dyn TemporalStore, e: &Ends<'_>, iu: &[usize], iv: &[usize]) -> Tensor {
        let p = iu.len();
        let dev = self.device;
        let node = |i: usize| e.nodes[i] as i64;
        let tp: Vec<f64> = iu.iter().map(|&i| e.t[i]).collect();
        let a: Vec<i64> = iu.iter().map(|&i| node(i)).collect();
        let b: Vec<i64> = iv.iter().map(|&i| node(i)).collect();
        let f_uv = self.pair(&a, &b, &tp);
        let s = e.layer;
        let k = s.k;
        if self.lite {
            // Each endpoint's latest event before its time: the last valid slot.
            let rows = e.nodes.len();
            let (mut dt, mut has) = (vec![0.0; rows], vec![0u8; rows]);
            for r in 0..rows {
                if let Some(j) = (0..k).rev().find(|&j| s.mask[r * k + j] != 0) {
                    dt[r] = e.t[r] - s.t[r * k + j];
                    has[r] = 1;
                }
            }
            let te = self.time_of(&dt, &has);
            let ix = |v: &[usize]| i64s(&v.iter().map(|&i| i as i64).collect::<Vec<_>>(), dev);
            let mut x = vec![f_uv, te.index_select(0, &ix(iu)), te.index_select(0, &ix(iv))];
            if self.cfg.heuristic_inputs {
                x.push(self.heuristic(store, &a, &b, &tp));
            }
            return self.decoder.forward(&Tensor::cat(&x, 1)).squeeze_dim(-1);
        }
        let rows = e.nodes.len();
        let (ri, ki) = (rows as i64, k as i64);
        // Per endpoint row and slot: time encoding, edge and node features of the neighbour.
        let dt: Vec<f64> =
            (0..rows * k).map(|i| if s.mask[i] != 0 { e.t[i / k] - s.t[i] } else { 0.0 }).collect();
        let mut parts = vec![self.time_of(&dt, &s.mask).view([ri, ki, -1])];
        if self.cfg.edge_dim > 0 {
            let fe = gather_edges(store, &s.eid, &s.mask, &self.cfg);
            parts.push(f32s(&fe, &[ri, ki, self.cfg.edge_dim as i64], dev));
        }
        if self.cfg.node_dim > 0 {
            let fn_ = gather_nodes(store, &s.nbr, &self.cfg);
            parts.push(f32s(&fn_, &[ri, ki, self.cfg.node_dim as i64], dev));
        }
        // f(w, e) of every row's own neighbours, once per row.
        let nb: Vec<i64> = s.nbr.iter().map(|&w| w as i64).collect();
        let own: Vec<i64> = (0..rows * k).map(|i| node(i / k)).collect();
        let own_t: Vec<f64> = (0..rows * k).map(|i| e.t[i / k]).collect();
        let f_self = self.pair(&nb, &own, &own_t).view([ri, ki, -1]);
        // f(w, other endpoint) per pair, for both sides.
        let cross = |side: &[usize], other: &[usize]| {
            let mut a = Vec::with_capacity(p * k);
            let mut b = Vec::with_capacity(p * k);
            let mut t = Vec::with_capacity(p * k);
            for (q, (&r, &o)) in side.iter().zip(other).enumerate() {
                for j in 0..k {
                    a.push(s.nbr[r * k + j] as i64);
                    b.push(node(o));
                    t.push(tp[q]);
                }
            }
            self.pair(&a, &b, &t).view([p as i64, ki, -1])
        };
        let (cross_u, cross_v) = (cross(iu, iv), cross(iv, iu));
        let stat = Tensor::cat(&parts, 2); // [rows, K, S]
        let ix = |v: &[usize]| i64s(&v.iter().map(|&i| i as i64).collect::<Vec<_>>(), dev);
        let (xu, xv) = (ix(iu), ix(iv));
        // Tokens carry [static, f(w, u), f(w, v)].
        let tok_u = Tensor::cat(&[stat.index_select(0, &xu), f_self.index_select(0, &xu), cross_u], 2);
        let tok_v = Tensor::cat(&[stat.index_select(0, &xv), cross_v, f_self.index_select(0, &xv)], 2);
        let maskf: Vec<f32> = s.mask.iter().map(|&m| m as f32).collect();
        let maskf = f32s(&maskf, &[ri, ki, 1], dev);
        let mask = Tensor::cat(&[maskf.index_select(0, &xu), maskf.index_select(0, &xv)], 0);
        let token = self.token.as_ref().expect("full TPNet has a token MLP");
        let mut h = token.forward(&Tensor::cat(&[tok_u, tok_v], 0)) * &mask;
        for blk in &self.blocks {
            h = blk.forward(&h);
        }
        let cnt = mask.sum_dim_intlist(1, false, Kind::Float).clamp_min(1.0);
        let h = (h * &mask).sum_dim_intlist(1, false, Kind::Float) / cnt; // [2P, c]
        let (hu, hv) = (h.narrow(0, 0, p as i64), h.narrow(0, p as i64, p as i64));
        self.decoder.forward(&Tensor::cat(&[hu, hv, f_uv], 1)).squeeze_dim(-1)
    }
}

impl TemporalModel for TpNet {
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
        true
    }
    fn absorbed(&self) -> usize {
        self.proj.absorbed
    }
    fn watermark_time(&self) -> Option<f64> {
        Some(self.proj.time).filter(|t| t.is_finite())
    }
    fn reset_state(&mut self) {
        self.proj.reset();
        self.clock.get_mut().unwrap_or_else(|e| e.into_inner()).reset();
    }
    fn absorb(
        &mut self,
        store: &dyn TemporalStore,
        range: Range<usize>,
        _carry: Carry,
    ) -> Result<(), ModelError> {
        if range.start != self.proj.absorbed {
            return Err(ModelError::Mismatch(format!(
                "absorbing events {}..{} but the projections have absorbed {} events",
                range.start, range.end, self.proj.absorbed
            )));
        }
        if range.is_empty() {
            return Ok(());
        }
        let n = range.len();
        let (mut src, mut dst, mut t) = (Vec::with_capacity(n), Vec::with_capacity(n), Vec::with_capacity(n));
        for e in range.clone() {
            let (s, d, te) = store.event(e as EventId);
            src.push(s);
            dst.push(d);
            t.push(te);
        }
        if self.cfg.heuristic_inputs {
            let c = self.clock.get_mut().unwrap_or_else(|e| e.into_inner());
            c.sync(store, range.start);
            for i in 0..n {
                c.push(src[i], dst[i], t[i]);
            }
            c.absorbed = range.end;
        }
        self.proj.absorb(&src, &dst, &t, range.end);
        Ok(())
    }
    fn grow(&mut self, nodes: u32) {
        if nodes > self.cfg.num_nodes {
            self.cfg.num_nodes = nodes;
            self.proj.grow(nodes as usize);
        }
    }
    fn save_state(&self, path: &Path) -> Result<bool, ModelError> {
        self.proj.save(path).map(|()| true)
    }
    fn load_state(&mut self, path: &Path) -> Result<Option<usize>, ModelError> {
        self.proj.load(path)?;
        // Rebuilt from the store's events on first use (the field's docs).
        self.clock.get_mut().unwrap_or_else(|e| e.into_inner()).reset();
        Ok(Some(self.proj.absorbed))
    }
    fn state_bytes(&self) -> u64 {
        self.proj.bytes()
    }
    fn state_tensors(&self) -> Vec<(String, Tensor)> {
        (1..self.proj.layers.len()).map(|l| (format!("walk{l}"), self.proj.layers[l].copy())).collect()
    }

    fn score_pairs(
        &self,
        store: &dyn TemporalStore,
        cutoff: EventId,
        pairs: Pairs<'_>,
        seed: u64,
    ) -> Result<Vec<f32>, ModelError> {
        let n = pairs.src.len();
        if n == 0 {
            return Ok(Vec::new());
        }
        // Distinct (node, t) rows: a rank query's source is one row for its candidates.
        let mut index: HashMap<(NodeId, u64), usize> = HashMap::with_capacity(n);
        let (mut nodes, mut times) = (Vec::with_capacity(n), Vec::with_capacity(n));
        let mut row = |v: NodeId, tt: f64| -> usize {
            *index.entry((v, tt.to_bits())).or_insert_with(|| {
                nodes.push(v);
                times.push(tt);
                nodes.len() - 1
            })
        };
        let iu: Vec<usize> = pairs.src.iter().zip(pairs.t).map(|(&s, &tt)| row(s, tt)).collect();
        let iv: Vec<usize> = pairs.dst.iter().zip(pairs.t).map(|(&d, &tt)| row(d, tt)).collect();
        let sampler = NeighborSampler::new(store, self.sampler(seed))?;
        let layers = sampler.sample_layers(&nodes, &times, cutoff)?;
        let ends = Ends { nodes: &nodes, t: &times, layer: &layers[0] };
        tch::no_grad(|| {
            let p = self.logits(store, &ends, &iu, &iv).sigmoid().to_device(Device::Cpu);
            Ok(Vec::<f32>::try_from(p)?)
        })
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
            .ok_or_else(|| ModelError::Config("tpnet needs one sampled layer".into()))?;
        let ends = Ends { nodes: batch.roots.nodes, t: batch.roots.t, layer };
        // Positives (src_i, dst_i), then negatives (src_i, neg_i).
        let iu: Vec<usize> = (0..m).chain(0..m).collect();
        let iv: Vec<usize> = (m..3 * m).collect();
        let logits = self.logits(store, &ends, &iu, &iv).view([2, m as i64]);
        Ok((logits, Carry::none()))
    }
}
