//! Sampling: temporal neighbours, negatives, and batches prepared ahead of the model.
//!
//! Time convention (design.md invariants 1 and 3): a root `(node, t)` in a batch
//! whose first event id is `cutoff` sees exactly the neighbour entries with
//! `time < t` AND `event id < cutoff`. Events that share a timestamp never see each
//! other, and events inside one batch never see each other, so batches can be
//! prepared ahead of time from the store alone.
//!
//! Output shapes are fixed and padded so they become tensors in one copy:
//! for `R` roots and fan-out `k`, every array has `R * k` entries, row-major
//! (root-major), with a validity mask.

pub mod batch;
pub mod negatives;
pub mod neighbors;
