//! [`Net`]: the weights (a `VarStore`), the parts a [`ModelConfig`] asks for, and
//! the memory state. The forward pass turns [`Roots`] (host buffers from the
//! sampler) into embeddings `[R, emb]`; the decoder scores pairs of rows.
//!
//! TGN-family embedding with `L` attention layers: depth 0 holds the roots, depth
//! `d + 1` the slots of sampled layer `d` (each slot queried at its own event
//! time). Inputs `h0` at every depth are the node's memory (updated with its
//! pending messages, with gradients) plus projected node features, or the node
//! features alone / zeros without memory (TGAT). Layer `l` computes depth `d` from
//! depths `d` and `d + 1` of layer `l - 1`, so the result at depth 0 has seen `L` hops.

use std::ops::Range;

use rayon::prelude::*;
use tch::nn::{self, Module};
use tch::{Device, Kind, Tensor};

use crate::model::ModelError;
use crate::model::config::{Embedding, ModelConfig, ModelKind, Updater};
use crate::model::memory::Memory;
use crate::model::parts::{KeyInputs, LinkDecoder, MemoryCell, MixerBlock, TemporalAttention, TimeEncoder};
use crate::sample::neighbors::{NeighborSampler, Sampled, SamplerConfig};
use crate::store::{EventId, NodeId, TemporalStore, Time};

/// Roots of one forward pass: `nodes[i]` at `t[i]`, and the sampled layers
/// (`layers[0]` is `R x k`, root-major; see [`crate::sample::neighbors`]).
#[derive(Clone, Copy)]
pub struct Roots<'a> {
    pub nodes: &'a [NodeId],
    pub t: &'a [Time],
    pub layers: &'a [Sampled],
}

/// Node inputs at one depth: `rows [M, x]` and, when rows are shared between
/// slots (distinct nodes), the row of each slot.
pub struct DepthInput {
    pub rows: Tensor,
    pub index: Option<Tensor>,
}

/// Memory rows a forward pass computed by folding nodes' pending messages in:
/// `rows[i]` is the updated memory of `nodes[i]`, computed when the memory had
/// absorbed `absorbed` events, with the weights of that moment (detached). Handed
/// to [`Net::absorb_folded`] so that absorbing the batch persists these rows
/// instead of running the updater again.
pub struct Folded {
    absorbed: usize,
    nodes: Vec<usize>,
    rows: Tensor,
}

/// GraphMixer's encoder.
#[derive(Debug)]
struct Mixer {
    token_in: nn::Linear,
    blocks: Vec<MixerBlock>,
    out: nn::Linear,
    node_in: Option<nn::Linear>,
    merge: Option<nn::Linear>,
}

#[derive(Debug)]
pub struct Net {
    pub cfg: ModelConfig,
    pub vs: nn::VarStore,
    device: Device,
    time: TimeEncoder,
    attn: Vec<TemporalAttention>,
    cell: Option<MemoryCell>,
    node_proj: Option<nn::Linear>,
    jodie: Option<nn::Linear>,
    mixer: Option<Mixer>,
    decoder: LinkDecoder,
    pub memory: Option<Memory>,
}

// SAFETY: `Net` is `!Sync` only because `tch::Tensor` is (tch marks it `Send` but
// not `Sync`, conservatively). Every method taking `&self` runs out-of-place libtorch
// operators that read the weight and memory tensors and allocate new outputs; all
// in-place writes (memory persist/store, optimizer steps through `&mut` handles,
// `grow`, `reset_memory`, loading) need `&mut Net` or `&mut Memory`, so Rust's
// borrow rules already exclude them while any `&Net` is shared. libtorch supports
// concurrent reads of one tensor from many threads (atomic reference counts,
// thread-local grad mode; concurrent inference through one module is a documented
// PyTorch use, and tch itself marks `CModule` `Sync`). Live serving relies on this
// to score from many threads at once (`crate::serve`).
unsafe impl Sync for Net {}

