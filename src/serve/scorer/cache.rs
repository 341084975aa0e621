//! The top-k cache: the candidates' side of a split score
//! ([`crate::eval::sides`]) at one query time, so that every later `top_k` at that
//! time costs one embedding of its source and one fused decoder pass over the
//! candidates, instead of embedding every candidate again.
//!
//! **What it holds.** For the last query time `t` a cached query asked about: per
//! dense node id, the candidate row `P_d h_v` at `t` (`width` `f32`s), the `k` nodes
//! that row was computed from besides `v` (its sampled neighbours), and whether the
//! row is valid. Rows are filled lazily, only for the candidates queries ask for
//! (an exhaustive query fills them all; a candidate list or a retrieval budget
//! fills its own). A query at another time replaces the entry; the first query at a
//! time costs what an uncached one does.
//!
//! **Exact.** A row is the model's own computation at `t` over the same events, so
//! answers equal the uncached ones up to float rounding of differently shaped
//! batches (tested to 1e-6, with ties by lower id as everywhere).
//!
//! **Invalidation.** An ingested batch records its endpoints. Before the next
//! cached query, every valid row whose candidate or one of whose reads is among
//! them is marked invalid: for the TGN family an event changes only its endpoints'
//! memory and pending messages and their neighbourhoods, and a row reads exactly
//! the candidate's and its sampled neighbours' (GraphMixer reads less: the
//! candidate's own links). The check visits each cached row's `k` reads once, so
//! its cost is `rows x k` lookups whatever the fan-out of a hub; only the rows it
//! invalidates are recomputed, and only when asked for. A batch with an event at
//! or after the entry's `t` drops the entry (queries at `t` are then older than the
//! watermark). Models whose rows would read two sampled layers have no rows
//! (`None`), and neither do pair models or baselines: they are never cached.
//!
//! **Memory and persistence.** `4 nodes` bytes of slot table plus `4 width + 4 k +
//! 5` per row held (1M nodes, TGN's width 100, k 10, every row: 449 MB), allocated
//! by cached queries as they fill it, nothing at open. A query whose rows would
//! take the entry over the cap (`--topk-cache-mb`) is answered uncached. It is derived
//! state and is not saved: after a restart the first query at a time rebuilds it.
//! Nodes added by live batches get rows when first asked for; an unknown (cold)
//! source is only ever a source, whose row is computed per query.

use std::sync::RwLock;
use std::sync::atomic::{AtomicU64, Ordering};

use rayon::prelude::*;
use serde::Serialize;

use super::CHUNK;
use crate::eval::scorer::StreamScorer;
use crate::eval::sides::{CandidateRows, NO_NODE, SideDecoder};
use crate::serve::ServeError;
use crate::store::{NodeId, TemporalStore, Time};

/// What the cache holds and did, for `/health`, `bench serve` and tests.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct CacheStats {
    /// Its cap in bytes (0: off).
    pub cap_bytes: u64,
    /// The query time of the entry, if any.
    pub time: Option<f64>,
    /// Valid rows now, and the bytes the entry's buffers take.
    pub rows: usize,
    pub bytes: u64,
    /// Rows computed, rows answered from the entry, rows invalidated by ingested
    /// events, and entries dropped (another time, a batch at or after `t`).
    pub computed: u64,
    pub served: u64,
    pub invalidated: u64,
    pub dropped: u64,
}

/// The sources' side of a grid at one time ([`TopKCache::sources`]).
pub struct SourceSide {
    t: Time,
    rows: Vec<f32>,
    dec: SideDecoder,
}

/// No slot (in [`Entry::slot`]).
const NO_SLOT: u32 = u32::MAX;

struct Entry {
    t: Time,
    /// Store events the entry has seen: its rows plus `changed` describe this state.
    events: usize,
    width: usize,
    k: usize,
    /// Slot of each dense node id (`NO_SLOT`: never computed), so a partial entry
    /// (a candidate list, retrieval) holds only its own rows.
    slot: Vec<u32>,
    /// Per slot: its node, row (`width`), reads (`k`) and whether it is valid.
    node: Vec<NodeId>,
    rows: Vec<f32>,
    reads: Vec<NodeId>,
    valid: Vec<bool>,
    filled: usize,
    /// Endpoints of events ingested since the rows were last checked.
    changed: Vec<NodeId>,
}

