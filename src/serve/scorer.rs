//! [`Scorer`]: a model or baseline over a graph, kept current by `ingest`, answering
//! `score` and `top_k` questions about times after the newest absorbed event.
//!
//! Semantics are those of `linkcast eval` (design.md invariants 1, 3, 7): the state
//! has absorbed every event of the store (base graph + live batches); a query at time
//! `t` must satisfy `t > watermark` (the newest absorbed event's time), and is
//! answered like a query of an evaluation batch that starts right after the last
//! absorbed event. `ingest(events)` is one batch: appended to the store, then folded
//! into the model's memory in one step, as training and evaluation do per batch.
//! So replaying a split through `ingest` in evaluation's batches gives evaluation's
//! scores bit for bit (tested in `tests.rs`).
//!
//! Ids are external (the input file's strings or integers); `Unknown::Cold` answers
//! for an unknown node as for a node with no events (fresh memory, no neighbours).

use std::path::Path;
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

use serde::{Deserialize, Serialize};

use crate::eval::scorer::StreamScorer;
use crate::serve::ServeError;
use crate::serve::retrieve::{POPULAR_KEEP, Popularity, retrieve};
use crate::serve::state::{self, LiveBatch, LiveMeta};
use crate::store::{EventId, IdMap, NodeId, Side, TemporalStore, Time};

pub mod cache;
mod many;
pub use cache::CacheStats;
pub use many::SourceQuery;

/// How `score` and `top_k` treat an external id the graph has never seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Unknown {
    /// Refuse the request, naming the id.
    Error,
    /// Score it as a node with no history (fresh memory, empty neighbourhood).
    Cold,
}

/// A new event, external ids.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct LiveEvent {
    pub src: String,
    pub dst: String,
    pub t: f64,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub feat: Vec<f32>,
}

/// "How likely is `src -> dst` at time `t`?"
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Query {
    pub src: String,
    pub dst: String,
    pub t: f64,
}