thread_local! {
    /// Node -> local row for [`Net::localize`], `u32::MAX` when unused (reset after
    /// each pass); per thread so that `&self` methods may run on many threads.
    static LOCAL: std::cell::RefCell<Vec<u32>> = const { std::cell::RefCell::new(Vec::new()) };
}

impl Net {
    /// Build the net for `cfg` on `device`; weights drawn from `seed`.
    pub fn new(cfg: ModelConfig, device: Device, seed: u64) -> Result<Net, ModelError> {
        cfg.validate()?;
        tch::manual_seed(seed as i64);
        let vs = nn::VarStore::new(device);
        let root = vs.root();
        let mixer_kind = cfg.kind == ModelKind::Graphmixer;
        let mut time = TimeEncoder::new(&root / "time", cfg.time_dim, cfg.time_trainable && !mixer_kind);
        time.max = cfg.dt_max;
        let x = cfg.node_input_dim();
        let attn_layers = match (cfg.kind, cfg.embedding) {
            (ModelKind::Graphmixer, _) => 0,
            (_, Embedding::Attention) => cfg.layers,
            (_, _) if cfg.dst_embedding_in_message => cfg.layers,
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
        let node_proj = (cfg.node_dim > 0 && !mixer_kind)
            .then(|| nn::linear(&root / "node_proj", cfg.node_dim as i64, x as i64, Default::default()));
        let jodie = (cfg.embedding == Embedding::TimeProjection && !mixer_kind).then(|| {
            let c =
                nn::LinearConfig { ws_init: nn::Init::Randn { mean: 0.0, stdev: 0.1 }, ..Default::default() };
            nn::linear(&root / "time_proj", 1, cfg.memory_dim as i64, c)
        });
        let mixer = mixer_kind.then(|| {
            let c = cfg.emb_dim;
            let p = &root / "mixer";
            Mixer {
                token_in: nn::linear(
                    &p / "token_in",
                    (cfg.edge_dim + cfg.time_dim) as i64,
                    c as i64,
                    Default::default(),
                ),
                blocks: (0..cfg.mixer_layers)
                    .map(|i| {
                        MixerBlock::new(
                            &p / format!("block{i}"),
                            cfg.neighbors,
                            c,
                            cfg.token_expansion,
                            cfg.channel_expansion,
                        )
                    })
                    .collect(),
                out: nn::linear(&p / "out", c as i64, c as i64, Default::default()),
                node_in: (cfg.node_dim > 0)
                    .then(|| nn::linear(&p / "node_in", cfg.node_dim as i64, c as i64, Default::default())),
                merge: (cfg.node_dim > 0)
                    .then(|| nn::linear(&p / "merge", 2 * c as i64, c as i64, Default::default())),
            }
        });
        let emb_out = match cfg.embedding {
            Embedding::Identity | Embedding::TimeProjection if !mixer_kind => cfg.memory_dim,
            _ => cfg.emb_dim,
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
        Ok(Net { cfg, vs, device, time, attn, cell, node_proj, jodie, mixer, decoder, memory })
    }

    pub fn device(&self) -> Device {
        self.device
    }

    /// The sampler configuration this model reads (recent neighbours).
    pub fn sampler_config(&self, seed: u64) -> SamplerConfig {
        SamplerConfig::new(self.cfg.fanouts(), crate::sample::neighbors::Strategy::Recent, seed)
    }

    /// Check that the graph fits the model (node count, feature widths).
    pub fn check_store(&self, store: &dyn TemporalStore) -> Result<(), ModelError> {
        let c = &self.cfg;
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

    fn f32s(&self, v: &[f32], shape: &[i64]) -> Tensor {
        crate::model::upload(Tensor::from_slice(v).view(shape), self.device)
    }

    fn i64s(&self, v: &[i64]) -> Tensor {
        crate::model::upload(Tensor::from_slice(v), self.device)
    }

    /// Edge features of events `eid` (padding slots included), `[n * e]`.
    fn gather_edges(&self, store: &dyn TemporalStore, eid: &[EventId], mask: &[u8]) -> Vec<f32> {
        let e = self.cfg.edge_dim;
        let mut out = vec![0f32; eid.len() * e];
        if e > 0 {
            out.par_chunks_mut(e * 256).enumerate().for_each(|(c, chunk)| {
                for (j, row) in chunk.chunks_mut(e).enumerate() {
                    let i = c * 256 + j;
                    if mask[i] != 0 {
                        row.copy_from_slice(store.event_feat(eid[i]));
                    }
                }
            });
        }
        out
    }

    fn gather_nodes(&self, store: &dyn TemporalStore, nodes: &[NodeId]) -> Vec<f32> {
        let d = self.cfg.node_dim;
        let mut out = vec![0f32; nodes.len() * d];
        if d > 0 {
            out.par_chunks_mut(d).zip(nodes.par_iter()).for_each(|(row, &n)| {
                if let Some(f) = store.node_feat(n) {
                    row.copy_from_slice(f);
                }
            });
        }
        out
    }

    /// Unique nodes of `lists` in first-seen order, and each entry's local row.
    fn localize(&self, lists: &[&[NodeId]]) -> (Vec<usize>, Vec<Vec<i64>>) {
        LOCAL.with_borrow_mut(|local| {
            let mut uniq = Vec::new();
            let mut rows = Vec::with_capacity(lists.len());
            for l in lists {
                let mut r = Vec::with_capacity(l.len());
                for &n in *l {
                    let n = n as usize;
                    if n >= local.len() {
                        local.resize((n + 1).max(self.cfg.num_nodes as usize), u32::MAX);
                    }
                    let slot = &mut local[n];
                    if *slot == u32::MAX {
                        *slot = uniq.len() as u32;
                        uniq.push(n);
                    }
                    r.push(*slot as i64);
                }
                rows.push(r);
            }
            for &n in &uniq {
                local[n] = u32::MAX;
            }
            (uniq, rows)
        })
    }

    /// The position of each of `wanted` in `table` (distinct nodes), or `None` when
    /// one is missing.
    fn positions(&self, table: &[usize], wanted: &[usize]) -> Option<Tensor> {
        LOCAL.with_borrow_mut(|local| {
            let top = table.iter().chain(wanted).max().map_or(0, |&m| m + 1);
            if local.len() < top {
                local.resize(top.max(self.cfg.num_nodes as usize), u32::MAX);
            }
            for (i, &n) in table.iter().enumerate() {
                local[n] = i as u32;
            }
            let at: Option<Vec<i64>> =
                wanted.iter().map(|&n| (local[n] != u32::MAX).then(|| local[n] as i64)).collect();
            for &n in table {
                local[n] = u32::MAX;
            }
            at.map(|v| self.i64s(&v))
        })
    }

    /// Memory of `nodes` with their pending messages folded in (`[n, m]`, with
    /// gradients through the updater); also returns which rows were updated.
    pub fn updated_memory(&self, nodes: &[usize]) -> Result<(Tensor, Vec<usize>, Tensor), ModelError> {
        let memory = self.memory.as_ref().ok_or_else(|| ModelError::Config("no memory".into()))?;
        let cell = self.cell.as_ref().ok_or_else(|| ModelError::Config("no memory cell".into()))?;
        let idx: Vec<i64> = nodes.iter().map(|&n| n as i64).collect();
        let all = memory.mem.index_select(0, &self.i64s(&idx));
        let (rows, pend): (Vec<i64>, Vec<usize>) = nodes
            .iter()
            .enumerate()
            .filter(|&(_, &n)| memory.pending(n))
            .map(|(i, &n)| (i as i64, n))
            .unzip();
        if pend.is_empty() {
            return Ok((
                all,
                pend,
                Tensor::zeros([0, self.cfg.memory_dim as i64], (Kind::Float, self.device)),
            ));
        }
        let pidx: Vec<i64> = pend.iter().map(|&n| n as i64).collect();
        let pidx = self.i64s(&pidx);
        let (mem, other, feat, dt) = memory.messages(&pidx, &pend);
        let dt = self.f32s(&dt, &[pend.len() as i64]);
        let msg = Tensor::cat(&[&mem, &other, &self.time.forward(&dt), &feat], 1);
        let new = cell.forward(&msg, &mem);
        let rows = self.i64s(&rows);
        let merged = all.index_put(&[Some(rows)], &new, false);
        Ok((merged, pend, new))
    }

    /// Embeddings of the roots, `[R, emb]`.
    pub fn embed(&self, store: &dyn TemporalStore, roots: Roots<'_>) -> Result<Tensor, ModelError> {
        Ok(self.embed_folded(store, roots)?.0)
    }

    /// [`Net::embed`], also returning the memory rows it updated (models with memory).
    pub fn embed_folded(
        &self,
        store: &dyn TemporalStore,
        roots: Roots<'_>,
    ) -> Result<(Tensor, Option<Folded>), ModelError> {
        if self.cfg.kind == ModelKind::Graphmixer {
            return Ok((self.embed_mixer(store, roots)?, None));
        }
        let r = roots.nodes.len();
        let depth = match self.cfg.embedding {
            Embedding::Attention => self.cfg.layers,
            _ => 0,
        };
        if roots.layers.len() < depth {
            return Err(ModelError::Config(format!("{} sampled layers, need {depth}", roots.layers.len())));
        }
        // Nodes at every depth.
        let mut lists: Vec<&[NodeId]> = vec![roots.nodes];
        for l in roots.layers.iter().take(depth) {
            lists.push(&l.nbr);
        }
        let (uniq, rows) = self.localize(&lists);
        let (h_uniq, folded) = self.node_inputs(store, &uniq)?;
        let h0: Vec<DepthInput> = rows
            .iter()
            .map(|rw| DepthInput { rows: h_uniq.shallow_clone(), index: Some(self.i64s(rw)) })
            .collect();
        let at_roots = || h_uniq.index_select(0, h0[0].index.as_ref().expect("set above"));
        let emb = match self.cfg.embedding {
            Embedding::Identity => at_roots(),
            Embedding::TimeProjection => {
                let memory = self.memory.as_ref().expect("validated: JODIE has memory");
                let dt: Vec<f32> = roots
                    .nodes
                    .iter()
                    .zip(roots.t)
                    .map(|(&n, &t)| {
                        ((t - memory.effective_last_update(n as usize)) / self.cfg.time_scale) as f32
                    })
                    .collect();
                let dt = self.f32s(&dt, &[r as i64, 1]);
                let proj = self.jodie.as_ref().expect("validated").forward(&dt);
                at_roots() * (proj + 1.0)
            }
            Embedding::Attention => self.attend(store, roots, h0)?,
        };
        Ok((emb, folded))
    }

    /// The updated memory of `nodes`' pending messages with the current weights, for
    /// [`Net::absorb_folded`] (no gradients); `None` without memory.
    pub fn fold_pending(&self, nodes: &[NodeId]) -> Result<Option<Folded>, ModelError> {
        let Some(memory) = self.memory.as_ref() else { return Ok(None) };
        let (uniq, _) = self.localize(&[nodes]);
        let (_, pend, new) = tch::no_grad(|| self.updated_memory(&uniq))?;
        Ok(Some(Folded { absorbed: memory.absorbed, nodes: pend, rows: new }))
    }

    /// `h0` per node: memory (updated) + projected node features, or features / zeros.
    fn node_inputs(
        &self,
        store: &dyn TemporalStore,
        uniq: &[usize],
    ) -> Result<(Tensor, Option<Folded>), ModelError> {
        let n = uniq.len() as i64;
        let (mut h, folded) = match &self.memory {
            Some(memory) => {
                let (h, nodes, new) = self.updated_memory(uniq)?;
                (h, Some(Folded { absorbed: memory.absorbed, nodes, rows: new.detach() }))
            }
            None => (Tensor::zeros([n, self.cfg.node_input_dim() as i64], (Kind::Float, self.device)), None),
        };
        if let Some(p) = &self.node_proj {
            let ids: Vec<NodeId> = uniq.iter().map(|&u| u as NodeId).collect();
            let f = self.gather_nodes(store, &ids);
            h += p.forward(&self.f32s(&f, &[n, self.cfg.node_dim as i64]));
        }
        Ok((h, folded))
    }

    /// `h0[d]`: inputs at depth `d` as (`rows [M, x]`, optional index per slot).
    fn attend(
        &self,
        store: &dyn TemporalStore,
        roots: Roots<'_>,
        h0: Vec<DepthInput>,
    ) -> Result<Tensor, ModelError> {
        let layers = self.attn.len();
        let mut times: Vec<&[Time]> = vec![roots.t];
        for l in roots.layers.iter().take(layers) {
            times.push(&l.t);
        }
        // Per sampled layer: the slot pieces that do not depend on the attention layer.
        let mut edge = Vec::with_capacity(layers);
        for (d, s) in roots.layers.iter().take(layers).enumerate() {
            let k = s.k;
            let n = times[d].len();
            // Serial: a few thousand subtractions cost less than handing them to the
            // rayon pool, whose threads are busy preparing the next batch.
            let dt: Vec<f32> =
                s.t.iter()
                    .enumerate()
                    .map(|(i, &ts)| if s.mask[i] != 0 { (times[d][i / k] - ts) as f32 } else { 0.0 })
                    .collect();
            let te = self.time.forward(&self.f32s(&dt, &[(n * k) as i64]));
            let feats = (self.cfg.edge_dim > 0).then(|| {
                let f = self.gather_edges(store, &s.eid, &s.mask);
                self.f32s(&f, &[(n * k) as i64, self.cfg.edge_dim as i64])
            });
            let mask: Vec<bool> = s.mask.iter().map(|&m| m != 0).collect();
            let mask =
                crate::model::upload(Tensor::from_slice(&mask).view([n as i64, k as i64]), self.device);
            edge.push((te, feats, mask));
        }
        // Layer 1 reads the (possibly shared) node rows; deeper layers read per-slot rows.
        let mut cur: Vec<(Tensor, Option<Tensor>)> = h0.into_iter().map(|d| (d.rows, d.index)).collect();
        for (l, attn) in self.attn.iter().enumerate() {
            let mut next = Vec::with_capacity(layers - l);
            for d in 0..(layers - l) {
                let (te, feats, mask) = &edge[d];
                let root = match &cur[d].1 {
                    Some(ix) => cur[d].0.index_select(0, ix),
                    None => cur[d].0.shallow_clone(),
                };
                let kin = KeyInputs {
                    nodes: &cur[d + 1].0,
                    index: cur[d + 1].1.as_ref(),
                    time: te,
                    edge: feats.as_ref(),
                    mask,
                };
                next.push((attn.forward(&root, &kin), None));
            }
            cur = next;
        }
        Ok(cur.swap_remove(0).0)
    }

    fn embed_mixer(&self, store: &dyn TemporalStore, roots: Roots<'_>) -> Result<Tensor, ModelError> {
        let m = self.mixer.as_ref().expect("graphmixer has a mixer");
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
        let te = self.time.forward(&self.f32s(&dt, &[r, k]));
        let feats = self.gather_edges(store, &s.eid, &s.mask);
        let feats = self.f32s(&feats, &[r, k, self.cfg.edge_dim as i64]);
        let maskf: Vec<f32> = s.mask.iter().map(|&x| x as f32).collect();
        let maskf = self.f32s(&maskf, &[r, k, 1]);
        let mut x = m.token_in.forward(&Tensor::cat(&[&feats, &te], 2)) * &maskf;
        for b in &m.blocks {
            x = b.forward(&x);
        }
        let link = m.out.forward(&x.mean_dim(1, false, Kind::Float));
        match (&m.node_in, &m.merge) {
            (Some(node_in), Some(merge)) => {
                // Own features plus the mean over the valid sampled neighbours.
                let d = self.cfg.node_dim as i64;
                let own = self.f32s(&self.gather_nodes(store, roots.nodes), &[r, d]);
                let nb = self.f32s(&self.gather_nodes(store, &s.nbr), &[r, k, d]);
                let cnt = maskf.sum_dim_intlist(1, false, Kind::Float).clamp_min(1.0);
                let mean = (nb * &maskf).sum_dim_intlist(1, false, Kind::Float) / cnt;
                let node = node_in.forward(&(own + mean));
                Ok(merge.forward(&Tensor::cat(&[&link, &node], 1)))
            }
            _ => Ok(link),
        }
    }

    /// Decoder projections of embeddings (see [`LinkDecoder::project`]).
    pub fn project(&self, emb: &Tensor) -> (Tensor, Tensor) {
        self.decoder.project(emb)
    }

    /// Logits `[2, m]` of positives and negatives from root embeddings laid out
    /// `[src (m), dst (m), negative dst (m)]` (see [`LinkDecoder::pair_logits`]).
    pub fn pair_logits(&self, emb: &Tensor, m: usize) -> Tensor {
        self.decoder.pair_logits(emb, m as i64)
    }

    /// Logits of pairs of embedding rows `(a[i], b[i])`.
    pub fn logits(&self, proj: &(Tensor, Tensor), a: &[i64], b: &[i64]) -> Tensor {
        self.decoder.logits(&proj.0, &proj.1, &self.i64s(a), &self.i64s(b))
    }

    /// Fold the events `range` into the memory (no gradients): their endpoints'
    /// pending messages first, with the current weights, then the events' own
    /// messages. Events must come in order: `range.start` = events absorbed so far.
    pub fn absorb(&mut self, store: &dyn TemporalStore, range: Range<usize>) -> Result<(), ModelError> {
        self.absorb_folded(store, range, None)
    }

    /// [`Net::absorb`], where the endpoints' updated memory is taken from `folded`
    /// when it holds every endpoint with pending messages and was computed at this
    /// memory state (`absorbed` unchanged): the rows the batch's forward pass used,
    /// with the weights of that pass. This is TGN's training order (the memory a
    /// batch is scored with is the memory it stores, before the optimizer step) and
    /// saves running the updater twice. Otherwise they are computed anew.
    pub fn absorb_folded(
        &mut self,
        store: &dyn TemporalStore,
        range: Range<usize>,
        folded: Option<Folded>,
    ) -> Result<(), ModelError> {
        let Some(memory) = self.memory.as_ref() else { return Ok(()) };
        if range.start != memory.absorbed {
            return Err(ModelError::Mismatch(format!(
                "absorbing events {}..{} but the memory has absorbed {} events",
                range.start, range.end, memory.absorbed
            )));
        }
        if range.is_empty() {
            return Ok(());
        }
        let n = range.len();
        let mut src = Vec::with_capacity(n);
        let mut dst = Vec::with_capacity(n);
        let mut t = Vec::with_capacity(n);
        for e in range.clone() {
            let (s, d, te) = store.event(e as EventId);
            src.push(s);
            dst.push(d);
            t.push(te);
        }
        tch::no_grad(|| -> Result<(), ModelError> {
            // 1. Fold pending messages of the endpoints.
            let (uniq, _) = self.localize(&[&src, &dst]);
            let memory = self.memory.as_ref().expect("checked");
            let pend: Vec<usize> = uniq.into_iter().filter(|&n| memory.pending(n)).collect();
            if !pend.is_empty() {
                let kept = folded
                    .filter(|f| f.absorbed == memory.absorbed)
                    .and_then(|f| self.positions(&f.nodes, &pend).map(|at| f.rows.index_select(0, &at)));
                let new = match kept {
                    Some(rows) => rows,
                    None => self.updated_memory(&pend)?.2,
                };
                let idx: Vec<i64> = pend.iter().map(|&x| x as i64).collect();
                let idx = self.i64s(&idx);
                self.memory.as_mut().expect("checked").persist(&idx, &pend, &new);
            }
            // 2. Messages: to src (other = dst), then to dst (other = src), per event.
            let mut to = Vec::with_capacity(2 * n);
            let mut other_rows = Vec::with_capacity(2 * n);
            let mut tt = Vec::with_capacity(2 * n);
            for i in 0..n {
                to.push(src[i] as usize);
                other_rows.push(dst[i] as i64);
                tt.push(t[i]);
                to.push(dst[i] as usize);
                other_rows.push(src[i] as i64);
                tt.push(t[i]);
            }
            let other = if self.cfg.dst_embedding_in_message {
                // DyRep: the other endpoint's attention embedding at the event time,
                // from events before this batch.
                self.message_embeddings(store, &src, &dst, &t, range.start as EventId)?
            } else {
                let m = &self.memory.as_ref().expect("checked").mem;
                m.index_select(0, &self.i64s(&other_rows))
            };
            let e = self.cfg.edge_dim;
            let mut fe = Vec::with_capacity(2 * n * e);
            if e > 0 {
                for i in 0..n {
                    let f = store.event_feat((range.start + i) as EventId);
                    fe.extend_from_slice(f);
                    fe.extend_from_slice(f);
                }
            }
            let feat = self.f32s(&fe, &[2 * n as i64, e as i64]);
            let memory = self.memory.as_mut().expect("checked");
            memory.store(&to, &tt, &other, &feat);
            memory.absorbed = range.end;
            memory.watermark_time = t[n - 1];
            Ok(())
        })
    }

    /// DyRep messages: row `2i` is dst's embedding (for src), `2i+1` src's (for dst).
    fn message_embeddings(
        &self,
        store: &dyn TemporalStore,
        src: &[NodeId],
        dst: &[NodeId],
        t: &[Time],
        cutoff: EventId,
    ) -> Result<Tensor, ModelError> {
        let n = src.len();
        let mut nodes = Vec::with_capacity(2 * n);
        let mut times = Vec::with_capacity(2 * n);
        for i in 0..n {
            nodes.push(dst[i]);
            times.push(t[i]);
            nodes.push(src[i]);
            times.push(t[i]);
        }
        let sampler = NeighborSampler::new(store, self.sampler_config(0))
            .map_err(|e| ModelError::Config(format!("sampler: {e}")))?;
        let layers = sampler
            .sample_layers(&nodes, &times, cutoff)
            .map_err(|e| ModelError::Config(format!("sampler: {e}")))?;
        let lists: Vec<&[NodeId]> =
            std::iter::once(&nodes[..]).chain(layers.iter().map(|l| &l.nbr[..])).collect();
        let (uniq, rows) = self.localize(&lists);
        let (h_uniq, _) = self.node_inputs(store, &uniq)?;
        let h0: Vec<DepthInput> = rows
            .iter()
            .map(|rw| DepthInput { rows: h_uniq.shallow_clone(), index: Some(self.i64s(rw)) })
            .collect();
        self.attend(store, Roots { nodes: &nodes, t: &times, layers: &layers }, h0)
    }

    /// Extend the model to `nodes` nodes (new nodes from a live append get fresh
    /// memory); the weights do not depend on the node count.
    pub fn grow(&mut self, nodes: u32) {
        if nodes <= self.cfg.num_nodes {
            return;
        }
        self.cfg.num_nodes = nodes;
        if let Some(m) = self.memory.as_mut() {
            m.grow(nodes as usize);
        }
    }

    /// Start the memory over (no events absorbed).
    pub fn reset_memory(&mut self) {
        if let Some(m) = self.memory.as_mut() {
            m.reset();
        }
    }

    /// Events absorbed into the memory so far (0 without memory).
    pub fn absorbed(&self) -> usize {
        self.memory.as_ref().map_or(0, |m| m.absorbed)
    }

    /// The trainable variables, in a fixed (name) order.
    pub fn named_trainables(&self) -> Vec<(String, Tensor)> {
        let mut v: Vec<(String, Tensor)> =
            self.vs.variables().into_iter().filter(|(_, t)| t.requires_grad()).collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    }
}
