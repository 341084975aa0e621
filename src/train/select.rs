//! Choosing the epoch to keep: by validation AP (one random negative per positive,
//! the default) or by validation MRR (`--select-by mrr`), the metric of the ranking
//! question "whom will this node link to next?".
//!
//! MRR here: every validation positive against `k` negatives drawn once per run like
//! `linkcast negatives` draws them (half the source's earlier destinations, half
//! uniform; never a true destination at that time), keyed by the run's seed, so every
//! epoch is ranked against the same set. The model's state is rebuilt by replaying
//! the training events with the epoch's weights before ranking, as `linkcast eval`
//! rebuilds it for a saved model, so the number an epoch is chosen by is the one
//! `eval --protocol rank --split val` would report for it (up to the set's K).
//!
//! Cost: one replay of the training events and `k + 1` scored pairs per validation
//! event per epoch; `k` is a flag (`--select-k`, 20 by default) for the models that
//! score each pair on its own (GraphMixer, TPNet).

use serde::{Deserialize, Serialize};

use crate::eval::protocol::{Metrics, Part, RankMetrics, RankNegatives, eval_rank};
use crate::model::TemporalModel;
use crate::sample::negatives::{DstRange, NegativeSet, RankConfig};
use crate::store::TemporalStore;
use crate::store::split::Split;
use crate::train::TrainError;
use crate::train::scorer::ModelScorer;

/// `--select-by`: the validation metric that picks the best epoch (and drives
/// early stopping).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SelectBy {
    /// Pooled AP with one random negative per positive.
    #[default]
    Ap,
    /// MRR against `select_k` negatives per positive (module docs).
    Mrr,
}

impl std::str::FromStr for SelectBy {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "ap" => Ok(SelectBy::Ap),
            "mrr" => Ok(SelectBy::Mrr),
            other => Err(format!("unknown selection metric {other:?}: expected ap or mrr")),
        }
    }
}

impl std::fmt::Display for SelectBy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            SelectBy::Ap => "ap",
            SelectBy::Mrr => "mrr",
        })
    }
}

/// Keys the selection set's draws apart from every other use of the run's seed.
const SELECT_TAG: u64 = 0x7365_6c65_6374_6b00; // "selectk"

/// The validation negatives of a run (drawn once).
pub fn validation_set(
    store: &dyn TemporalStore,
    split: &Split,
    dst: DstRange,
    k: u32,
    seed: u64,
) -> Result<NegativeSet, TrainError> {
    let cfg = RankConfig { k, hist_fraction: RankConfig::default().hist_fraction, seed: seed ^ SELECT_TAG };
    NegativeSet::generate(store, split.val.clone(), dst, &cfg)
        .map_err(|e| TrainError::Invalid(format!("validation negatives for --select-by mrr: {e}")))
}

/// Rank the validation split with `model` (its state rebuilt first; see the module
/// docs). Leaves the state at the end of the validation split.
pub fn validation_rank(
    model: &mut (dyn TemporalModel + 'static),
    store: &dyn TemporalStore,
    split: &Split,
    dst: DstRange,
    set: &NegativeSet,
    batch_size: usize,
    seed: u64,
    progress: &mut dyn FnMut(usize),
) -> Result<RankMetrics, TrainError> {
    let mut scorer = ModelScorer::borrowed(model, batch_size, seed);
    let run =
        eval_rank(&mut scorer, store, split, Part::Val, dst, RankNegatives::Set(set), batch_size, progress)
            .map_err(|e| TrainError::Invalid(format!("ranking the validation split: {e}")))?;
    match run.metrics {
        Metrics::Rank(m) => Ok(m),
        other => Err(TrainError::Invalid(format!("ranking returned {other:?}"))),
    }
}
