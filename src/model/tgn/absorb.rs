//! Folding a scored batch into the TGN family's memory (no gradients): the batch's
//! endpoints fold their pending messages in (with the rows the batch's forward pass
//! computed, when handed over, else with the current weights), then the batch's
//! events are stored as the endpoints' new pending messages. Events come in order:
//! a batch starts where the memory's `absorbed` count ends.

use std::ops::Range;

use tch::Tensor;

use super::TgnNet;
use super::embed::DepthInput;
use crate::model::ModelError;
use crate::model::api::Roots;
use crate::model::inputs::{event_features, f32s, i64s, localize, positions};
use crate::sample::neighbors::NeighborSampler;
use crate::store::{EventId, NodeId, TemporalStore, Time};

/// Memory rows a forward pass computed by folding nodes' pending messages in:
/// `rows[i]` is the updated memory of `nodes[i]`, computed when the memory had
/// absorbed `absorbed` events, with the weights of that moment (detached). Handed
/// to [`TgnNet::absorb_folded`] so that absorbing the batch persists these rows
/// instead of running the updater again.
pub struct Folded {
    pub(super) absorbed: usize,
    pub(super) nodes: Vec<usize>,
    pub(super) rows: Tensor,
}

impl TgnNet {
    /// The updated memory of `nodes`' pending messages with the current weights, for
    /// [`TgnNet::absorb_folded`] (no gradients); `None` without memory.
    pub fn fold_pending(&self, nodes: &[NodeId]) -> Result<Option<Folded>, ModelError> {
        let Some(memory) = self.memory.as_ref() else { return Ok(None) };
        let (uniq, _) = localize(&[nodes], self.cfg.num_nodes as usize);
        let (_, pend, new) = tch::no_grad(|| self.updated_memory(&uniq))?;
        Ok(Some(Folded { absorbed: memory.absorbed, nodes: pend, rows: new }))
    }

    /// Fold the events `range` into the memory. The endpoints' updated memory is
    /// taken from `folded` when it holds every endpoint with pending messages and
    /// was computed at this memory state (`absorbed` unchanged): the rows the batch's
    /// forward pass used, with the weights of that pass. This is TGN's training order
    /// (the memory a batch is scored with is the memory it stores, before the
    /// optimizer step) and saves running the updater twice. Otherwise they are
    /// computed anew with the current weights.
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
        let dev = self.device;
        let hint = self.cfg.num_nodes as usize;
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
            let (uniq, _) = localize(&[&src, &dst], hint);
            let memory = self.memory.as_ref().expect("checked");
            let pend: Vec<usize> = uniq.into_iter().filter(|&n| memory.pending(n)).collect();
            if !pend.is_empty() {
                let kept = folded.filter(|f| f.absorbed == memory.absorbed).and_then(|f| {
                    positions(&f.nodes, &pend, hint).map(|at| f.rows.index_select(0, &i64s(&at, dev)))
                });
                let new = match kept {
                    Some(rows) => rows,
                    None => self.updated_memory(&pend)?.2,
                };
                let idx: Vec<i64> = pend.iter().map(|&x| x as i64).collect();
                let idx = i64s(&idx, dev);
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
                m.index_select(0, &i64s(&other_rows, dev))
            };
            let e = self.cfg.edge_dim;
            let mut fe = Vec::with_capacity(2 * n * e);
            if e > 0 {
                for f in event_features(store, range.clone(), &self.cfg).chunks_exact(e) {
                    fe.extend_from_slice(f);
                    fe.extend_from_slice(f);
                }
            }
            let feat = f32s(&fe, &[2 * n as i64, e as i64], dev);
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
        let sampler = NeighborSampler::new(store, self.sampler(0))?;
        let layers = sampler.sample_layers(&nodes, &times, cutoff)?;
        let lists: Vec<&[NodeId]> =
            std::iter::once(&nodes[..]).chain(layers.iter().map(|l| &l.nbr[..])).collect();
        let (uniq, rows) = localize(&lists, self.cfg.num_nodes as usize);
        let (h_uniq, _) = self.node_inputs(store, &uniq)?;
        let h0: Vec<DepthInput> = rows
            .iter()
            .map(|rw| DepthInput { rows: h_uniq.shallow_clone(), index: Some(i64s(rw, self.device)) })
            .collect();
        self.attend(store, Roots { nodes: &nodes, t: &times, layers: &layers }, h0)
    }
}
