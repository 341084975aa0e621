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

/// `bench scale` end to end on two tiny sizes: every stage ran in its own process,
/// the numbers are consistent with the graphs, the plot exists, the graphs are gone.
#[test]
fn bench_scale_reports_every_stage_per_size() {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("scale");
    let out = linkcast()
        .args(["-q", "bench", "scale", "--sizes", "2000,8000"])
        .args(["--sample-batches", "5", "--sample-batch", "100", "--features", "2"])
        .args(["--train-batches", "30", "--train-batch", "100", "--score-pairs", "500", "--threads", "1"])
        .args(["--train-max-events", "5000", "--memory-limit", "1G", "-o"])
        .arg(&out_dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let saved: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out_dir.join("scale.json")).unwrap()).unwrap();
    assert_eq!(r, saved, "stdout and scale.json agree");
    assert!(std::fs::read(out_dir.join("scale.png")).unwrap().starts_with(b"\x89PNG"));
    let sizes = r["sizes"].as_array().unwrap();
    assert_eq!(sizes.len(), 2);
    for (s, events) in sizes.iter().zip([2000u64, 8000]) {
        assert_eq!(s["events"], events);
        assert_eq!(s["ingest"]["report"]["ingest"]["events"], events, "the ingest saw every generated row");
        assert!(s["ingest"]["peak_rss_bytes"].as_u64().unwrap() > 0);
        let disk = &s["disk"];
        let per = disk["bytes_per_event"].as_f64().unwrap();
        assert!(per > 48.0 && per < 64.0 + 200_000.0 / events as f64, "{per} B/event");
        assert_eq!(
            disk["total"].as_u64().unwrap(),
            ["log", "features", "adjacency", "ids", "node_features", "meta"]
                .iter()
                .map(|k| disk[k].as_u64().unwrap())
                .sum::<u64>()
        );
        assert_eq!(disk["log"].as_u64().unwrap(), 16 * events + 3 * 64, "16 B/event + 3 headers");
        assert_eq!(disk["features"].as_u64().unwrap(), 8 * events + 64, "two f32 features per event");
        assert_eq!(s["sample"]["report"]["batches"], 5);
        assert!(s["sample_roots_per_s"].as_f64().unwrap() > 0.0);
        assert!(!out_dir.join(format!("g-{events}")).exists(), "graphs are removed without --keep");
    }
    // Training ran at the small size only (--train-max-events 5000), one whole epoch
    // (the first 70% of 2000 events) since that is fewer than 30 batches.
    let t = &sizes[0]["train"]["report"];
    assert_eq!(t["full_epoch"], true);
    assert_eq!(t["model"]["edge_dim"], 2, "the model reads the edge features through the map");
    let ev = t["train_events"].as_u64().unwrap();
    assert!((1300..=1400).contains(&ev), "{ev} events in one epoch");
    assert!(sizes[0]["train_events_per_s"].as_f64().unwrap() > 0.0);
    assert!(sizes[0]["score_pairs_per_s"].as_f64().unwrap() > 0.0);
    assert!(sizes[1]["train"].is_null());
    assert!(sizes[1]["skipped"][0].as_str().unwrap().contains("train-max-events"));
    // --merge joins reports without running anything; the same size twice is refused.
    let json = out_dir.join("scale.json");
    let merged_dir = dir.path().join("merged");
    let m = linkcast()
        .args(["-q", "bench", "scale", "--merge"])
        .arg(&json)
        .arg("-o")
        .arg(&merged_dir)
        .output()
        .unwrap();
    assert!(m.status.success(), "{}", String::from_utf8_lossy(&m.stderr));
    let merged: serde_json::Value = serde_json::from_slice(&m.stdout).unwrap();
    assert_eq!(merged["sizes"], r["sizes"]);
    assert!(merged_dir.join("scale.png").is_file());
    let both = format!("{},{}", json.display(), json.display());
    let m = linkcast().args(["bench", "scale", "--merge", &both, "-o"]).arg(&merged_dir).output().unwrap();
    assert!(!m.status.success() && String::from_utf8_lossy(&m.stderr).contains("same size"));
    // Bad sizes are refused before anything runs.
    let bad = linkcast().args(["bench", "scale", "--sizes", "1e6,1e5", "-o"]).arg(&out_dir).output().unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("increasing"));
}
