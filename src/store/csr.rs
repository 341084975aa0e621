//! Building the temporal CSR shards from a time-sorted event log.
//!
//! Input: `src[e]`, `dst[e]`, `t[e]` for event ids `e = 0..E`, `t` non-decreasing.
//! Output: one [`CsrShard`] per node range `[s * shard_nodes, (s + 1) * shard_nodes)`:
//! `offsets: u64[n_local + 1]` (starting at 0) and per-entry `nbr: u32[m]`,
//! `t: f64[m]`, `eid: u32[m]`, each node's run sorted by (time, event id).
//!
//! Method: a counting sort with no per-edge allocation. The events are cut into `C`
//! contiguous chunks (`C` <= threads). Pass 1 counts, per chunk, each node's entries
//! (`C x N` u32 counters). Pass 2, parallel over shards, turns the counts into
//! offsets (prefix sums over nodes) and each chunk's count into its starting slot
//! within the node's run (prefix over chunks). Pass 3, parallel over chunks,
//! scatters. Chunk `c` fills a node's slots after every chunk `< c`, and inside a
//! chunk events are visited in id order, so every run comes out in event-id order,
//! which is (time, event id) order because ids are rows of a time-sorted log.
//! Memory: the output arrays plus `C x N x 4` bytes of counters.

use rayon::prelude::*;

use crate::store::{EventId, NodeId, StoreError, Time};

/// One node-range shard of the adjacency, as a temporal CSR.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CsrShard {
    pub first_node: NodeId,
    /// `n_local + 1` offsets into the entry arrays, `offsets[0] == 0`.
    pub offsets: Vec<u64>,
    pub nbr: Vec<NodeId>,
    pub t: Vec<Time>,
    pub eid: Vec<EventId>,
}

impl CsrShard {
    pub fn num_nodes(&self) -> u32 {
        (self.offsets.len() - 1) as u32
    }
}

/// Check an event log before building: lengths agree, at most `u32::MAX` events,
/// times finite and non-decreasing, features finite and `len x feat_dim`, node ids
/// below `num_nodes`. Reports the first offending row.
pub fn check_events(
    src: &[NodeId],
    dst: &[NodeId],
    t: &[Time],
    feats: &[f32],
    feat_dim: usize,
    num_nodes: u32,
) -> Result<(), StoreError> {
    let n = t.len();
    if n as u64 > u32::MAX as u64 {
        return Err(StoreError::TooManyEvents { count: n as u64 });
    }
    if src.len() != n || dst.len() != n {
        return Err(StoreError::ColumnLengths { src: src.len(), dst: dst.len(), t: n });
    }
    if feats.len() != n * feat_dim {
        return Err(StoreError::FeatureWidth {
            what: "event feature matrix",
            expected: n * feat_dim,
            found: feats.len(),
        });
    }
    let mut prev = f64::NEG_INFINITY;
    for (i, &ti) in t.iter().enumerate() {
        if !ti.is_finite() {
            return Err(StoreError::NonFinite { row: i as u64, what: "time", value: ti });
        }
        if ti < prev {
            return Err(StoreError::UnsortedTime { row: i as u64, prev, t: ti });
        }
        prev = ti;
    }
    for (i, (&s, &d)) in src.iter().zip(dst).enumerate() {
        for node in [s, d] {
            if node >= num_nodes {
                return Err(StoreError::NodeOutOfRange { row: i as u64, node, num_nodes });
            }
        }
    }
    if let Some(k) = feats.iter().position(|x| !x.is_finite()) {
        return Err(StoreError::NonFinite {
            row: (k / feat_dim) as u64,
            what: "feature",
            value: feats[k] as f64,
        });
    }
    Ok(())
}

/// Raw output pointers of one shard, shared by the scatter threads.
struct OutPtrs {
    nbr: *mut NodeId,
    t: *mut Time,
    eid: *mut EventId,
}
// SAFETY: the scatter writes through these from several threads, but every slot is
// written by exactly one (chunk, node) pair; see `build_shards`.
unsafe impl Send for OutPtrs {}
unsafe impl Sync for OutPtrs {}

