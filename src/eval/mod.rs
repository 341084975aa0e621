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
//! - [`sides`]: scores that split into a source row and a candidate row joined by
//!   the decoder's last layer, the form the serving cache keeps.
//! - [`baselines`]: EdgeBank (unlimited and time-window), the recency and
//!   popularity heuristics of Cornell et al. 2025 (local and global) and their
//!   lexicographic combinations, each directed by default with an undirected
//!   variant, common neighbours and Adamic-Adar; `heuristics` holds their memory.

pub mod baselines;
mod heuristics;
pub mod metrics;
pub mod protocol;
pub mod scorer;
pub mod sides;

pub use baselines::{BaselineConfig, BaselineKind, BaselineName, Direction, make_baseline};
pub use protocol::{ApConfig, EvalRecord, Metrics, Part, RankNegatives, eval_ap, eval_rank, inductive_mask};
pub use scorer::{EvalError, StreamScorer};
