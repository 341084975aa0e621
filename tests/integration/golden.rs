//! Golden outputs of every model family, recorded at commit ca6855d (before the
//! model interface of issue 16 replaced the single `Net`) and compared bit for bit
//! ever since: a refactor of the model layer must not change one number.
//!
//! Per model (TGN, JODIE, DyRep, TGAT, GraphMixer; tiny sizes, CPU, 2 threads,
//! seed 3) on the first 3,000 events of the bundled CollegeMsg: the loss of every
//! training step, xxh3 checksums of the best and final weights and of the saved
//! memory, validation and test AP/AUC, `eval --protocol rank` MRR and Hits@1/10
//! against a saved negative set, `score` outputs, `recommend`'s top 5, and the
//! scores after `ingest-events` absorbed three new events (one from a new node).
//!
//! The math libraries are pinned to one code path (`MKL_CBWR`, `ATEN_CPU_CAPABILITY`,
//! `ONEDNN_MAX_CPU_ISA`: AVX2), so the record does not depend on whether the CPU also
//! has AVX-512. Re-record (only when a change of numbers is intended, and say so in
//! the commit) with `LINKCAST_WRITE_GOLDEN=1 cargo test --test integration golden`.

use std::io::Read;
use std::path::Path;
use std::process::Command;

use serde_json::{Value, json};

use crate::cli::linkcast;

const BUNDLED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/datasets/collegemsg/CollegeMsg.txt.gz");
const GOLDEN: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/integration/golden/models.json");
const MODELS: [&str; 5] = ["tgn", "jodie", "dyrep", "tgat", "graphmixer"];
const EVENTS: usize = 3000;

fn pinned(args: &[&str]) -> Command {
    let mut c = linkcast();
    c.args(args)
        .env("MKL_CBWR", "AVX2")
        .env("ATEN_CPU_CAPABILITY", "avx2")
        .env("ONEDNN_MAX_CPU_ISA", "AVX2")
        .env_remove("RUST_LOG");
    c
}

fn run(args: &[&str]) -> String {
    let out = pinned(args).output().unwrap();
    assert!(out.status.success(), "linkcast {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

fn xxh3(path: &Path) -> String {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    format!("{:016x}", xxhash_rust::xxh3::xxh3_64(&bytes))
}

/// `src,dst,time,score,...` rows of `score`'s CSV: the score column as written.
fn score_column(csv: &str) -> Vec<Value> {
    csv.lines().skip(1).map(|l| json!(l.split(',').nth(3).unwrap())).collect()
}

/// The first `EVENTS` lines of the bundled file (already in time order).
fn slice(dir: &Path) -> (std::path::PathBuf, Vec<(String, String, f64)>) {
    let mut text = String::new();
    flate2::read::GzDecoder::new(std::fs::File::open(BUNDLED).unwrap()).read_to_string(&mut text).unwrap();
    let lines: Vec<&str> = text.lines().take(EVENTS).collect();
    let rows = lines
        .iter()
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f[0].to_string(), f[1].to_string(), f[2].parse().unwrap())
        })
        .collect();
    let path = dir.join("slice.txt");
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    (path, rows)
}

