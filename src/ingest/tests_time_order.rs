//! The time-order check through the whole ingest path: a file in Bitcoin OTC's
//! layout (`SOURCE,TARGET,RATING,TIME`, no header) read with no flags takes the
//! rating as time, is judged out of order, and the report names `--time 3`; the
//! same verdict from text and Parquet, in memory and out of core.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::*;
use crate::store::WriteOptions;

/// `n` rows `src,dst,rating,time`: ratings in -10..=10 from a fixed LCG, times
/// increasing with ties, ids wandering over 50 nodes.
pub(crate) fn bitcoin_like(n: usize) -> String {
    let mut x: u64 = 12345;
    let mut s = String::new();
    for i in 0..n {
        x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        let rating = (x >> 33) % 21;
        let (src, dst) = ((x >> 20) % 50, (x >> 40) % 50);
        s += &format!("{src},{dst},{},{}\n", rating as i64 - 10, 1_289_241_911 + (i as u64 / 3) * 17);
    }
    s
}

fn file(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

fn order(paths: &[PathBuf], o: &IngestOptions) -> TimeOrder {
    ingest_files(paths, o).unwrap().report.time_order.unwrap()
}

#[test]
fn rating_read_as_time_is_out_of_order_and_the_report_names_the_time() {
    let dir = tempfile::tempdir().unwrap();
    let p = file(dir.path(), "otc.csv", &bitcoin_like(3000));
    let v = order(std::slice::from_ref(&p), &IngestOptions::default());
    assert!(v.out_of_order && !v.confirmed && v.refused(false), "{v:?}");
    assert_eq!((v.column.as_str(), v.flag.as_str(), v.rows), ("col2", "--time 2", 3000));
    let s = v.suggestion.clone().expect("a suggestion");
    assert_eq!((s.column.as_str(), s.flag.as_str(), s.rows, s.descents), ("col3", "--time 3", 3000, 0));
    assert!(v.problem().ends_with("pass --time 3"), "{}", v.problem());

    // The right column: in order, nothing to suggest.
    let right = IngestOptions { time: Some(ColumnRef::Index(3)), ..IngestOptions::default() };
    let v = order(std::slice::from_ref(&p), &right);
    assert!(!v.out_of_order && v.descents == 0 && v.suggestion.is_none());
    // The rating named on purpose, or accepted: reported, not refused.
    let chosen = IngestOptions { time: Some(ColumnRef::Index(2)), ..IngestOptions::default() };
    let v = order(std::slice::from_ref(&p), &chosen);
    assert!(v.out_of_order && v.confirmed && !v.refused(false));
    let allowed = IngestOptions { allow_unsorted_time: true, ..IngestOptions::default() };
    assert!(!order(&[p], &allowed).refused(false));
}

#[test]
fn names_from_a_header_and_every_file() {
    let dir = tempfile::tempdir().unwrap();
    let body = bitcoin_like(400);
    let a = file(dir.path(), "a.csv", &format!("from,to,stars,when\n{body}"));
    let b = file(dir.path(), "b.csv", &format!("from,to,stars,when\n{body}"));
    let v = order(&[a.clone(), b], &IngestOptions::default());
    assert_eq!(v.suggestion.unwrap().flag, "--time when");
    // A second file whose `when` holds text: no column qualifies in every file.
    let c = file(dir.path(), "c.csv", "from,to,stars,when\n1,2,3,x\n");
    let v = order(&[a, c], &IngestOptions::default());
    assert!(v.out_of_order && v.suggestion.is_none(), "{v:?}");
}

#[test]
fn a_few_descents_are_in_order() {
    // Two sorted files given in the wrong order, and one clock step back: 2 descents.
    let dir = tempfile::tempdir().unwrap();
    let mut late = String::new();
    let mut early = String::new();
    for i in 0..500 {
        late += &format!("{} {} {}\n", i % 7, i % 11, 10_000 + i - if i == 250 { 5 } else { 0 });
        early += &format!("{} {} {}\n", i % 5, i % 13, i);
    }
    let a = file(dir.path(), "late.txt", &late);
    let b = file(dir.path(), "early.txt", &early);
    let v = order(&[a, b], &IngestOptions::default());
    assert_eq!((v.descents, v.out_of_order, v.suggestion), (2, false, None));
}

#[test]
fn parquet_and_out_of_core_reach_the_same_verdict() {
    use arrow_array::{Float64Array, Int64Array, RecordBatch, StringArray};
    let dir = tempfile::tempdir().unwrap();
    let text = bitcoin_like(2000);
    let rows: Vec<Vec<&str>> = text.lines().map(|l| l.split(',').collect()).collect();
    let col = |j: usize| rows.iter().map(|r| r[j].parse::<i64>().unwrap()).collect::<Vec<_>>();
    let batch = RecordBatch::try_from_iter([
        ("src", Arc::new(Int64Array::from(col(0))) as arrow_array::ArrayRef),
        ("dst", Arc::new(Int64Array::from(col(1))) as _),
        ("rating", Arc::new(Float64Array::from(col(2).iter().map(|&v| v as f64).collect::<Vec<_>>())) as _),
        ("note", Arc::new(StringArray::from(vec!["n"; rows.len()])) as _),
        ("time", Arc::new(Int64Array::from(col(3))) as _),
    ])
    .unwrap();
    let pq = dir.path().join("otc.parquet");
    let mut wr =
        ::parquet::arrow::ArrowWriter::try_new(std::fs::File::create(&pq).unwrap(), batch.schema(), None)
            .unwrap();
    wr.write(&batch).unwrap();
    wr.close().unwrap();
    let v = order(std::slice::from_ref(&pq), &IngestOptions::default());
    assert!(v.out_of_order);
    let s = v.suggestion.unwrap();
    assert_eq!((s.column.as_str(), s.flag.as_str(), s.rows), ("time", "--time time", 2000));

    let csv = file(dir.path(), "otc.csv", &text);
    let mem = order(std::slice::from_ref(&csv), &IngestOptions::default());
    let ooc = OutOfCoreOptions {
        mode: ExternalMode::Always,
        run_rows: Some(300),
        ..OutOfCoreOptions::new(1 << 40)
    };
    let out = dir.path().join("g");
    let wopts = WriteOptions { shard_nodes: 16, replace: false };
    let (r, _) = ingest_to_dir(&[csv], &IngestOptions::default(), &ooc, &out, &wopts, &mut |_| {}).unwrap();
    assert_eq!(r.memory.as_ref().unwrap().mode, "external");
    assert_eq!(r.time_order.as_ref(), Some(&mem));
    // Kept in the graph directory.
    let meta = crate::store::read_meta(&out).unwrap();
    assert_eq!(TimeOrder::of_provenance(&meta.provenance).unwrap(), Some(mem));
}
