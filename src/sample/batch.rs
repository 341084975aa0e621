//! Batches of positive events, their negatives and the sampled neighbourhoods of
//! all roots, prepared on the rayon pool ahead of the consumer.
//!
//! Cutting ([`batch_ranges`]): batches are event-id ranges of the time-sorted log
//! that never split a group of equal timestamps (design.md invariant 2), so every
//! earlier batch is strictly earlier in time.
//!
//! Contents ([`Batch`]) for `B` positive events, `d` = edge feature width and
//! fan-outs `k_0, k_1, ...`:
//! - positives: `eid`, `src`, `dst`, `t` (`B` each), `feats` (`B x d`, row-major;
//!   empty when `d = 0`), gathered contiguously from the store;
//! - `neg` (`B`): one negative destination per positive
//!   ([`crate::sample::negatives::NegStrategy`]);
//! - roots `R = 3B`: `roots = [src..., dst..., neg...]`, `root_t = [t, t, t]`;
//! - `layers[l]`: a [`Sampled`] with `R * k_0 * ... * k_l` slots (layer 0 is
//!   `R x k_0`, root-major), from [`NeighborSampler::sample_layers_into`].
//!
//! Time convention (invariants 1 and 3): `cutoff` is the batch's first event id;
//! a root `(v, t)` sees only entries with time `< t` AND event id `< cutoff`, so no
//! event of the batch, nor any event at a root's own timestamp, reaches its inputs.
//! That is also what lets [`BatchPipeline`] prepare batches before the model has
//! consumed the earlier ones: a batch depends on the store and the earlier events only.
//!
//! Pipeline: a producer thread builds batches in order (the neighbour sampler
//! runs on the rayon pool inside it) and hands them over through a bounded
//! `sync_channel` of `prefetch` batches. Dropping the pipeline stops the producer
//! at its next hand-over; an error is delivered in order and ends the stream.

use std::ops::Range;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, sync_channel};
use std::thread::JoinHandle;

use serde::{Deserialize, Serialize};

use crate::sample::negatives::{DstRange, NegConfig, NegError, NegativeSampler};
use crate::sample::neighbors::{NeighborSampler, SampleError, Sampled, SamplerConfig};
use crate::store::{EventId, NodeId, TemporalStore, Time};

#[cfg(test)]
#[path = "batch_tests.rs"]
mod tests;

/// Errors of batch preparation.
#[derive(Debug, thiserror::Error)]
pub enum BatchError {
    #[error("negative sampling")]
    Negatives(#[from] NegError),
    #[error("neighbour sampling")]
    Neighbors(#[from] SampleError),
    #[error("batch {start}..{end} is not within the store's {num_events} events")]
    RangeOutOfBounds { start: usize, end: usize, num_events: usize },
    #[error("invalid batch option: {0}")]
    InvalidOption(String),
    #[error("cannot start the batch producer thread")]
    Spawn(#[source] std::io::Error),
    #[error("the batch producer thread panicked")]
    ProducerPanicked,
}

/// Cut `range` of a time-sorted column into batches that never split a group of
/// equal timestamps: a batch ends only where the time changes. Every batch holds
/// at most `batch_size` events, except a tie group longer than `batch_size`,
/// which is a batch of its own. When the `batch_size` cut falls inside a tie
/// group, the batch ends before that group (so it may be shorter).
/// `batch_size` 0 is taken as 1.
pub fn batch_ranges(times: &[Time], range: Range<usize>, batch_size: usize) -> Vec<Range<usize>> {
    let end = range.end.min(times.len());
    let size = batch_size.max(1);
    let mut out = Vec::with_capacity(range.len() / size + 1);
    let mut start = range.start;
    while start < end {
        let mut stop = (start + size).min(end);
        if stop < end && times[stop] == times[stop - 1] {
            // The cut falls inside a tie group: end before the group, or, when the
            // group began this batch, take the whole group.
            let tie = times[stop];
            let g0 = start + times[start..stop].partition_point(|&x| x < tie);
            if g0 > start {
                stop = g0;
            } else {
                stop += times[stop..end].partition_point(|&x| x <= tie);
            }
        }
        out.push(start..stop);
        start = stop;
    }
    out
}

/// How batches are made.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BatchConfig {
    /// Target events per batch (see [`batch_ranges`]); TGN's default is 200.
    pub batch_size: usize,
    /// Negative strategy and seed.
    pub neg: NegConfig,
    /// Fan-outs, strategy and seed of the neighbour sampler.
    pub sampler: SamplerConfig,
    /// Keys the negative draws: the epoch during training, any fixed value in evaluation.
    pub round: u64,
    /// Batches prepared ahead of the consumer (the queue's capacity, at least 1).
    pub prefetch: usize,
    /// Under `random` negatives, the share drawn historical instead (training's
    /// `--hist-negatives`, see [`NegativeSampler::with_hist_mix`]); 0 by default.
    pub hist_negatives: f64,
}

impl Default for BatchConfig {
    fn default() -> Self {
        BatchConfig {
            batch_size: 200,
            neg: NegConfig::default(),
            sampler: SamplerConfig::default(),
            round: 0,
            prefetch: 4,
            hist_negatives: 0.0,
        }
    }
}

impl BatchConfig {
    pub fn validate(&self) -> Result<(), BatchError> {
        if self.batch_size == 0 {
            return Err(BatchError::InvalidOption("batch_size must be at least 1".into()));
        }
        if self.prefetch == 0 {
            return Err(BatchError::InvalidOption("prefetch must be at least 1".into()));
        }
        self.sampler.validate()?;
        Ok(())
    }
}

/// One batch: positives, negatives and the neighbourhoods of all roots (shapes in
/// the module docs). Every array is a contiguous host buffer.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Batch {
    /// Position of the batch in its plan (0-based).
    pub index: usize,
    /// Event ids of the positives.
    pub range: Range<usize>,
    /// First event id of the batch: inputs use only events below it.
    pub cutoff: EventId,
    pub eid: Vec<EventId>,
    pub src: Vec<NodeId>,
    pub dst: Vec<NodeId>,
    pub t: Vec<Time>,
    pub feat_dim: usize,
    /// `len() x feat_dim`, row-major.
    pub feats: Vec<f32>,
    /// One negative destination per positive.
    pub neg: Vec<NodeId>,
    /// `[src..., dst..., neg...]`.
    pub roots: Vec<NodeId>,
    /// `[t..., t..., t...]`.
    pub root_t: Vec<Time>,
    /// Sampled neighbourhoods, one entry per layer.
    pub layers: Vec<Sampled>,
}

impl Batch {
    /// Number of positive events.
    pub fn len(&self) -> usize {
        self.eid.len()
    }

