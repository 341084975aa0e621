//! Store benchmarks: building the temporal CSR shards, and the sampler's hot path
//! (`neighbors` + `count_before`) on the in-memory and the memory-mapped store.
//!
//! Graph: a seeded synthetic log of `LINKCAST_BENCH_EVENTS` events (default 1M)
//! over E/10 nodes, endpoints skewed (a few hubs, a long tail), times increasing
//! with ties. Throughput is events per second for builds, queries per second for
//! queries.

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use linkcast::store::{
    EventLog, ExternalIds, GraphData, IdMap, MemStore, MmapStore, TemporalStore, WriteOptions, build_shards,
    write_graph,
};

struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        self.0 >> 11
    }
    fn unit(&mut self) -> f64 {
        self.next() as f64 / (1u64 << 53) as f64
    }
}

fn events() -> usize {
    std::env::var("LINKCAST_BENCH_EVENTS").ok().and_then(|v| v.parse().ok()).unwrap_or(1_000_000)
}

/// Skewed endpoints: node = n * u^3 puts most mass on small ids (hubs).
fn synthetic(e: usize) -> (EventLog, u32) {
    let n = (e / 10).max(2) as u32;
    let mut r = Lcg(42);
    let mut log = EventLog::with_feat_dim(0);
    let mut t = 0.0;
    for _ in 0..e {
        let s = ((r.unit().powi(3) * n as f64) as u32).min(n - 1);
        let d = (r.next() % n as u64) as u32;
        if r.next().is_multiple_of(4) {
            t += 1.0;
        }
        log.push(s, d, t, &[]);
    }
    (log, n)
}

fn bench_build(c: &mut Criterion) {
    let e = events();
    let (log, n) = synthetic(e);
    let mut g = c.benchmark_group("store/build_shards");
    g.sample_size(10);
    g.throughput(Throughput::Elements(e as u64));
    for directed in [false, true] {
        let id = BenchmarkId::new(if directed { "directed" } else { "undirected" }, e);
        g.bench_function(id, |b| {
            b.iter(|| black_box(build_shards(&log.src, &log.dst, &log.t, n, directed, 1 << 16)));
        });
    }
    g.finish();
}

fn queries(store: &dyn TemporalStore, q: &[(u32, f64, u32)]) -> usize {
    let mut total = 0;
    for &(v, t, cut) in q {
        total += store.neighbors(v).count_before(t, cut);
    }
    total
}

fn bench_query(c: &mut Criterion) {
    let e = events();
    let (log, n) = synthetic(e);
    let t_max = *log.t.last().unwrap_or(&0.0);
    let mut r = Lcg(7);
    // Roots drawn like event endpoints (hubs often), at random times, with the
    // batch cutoff just below the query time's events.
    let q: Vec<(u32, f64, u32)> = (0..100_000)
        .map(|_| {
            let v = ((r.unit().powi(3) * n as f64) as u32).min(n - 1);
            let t = r.unit() * t_max;
            let cut = log.t.partition_point(|&x| x < t) as u32;
            (v, t, cut)
        })
        .collect();
    let data = GraphData {
        events: log,
        ids: IdMap::new(ExternalIds::Int(vec![]), None),
        node_features: None,
        directed: false,
        provenance: serde_json::Value::Null,
    };
    let mem = MemStore::from_data(&data).expect("MemStore");
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("g");
    write_graph(&dir, &data, &WriteOptions::default()).expect("write_graph");
    let mapped = MmapStore::open(&dir).expect("open");
    drop(data);

    let mut g = c.benchmark_group("store/neighbors_count_before");
    g.throughput(Throughput::Elements(q.len() as u64));
    g.bench_function(BenchmarkId::new("mem", e), |b| b.iter(|| black_box(queries(&mem, &q))));
    g.bench_function(BenchmarkId::new("mmap", e), |b| b.iter(|| black_box(queries(&mapped, &q))));
    g.finish();
}

criterion_group!(benches, bench_build, bench_query);
criterion_main!(benches);
