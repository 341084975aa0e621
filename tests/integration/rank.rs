//! The ranking protocol from the command line: TGB-style negatives written by
//! `linkcast negatives --tgb` and ranked by `eval --protocol rank`, the same draws
//! generated inside `eval --tgb`, every destination, rows imported from a file (as
//! `scripts/tgb_negatives.py` writes them from TGB's sampler), both Hits conventions
//! in the output, and the direction variants of the baselines.

use std::path::{Path, PathBuf};
use std::process::Output;

use crate::cli::linkcast;

fn ok(out: Output) -> Vec<u8> {
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    out.stdout
}

fn json(out: Output) -> serde_json::Value {
    serde_json::from_slice(&ok(out)).unwrap()
}

fn ingest(src: &str, dir: &Path, extra: &[&str]) -> PathBuf {
    let g = dir.join(format!("g{}", extra.join("")));
    ok(linkcast().args(["ingest", src, "-o"]).arg(&g).args(extra).output().unwrap());
    g
}

const BUNDLED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/datasets/collegemsg/CollegeMsg.txt.gz");

fn rank(g: &Path, baseline: &str, args: &[&str]) -> serde_json::Value {
    json(
        linkcast()
            .args(["eval", "--baseline", baseline])
            .arg(g)
            .args(["--protocol", "rank", "--json"])
            .args(args)
            .output()
            .unwrap(),
    )
}

#[test]
fn tgb_negatives_then_rank_with_both_conventions() {
    let tmp = tempfile::tempdir().unwrap();
    let g = ingest(BUNDLED, tmp.path(), &[]);
    let neg = tmp.path().join("tgb.neg");
    let v = json(
        linkcast()
            .arg("negatives")
            .arg(&g)
            .args(["--tgb", "--k", "40", "--seed", "3", "--json", "-o"])
            .arg(&neg)
            .output()
            .unwrap(),
    );
    assert_eq!((v["k"].as_u64(), v["style"].as_str()), (Some(40), Some("tgb(hist<=20)")), "{v}");
    let runs = tmp.path().join("runs.json");
    let f = rank(&g, "lr-gp", &["--negatives-file", neg.to_str().unwrap(), "-o", runs.to_str().unwrap()]);
    let m = &f["metrics"]["rank"];
    assert_eq!(f["negatives_style"], "tgb(hist<=20)");
    let (mrr, h10, h10_tgb) =
        (m["mrr"].as_f64().unwrap(), m["hits10"].as_f64().unwrap(), m["hits10_tgb"].as_f64().unwrap());
    assert!(mrr > 0.0 && mrr < 1.0 && h10_tgb <= h10 + 1e-12, "{f}");
    // The same draws generated inside eval.
    let inline = rank(&g, "lr-gp", &["--tgb", "--k", "40", "--seed", "3", "-o", runs.to_str().unwrap()]);
    assert_eq!(inline["metrics"]["rank"], f["metrics"]["rank"]);
    assert_eq!(inline["negatives"], "tgb");
    // linkcast's own draws are another set (historical from any earlier event).
    let own = rank(&g, "lr-gp", &["--k", "40", "--seed", "3", "-o", runs.to_str().unwrap()]);
    assert_eq!(own["negatives_style"], "linkcast(hist=20)");
    assert_ne!(own["metrics"]["rank"]["mrr"], f["metrics"]["rank"]["mrr"]);
    // The human output names both conventions.
    let text = ok(linkcast()
        .args(["eval", "--baseline", "recency"])
        .arg(&g)
        .args(["--protocol", "rank", "--negatives-file"])
        .arg(&neg)
        .output()
        .unwrap());
    let text = String::from_utf8(text).unwrap();
    assert!(
        text.contains("linkcast convention")
            && text.contains("TGB convention")
            && text.contains("tgb(hist<=20)"),
        "{text}"
    );
    // --compare keeps the three sets apart and shows TGB's Hits columns.
    let table =
        String::from_utf8(ok(linkcast().args(["eval", "--compare"]).arg(&runs).output().unwrap())).unwrap();
    assert!(table.lines().next().unwrap().contains("Hits@10 TGB"), "{table}");
    for label in ["file tgb(hist<=20) K=40", "tgb tgb(hist<=20) K=40", "generated linkcast(hist=20) K=40"] {
        assert!(table.contains(label), "{label} missing:\n{table}");
    }
    // Every destination: the file and eval's own `--k all` rank alike.
    let all = tmp.path().join("all.neg");
    let v = json(
        linkcast().arg("negatives").arg(&g).args(["--k", "all", "--json", "-o"]).arg(&all).output().unwrap(),
    );
    assert_eq!((v["k"].as_u64(), v["style"].as_str()), (Some(1898), Some("all")), "{v}");
    let a = rank(&g, "recency-undirected", &["--negatives-file", all.to_str().unwrap()]);
    let b = rank(&g, "recency-undirected", &["--k", "all"]);
    assert_eq!(a["metrics"]["rank"]["mrr"], b["metrics"]["rank"]["mrr"]);
}