/// Bytes of an entry over `nodes` node ids with `slots` rows.
fn entry_bytes(nodes: usize, slots: usize, width: usize, k: usize) -> u64 {
    4 * nodes as u64 + slots as u64 * (4 * width as u64 + 4 * k as u64 + 5)
}

impl Entry {
    fn bytes(&self) -> u64 {
        entry_bytes(self.slot.len(), self.node.len(), self.width, self.k)
    }

    fn is_valid(&self, v: NodeId) -> bool {
        self.slot.get(v as usize).is_some_and(|&s| s != NO_SLOT && self.valid[s as usize])
    }

    /// Mark invalid every row that is of, or reads, a changed node; returns how many.
    fn apply_changes(&mut self) -> usize {
        if self.changed.is_empty() {
            return 0;
        }
        // Sized for every changed id too: a row may read a node added after the
        // entry's slot table was sized.
        let n = self.changed.iter().map(|&v| v as usize + 1).max().unwrap_or(0).max(self.slot.len());
        let mut hit = vec![false; n];
        for &v in &self.changed {
            if (v as usize) < n {
                hit[v as usize] = true;
            }
        }
        self.changed.clear();
        let k = self.k;
        let is_hit = |r: NodeId| r != NO_NODE && (r as usize) < n && hit[r as usize];
        let mut gone = 0;
        for i in 0..self.node.len() {
            if self.valid[i]
                && (is_hit(self.node[i]) || self.reads[i * k..(i + 1) * k].iter().any(|&r| is_hit(r)))
            {
                self.valid[i] = false;
                gone += 1;
            }
        }
        self.filled -= gone;
        gone
    }

    fn store_rows(&mut self, cand: &[NodeId], r: &CandidateRows) {
        let (w, k) = (self.width, self.k);
        for (i, &c) in cand.iter().enumerate() {
            let c = c as usize;
            if c >= self.slot.len() {
                self.slot.resize(c + 1, NO_SLOT);
            }
            let s = match self.slot[c] {
                NO_SLOT => {
                    let s = self.node.len();
                    self.slot[c] = s as u32;
                    self.node.push(c as NodeId);
                    self.rows.extend_from_slice(&r.rows[i * w..(i + 1) * w]);
                    self.reads.extend_from_slice(&r.reads[i * k..(i + 1) * k]);
                    self.valid.push(false);
                    s
                }
                s => {
                    let s = s as usize;
                    self.rows[s * w..(s + 1) * w].copy_from_slice(&r.rows[i * w..(i + 1) * w]);
                    self.reads[s * k..(s + 1) * k].copy_from_slice(&r.reads[i * k..(i + 1) * k]);
                    s
                }
            };
            if !self.valid[s] {
                self.valid[s] = true;
                self.filled += 1;
            }
        }
    }

    /// Probabilities of `src [S, width] x cand`, source-major. Blocks of 32 sources
    /// sweep tiles of 256 candidates, so a tile's rows (100 kB at width 100) stay in
    /// L2 across the block and the candidates' rows stream from memory once per 32
    /// sources (8 measured 91.8 queries/s at 1M candidates, memory-bound); blocks,
    /// and for one source pieces of the candidates, run on rayon.
    fn decode_into(&self, src: &[f32], cand: &[NodeId], dec: &SideDecoder, out: &mut Vec<f64>) {
        const ROWS: usize = 32;
        const TILE: usize = 256;
        let (w, c) = (self.width, cand.len());
        let s = src.len() / w.max(1);
        out.clear();
        out.resize(s * c, 0.0);
        if c == 0 || s == 0 {
            return;
        }
        let row = |v: NodeId| {
            let i = self.slot[v as usize] as usize;
            &self.rows[i * w..(i + 1) * w]
        };
        if s == 1 {
            out.par_chunks_mut(4096).zip(cand.par_chunks(4096)).for_each(|(o, cs)| {
                dec.probabilities(src, |i| row(cs[i]), o);
            });
            return;
        }
        out.par_chunks_mut(ROWS * c).enumerate().for_each(|(blk, block)| {
            for lo in (0..c).step_by(TILE) {
                let hi = (lo + TILE).min(c);
                let tile = &cand[lo..hi];
                for (r, o) in block.chunks_mut(c).enumerate() {
                    let a = &src[(blk * ROWS + r) * w..][..w];
                    dec.probabilities(a, |i| row(tile[i]), &mut o[lo..hi]);
                }
            }
        });
    }
}