    pub fn is_empty(&self) -> bool {
        self.eid.is_empty()
    }
}

/// Builds batches one at a time, in order; holds the stateful negative sampler
/// and the neighbour sampler's chronological cursor.
pub struct BatchBuilder<'a, S: TemporalStore + ?Sized> {
    store: &'a S,
    neighbors: NeighborSampler<'a, S>,
    negs: NegativeSampler,
    round: u64,
    /// Test builds only: use the batch's END as the cutoff (a leak tests must catch).
    #[cfg(test)]
    leaky_cutoff: bool,
}

impl<'a, S: TemporalStore + ?Sized> BatchBuilder<'a, S> {
    /// `dst`: where negatives come from ([`DstRange::for_graph`]).
    pub fn new(store: &'a S, cfg: &BatchConfig, dst: DstRange) -> Result<Self, BatchError> {
        cfg.validate()?;
        dst.check(store.num_nodes())?;
        let neighbors = NeighborSampler::new(store, cfg.sampler.clone())?.with_cursor();
        Ok(BatchBuilder {
            store,
            neighbors,
            negs: NegativeSampler::new(cfg.neg, dst)?.with_hist_mix(cfg.hist_negatives)?,
            round: cfg.round,
            #[cfg(test)]
            leaky_cutoff: false,
        })
    }

    /// Test builds only: a builder with a deliberately wrong neighbour sampler
    /// (`time <= t`) or a wrong cutoff, for tests that must catch the leak.
    #[cfg(test)]
    pub(crate) fn leaky(mut self, leaky_time: bool, leaky_cutoff: bool) -> Self {
        if leaky_time {
            self.neighbors = self.neighbors.leaky();
        }
        self.leaky_cutoff = leaky_cutoff;
        self
    }

    /// Build batch `index` over the events `range`.
    pub fn build(&mut self, index: usize, range: Range<usize>) -> Result<Batch, BatchError> {
        let mut b = Batch::default();
        self.build_into(index, range, &mut b)?;
        Ok(b)
    }

