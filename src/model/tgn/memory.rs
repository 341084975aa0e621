//! Per-node memory (TGN, JODIE, DyRep): state tensors that are not trainable
//! parameters, plus the messages waiting to update them.
//!
//! Shapes, `N` = nodes: `mem [N, m]`, `msg_other [N, o]` (the other endpoint's
//! memory, or DyRep's destination embedding, captured when the message is stored,
//! detached), `msg_feat [N, e]` on the device; on the host `last_update [N]`
//! (`f64`, time of the last message folded into the memory), and per node the
//! pending message time (sum for `mean`) and count.
//!
//! Semantics (TGN with memory update at the start of a batch): a batch reads the
//! memory updated with the messages stored by earlier batches (computed in the
//! forward pass, with gradients through the updater and the time encoder); after
//! the optimiser step the batch's endpoints fold their pending messages in with the
//! new weights ([`Memory::persist`]) and the batch stores its own messages
//! ([`Memory::store`]). A node's pending messages therefore always come from the
//! one batch it last took part in, so folding them in when it is next a root or a
//! neighbour, or only when it next takes part, gives the same memory.
//!
//! Watermark: `absorbed` events (ids `0..absorbed`) have been stored, the newest at
//! `watermark_time`; scoring earlier than that is refused by the callers.

use std::path::Path;

use tch::{Device, Kind, Tensor};

use crate::model::ModelError;
use crate::model::config::Aggregator;

#[derive(Debug)]
pub struct Memory {
    pub dim: usize,
    pub other_dim: usize,
    pub edge_dim: usize,
    pub aggregator: Aggregator,
    pub mem: Tensor,
    pub msg_other: Tensor,
    pub msg_feat: Tensor,
    pub last_update: Vec<f64>,
    msg_t: Vec<f64>,
    msg_cnt: Vec<u32>,
    /// Events `0..absorbed` have been stored as messages.
    pub absorbed: usize,
    pub watermark_time: f64,
    /// `last_update` of a node that never had an event.
    pub origin: f64,
}

impl Memory {
    pub fn new(
        nodes: usize,
        dim: usize,
        other_dim: usize,
        edge_dim: usize,
        aggregator: Aggregator,
        origin: f64,
        device: Device,
    ) -> Memory {
        let z = |w: usize| Tensor::zeros([nodes as i64, w as i64], (Kind::Float, device));
        Memory {
            dim,
            other_dim,
            edge_dim,
            aggregator,
            mem: z(dim),
            msg_other: z(other_dim),
            msg_feat: z(edge_dim),
            last_update: vec![origin; nodes],
            msg_t: vec![0.0; nodes],
            msg_cnt: vec![0; nodes],
            absorbed: 0,
            watermark_time: f64::NEG_INFINITY,
            origin,
        }
    }

    pub fn num_nodes(&self) -> usize {
        self.last_update.len()
    }

    /// Bytes held for all nodes: the three float tables plus the per-node times and
    /// counts (`N x (4 (dim + other + edge) + 20)`).
    pub fn bytes(&self) -> usize {
        self.num_nodes() * (4 * (self.dim + self.other_dim + self.edge_dim) + 8 + 8 + 4)
    }

    /// Make room for nodes `num_nodes()..nodes` (added by a live append): fresh rows,
    /// exactly as `new` would have made them. Never shrinks.
    pub fn grow(&mut self, nodes: usize) {
        let old = self.num_nodes();
        if nodes <= old {
            return;
        }
        let extra = (nodes - old) as i64;
        let device = self.mem.device();
        let pad = |t: &Tensor, w: usize| {
            Tensor::cat(&[t.shallow_clone(), Tensor::zeros([extra, w as i64], (Kind::Float, device))], 0)
        };
        self.mem = pad(&self.mem, self.dim);
        self.msg_other = pad(&self.msg_other, self.other_dim);
        self.msg_feat = pad(&self.msg_feat, self.edge_dim);
        self.last_update.resize(nodes, self.origin);
        self.msg_t.resize(nodes, 0.0);
        self.msg_cnt.resize(nodes, 0);
    }

