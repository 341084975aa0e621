//! The interface every evaluation target implements, baselines and trained models
//! alike: [`StreamScorer`], and the errors of evaluation, [`EvalError`].
//!
//! Streaming semantics (design.md invariants 1 and 3): a scorer holds state built
//! from a prefix `0..upto` of the store's events. The protocols drive it as
//! `start(split.start)`, then for every batch (a range of event ids that never cuts
//! a tie group) `score(batch, ...)` followed by `absorb(batch)`. A query of a batch
//! therefore sees only events with id `< batch.start`, all of which are strictly
//! earlier in time than every query of the batch.

use std::ops::Range;

use crate::eval::metrics::MetricError;
use crate::eval::sides::{CandidateRows, SideDecoder};
use crate::sample::negatives::NegError;
use crate::store::split::SplitError;
use crate::store::{NodeId, TemporalStore, Time};

/// Scores candidate links with streaming semantics: `score` for a batch of events `batch` (event ids of the store,
/// time-sorted, never cutting a tie group) may use only events with id < batch.start (and time < the query's t);
/// after scoring, the protocol calls `absorb(batch)`; `start(upto)` first brings the scorer's state up to event `upto`
/// (replaying / absorbing events 0..upto, e.g. the training and validation data before the test split).
///
/// `score` gets one query per candidate pair: `src[i]`, `dst[i]`, `t[i]` (the three
/// slices have one length) and writes exactly one score per query into `out`
/// (cleared first; higher = more likely). For the rank protocol a positive and its
/// K negatives arrive as K + 1 consecutive queries with the same source and time.
pub trait StreamScorer: Send + Sync {
    /// A short name for reports (e.g. `edgebank`, `tgn`).
    fn name(&self) -> String;
    /// Reset the state and absorb events `0..upto`.
    fn start(&mut self, store: &dyn TemporalStore, upto: usize) -> Result<(), EvalError>;
    /// Score the queries of `batch` from events with id `< batch.start` only.
    fn score(
        &mut self,
        store: &dyn TemporalStore,
        batch: Range<usize>,
        src: &[NodeId],
        dst: &[NodeId],
        t: &[Time],
        out: &mut Vec<f64>,
    ) -> Result<(), EvalError>;
    /// Absorb the events of `batch` (after they were scored).
    fn absorb(&mut self, store: &dyn TemporalStore, batch: Range<usize>) -> Result<(), EvalError>;

    /// Like `score`, but for scorers that order candidates by several keys
    /// lexicographically (combined heuristics): writes `width` keys per query,
    /// most significant first, row-major, and returns `width`. The protocols rank
    /// with these keys, so no precision is lost folding them into one number. The
    /// default is `score` itself, width 1.
    fn score_keys(
        &mut self,
        store: &dyn TemporalStore,
        batch: Range<usize>,
        src: &[NodeId],
        dst: &[NodeId],
        t: &[Time],
        out: &mut Vec<f64>,
    ) -> Result<usize, EvalError> {
        self.score(store, batch, src, dst, t, out)?;
        Ok(1)
    }

    // Hooks for live serving (`crate::serve`); the defaults suit scorers whose whole
    // state is rebuilt cheaply by `start`.

    /// Score queries that come after every event of `store` (all of them absorbed),
    /// like `score` for the batch `n..n` with `n = store.num_events()`, but through
    /// `&self` so that many readers may share one scorer. Returns `false`, with
    /// `out` untouched, when this scorer must update its state first and so needs
    /// `score` (the caller then takes exclusive access).
    fn score_shared(
        &self,
        _store: &dyn TemporalStore,
        _src: &[NodeId],
        _dst: &[NodeId],
        _t: &[Time],
        _out: &mut Vec<f64>,
    ) -> Result<bool, EvalError> {
        Ok(false)
    }

    /// Like `score_shared` for every pair of `src x cand` at one time `t`, written
    /// source-major (`out[i * cand.len() + j]` scores `(src[i], cand[j])`), for
    /// scorers that can do the candidates' share of the work once for all sources
    /// (the node-embedding models). `false`, with `out` untouched, when this scorer
    /// cannot: the caller then scores the pairs.
    fn score_grid(
        &self,
        _store: &dyn TemporalStore,
        _src: &[NodeId],
        _cand: &[NodeId],
        _t: Time,
        _out: &mut Vec<f64>,
    ) -> Result<bool, EvalError> {
        Ok(false)
    }

