//! Inputs as users have them, through the real binary: a file in Bitcoin OTC's
//! layout (`SOURCE,TARGET,RATING,TIME`, no header) given with no flags is refused
//! by `train` and `eval` with the right `--time` named, and features at their raw
//! scale are standardised with statistics of the training period only.

use std::path::Path;

use serde_json::Value;

use crate::cli::linkcast;

/// `n` rows `src,dst,rating,time`: ratings in -10..=10, times increasing (ties of
/// three), 60 nodes. `edit(i, rating)` may change row `i`'s rating.
fn bitcoin_like(n: usize, edit: &dyn Fn(usize, i64) -> i64) -> String {
    let mut x: u64 = 99;
    let mut s = String::new();
    for i in 0..n {
        x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        let rating = edit(i, ((x >> 33) % 21) as i64 - 10);
        s += &format!(
            "{},{},{rating},{}\n",
            (x >> 20) % 60,
            (x >> 42) % 60,
            1_289_241_911 + (i as u64 / 3) * 17
        );
    }
    s
}

fn small() -> Vec<&'static str> {
    vec!["--epochs", "1", "--max-batches", "2", "--memory-dim", "8", "--time-dim", "8", "--emb-dim", "8"]
        .into_iter()
        .chain(["--threads", "1", "--device", "cpu", "--batch-size", "100"])
        .collect()
}

