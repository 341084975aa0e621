//! `linkcast generate` and `linkcast bench ingest` through the real binary:
//! determinism (same seed -> same bytes), stdout streaming, bad flags, and the
//! bench's JSON report.

use std::fs;

use crate::cli::linkcast;

fn generate(args: &[&str]) -> std::process::Output {
    let out = linkcast().arg("generate").args(args).output().unwrap();
    assert!(out.status.success(), "generate {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    out
}

#[test]
fn generate_same_seed_gives_identical_files() {
    let dir = tempfile::tempdir().unwrap();
    let p = |name: &str| dir.path().join(name).to_str().unwrap().to_string();
    let base = ["--nodes", "500", "--events", "30000", "--features", "3", "--bursty"];
    for ext in ["csv", "parquet"] {
        let (a, b, c) = (p(&format!("a.{ext}")), p(&format!("b.{ext}")), p(&format!("c.{ext}")));
        generate(&[&["-o", a.as_str(), "--seed", "11"][..], &base].concat());
        generate(&[&["-o", b.as_str(), "--seed", "11"][..], &base].concat());
        generate(&[&["-o", c.as_str(), "--seed", "12"][..], &base].concat());
        let (a, b, c) = (fs::read(&a).unwrap(), fs::read(&b).unwrap(), fs::read(&c).unwrap());
        assert!(a.len() > 1000, "{ext}: {} bytes", a.len());
        assert_eq!(a, b, "{ext}: same seed, different bytes");
        assert_ne!(a, c, "{ext}: different seeds, same bytes");
    }
    // The format follows the extension: Parquet magic at both ends.
    let pq = fs::read(p("a.parquet")).unwrap();
    assert!(pq.starts_with(b"PAR1") && pq.ends_with(b"PAR1"));
    let csv = fs::read_to_string(p("a.csv")).unwrap();
    assert_eq!(csv.lines().next(), Some("src,dst,t,f0,f1,f2"));
    assert_eq!(csv.lines().count(), 30_001);
    // No temporary files are left behind.
    let names: Vec<String> = fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(names.iter().all(|n| !n.starts_with('.')), "{names:?}");
}

#[test]
fn generate_to_stdout_matches_file() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("g.csv");
    let args = ["--nodes", "50", "--events", "2000", "--seed", "5"];
    generate(&[&["-o", f.to_str().unwrap()][..], &args].concat());
    let out = generate(&[&["-o", "-"][..], &args].concat());
    assert_eq!(out.stdout, fs::read(&f).unwrap());
}

#[test]
fn generate_rejects_bad_flags() {
    for (args, needle) in [
        (vec!["-o", "-", "--nodes", "1"], "--nodes"),
        (vec!["-o", "-", "--zipf=-2"], "--zipf"),
        (vec!["-o", "-", "--format", "xml"], "xml"),
    ] {
        let out = linkcast().arg("generate").args(&args).output().unwrap();
        assert!(!out.status.success(), "{args:?} succeeded");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(needle), "{args:?}: {err}");
    }
}

#[test]
fn bench_ingest_generate_prints_json() {
    let out = linkcast().args(["bench", "ingest", "--generate", "20000"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON object");
    assert_eq!(v["bench"], "ingest");
    assert_eq!(v["events"], 20_000);
    for k in [
        "parse_rows_per_s",
        "build_rows_per_s",
        "write_seconds",
        "bytes_on_disk",
        "bytes_per_event",
        "peak_rss_bytes",
        "threads",
    ] {
        assert!(v[k].as_f64().is_some_and(|x| x > 0.0), "{k}: {}", v[k]);
    }
    assert!(v["machine"]["cpus"].as_u64().unwrap() >= 1);
    let p = &v["params"];
    assert_eq!(p["generated"]["events"], 20_000);
    assert_eq!(p["format"], "csv");
    assert_eq!(p["feat_dim"], 0);
    assert!(p["shard_nodes"].as_u64().unwrap() > 0);
    assert_eq!(p["linkcast_version"], env!("CARGO_PKG_VERSION"));
}
