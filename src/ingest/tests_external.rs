//! The out-of-core ingest against the in-memory one: for random small inputs (ties,
//! out-of-order rows, signed zeros, self-loops, string and integer ids, features,
//! directed, bipartite) and tiny budgets forcing many runs, merge passes, windows and
//! shards, both must write the same graph directory byte for byte (meta.json equal
//! apart from provenance) and report the same counts.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use proptest::prelude::*;

use super::*;
use crate::store::{WriteOptions, read_meta, write_graph};

/// Every file under `dir` (relative path -> bytes), meta.json excluded.
fn files(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    fn walk(root: &Path, d: &Path, out: &mut BTreeMap<PathBuf, Vec<u8>>) {
        for e in std::fs::read_dir(d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(root, &p, out);
            } else if p.file_name().unwrap() != "meta.json" {
                out.insert(p.strip_prefix(root).unwrap().to_path_buf(), std::fs::read(&p).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

#[derive(Debug, Clone)]
struct Case {
    rows: Vec<(u8, u8, i8, Vec<i8>)>,
    strings: bool,
    feats: usize,
    directed: bool,
    bipartite: bool,
    shard_nodes: u32,
    run_rows: u64,
    window_bytes: u64,
    fan_in: usize,
    max_open: usize,
    direct_windows: usize,
}

fn case() -> impl Strategy<Value = Case> {
    (0usize..3, any::<bool>())
        .prop_flat_map(|(feats, strings)| {
            (
                proptest::collection::vec(
                    (0u8..12, 0u8..12, -3i8..6, proptest::collection::vec(-5i8..5, feats)),
                    1..60,
                ),
                Just(strings),
                Just(feats),
                any::<bool>(),
                any::<bool>(),
                1u32..6,
                1u64..9,
                0u64..200,
                2usize..5,
                1usize..4,
                prop_oneof![Just(0usize), Just(3), Just(1000)],
            )
        })
        .prop_map(
            |(rows, strings, feats, directed, bipartite, shard_nodes, run_rows, wb, fan_in, max_open, dw)| {
                Case {
                    rows,
                    strings,
                    feats,
                    directed,
                    bipartite,
                    shard_nodes,
                    run_rows,
                    window_bytes: wb,
                    fan_in,
                    max_open,
                    direct_windows: dw,
                }
            },
        )
}

fn csv(c: &Case) -> String {
    let mut s = String::from("src,dst,t");
    for k in 0..c.feats {
        s += &format!(",f{k}");
    }
    s.push('\n');
    for (u, v, t, f) in &c.rows {
        let id = |x: u8| {
            if c.strings && x.is_multiple_of(3) { format!("n{x}") } else { (x as u32 * 7).to_string() }
        };
        // t = 5 stands for a negative zero (a tie with 0 under `<=`, not under total_cmp).
        let t = if *t == 5 { "-0".to_string() } else { format!("{}", *t as f64 * 0.5) };
        s += &format!("{},{},{t}", id(*u), id(*v));
        for x in f {
            s += &format!(",{x}");
        }
        s.push('\n');
    }
    s
}

/// Ingest `c` both ways; return the two report pairs after comparing the directories.
fn compare(c: &Case) -> (IngestReport, IngestReport) {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.csv");
    std::fs::write(&input, csv(c)).unwrap();
    let opts = IngestOptions {
        directed: c.directed,
        bipartite: c.bipartite,
        features: Some(if c.feats == 0 { "none" } else { "3.." }.parse().unwrap()),
        ..IngestOptions::default()
    };
    let wopts = WriteOptions { shard_nodes: c.shard_nodes, replace: false };
    let (a, b) = (dir.path().join("mem"), dir.path().join("ext"));
    let ing = ingest_files(std::slice::from_ref(&input), &opts).unwrap();
    write_graph(&a, &ing.data, &wopts).unwrap();

    let ooc = OutOfCoreOptions {
        mode: ExternalMode::Always,
        run_rows: Some(c.run_rows),
        window_bytes: Some(c.window_bytes),
        fan_in: Some(c.fan_in),
        max_open: Some(c.max_open),
        direct_windows: Some(c.direct_windows),
        ..OutOfCoreOptions::new(1 << 40)
    };
    let (rep, w) = ingest_to_dir(&[input], &opts, &ooc, &b, &wopts, &mut |_| {}).unwrap();
    assert_eq!(rep.memory.as_ref().unwrap().mode, "external");
    assert_eq!(files(&a), files(&b), "array files differ");
    let (mut ma, mut mb) = (read_meta(&a).unwrap(), read_meta(&b).unwrap());
    ma.provenance = serde_json::Value::Null;
    mb.provenance = serde_json::Value::Null;
    assert_eq!(ma, mb);
    assert_eq!(w.shards, ma.num_shards);
    let v = crate::store::verify(&b).unwrap();
    assert!(v.ok && v.unreferenced.is_empty(), "{v:?}");
    let leftovers: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(leftovers.len(), 3, "temporary files left: {leftovers:?}");
    (ing.report, rep)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 160, ..ProptestConfig::default() })]

    #[test]
    fn external_ingest_writes_the_same_graph(c in case()) {
        let (a, b) = compare(&c);
        prop_assert_eq!(a.out_of_order_rows, b.out_of_order_rows);
        prop_assert_eq!(a.time_descents, b.time_descents);
        prop_assert_eq!(&a.time_order, &b.time_order);
        prop_assert_eq!((a.events, a.nodes, a.rows_read), (b.events, b.nodes, b.rows_read));
        prop_assert_eq!(a.time_min.map(f64::to_bits), b.time_min.map(f64::to_bits));
        prop_assert_eq!(a.time_max.map(f64::to_bits), b.time_max.map(f64::to_bits));
        prop_assert_eq!(&a.id_kind, &b.id_kind);
        prop_assert_eq!(&a.feature_names, &b.feature_names);
    }
}

#[test]
fn order_tracking_moves_to_a_mapped_file() {
    // More rows than the in-RAM tails hold, unsorted, so the mapped file is used and grows.
    let n = 3 * (1 << 20) + 17;
    let t: Vec<f64> = (0..n).map(|i| if i % 1000 == 999 { 0.0 } else { i as f64 }).collect();
    let dir = tempfile::tempdir().unwrap();
    let mut o = external::tests_api::order(dir.path());
    o.track(&t).unwrap();
    let mut log = crate::store::EventLog::with_feat_dim(0);
    for &x in &t {
        log.push(0, 0, x, &[]);
    }
    assert_eq!(o.descents, (n / 1000) as u64);
    assert_eq!(n as u64 - o.longest(), log.stable_sort_by_time());
}

#[test]
fn auto_mode_stays_in_memory_when_it_fits_and_spills_when_not() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.csv");
    let mut s = String::from("src,dst,t\n");
    for i in 0..5000u32 {
        s += &format!("{},{},{}\n", i % 97, (i * 31) % 89, 5000 - i);
    }
    std::fs::write(&input, s).unwrap();
    let opts = IngestOptions::default();
    let wopts = WriteOptions { shard_nodes: 16, replace: false };
    let ooc = OutOfCoreOptions::new(1 << 40);
    let (r, _) =
        ingest_to_dir(std::slice::from_ref(&input), &opts, &ooc, &dir.path().join("a"), &wopts, &mut |_| {})
            .unwrap();
    let m = r.memory.unwrap();
    assert_eq!(m.mode, "in-memory");
    assert!(m.peak_rss_anon > 0 && m.disk.total > 0);
    // Auto mode with 1000-row runs: spills, and still equals the in-memory output.
    let ooc = OutOfCoreOptions { run_rows: Some(1000), ..OutOfCoreOptions::new(1 << 40) };
    let (r2, _) = ingest_to_dir(&[input], &opts, &ooc, &dir.path().join("b"), &wopts, &mut |_| {}).unwrap();
    let m2 = r2.memory.unwrap();
    assert_eq!((m2.mode.as_str(), m2.runs), ("external", 5));
    assert_eq!(files(&dir.path().join("a")), files(&dir.path().join("b")));
    assert_eq!(r.out_of_order_rows, r2.out_of_order_rows);
    assert_eq!(m.disk.log, m2.disk.log);
    assert_eq!(m.disk.adjacency, m2.disk.adjacency);
}

