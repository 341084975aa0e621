//! Host buffers to device tensors, shared by every model family: one copy per
//! buffer (`Tensor::from_slice`, then [`crate::model::upload`]), edge and node
//! feature gathers (parallel, zeros at padding slots), and the localisation of
//! node ids to rows of a per-batch table.
//!
//! Times never reach the device as absolute values: callers compute differences
//! on the host in `f64` and ship them as `f32`.

use rayon::prelude::*;
use tch::{Device, Tensor};

use crate::store::{EventId, NodeId, TemporalStore};

/// `v` as a float tensor of `shape` on `device`.
pub fn f32s(v: &[f32], shape: &[i64], device: Device) -> Tensor {
    crate::model::upload(Tensor::from_slice(v).view(shape), device)
}

/// `v` as an index tensor on `device`.
pub fn i64s(v: &[i64], device: Device) -> Tensor {
    crate::model::upload(Tensor::from_slice(v), device)
}

/// Edge features (`e` wide) of events `eid`, zeros where `mask` is 0: `[n * e]`.
pub fn gather_edges(store: &dyn TemporalStore, eid: &[EventId], mask: &[u8], e: usize) -> Vec<f32> {
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

/// Node features (`d` wide) of `nodes`, zeros for a node without any: `[n * d]`.
pub fn gather_nodes(store: &dyn TemporalStore, nodes: &[NodeId], d: usize) -> Vec<f32> {
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
