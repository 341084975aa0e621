//! Hand-checked examples and round trips of the parts the property tests do not
//! reach: the parallel CSR build with many chunks, ids, node features, empty
//! graphs, and what compaction leaves on disk.

use std::fs;

use super::oracle::{Oracle, check_store};
use crate::store::format::read_meta;
use crate::store::{
    AdjList, EventLog, ExternalIds, GraphData, IdMap, MemStore, MmapStore, NodeFeatures, TemporalStore,
    WriteOptions, build_shards, read_ids, read_node_features, verify, write_graph,
};

#[test]
fn undirected_lists_hold_both_directions_and_self_loops_once() {
    let mut log = EventLog::with_feat_dim(0);
    for (s, d, t) in [(0, 1, 1.0), (1, 1, 2.0), (2, 0, 2.0), (0, 1, 2.0)] {
        log.push(s, d, t, &[]);
    }
    let s = MemStore::from_log(log.clone(), false).unwrap();
    let n0: Vec<_> = s.neighbors(0).iter().collect();
    assert_eq!(n0, [(1, 1.0, 0), (2, 2.0, 2), (1, 2.0, 3)]);
    let n1: Vec<_> = s.neighbors(1).iter().collect();
    assert_eq!(n1, [(0, 1.0, 0), (1, 2.0, 1), (0, 2.0, 3)]);
    // Strictly before 2.0: only the event at 1.0; ids below 3: not event 3.
    assert_eq!(s.neighbors(0).count_before(2.0, u32::MAX), 1);
    assert_eq!(s.neighbors(0).count_before(2.5, 3), 2);
    assert_eq!(s.neighbors(0).count_before(1.0, u32::MAX), 0);
    assert!(s.neighbors(99).is_empty());

    let d = MemStore::from_log(log, true).unwrap();
    let n1: Vec<_> = d.neighbors(1).iter().collect();
    assert_eq!(n1, [(1, 2.0, 1)]);
    assert_eq!(d.neighbors(2).len(), 1);
}

#[test]
fn adj_list_helpers() {
    let nbr = [5, 6, 7, 8];
    let t = [1.0, 1.0, 2.0, 3.0];
    let eid = [0, 4, 9, 12];
    let a = AdjList { nbr: &nbr, t: &t, eid: &eid };
    assert_eq!(a.count_before(2.0, u32::MAX), 2);
    assert_eq!(a.count_before(2.0, 4), 1);
    assert_eq!(a.count_before(f64::NAN, u32::MAX), 0);
    assert_eq!(a.prefix(10).len(), 4);
    assert_eq!(a.slice(1, 3).iter().collect::<Vec<_>>(), [(6, 1.0, 4), (7, 2.0, 9)]);
    assert_eq!(a.slice(3, 1).len(), 0);
    assert_eq!(a.iter().next_back(), Some((8, 3.0, 12)));
}

/// Many chunks (8 threads) on a dense graph with hubs and ties: runs must still
/// come out in event order, and shard boundaries must not matter.
#[test]
fn chunked_parallel_build_keeps_event_order() {
    let mut events = Vec::new();
    let mut x = 12345u64;
    for i in 0..5000u32 {
        x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        let s = ((x >> 33) % 40) as u32;
        let d = if i % 7 == 0 { 0 } else { ((x >> 45) % 40) as u32 };
        events.push((s, d, (i / 16) as f64));
    }
    for directed in [false, true] {
        let o = Oracle::new(events.clone(), 0, directed, 40);
        let log = o.log();
        let pool = rayon::ThreadPoolBuilder::new().num_threads(8).build().unwrap();
        let shards = pool.install(|| build_shards(&log.src, &log.dst, &log.t, 40, directed, 7));
        assert_eq!(shards.len(), 6);
        for v in 0..40u32 {
            let sh = &shards[(v / 7) as usize];
            let i = (v % 7) as usize;
            let (lo, hi) = (sh.offsets[i] as usize, sh.offsets[i + 1] as usize);
            let got: Vec<_> = (lo..hi).map(|k| (sh.nbr[k], sh.t[k], sh.eid[k])).collect();
            assert_eq!(got, o.neighbors(v), "node {v}, directed {directed}");
        }
        let single = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap();
        let again = single.install(|| build_shards(&log.src, &log.dst, &log.t, 40, directed, 7));
        assert_eq!(shards, again, "result must not depend on the thread count");
    }
}

