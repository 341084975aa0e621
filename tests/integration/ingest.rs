//! `linkcast ingest` through the real binary: one test per class of bad input
//! (each checks a non-zero exit and that stderr names FILE:LINE:COLUMN), skipping
//! bad rows, atomic output, stdin, and the published counts of the bundled and
//! shared datasets.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn linkcast() -> Command {
    Command::new(env!("CARGO_BIN_EXE_linkcast"))
}

fn write(dir: &Path, name: &str, content: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, content).unwrap();
    p
}

fn ingest(files: &[&Path], out: &Path, flags: &[&str]) -> Output {
    let mut c = linkcast();
    c.arg("ingest").args(files).arg("-o").arg(out).args(flags);
    c.output().unwrap()
}

/// Run on `content` saved as `name` and expect failure with every `needles` in stderr.
fn expect_error(name: &str, content: &[u8], flags: &[&str], needles: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), name, content);
    let out = dir.path().join("graph");
    let o = ingest(&[&p], &out, flags);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "expected failure; stderr: {stderr}");
    assert_eq!(o.status.code(), Some(1));
    for n in needles {
        assert!(stderr.contains(n), "stderr lacks {n:?}:\n{stderr}");
    }
    assert!(!out.exists(), "a failed ingest left {}", out.display());
}

fn json_of(o: &Output) -> serde_json::Value {
    assert!(o.status.success(), "ingest failed: {}", String::from_utf8_lossy(&o.stderr));
    serde_json::from_slice(&o.stdout).unwrap()
}

#[test]
fn error_unparsable_field() {
    expect_error(
        "bad.csv",
        b"src,dst,time\n1,2,3\n4,5,12x\n",
        &[],
        &["bad.csv:3:3: time column \"time\": cannot parse \"12x\" as a number"],
    );
}

#[test]
fn error_missing_column() {
    expect_error(
        "bad.csv",
        b"src,dst,ts\n1,2,3\n",
        &["--time", "timestamp"],
        &[
            "bad.csv:1:",
            "no column named \"timestamp\" (--time)",
            "available columns: \"src\" (0), \"dst\" (1), \"ts\" (2)",
        ],
    );
}

#[test]
fn error_wrong_number_of_fields() {
    expect_error(
        "bad.csv",
        b"src,dst,time\n1,2,3\n4,5\n",
        &[],
        &["bad.csv:3:3: wrong number of fields: expected 3 (as in the header on line 1), found 2: \"4,5\""],
    );
}

#[test]
fn error_nan_time() {
    expect_error("bad.txt", b"# c\n1 2 3\n2 3 NaN\n", &[], &["bad.txt:3:3: time column: \"NaN\" is NaN"]);
}

#[test]
fn error_infinite_feature() {
    expect_error(
        "bad.csv",
        b"src,dst,time,w\n1,2,3,0.5\n2,3,4,-inf\n",
        &["--features", "w"],
        &["bad.csv:3:4: feature column \"w\": \"-inf\" is infinite"],
    );
}

#[test]
fn error_inconsistent_feature_width() {
    expect_error(
        "bad.txt",
        b"1 2 3 0.1 0.2\n2 3 4 0.1\n",
        &[],
        &["bad.txt:2:4: inconsistent feature width: 1 feature columns here, 2 in line 1"],
    );
}

#[test]
fn error_empty_file() {
    expect_error("empty.txt", b"", &[], &["empty.txt:1:1: empty file: no data rows"]);
    expect_error(
        "header.csv",
        b"src,dst,time\n",
        &[],
        &["header.csv:2:1: empty file: no data rows after the header"],
    );
}