#[test]
fn external_errors_leave_nothing_behind() {
    let dir = tempfile::tempdir().unwrap();
    let scratch = dir.path().join("scratch");
    std::fs::create_dir(&scratch).unwrap();
    let input = dir.path().join("in.csv");
    let mut s = String::from("src,dst,t\n");
    for i in 0..100 {
        s += &format!("{i},{},{i}\n", i + 1);
    }
    s += "1,2,oops\n";
    std::fs::write(&input, s).unwrap();
    let ooc = OutOfCoreOptions {
        mode: ExternalMode::Always,
        run_rows: Some(7),
        tmp_dir: Some(scratch.clone()),
        ..OutOfCoreOptions::new(1 << 40)
    };
    let out = dir.path().join("g");
    let e =
        ingest_to_dir(&[input], &IngestOptions::default(), &ooc, &out, &WriteOptions::default(), &mut |_| {})
            .unwrap_err();
    assert!(e.to_string().contains("in.csv:102:3"), "{e}");
    assert!(!out.exists());
    assert_eq!(std::fs::read_dir(&scratch).unwrap().count(), 0, "scratch files left behind");
    let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(names.len(), 2, "{names:?}");
}

#[test]
fn a_limit_below_the_program_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.csv");
    std::fs::write(&input, "1,2,3\n").unwrap();
    let ooc = OutOfCoreOptions::new(1 << 20);
    let e = ingest_to_dir(
        &[input],
        &IngestOptions::default(),
        &ooc,
        &dir.path().join("g"),
        &WriteOptions::default(),
        &mut |_| {},
    )
    .unwrap_err();
    assert!(matches!(e, IngestError::MemoryLimit { .. }), "{e}");
}

