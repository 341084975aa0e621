//! The TGN family's forward pass: [`Roots`] (host buffers from the sampler) to
//! embeddings `[R, emb]`.
//!
//! With `L` attention layers, depth 0 holds the roots and depth `d + 1` the slots of
//! sampled layer `d` (each slot queried at its own event time). Inputs `h0` at every
//! depth are the node's memory (updated with its pending messages, with gradients)
//! plus projected node features, or the node features alone / zeros without memory
//! (TGAT). Layer `l` computes depth `d` from depths `d` and `d + 1` of layer `l - 1`,
//! so the result at depth 0 has seen `L` hops.

use tch::nn::Module;
use tch::{Kind, Tensor};

use super::{Folded, TgnNet};
use crate::model::ModelError;
use crate::model::api::Roots;
use crate::model::config::Embedding;
use crate::model::inputs::{f32s, gather_edges, gather_nodes, i64s, localize};
use crate::model::parts::KeyInputs;
use crate::store::{NodeId, TemporalStore, Time};

/// Node inputs at one depth: `rows [M, x]` and, when rows are shared between
/// slots (distinct nodes), the row of each slot.
pub(super) struct DepthInput {
    pub rows: Tensor,
    pub index: Option<Tensor>,
}

impl TgnNet {
    /// Memory of `nodes` with their pending messages folded in (`[n, m]`, with
    /// gradients through the updater); also which of them were updated and their
    /// new rows.
    pub(super) fn updated_memory(&self, nodes: &[usize]) -> Result<(Tensor, Vec<usize>, Tensor), ModelError> {
        let memory = self.memory.as_ref().ok_or_else(|| ModelError::Config("no memory".into()))?;
        let cell = self.cell.as_ref().ok_or_else(|| ModelError::Config("no memory cell".into()))?;
        let dev = self.device;
        let idx: Vec<i64> = nodes.iter().map(|&n| n as i64).collect();
        let all = memory.mem.index_select(0, &i64s(&idx, dev));
        let (rows, pend): (Vec<i64>, Vec<usize>) = nodes
            .iter()
            .enumerate()
            .filter(|&(_, &n)| memory.pending(n))
            .map(|(i, &n)| (i as i64, n))
            .unzip();
        if pend.is_empty() {
            return Ok((all, pend, Tensor::zeros([0, self.cfg.memory_dim as i64], (Kind::Float, dev))));
        }
        let pidx: Vec<i64> = pend.iter().map(|&n| n as i64).collect();
        let pidx = i64s(&pidx, dev);
        let (mem, other, feat, dt) = memory.messages(&pidx, &pend);
        let dt = f32s(&dt, &[pend.len() as i64], dev);
        let msg = Tensor::cat(&[&mem, &other, &self.time.forward(&dt), &feat], 1);
        let new = cell.forward(&msg, &mem);
        let rows = i64s(&rows, dev);
        let merged = all.index_put(&[Some(rows)], &new, false);
        Ok((merged, pend, new))
    }

    /// Embeddings of the roots, `[R, emb]`, and the memory rows the pass updated
    /// (models with memory).
    pub fn embed_folded(
        &self,
        store: &dyn TemporalStore,
        roots: Roots<'_>,
    ) -> Result<(Tensor, Option<Folded>), ModelError> {
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
        let (uniq, rows) = localize(&lists, self.cfg.num_nodes as usize);
        let (h_uniq, folded) = self.node_inputs(store, &uniq)?;
        let h0: Vec<DepthInput> = rows
            .iter()
            .map(|rw| DepthInput { rows: h_uniq.shallow_clone(), index: Some(i64s(rw, self.device)) })
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
                let dt = f32s(&dt, &[r as i64, 1], self.device);
                let proj = self.jodie.as_ref().expect("validated").forward(&dt);
                at_roots() * (proj + 1.0)
            }
            Embedding::Attention => self.attend(store, roots, h0)?,
        };
        Ok((emb, folded))
    }

    /// `h0` per node: memory (updated) + projected node features, or features / zeros.
    pub(super) fn node_inputs(
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
            let f = gather_nodes(store, &ids, &self.cfg);
            h += p.forward(&f32s(&f, &[n, self.cfg.node_dim as i64], self.device));
        }
        Ok((h, folded))
    }

    /// `h0[d]`: inputs at depth `d` as (`rows [M, x]`, optional index per slot).
    pub(super) fn attend(
        &self,
        store: &dyn TemporalStore,
        roots: Roots<'_>,
        h0: Vec<DepthInput>,
    ) -> Result<Tensor, ModelError> {
        let layers = self.attn.len();
        let dev = self.device;
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
            let te = self.time.forward(&f32s(&dt, &[(n * k) as i64], dev));
            let feats = (self.cfg.edge_dim > 0).then(|| {
                let f = gather_edges(store, &s.eid, &s.mask, &self.cfg);
                f32s(&f, &[(n * k) as i64, self.cfg.edge_dim as i64], dev)
            });
            let mask: Vec<bool> = s.mask.iter().map(|&m| m != 0).collect();
            let mask = crate::model::upload(Tensor::from_slice(&mask).view([n as i64, k as i64]), dev);
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
}