#[test]
fn empty_graph_round_trips_and_grows_by_appends() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("g");
    let data = GraphData {
        events: EventLog::with_feat_dim(1),
        ids: IdMap::new(ExternalIds::Int(vec![]), None),
        node_features: None,
        directed: false,
        provenance: serde_json::Value::Null,
    };
    write_graph(&dir, &data, &WriteOptions::default()).unwrap();
    let mut m = MmapStore::open(&dir).unwrap();
    let mut mem = MemStore::new(1, false);
    let mut o = Oracle::new(vec![], 1, false, 0);
    for s in [&mut m as &mut dyn TemporalStore, &mut mem] {
        check_store(s, &o, "empty");
        assert_eq!(s.append(3, 1, -2.0, &[0.0]).unwrap(), 0);
    }
    o.push(3, 1, -2.0);
    m.compact().unwrap();
    mem.compact().unwrap();
    check_store(&m, &o, "mmap after first append");
    check_store(&mem, &o, "mem after first append");
    check_store(&MmapStore::open(&dir).unwrap(), &o, "reopened");
    assert!(verify(&dir).unwrap().ok);
}

#[test]
fn string_ids_bipartite_and_node_features_round_trip() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("g");
    let mut log = EventLog::with_feat_dim(0);
    log.push(0, 2, 1.0, &[]);
    log.push(1, 3, 2.0, &[]);
    let names = ExternalIds::Str(vec!["alice".into(), "bob".into(), "é-item".into(), "".into()]);
    let nf = NodeFeatures { dim: 2, values: vec![0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0] };
    let data = GraphData {
        events: log,
        ids: IdMap::new(names, Some(2)),
        node_features: Some(nf.clone()),
        directed: true,
        provenance: serde_json::json!({"files": ["x.csv"], "rows": 2}),
    };
    write_graph(&dir, &data, &WriteOptions::default()).unwrap();
    assert_eq!(read_ids(&dir).unwrap(), data.ids);
    assert_eq!(read_node_features(&dir).unwrap(), Some(nf));
    let meta = read_meta(&dir).unwrap();
    assert!(meta.bipartite && meta.directed);
    assert_eq!(meta.n_src, Some(2));
    assert_eq!(meta.provenance["rows"], 2);

    let mut m = MmapStore::open(&dir).unwrap();
    let mem = MemStore::from_data(&data).unwrap();
    for s in [&m as &dyn TemporalStore, &mem] {
        assert_eq!(s.node_feat_dim(), 2);
        assert_eq!(s.node_feat(3), Some(&[6.0, 7.0][..]));
        assert_eq!(s.node_feat(4), None);
    }
    // A new node from an append has no feature row, before and after compaction.
    m.append(4, 0, 3.0, &[]).unwrap();
    m.compact().unwrap();
    assert_eq!(m.num_nodes(), 5);
    assert_eq!(m.node_feat(4), None);
    assert_eq!(m.node_feat(1), Some(&[2.0, 3.0][..]));
    assert_eq!(read_ids(&dir).unwrap(), data.ids);
}

#[test]
fn mmap_compaction_rewrites_only_touched_shards() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("g");
    let events = vec![(0, 1, 1.0), (2, 3, 1.0), (4, 5, 2.0), (6, 7, 3.0)];
    let mut o = Oracle::new(events, 1, false, 8);
    write_graph(&dir, &o.data(), &WriteOptions { shard_nodes: 2, replace: false }).unwrap();
    let mut m = MmapStore::open(&dir).unwrap();
    let before = read_meta(&dir).unwrap();
    // Touch shard 1 only, plus a new node 9 (a new shard 4).
    for (s, d, t) in [(2, 3, 3.0), (3, 9, 4.0)] {
        m.append(s, d, t, &super::oracle::feat_of(o.events.len(), 1)).unwrap();
        o.push(s, d, t);
    }
    m.compact().unwrap();
    let after = read_meta(&dir).unwrap();
    assert_eq!(after.generation, 1);
    assert_eq!(after.num_shards, 5);
    assert_eq!(after.num_nodes, 10);
    let file = |m: &crate::store::Meta, n: &str| m.array(n).unwrap().file.clone();
    assert_eq!(file(&after, "shards/00000/nbr"), file(&before, "shards/00000/nbr"));
    assert_eq!(file(&after, "shards/00001/nbr"), "shards/00001/nbr.g1.u32");
    assert_eq!(file(&after, "shards/00004/eid"), "shards/00004/eid.g1.u32");
    assert!(!dir.join(file(&before, "shards/00001/nbr")).exists(), "replaced files are removed");
    check_store(&m, &o, "compacted");
    check_store(&MmapStore::open(&dir).unwrap(), &o, "reopened");
    let report = verify(&dir).unwrap();
    assert!(report.ok && report.unreferenced.is_empty(), "{report:?}");
    // Second round: generation 2 names, generation-1 files cleaned up.
    m.append(9, 9, 5.0, &[0.5]).unwrap();
    o.push(9, 9, 5.0);
    o.feats.last_mut().unwrap()[0] = 0.5;
    m.compact().unwrap();
    check_store(&MmapStore::open(&dir).unwrap(), &o, "reopened twice");
    assert_eq!(fs::read_dir(dir.join("shards/00004")).unwrap().count(), 4);
}

