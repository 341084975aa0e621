//! `linkcast bench recall`: how much of the exhaustive top-k retrieve-then-rerank
//! keeps, on replayed test queries, and what each mode costs.
//!
//! The target replays the graph up to the test split, then the test events in
//! batches, as `eval` does. Query `i` is the source of an evenly spaced test event
//! at that event's time, asked before its batch is absorbed (so from events with id
//! `< batch.start`, the time convention of every protocol). Each query is answered
//! twice: exhaustively over every destination (today's `recommend`) and over the
//! candidates [`crate::serve::retrieve`] finds with each budget `N`. Recall@k is
//! the share of the exhaustive top-k that the retrieval top-k holds (ties broken by
//! lower id in both, as `recommend` does). Popularity counts follow the replay.

use std::ops::Range;
use std::time::Instant;

use serde::Serialize;

use crate::eval::protocol::event_times;
use crate::eval::scorer::{EvalError, StreamScorer};
use crate::sample::batch::batch_ranges;
use crate::serve::bench::Latency;
use crate::serve::retrieve::{POPULAR_KEEP, Popularity, retrieve};
use crate::serve::scorer::best_k;
use crate::store::{EventId, IdMap, NodeId, TemporalStore, Time};

#[derive(Debug, Clone, Serialize)]
pub struct RecallBench {
    /// Retrieval budgets `N` to measure.
    pub budgets: Vec<usize>,
    /// Cut-offs `k` of recall@k.
    pub ks: Vec<usize>,
    /// Test queries (evenly spaced over the test events).
    pub queries: usize,
    /// Replay batch size (the model's).
    pub batch: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct BudgetReport {
    pub budget: usize,
    /// `(k, mean recall@k)` in the order of `ks`.
    pub recall: Vec<(usize, f64)>,
    /// Mean candidates retrieved, and from each source.
    pub retrieved: f64,
    pub from_history: f64,
    pub from_hops: f64,
    pub from_popular: f64,
    pub from_active: f64,
    /// One query: retrieval plus scoring the retrieved plus the top-k.
    pub latency: Latency,
}

#[derive(Debug, Clone, Serialize)]
pub struct RecallReport {
    pub target: String,
    pub events: usize,
    pub test_events: usize,
    /// Destinations an exhaustive query ranks (the source itself excluded).
    pub catalogue: usize,
    pub queries: usize,
    /// Exhaustive top-k over the catalogue, per query.
    pub exhaustive: Latency,
    pub budgets: Vec<BudgetReport>,
    pub params: RecallBench,
}

const CHUNK: usize = 32_768;

/// Scores of `src` against every `cand` at `t` from events `< batch.start`.
fn scores(
    target: &mut dyn StreamScorer,
    store: &dyn TemporalStore,
    batch: &Range<usize>,
    src: NodeId,
    t: Time,
    cand: &[NodeId],
) -> Result<Vec<f64>, EvalError> {
    let mut all = Vec::with_capacity(cand.len());
    let mut out = Vec::new();
    for c in cand.chunks(CHUNK) {
        target.score(store, batch.clone(), &vec![src; c.len()], c, &vec![t; c.len()], &mut out)?;
        all.extend_from_slice(&out);
    }
    Ok(all)
}

/// The `k` best candidates (best first; ties: lower id first, as `top_k`).
fn top(cand: &[NodeId], s: &[f64], k: usize) -> Vec<NodeId> {
    best_k(cand, s, k).into_iter().map(|i| cand[i]).collect()
}

/// Run the replay (see the module docs). `test` is the test split's event range.
pub fn run_recall(
    target: &mut dyn StreamScorer,
    store: &dyn TemporalStore,
    ids: &IdMap,
    test: Range<usize>,
    cfg: &RecallBench,
    mut progress: impl FnMut(usize),
) -> Result<RecallReport, EvalError> {
    let batches = batch_ranges(&event_times(store), test.clone(), cfg.batch);
    let q = cfg.queries.min(test.len());
    let picks: Vec<usize> = (0..q).map(|i| test.start + i * test.len() / q.max(1)).collect();
    let kmax = cfg.ks.iter().copied().max().unwrap_or(10);
    let dests: Vec<NodeId> = (0..store.num_nodes()).filter(|&d| ids.is_destination(d)).collect();
    target.start(store, test.start)?;
    let mut pop = Popularity::build(store, test.start, POPULAR_KEEP);
    let mut exhaustive = Vec::with_capacity(q);
    let nb = cfg.budgets.len();
    let mut hits = vec![vec![0.0f64; cfg.ks.len()]; nb];
    let mut lat = vec![Vec::with_capacity(q); nb];
    let mut got = vec![[0usize; 5]; nb];
    let mut next = 0;
    for b in &batches {
        while next < picks.len() && picks[next] < b.end {
            let (src, _, t) = store.event(picks[next] as EventId);
            let cand: Vec<NodeId> = dests.iter().copied().filter(|&d| d != src).collect();
            let started = Instant::now();
            let s = scores(target, store, b, src, t, &cand)?;
            let exact = top(&cand, &s, kmax);
            exhaustive.push(started.elapsed().as_secs_f64() * 1e3);
            for (j, &n) in cfg.budgets.iter().enumerate() {
                let started = Instant::now();
                let r = retrieve(store, ids, &pop, src, false, b.start as EventId, n, false);
                let s = scores(target, store, b, src, t, &r.candidates)?;
                let mine = top(&r.candidates, &s, kmax);
                lat[j].push(started.elapsed().as_secs_f64() * 1e3);
                for (i, &k) in cfg.ks.iter().enumerate() {
                    let k = k.min(exact.len());
                    if k > 0 {
                        let want = &exact[..k];
                        let have = &mine[..k.min(mine.len())];
                        hits[j][i] += have.iter().filter(|v| want.contains(v)).count() as f64 / k as f64;
                    } else {
                        hits[j][i] += 1.0;
                    }
                }
                let g = &mut got[j];
                g[0] += r.candidates.len();
                g[1] += r.history;
                g[2] += r.hops;
                g[3] += r.popular;
                g[4] += r.active;
            }
            next += 1;
            progress(next);
        }
        target.absorb(store, b.clone())?;
        for e in b.clone() {
            pop.bump(store.event(e as EventId).1);
        }
    }
    let per = |x: usize| x as f64 / q.max(1) as f64;
    let budgets = cfg
        .budgets
        .iter()
        .enumerate()
        .map(|(j, &budget)| BudgetReport {
            budget,
            recall: cfg.ks.iter().enumerate().map(|(i, &k)| (k, hits[j][i] / q.max(1) as f64)).collect(),
            retrieved: per(got[j][0]),
            from_history: per(got[j][1]),
            from_hops: per(got[j][2]),
            from_popular: per(got[j][3]),
            from_active: per(got[j][4]),
            latency: Latency::of(std::mem::take(&mut lat[j])),
        })
        .collect();
    Ok(RecallReport {
        target: target.name(),
        events: store.num_events(),
        test_events: test.len(),
        catalogue: dests.len().saturating_sub(usize::from(!ids.is_bipartite())),
        queries: q,
        exhaustive: Latency::of(exhaustive),
        budgets,
        params: cfg.clone(),
    })
}

// The replay test reads the bundled CollegeMsg through the training helpers.
#[cfg(all(test, feature = "torch"))]
mod tests {
    use super::*;
    use crate::eval::baselines::{BaselineConfig, BaselineName, make_baseline};
    use crate::store::ExternalIds;

