//! `linkcast stats` through the real binary, on graphs made by `linkcast ingest`:
//! the bundled CollegeMsg (published counts) and a generated graph whose counts
//! are known from the generator's flags.

use std::path::Path;

use serde_json::Value;

use crate::cli::linkcast;

fn ok(args: &[&str]) -> std::process::Output {
    let out = linkcast().args(args).output().unwrap();
    assert!(out.status.success(), "linkcast {args:?} failed:\n{}", String::from_utf8_lossy(&out.stderr));
    out
}

fn stats_json(graph: &Path, extra: &[&str]) -> Value {
    let out = ok(&[&["stats", graph.to_str().unwrap(), "--json"][..], extra].concat());
    serde_json::from_slice(&out.stdout).expect("stats --json prints one JSON object")
}

#[test]
fn stats_on_bundled_collegemsg() {
    let dir = tempfile::tempdir().unwrap();
    let g = dir.path().join("collegemsg");
    let data = concat!(env!("CARGO_MANIFEST_DIR"), "/datasets/collegemsg/CollegeMsg.txt.gz");
    ok(&["ingest", data, "-o", g.to_str().unwrap()]);
    let s = stats_json(&g, &[]);
    assert_eq!(s["events"], 59_835);
    assert_eq!(s["nodes"], 1_899);
    assert_eq!(s["self_loops"], 0);
    assert_eq!(s["bipartite"], Value::Null);
    assert_eq!(s["feat_dim"], 0);
    let (lo, hi) = (s["time"]["min"].as_f64().unwrap(), s["time"]["max"].as_f64().unwrap());
    assert_eq!((lo, hi), (1_082_040_961.0, 1_098_777_142.0));
    // Pairs and events add up; the split covers every event and never cuts ties.
    let pairs = &s["pairs_directed"];
    assert_eq!(
        pairs["distinct_pairs"].as_u64().unwrap() + pairs["repeated_events"].as_u64().unwrap(),
        59_835
    );
    let sp = &s["split"];
    let parts = ["train_events", "val_events", "test_events"].map(|k| sp[k].as_u64().unwrap());
    assert_eq!(parts.iter().sum::<u64>(), 59_835);
    assert!(parts[0] >= 41_884 && parts[1] > 8_000 && parts[2] > 8_000, "{parts:?}");
    for k in ["surprise_directed", "surprise_undirected"] {
        let x = sp[k]["events"].as_f64().unwrap();
        assert!(x > 0.0 && x < 1.0, "{k} = {x}");
    }
    // Undirected pairs can only merge directed ones, so fewer are new in test.
    assert!(
        sp["surprise_undirected"]["pairs"].as_f64().unwrap()
            <= sp["surprise_directed"]["pairs"].as_f64().unwrap()
    );
    let largest = s["components"]["largest"].as_u64().unwrap();
    assert!(largest > 1_800 && largest <= 1_899, "{largest}");

    // The human table names the same figures, aligned.
    let out = ok(&["stats", g.to_str().unwrap()]);
    let table = String::from_utf8(out.stdout).unwrap();
    assert!(table.lines().any(|l| l.starts_with("events ") && l.trim_end().ends_with("59835")), "{table}");
    assert!(table.contains("surprise, directed"), "{table}");

    // A half-open window: [min, min + 1) holds the events at the first timestamp only.
    let from = format!("{lo}");
    let to = format!("{}", lo + 1.0);
    let w = stats_json(&g, &["--from", &from, "--to", &to]);
    assert!(w["events"].as_u64().unwrap() >= 1 && w["events"].as_u64().unwrap() < 10);
    assert_eq!(w["distinct_timestamps"], 1);
}

#[test]
fn generate_ingest_stats_counts() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("g.csv");
    let g = dir.path().join("g");
    ok(&[
        "generate",
        "-o",
        csv.to_str().unwrap(),
        "--nodes",
        "300",
        "--events",
        "5000",
        "--seed",
        "9",
        "--features",
        "2",
        "--bursty",
    ]);
    ok(&["ingest", csv.to_str().unwrap(), "-o", g.to_str().unwrap(), "--features", "f0,f1"]);
    let s = stats_json(&g, &[]);
    assert_eq!(s["events"], 5_000);
    assert_eq!(s["self_loops"], 0);
    assert_eq!(s["feat_dim"], 2);
    let nodes = s["nodes"].as_u64().unwrap();
    assert!(nodes > 100 && nodes <= 300, "{nodes}");
    assert_eq!(s["isolated_nodes"], 0);
    // Generated times start at 1.6e9 and ties are common.
    assert_eq!(s["time"]["min"], 1.6e9);
    assert!(s["distinct_timestamps"].as_u64().unwrap() < 5_000);
    // A Zipf-skewed graph has hubs: max degree far above the median.
    let d = &s["degree"];
    assert!(d["max"].as_u64().unwrap() > 10 * d["median"].as_u64().unwrap(), "{d}");
    // A custom split by fractions is honoured.
    let s = stats_json(&g, &["--split", "0.5,0.25,0.25"]);
    let train = s["split"]["train_events"].as_u64().unwrap();
    assert!((2_500..2_600).contains(&train), "{train}");
}

#[test]
fn stats_errors_are_clean() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope");
    let out = linkcast().args(["stats", missing.to_str().unwrap()]).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.starts_with("error:") && err.contains("nope"), "{err}");
    let out = linkcast().args(["stats", ".", "--split", "0.9,0.9,0.9"]).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("sum to 1"));
}
