//! The serving benchmark behind `linkcast bench serve`: from the library, one pair
//! at a time (latency p50/p99), large batches (pairs/s), top-k over every candidate
//! (ms per query, also retrieve-then-rerank), many sources at one time (queries/s)
//! and live ingest (events/s), on a live [`Scorer`]; with `topk_cache_mb`, also
//! top-k through the cache (`crate::serve::scorer::cache`): the query that fills it,
//! warm queries at the same time, and the first query after the ingest.
//!
//! Queries are seeded uniform random pairs of known nodes at a time just after the
//! watermark; ingested events are seeded random pairs of known nodes at increasing
//! times after it, in batches of `ingest_batch`. Ingest runs last (it moves the
//! watermark); nothing is saved.

use std::time::Instant;

use rand::{Rng, SeedableRng};
use serde::Serialize;

use crate::serve::scorer::CacheStats;
use crate::serve::{LiveEvent, Query, Ranked, Scorer, ServeError, SourceQuery, TopK};

#[derive(Debug, Clone, Serialize)]
pub struct ServeBench {
    /// Single-pair `score` calls timed one by one.
    pub single: usize,
    /// Pairs per batch `score` call, and how many such calls.
    pub batch: usize,
    pub batch_calls: usize,
    /// `top_k` calls over every candidate, and `k`.
    pub topk_queries: usize,
    pub k: usize,
    /// Also time `top_k` in retrieve-then-rerank mode with this budget.
    pub retrieve: Option<usize>,
    /// Also time one `top_k_many` call for this many sources at one time (0: skip).
    pub many_sources: usize,
    /// Events ingested, in batches of `ingest_batch`.
    pub ingest_events: usize,
    pub ingest_batch: usize,
    pub seed: u64,
    /// Also time top-k through a cache of this many MiB (0: skip; the cache stays
    /// off for every other measurement, and on through the ingest).
    pub topk_cache_mb: u64,
}

impl Default for ServeBench {
    fn default() -> Self {
        ServeBench {
            single: 1000,
            batch: 10_000,
            batch_calls: 5,
            topk_queries: 5,
            k: 10,
            retrieve: None,
            many_sources: 0,
            ingest_events: 20_000,
            ingest_batch: 200,
            seed: 0,
            topk_cache_mb: 0,
        }
    }
}

