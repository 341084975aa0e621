//! Host buffers to device tensors, shared by every model family: one copy per
//! buffer (`Tensor::from_slice`, then [`crate::model::upload`]), edge and node
//! feature gathers (parallel, zeros at padding slots), and the localisation of
//! node ids to rows of a per-batch table.
//!
//! Features reach a model only through the gathers here, and each applies the
//! model config's `feature_scaling` (training-period statistics, see
//! [`crate::store::scaling`]): training, validation, `eval`, serving and every
//! data-parallel rank read the same scaled values, and no path can skip it.
//!
//! Times never reach the device as absolute values: callers compute differences
//! on the host in `f64` and ship them as `f32`.

use std::ops::Range;

use rayon::prelude::*;
use tch::{Device, Tensor};

use crate::model::ModelConfig;
use crate::store::scaling::Affine;
use crate::store::{EventId, NodeId, TemporalStore};

/// `v` as a float tensor of `shape` on `device`.
pub fn f32s(v: &[f32], shape: &[i64], device: Device) -> Tensor {
    crate::model::upload(Tensor::from_slice(v).view(shape), device)
}

/// `v` as an index tensor on `device`.
pub fn i64s(v: &[i64], device: Device) -> Tensor {
    crate::model::upload(Tensor::from_slice(v), device)
}

/// The edge scaling of `cfg` in its per-row form, or `None` (features as stored).
fn edge_affine(cfg: &ModelConfig) -> Option<Affine> {
    cfg.feature_scaling.as_ref().and_then(|s| s.edge_affine())
}

fn node_affine(cfg: &ModelConfig) -> Option<Affine> {
    cfg.feature_scaling.as_ref().and_then(|s| s.node_affine())
}

/// Edge features (`cfg.edge_dim` wide, scaled as `cfg` says) of events `eid`,
/// zeros where `mask` is 0: `[n * e]`.
pub fn gather_edges(store: &dyn TemporalStore, eid: &[EventId], mask: &[u8], cfg: &ModelConfig) -> Vec<f32> {
    let e = cfg.edge_dim;
    let mut out = vec![0f32; eid.len() * e];
    if e > 0 {
        let scale = edge_affine(cfg);
        out.par_chunks_mut(e * 256).enumerate().for_each(|(c, chunk)| {
            for (j, row) in chunk.chunks_mut(e).enumerate() {
                let i = c * 256 + j;
                if mask[i] != 0 {
                    row.copy_from_slice(store.event_feat(eid[i]));
                    if let Some(a) = &scale {
                        a.apply(row);
                    }
                }
            }
        });
    }
    out
}

/// Edge features of the consecutive events `range`, scaled as `cfg` says:
/// `[range.len() * e]`.
pub fn event_features(store: &dyn TemporalStore, range: Range<usize>, cfg: &ModelConfig) -> Vec<f32> {
    let e = cfg.edge_dim;
    let mut out = Vec::with_capacity(range.len() * e);
    if e > 0 {
        let scale = edge_affine(cfg);
        for i in range {
            let at = out.len();
            out.extend_from_slice(store.event_feat(i as EventId));
            if let Some(a) = &scale {
                a.apply(&mut out[at..]);
            }
        }
    }
    out
}

/// Node features (`cfg.node_dim` wide, scaled as `cfg` says) of `nodes`: `[n * d]`.
/// A node without a row (added by a live append) gets zeros, which after scaling is
/// the training nodes' mean.
pub fn gather_nodes(store: &dyn TemporalStore, nodes: &[NodeId], cfg: &ModelConfig) -> Vec<f32> {
    let d = cfg.node_dim;
    let mut out = vec![0f32; nodes.len() * d];
    if d > 0 {
        let scale = node_affine(cfg);
        out.par_chunks_mut(d).zip(nodes.par_iter()).for_each(|(row, &n)| {
            if let Some(f) = store.node_feat(n) {
                row.copy_from_slice(f);
                if let Some(a) = &scale {
                    a.apply(row);
                }
            }
        });
    }
    out
}

thread_local! {
    /// Node -> local row for [`localize`], `u32::MAX` when unused (reset after each
    /// call); per thread so that `&self` model methods may run on many threads.
    static LOCAL: std::cell::RefCell<Vec<u32>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Unique nodes of `lists` in first-seen order, and each entry's row among them.
/// `hint`: the graph's node count (the scratch table is sized to it once).
pub fn localize(lists: &[&[NodeId]], hint: usize) -> (Vec<usize>, Vec<Vec<i64>>) {
    LOCAL.with_borrow_mut(|local| {
        let mut uniq = Vec::new();
        let mut rows = Vec::with_capacity(lists.len());
        for l in lists {
            let mut r = Vec::with_capacity(l.len());
            for &n in *l {
                let n = n as usize;
                if n >= local.len() {
                    local.resize((n + 1).max(hint), u32::MAX);
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
pub fn positions(table: &[usize], wanted: &[usize], hint: usize) -> Option<Vec<i64>> {
    LOCAL.with_borrow_mut(|local| {
        let top = table.iter().chain(wanted).max().map_or(0, |&m| m + 1);
        if local.len() < top {
            local.resize(top.max(hint), u32::MAX);
        }
        for (i, &n) in table.iter().enumerate() {
            local[n] = i as u32;
        }
        let at: Option<Vec<i64>> =
            wanted.iter().map(|&n| (local[n] != u32::MAX).then(|| local[n] as i64)).collect();
        for &n in table {
            local[n] = u32::MAX;
        }
        at
    })
}