/// See the module docs. Shared by readers (`&self`): warm queries decode under the
/// read lock in parallel; a query that must compute rows takes the write lock, so
/// a second query at the same time waits for the rows instead of computing them too.
pub struct TopKCache {
    cap_bytes: u64,
    entry: RwLock<Option<Entry>>,
    computed: AtomicU64,
    served: AtomicU64,
    invalidated: AtomicU64,
    dropped: AtomicU64,
}

impl TopKCache {
    /// A cache of at most `cap_bytes` (0: off).
    pub fn new(cap_bytes: u64) -> TopKCache {
        TopKCache {
            cap_bytes,
            entry: RwLock::new(None),
            computed: AtomicU64::new(0),
            served: AtomicU64::new(0),
            invalidated: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
        }
    }

    pub fn stats(&self) -> CacheStats {
        let g = self.entry.read().unwrap_or_else(|p| p.into_inner());
        CacheStats {
            cap_bytes: self.cap_bytes,
            time: g.as_ref().map(|e| e.t),
            rows: g.as_ref().map_or(0, |e| e.filled),
            bytes: g.as_ref().map_or(0, Entry::bytes),
            computed: self.computed.load(Ordering::Relaxed),
            served: self.served.load(Ordering::Relaxed),
            invalidated: self.invalidated.load(Ordering::Relaxed),
            dropped: self.dropped.load(Ordering::Relaxed),
        }
    }

