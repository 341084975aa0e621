//! Temporal neighbour sampling: for each root `(node, time)` of a batch, up to `k`
//! neighbours that interacted with it strictly before `time`, in fixed-shape padded
//! arrays (one copy from a tensor).
//!
//! Time convention (design.md invariants 1 and 3): a root `(v, t)` of a batch whose
//! first event id is `cutoff` sees exactly the entries of `v`'s adjacency with
//! `time < t` AND `event id < cutoff`. Both conditions select a prefix of the list
//! (it is sorted by time, then event id), so the visible entries are the first
//! `n = count_before(t, cutoff)` ones. Events sharing a timestamp never see each
//! other; events inside one batch never see each other.
//!
//! Shapes ([`Sampled`]): for `R` roots and fan-out `k`, `nbr`, `eid`, `t`, `mask`
//! each hold `R * k` entries, root-major (row `i` is `[i*k, (i+1)*k)`). Within a
//! row the valid entries come first, in chronological order (oldest first, ties
//! by event id), then padding: `nbr = 0`, `eid = 0`, `t = 0.0`, `mask = 0`.
//!
//! Strategies ([`Strategy`]):
//! - `Recent`: the `min(k, n)` most recent visible entries.
//! - `Uniform`: `k` draws, uniform and WITH replacement, from the `n` visible
//!   entries (as TGL and TGN do), sorted chronologically, so a row has `k` valid
//!   entries when `n > 0` (duplicates possible) and none when `n == 0`. The draws of
//!   root `i` come from a SplitMix64 stream keyed by (config seed, cutoff, layer,
//!   `i`): reproducible for a seed and independent of the thread count and of how
//!   rows are split between threads. Two calls with the same cutoff and seed reuse
//!   streams by root index, so sample all roots of a batch in one call (or vary the
//!   seed).
//!
//! Multi-hop ([`NeighborSampler::sample_layers`], TGAT): layer `l + 1`'s roots are
//! layer `l`'s slots, each queried at its own event time (so strictly before that
//! event); a padded slot of layer `l` yields an all-padding row in layer `l + 1`.
//! Layer `l` has `R * k_0 * ... * k_l` slots.
//!
//! Speed: rows are filled in parallel (rayon) in chunks of whole rows (at least
//! 128 roots, about 4 chunks per thread) writing disjoint slices, with no heap
//! allocation per root; each chunk works in blocks of 16 roots whose memory
//! accesses are prefetched together. With [`NeighborSampler::with_cursor`], a
//! [`ChronoCursor`] keeps per node the number of its entries below the current
//! cut-off, updated from the batch's events as batches advance, so a layer-0 root
//! needs no search at all (one check of the entry it copies anyway for ties at
//! its own timestamp). Time going back far, deeper layers, and calls made while
//! another thread holds the cursor use binary search, with identical answers.

use std::str::FromStr;
use std::sync::Mutex;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::store::{EventId, Neighbors, NodeId, TemporalStore, Time};

#[path = "neighbors_cursor.rs"]
mod cursor;
pub use cursor::ChronoCursor;

#[cfg(test)]
#[path = "tests_neighbors.rs"]
mod tests;

/// Which visible entries fill a row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Strategy {
    /// The `k` most recent visible entries.
    #[default]
    Recent,
    /// `k` uniform draws with replacement from all visible entries.
    Uniform,
}

impl FromStr for Strategy {
    type Err = SampleError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "recent" => Ok(Strategy::Recent),
            "uniform" => Ok(Strategy::Uniform),
            _ => Err(SampleError::UnknownStrategy(s.to_string())),
        }
    }
}

impl std::fmt::Display for Strategy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Strategy::Recent => "recent",
            Strategy::Uniform => "uniform",
        })
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SampleError {
    #[error("unknown sampling strategy {0:?} (expected recent or uniform)")]
    UnknownStrategy(String),
    #[error("no fan-outs: give at least one layer")]
    NoLayers,
    #[error("fan-out of layer {layer} is 0")]
    ZeroFanout { layer: usize },
    #[error("{roots} roots but {times} times")]
    LengthMismatch { roots: usize, times: usize },
    #[error("layer {layer} would have {roots} roots x {k} neighbours: too many slots")]
    TooLarge { layer: usize, roots: usize, k: usize },
}