    /// The candidates' side of a split score at `t` ([`CandidateRows`]), from every
    /// event of `store` (all absorbed), through `&self`; `None` for scorers whose
    /// score does not split (pair models, baselines) or that must update state first.
    fn candidate_rows(
        &self,
        _store: &dyn TemporalStore,
        _cand: &[NodeId],
        _t: Time,
    ) -> Result<Option<CandidateRows>, EvalError> {
        Ok(None)
    }

    /// The sources' side matching [`StreamScorer::candidate_rows`] (`[S, width]`).
    fn source_rows(
        &self,
        _store: &dyn TemporalStore,
        _src: &[NodeId],
        _t: Time,
    ) -> Result<Option<Vec<f32>>, EvalError> {
        Ok(None)
    }

    /// The layer that joins the two sides; `None` where there are no sides.
    fn side_decoder(&self) -> Option<SideDecoder> {
        None
    }

    /// Make room for node ids `< num_nodes` (nodes added by live appends, or a cold
    /// node used for an unknown id); such nodes start with fresh state.
    fn ensure_nodes(&mut self, _num_nodes: u32) -> Result<(), EvalError> {
        Ok(())
    }
    /// Save the state reached so far to `path`; `false` when the scorer keeps no state
    /// worth saving (it is rebuilt by replay).
    fn save_state(&self, _path: &std::path::Path) -> Result<bool, EvalError> {
        Ok(false)
    }
    /// Restore what `save_state` wrote; returns the number of events that state had
    /// absorbed, or `None` when there is nothing to restore (replay instead).
    fn load_state(&mut self, _path: &std::path::Path) -> Result<Option<usize>, EvalError> {
        Ok(None)
    }
}

/// Errors of evaluation: protocols, baselines and model scorers.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    /// A model failed (e.g. a libtorch error turned into text).
    #[error("model: {0}")]
    Model(String),
    /// A model or scorer failed with an underlying error kept as the source.
    #[error("{context}")]
    Source {
        context: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync + 'static>,
    },
    #[error("invalid evaluation option: {0}")]
    InvalidOption(String),
    #[error("negatives")]
    Negatives(#[from] NegError),
    #[error("metrics")]
    Metric(#[from] MetricError),
    #[error("split")]
    Split(#[from] SplitError),
    #[error("{scorer}: {what} has {found} entries, expected {expected}")]
    Shape { scorer: String, what: &'static str, expected: usize, found: usize },
    /// A query would see events it must not (a watermark or batch-order violation).
    #[error("{scorer}: causality: {why}")]
    Causality { scorer: String, why: String },
    #[error("event range {start}..{end} is not within the store's {num_events} events")]
    RangeOutOfBounds { start: usize, end: usize, num_events: usize },
    #[error("the {part} part of the split is empty: nothing to evaluate")]
    EmptySplit { part: String },
}

impl EvalError {
    /// Wrap any error of a model (libtorch, I/O) with a context line.
    pub fn source(
        context: impl Into<String>,
        source: impl Into<Box<dyn std::error::Error + Send + Sync + 'static>>,
    ) -> Self {
        EvalError::Source { context: context.into(), source: source.into() }
    }
}

/// `range` must lie within `0..num_events`.
pub(crate) fn check_range(range: &Range<usize>, num_events: usize) -> Result<(), EvalError> {
    if range.start > range.end || range.end > num_events {
        return Err(EvalError::RangeOutOfBounds { start: range.start, end: range.end, num_events });
    }
    Ok(())
}

/// The three query slices must have one length.
pub(crate) fn check_queries(name: &str, src: &[NodeId], dst: &[NodeId], t: &[Time]) -> Result<(), EvalError> {
    for (what, n) in [("dst", dst.len()), ("t", t.len())] {
        if n != src.len() {
            return Err(EvalError::Shape { scorer: name.to_string(), what, expected: src.len(), found: n });
        }
    }
    Ok(())
}
