//! `linkcast train` through the real binary: a short run writes a complete model
//! directory; bad input gets a clear error.

use crate::cli::linkcast;

const BUNDLED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/datasets/collegemsg/CollegeMsg.txt.gz");

fn small_tgn() -> Vec<&'static str> {
    vec![
        "--epochs",
        "1",
        "--max-batches",
        "3",
        "--memory-dim",
        "8",
        "--time-dim",
        "8",
        "--emb-dim",
        "8",
        "--threads",
        "1",
    ]
}

#[test]
fn train_writes_a_complete_model_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let m = tmp.path().join("m");
    let out = linkcast()
        .args(["train", BUNDLED, "-o"])
        .arg(&m)
        .args(small_tgn())
        .args(["--device", "cpu", "--json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let ap = v["test"]["ap"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&ap));
    for f in [
        "config.json",
        "model.safetensors",
        "memory.safetensors",
        "state.json",
        "ids.tsv",
        "metrics.jsonl",
        "training.png",
        "results.json",
    ] {
        assert!(m.join(f).is_file(), "{f} missing");
    }
    let png = std::fs::read(m.join("training.png")).unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    let ids = std::fs::read_to_string(m.join("ids.tsv")).unwrap();
    assert_eq!(ids.lines().count(), 1899);
    let cfg: serde_json::Value =
        serde_json::from_slice(&std::fs::read(m.join("config.json")).unwrap()).unwrap();
    assert_eq!(cfg["model"]["kind"], "tgn");
    assert_eq!(cfg["model"]["memory_dim"], 8);
    // dt_max = time of the last training event (row 41,884 of the time-sorted file at
    // 70/15/15) minus the first timestamp: 1085875766 - 1082040961, computed with
    // `sorted(float(l.split()[2]) for l in gzip.open(...))` in Python.
    assert_eq!(cfg["model"]["dt_max"], 3834805.0);
    let state: serde_json::Value =
        serde_json::from_slice(&std::fs::read(m.join("state.json")).unwrap()).unwrap();
    assert_eq!(state["watermark_events"], 59_835, "the final memory absorbed every event");

    // The output exists: refused without --force or --resume.
    let out = linkcast().args(["train", BUNDLED, "-o"]).arg(&m).args(small_tgn()).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("already exists"));

    // Resuming it as another model type is refused with both names.
    let out = linkcast()
        .args(["train", BUNDLED, "-o"])
        .arg(&m)
        .args(["--model", "graphmixer", "--resume", "--epochs", "2", "--threads", "1"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("tgn") && err.contains("graphmixer"), "{err}");
}

#[test]
fn train_rejects_bad_input_clearly() {
    let tmp = tempfile::tempdir().unwrap();
    // Every event at one timestamp: the split cannot cut a tie group, so validation is empty.
    let flat = tmp.path().join("flat.csv");
    std::fs::write(&flat, "1,2,5\n2,3,5\n3,1,5\n1,3,5\n").unwrap();
    let out = linkcast()
        .args(["train"])
        .arg(&flat)
        .arg("-o")
        .arg(tmp.path().join("a"))
        .args(small_tgn())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("empty"), "{err}");

    // A missing input is named.
    let out =
        linkcast().args(["train", "no/such/file.csv", "-o"]).arg(tmp.path().join("b")).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no/such/file.csv"));

    // CUDA requested where there is none: a clear error (on a GPU machine it trains).
    if !tch_cuda_available() {
        let out = linkcast()
            .args(["train", BUNDLED, "-o"])
            .arg(tmp.path().join("c"))
            .args(small_tgn())
            .args(["--device", "cuda"])
            .output()
            .unwrap();
        assert!(!out.status.success());
        assert!(String::from_utf8_lossy(&out.stderr).contains("CUDA is not available"));
    }

    // A bad model name lists the choices.
    let out = linkcast()
        .args(["train", BUNDLED, "-o"])
        .arg(tmp.path().join("d"))
        .args(["--model", "gat"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("graphmixer"));
}

fn tch_cuda_available() -> bool {
    let out = linkcast().args(["doctor", "--json"]).output().unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    v["cuda_available"].as_bool().unwrap_or(false)
}

/// TGN's masking protocol end to end: train with `--mask`, evaluate with the same mask;
/// the model sees the masked nodes as new, with the same subsets as a baseline.
#[test]
fn masked_training_and_evaluation_agree_on_the_new_nodes() {
    let tmp = tempfile::tempdir().unwrap();
    let g = tmp.path().join("g");
    assert!(linkcast().args(["ingest", BUNDLED, "-o"]).arg(&g).output().unwrap().status.success());
    let m = tmp.path().join("m");
    let out = linkcast()
        .args(["train"])
        .arg(&g)
        .arg("-o")
        .arg(&m)
        .args(small_tgn())
        .args(["--mask", "0.1", "--mask-seed", "3"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let cfg: serde_json::Value =
        serde_json::from_slice(&std::fs::read(m.join("config.json")).unwrap()).unwrap();
    assert!(cfg["data"]["mask"]["nodes"].as_u64().unwrap() > 0);
    assert!(cfg["data"]["mask"]["events_removed"].as_u64().unwrap() > 0);
    let subsets = |target: &[&str]| {
        let out = linkcast()
            .arg("eval")
            .args(target)
            .arg(&g)
            .args(["--mask", "0.1", "--mask-seed", "3", "--json", "--threads", "1"])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let ap = &v["metrics"]["ap"];
        (ap["transductive"]["positives"].as_u64().unwrap(), ap["inductive"]["positives"].as_u64().unwrap())
    };
    let model = subsets(&[m.to_str().unwrap()]);
    let base = subsets(&["--baseline", "popularity"]);
    assert_eq!(model, base, "model (masked view) and baseline (masked training) disagree on new nodes");
    assert!(model.1 > 0);
}

/// `bench train` reports the phases of the training time, and with `--op-profile`
/// where libtorch spent it: real operators (the attention's batched products and
/// the linear layers' matrix products), self times that add up to no more than
/// the training time, and the rest reported as outside libtorch.
#[test]
fn bench_train_reports_phases_and_an_operator_profile() {
    let tmp = tempfile::tempdir().unwrap();
    let g = tmp.path().join("g");
    assert!(linkcast().args(["ingest", BUNDLED, "-o"]).arg(&g).output().unwrap().status.success());
    let out = linkcast()
        .args(["-q", "bench", "train"])
        .arg(&g)
        .args(["--batches", "5", "--score-pairs", "100", "--threads", "1", "--op-profile", "8"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let secs = r["train_seconds"].as_f64().unwrap();
    let p = &r["phases"];
    let sum: f64 = ["wait_batch", "forward", "backward", "step", "absorb", "other"]
        .iter()
        .map(|k| p[k].as_f64().unwrap())
        .sum();
    assert!(p["forward"].as_f64().unwrap() > 0.0 && p["backward"].as_f64().unwrap() > 0.0);
    assert!((sum - secs).abs() <= 0.05 * secs + 1e-3, "phases {sum} vs train time {secs}");
    let op = &r["op_profile"];
    let top = op["top"].as_array().unwrap();
    assert_eq!(top.len(), 8);
    let keys: Vec<&str> = top.iter().map(|s| s["key"].as_str().unwrap()).collect();
    assert!(keys.iter().any(|k| *k == "aten::bmm" || *k == "aten::mm" || *k == "aten::addmm"), "{keys:?}");
    let inside = op["libtorch_self_s"].as_f64().unwrap();
    assert!(inside > 0.0 && inside <= secs * 1.01, "libtorch {inside} s of {secs} s");
    let outside = op["outside_libtorch_s"].as_f64().unwrap();
    assert!((inside + outside - secs).abs() < 1e-6 * secs.max(1.0) + 1e-9);
    let cats: f64 = op["categories"].as_array().unwrap().iter().map(|c| c["self_s"].as_f64().unwrap()).sum();
    assert!((cats - inside).abs() < 1e-6, "categories {cats} vs total {inside}");
    // Without the flag there is no profile.
    let plain = linkcast()
        .args(["-q", "bench", "train"])
        .arg(&g)
        .args(["--batches", "2", "--score-pairs", "10", "--threads", "1"])
        .output()
        .unwrap();
    let r: serde_json::Value = serde_json::from_slice(&plain.stdout).unwrap();
    assert!(r.get("op_profile").is_none());
}
