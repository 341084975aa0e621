//! Training: the epoch loop with TGN's batch semantics, streaming validation,
//! early stopping, checkpoints and resume, for any model family behind
//! [`crate::model::TemporalModel`].
//!
//! Per batch (design.md invariants 1-3): the batch's inputs come from the sampler
//! with cut-off = the batch's first event id and from the model's state after
//! earlier batches; the model scores positives and one negative each, BCE,
//! backward, Adam step; then the batch is absorbed into the state (TGN: its
//! endpoints' memory persisted as the forward pass computed it, before the step,
//! and its messages stored). Batches are prepared on the rayon pool by a
//! [`crate::sample::batch::BatchPipeline`] while the model computes.
//!
//! Validation and test use the streaming semantics of [`stream`]: each batch is
//! scored, then absorbed. Evaluation of a saved model rebuilds its state by
//! replaying every event before the evaluated split with the best weights.

pub mod adam;
pub mod checkpoint;
pub mod scorer;
pub mod select;
pub mod stream;
pub mod trainer;

pub use trainer::{TrainConfig, TrainOutcome, Trainer};

/// Errors of training and checkpoints.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    #[error(transparent)]
    Model(#[from] crate::model::ModelError),
    #[error("batch preparation")]
    Batch(#[from] crate::sample::batch::BatchError),
    #[error("split")]
    Split(#[from] crate::store::split::SplitError),
    #[error("metrics")]
    Metric(#[from] crate::eval::metrics::MetricError),
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Manifest(#[from] crate::util::manifest::ManifestError),
    #[error("checkpoint {path}: {msg}")]
    Checkpoint { path: std::path::PathBuf, msg: String },
    #[error("io on {path}")]
    Io {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("libtorch: {0}")]
    Torch(#[from] tch::TchError),
    #[error("distributed training")]
    Dist(#[from] crate::dist::DistError),
}

impl TrainError {
    pub fn io(path: &std::path::Path) -> impl FnOnce(std::io::Error) -> TrainError + '_ {
        move |source| TrainError::Io { path: path.to_path_buf(), source }
    }
}

#[cfg(test)]
pub(crate) mod tests;
#[cfg(test)]
mod tests_disk_full;
#[cfg(test)]
mod tests_integrity;
