//! `score`, `recommend` and `ingest-events` through the real binary, on a tiny TGN
//! trained on the bundled CollegeMsg (last event at time 1098777142).

use std::path::Path;

use crate::cli::linkcast;

const BUNDLED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/datasets/collegemsg/CollegeMsg.txt.gz");
const LAST: f64 = 1098777142.0;

fn train_tiny(dir: &Path) {
    let out = linkcast()
        .args(["-q", "train", BUNDLED, "-o"])
        .arg(dir)
        .args(["--epochs", "1", "--max-batches", "3", "--memory-dim", "8", "--time-dim", "8"])
        .args(["--emb-dim", "8", "--threads", "1", "--device", "cpu"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

fn ok(args: &[&str]) -> (String, String) {
    let out = linkcast().args(args).output().unwrap();
    let (so, se) = (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    );
    assert!(out.status.success(), "linkcast {args:?} failed: {se}");
    (so, se)
}

fn fails(args: &[&str]) -> String {
    let out = linkcast().args(args).output().unwrap();
    assert!(!out.status.success(), "linkcast {args:?} should fail");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn scores_csv(text: &str) -> Vec<(String, String, f64)> {
    text.lines()
        .skip(1)
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            (f[0].to_string(), f[1].to_string(), f[3].parse().unwrap())
        })
        .collect()
}

#[test]
fn score_recommend_and_ingest_events_round_trip() {
    let tmp = tempfile::tempdir().unwrap();
    let m = tmp.path().join("m");
    train_tiny(&m);
    let ms = m.to_str().unwrap();
    let q = tmp.path().join("q.csv");
    let t1 = LAST + 100.0;
    std::fs::write(&q, format!("src,dst,time\n9,1,{t1}\n1,9,{t1}\n1,2,{t1}\n")).unwrap();
    let qs = q.to_str().unwrap();

    // Scores in input order with the input's ids; CSV on stdout and Parquet by -o agree.
    let (csv, err) = ok(&["score", ms, "--queries", qs]);
    assert!(err.contains("rows/s"), "{err}");
    let rows = scores_csv(&csv);
    let ids: Vec<(&str, &str)> = rows.iter().map(|r| (r.0.as_str(), r.1.as_str())).collect();
    assert_eq!(ids, [("9", "1"), ("1", "9"), ("1", "2")]);
    assert!(rows.iter().all(|r| (0.0..=1.0).contains(&r.2)));
    let pq = tmp.path().join("s.parquet");
    ok(&["-q", "score", ms, "--queries", qs, "-o", pq.to_str().unwrap()]);
    let (again, _) = ok(&["score", ms, "--queries", pq.to_str().unwrap()]);
    assert_eq!(scores_csv(&again), rows, "the Parquet output reads back as the same queries");

    // recommend's scores are score's scores for the same pairs.
    let (j, _) = ok(&["recommend", ms, "--src", "1", "--at", &t1.to_string(), "--top-k", "3", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&j).unwrap();
    let res = v["results"].as_array().unwrap();
    assert_eq!(res.len(), 3);
    let q2 = tmp.path().join("q2.csv");
    let body: String = res.iter().map(|r| format!("1,{},{t1}\n", r["dst"].as_str().unwrap())).collect();
    std::fs::write(&q2, format!("src,dst,time\n{body}")).unwrap();
    let (csv2, _) = ok(&["score", ms, "--queries", q2.to_str().unwrap()]);
    for (r, s) in res.iter().zip(scores_csv(&csv2)) {
        assert_eq!(r["score"].as_f64().unwrap(), s.2);
    }

    // Retrieve then rerank: the top-k among at most N retrieved candidates, each
    // with the score `score` gives it; a budget covering every destination ranks
    // like the exhaustive query; a budget with a candidate list is refused.
    let at = t1.to_string();
    let (j, _) =
        ok(&["recommend", ms, "--src", "1", "--at", &at, "--top-k", "3", "--retrieve", "5", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&j).unwrap();
    let few = v["results"].as_array().unwrap();
    assert_eq!(few.len(), 3);
    assert!(few.windows(2).all(|w| w[0]["score"].as_f64() >= w[1]["score"].as_f64()));
    let (j, _) =
        ok(&["recommend", ms, "--src", "1", "--at", &at, "--top-k", "3", "--retrieve", "1000000", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&j).unwrap();
    let all: Vec<f64> =
        v["results"].as_array().unwrap().iter().map(|r| r["score"].as_f64().unwrap()).collect();
    assert!(all.len() == 3 && all[0] >= few[0]["score"].as_f64().unwrap());
    let e = fails(&["recommend", ms, "--src", "1", "--at", &at, "--retrieve", "5", "--candidates", qs]);
    assert!(e.contains("--retrieve") && e.contains("--candidates"), "{e}");

    // Many sources: each answer is its own --src run's (same destinations, scores
    // within 1e-6), in query order; CSV on stdout and Parquet by -o agree; a bad
    // row is refused naming the file and line, and nothing is written.
    let src_file = tmp.path().join("asks.csv");
    let t2 = LAST + 150.0;
    std::fs::write(&src_file, format!("src,at\n1,{t1}\n9,{t2}\n2,{t1}\n1,{t2}\n")).unwrap();
    let sf = src_file.to_str().unwrap();
    let (csv, err) = ok(&["recommend", ms, "--sources", sf, "--top-k", "4"]);
    assert!(err.contains("queries/s"), "{err}");
    let rows: Vec<Vec<String>> =
        csv.lines().skip(1).map(|l| l.split(',').map(String::from).collect()).collect();
    assert_eq!(csv.lines().next(), Some("src,time,rank,dst,score,cold_src"));
    assert_eq!(rows.len(), 16);
    for (i, (src, t)) in [("1", t1), ("9", t2), ("2", t1), ("1", t2)].iter().enumerate() {
        let (j, _) = ok(&["recommend", ms, "--src", src, "--at", &t.to_string(), "--top-k", "4", "--json"]);
        let v: serde_json::Value = serde_json::from_str(&j).unwrap();
        for (r, want) in rows[i * 4..i * 4 + 4].iter().zip(v["results"].as_array().unwrap()) {
            assert_eq!((r[0].as_str(), r[3].as_str()), (*src, want["dst"].as_str().unwrap()), "query {i}");
            assert!((r[4].parse::<f64>().unwrap() - want["score"].as_f64().unwrap()).abs() <= 1e-6);
        }
    }
    let top_pq = tmp.path().join("top.parquet");
    ok(&["-q", "recommend", ms, "--sources", sf, "--top-k", "4", "-o", top_pq.to_str().unwrap()]);
    assert!(std::fs::metadata(&top_pq).unwrap().len() > 0);
    std::fs::write(&src_file, format!("src,at\n1,{t1}\n2,soon\n")).unwrap();
    let bad_out = tmp.path().join("bad.csv");
    let e = fails(&["recommend", ms, "--sources", sf, "-o", bad_out.to_str().unwrap()]);
    assert!(e.contains("asks.csv:3") && e.contains("time"), "{e}");
    assert!(!bad_out.exists());
    std::fs::write(&src_file, format!("src,at\n1,{t1}\n2,{LAST}\n")).unwrap();
    let e = fails(&["recommend", ms, "--sources", sf]);
    assert!(e.contains("source 2 (line 3)") && e.contains("watermark"), "{e}");
    let e = fails(&["recommend", ms, "--sources", sf, "--src", "1"]);
    assert!(e.contains("--src") && e.contains("--sources"), "{e}");

    // Unknown ids: refused by default, cold on request.
    std::fs::write(&q, format!("src,dst,time\n1,2,{t1}\nstranger,2,{t1}\n")).unwrap();
    let e = fails(&["score", ms, "--queries", qs]);
    assert!(e.contains("stranger") && e.contains("--unknown cold"), "{e}");
    let (csv, _) = ok(&["score", ms, "--queries", qs, "--unknown", "cold"]);
    assert!(csv.lines().nth(2).unwrap().ends_with("true,false"), "{csv}");

    // New events (one from a new node) bring the state forward and are saved.
    let ev = tmp.path().join("new.txt");
    std::fs::write(&ev, format!("1 2 {}\n5000 2 {}\n1 5000 {}\n", LAST + 200.0, LAST + 300.0, LAST + 300.0))
        .unwrap();
    let (j, _) = ok(&["ingest-events", ms, ev.to_str().unwrap(), "--json"]);
    let v: serde_json::Value = serde_json::from_str(&j).unwrap();
    assert_eq!((v["events"].as_u64(), v["new_nodes"].as_u64()), (Some(3), Some(1)));
    assert!(m.join("live/live.json").is_file() && m.join("live/scorer.safetensors").is_file());
    // Queries must now be later than the new watermark, and the new node is known.
    let e = fails(&["recommend", ms, "--src", "1", "--at", &t1.to_string()]);
    assert!(e.contains("too early"), "{e}");
    let (j, _) = ok(&["recommend", ms, "--src", "5000", "--at", &(LAST + 400.0).to_string(), "--json"]);
    let v: serde_json::Value = serde_json::from_str(&j).unwrap();
    assert_eq!(v["cold_src"], false);
    // The same events again are too old: refused, naming the event; the state is unchanged.
    let before = std::fs::read(m.join("live/live.json")).unwrap();
    let e = fails(&["ingest-events", ms, ev.to_str().unwrap()]);
    assert!(e.contains("1 -> 2") && e.contains("too early"), "{e}");
    assert_eq!(std::fs::read(m.join("live/live.json")).unwrap(), before);

    // Training on over a served directory would drop the live state with the old
    // checkpoint: refused, naming it, and nothing changes.
    let weights = std::fs::read(m.join("model.safetensors")).unwrap();
    let e = fails(&["-q", "train", BUNDLED, "-o", ms, "--resume", "--epochs", "2", "--max-batches", "3"]);
    assert!(e.contains("live") && e.contains("--force"), "{e}");
    assert_eq!(std::fs::read(m.join("live/live.json")).unwrap(), before);
    assert_eq!(std::fs::read(m.join("model.safetensors")).unwrap(), weights);
}

#[test]
fn baselines_serve_from_a_graph() {
    let tmp = tempfile::tempdir().unwrap();
    let g = tmp.path().join("g");
    ok(&["-q", "ingest", BUNDLED, "-o", g.to_str().unwrap()]);
    let at = (LAST + 1.0).to_string();
    let (j, _) =
        ok(&["recommend", "popularity", "--data", g.to_str().unwrap(), "--src", "1", "--at", &at, "--json"]);
    let v: serde_json::Value = serde_json::from_str(&j).unwrap();
    assert_eq!(v["results"].as_array().unwrap().len(), 10);
    // bench recall replays the test split: recall in [0, 1] per budget and k, and
    // undirected recency's top-1 (the newest partner) is what a budget of one retrieves.
    let (j, _) = ok(&[
        "-q",
        "bench",
        "recall",
        "recency-undirected",
        "--data",
        g.to_str().unwrap(),
        "--queries",
        "40",
        "--budgets",
        "1,50",
        "--ks",
        "1,10",
    ]);
    let v: serde_json::Value = serde_json::from_str(&j).unwrap();
    assert_eq!((v["queries"].as_u64(), v["catalogue"].as_u64()), (Some(40), Some(1898)), "{v}");
    let b = v["budgets"].as_array().unwrap();
    assert_eq!(b.len(), 2);
    for x in b {
        for r in x["recall"].as_array().unwrap() {
            assert!((0.0..=1.0).contains(&r[1].as_f64().unwrap()), "{v}");
        }
    }
    assert!(b[0]["recall"][0][1].as_f64().unwrap() > 0.7, "{v}");
    assert!(b[1]["retrieved"].as_f64().unwrap() <= 50.0 && v["exhaustive"]["n"].as_u64() == Some(40));
    let e = fails(&["recommend", "edgebank", "--src", "1", "--at", &at]);
    assert!(e.contains("--data"), "{e}");
    let e = fails(&["ingest-events", "edgebank", "x.csv", "--data", g.to_str().unwrap()]);
    assert!(e.contains("--state"), "{e}");
}