    /// After a batch was absorbed: `endpoints` of its events, the store's event
    /// count and the new watermark. Cheap (the endpoints are checked lazily).
    pub fn after_ingest(&mut self, endpoints: impl Iterator<Item = NodeId>, events: usize, watermark: Time) {
        let slot = self.entry.get_mut().unwrap_or_else(|p| p.into_inner());
        let Some(e) = slot.as_mut() else { return };
        if e.t <= watermark {
            *slot = None;
            self.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        e.changed.extend(endpoints);
        e.events = events;
    }

    /// Probabilities of `(s, c)` at `t` for every `c` in `cand` through the cache,
    /// or `None` when the cache is off, the target has no split score, or the entry
    /// would exceed the cap (the caller then scores the pairs).
    pub fn scores(
        &self,
        target: &dyn StreamScorer,
        store: &dyn TemporalStore,
        s: NodeId,
        t: Time,
        cand: &[NodeId],
    ) -> Result<Option<Vec<f64>>, ServeError> {
        self.grid(target, store, &[s], t, cand)
    }

    /// [`TopKCache::scores`] for every pair of `src x cand`, source-major
    /// (`out[j * cand.len() + i]` scores `(src[j], cand[i])`): the many-sources mode.
    pub fn grid(
        &self,
        target: &dyn StreamScorer,
        store: &dyn TemporalStore,
        src: &[NodeId],
        t: Time,
        cand: &[NodeId],
    ) -> Result<Option<Vec<f64>>, ServeError> {
        let Some(side) = self.sources(target, store, src, t)? else { return Ok(None) };
        let mut out = Vec::new();
        Ok(self.grid_of(target, store, &side, cand, &mut out)?.then_some(out))
    }

    /// The sources' side at `t`, computed once for many [`TopKCache::grid_of`]
    /// calls; `None` when the cache is off or the target has no split score.
    pub fn sources(
        &self,
        target: &dyn StreamScorer,
        store: &dyn TemporalStore,
        src: &[NodeId],
        t: Time,
    ) -> Result<Option<SourceSide>, ServeError> {
        if self.cap_bytes == 0 {
            return Ok(None);
        }
        let Some(dec) = target.side_decoder() else { return Ok(None) };
        let Some(rows) = target.source_rows(store, src, t)? else { return Ok(None) };
        if rows.len() != src.len() * dec.w.len() {
            return Ok(None);
        }
        Ok(Some(SourceSide { t, rows, dec }))
    }

    /// [`TopKCache::grid`] from a [`SourceSide`], into `out` (reused across calls);
    /// `false`, with `out` untouched, when the cache cannot answer.
    pub fn grid_of(
        &self,
        target: &dyn StreamScorer,
        store: &dyn TemporalStore,
        side: &SourceSide,
        cand: &[NodeId],
        out: &mut Vec<f64>,
    ) -> Result<bool, ServeError> {
        Ok(self
            .with_rows(target, store, side.t, cand, |e| e.decode_into(&side.rows, cand, &side.dec, out))?
            .is_some())
    }

    /// Make every row of `cand` valid at `t`, then call `f` on the entry (under the
    /// read lock when nothing had to be computed). `None`: see [`TopKCache::scores`],
    /// and also when another query holds the entry (filling it, or a reader while
    /// this one would fill): the caller then computes without the cache rather
    /// than wait, so queries at other times never queue behind a fill.
    fn with_rows<R>(
        &self,
        target: &dyn StreamScorer,
        store: &dyn TemporalStore,
        t: Time,
        cand: &[NodeId],
        f: impl FnOnce(&Entry) -> R,
    ) -> Result<Option<R>, ServeError> {
        use std::sync::TryLockError;
        let events = store.num_events();
        let fits = |e: &Entry| {
            e.t.to_bits() == t.to_bits()
                && e.events == events
                && e.changed.is_empty()
                && cand.iter().all(|&c| e.is_valid(c))
        };
        match self.entry.try_read() {
            Ok(g) => {
                if let Some(e) = g.as_ref().filter(|e| fits(e)) {
                    self.served.fetch_add(cand.len() as u64, Ordering::Relaxed);
                    return Ok(Some(f(e)));
                }
            }
            Err(TryLockError::WouldBlock) => return Ok(None),
            Err(TryLockError::Poisoned(_)) => {}
        }
        let mut g = match self.entry.try_write() {
            Ok(g) => g,
            Err(TryLockError::WouldBlock) => return Ok(None),
            Err(TryLockError::Poisoned(p)) => p.into_inner(),
        };
        if g.as_ref().is_some_and(|e| e.t.to_bits() != t.to_bits() || e.events != events) {
            *g = None;
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
        if g.is_none() {
            // Widths from an empty call, so the cap is checked before any work.
            let Some(probe) = target.candidate_rows(store, &[], t)? else { return Ok(None) };
            *g = Some(Entry {
                t,
                events,
                width: probe.width,
                k: probe.k,
                slot: vec![NO_SLOT; store.num_nodes() as usize],
                node: Vec::new(),
                rows: Vec::new(),
                reads: Vec::new(),
                valid: Vec::new(),
                filled: 0,
                changed: Vec::new(),
            });
        }
        let e = g.as_mut().expect("set above");
        let gone = e.apply_changes();
        self.invalidated.fetch_add(gone as u64, Ordering::Relaxed);
        let mut missing: Vec<NodeId> = cand.iter().copied().filter(|&c| !e.is_valid(c)).collect();
        missing.sort_unstable();
        missing.dedup();
        let fresh = missing.iter().filter(|&&c| e.slot.get(c as usize).is_none_or(|&s| s == NO_SLOT)).count();
        let nodes = e.slot.len().max(cand.iter().map(|&c| c as usize + 1).max().unwrap_or(0));
        if entry_bytes(nodes, e.node.len() + fresh, e.width, e.k) > self.cap_bytes {
            // Over the cap: this query goes uncached; a smaller one may still fit.
            if e.node.is_empty() {
                *g = None;
            }
            return Ok(None);
        }
        for piece in missing.chunks(CHUNK) {
            let Some(r) = target.candidate_rows(store, piece, t)? else {
                *g = None;
                return Ok(None);
            };
            if r.width != e.width || r.k != e.k || r.rows.len() != piece.len() * e.width {
                return Err(ServeError::State {
                    path: "top-k cache".into(),
                    why: format!(
                        "candidate rows of width {} x {} for {} candidates, the cache holds width {} and k {}",
                        r.width,
                        r.k,
                        piece.len(),
                        e.width,
                        e.k
                    ),
                });
            }
            e.store_rows(piece, &r);
        }
        self.computed.fetch_add(missing.len() as u64, Ordering::Relaxed);
        self.served.fetch_add((cand.len() - missing.len()) as u64, Ordering::Relaxed);
        Ok(Some(f(e)))
    }
}