fn run(args: &[&str], paths: &[&Path]) -> std::process::Output {
    let mut c = linkcast();
    c.args(args);
    for p in paths {
        c.arg(p);
    }
    c.output().unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn bitcoin_layout_without_flags_is_refused_and_names_time_3() {
    let tmp = tempfile::tempdir().unwrap();
    let f = tmp.path().join("otc.csv");
    std::fs::write(&f, bitcoin_like(1500, &|_, r| r)).unwrap();
    let (g, m) = (tmp.path().join("g"), tmp.path().join("m"));

    // train on the file: refused, before any training, with the column to use.
    let out = run(&["train"], &[&f, Path::new("-o"), &m]);
    let err = text(&out.stderr);
    assert!(!out.status.success() && !m.exists(), "{err}");
    assert!(
        err.contains("the time column col2 steps back in time") && err.contains("pass --time 3"),
        "{err}"
    );
    assert!(err.contains("--allow-unsorted-time"), "{err}");

    // ingest writes the graph, says so plainly and keeps the verdict.
    let out = run(&["ingest"], &[&f, Path::new("-o"), &g]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let summary = text(&out.stdout);
    assert!(
        summary.contains("WARNING: the time column col2") && summary.contains("pass --time 3"),
        "{summary}"
    );
    let meta: Value = serde_json::from_slice(&std::fs::read(g.join("meta.json")).unwrap()).unwrap();
    let order = &meta["provenance"]["ingest"]["time_order"];
    assert_eq!(
        (order["out_of_order"].as_bool(), order["suggestion"]["flag"].as_str()),
        (Some(true), Some("--time 3"))
    );

    // The graph directory is refused by train and eval the same way ...
    let out = run(&["train"], &[&g, Path::new("-o"), &m]);
    let err = text(&out.stderr);
    assert!(
        !out.status.success() && err.contains("pass --time 3") && err.contains("ingest the file again"),
        "{err}"
    );
    let out = run(&["eval", "--baseline", "edgebank"], &[&g]);
    assert!(!out.status.success() && text(&out.stderr).contains("pass --time 3"));
    // ... unless accepted.
    let out = run(&["eval", "--baseline", "edgebank", "--allow-unsorted-time", "--json"], &[&g]);
    assert!(out.status.success(), "{}", text(&out.stderr));

    // With the flag it names, the file trains.
    let out = run(&["train", "--time", "3", "--json"], &[&f, Path::new("-o"), &m]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = run(&["train", "--allow-unsorted-time", "-q", "--force"], &[&f, Path::new("-o"), &m]);
    assert!(out.status.success(), "{}", text(&out.stderr));
}

/// Train on `csv` with `extra` flags; the saved model config.
fn trained_config(dir: &Path, name: &str, csv: &str, extra: &[&str]) -> Value {
    let f = dir.join(format!("{name}.csv"));
    std::fs::write(&f, csv).unwrap();
    let m = dir.join(name);
    let mut args = vec!["train", "--time", "3", "--features", "2", "--json"];
    args.extend(small());
    args.extend(extra);
    let out = run(&args, &[&f, Path::new("-o"), &m]);
    assert!(out.status.success(), "{name}: {}", text(&out.stderr));
    serde_json::from_slice(&std::fs::read(m.join("config.json")).unwrap()).unwrap()
}

#[test]
fn feature_statistics_come_from_the_training_period() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let n = 1500;
    let base = trained_config(d, "base", &bitcoin_like(n, &|_, r| r), &[]);
    let stats = &base["model"]["feature_scaling"]["edge"];
    let train_end = base["data"]["split"]["train"][1].as_u64().unwrap();
    assert_eq!(stats["rows"].as_u64(), Some(train_end), "over the training part of the split");
    let (mean, std) = (stats["mean"][0].as_f64().unwrap(), stats["std"][0].as_f64().unwrap());
    assert!(mean.abs() < 1.5 && (5.0..7.0).contains(&std), "ratings -10..10: mean {mean}, std {std}");

    // A validation or test event's feature changes nothing; a training event's does.
    let late = trained_config(d, "late", &bitcoin_like(n, &|i, r| if i + 1 == n { 1000 } else { r }), &[]);
    assert_eq!(late["model"]["feature_scaling"], base["model"]["feature_scaling"]);
    let val = trained_config(d, "val", &bitcoin_like(n, &|i, r| if i == 1200 { -999 } else { r }), &[]);
    assert_eq!(val["model"]["feature_scaling"], base["model"]["feature_scaling"]);
    let early = trained_config(d, "early", &bitcoin_like(n, &|i, r| if i == 5 { 1000 } else { r }), &[]);
    assert_ne!(early["model"]["feature_scaling"], base["model"]["feature_scaling"]);

    // "The training period" is what the trainer trains on: a custom split, a mask.
    let split = trained_config(d, "split", &bitcoin_like(n, &|_, r| r), &["--split", "0.5,0.25,0.25"]);
    let rows = split["model"]["feature_scaling"]["edge"]["rows"].as_u64().unwrap();
    assert_eq!(Some(rows), split["data"]["split"]["train"][1].as_u64());
    assert!(rows < train_end);
    let masked = trained_config(d, "masked", &bitcoin_like(n, &|_, r| r), &["--mask", "0.3"]);
    let rows = masked["model"]["feature_scaling"]["edge"]["rows"].as_u64().unwrap();
    assert_eq!(Some(rows), masked["data"]["split"]["train"][1].as_u64());
    assert!(rows < train_end, "the masked nodes' training events are not in the statistics");

    // Three standard deviations map to +-1 unless --feature-sigmas says otherwise.
    assert_eq!(base["model"]["feature_scaling"]["sigmas"].as_f64(), Some(3.0));
    let one = trained_config(d, "one", &bitcoin_like(n, &|_, r| r), &["--feature-sigmas", "1"]);
    assert_eq!(one["model"]["feature_scaling"]["sigmas"].as_f64(), Some(1.0));
    assert_eq!(one["model"]["feature_scaling"]["edge"], base["model"]["feature_scaling"]["edge"]);

    // Off: no statistics, features as stored.
    let off = trained_config(d, "off", &bitcoin_like(n, &|_, r| r), &["--feature-scaling", "none"]);
    assert!(off["model"].get("feature_scaling").is_none());
}

/// `eval` scores with the statistics saved in the model directory: the same model
/// with them removed from its config.json (and its manifest rewritten) scores
/// differently.
#[test]
fn eval_applies_the_saved_statistics() {
    let tmp = tempfile::tempdir().unwrap();
    let (f, g, m) = (tmp.path().join("otc.csv"), tmp.path().join("g"), tmp.path().join("m"));
    std::fs::write(&f, bitcoin_like(1500, &|_, r| r)).unwrap();
    let out = run(&["ingest", "--time", "3", "--features", "2"], &[&f, Path::new("-o"), &g]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let mut args = vec!["train"];
    args.extend(small());
    let out = run(&args, &[&g, Path::new("-o"), &m]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let ap = || {
        let out = run(&["eval", "--threads", "1", "--device", "cpu", "--json"], &[&m, &g]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        v["metrics"]["ap"]["all"]["ap"].as_f64().unwrap()
    };
    let scaled = ap();
    assert_eq!(scaled.to_bits(), ap().to_bits());
    let path = m.join("config.json");
    let mut cfg: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    assert!(cfg["model"]["feature_scaling"]["edge"]["mean"].is_array());
    cfg["model"].as_object_mut().unwrap().remove("feature_scaling");
    std::fs::write(&path, serde_json::to_vec(&cfg).unwrap()).unwrap();
    // A hand-edited directory no longer matches its manifest and eval refuses it;
    // the user's way back is to drop the manifest and have verify write a new one.
    let out = run(&["eval", "--threads", "1", "--device", "cpu", "--json"], &[&m, &g]);
    assert!(!out.status.success() && text(&out.stderr).contains("manifest"), "{}", text(&out.stderr));
    std::fs::remove_file(m.join("manifest.xxh3")).unwrap();
    let out = run(&["verify", "--write-manifest"], &[&m]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_ne!(ap().to_bits(), scaled.to_bits(), "eval ignored the saved statistics");
}