#[derive(Debug, Clone, Copy, Serialize, PartialEq)]
pub struct Scored {
    /// Probability for models; the baseline's own score otherwise (higher = likelier).
    pub score: f64,
    pub cold_src: bool,
    pub cold_dst: bool,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Ranked {
    pub dst: String,
    pub score: f64,
}

/// Options of [`Scorer::top_k`].
#[derive(Debug, Clone, Default)]
pub struct TopK {
    pub k: usize,
    /// Leave out destinations the source already has an event with.
    pub exclude_seen: bool,
    /// Rank only these (external ids); default: every node on the destination side
    /// except the source itself.
    pub candidates: Option<Vec<String>>,
    /// Retrieve then rerank: only the at most `N` candidates [`crate::serve::retrieve`]
    /// finds (history, hops, popular and recently active) go through the target.
    /// Not with `candidates`.
    pub retrieve: Option<usize>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct IngestSummary {
    pub events: usize,
    pub new_nodes: usize,
    /// Sequence number of this batch (1 for the first live batch).
    pub batch: u64,
    pub watermark_time: Option<f64>,
}

/// Pairs per call into the model: large enough to keep the decoder busy, small
/// enough that a top-k over millions of nodes stays in bounded memory.
const CHUNK: usize = 32_768;

/// Shared by many readers: `score` and `top_k` take `&self` (the HTTP server keeps
/// the scorer behind a read-write lock, so reads run in parallel and an `ingest`
/// waits for them). The target sits in its own lock only for the rare scorer that
/// must update state before answering (a windowed common-neighbour view evicting
/// old events): models and the other baselines answer through
/// [`StreamScorer::score_shared`] under the read side.
pub struct Scorer {
    target: RwLock<Box<dyn StreamScorer>>,
    store: Box<dyn TemporalStore>,
    ids: IdMap,
    unknown: Unknown,
    base_events: usize,
    base_nodes: u32,
    /// End (exclusive event id) of each live batch: the events themselves are the
    /// store's, and a snapshot or a WAL check rebuilds a batch's external form from
    /// the store and the id map, so a long-running server holds each event once.
    live: Vec<usize>,
    watermark: f64,
    /// Destination counts for retrieval, kept current by every append.
    pop: Popularity,
    /// Candidate rows at one query time (off until [`Scorer::set_topk_cache`]).
    cache: cache::TopKCache,
}

impl Scorer {
    /// Build the live state: `store` and `ids` are the base graph the target was
    /// trained or configured on. With `state` naming a directory written by
    /// [`Scorer::save_state`], its live events are appended again and the saved
    /// scorer state (memory) is restored; otherwise the target replays every event.
    pub fn open(
        target: Box<dyn StreamScorer>,
        store: Box<dyn TemporalStore>,
        mut ids: IdMap,
        unknown: Unknown,
        state: Option<&Path>,
    ) -> Result<Scorer, ServeError> {
        ids.build_index();
        if ids.num_nodes() != store.num_nodes() {
            return Err(ServeError::State {
                path: "id map".into(),
                why: format!("{} ids for a graph of {} nodes", ids.num_nodes(), store.num_nodes()),
            });
        }
        let base_events = store.num_events();
        let base_nodes = store.num_nodes();
        let pop = Popularity::build(store.as_ref(), base_events, POPULAR_KEEP);
        let mut s = Scorer {
            target: RwLock::new(target),
            store,
            ids,
            unknown,
            base_events,
            base_nodes,
            live: Vec::new(),
            watermark: f64::NEG_INFINITY,
            pop,
            cache: cache::TopKCache::new(0),
        };
        s.watermark = s.store.newest_time().unwrap_or(f64::NEG_INFINITY);
        let dir = state.and_then(state::locate);
        let mut restored = None;
        if let Some(dir) = dir {
            let (meta, batches) = state::load(&dir)?;
            if meta.base_events != base_events || meta.base_nodes != base_nodes {
                return Err(ServeError::State {
                    path: dir.display().to_string(),
                    why: format!(
                        "written over a graph of {} events / {} nodes, this one has {} / {}",
                        meta.base_events, meta.base_nodes, base_events, base_nodes
                    ),
                });
            }
            for b in &batches {
                s.append(&b.events)?;
                s.live.push(s.store.num_events());
            }
            drop(batches);
            let nodes = s.store.num_nodes() + 1;
            s.target_mut().ensure_nodes(nodes)?;
            if meta.scorer_state && meta.scorer == s.name() {
                restored = s.target_mut().load_state(&dir.join(state::SCORER))?;
            }
        }
        let nodes = s.store.num_nodes() + 1;
        s.target_mut().ensure_nodes(nodes)?;
        let n = s.store.num_events();
        match restored {
            Some(absorbed) if absorbed == n => {}
            Some(absorbed) => {
                return Err(ServeError::State {
                    path: state.map(|p| p.display().to_string()).unwrap_or_default(),
                    why: format!("the saved scorer state absorbed {absorbed} events, the graph has {n}"),
                });
            }
            None => {
                if !s.live.is_empty() {
                    tracing::warn!(
                        "no saved scorer state: replaying all {n} events in training batches (live batch \
                         boundaries are not reproduced for memory models)"
                    );
                }
                s.target.get_mut().unwrap_or_else(|p| p.into_inner()).start(s.store.as_ref(), n)?;
            }
        }
        Ok(s)
    }

    pub fn name(&self) -> String {
        self.target().name()
    }

    /// Keep candidate rows for `top_k` at one query time in at most `cap_bytes`
    /// (0: off, the default); see [`cache`]. Replaces any entry.
    pub fn set_topk_cache(&mut self, cap_bytes: u64) {
        self.cache = cache::TopKCache::new(cap_bytes);
    }

    pub fn topk_cache_stats(&self) -> CacheStats {
        self.cache.stats()
    }