    /// Forget everything (start of an epoch, or before a replay).
    pub fn reset(&mut self) {
        tch::no_grad(|| {
            let _ = self.mem.zero_();
            let _ = self.msg_other.zero_();
            let _ = self.msg_feat.zero_();
        });
        self.last_update.fill(self.origin);
        self.msg_t.fill(0.0);
        self.msg_cnt.fill(0);
        self.absorbed = 0;
        self.watermark_time = f64::NEG_INFINITY;
    }

    pub fn pending(&self, n: usize) -> bool {
        self.msg_cnt[n] > 0
    }

    /// Time of the aggregated pending message of `n` (requires `pending(n)`).
    pub fn message_time(&self, n: usize) -> f64 {
        match self.aggregator {
            Aggregator::Last => self.msg_t[n],
            Aggregator::Mean => self.msg_t[n] / self.msg_cnt[n] as f64,
        }
    }

    /// Time of the node's memory once its pending messages are folded in.
    pub fn effective_last_update(&self, n: usize) -> f64 {
        if self.pending(n) { self.message_time(n) } else { self.last_update[n] }
    }

    /// Raw pieces of the aggregated messages of `nodes` (all pending), for the
    /// updater: (`mem [n, m]`, `other [n, o]`, `feat [n, e]`, host `dt`).
    pub fn messages(&self, nodes: &Tensor, host: &[usize]) -> (Tensor, Tensor, Tensor, Vec<f32>) {
        let mem = self.mem.index_select(0, nodes);
        let mut other = self.msg_other.index_select(0, nodes);
        let mut feat = self.msg_feat.index_select(0, nodes);
        if self.aggregator == Aggregator::Mean {
            let cnt: Vec<f32> = host.iter().map(|&n| self.msg_cnt[n] as f32).collect();
            let c = crate::model::upload(Tensor::from_slice(&cnt), mem.device()).unsqueeze(1);
            other /= &c;
            feat /= &c;
        }
        let dt = host.iter().map(|&n| (self.message_time(n) - self.last_update[n]) as f32).collect();
        (mem, other, feat, dt)
    }

    /// Write `updated [n, m]` (detached) as the memory of `host` nodes, whose pending
    /// messages it folded in, and clear those messages.
    pub fn persist(&mut self, nodes: &Tensor, host: &[usize], updated: &Tensor) {
        tch::no_grad(|| {
            let _ = self.mem.index_copy_(0, nodes, &updated.detach());
            if self.aggregator == Aggregator::Mean {
                let _ = self.msg_other.index_fill_(0, nodes, 0.0);
                let _ = self.msg_feat.index_fill_(0, nodes, 0.0);
            }
        });
        for &n in host {
            self.last_update[n] = self.message_time(n);
            self.msg_t[n] = 0.0;
            self.msg_cnt[n] = 0;
        }
    }