/// Build the shards. Preconditions (checked by [`check_events`]): equal column
/// lengths, node ids `< num_nodes`, at most `u32::MAX` events; `t` sorted for the
/// (time, event id) order to hold. `shard_nodes` must be at least 1.
pub fn build_shards(
    src: &[NodeId],
    dst: &[NodeId],
    t: &[Time],
    num_nodes: u32,
    directed: bool,
    shard_nodes: u32,
) -> Vec<CsrShard> {
    assert!(shard_nodes > 0, "shard_nodes must be positive");
    assert!(src.len() == t.len() && dst.len() == t.len(), "event columns differ in length");
    let e = t.len();
    let n = num_nodes as usize;
    let sn = shard_nodes as usize;
    let num_shards = n.div_ceil(sn);
    // Counters cost C x N x 4 bytes; on sparse graphs (few entries per node) more
    // chunks would cost more memory than the entries themselves, so scale C down.
    let entries_est = if directed { e } else { 2 * e };
    let chunks = rayon::current_num_threads().min(8).min((entries_est / n.max(1)).max(1)).max(1);
    let chunk_len = e.div_ceil(chunks).max(1);
    let range = |c: usize| (c * chunk_len).min(e)..((c + 1) * chunk_len).min(e);

    // Pass 1: per-chunk entry counts.
    let mut counts: Vec<Vec<u32>> = (0..chunks)
        .into_par_iter()
        .map(|c| {
            let mut cnt = vec![0u32; n];
            for i in range(c) {
                let (u, v) = (src[i] as usize, dst[i] as usize);
                cnt[u] += 1;
                if !directed && u != v {
                    cnt[v] += 1;
                }
            }
            cnt
        })
        .collect();

    // Pass 2: per shard, offsets and each chunk's start slot within a node's run.
    let mut per_shard: Vec<Vec<&mut [u32]>> = (0..num_shards).map(|_| Vec::with_capacity(chunks)).collect();
    for cnt in counts.iter_mut() {
        for (s, piece) in cnt.chunks_mut(sn).enumerate() {
            per_shard[s].push(piece);
        }
    }
    let offsets: Vec<Vec<u64>> = per_shard
        .into_par_iter()
        .map(|mut pieces| {
            let nl = pieces[0].len();
            let mut off = Vec::with_capacity(nl + 1);
            off.push(0u64);
            let mut run = 0u64;
            for i in 0..nl {
                let mut acc = 0u32;
                for p in pieces.iter_mut() {
                    let c = p[i];
                    p[i] = acc;
                    acc += c;
                }
                run += acc as u64;
                off.push(run);
            }
            off
        })
        .collect();

    let mut shards: Vec<CsrShard> = offsets
        .into_iter()
        .enumerate()
        .map(|(s, offsets)| {
            let m = *offsets.last().expect("offsets has n_local + 1 values") as usize;
            // vec![0; m] is a zeroed allocation: pages are only touched by the scatter.
            CsrShard {
                first_node: (s * sn) as u32,
                offsets,
                nbr: vec![0; m],
                t: vec![0.0; m],
                eid: vec![0; m],
            }
        })
        .collect();

    // Pass 3: scatter.
    let ptrs: Vec<OutPtrs> = shards
        .iter_mut()
        .map(|s| OutPtrs { nbr: s.nbr.as_mut_ptr(), t: s.t.as_mut_ptr(), eid: s.eid.as_mut_ptr() })
        .collect();
    let offs: Vec<&[u64]> = shards.iter().map(|s| s.offsets.as_slice()).collect();
    // Raw pointers into `shards` are used below while `offs` borrows its offsets
    // immutably; the entry Vecs themselves are not borrowed by anything else.
    counts.par_iter_mut().enumerate().for_each(|(c, cursor)| {
        let mut put = |node: NodeId, nbr: NodeId, time: Time, id: EventId| {
            let node = node as usize;
            let (s, local) = (node / sn, node % sn);
            let off = offs[s];
            let pos = off[local] + cursor[node] as u64;
            cursor[node] += 1;
            // Keeps every write inside this node's run (and so inside the buffer),
            // whatever happens; the counting passes make it always true.
            assert!(pos < off[local + 1], "CSR scatter overflowed node {node}'s run");
            let p = &ptrs[s];
            // SAFETY: `pos` is in bounds (asserted above). Slot `pos` belongs to the
            // (chunk c, node) pair alone: chunk c owns slots [start_c, start_c +
            // count_c) of the node's run, where start_c is the sum of the counts of
            // chunks < c computed in pass 2 from the same events. So no two threads
            // write the same slot and nobody reads the arrays until the scatter ends.
            unsafe {
                *p.nbr.add(pos as usize) = nbr;
                *p.t.add(pos as usize) = time;
                *p.eid.add(pos as usize) = id;
            }
        };
        for i in range(c) {
            let (u, v) = (src[i], dst[i]);
            put(u, v, t[i], i as EventId);
            if !directed && u != v {
                put(v, u, t[i], i as EventId);
            }
        }
    });
    drop(ptrs);
    shards
}

/// Total entries over shards.
pub fn total_entries(shards: &[CsrShard]) -> u64 {
    shards.iter().map(|s| s.nbr.len() as u64).sum()
}