/// What to sample: a fan-out per layer (`[10]` for TGN, `[10, 10]` for 2-layer
/// TGAT), the strategy, and the seed of the uniform draws.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SamplerConfig {
    pub fanouts: Vec<usize>,
    pub strategy: Strategy,
    pub seed: u64,
}

impl Default for SamplerConfig {
    fn default() -> Self {
        Self { fanouts: vec![10], strategy: Strategy::Recent, seed: 0 }
    }
}

impl SamplerConfig {
    pub fn new(fanouts: Vec<usize>, strategy: Strategy, seed: u64) -> Self {
        Self { fanouts, strategy, seed }
    }

    pub fn validate(&self) -> Result<(), SampleError> {
        if self.fanouts.is_empty() {
            return Err(SampleError::NoLayers);
        }
        if let Some(layer) = self.fanouts.iter().position(|&k| k == 0) {
            return Err(SampleError::ZeroFanout { layer });
        }
        Ok(())
    }
}

/// One row of a [`Sampled`]: (nbr, eid, t, mask), `k` entries each.
pub type Row<'s> = (&'s [NodeId], &'s [EventId], &'s [Time], &'s [u8]);

/// Sampled neighbourhoods of `roots()` roots, `k` slots each (see the module docs
/// for the order within a row and the padding). Reuse one across calls: the
/// buffers keep their capacity.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Sampled {
    pub k: usize,
    pub nbr: Vec<NodeId>,
    pub eid: Vec<EventId>,
    pub t: Vec<Time>,
    /// 1 = valid slot, 0 = padding.
    pub mask: Vec<u8>,
}

impl Sampled {
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of rows (roots).
    pub fn roots(&self) -> usize {
        self.nbr.len().checked_div(self.k).unwrap_or(0)
    }

    /// Number of valid slots.
    pub fn valid(&self) -> usize {
        self.mask.iter().map(|&m| m as usize).sum()
    }

    /// Resize to `roots x k`, every slot padding.
    pub fn clear_and_resize(&mut self, roots: usize, k: usize) {
        let n = roots * k;
        self.k = k;
        self.nbr.clear();
        self.nbr.resize(n, 0);
        self.eid.clear();
        self.eid.resize(n, 0);
        self.t.clear();
        self.t.resize(n, 0.0);
        self.mask.clear();
        self.mask.resize(n, 0);
    }

    /// Resize to `roots x k` keeping whatever the slots hold (the sampler
    /// overwrites every slot, so zeroing first would write the output twice).
    fn resize_for_overwrite(&mut self, roots: usize, k: usize) {
        let n = roots * k;
        self.k = k;
        self.nbr.resize(n, 0);
        self.eid.resize(n, 0);
        self.t.resize(n, 0.0);
        self.mask.resize(n, 0);
    }

    /// Row `i` as (nbr, eid, t, mask); `None` past the end.
    pub fn row(&self, i: usize) -> Option<Row<'_>> {
        let (a, b) = (i.checked_mul(self.k)?, (i + 1).checked_mul(self.k)?);
        Some((self.nbr.get(a..b)?, self.eid.get(a..b)?, self.t.get(a..b)?, self.mask.get(a..b)?))
    }
}

/// Rows handed to one worker: disjoint `k`-wide slices of the four outputs.
struct Rows<'o> {
    nbr: &'o mut [NodeId],
    eid: &'o mut [EventId],
    t: &'o mut [Time],
    mask: &'o mut [u8],
}

/// One layer's query: roots, their times, optional root validity, and where the
/// draw streams are keyed.
#[derive(Clone, Copy)]
struct Query<'q> {
    roots: &'q [NodeId],
    times: &'q [Time],
    valid: Option<&'q [u8]>,
    cutoff: EventId,
    k: usize,
    layer: usize,
    /// Positioned at `cutoff` (layer 0 only, when the cursor was free and near).
    cursor: Option<&'q ChronoCursor>,
}