/// Everything recorded of one model.
fn outputs(model: &str, tmp: &Path, graph: &str, neg: &str, q: &str, new_events: &str, last: f64) -> Value {
    let m = tmp.join(model);
    let log = tmp.join(format!("{model}.log"));
    let ms = m.to_str().unwrap();
    let train = run(&[
        "-q",
        "train",
        graph,
        "-o",
        ms,
        "--model",
        model,
        "--epochs",
        "2",
        "--patience",
        "5",
        "--batch-size",
        "100",
        "--memory-dim",
        "16",
        "--time-dim",
        "8",
        "--emb-dim",
        "16",
        "--neighbors",
        "5",
        "--threads",
        "2",
        "--prefetch",
        "2",
        "--seed",
        "3",
        "--device",
        "cpu",
        "--json",
        "--step-log",
        log.to_str().unwrap(),
    ]);
    let report: Value = serde_json::from_str(&train).unwrap();
    let steps: Value = serde_json::from_slice(&std::fs::read(log.join("rank0.json")).unwrap()).unwrap();
    let losses: Vec<Value> = steps["steps"].as_array().unwrap().iter().map(|s| s["loss"].clone()).collect();
    let memory = m.join("memory.safetensors");
    let rank: Value = serde_json::from_str(&run(&[
        "-q",
        "eval",
        ms,
        graph,
        "--protocol",
        "rank",
        "--negatives-file",
        neg,
        "--threads",
        "2",
        "--json",
    ]))
    .unwrap();
    let scores = score_column(&run(&["-q", "score", ms, "--queries", q, "--threads", "2"]));
    let at = (last + 50.0).to_string();
    let top: Value = serde_json::from_str(&run(&[
        "-q",
        "recommend",
        ms,
        "--src",
        "1",
        "--at",
        &at,
        "--top-k",
        "5",
        "--threads",
        "2",
        "--json",
    ]))
    .unwrap();
    let top: Vec<Value> =
        top["results"].as_array().unwrap().iter().map(|r| json!([r["dst"], r["score"]])).collect();
    run(&["-q", "ingest-events", ms, new_events, "--threads", "2"]);
    let later = tmp.join("later.csv");
    let t2 = last + 1000.0;
    std::fs::write(&later, format!("src,dst,time\n1,2,{t2}\n9000,2,{t2}\n2,9000,{t2}\n5,1,{t2}\n")).unwrap();
    let after =
        score_column(&run(&["-q", "score", ms, "--queries", later.to_str().unwrap(), "--threads", "2"]));
    json!({
        "losses": losses,
        "best_weights_xxh3": xxh3(&m.join("model.safetensors")),
        "final_weights_and_memory_xxh3": xxh3(&log.join("rank0.safetensors")),
        "memory_xxh3": if memory.exists() { json!(xxh3(&memory)) } else { Value::Null },
        "val": [report["val"]["ap"], report["val"]["auc"]],
        "test": [report["test"]["ap"], report["test"]["auc"]],
        "rank": rank_metrics(&rank),
        "scores": scores,
        "recommend_top5": top,
        "scores_after_ingest": after,
    })
}

/// MRR, Hits@1 and Hits@10 of an `eval --protocol rank --json` report.
fn rank_metrics(v: &Value) -> Value {
    let m = &v["metrics"]["rank"];
    assert!(m["mrr"].is_number() && m["queries"].as_u64() > Some(0), "no MRR in {v}");
    json!([m["mrr"], m["hits1"], m["hits10"]])
}

#[test]
fn model_outputs_equal_the_golden_record_bit_for_bit() {
    let tmp = tempfile::tempdir().unwrap();
    let (file, rows) = slice(tmp.path());
    let last = rows.last().unwrap().2;
    let g = tmp.path().join("g");
    let gs = g.to_str().unwrap();
    run(&["-q", "ingest", file.to_str().unwrap(), "-o", gs]);
    let neg = tmp.path().join("test.neg");
    let ns = neg.to_str().unwrap();
    run(&["-q", "negatives", gs, "--k", "20", "--seed", "1", "-o", ns]);
    // Queries after the last event: pairs seen in the data, reversed, and unseen.
    let t1 = last + 10.0;
    let mut q = String::from("src,dst,time\n");
    for (s, d, _) in rows.iter().rev().step_by(97).take(12) {
        q.push_str(&format!("{s},{d},{t1}\n{d},{s},{t1}\n"));
    }
    q.push_str(&format!("1,2,{t1}\n3,4,{}\n", t1 + 5.0));
    let qf = tmp.path().join("q.csv");
    std::fs::write(&qf, q).unwrap();
    let new_events = tmp.path().join("new.txt");
    std::fs::write(
        &new_events,
        format!("1 2 {}\n9000 2 {}\n1 9000 {}\n", last + 200.0, last + 300.0, last + 300.0),
    )
    .unwrap();

    let mut got = serde_json::Map::new();
    for model in MODELS {
        let v = outputs(model, tmp.path(), gs, ns, qf.to_str().unwrap(), new_events.to_str().unwrap(), last);
        got.insert(model.to_string(), v);
    }
    let got = Value::Object(got);
    if std::env::var_os("LINKCAST_WRITE_GOLDEN").is_some() {
        std::fs::create_dir_all(Path::new(GOLDEN).parent().unwrap()).unwrap();
        std::fs::write(GOLDEN, serde_json::to_string_pretty(&got).unwrap() + "\n").unwrap();
        eprintln!("wrote {GOLDEN}");
        return;
    }
    let want: Value = serde_json::from_slice(&std::fs::read(GOLDEN).unwrap()).unwrap();
    for model in MODELS {
        for (key, w) in want[model].as_object().unwrap() {
            let g = &got[model][key];
            assert_eq!(g, w, "{model}: {key} differs from the golden record\n got  {g}\n want {w}");
        }
    }
}