    /// Like [`BatchBuilder::build`], reusing `b`'s buffers.
    pub fn build_into(&mut self, index: usize, range: Range<usize>, b: &mut Batch) -> Result<(), BatchError> {
        let n_events = self.store.num_events();
        if range.start > range.end || range.end > n_events {
            return Err(BatchError::RangeOutOfBounds {
                start: range.start,
                end: range.end,
                num_events: n_events,
            });
        }
        b.index = index;
        b.range = range.clone();
        b.cutoff = range.start as EventId;
        #[cfg(test)]
        if self.leaky_cutoff {
            b.cutoff = range.end as EventId;
        }
        gather_events(self.store, range.clone(), b);
        self.negs.sample(self.store, range, self.round, &mut b.neg)?;
        b.roots.clear();
        b.roots.extend_from_slice(&b.src);
        b.roots.extend_from_slice(&b.dst);
        b.roots.extend_from_slice(&b.neg);
        b.root_t.clear();
        for _ in 0..3 {
            b.root_t.extend_from_slice(&b.t);
        }
        self.neighbors.sample_layers_into(&b.roots, &b.root_t, b.cutoff, &mut b.layers)?;
        Ok(())
    }
}

/// Copy the positives of `range` into `b` segment by segment (base, then tail):
/// a few `memcpy`s rather than one lookup per event.
fn gather_events<S: TemporalStore + ?Sized>(store: &S, range: Range<usize>, b: &mut Batch) {
    let d = store.feat_dim();
    b.feat_dim = d;
    b.eid.clear();
    b.eid.extend(range.start as EventId..range.end as EventId);
    b.src.clear();
    b.dst.clear();
    b.t.clear();
    b.feats.clear();
    for seg in store.event_segments() {
        let first = seg.first as usize;
        let lo = range.start.max(first);
        let hi = range.end.min(first + seg.t.len());
        if lo >= hi {
            continue;
        }
        let (a, z) = (lo - first, hi - first);
        b.src.extend_from_slice(&seg.src[a..z]);
        b.dst.extend_from_slice(&seg.dst[a..z]);
        b.t.extend_from_slice(&seg.t[a..z]);
        if d > 0 {
            b.feats.extend_from_slice(&seg.feats[a * d..z * d]);
        }
    }
}

/// Batches prepared on a producer thread ahead of the consumer; iterate to get
/// them in plan order. Dropping it stops the producer.
pub struct BatchPipeline {
    rx: Option<Receiver<Result<Batch, BatchError>>>,
    handle: Option<JoinHandle<()>>,
    remaining: usize,
    done: bool,
}

impl BatchPipeline {
    /// Start preparing the batches `ranges` (e.g. from [`batch_ranges`]) of `store`.
    /// The configuration is checked here; a bad range arrives as an error in order.
    pub fn start<S: TemporalStore + ?Sized + 'static>(
        store: Arc<S>,
        cfg: BatchConfig,
        dst: DstRange,
        ranges: Vec<Range<usize>>,
    ) -> Result<BatchPipeline, BatchError> {
        cfg.validate()?;
        dst.check(store.num_nodes())?;
        let (tx, rx) = sync_channel(cfg.prefetch);
        let remaining = ranges.len();
        let handle = std::thread::Builder::new()
            .name("linkcast-batches".into())
            .spawn(move || {
                let mut builder = match BatchBuilder::new(&*store, &cfg, dst) {
                    Ok(b) => b,
                    Err(e) => {
                        let _ = tx.send(Err(e));
                        return;
                    }
                };
                for (i, r) in ranges.into_iter().enumerate() {
                    let res = builder.build(i, r);
                    let failed = res.is_err();
                    // A send error means the consumer is gone: stop.
                    if tx.send(res).is_err() || failed {
                        return;
                    }
                }
            })
            .map_err(BatchError::Spawn)?;
        Ok(BatchPipeline { rx: Some(rx), handle: Some(handle), remaining, done: false })
    }

    /// Batches not yet handed out (an error ends the stream early).
    pub fn remaining(&self) -> usize {
        self.remaining
    }

    fn stop(&mut self) -> Option<BatchError> {
        self.done = true;
        self.rx = None;
        match self.handle.take().map(JoinHandle::join) {
            Some(Err(_)) => Some(BatchError::ProducerPanicked),
            _ => None,
        }
    }
}

impl Iterator for BatchPipeline {
    type Item = Result<Batch, BatchError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        match self.rx.as_ref().map(Receiver::recv) {
            Some(Ok(res)) => {
                self.remaining = self.remaining.saturating_sub(1);
                if res.is_err() || self.remaining == 0 {
                    let _ = self.stop();
                }
                Some(res)
            }
            // The producer hung up early: it panicked (or failed to start).
            _ => self.stop().map(Err),
        }
    }
}

impl Drop for BatchPipeline {
    fn drop(&mut self) {
        // Dropping the receiver first makes a producer blocked in `send` return.
        let _ = self.stop();
    }
}