    // A panic inside the target cannot leave it half-updated in a way a later call
    // could observe differently from an error, so a poisoned lock is simply reused.
    fn target(&self) -> RwLockReadGuard<'_, Box<dyn StreamScorer>> {
        self.target.read().unwrap_or_else(|p| p.into_inner())
    }
    fn target_mut(&mut self) -> &mut Box<dyn StreamScorer> {
        self.target.get_mut().unwrap_or_else(|p| p.into_inner())
    }
    fn target_exclusive(&self) -> RwLockWriteGuard<'_, Box<dyn StreamScorer>> {
        self.target.write().unwrap_or_else(|p| p.into_inner())
    }
    pub fn num_events(&self) -> usize {
        self.store.num_events()
    }
    pub fn num_nodes(&self) -> u32 {
        self.store.num_nodes()
    }
    /// Live batches applied since the base graph (the last one's sequence number).
    pub fn batches(&self) -> u64 {
        self.live.len() as u64
    }
    pub fn base_events(&self) -> usize {
        self.base_events
    }
    /// Time of the newest absorbed event; queries must be strictly later.
    pub fn watermark_time(&self) -> Option<f64> {
        self.watermark.is_finite().then_some(self.watermark)
    }
    pub fn store(&self) -> &dyn TemporalStore {
        self.store.as_ref()
    }
    pub fn ids(&self) -> &IdMap {
        &self.ids
    }
    pub fn unknown(&self) -> Unknown {
        self.unknown
    }

    /// Absorb one batch of new events (time-ordered, none older than the
    /// watermark). All or nothing: every event is checked before anything changes.
    pub fn ingest(&mut self, events: &[LiveEvent]) -> Result<IngestSummary, ServeError> {
        self.check_batch(events)?;
        let start = self.store.num_events();
        let nodes_before = self.store.num_nodes();
        self.append(events)?;
        let (nodes, end) = (self.store.num_nodes() + 1, self.store.num_events());
        let target = self.target.get_mut().unwrap_or_else(|p| p.into_inner());
        target.ensure_nodes(nodes)?;
        target.absorb(self.store.as_ref(), start..end)?;
        let store = self.store.as_ref();
        let endpoints = (start..end).flat_map(|e| {
            let (s, d, _) = store.event(e as EventId);
            [s, d]
        });
        self.cache.after_ingest(endpoints, end, self.watermark);
        let seq = self.live.len() as u64 + 1;
        self.live.push(end);
        Ok(IngestSummary {
            events: events.len(),
            new_nodes: (self.store.num_nodes() - nodes_before) as usize,
            batch: seq,
            watermark_time: self.watermark_time(),
        })
    }

    /// What `ingest` checks before changing anything: `Ok` with the batch number
    /// `ingest` would give `events`, or the error it would return. The server logs
    /// a batch between the two, so only a batch `ingest` will take is logged.
    pub fn check_batch(&self, events: &[LiveEvent]) -> Result<u64, ServeError> {
        if events.is_empty() {
            return Err(ServeError::Invalid { index: 0, field: "events", why: "empty batch".into() });
        }
        self.validate(events)?;
        Ok(self.live.len() as u64 + 1)
    }

    fn validate(&self, events: &[LiveEvent]) -> Result<(), ServeError> {
        let d = self.store.feat_dim();
        let mut prev = self.watermark;
        for (index, e) in events.iter().enumerate() {
            if !e.t.is_finite() {
                return Err(ServeError::Invalid {
                    index,
                    field: "t",
                    why: format!("time {} is not finite", e.t),
                });
            }
            if e.t < self.watermark {
                return Err(ServeError::TooOld { index, t: e.t, watermark: self.watermark });
            }
            if e.t < prev {
                return Err(ServeError::OutOfOrder { index, t: e.t, previous: prev });
            }
            prev = e.t;
            for (field, id) in [("src", &e.src), ("dst", &e.dst)] {
                if id.is_empty() || id.contains(['\n', '\t']) {
                    return Err(ServeError::Invalid { index, field, why: format!("bad node id {id:?}") });
                }
            }
            if e.feat.len() != d {
                return Err(ServeError::Invalid {
                    index,
                    field: "feat",
                    why: format!("{} features, the graph has {d}", e.feat.len()),
                });
            }
            if let Some(x) = e.feat.iter().find(|x| !x.is_finite()) {
                return Err(ServeError::Invalid {
                    index,
                    field: "feat",
                    why: format!("feature {x} is not finite"),
                });
            }
        }
        Ok(())
    }

    /// Intern ids and append to the store (already validated); no absorption.
    fn append(&mut self, events: &[LiveEvent]) -> Result<(), ServeError> {
        for e in events {
            let s = self.intern(Side::Src, &e.src);
            let d = self.intern(Side::Dst, &e.dst);
            self.store.append(s, d, e.t, &e.feat)?;
            self.pop.bump(d);
            self.watermark = self.watermark.max(e.t);
        }
        Ok(())
    }

