//! Ingest benchmarks: parsing a generated CSV (`ingest_files`: read, split
//! fields, map ids, sort by time) and building the adjacency shards from the
//! parsed events (`build_shards`, the CPU part of `write_graph`).
//!
//! Input: `linkcast generate` output with `LINKCAST_BENCH_EVENTS` events (default
//! 1M) over E/10 nodes, Zipf 1.1 endpoints, bursty times, written once to a
//! temporary file (page-cached after the first read). Throughput is events per
//! second.

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use linkcast::bench::generate::{GenSpec, OutFormat, write_to_path};
use linkcast::ingest::{IngestOptions, ingest_files};
use linkcast::store::build_shards;

fn events() -> u64 {
    std::env::var("LINKCAST_BENCH_EVENTS").ok().and_then(|v| v.parse().ok()).unwrap_or(1_000_000)
}

fn spec(events: u64, features: usize) -> GenSpec {
    GenSpec { nodes: (events / 10).max(2) as u32, events, seed: 1, zipf: 1.1, features, bursty: true }
}

fn bench_ingest(c: &mut Criterion) {
    let e = events();
    let dir = tempfile::tempdir().expect("temporary directory");
    let mut g = c.benchmark_group("ingest/parse_csv");
    g.sample_size(10);
    g.throughput(Throughput::Elements(e));
    for features in [0usize, 4] {
        let path = dir.path().join(format!("gen-{features}.csv"));
        write_to_path(&spec(e, features), OutFormat::Csv, &path).expect("generate");
        let mut opts = IngestOptions::default();
        if features > 0 {
            opts.features = Some(format!("f0..f{}", features - 1).parse().expect("feature spec"));
        }
        let files = [path];
        g.bench_function(BenchmarkId::new(format!("features={features}"), e), |b| {
            b.iter(|| black_box(ingest_files(&files, &opts).expect("ingest").data.events.len()));
        });
    }
    g.finish();

    // Shard building from the parsed log of the featureless file.
    let files = [dir.path().join("gen-0.csv")];
    let data = ingest_files(&files, &IngestOptions::default()).expect("ingest").data;
    let ev = &data.events;
    let n = ev.max_node_plus_one();
    let mut g = c.benchmark_group("ingest/build_shards");
    g.sample_size(10);
    g.throughput(Throughput::Elements(ev.len() as u64));
    for directed in [false, true] {
        let id = BenchmarkId::new(if directed { "directed" } else { "undirected" }, ev.len());
        g.bench_function(id, |b| {
            b.iter(|| black_box(build_shards(&ev.src, &ev.dst, &ev.t, n, directed, 1 << 16)))
        });
    }
    g.finish();
}

criterion_group!(benches, bench_ingest);
criterion_main!(benches);