/// The sampler: a borrowed store, a validated configuration, and optionally a
/// [`ChronoCursor`]. `&self` methods; safe to share between threads.
pub struct NeighborSampler<'a, S: TemporalStore + ?Sized> {
    store: &'a S,
    config: SamplerConfig,
    /// Behind a mutex so `&self` calls can move it; a call that finds it busy
    /// (another thread sampling) uses binary search instead: same answers.
    cursor: Option<Mutex<ChronoCursor>>,
    min_chunk: usize,
    /// Test builds only: count entries with `time <= t` (the classic leak) so the
    /// tests can show they catch it.
    #[cfg(test)]
    leaky: bool,
}

/// Roots whose memory accesses are prefetched together (see `fill_rows`).
const BLOCK: usize = 16;

/// Fewer rows than this per rayon task cost more in scheduling than they save.
const DEFAULT_MIN_CHUNK: usize = 128;

impl<'a, S: TemporalStore + ?Sized> NeighborSampler<'a, S> {
    pub fn new(store: &'a S, config: SamplerConfig) -> Result<Self, SampleError> {
        config.validate()?;
        Ok(Self {
            store,
            config,
            cursor: None,
            min_chunk: DEFAULT_MIN_CHUNK,
            #[cfg(test)]
            leaky: false,
        })
    }

    /// Add per-node cursors (4 bytes per node) for chronological replay.
    pub fn with_cursor(mut self) -> Self {
        self.cursor = Some(Mutex::new(ChronoCursor::new(self.store)));
        self
    }

    /// Rows per rayon task at least (default 128); 0 is taken as 1.
    pub fn with_min_chunk(mut self, rows: usize) -> Self {
        self.min_chunk = rows.max(1);
        self
    }

    #[cfg(test)]
    pub(crate) fn leaky(mut self) -> Self {
        self.leaky = true;
        self
    }

    pub fn config(&self) -> &SamplerConfig {
        &self.config
    }

