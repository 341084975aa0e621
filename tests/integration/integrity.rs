//! Model directories and live states through the real binary: `verify MODEL_DIR`
//! checks the model and its live state, a damaged file is refused by `score` and
//! `verify` with its name, a directory from before manifests loads with one warning
//! line and `verify --write-manifest` adds a manifest (never over damage).

use std::path::Path;

use crate::cli::linkcast;

const BUNDLED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/datasets/collegemsg/CollegeMsg.txt.gz");
const LAST: f64 = 1098777142.0;

fn run(args: &[&str]) -> (bool, String, String) {
    let out = linkcast().args(args).output().unwrap();
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (out.status.success(), text(&out.stdout), text(&out.stderr))
}

fn ok(args: &[&str]) -> (String, String) {
    let (good, so, se) = run(args);
    assert!(good, "linkcast {args:?} failed: {se}");
    (so, se)
}

fn fails(args: &[&str]) -> String {
    let (good, _, se) = run(args);
    assert!(!good, "linkcast {args:?} should fail");
    assert!(!se.contains("panicked"), "{se}");
    se
}

fn flip(path: &Path, at: usize) -> Vec<u8> {
    let good = std::fs::read(path).unwrap();
    let mut bad = good.clone();
    bad[at] ^= 0x01;
    std::fs::write(path, bad).unwrap();
    good
}

#[test]
fn verify_model_dirs_refuse_damage_and_upgrade_old_ones() {
    let tmp = tempfile::tempdir().unwrap();
    let m = tmp.path().join("m");
    let ms = m.to_str().unwrap();
    ok(&["-q", "train", BUNDLED, "-o", ms, "--epochs", "1", "--max-batches", "3", "--memory-dim", "8"]);
    let ev = tmp.path().join("new.txt");
    std::fs::write(&ev, format!("1 2 {}\n", LAST + 200.0)).unwrap();
    ok(&["-q", "ingest-events", ms, ev.to_str().unwrap()]);
    let (so, _) = ok(&["verify", ms]);
    assert!(so.contains("OK    model.safetensors") && so.contains("OK    scorer.safetensors"), "{so}");
    assert_eq!(so.matches("all checksums and contents match").count(), 2, "model and live state: {so}");
    let q = tmp.path().join("q.csv");
    std::fs::write(&q, format!("src,dst,time\n1,2,{}\n", LAST + 300.0)).unwrap();
    let score = ["score", ms, "--queries", q.to_str().unwrap()];
    let (_, se) = ok(&score);
    assert!(!se.contains("WARN"), "{se}");

    // A flipped byte in the weights: score and verify refuse, naming the file.
    let w = m.join("model.safetensors");
    let good = flip(&w, 100);
    let e = fails(&score);
    assert!(e.contains("model.safetensors") && e.contains("does not match"), "{e}");
    let e = fails(&["verify", ms]);
    assert!(e.contains("model.safetensors"), "{e}");
    let e = fails(&["verify", ms, "--write-manifest"]);
    assert!(e.contains("refusing"), "{e}");
    std::fs::write(&w, &good).unwrap();
    // In the live state's memory: refused too.
    let mem = m.join("live/scorer.safetensors");
    let good = flip(&mem, 20);
    let e = fails(&score);
    assert!(e.contains("scorer.safetensors"), "{e}");
    std::fs::write(&mem, &good).unwrap();

    // Before manifests: one warning line per directory, then --write-manifest.
    std::fs::remove_file(m.join("manifest.xxh3")).unwrap();
    std::fs::remove_file(m.join("live/manifest.xxh3")).unwrap();
    let (_, se) = ok(&score);
    let warns: Vec<&str> = se.lines().filter(|l| l.contains("no manifest.xxh3")).collect();
    assert_eq!(warns.len(), 2, "{se}");
    let (so, _) = ok(&["verify", ms]);
    assert!(so.contains("WARN") && so.contains("--write-manifest"), "{so}");
    // Damage the old directory's JSON: --write-manifest refuses to vouch for it.
    let state = m.join("state.json");
    let good = std::fs::read(&state).unwrap();
    std::fs::write(&state, &good[..good.len() / 2]).unwrap();
    let e = fails(&["verify", ms, "--write-manifest"]);
    assert!(e.contains("state.json"), "{e}");
    std::fs::write(&state, &good).unwrap();
    let (so, _) = ok(&["verify", ms, "--write-manifest"]);
    assert_eq!(so.matches("wrote manifest.xxh3").count(), 2, "{so}");
    let (so, _) = ok(&["verify", ms]);
    assert_eq!(so.matches("all checksums and contents match").count(), 2, "{so}");
    let (_, se) = ok(&score);
    assert!(!se.contains("no manifest"), "{se}");
}