/// Scale check, run by hand in release:
/// `LINKCAST_SCALE_EVENTS=10000000 cargo test --release --no-default-features --lib scale -- --ignored --nocapture`
/// (set `LINKCAST_SCALE_DIR` to keep the graph). Prints build, write, open and
/// verify times and peak memory.
#[test]
#[ignore]
fn scale_build_write_open_verify() {
    use std::time::Instant;
    let e: usize =
        std::env::var("LINKCAST_SCALE_EVENTS").ok().and_then(|v| v.parse().ok()).unwrap_or(10_000_000);
    let n = (e / 10).max(2) as u32;
    let mut x = 42u64;
    let mut log = EventLog::with_feat_dim(0);
    log.src.reserve(e);
    log.dst.reserve(e);
    log.t.reserve(e);
    let mut t = 0.0;
    for _ in 0..e {
        x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        let u = (x >> 11) as f64 / (1u64 << 53) as f64;
        let s = ((u * u * u * n as f64) as u32).min(n - 1);
        let d = ((x >> 7) % n as u64) as u32;
        if x.is_multiple_of(4) {
            t += 1.0;
        }
        log.push(s, d, t, &[]);
    }
    let data = GraphData {
        events: log,
        ids: IdMap::new(ExternalIds::Int(vec![]), None),
        node_features: None,
        directed: false,
        provenance: serde_json::Value::Null,
    };
    let rss0 = crate::util::mem::peak_rss_bytes().unwrap_or(0);
    let tmp = tempfile::tempdir().unwrap();
    let dir =
        std::env::var("LINKCAST_SCALE_DIR").map(std::path::PathBuf::from).unwrap_or(tmp.path().join("g"));
    let rep = write_graph(&dir, &data, &WriteOptions { shard_nodes: 1 << 16, replace: true }).unwrap();
    let rss1 = crate::util::mem::peak_rss_bytes().unwrap_or(0);
    drop(data);
    let t0 = Instant::now();
    let m = MmapStore::open(&dir).unwrap();
    let open_s = t0.elapsed().as_secs_f64();
    let t1 = Instant::now();
    let deg: usize = (0..n).map(|v| m.neighbors(v).count_before(f64::INFINITY, u32::MAX)).sum();
    let scan_s = t1.elapsed().as_secs_f64();
    let t2 = Instant::now();
    let report = verify(&dir).unwrap();
    let verify_s = t2.elapsed().as_secs_f64();
    assert!(report.ok);
    println!(
        "events {e} nodes {n}: build {:.2}s ({:.1} M events/s), write {:.2}s, bytes {} ({:.1} B/event), \
         peak RSS before write {} MiB, after {} MiB; open {open_s:.3}s; full scan {scan_s:.2}s ({deg} entries); \
         verify {verify_s:.2}s",
        rep.build_seconds,
        e as f64 / rep.build_seconds / 1e6,
        rep.write_seconds,
        rep.bytes_on_disk,
        rep.bytes_on_disk as f64 / e as f64,
        rss0 >> 20,
        rss1 >> 20,
    );
}

#[test]
fn fractional_times_round_trip_exactly() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("g");
    let events: Vec<_> =
        (0..50u32).map(|i| (i % 5, (i * 3) % 7, 1289241911.72836 + (i / 3) as f64 * 0.1 + 1e-7)).collect();
    let o = Oracle::new(events, 0, false, 7);
    write_graph(&dir, &o.data(), &WriteOptions::default()).unwrap();
    let m = MmapStore::open(&dir).unwrap();
    check_store(&m, &o, "fractional times");
}

#[test]
fn two_writers_cannot_compact_one_graph_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("g");
    let o = Oracle::new(vec![(0, 1, 1.0), (2, 3, 2.0)], 0, false, 4);
    write_graph(&dir, &o.data(), &WriteOptions::default()).unwrap();
    let mut a = MmapStore::open(&dir).unwrap();
    let mut b = MmapStore::open(&dir).unwrap();
    a.append(1, 2, 3.0, &[]).unwrap();
    b.append(3, 0, 3.0, &[]).unwrap();
    // A compaction in progress (its lock held): the second is refused at once.
    let held = crate::util::lock::Lock::exclusive(&dir.join("compact.lock"), "g", "a test").unwrap();
    let e = b.compact().unwrap_err().to_string();
    assert!(e.contains("in use by another writer") && e.contains("a test"), "{e}");
    drop(held);
    // One after the other: the second store's view is stale, so it is refused
    // rather than overwriting the first one's events.
    a.compact().unwrap();
    let e = b.compact().unwrap_err().to_string();
    assert!(e.contains("changed on disk") && e.contains("generation 0, now 1"), "{e}");
    assert_eq!(MmapStore::open(&dir).unwrap().num_events(), 3, "the first writer's event is kept");
    // Readers take no lock; verify does not count the lock file as left over.
    let report = verify(&dir).unwrap();
    assert!(report.ok && report.unreferenced.is_empty(), "{report:?}");
}
