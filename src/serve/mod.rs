//! Serving: a trained model (or a baseline) plus live state that answers questions
//! about the future and stays current as events arrive.
//!
//! [`Scorer`] owns the graph store, the external id map and a
//! [`crate::eval::scorer::StreamScorer`]; `ingest` absorbs a batch of new events with
//! the training semantics (store append, then memory update), `score` and `top_k`
//! answer queries at a time strictly after the newest absorbed event (the
//! watermark), exactly as `linkcast eval` scores a batch. `state.rs` saves and
//! restores the live part (appended events with their batch boundaries, model
//! memory) atomically.
//!
//! Time convention: graph time units (whatever the input file used), `f64`.

pub mod abuse;
pub mod bench;
pub mod http;
pub mod listen;
pub mod load;
pub mod queries;
pub mod recall;
pub mod retrieve;
pub mod scorer;
pub mod state;
#[cfg(all(test, feature = "torch"))]
mod tests;
#[cfg(all(test, feature = "torch"))]
mod tests_disk_full;
#[cfg(all(test, feature = "torch"))]
mod tests_integrity;
#[cfg(all(test, feature = "torch"))]
mod tests_readers;
#[cfg(all(test, feature = "torch"))]
mod tests_wal;
pub mod wal;

use crate::eval::scorer::EvalError;
use crate::store::StoreError;

pub use scorer::{IngestSummary, LiveEvent, Query, Ranked, Scored, Scorer, SourceQuery, TopK, Unknown};

/// Errors of the serving layer. The first four are the caller's fault (HTTP 4xx);
/// `index` is the 0-based position of the offending event or query in its request.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(
        "item {index}: time {t} is too early: the newest absorbed event is at {watermark} (queries must be later, events not earlier)"
    )]
    TooOld { index: usize, t: f64, watermark: f64 },
    #[error(
        "item {index}: time {t} is earlier than the previous item's {previous}; events must be time-ordered"
    )]
    OutOfOrder { index: usize, t: f64, previous: f64 },
    #[error(
        "item {index}: unknown node {id:?} in field {field} (use --unknown cold to score it with fresh state)"
    )]
    UnknownNode { index: usize, field: &'static str, id: String },
    #[error("item {index}: field {field}: {why}")]
    Invalid { index: usize, field: &'static str, why: String },
    #[error("{path}:{line}: field {field}: {why}")]
    Input { path: String, line: usize, field: String, why: String },
    #[error("scorer")]
    Eval(#[from] EvalError),
    #[error("store")]
    Store(#[from] StoreError),
    #[error(transparent)]
    Manifest(#[from] crate::util::manifest::ManifestError),
    #[error("live state {path}: {why}")]
    State { path: String, why: String },
    #[error("{path}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

impl ServeError {
    /// Whether the request (not the server) is at fault.
    pub fn is_client_error(&self) -> bool {
        matches!(
            self,
            ServeError::TooOld { .. }
                | ServeError::OutOfOrder { .. }
                | ServeError::UnknownNode { .. }
                | ServeError::Invalid { .. }
        )
    }

    /// The same error for item `i` of a larger request (one query of many).
    pub fn at_index(self, i: usize) -> ServeError {
        match self {
            ServeError::TooOld { t, watermark, .. } => ServeError::TooOld { index: i, t, watermark },
            ServeError::UnknownNode { field, id, .. } => ServeError::UnknownNode { index: i, field, id },
            ServeError::Invalid { field, why, .. } => ServeError::Invalid { index: i, field, why },
            e => e,
        }
    }
}
