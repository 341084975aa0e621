//! `linkcast train --distributed`: two ranks on this machine (c10d over loopback)
//! against one process on the same global batches.

use std::path::Path;

use crate::cli::linkcast;

const BUNDLED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/datasets/collegemsg/CollegeMsg.txt.gz");

fn small_tgn() -> Vec<&'static str> {
    vec![
        "--epochs",
        "2",
        "--patience",
        "5",
        "--max-batches",
        "4",
        "--batch-size",
        "200",
        "--memory-dim",
        "8",
        "--time-dim",
        "8",
        "--emb-dim",
        "8",
        "--threads",
        "1",
        "--device",
        "cpu",
        "--quiet",
    ]
}

fn read_log(dir: &Path, rank: usize) -> serde_json::Value {
    let p = dir.join(format!("rank{rank}.json"));
    serde_json::from_slice(&std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))).unwrap()
}

/// For every model family (through the model interface): the 2-rank run ends with
/// identical weights and state on both ranks, its loss per step is the one-process
/// loss within 5e-5 relative, and each rank scored its half of every batch while
/// both absorbed all of it (stateful models).
#[test]
fn two_ranks_match_one_process() {
    for model in ["tgn", "jodie", "dyrep", "tgat", "graphmixer", "tpnet", "tpnet-lite", "dygformer"] {
        two_ranks_match_one_process_for(model);
    }
}

fn two_ranks_match_one_process_for(model: &str) {
    let stateful = !matches!(model, "tgat" | "graphmixer" | "dygformer");
    // Small pair models too: few neighbour tokens, narrow projections.
    let extra: &[&str] = match model {
        m if m.starts_with("tpnet") => &["--neighbors", "5", "--projection-dim", "16"],
        "dygformer" => &["--neighbors", "7", "--layers", "1", "--dropout", "0"],
        _ => &[],
    };
    let tmp = tempfile::tempdir().unwrap();
    let (one, two) = (tmp.path().join("one"), tmp.path().join("two"));
    let (log1, log2) = (tmp.path().join("log1"), tmp.path().join("log2"));
    let out = linkcast()
        .args(["train", BUNDLED, "-o"])
        .arg(&one)
        .args(small_tgn())
        .args(["--model", model])
        .args(extra)
        .arg("--step-log")
        .arg(&log1)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let started = std::time::Instant::now();
    let out = linkcast()
        .args(["train", BUNDLED, "-o"])
        .arg(&two)
        .args(small_tgn())
        .args(["--model", model])
        .args(extra)
        .args(["--distributed", "--nproc", "2", "--json", "--step-log"])
        .env("LINKCAST_DIST_TIMEOUT", "120")
        .arg(&log2)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let wall = started.elapsed().as_secs_f64();
    // Rank 0 wrote the model directory and the report.
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!((0.0..=1.0).contains(&v["test"]["ap"].as_f64().unwrap()));
    assert!(two.join("model.safetensors").is_file());

    let w0 = std::fs::read(log2.join("rank0.safetensors")).unwrap();
    let w1 = std::fs::read(log2.join("rank1.safetensors")).unwrap();
    assert!(w0.len() > 1000);
    assert!(w0 == w1, "{model}: the two ranks ended with different weights or state");

    let single = read_log(&log1, 0);
    let (r0, r1) = (read_log(&log2, 0), read_log(&log2, 1));
    let s = single["steps"].as_array().unwrap();
    let (a, b) = (r0["steps"].as_array().unwrap(), r1["steps"].as_array().unwrap());
    assert_eq!(s.len(), 8, "{model}: 2 epochs x 4 batches");
    assert_eq!((a.len(), b.len()), (s.len(), s.len()));
    let mut worst = 0.0f64;
    for ((x, y), z) in s.iter().zip(a).zip(b) {
        assert_eq!(x["events"], y["events"]);
        assert_eq!(x["events"], z["events"]);
        // Rank 0 scored the first half of the batch, rank 1 the rest; both absorbed all.
        let ev = x["events"].as_array().unwrap();
        let (lo, hi) = (ev[0].as_u64().unwrap(), ev[1].as_u64().unwrap());
        assert_eq!(y["scored"][0].as_u64().unwrap(), lo);
        assert_eq!(y["scored"][1], z["scored"][0]);
        assert_eq!(z["scored"][1].as_u64().unwrap(), hi);
        let absorbed = if stateful { hi - lo } else { 0 };
        assert_eq!(y["absorbed"].as_u64().unwrap(), absorbed, "{model}");
        assert_eq!(z["absorbed"].as_u64().unwrap(), absorbed, "{model}");
        // The all-reduced loss is the same number on both ranks.
        assert_eq!(y["loss"], z["loss"]);
        let (l1, l2) = (x["loss"].as_f64().unwrap(), y["loss"].as_f64().unwrap());
        let rel = (l1 - l2).abs() / l1.abs();
        worst = worst.max(rel);
        // Float32 rounding of gradients summed over two halves instead of one batch,
        // carried through the Adam steps: TGN drifts by ~1e-7 over the 8 steps,
        // GraphMixer (layer norms over wider activations) by up to ~1e-5.
        assert!(rel <= 5e-5, "{model}: step {x} vs {y}: relative difference {rel:e}");
        // Something crossed the sockets: at least the gradient buffer's share.
        assert!(y["sent_bytes"].as_u64().unwrap() > 0 && z["received_bytes"].as_u64().unwrap() > 0);
    }
    eprintln!(
        "{model}, 2 ranks: {wall:.1} s wall; worst relative loss difference {worst:e}; rank 0 summary {}; one process {}",
        r0["summary"], single["summary"]
    );
}

#[test]
fn distributed_without_a_group_says_how_to_start_one() {
    let tmp = tempfile::tempdir().unwrap();
    let out = linkcast()
        .args(["train", BUNDLED, "-o"])
        .arg(tmp.path().join("m"))
        .args(small_tgn())
        .arg("--distributed")
        .env_remove("RANK")
        .env_remove("WORLD_SIZE")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("torchrun") && err.contains("--nproc"), "{err}");
}

/// The launcher users know: `torchrun --no-python` (its agent serves the rendezvous
/// store). Skipped where the project venv has no torchrun.
#[test]
fn torchrun_starts_the_ranks() {
    let torchrun = Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/torchrun");
    if !torchrun.is_file() {
        eprintln!("skipped: no {}", torchrun.display());
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let log = tmp.path().join("log");
    let out = std::process::Command::new(&torchrun)
        .args(["--nproc-per-node", "2", "--standalone", "--no-python", env!("CARGO_BIN_EXE_linkcast")])
        .args(["train", BUNDLED, "-o"])
        .arg(tmp.path().join("m"))
        .args(small_tgn())
        .args(["--distributed", "--step-log"])
        .env("LINKCAST_DIST_TIMEOUT", "120")
        .arg(&log)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let w0 = std::fs::read(log.join("rank0.safetensors")).unwrap();
    let w1 = std::fs::read(log.join("rank1.safetensors")).unwrap();
    assert!(w0 == w1, "the two ranks ended with different weights or memory");
    assert_eq!(read_log(&log, 1)["world"], 2);
}