    pub fn store(&self) -> &'a S {
        self.store
    }

    pub fn has_cursor(&self) -> bool {
        self.cursor.is_some()
    }

    /// First layer only: `roots[i]` at `times[i]`, fan-out `fanouts[0]`, into `out`
    /// (resized to `roots.len() x k`).
    pub fn sample(
        &self,
        roots: &[NodeId],
        times: &[Time],
        cutoff: EventId,
        out: &mut Sampled,
    ) -> Result<(), SampleError> {
        check_lengths(roots, times)?;
        let k = self.config.fanouts[0];
        let mut guard = self.cursor.as_ref().and_then(|m| m.try_lock().ok());
        let cursor = self.seek(guard.as_deref_mut(), cutoff, roots.len());
        let q = Query { roots, times, valid: None, cutoff, k, layer: 0, cursor };
        self.fill(q, out)
    }

    /// Move the cursor (if we hold it) to `cutoff`; `Some` when it then answers it.
    /// Moving back costs a pass over the skipped events, so only short moves back
    /// are worth it: up to 32 events per root of the call.
    fn seek<'c>(
        &self,
        cursor: Option<&'c mut ChronoCursor>,
        cutoff: EventId,
        roots: usize,
    ) -> Option<&'c ChronoCursor> {
        let c = cursor?;
        if c.seek(self.store, cutoff, roots.saturating_mul(32)) { Some(c) } else { None }
    }

    /// Every layer of `fanouts` (see the module docs); one `Sampled` per layer.
    pub fn sample_layers(
        &self,
        roots: &[NodeId],
        times: &[Time],
        cutoff: EventId,
    ) -> Result<Vec<Sampled>, SampleError> {
        let mut outs = Vec::new();
        self.sample_layers_into(roots, times, cutoff, &mut outs)?;
        Ok(outs)
    }

    /// Like [`NeighborSampler::sample_layers`], reusing `outs`' buffers.
    pub fn sample_layers_into(
        &self,
        roots: &[NodeId],
        times: &[Time],
        cutoff: EventId,
        outs: &mut Vec<Sampled>,
    ) -> Result<(), SampleError> {
        check_lengths(roots, times)?;
        let layers = self.config.fanouts.len();
        outs.resize_with(layers, Sampled::new);
        let mut n_roots = roots.len();
        for (layer, &k) in self.config.fanouts.iter().enumerate() {
            if n_roots.checked_mul(k).is_none_or(|n| n > u32::MAX as usize) {
                return Err(SampleError::TooLarge { layer, roots: n_roots, k });
            }
            n_roots *= k;
        }
        let mut guard = self.cursor.as_ref().and_then(|m| m.try_lock().ok());
        let cursor = self.seek(guard.as_deref_mut(), cutoff, roots.len());
        let q = Query { roots, times, valid: None, cutoff, k: self.config.fanouts[0], layer: 0, cursor };
        self.fill(q, &mut outs[0])?;
        drop(guard);
        for layer in 1..layers {
            let (done, rest) = outs.split_at_mut(layer);
            let prev = &done[layer - 1];
            let q = Query {
                roots: &prev.nbr,
                times: &prev.t,
                valid: Some(&prev.mask),
                cutoff,
                k: self.config.fanouts[layer],
                layer,
                // Deeper layers query back in time (neighbour event times), where
                // counts below the cutoff say little.
                cursor: None,
            };
            self.fill(q, &mut rest[0])?;
        }
        Ok(())
    }

    /// Rows per rayon task for `r` roots: a few tasks per thread for balance, but
    /// never below `min_chunk`.
    fn chunk_rows(&self, r: usize) -> usize {
        let threads = rayon::current_num_threads().max(1);
        r.div_ceil(threads * 4).max(self.min_chunk)
    }

    fn fill(&self, q: Query<'_>, out: &mut Sampled) -> Result<(), SampleError> {
        let r = q.roots.len();
        if r.checked_mul(q.k).is_none() {
            return Err(SampleError::TooLarge { layer: q.layer, roots: r, k: q.k });
        }
        out.resize_for_overwrite(r, q.k);
        if r == 0 {
            return Ok(());
        }
        let k = q.k;
        let chunk = self.chunk_rows(r);
        if chunk >= r {
            let rows = Rows { nbr: &mut out.nbr, eid: &mut out.eid, t: &mut out.t, mask: &mut out.mask };
            self.fill_rows(&q, 0, rows);
            return Ok(());
        }
        let w = chunk * k;
        out.nbr
            .par_chunks_mut(w)
            .zip(out.eid.par_chunks_mut(w))
            .zip(out.t.par_chunks_mut(w))
            .zip(out.mask.par_chunks_mut(w))
            .enumerate()
            .for_each(|(c, (((nbr, eid), t), mask))| {
                self.fill_rows(&q, c * chunk, Rows { nbr, eid, t, mask })
            });
        Ok(())
    }

    /// Fill the rows starting at root `first` (as many as `rows` holds), in blocks
    /// of [`BLOCK`] roots: pass 1 locates every root's list and prefetches where
    /// its visible prefix ends (known from the cursor), so the cache misses of the
    /// block's roots overlap instead of queueing; pass 2 counts and copies (recent)
    /// or counts, draws and prefetches the drawn entries (uniform), which pass 3
    /// gathers.
    fn fill_rows(&self, q: &Query<'_>, first: usize, rows: Rows<'_>) {
        let k = q.k;
        let total = rows.mask.len() / k;
        let mut nbs = [Neighbors::default(); BLOCK];
        let mut live = [false; BLOCK];
        let mut b0 = 0;
        while b0 < total {
            let len = BLOCK.min(total - b0);
            for j in 0..len {
                let i = first + b0 + j;
                live[j] = q.valid.is_none_or(|v| v[i] != 0);
                nbs[j] = if live[j] { self.store.neighbors(q.roots[i]) } else { Neighbors::default() };
                if let Some(c) = q.cursor.filter(|_| live[j]) {
                    let p = c.hint(q.roots[i]);
                    prefetch_entry(&nbs[j], p.wrapping_sub(1));
                    prefetch_entry(&nbs[j], p.saturating_sub(k));
                }
            }
            let span = b0 * k..(b0 + len) * k;
            let (nbr, eid) = (&mut rows.nbr[span.clone()], &mut rows.eid[span.clone()]);
            let (t, mask) = (&mut rows.t[span.clone()], &mut rows.mask[span]);
            match self.config.strategy {
                Strategy::Recent => {
                    for j in 0..len {
                        let i = first + b0 + j;
                        let r = j * k..(j + 1) * k;
                        let (nbr, eid, t, mask) =
                            (&mut nbr[r.clone()], &mut eid[r.clone()], &mut t[r.clone()], &mut mask[r]);
                        let n = if live[j] {
                            self.visible(q.roots[i], &nbs[j], q.times[i], q.cutoff, q.cursor)
                        } else {
                            0
                        };
                        let take = n.min(k);
                        copy_range(&nbs[j], n - take, n, &mut nbr[..take], &mut eid[..take], &mut t[..take]);
                        mask[..take].fill(1);
                        pad(&mut nbr[take..], &mut eid[take..], &mut t[take..], &mut mask[take..]);
                    }
                }
                Strategy::Uniform => {
                    // Draw indices into the eid slots and sort them (chronological
                    // order): no scratch buffer needed.
                    for j in 0..len {
                        let i = first + b0 + j;
                        let n = if live[j] {
                            self.visible(q.roots[i], &nbs[j], q.times[i], q.cutoff, q.cursor)
                        } else {
                            0
                        };
                        let r = j * k..(j + 1) * k;
                        if n == 0 {
                            live[j] = false;
                            pad(&mut nbr[r.clone()], &mut eid[r.clone()], &mut t[r.clone()], &mut mask[r]);
                            continue;
                        }
                        let eid = &mut eid[r];
                        let mut rng = SplitMix64::new(stream_key(self.config.seed, q.cutoff, q.layer, i));
                        for e in eid.iter_mut() {
                            *e = rng.below(n as u64) as EventId;
                        }
                        eid.sort_unstable();
                        for &e in eid.iter() {
                            prefetch_entry(&nbs[j], e as usize);
                        }
                    }
                    // Replace each index by its entry.
                    for j in (0..len).filter(|&j| live[j]) {
                        for s in j * k..(j + 1) * k {
                            let (v, te, e) = entry(&nbs[j], eid[s] as usize);
                            nbr[s] = v;
                            t[s] = te;
                            eid[s] = e;
                        }
                        mask[j * k..(j + 1) * k].fill(1);
                    }
                }
            }
            b0 += len;
        }
    }

    /// Number of visible entries of `root` at (`t`, `cutoff`): a prefix length.
    #[inline]
    fn visible(
        &self,
        root: NodeId,
        nb: &Neighbors<'_>,
        t: Time,
        cutoff: EventId,
        cursor: Option<&ChronoCursor>,
    ) -> usize {
        #[cfg(test)]
        if self.leaky {
            return leaky_count(nb, t, cutoff);
        }
        match cursor {
            Some(c) => c.count_before(root, nb, t, cutoff),
            None => nb.count_before(t, cutoff),
        }
    }
}

