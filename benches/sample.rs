//! Neighbour sampling benchmark: the `linkcast bench sample` loop (replay every
//! event in batches of 600, 1,800 roots per batch: sources, destinations, one
//! random destination each; k = 10) on a small generated graph in memory.
//!
//! Graph: `LINKCAST_BENCH_EVENTS` events (default 200k) over E/10 nodes, Zipf 1.1
//! endpoints. Throughput is first-layer roots per second; variants: strategy
//! (recent, uniform), cursor or binary search, 1 and 2 threads, and 2 layers.
//! Unlike `linkcast bench sample` (which times the sampler calls alone), an
//! iteration here is the whole loop: building each batch's roots included.

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use linkcast::bench::generate::{GenSpec, generate_graph};
use linkcast::bench::sample::{SampleBench, SampleInput, replay};
use linkcast::ingest::IngestOptions;
use linkcast::sample::neighbors::Strategy;
use linkcast::store::MemStore;

fn events() -> u64 {
    std::env::var("LINKCAST_BENCH_EVENTS").ok().and_then(|v| v.parse().ok()).unwrap_or(200_000)
}

fn bench_replay(c: &mut Criterion) {
    let e = events();
    let spec = GenSpec { nodes: (e / 10).max(2) as u32, events: e, seed: 1, ..GenSpec::default() };
    let store = MemStore::from_data(&generate_graph(&spec).expect("generate")).expect("MemStore");
    let mut g = c.benchmark_group("sample/replay");
    g.sample_size(10);
    g.throughput(Throughput::Elements(3 * e));
    let runs = [
        (Strategy::Recent, true, 1, 1),
        (Strategy::Recent, false, 1, 1),
        (Strategy::Recent, true, 2, 1),
        (Strategy::Uniform, true, 1, 1),
        (Strategy::Uniform, true, 2, 1),
        (Strategy::Recent, true, 2, 2),
    ];
    for (strategy, cursor, threads, layers) in runs {
        let b = SampleBench {
            input: SampleInput::Generate(spec.clone()),
            read: IngestOptions::default(),
            batch: 600,
            k: 10,
            layers,
            strategy,
            threads,
            seed: 0,
            cursor,
            repeat: 1,
            max_batches: None,
        };
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().expect("pool");
        let name = format!("{strategy}/{}/{threads}t/{layers}l", if cursor { "cursor" } else { "bsearch" });
        g.bench_function(BenchmarkId::new(name, e), |bench| {
            bench.iter(|| pool.install(|| black_box(replay(&b, &store).expect("replay").valid)));
        });
    }
    g.finish();
}

criterion_group!(benches, bench_replay);
criterion_main!(benches);