#[test]
fn node_features_skipped_rows_and_two_files_match_the_in_memory_path() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.csv");
    let b = dir.path().join("b.csv");
    let nf = dir.path().join("nodes.csv");
    let mut s = String::from("src,dst,t,w\n");
    for i in 0..300u32 {
        s += &format!("u{},v{},{},{}\n", i % 17, (i * 7) % 23, (i * 37) % 101, i % 5);
        if i % 50 == 3 {
            s += "u1,v2,bad,1\n";
        }
    }
    std::fs::write(&a, &s).unwrap();
    std::fs::write(&b, "src,dst,t,w\nu3,v4,50,2\nu99,v1,-1,0\n").unwrap();
    std::fs::write(&nf, "id,x,y\nu1,1,2\nv2,3,4\nu16,5,6\n").unwrap();
    let opts = IngestOptions {
        bipartite: true,
        features: Some("w".parse().unwrap()),
        node_features: Some(nf),
        on_bad_row: BadRowPolicy::Skip,
        ..IngestOptions::default()
    };
    let wopts = WriteOptions { shard_nodes: 4, replace: false };
    let inputs = [a, b];
    let ing = ingest_files(&inputs, &opts).unwrap();
    write_graph(&dir.path().join("mem"), &ing.data, &wopts).unwrap();
    let ooc = OutOfCoreOptions {
        mode: ExternalMode::Always,
        run_rows: Some(13),
        window_bytes: Some(100),
        fan_in: Some(3),
        max_open: Some(2),
        ..OutOfCoreOptions::new(1 << 40)
    };
    let (r, _) = ingest_to_dir(&inputs, &opts, &ooc, &dir.path().join("ext"), &wopts, &mut |_| {}).unwrap();
    assert_eq!(files(&dir.path().join("mem")), files(&dir.path().join("ext")));
    assert_eq!(r.rows_skipped, ing.report.rows_skipped);
    assert_eq!(r.skipped_examples, ing.report.skipped_examples);
    assert_eq!(r.node_features, ing.report.node_features);
    assert_eq!(r.out_of_order_rows, ing.report.out_of_order_rows);
    assert!(r.memory.unwrap().merge_passes >= 2);
}