fn check_lengths(roots: &[NodeId], times: &[Time]) -> Result<(), SampleError> {
    if roots.len() != times.len() {
        return Err(SampleError::LengthMismatch { roots: roots.len(), times: times.len() });
    }
    Ok(())
}

/// The WRONG count (`time <= t`, i.e. `upper_bound`), for tests that must catch it.
#[cfg(test)]
fn leaky_count(nb: &Neighbors<'_>, t: Time, cutoff: EventId) -> usize {
    nb.iter().take_while(|&(_, te, e)| te <= t && e < cutoff).count()
}

/// Entry `i` of the concatenation base ++ tail. `i` must be below `nb.len()`.
#[inline]
fn entry(nb: &Neighbors<'_>, i: usize) -> (NodeId, Time, EventId) {
    let b = nb.base.len();
    let (l, j) = if i < b { (&nb.base, i) } else { (&nb.tail, i - b) };
    (l.nbr[j], l.t[j], l.eid[j])
}

/// Hint the CPU to fetch the cache lines of entry `i` (if it exists); a hint
/// only, never a fault, so out-of-range or stale positions cost nothing.
#[inline(always)]
fn prefetch_entry(nb: &Neighbors<'_>, i: usize) {
    let b = nb.base.len();
    let (l, j) = if i < b { (&nb.base, i) } else { (&nb.tail, i.wrapping_sub(b)) };
    if j < l.len() {
        prefetch(&l.t[j]);
        prefetch(&l.nbr[j]);
        prefetch(&l.eid[j]);
    }
}

