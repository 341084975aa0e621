//! `linkcast bench sample` through the real binary: the JSON report's shape and
//! arithmetic, the same answers from a graph directory (memory-mapped), the edge
//! file it came from (in memory), with and without cursors, and bad flags.

use crate::cli::linkcast;

fn bench_sample(args: &[&str]) -> serde_json::Value {
    let out = linkcast().args(["bench", "sample"]).args(args).output().unwrap();
    assert!(out.status.success(), "bench sample {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("one JSON object on stdout")
}

fn u(v: &serde_json::Value, key: &str) -> u64 {
    v[key].as_u64().unwrap_or_else(|| panic!("{key} missing in {v}"))
}

#[test]
fn bench_sample_generated_report_adds_up() {
    let args = ["--generate", "20000", "--gen-nodes", "500", "--threads", "2", "--batch", "600"];
    for (strategy, layers) in [("recent", "1"), ("uniform", "2")] {
        let r = bench_sample(&[&args[..], &["--strategy", strategy, "--layers", layers]].concat());
        assert_eq!(r["bench"], "sample");
        let p = &r["params"];
        assert_eq!(p["strategy"], strategy);
        assert_eq!(p["threads"], 2);
        assert_eq!(p["events"], 20_000);
        assert_eq!(p["roots_per_batch"], 1800);
        assert_eq!(p["cursor"], true);
        assert_eq!(u(&r, "batches"), 20_000u64.div_ceil(600));
        let roots = u(&r, "roots");
        assert_eq!(roots, 60_000);
        let slots = if layers == "1" { roots * 10 } else { roots * 10 + roots * 100 };
        assert_eq!(u(&r, "slots"), slots);
        let valid = u(&r, "valid_slots");
        assert!(valid > roots && valid <= slots, "{valid} valid of {slots}");
        for key in ["batches_per_s", "roots_per_s", "slots_per_s", "valid_slots_per_s", "sample_seconds"] {
            assert!(r[key].as_f64().unwrap() > 0.0, "{key}: {r}");
        }
        assert!(u(&r, "peak_rss_bytes") > 0);
    }
}

#[test]
fn bench_sample_directory_file_and_cursor_agree() {
    let tmp = tempfile::tempdir().unwrap();
    let file = concat!(env!("CARGO_MANIFEST_DIR"), "/datasets/collegemsg/CollegeMsg.txt.gz");
    let dir = tmp.path().join("g");
    let out = linkcast().args(["ingest", file, "-o", dir.to_str().unwrap()]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let d = dir.to_str().unwrap();
    for strategy in ["recent", "uniform"] {
        let base = ["--strategy", strategy, "--seed", "3"];
        let mapped = bench_sample(&[&[d][..], &base].concat());
        let in_mem = bench_sample(&[&[file][..], &base].concat());
        let no_cursor = bench_sample(&[&[d, "--no-cursor", "--threads", "2"][..], &base].concat());
        assert_eq!(mapped["params"]["store"], "mmap");
        assert_eq!(in_mem["params"]["store"], "mem");
        assert_eq!(no_cursor["params"]["cursor"], false);
        let v = u(&mapped, "valid_slots");
        assert!(v > 0);
        assert_eq!(v, u(&in_mem, "valid_slots"), "{strategy}: directory vs file");
        assert_eq!(v, u(&no_cursor, "valid_slots"), "{strategy}: cursor vs binary search");
    }
}

#[test]
fn bench_sample_rejects_bad_flags() {
    for (args, needle) in [
        (vec!["--generate", "1000", "--strategy", "newest"], "newest"),
        (vec!["--generate", "1000", "--k", "0"], "at least 1"),
        (vec!["--generate", "1000", "--threads", "0"], "at least 1"),
        (vec!["/nonexistent/graph.csv"], "graph.csv"),
    ] {
        let out = linkcast().args(["bench", "sample"]).args(&args).output().unwrap();
        assert!(!out.status.success(), "{args:?} succeeded");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(needle), "{args:?}: {err}");
    }
}