    #[test]
    fn recency_top_1_is_recalled_from_history_whenever_there_is_one() {
        // Undirected recency ranks the source's most recent partner first; a budget
        // of one retrieves exactly that partner. So recall@1 with N = 1 is at least
        // the share of queries whose source has a partner before its batch (without
        // one, every candidate ties and the exhaustive top-1 is the lowest id).
        let store = crate::train::tests::store_of(1500, &[]);
        let mut ids = IdMap::new(ExternalIds::Int((0..store.num_nodes() as i64).collect()), None);
        ids.build_index();
        let name: BaselineName = "recency-undirected".parse().unwrap();
        let mut target = make_baseline(&BaselineConfig::named(name)).unwrap();
        let (test, batch) = (1200..1500, 50);
        let cfg = RecallBench { budgets: vec![1, 5000], ks: vec![1, 10], queries: 30, batch };
        let r = run_recall(target.as_mut(), &store, &ids, test.clone(), &cfg, |_| {}).unwrap();
        assert_eq!((r.queries, r.budgets.len()), (30, 2));
        let times: Vec<Time> = (0..1500).map(|e| store.event(e).2).collect();
        let batches = batch_ranges(&times, test.clone(), batch);
        let with_history = (0..30)
            .map(|i| test.start + i * test.len() / 30)
            .filter(|&e| {
                let start = batches.iter().find(|b| b.contains(&e)).unwrap().start as EventId;
                let src = store.event(e as EventId).0;
                store.neighbors(src).iter().any(|(_, _, id)| id < start)
            })
            .count() as f64
            / 30.0;
        assert!(with_history > 0.7, "{with_history}");
        let (k, at1) = r.budgets[0].recall[0];
        assert_eq!(k, 1);
        assert!(at1 >= with_history - 1e-9, "recall@1 {at1}, sources with history {with_history}: {r:?}");
        assert!(r.budgets[0].retrieved <= 1.0 && r.budgets[0].from_history <= 1.0);
        // A larger budget holds the one-candidate list, so it recalls at least as much.
        assert!(r.budgets[1].recall[0].1 >= at1 - 1e-9);
        assert!(r.budgets[1].retrieved > r.budgets[0].retrieved);
    }
}