    fn intern(&mut self, side: Side, id: &str) -> NodeId {
        match self.ids.lookup(side, id) {
            Some(n) => n,
            None => self.ids.push(side, id),
        }
    }

    /// A node id for `id`, or the cold node (`num_nodes()`, never given events) under
    /// `Unknown::Cold`; the flag says it was cold.
    fn resolve(
        &self,
        index: usize,
        field: &'static str,
        side: Side,
        id: &str,
    ) -> Result<(NodeId, bool), ServeError> {
        match self.ids.lookup(side, id) {
            Some(n) => Ok((n, false)),
            None if self.unknown == Unknown::Cold => Ok((self.store.num_nodes(), true)),
            None => Err(ServeError::UnknownNode { index, field, id: id.to_string() }),
        }
    }

    fn check_time(&self, index: usize, t: f64) -> Result<(), ServeError> {
        if !t.is_finite() {
            return Err(ServeError::Invalid { index, field: "t", why: format!("time {t} is not finite") });
        }
        if t <= self.watermark {
            return Err(ServeError::TooOld { index, t, watermark: self.watermark });
        }
        Ok(())
    }

    /// Score dense pairs in chunks through the target: shared (`&self`) when the
    /// target can, else with the target to itself.
    fn score_dense(&self, src: &[NodeId], dst: &[NodeId], t: &[Time]) -> Result<Vec<f64>, ServeError> {
        let n = self.store.num_events();
        let store = self.store.as_ref();
        let mut all = Vec::with_capacity(src.len());
        let mut out = Vec::new();
        let mut exclusive = None;
        for lo in (0..src.len()).step_by(CHUNK) {
            let hi = (lo + CHUNK).min(src.len());
            let (s, d, tt) = (&src[lo..hi], &dst[lo..hi], &t[lo..hi]);
            if exclusive.is_none() && self.target().score_shared(store, s, d, tt, &mut out)? {
                all.extend_from_slice(&out);
                continue;
            }
            let target = exclusive.get_or_insert_with(|| self.target_exclusive());
            target.score(store, n..n, s, d, tt, &mut out)?;
            all.extend_from_slice(&out);
        }
        Ok(all)
    }

    /// Probability (or baseline score) of each query, in input order.
    pub fn score(&self, queries: &[Query]) -> Result<Vec<Scored>, ServeError> {
        let mut src = Vec::with_capacity(queries.len());
        let mut dst = Vec::with_capacity(queries.len());
        let mut t = Vec::with_capacity(queries.len());
        let mut cold = Vec::with_capacity(queries.len());
        for (i, q) in queries.iter().enumerate() {
            self.check_time(i, q.t)?;
            let (s, cs) = self.resolve(i, "src", Side::Src, &q.src)?;
            let (d, cd) = self.resolve(i, "dst", Side::Dst, &q.dst)?;
            src.push(s);
            dst.push(d);
            t.push(q.t);
            cold.push((cs, cd));
        }
        let scores = self.score_dense(&src, &dst, &t)?;
        Ok(scores
            .into_iter()
            .zip(cold)
            .map(|(score, (cold_src, cold_dst))| Scored { score, cold_src, cold_dst })
            .collect())
    }

