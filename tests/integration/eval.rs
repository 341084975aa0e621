//! `linkcast eval` on the bundled CollegeMsg graph: baselines under both protocols,
//! records and --compare, and bad input refused with a clear error.

use std::path::{Path, PathBuf};
use std::process::Output;

use crate::cli::linkcast;

fn ingest_collegemsg(dir: &Path) -> PathBuf {
    let g = dir.join("g");
    let bundled = concat!(env!("CARGO_MANIFEST_DIR"), "/datasets/collegemsg/CollegeMsg.txt.gz");
    let out = linkcast().args(["ingest", bundled, "-o"]).arg(&g).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    g
}

fn ok(out: Output) -> Vec<u8> {
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    out.stdout
}

#[test]
fn eval_baselines_ap_rank_and_compare() {
    let tmp = tempfile::tempdir().unwrap();
    let g = ingest_collegemsg(tmp.path());
    let runs = tmp.path().join("runs.json");
    let out = linkcast()
        .args(["eval", "--baseline", "edgebank"])
        .arg(&g)
        .args(["--negatives", "historical", "--json", "-o"])
        .arg(&runs)
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&ok(out)).unwrap();
    assert_eq!(v["protocol"], "ap");
    let ap = v["metrics"]["ap"]["all"]["ap"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&ap), "{v}");
    assert!(v["metrics"]["ap"]["inductive"]["positives"].as_u64().unwrap() > 0, "{v}");

    let neg = tmp.path().join("test.neg");
    ok(linkcast().arg("negatives").arg(&g).args(["--k", "20", "-o"]).arg(&neg).output().unwrap());
    let out = linkcast()
        .args(["eval", "popularity"])
        .arg(&g)
        .args(["--protocol", "rank", "--negatives-file"])
        .arg(&neg)
        .args(["--json", "-o"])
        .arg(&runs)
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&ok(out)).unwrap();
    let mrr = v["metrics"]["rank"]["mrr"].as_f64().unwrap();
    assert!(mrr > 0.0 && mrr <= 1.0 && v["k"] == 20, "{v}");

    let table = ok(linkcast().args(["eval", "--compare"]).arg(&runs).output().unwrap());
    let table = String::from_utf8(table).unwrap();
    assert_eq!(table.lines().count(), 4, "{table}");
    assert!(table.contains("| edgebank |") && table.contains("| popularity"), "{table}");
}

#[test]
fn eval_refuses_bad_input() {
    let tmp = tempfile::tempdir().unwrap();
    let g = ingest_collegemsg(tmp.path());
    let out = linkcast().args(["eval", "--baseline", "pagerank"]).arg(&g).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("unknown baseline") && err.contains("edgebank"), "{err}");

    // A negative set for the validation part is refused for the test part and for
    // another graph/split.
    let neg = tmp.path().join("val.neg");
    ok(linkcast()
        .arg("negatives")
        .arg(&g)
        .args(["--part", "val", "--k", "5", "-o"])
        .arg(&neg)
        .output()
        .unwrap());
    let out = linkcast()
        .args(["eval", "--baseline", "edgebank"])
        .arg(&g)
        .args(["--protocol", "rank", "--negatives-file"])
        .arg(&neg)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("negative set covers events"), "{err}");
    let other = tmp.path().join("other");
    let bundled = concat!(env!("CARGO_MANIFEST_DIR"), "/datasets/collegemsg/CollegeMsg.txt.gz");
    ok(linkcast().args(["ingest", bundled, "--directed", "-o"]).arg(&other).output().unwrap());
    let out = linkcast()
        .args(["eval", "--baseline", "edgebank"])
        .arg(&other)
        .args(["--protocol", "rank", "--split-spec", "0.6,0.2,0.2", "--negatives-file"])
        .arg(&neg)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("negative set"), "{err}");

    let help = ok(linkcast().args(["eval", "--help"]).output().unwrap());
    assert!(String::from_utf8_lossy(&help).contains("Examples:"));

    // A directory that is not a model is refused (in either build) with a clear error.
    let out = linkcast().arg("eval").arg(tmp.path()).arg(&g).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("torch") || err.contains("model"), "{err}");
}
