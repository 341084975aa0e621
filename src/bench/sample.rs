//! `linkcast bench sample`: temporal neighbour sampling throughput, as one JSON object.
//!
//! Workload (issue 3, the TGL comparison): replay every event in time order, in
//! batches of `batch` events (600); each batch queries `3 * batch` roots: all
//! sources, then all destinations, then one random destination per event (drawn
//! uniformly from the distinct destination ids, seeded), each at its event's time,
//! with the batch's first event id as the cut-off; `k` neighbours (10) per root
//! and layer. Batches here are fixed-size (they may cut a group of equal
//! timestamps); the cut-off keeps them causal anyway.
//!
//! With `max_batches = Some(B)` (large graphs), only `B` batches are sampled, their
//! starts spread evenly over the log, each root found by binary search (no cursor),
//! and a negative is the destination of a uniformly drawn event (popularity-weighted;
//! no O(events) list of distinct destinations is built).
//!
//! Only the sampler calls are timed (`sample_seconds`): not loading or building the
//! graph (`load_seconds`), not building the roots, not counting valid slots. Rates:
//! `batches_per_s`, `roots_per_s` (first-layer roots), `slots_per_s` (all `R * k`
//! output slots of all layers) and `valid_slots_per_s` (slots holding a neighbour).
//! Peak RSS is the process high-water mark (graph load included).

use std::borrow::Cow;
use std::path::PathBuf;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::bench::generate::{GenError, GenSpec, generate_graph};
use crate::bench::ingest::{Machine, rate};
use crate::ingest::{IngestError, IngestOptions, ingest_files};
use crate::sample::neighbors::{NeighborSampler, SampleError, Sampled, SamplerConfig, SplitMix64, Strategy};
use crate::store::{EventId, MemStore, MmapStore, NodeId, StoreError, TemporalStore, Time};
use crate::util::mem::{peak_rss_bytes, rss_bytes};

