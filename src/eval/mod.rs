//! Evaluation stage: score held-out events with a model or baseline and report
//! metrics under a named protocol.
//!
//! - [`metrics`]: the protocol-independent pieces: average precision and AUC-ROC
//!   over pooled (score, label) pairs, and MRR / Hits@k for one positive ranked
//!   against its K negatives, as pure functions over slices.
//! - [`scorer`]: [`StreamScorer`], the interface of everything that can be
//!   evaluated (baselines here, trained models in `model/`), and [`EvalError`].
//! - [`protocol`]: the `ap` (one negative per positive; AP/AUC pooled and per-batch
//!   mean, transductive and inductive subsets, TGN's masking) and `rank` (K
//!   negatives from a saved set, or all destinations; MRR, Hits@k) protocols with
//!   streaming semantics, and the [`protocol::EvalRecord`] of a run.
//! - [`baselines`]: EdgeBank (unlimited and time-window), popularity, recency,
//!   common neighbours and Adamic-Adar.

pub mod baselines;
pub mod metrics;
pub mod protocol;
pub mod scorer;

pub use baselines::{BaselineConfig, BaselineKind, make_baseline};
pub use protocol::{ApConfig, EvalRecord, Metrics, Part, RankNegatives, eval_ap, eval_rank, inductive_mask};
pub use scorer::{EvalError, StreamScorer};
