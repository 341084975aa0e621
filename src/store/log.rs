//! `EventLog`: the columnar list of edge events, in time order.
//!
//! Shapes: `src[i]`, `dst[i]`, `t[i]` for event id `i` (= row, in time order);
//! `feats` is a row-major `len x feat_dim` matrix of `f32` (empty when `feat_dim == 0`).
//!
//! Time convention: `t` is `f64` in the input's own unit (seconds for every bundled
//! dataset). Why `f64` rather than a scaled `i64`: every integer up to 2^53 is exact
//! (Unix seconds, milliseconds and microseconds all fit), fractional inputs such as
//! Bitcoin OTC's `1289241911.72836` keep their ~16 significant digits without a
//! per-dataset scale to choose, equal input strings parse to equal values so tie
//! groups survive, and the model's time encoding consumes floats anyway. NaN and
//! infinities are rejected at ingest, so `t` is totally ordered.

use crate::store::{EventId, NodeId, Time};

/// Columnar events; event id = row index. Invariant: `t` is non-decreasing.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EventLog {
    pub src: Vec<NodeId>,
    pub dst: Vec<NodeId>,
    pub t: Vec<Time>,
    pub feat_dim: usize,
    /// Row-major `len() x feat_dim`.
    pub feats: Vec<f32>,
}

impl EventLog {
    pub fn with_feat_dim(feat_dim: usize) -> Self {
        Self { feat_dim, ..Self::default() }
    }

    pub fn len(&self) -> usize {
        self.t.len()
    }

    pub fn is_empty(&self) -> bool {
        self.t.is_empty()
    }

    /// Append one event; `feat` must have `feat_dim` values.
    pub fn push(&mut self, src: NodeId, dst: NodeId, t: Time, feat: &[f32]) {
        debug_assert_eq!(feat.len(), self.feat_dim);
        self.src.push(src);
        self.dst.push(dst);
        self.t.push(t);
        self.feats.extend_from_slice(feat);
    }

    pub fn feat(&self, e: EventId) -> &[f32] {
        let d = self.feat_dim;
        &self.feats[e as usize * d..(e as usize + 1) * d]
    }

    /// Largest node id + 1 (0 for an empty log).
    pub fn max_node_plus_one(&self) -> u32 {
        self.src.iter().chain(&self.dst).copied().max().map_or(0, |m| m + 1)
    }

    /// Whether `t` is non-decreasing.
    pub fn is_time_sorted(&self) -> bool {
        self.t.windows(2).all(|w| w[0] <= w[1])
    }

    /// Stable sort by time (ties keep their current order). Returns how many rows
    /// were out of order: the fewest rows that must move to make the input sorted,
    /// i.e. `len - (longest non-decreasing subsequence of t)`. Why not "rows below the
    /// running maximum": one early row with a late time would count every later row
    /// (email-Eu-core-temporal has 2 time descents, 291,426 rows below the running
    /// maximum, and far fewer rows actually misplaced).
    pub fn stable_sort_by_time(&mut self) -> u64 {
        if self.is_time_sorted() {
            return 0;
        }
        let out_of_order = (self.len() - longest_non_decreasing(&self.t)) as u64;
        let mut perm: Vec<u32> = (0..self.len() as u32).collect();
        // sort_by is stable; total_cmp is safe because NaN is rejected at ingest.
        perm.sort_by(|&a, &b| self.t[a as usize].total_cmp(&self.t[b as usize]));
        self.src = perm.iter().map(|&i| self.src[i as usize]).collect();
        self.dst = perm.iter().map(|&i| self.dst[i as usize]).collect();
        self.t = perm.iter().map(|&i| self.t[i as usize]).collect();
        if self.feat_dim > 0 {
            let d = self.feat_dim;
            let mut f = Vec::with_capacity(self.feats.len());
            for &i in &perm {
                f.extend_from_slice(&self.feats[i as usize * d..(i as usize + 1) * d]);
            }
            self.feats = f;
        }
        out_of_order
    }
}

/// Length of the longest non-decreasing subsequence (patience sorting, O(n log n)).
fn longest_non_decreasing(t: &[f64]) -> usize {
    // tails[k] = smallest possible last value of a non-decreasing subsequence of length k+1.
    let mut tails: Vec<f64> = Vec::new();
    for &x in t {
        let pos = tails.partition_point(|&v| v <= x);
        if pos == tails.len() {
            tails.push(x);
        } else {
            tails[pos] = x;
        }
    }
    tails.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log_of(t: &[f64]) -> EventLog {
        let mut l = EventLog::with_feat_dim(1);
        for (i, &x) in t.iter().enumerate() {
            l.push(i as u32, i as u32 + 1, x, &[i as f32]);
        }
        l
    }

    #[test]
    fn out_of_order_counts_rows_that_must_move() {
        // One early row with a late time: only that row is misplaced.
        let mut l = log_of(&[1.0, 100.0, 2.0, 3.0, 4.0]);
        assert_eq!(l.stable_sort_by_time(), 1);
        assert_eq!(l.t, vec![1.0, 2.0, 3.0, 4.0, 100.0]);
        assert_eq!(l.src, vec![0, 2, 3, 4, 1]);
        assert_eq!(l.feats, vec![0.0, 2.0, 3.0, 4.0, 1.0]);
        // Two interleaved sorted runs.
        let mut l = log_of(&[1.0, 5.0, 6.0, 2.0, 3.0, 7.0]);
        assert_eq!(l.stable_sort_by_time(), 2);
        // Sorted input, ties included.
        let mut l = log_of(&[1.0, 1.0, 2.0]);
        assert_eq!(l.stable_sort_by_time(), 0);
    }

    #[test]
    fn sort_is_stable_for_ties() {
        let mut l = log_of(&[2.0, 1.0, 2.0, 1.0]);
        assert_eq!(l.stable_sort_by_time(), 2);
        assert_eq!(l.src, vec![1, 3, 0, 2]);
    }
}