    /// The `k` likeliest destinations of `src` at time `t`, best first (ties: lower
    /// dense id first), and whether `src` was unknown (scored cold).
    pub fn top_k(&self, src: &str, t: f64, opts: &TopK) -> Result<(Vec<Ranked>, bool), ServeError> {
        self.check_time(0, t)?;
        let (s, cold) = self.resolve(0, "src", Side::Src, src)?;
        let mut cand: Vec<NodeId> = match (&opts.candidates, opts.retrieve) {
            (Some(_), Some(_)) => {
                return Err(ServeError::Invalid {
                    index: 0,
                    field: "retrieve",
                    why:
                        "retrieval picks the candidates itself: give a candidate list or a retrieval budget, \
                          not both"
                            .into(),
                });
            }
            (None, Some(n)) => {
                let cutoff = self.store.num_events() as EventId;
                let r = retrieve(
                    self.store.as_ref(),
                    &self.ids,
                    &self.pop,
                    s,
                    cold,
                    cutoff,
                    n,
                    opts.exclude_seen,
                );
                return self.rank(s, t, r.candidates, opts.k, cold);
            }
            (Some(list), None) => {
                let mut v = Vec::with_capacity(list.len());
                for (i, c) in list.iter().enumerate() {
                    v.push(self.resolve(i, "candidates", Side::Dst, c)?.0);
                }
                v
            }
            (None, None) => {
                (0..self.store.num_nodes()).filter(|&d| d != s && self.ids.is_destination(d)).collect()
            }
        };
        if opts.exclude_seen && !cold {
            let seen: std::collections::HashSet<NodeId> =
                self.store.neighbors(s).iter().map(|(v, _, _)| v).collect();
            cand.retain(|d| !seen.contains(d));
        }
        self.rank(s, t, cand, opts.k, cold)
    }

    /// The `k` best of `cand` for `s` at `t`, best first (ties: lower dense id).
    fn rank(
        &self,
        s: NodeId,
        t: f64,
        cand: Vec<NodeId>,
        k: usize,
        cold: bool,
    ) -> Result<(Vec<Ranked>, bool), ServeError> {
        let cached = self.cache.scores(&**self.target(), self.store.as_ref(), s, t, &cand)?;
        let scores = match cached {
            Some(scores) => scores,
            None => self.score_dense(&vec![s; cand.len()], &cand, &vec![t; cand.len()])?,
        };
        let ranked = best_k(&cand, &scores, k)
            .into_iter()
            .map(|i| Ranked { dst: self.label(cand[i]), score: scores[i] })
            .collect();
        Ok((ranked, cold))
    }

    /// A candidate's external id ("?" for a cold one).
    fn label(&self, d: NodeId) -> String {
        if d < self.store.num_nodes() { self.ids.external(d) } else { "?".into() }
    }

    /// Save the live events and the scorer's state to `dir` (crash-safe swap).
    pub fn save_state(&self, dir: &Path) -> Result<(), ServeError> {
        let meta = LiveMeta {
            format: state::FORMAT.into(),
            scorer: self.name(),
            base_events: self.base_events,
            base_nodes: self.base_nodes,
            batches: self.batches(),
            events: self.store.num_events() - self.base_events,
            watermark_time: self.watermark_time(),
            scorer_state: false,
        };
        let batches = (1..=self.batches()).map(|seq| self.live_batch(seq).expect("seq in range"));
        state::save(dir, &meta, batches, |p| Ok(self.target().save_state(p)?))
    }

    /// Destination counts that retrieval ranks popular nodes by.
    pub fn popularity(&self) -> &Popularity {
        &self.pop
    }

    /// Live batch `seq` (1-based) as it was ingested, external ids; `None` past the
    /// last one.
    pub fn live_batch(&self, seq: u64) -> Option<LiveBatch> {
        let i = (seq as usize).checked_sub(1)?;
        let end = *self.live.get(i)?;
        let start = if i == 0 { self.base_events } else { self.live[i - 1] };
        let events = (start..end)
            .map(|e| {
                let (src, dst, t) = self.store.event(e as EventId);
                LiveEvent {
                    src: self.ids.external(src),
                    dst: self.ids.external(dst),
                    t,
                    feat: self.store.event_feat(e as EventId).to_vec(),
                }
            })
            .collect();
        Some(LiveBatch { seq, events })
    }
}

/// Indices of the `k` best of `cand` by `scores` (one per candidate), best first;
/// ties: lower dense id first. The order of every top-k answer (`top_k` and
/// `bench recall` alike).
pub(crate) fn best_k(cand: &[NodeId], scores: &[f64], k: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..cand.len()).collect();
    let by = |a: &usize, b: &usize| scores[*b].total_cmp(&scores[*a]).then(cand[*a].cmp(&cand[*b]));
    let k = k.min(order.len());
    if k == 0 {
        return Vec::new();
    }
    if k < order.len() {
        order.select_nth_unstable_by(k - 1, by);
        order.truncate(k);
    }
    order.sort_unstable_by(by);
    order
}