#[test]
fn error_undecodable_gzip() {
    // A gzip header followed by garbage, under a name that hides the compression.
    expect_error("bad.txt", b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03garbage!", &[], &["bad.txt", "gzip"]);
}

#[test]
fn skip_bad_rows_and_report_them() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), "mixed.txt", b"1 2 3\n1 x\n2 3 4\n4 5 nan\n5 6 7\n");
    let out = dir.path().join("graph");
    let v = json_of(&ingest(&[&p], &out, &["--on-bad-row", "skip", "--json"]));
    let r = &v["ingest"];
    assert_eq!(
        (r["rows_read"].as_u64(), r["rows_kept"].as_u64(), r["rows_skipped"].as_u64()),
        (Some(5), Some(3), Some(2))
    );
    let ex: Vec<&str> =
        r["skipped_examples"].as_array().unwrap().iter().map(|e| e.as_str().unwrap()).collect();
    assert!(ex[0].contains("mixed.txt:2:3: wrong number of fields"), "{ex:?}");
    assert!(ex[1].contains("mixed.txt:4:3: time column: \"nan\" is NaN"), "{ex:?}");
    assert_eq!(v["write"]["events"], 3);
    assert!(out.join("meta.json").exists());

    // The human summary shows them too.
    let out2 = dir.path().join("graph2");
    let o = ingest(&[&p], &out2, &["--on-bad-row", "skip"]);
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success());
    assert!(text.contains("skipped rows: 2") && text.contains("mixed.txt:2:3"), "{text}");
}

#[test]
fn failed_ingest_leaves_no_output() {
    let dir = tempfile::tempdir().unwrap();
    // Many good rows, then a bad one at the end: the failure comes late.
    let mut s: String = (0..50_000).map(|i| format!("{} {} {i}\n", i % 97, i % 89)).collect();
    s.push_str("1 2 oops\n");
    let p = write(dir.path(), "late.txt", s.as_bytes());
    let out = dir.path().join("graph");
    let o = ingest(&[&p], &out, &[]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("late.txt:50001:3"));
    assert!(!out.exists());
    let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(left, vec![std::ffi::OsString::from("late.txt")], "leftovers: {left:?}");
}

#[test]
fn existing_output_needs_force() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), "e.txt", b"1 2 3\n");
    let out = dir.path().join("graph");
    assert!(ingest(&[&p], &out, &[]).status.success());
    let o = ingest(&[&p], &out, &[]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("--force"));
    assert!(ingest(&[&p], &out, &["--force"]).status.success());
}

#[test]
fn stdin_is_streamed() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("graph");
    let mut child = linkcast()
        .args(["ingest", "-", "--json", "-o"])
        .arg(&out)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let feeder = std::thread::spawn(move || {
        stdin.write_all(b"src,dst,time\na,b,2\nb,c,1\n").unwrap();
    });
    let o = child.wait_with_output().unwrap();
    feeder.join().unwrap();
    let v = json_of(&o);
    assert_eq!(v["ingest"]["events"], 2);
    assert_eq!(v["ingest"]["id_kind"], "str");
    assert_eq!(v["ingest"]["out_of_order_rows"], 1);
    assert_eq!(v["ingest"]["files"][0]["path"], "<stdin>");
}

#[test]
fn bundled_collegemsg() {
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("datasets/collegemsg/CollegeMsg.txt.gz");
    let dir = tempfile::tempdir().unwrap();
    let v = json_of(&ingest(&[&data], &dir.path().join("g"), &["--json"]));
    assert_eq!(v["ingest"]["events"], 59_835);
    assert_eq!(v["ingest"]["nodes"], 1_899);
    assert_eq!(v["write"]["events"], 59_835);
    assert_eq!(v["write"]["nodes"], 1_899);
}