    /// Store messages `to[i] <- (other[i] row, feat[i] row, t[i])`, in event order.
    /// `other [M, o]` and `feat [M, e]` are detached device tensors with one row per
    /// message. With `last`, only the final message per node is kept.
    pub fn store(&mut self, to: &[usize], t: &[f64], other: &Tensor, feat: &Tensor) {
        let device = self.mem.device();
        let (rows, nodes): (Vec<i64>, Vec<i64>) = match self.aggregator {
            Aggregator::Last => {
                // The final message per node: scan backwards, first seen wins.
                let mut seen = std::collections::HashSet::with_capacity(to.len());
                let mut keep: Vec<(i64, i64)> = Vec::with_capacity(to.len());
                for i in (0..to.len()).rev() {
                    if seen.insert(to[i]) {
                        keep.push((i as i64, to[i] as i64));
                        self.msg_t[to[i]] = t[i];
                        self.msg_cnt[to[i]] = 1;
                    }
                }
                keep.reverse();
                keep.into_iter().unzip()
            }
            Aggregator::Mean => {
                for (i, &n) in to.iter().enumerate() {
                    self.msg_t[n] += t[i];
                    self.msg_cnt[n] += 1;
                }
                ((0..to.len() as i64).collect(), to.iter().map(|&n| n as i64).collect())
            }
        };
        if rows.is_empty() {
            return;
        }
        let r = crate::model::upload(Tensor::from_slice(&rows), device);
        let n = crate::model::upload(Tensor::from_slice(&nodes), device);
        tch::no_grad(|| {
            let o = other.detach().index_select(0, &r);
            let f = feat.detach().index_select(0, &r);
            match self.aggregator {
                Aggregator::Last => {
                    let _ = self.msg_other.index_copy_(0, &n, &o);
                    if self.edge_dim > 0 {
                        let _ = self.msg_feat.index_copy_(0, &n, &f);
                    }
                }
                Aggregator::Mean => {
                    let _ = self.msg_other.index_add_(0, &n, &o);
                    if self.edge_dim > 0 {
                        let _ = self.msg_feat.index_add_(0, &n, &f);
                    }
                }
            }
        });
    }

    /// Save every tensor and host array to one safetensors file.
    pub fn save(&self, path: &Path) -> Result<(), ModelError> {
        let lu = Tensor::from_slice(&self.last_update);
        let mt = Tensor::from_slice(&self.msg_t);
        let cnt: Vec<i64> = self.msg_cnt.iter().map(|&c| c as i64).collect();
        let mc = Tensor::from_slice(&cnt);
        let wm = Tensor::from_slice(&[self.absorbed as f64, self.watermark_time]);
        let named = [
            ("mem", self.mem.to_device(Device::Cpu)),
            ("msg_other", self.msg_other.to_device(Device::Cpu)),
            ("msg_feat", self.msg_feat.to_device(Device::Cpu)),
            ("last_update", lu),
            ("msg_t", mt),
            ("msg_cnt", mc),
            ("watermark", wm),
        ];
        Tensor::write_safetensors(&named, path)?;
        Ok(())
    }

    /// Restore what [`Memory::save`] wrote; shapes must match this memory.
    pub fn load(&mut self, path: &Path) -> Result<(), ModelError> {
        let named = Tensor::read_safetensors(path)?;
        let get = |k: &str| {
            named
                .iter()
                .find(|(n, _)| n == k)
                .map(|(_, t)| t.shallow_clone())
                .ok_or_else(|| ModelError::Mismatch(format!("{}: no tensor {k:?}", path.display())))
        };
        let device = self.mem.device();
        let check = |t: &Tensor, like: &Tensor, k: &str| {
            if t.size() != like.size() {
                Err(ModelError::Mismatch(format!(
                    "{}: {k} has shape {:?}, the model expects {:?}",
                    path.display(),
                    t.size(),
                    like.size()
                )))
            } else {
                Ok(t.to_device(device))
            }
        };
        let mem = check(&get("mem")?, &self.mem, "mem")?;
        let other = check(&get("msg_other")?, &self.msg_other, "msg_other")?;
        let feat = check(&get("msg_feat")?, &self.msg_feat, "msg_feat")?;
        let lu = Vec::<f64>::try_from(get("last_update")?)?;
        let mt = Vec::<f64>::try_from(get("msg_t")?)?;
        let mc = Vec::<i64>::try_from(get("msg_cnt")?)?;
        let wm = Vec::<f64>::try_from(get("watermark")?)?;
        if lu.len() != self.num_nodes() || mt.len() != lu.len() || mc.len() != lu.len() || wm.len() != 2 {
            return Err(ModelError::Mismatch(format!("{}: node arrays of the wrong length", path.display())));
        }
        self.mem = mem;
        self.msg_other = other;
        self.msg_feat = feat;
        self.last_update = lu;
        self.msg_t = mt;
        self.msg_cnt = mc.into_iter().map(|c| c as u32).collect();
        self.absorbed = wm[0] as usize;
        self.watermark_time = wm[1];
        Ok(())
    }
}
