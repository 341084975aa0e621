//! Evaluation stage: score held-out events with a model or baseline and report
//! metrics under a named protocol.
//!
//! [`metrics`] holds the protocol-independent pieces: average precision and
//! AUC-ROC over pooled (score, label) pairs, and MRR / Hits@k for one positive
//! ranked against its K negatives. All are pure functions over slices, so a
//! protocol can compute them per batch on the rayon pool and pool or average
//! the results. The `ap` and `rank` protocols and the baselines build on them.

pub mod metrics;