#[inline(always)]
fn prefetch<T>(x: &T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: PREFETCHT0 is a hint: it performs no architectural access and
    // never faults; the pointer comes from a live reference anyway.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>((x as *const T).cast());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = x;
}

/// Padding in every given slot.
#[inline]
fn pad(nbr: &mut [NodeId], eid: &mut [EventId], t: &mut [Time], mask: &mut [u8]) {
    nbr.fill(0);
    eid.fill(0);
    t.fill(0.0);
    mask.fill(0);
}

/// `dst[i] = src[i]` by a plain loop: rows are a handful of entries, where a
/// `memcpy` call costs more than the copy.
#[inline(always)]
fn copy_small<T: Copy>(dst: &mut [T], src: &[T]) {
    for (d, s) in dst.iter_mut().zip(src) {
        *d = *s;
    }
}

/// Copy entries `[a, b)` of base ++ tail into equally long output slices.
#[inline]
fn copy_range(
    nb: &Neighbors<'_>,
    a: usize,
    b: usize,
    nbr: &mut [NodeId],
    eid: &mut [EventId],
    t: &mut [Time],
) {
    let bl = nb.base.len();
    // Part from the base: [a, min(b, bl)).
    let mid = b.min(bl).max(a);
    let nb_base = mid - a;
    if nb_base > 0 {
        copy_small(&mut nbr[..nb_base], &nb.base.nbr[a..mid]);
        copy_small(&mut eid[..nb_base], &nb.base.eid[a..mid]);
        copy_small(&mut t[..nb_base], &nb.base.t[a..mid]);
    }
    if b > mid {
        let (ta, tb) = (mid - bl, b - bl);
        copy_small(&mut nbr[nb_base..], &nb.tail.nbr[ta..tb]);
        copy_small(&mut eid[nb_base..], &nb.tail.eid[ta..tb]);
        copy_small(&mut t[nb_base..], &nb.tail.t[ta..tb]);
    }
}

/// Key of root `i`'s draw stream: the seed, the batch (cutoff), the layer and the
/// root index, mixed so nearby keys give unrelated streams.
#[inline]
fn stream_key(seed: u64, cutoff: EventId, layer: usize, i: usize) -> u64 {
    let mut h = SplitMix64::mix(seed ^ 0x9e37_79b9_7f4a_7c15);
    h = SplitMix64::mix(h ^ ((cutoff as u64) << 8 | layer as u64 & 0xff));
    SplitMix64::mix(h ^ i as u64)
}

/// SplitMix64 (Steele, Lea, Flood 2014): a tiny, fast, statistically sound stream,
/// cheap enough to seed once per root.
#[derive(Debug, Clone)]
pub(crate) struct SplitMix64(u64);

impl SplitMix64 {
    pub(crate) fn new(seed: u64) -> Self {
        Self(seed)
    }

    #[inline]
    fn mix(mut z: u64) -> u64 {
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    #[inline]
    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        Self::mix(self.0)
    }

    /// Uniform in `[0, n)`, `n > 0`, without modulo bias (Lemire's method).
    #[inline]
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        let mut m = (self.next_u64() as u128) * (n as u128);
        if (m as u64) < n {
            let threshold = n.wrapping_neg() % n;
            while (m as u64) < threshold {
                m = (self.next_u64() as u128) * (n as u128);
            }
        }
        (m >> 64) as u64
    }
}