#[derive(Debug, thiserror::Error)]
pub enum SampleBenchError {
    #[error("generating the graph")]
    Generate(#[from] GenError),
    #[error("ingesting {file}")]
    Ingest {
        file: String,
        #[source]
        source: Box<IngestError>,
    },
    #[error("loading the graph")]
    Store(#[from] StoreError),
    #[error("sampling")]
    Sample(#[from] SampleError),
    #[error("building a {threads}-thread pool")]
    Pool {
        threads: usize,
        #[source]
        source: rayon::ThreadPoolBuildError,
    },
    #[error("invalid benchmark setting: {0}")]
    Invalid(String),
}

/// Where the graph comes from.
#[derive(Debug, Clone)]
pub enum SampleInput {
    /// A graph directory (memory-mapped) or an edge-list file (ingested into memory).
    Path(PathBuf),
    /// A generated graph, built in memory.
    Generate(GenSpec),
}

#[derive(Debug, Clone)]
pub struct SampleBench {
    pub input: SampleInput,
    /// How to read an edge-list file.
    pub read: IngestOptions,
    pub batch: usize,
    pub k: usize,
    pub layers: usize,
    pub strategy: Strategy,
    pub threads: usize,
    pub seed: u64,
    pub cursor: bool,
    /// Replay the events this many times (the cursor restarts each time).
    pub repeat: usize,
    /// Sample only this many batches, spread evenly over the log (see module docs).
    pub max_batches: Option<u64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SampleParams {
    pub graph: String,
    /// `mmap` (graph directory) or `mem` (ingested or generated).
    pub store: String,
    pub generated: Option<GenSpec>,
    pub events: u64,
    pub nodes: u32,
    pub directed: bool,
    pub batch: usize,
    pub roots_per_batch: usize,
    pub k: usize,
    pub layers: usize,
    pub strategy: Strategy,
    pub threads: usize,
    pub seed: u64,
    pub cursor: bool,
    pub repeat: usize,
    pub max_batches: Option<u64>,
    pub linkcast_version: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SampleBenchReport {
    pub bench: String,
    pub params: SampleParams,
    pub batches: u64,
    pub roots: u64,
    pub slots: u64,
    pub valid_slots: u64,
    pub load_seconds: f64,
    pub sample_seconds: f64,
    pub batches_per_s: f64,
    pub roots_per_s: f64,
    pub slots_per_s: f64,
    pub valid_slots_per_s: f64,
    /// Mean valid neighbours per first-layer root.
    pub valid_per_root: f64,
    pub peak_rss_bytes: Option<u64>,
    pub start_rss_bytes: Option<u64>,
    pub machine: Machine,
}

/// Run the benchmark (see the module docs).
pub fn run_sample_bench(b: &SampleBench) -> Result<SampleBenchReport, SampleBenchError> {
    if b.batch == 0 || b.k == 0 || b.layers == 0 || b.threads == 0 || b.repeat == 0 {
        return Err(SampleBenchError::Invalid(
            "batch, k, layers, threads and repeat must be at least 1".into(),
        ));
    }
    let start_rss_bytes = rss_bytes();
    let t0 = Instant::now();
    match &b.input {
        SampleInput::Path(p) if p.join("meta.json").is_file() => {
            let store = MmapStore::open(p)?;
            let load = t0.elapsed().as_secs_f64();
            report(b, &store, p.display().to_string(), "mmap", None, load, start_rss_bytes)
        }
        SampleInput::Path(p) => {
            let ingested = ingest_files(std::slice::from_ref(p), &b.read).map_err(|source| {
                SampleBenchError::Ingest { file: p.display().to_string(), source: Box::new(source) }
            })?;
            let store = MemStore::from_data(&ingested.data)?;
            drop(ingested);
            let load = t0.elapsed().as_secs_f64();
            report(b, &store, p.display().to_string(), "mem", None, load, start_rss_bytes)
        }
        SampleInput::Generate(spec) => {
            let data = generate_graph(spec)?;
            let store = MemStore::from_data(&data)?;
            drop(data);
            let load = t0.elapsed().as_secs_f64();
            report(b, &store, "(generated)".into(), "mem", Some(spec.clone()), load, start_rss_bytes)
        }
    }
}

fn report<S: TemporalStore>(
    b: &SampleBench,
    store: &S,
    graph: String,
    kind: &str,
    generated: Option<GenSpec>,
    load_seconds: f64,
    start_rss_bytes: Option<u64>,
) -> Result<SampleBenchReport, SampleBenchError> {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(b.threads)
        .build()
        .map_err(|source| SampleBenchError::Pool { threads: b.threads, source })?;
    let totals = pool.install(|| replay(b, store))?;
    let events = store.num_events() as u64;
    Ok(SampleBenchReport {
        bench: "sample".into(),
        params: SampleParams {
            graph,
            store: kind.into(),
            generated,
            events,
            nodes: store.num_nodes(),
            directed: store.directed(),
            batch: b.batch,
            roots_per_batch: 3 * b.batch,
            k: b.k,
            layers: b.layers,
            strategy: b.strategy,
            threads: b.threads,
            seed: b.seed,
            cursor: b.cursor,
            repeat: b.repeat,
            max_batches: b.max_batches,
            linkcast_version: env!("CARGO_PKG_VERSION").into(),
        },
        batches: totals.batches,
        roots: totals.roots,
        slots: totals.slots,
        valid_slots: totals.valid,
        load_seconds,
        sample_seconds: totals.seconds,
        batches_per_s: rate(totals.batches, totals.seconds),
        roots_per_s: rate(totals.roots, totals.seconds),
        slots_per_s: rate(totals.slots, totals.seconds),
        valid_slots_per_s: rate(totals.valid, totals.seconds),
        valid_per_root: if totals.roots > 0 { totals.valid_first as f64 / totals.roots as f64 } else { 0.0 },
        peak_rss_bytes: peak_rss_bytes(),
        start_rss_bytes,
        machine: Machine::current(),
    })
}

#[derive(Debug, Default, Clone, Copy)]
pub struct ReplayTotals {
    pub batches: u64,
    pub roots: u64,
    pub slots: u64,
    pub valid: u64,
    /// Valid slots of the first layer.
    pub valid_first: u64,
    pub seconds: f64,
}

type Columns<'s> = (Cow<'s, [NodeId]>, Cow<'s, [NodeId]>, Cow<'s, [Time]>);

/// The events as columns: borrowed when the store has one segment (no tail),
/// else the base and the tail joined.
fn event_columns<S: TemporalStore + ?Sized>(store: &S) -> Columns<'_> {
    let segs = store.event_segments();
    if let [seg] = segs[..] {
        return (Cow::Borrowed(seg.src), Cow::Borrowed(seg.dst), Cow::Borrowed(seg.t));
    }
    let (mut src, mut dst, mut t) = (Vec::new(), Vec::new(), Vec::new());
    for seg in segs {
        src.extend_from_slice(seg.src);
        dst.extend_from_slice(seg.dst);
        t.extend_from_slice(seg.t);
    }
    (Cow::Owned(src), Cow::Owned(dst), Cow::Owned(t))
}

/// The timed loop, on the current rayon pool: every batch of the event log,
/// `repeat` times. Public so the criterion bench runs exactly this loop.
pub fn replay<S: TemporalStore + ?Sized>(
    b: &SampleBench,
    store: &S,
) -> Result<ReplayTotals, SampleBenchError> {
    let fanouts = vec![b.k; b.layers];
    let config = SamplerConfig::new(fanouts, b.strategy, b.seed);
    let (src, dst, t) = event_columns(store);
    let e = src.len();
    // Batch starts: every batch in order, or `max_batches` spread over the log.
    let starts: Vec<usize> = match b.max_batches {
        Some(m) if (m as usize) < e.div_ceil(b.batch) => {
            let stride = e as f64 / m as f64;
            (0..m as usize).map(|i| ((i as f64 * stride) as usize).min(e.saturating_sub(1))).collect()
        }
        _ => (0..e).step_by(b.batch).collect(),
    };
    let spread = starts.len() < e.div_ceil(b.batch);
    // Negatives: uniform over the distinct destinations (the item side of a
    // bipartite graph); when spread, the destination of a random event.
    let mut dests = Vec::new();
    if !spread {
        dests = dst.to_vec();
        dests.sort_unstable();
        dests.dedup();
        dests.shrink_to_fit();
    }
    let mut rng = SplitMix64::new(b.seed ^ 0x6e65_6761_7469_7665);
    let negative = |rng: &mut SplitMix64| {
        if spread { dst[rng.below(e as u64) as usize] } else { dests[rng.below(dests.len() as u64) as usize] }
    };
    let mut totals = ReplayTotals::default();
    let (mut roots, mut times) = (Vec::with_capacity(3 * b.batch), Vec::with_capacity(3 * b.batch));
    let mut outs: Vec<Sampled> = Vec::new();
    for _ in 0..b.repeat {
        let mut sampler = NeighborSampler::new(store, config.clone())?;
        if b.cursor && !spread {
            sampler = sampler.with_cursor();
        }
        for &start in &starts {
            let end = (start + b.batch).min(e);
            roots.clear();
            times.clear();
            roots.extend_from_slice(&src[start..end]);
            roots.extend_from_slice(&dst[start..end]);
            roots.extend((start..end).map(|_| negative(&mut rng)));
            for _ in 0..3 {
                times.extend_from_slice(&t[start..end]);
            }
            let cutoff = start as EventId;
            let clock = Instant::now();
            if b.layers == 1 {
                outs.resize_with(1, Sampled::new);
                sampler.sample(&roots, &times, cutoff, &mut outs[0])?;
            } else {
                sampler.sample_layers_into(&roots, &times, cutoff, &mut outs)?;
            }
            totals.seconds += clock.elapsed().as_secs_f64();
            totals.batches += 1;
            totals.roots += roots.len() as u64;
            for (l, o) in outs.iter().enumerate() {
                let v = o.valid() as u64;
                totals.slots += o.nbr.len() as u64;
                totals.valid += v;
                if l == 0 {
                    totals.valid_first += v;
                }
            }
        }
    }
    Ok(totals)
}