/// The five public datasets with their published counts (skipped when absent).
#[test]
fn shared_datasets_published_counts() {
    let root = std::env::var_os("LINKCAST_SHARED_DATASETS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/datasets"));
    if !root.is_dir() {
        println!("skipped: shared datasets not found at {} (set LINKCAST_SHARED_DATASETS)", root.display());
        return;
    }
    let bitcoin = ["--no-header", "--src", "0", "--dst", "1", "--time", "3", "--features", "2"];
    let cases: &[(&str, &[&str], u64, u64, u64)] = &[
        ("collegemsg/CollegeMsg.txt.gz", &[], 59_835, 1_899, 0),
        ("email-eu-core-temporal/email-Eu-core-temporal.txt.gz", &[], 332_334, 986, 0),
        ("bitcoin-otc/soc-sign-bitcoinotc.csv.gz", &bitcoin, 35_592, 5_881, 1),
        ("enron/ml_enron.csv", &[], 125_235, 184, 0),
        ("wikipedia-uit/ml_wikipedia.txt", &["--bipartite"], 157_474, 9_227, 0),
    ];
    let dir = tempfile::tempdir().unwrap();
    for (i, (file, flags, events, nodes, dim)) in cases.iter().enumerate() {
        let mut args = flags.to_vec();
        args.push("--json");
        let v = json_of(&ingest(&[&root.join(file)], &dir.path().join(format!("g{i}")), &args));
        let r = &v["ingest"];
        assert_eq!(r["events"].as_u64(), Some(*events), "{file}");
        assert_eq!(r["nodes"].as_u64(), Some(*nodes), "{file}");
        assert_eq!(r["feature_dim"].as_u64(), Some(*dim), "{file}");
        if file.starts_with("wikipedia") {
            assert_eq!((r["n_src"].as_u64(), r["n_dst"].as_u64()), (Some(8_227), Some(1_000)));
        }
        if file.starts_with("email") {
            // Two places where time runs backwards (see its PROVENANCE.md).
            assert_eq!(r["time_descents"], 2);
        }
    }
}

/// `linkcast generate ... -o - | linkcast ingest - --memory-limit X`: X is well below
/// what the in-memory path needs for this input (measured here too), the reported peak
/// anonymous memory stays under X, and the output verifies with the generated counts.
#[test]
fn ingest_out_of_core_from_a_pipe_stays_under_the_memory_limit() {
    const EVENTS: u64 = 3_000_000;
    const LIMIT: u64 = 300 << 20;
    let dir = tempfile::tempdir().unwrap();
    let run = |out: &Path, flags: &[&str]| -> serde_json::Value {
        let mut gen_ = linkcast()
            .args(["generate", "-o", "-", "--nodes", "20000", "--events", &EVENTS.to_string(), "--seed", "3"])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let o = linkcast()
            .args(["ingest", "-", "--json", "-o"])
            .arg(out)
            .args(flags)
            .stdin(gen_.stdout.take().unwrap())
            .output()
            .unwrap();
        assert!(gen_.wait().unwrap().success());
        json_of(&o)
    };
    let ext = dir.path().join("ext");
    let v = run(&ext, &["--memory-limit", &LIMIT.to_string()]);
    let m = &v["ingest"]["memory"];
    assert_eq!(m["mode"], "external", "{m}");
    assert!(m["runs"].as_u64().unwrap() >= 2, "{m}");
    let peak = m["peak_rss_anon"].as_u64().unwrap();
    assert!(peak > 0 && peak <= LIMIT, "peak RssAnon {peak} exceeds the limit {LIMIT}: {m}");
    assert_eq!(v["ingest"]["events"], EVENTS);
    assert!(m["disk"]["bytes_per_event"].as_f64().unwrap() < 64.0, "{m}");

    // The in-memory path on the same input needs more than the limit.
    let mem = dir.path().join("mem");
    let w = run(&mem, &["--memory-limit", "100%"]);
    let mm = &w["ingest"]["memory"];
    assert_eq!(mm["mode"], "in-memory", "{mm}");
    assert!(mm["peak_rss_anon"].as_u64().unwrap() > LIMIT, "in-memory peak under the limit: {mm}");

    // Same graph either way, and it verifies.
    for name in ["events/src.u32", "events/t.f64", "shards/00000/nbr.u32", "ids/int.i64"] {
        assert_eq!(std::fs::read(ext.join(name)).unwrap(), std::fs::read(mem.join(name)).unwrap(), "{name}");
    }
    let o = linkcast().arg("verify").arg(&ext).arg("--json").output().unwrap();
    let r = json_of(&o);
    assert_eq!(r["ok"], true, "{r}");
    let meta: serde_json::Value =
        serde_json::from_slice(&std::fs::read(ext.join("meta.json")).unwrap()).unwrap();
    assert_eq!(meta["num_events"], EVENTS);
    assert_eq!(meta["num_nodes"], v["ingest"]["nodes"]);
}
