//! Whole-binary checks: help texts, doctor, exit codes.

use std::process::Command;

pub fn linkcast() -> Command {
    Command::new(env!("CARGO_BIN_EXE_linkcast"))
}

#[test]
fn every_subcommand_has_help_with_examples() {
    for sub in [
        "ingest",
        "stats",
        "verify",
        "generate",
        "negatives",
        "bench",
        "doctor",
        "train",
        "eval",
        "score",
        "recommend",
        "ingest-events",
        "serve",
    ] {
        let out = linkcast().args([sub, "--help"]).output().unwrap();
        assert!(out.status.success(), "{sub} --help failed");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("Examples:"), "{sub} --help has no examples:\n{text}");
    }
}

#[test]
fn unknown_subcommand_fails_cleanly() {
    let out = linkcast().arg("frobnicate").output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unrecognized subcommand"));
}

#[test]
fn doctor_reports_the_loaded_libtorch() {
    let out = linkcast().args(["doctor", "--json"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["torch_feature"], true);
    // The build links the venv's torch 2.11.0 through an rpath: no LD_LIBRARY_PATH needed.
    let version = v["libtorch_version"].as_str().unwrap();
    assert!(version.starts_with("2.11.0"), "libtorch {version}");
    let dir = v["libtorch_loaded_from"].as_str().unwrap();
    assert!(std::path::Path::new(dir).join("libtorch_cpu.so").exists(), "{dir}");
    assert!(v["cuda_available"].is_boolean());
    assert!(v["torch_threads"].as_i64().unwrap() >= 1);
}

/// The main job of `scripts/demo.sh` on the bundled dataset: ingest, verify, then a
/// corrupted array is caught by `verify` (file named) and by opening (`stats`).
#[test]
fn ingest_verify_and_detect_corruption() {
    let tmp = tempfile::tempdir().unwrap();
    let g = tmp.path().join("g");
    let bundled = concat!(env!("CARGO_MANIFEST_DIR"), "/datasets/collegemsg/CollegeMsg.txt.gz");
    let out = linkcast().args(["ingest", bundled, "-o"]).arg(&g).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    let out = linkcast().arg("verify").arg(&g).args(["--json"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["ok"], true);

    // Flip one byte in the middle of the destination column: same length, bad checksum.
    let dst = g.join("events/dst.u32");
    let mut bytes = std::fs::read(&dst).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x40;
    std::fs::write(&dst, &bytes).unwrap();
    let out = linkcast().arg("verify").arg(&g).output().unwrap();
    assert!(!out.status.success());
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(text.contains("dst.u32"), "verify output does not name the file:\n{text}");

    // Truncate it: opening the graph (stats) refuses instead of reading garbage.
    std::fs::write(&dst, &bytes[..bytes.len() - 4]).unwrap();
    let out = linkcast().arg("stats").arg(&g).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("dst.u32"), "stats error does not name the file:\n{err}");
}

/// `linkcast negatives` writes a set every model can load for this graph: one row of
/// K negatives per test event, none a true destination of that source at that time.
#[test]
fn negatives_file_for_the_test_split() {
    use linkcast::sample::negatives::{NO_NEGATIVE, NegativeSet};
    use linkcast::store::{MmapStore, TemporalStore};

    let tmp = tempfile::tempdir().unwrap();
    let g = tmp.path().join("g");
    let bundled = concat!(env!("CARGO_MANIFEST_DIR"), "/datasets/collegemsg/CollegeMsg.txt.gz");
    assert!(linkcast().args(["ingest", bundled, "-o"]).arg(&g).output().unwrap().status.success());
    let neg = tmp.path().join("test.neg");
    let out = linkcast()
        .arg("negatives")
        .arg(&g)
        .arg("-o")
        .arg(&neg)
        .args(["--k", "20", "--json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    // The default split of CollegeMsg (70/15/15, ties kept together) has 8,975 test events.
    assert_eq!(v["queries"], 8975);

    let store = MmapStore::open(&g).unwrap();
    let set = NegativeSet::load_for(&neg, &store).unwrap();
    assert_eq!(set.num_queries(), 8975);
    // Every destination of each (source, time) pair: the true destinations of a query.
    let mut truths: std::collections::HashMap<(u32, u64), Vec<u32>> = Default::default();
    for e in 0..store.num_events() as u32 {
        let (s, d, t) = store.event(e);
        truths.entry((s, t.to_bits())).or_default().push(d);
    }
    let first = set.header.range.start as usize;
    for e in first..first + set.num_queries() {
        let (s, _, t) = store.event(e as u32);
        let truth = &truths[&(s, t.to_bits())];
        for &n in set.query(e).unwrap() {
            assert!(n != NO_NEGATIVE && n < store.num_nodes());
            assert!(!truth.contains(&n), "event {e}: negative {n} is a true destination");
        }
    }

    // The same file is refused for another graph.
    let other = tmp.path().join("other");
    let gen_csv = tmp.path().join("gen.csv");
    assert!(
        linkcast()
            .args(["generate", "--nodes", "100", "--events", "2000", "--seed", "3", "-o"])
            .arg(&gen_csv)
            .status()
            .unwrap()
            .success()
    );
    assert!(linkcast().arg("ingest").arg(&gen_csv).arg("-o").arg(&other).status().unwrap().success());
    let other_store = MmapStore::open(&other).unwrap();
    assert!(NegativeSet::load_for(&neg, &other_store).is_err());
}