/// Latency summary in milliseconds.
#[derive(Debug, Clone, Serialize)]
pub struct Latency {
    pub n: usize,
    pub mean_ms: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

impl Latency {
    pub fn of(mut ms: Vec<f64>) -> Latency {
        ms.sort_by(f64::total_cmp);
        let n = ms.len();
        let at =
            |q: f64| if n == 0 { f64::NAN } else { ms[((q * n as f64).ceil() as usize).clamp(1, n) - 1] };
        Latency {
            n,
            mean_ms: ms.iter().sum::<f64>() / n.max(1) as f64,
            p50_ms: at(0.5),
            p99_ms: at(0.99),
            max_ms: ms.last().copied().unwrap_or(f64::NAN),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct ServeReport {
    pub target: String,
    pub nodes: u32,
    pub events: usize,
    pub candidates_per_topk: usize,
    pub single_pair: Latency,
    pub batch_pairs_per_s: f64,
    pub topk: Latency,
    /// The same sources' top-k with `retrieve`.
    pub topk_retrieve: Option<Latency>,
    /// One `top_k_many` call over `many_sources` random sources at one time.
    pub many_sources: Option<ManyReport>,
    /// Top-k through the cache (with `topk_cache_mb`).
    pub topk_cache: Option<CacheReport>,
    pub ingest_events_per_s: f64,
    pub ingest_batch: Latency,
    /// Growth of the allocator's bytes in use over the ingest (store tail, adjacency,
    /// memory of new nodes, popularity counts), per event: the per-event cost a
    /// long-running server's memory should grow by. `None` off glibc.
    pub ingest_heap_bytes_per_event: Option<f64>,
    pub params: ServeBench,
}

/// Throughput of the many-sources mode.
#[derive(Debug, Clone, Serialize)]
pub struct ManyReport {
    pub sources: usize,
    pub seconds: f64,
    pub queries_per_s: f64,
}

/// Top-k through the cache at a time after every ingested event: `fill` is the
/// first query (it computes every candidate's row), `warm` the next
/// `topk_queries` (other sources, same time), `after_ingest` the same sources'
/// queries once the ingest has invalidated the rows its events touched (the
/// first recomputes them). `stats_*`: what the cache held and did.
#[derive(Debug, Clone, Serialize)]
pub struct CacheReport {
    pub fill: Latency,
    pub warm: Latency,
    pub after_ingest: Latency,
    pub stats_before_ingest: CacheStats,
    pub stats_end: CacheStats,
    /// `many_sources` random sources in one `top_k_many` call at the cached time,
    /// after the warm queries (the rows are there).
    pub many_sources: Option<ManyReport>,
    /// Largest absolute difference between a warm query's top-k scores and the
    /// same source's uncached top-k (same candidates, order checked to ties).
    pub max_abs_diff_vs_uncached: f64,
}

fn ms(since: Instant) -> f64 {
    since.elapsed().as_secs_f64() * 1e3
}

pub fn run_serve_bench(s: &mut Scorer, cfg: &ServeBench) -> Result<ServeReport, ServeError> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(cfg.seed);
    let n = s.num_nodes();
    if n == 0 {
        return Err(ServeError::Invalid { index: 0, field: "graph", why: "no nodes".into() });
    }
    let t0 = s.watermark_time().unwrap_or(0.0);
    let t = t0 + (t0.abs() * 1e-9).max(1.0);
    let ids = s.ids().clone();
    // Bipartite graphs: sources from the source side, destinations from the other.
    let dsts: Vec<u32> = (0..n).filter(|&d| ids.is_destination(d)).collect();
    let srcs: Vec<u32> =
        if ids.is_bipartite() { (0..n).filter(|&d| !ids.is_destination(d)).collect() } else { dsts.clone() };
    if srcs.is_empty() || dsts.is_empty() {
        return Err(ServeError::Invalid {
            index: 0,
            field: "graph",
            why: "no source or destination nodes".into(),
        });
    }
    let pair = |rng: &mut rand_chacha::ChaCha8Rng| {
        let a = srcs[rng.random_range(0..srcs.len())];
        let b = dsts[rng.random_range(0..dsts.len())];
        (ids.external(a), ids.external(b))
    };
    // Warm-up: first calls allocate libtorch's buffers.
    let (a, b) = pair(&mut rng);
    s.score(&[Query { src: a, dst: b, t }])?;

    let mut single = Vec::with_capacity(cfg.single);
    for _ in 0..cfg.single {
        let (a, b) = pair(&mut rng);
        let q = [Query { src: a, dst: b, t }];
        let start = Instant::now();
        s.score(&q)?;
        single.push(ms(start));
    }

    let mut pairs = 0usize;
    let mut secs = 0.0;
    for _ in 0..cfg.batch_calls {
        let q: Vec<Query> = (0..cfg.batch)
            .map(|_| {
                let (a, b) = pair(&mut rng);
                Query { src: a, dst: b, t }
            })
            .collect();
        let start = Instant::now();
        pairs += s.score(&q)?.len();
        secs += start.elapsed().as_secs_f64();
    }

    let mut topk = Vec::with_capacity(cfg.topk_queries);
    let mut topk_retrieve = Vec::with_capacity(cfg.topk_queries);
    let opts = TopK { k: cfg.k, exclude_seen: false, candidates: None, retrieve: None };
    let fast = TopK { retrieve: cfg.retrieve, ..opts.clone() };
    for _ in 0..cfg.topk_queries {
        let (a, _) = pair(&mut rng);
        let start = Instant::now();
        s.top_k(&a, t, &opts)?;
        topk.push(ms(start));
        if cfg.retrieve.is_some() {
            let start = Instant::now();
            s.top_k(&a, t, &fast)?;
            topk_retrieve.push(ms(start));
        }
    }
    let candidates_per_topk = dsts.len() - usize::from(!ids.is_bipartite());
    let many_sources = if cfg.many_sources > 0 {
        let qs: Vec<SourceQuery> =
            (0..cfg.many_sources).map(|_| SourceQuery { src: pair(&mut rng).0, t }).collect();
        let start = Instant::now();
        s.top_k_many(&qs, &opts)?;
        let seconds = start.elapsed().as_secs_f64();
        Some(ManyReport { sources: qs.len(), seconds, queries_per_s: qs.len() as f64 / seconds.max(1e-12) })
    } else {
        None
    };

    let step = 1.0f64.max(t0.abs() * 1e-12);
    // The cached queries ask at a time after every event the ingest will add.
    let tc = t + step * (cfg.ingest_events as f64 + 2.0);
    let mut cached: Option<(Vec<f64>, Vec<f64>, CacheStats, f64, Option<ManyReport>)> = None;
    let cache_srcs: Vec<String> = (0..cfg.topk_queries).map(|_| pair(&mut rng).0).collect();
    if cfg.topk_cache_mb > 0 {
        // The same queries without the cache first, for the difference (the cache
        // is off until here).
        let uncached: Vec<Vec<Ranked>> =
            cache_srcs.iter().map(|a| s.top_k(a, tc, &opts).map(|r| r.0)).collect::<Result<_, _>>()?;
        s.set_topk_cache(cfg.topk_cache_mb << 20);
        let (first, _) = pair(&mut rng);
        let start = Instant::now();
        s.top_k(&first, tc, &opts)?;
        let fill = vec![ms(start)];
        let mut warm = Vec::with_capacity(cache_srcs.len());
        let mut answers = Vec::with_capacity(cache_srcs.len());
        for a in &cache_srcs {
            let start = Instant::now();
            answers.push(s.top_k(a, tc, &opts)?.0);
            warm.push(ms(start));
        }
        let many = if cfg.many_sources > 0 {
            let qs: Vec<SourceQuery> =
                (0..cfg.many_sources).map(|_| SourceQuery { src: pair(&mut rng).0, t: tc }).collect();
            let start = Instant::now();
            s.top_k_many(&qs, &opts)?;
            let seconds = start.elapsed().as_secs_f64();
            Some(ManyReport {
                sources: qs.len(),
                seconds,
                queries_per_s: qs.len() as f64 / seconds.max(1e-12),
            })
        } else {
            None
        };
        let stats = s.topk_cache_stats();
        let diff = answers.iter().zip(&uncached).map(|(a, b)| max_diff(a, b)).fold(0f64, f64::max);
        cached = Some((fill, warm, stats, diff, many));
    }

    let mut batches = Vec::with_capacity(cfg.ingest_events / cfg.ingest_batch.max(1) + 1);
    let mut done = 0;
    let heap_before = crate::util::mem::heap_in_use_bytes();
    let mut tt = t;
    while done < cfg.ingest_events {
        let m = cfg.ingest_batch.max(1).min(cfg.ingest_events - done);
        let d = s.store().feat_dim();
        let ev: Vec<LiveEvent> = (0..m)
            .map(|_| {
                let (a, b) = pair(&mut rng);
                tt += step;
                LiveEvent { src: a, dst: b, t: tt, feat: vec![0.0; d] }
            })
            .collect();
        let start = Instant::now();
        s.ingest(&ev)?;
        batches.push(ms(start));
        done += m;
    }
    let heap_after = crate::util::mem::heap_in_use_bytes();
    let ingest_secs = batches.iter().sum::<f64>() / 1e3;
    let topk_cache = match cached {
        Some((fill, warm, stats_before_ingest, diff, many_sources)) => {
            let mut after = Vec::with_capacity(cache_srcs.len());
            for a in &cache_srcs {
                let start = Instant::now();
                s.top_k(a, tc, &opts)?;
                after.push(ms(start));
            }
            let stats_end = s.topk_cache_stats();
            s.set_topk_cache(0);
            Some(CacheReport {
                fill: Latency::of(fill),
                warm: Latency::of(warm),
                after_ingest: Latency::of(after),
                stats_before_ingest,
                stats_end,
                many_sources,
                max_abs_diff_vs_uncached: diff,
            })
        }
        None => None,
    };
    let ingest_heap_bytes_per_event =
        heap_before.zip(heap_after).filter(|_| done > 0).map(|(a, b)| (b as f64 - a as f64) / done as f64);
    Ok(ServeReport {
        target: s.name(),
        nodes: n,
        events: s.num_events() - done,
        candidates_per_topk,
        single_pair: Latency::of(single),
        batch_pairs_per_s: pairs as f64 / secs.max(1e-12),
        topk: Latency::of(topk),
        topk_retrieve: cfg.retrieve.map(|_| Latency::of(topk_retrieve)),
        many_sources,
        topk_cache,
        ingest_events_per_s: done as f64 / ingest_secs.max(1e-12),
        ingest_batch: Latency::of(batches),
        ingest_heap_bytes_per_event,
        params: cfg.clone(),
    })
}

/// Largest score difference between two top-k answers of one query, or infinity
/// if they name different destinations beyond what near-ties (1e-6) explain.
fn max_diff(a: &[Ranked], b: &[Ranked]) -> f64 {
    if a.len() != b.len() {
        return f64::INFINITY;
    }
    let mut d = 0f64;
    for (x, y) in a.iter().zip(b) {
        d = d.max((x.score - y.score).abs());
        if x.dst != y.dst && (x.score - y.score).abs() > 1e-6 {
            return f64::INFINITY;
        }
    }
    d
}