/// Rows of a small graph written by hand (dense ids = the file's ids, which appear
/// in increasing order), imported, ranked; a row naming a true destination is
/// refused with the file and line.
#[test]
fn imported_rows_rank_and_bad_rows_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let csv = tmp.path().join("e.csv");
    let events: Vec<(u32, u32)> = (0..100u32)
        .map(|i| if i < 6 { (2 * i, 2 * i + 1) } else { ((i * 5) % 12, (i * 7 + 1) % 12) })
        .collect();
    let mut text = String::from("src,dst,t\n");
    for (i, (s, d)) in events.iter().enumerate() {
        text.push_str(&format!("{s},{d},{i}\n"));
    }
    std::fs::write(&csv, text).unwrap();
    let g = ingest(csv.to_str().unwrap(), tmp.path(), &[]);
    let info = json(
        linkcast()
            .arg("negatives")
            .arg(&g)
            .args(["--k", "1", "--json", "-o"])
            .arg(tmp.path().join("probe.neg"))
            .output()
            .unwrap(),
    );
    let (lo, hi) =
        (info["events"][0].as_u64().unwrap() as usize, info["events"][1].as_u64().unwrap() as usize);
    let mut rows = String::new();
    for (i, &(s, d)) in events.iter().enumerate().take(hi).skip(lo) {
        let negs: Vec<String> = (0..12).filter(|&n| n != d).take(5).map(|n: u32| n.to_string()).collect();
        rows.push_str(&format!("{s} {d} {i}.0 {}\n", negs.join(" ")));
    }
    let rows_file = tmp.path().join("rows.txt");
    std::fs::write(&rows_file, &rows).unwrap();
    let neg = tmp.path().join("imp.neg");
    ok(linkcast()
        .arg("negatives")
        .arg(&g)
        .arg("--import")
        .arg(&rows_file)
        .arg("-o")
        .arg(&neg)
        .output()
        .unwrap());
    let r = rank(&g, "recency", &["--negatives-file", neg.to_str().unwrap()]);
    assert_eq!(r["negatives_style"], "tgb-import");
    assert_eq!(
        (r["k"].as_u64(), r["metrics"]["rank"]["queries"].as_u64()),
        (Some(5), Some((hi - lo) as u64))
    );

    let (s, d) = events[lo];
    let bad = format!("{s} {d} {lo}.0 {d}\n{}", rows.lines().skip(1).collect::<Vec<_>>().join("\n"));
    std::fs::write(&rows_file, bad).unwrap();
    let out = linkcast()
        .arg("negatives")
        .arg(&g)
        .arg("--import")
        .arg(&rows_file)
        .arg("-o")
        .arg(&neg)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("rows.txt") && err.contains("line 1") && err.contains("true destination"), "{err}");
}

/// EdgeBank counts directed pairs by default whatever the store's direction (as TGB
/// and DyGLib do); the undirected variant keeps its own name.
#[test]
fn baselines_count_directed_pairs_unless_named_undirected() {
    let tmp = tempfile::tempdir().unwrap();
    let (und, dir) = (ingest(BUNDLED, tmp.path(), &[]), ingest(BUNDLED, tmp.path(), &["--directed"]));
    let ap = |g: &Path, b: &str| {
        let v = json(linkcast().args(["eval", "--baseline", b]).arg(g).arg("--json").output().unwrap());
        (v["target"].as_str().unwrap().to_string(), v["metrics"]["ap"]["all"]["ap"].as_f64().unwrap())
    };
    let (name, directed) = ap(&und, "edgebank");
    assert_eq!(name, "edgebank");
    assert_eq!(ap(&dir, "edgebank").1, directed);
    let (name, undirected) = ap(&und, "edgebank-undirected");
    assert_eq!(name, "edgebank-undirected");
    assert_eq!(ap(&dir, "edgebank-undirected").1, undirected);
    // Reverse pairs count as seen only in the undirected variant: more positives hit.
    assert!(undirected > directed, "{undirected} vs {directed}");
    let out = linkcast().args(["eval", "--baseline", "adamic-adar-undirected"]).arg(&und).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("undirected view"));
}

/// `eval --ranks FILE`: one line per test positive, in event order, whose mean
/// reciprocal rank is the reported MRR and whose ranks give the reported Hits@10.
#[test]
fn per_query_ranks_add_up_to_the_reported_metrics() {
    let tmp = tempfile::tempdir().unwrap();
    let g = ingest(BUNDLED, tmp.path(), &[]);
    let ranks = tmp.path().join("ranks.csv");
    let v = rank(&g, "lr-gp", &["--k", "30", "--seed", "2", "--ranks", ranks.to_str().unwrap()]);
    let m = &v["metrics"]["rank"];
    let text = std::fs::read_to_string(&ranks).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("event,src,dst,time,rank_optimistic,rank_pessimistic,rank"));
    let rows: Vec<Vec<f64>> = lines.map(|l| l.split(',').map(|x| x.parse().unwrap()).collect()).collect();
    assert_eq!(rows.len() as u64, m["queries"].as_u64().unwrap());
    let start = v["events"]["start"].as_f64().unwrap();
    for (i, r) in rows.iter().enumerate() {
        assert_eq!(r[0], start + i as f64, "event order");
        assert!(r[4] <= r[6] && r[6] <= r[5] && r[5] <= 31.0, "{r:?}");
    }
    let mrr = rows.iter().map(|r| 1.0 / r[6]).sum::<f64>() / rows.len() as f64;
    assert!((mrr - m["mrr"].as_f64().unwrap()).abs() < 1e-9, "{mrr} vs {}", m["mrr"]);
    let hits10 = rows.iter().filter(|r| r[6] <= 10.0).count() as f64 / rows.len() as f64;
    assert!((hits10 - m["hits10_tgb"].as_f64().unwrap()).abs() < 1e-9);
}
