//! Unit tests of the whole ingest path: formats, id modes, sorting, errors.

use std::io::Write;
use std::path::{Path, PathBuf};

use super::*;
use crate::store::ExternalIds;

fn write(dir: &Path, name: &str, content: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, content).unwrap();
    p
}

fn gzip(dir: &Path, name: &str, content: &[u8]) -> PathBuf {
    let p = dir.join(name);
    let mut enc =
        flate2::write::GzEncoder::new(std::fs::File::create(&p).unwrap(), flate2::Compression::fast());
    enc.write_all(content).unwrap();
    enc.finish().unwrap();
    p
}

/// Messages name files by the path given; drop the temporary directory from them.
fn rel(s: &str, dir: &Path) -> String {
    s.replace(&format!("{}/", dir.display()), "")
}

/// Ingest `content` as `in.txt`; errors and skipped-row examples use the bare name.
fn run(content: &str, opts: &IngestOptions) -> Result<Ingested, String> {
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), "in.txt", content.as_bytes());
    match ingest_files(&[p], opts) {
        Ok(mut g) => {
            for e in &mut g.report.skipped_examples {
                *e = rel(e, dir.path());
            }
            Ok(g)
        }
        Err(e) => Err(rel(&e.to_string(), dir.path())),
    }
}

fn ok(content: &str, opts: &IngestOptions) -> Ingested {
    run(content, opts).unwrap_or_else(|e| panic!("{e}"))
}

fn err(content: &str, opts: &IngestOptions) -> String {
    match run(content, opts) {
        Ok(_) => panic!("expected an error for {content:?}"),
        Err(e) => e,
    }
}

fn opts() -> IngestOptions {
    IngestOptions::default()
}

fn ints(g: &Ingested) -> Vec<i64> {
    match &g.data.ids.names {
        ExternalIds::Int(v) => v.clone(),
        ExternalIds::Str(v) => panic!("string ids {v:?}"),
    }
}

#[test]
fn snap_comments_sort_and_out_of_order() {
    let g = ok("# SNAP\n% konect\n\n10 20 5\n20 30 3\r\n30 10 5\n10 30 4\n", &opts());
    let e = &g.data.events;
    assert_eq!(e.t, vec![3.0, 4.0, 5.0, 5.0]);
    // Dense ids by first appearance in the file, before the sort: 10->0, 20->1, 30->2.
    assert_eq!(ints(&g), vec![10, 20, 30]);
    assert_eq!((e.src.clone(), e.dst.clone()), (vec![1, 0, 0, 2], vec![2, 2, 1, 0]));
    assert_eq!((g.report.out_of_order_rows, g.report.time_descents), (2, 2));
    assert_eq!(g.report.files[0].format, Format::Snap);
    assert_eq!((g.report.rows_read, g.report.nodes, g.report.feature_dim), (4, 3, 0));
    assert_eq!(g.data.provenance["ingest"]["events"], 4);
}

#[test]
fn stable_sort_keeps_ties_in_file_order_with_features() {
    let g = ok(
        "a,b,t,w\n1,2,7,0.5\n3,4,1,1.5\n5,6,7,2.5\n7,8,1,3.5\n",
        &IngestOptions { weight: Some(ColumnRef::Name("w".into())), ..opts() },
    );
    let e = &g.data.events;
    assert_eq!(e.t, vec![1.0, 1.0, 7.0, 7.0]);
    assert_eq!(e.feats, vec![1.5, 3.5, 0.5, 2.5]);
    assert_eq!(e.src, vec![2, 6, 0, 4]);
    assert_eq!(g.report.out_of_order_rows, 2);
}

#[test]
fn snap_extra_columns_are_features() {
    let g = ok("1 2 10 0.5 -1\n2 3 11 1e-3 2\n", &opts());
    assert_eq!(g.data.events.feat_dim, 2);
    assert_eq!(g.data.events.feats, vec![0.5, -1.0, 1e-3, 2.0]);
    let none = ok("1 2 10 0.5 -1\n", &IngestOptions { features: Some("none".parse().unwrap()), ..opts() });
    assert_eq!(none.data.events.feat_dim, 0);
}

#[test]
fn gzip_sniffed_from_bytes_not_name() {
    let dir = tempfile::tempdir().unwrap();
    let p = gzip(dir.path(), "edges.txt", b"1 2 3\n2 3 4\n");
    let g = ingest_files(&[p], &opts()).unwrap();
    assert_eq!(g.data.events.len(), 2);
    assert!(g.report.files[0].gzip);
    // And a plain file with a .gz name is plain text.
    let q = write(dir.path(), "plain.gz", b"1 2 3\n");
    assert!(!ingest_files(&[q], &opts()).unwrap().report.files[0].gzip);
}

#[test]
fn csv_header_columns_by_name_and_ranges() {
    let csv = "ts,from,to,f1,f2,f3,w\n5,a,b,1,2,3,9\n6,b,c,4,5,6,8\n";
    let g = ok(
        csv,
        &IngestOptions {
            src: Some("from".parse().unwrap()),
            dst: Some("TO".parse().unwrap()),
            time: Some("ts".parse().unwrap()),
            features: Some("f3,f1..f2".parse().unwrap()),
            weight: Some("w".parse().unwrap()),
            ..opts()
        },
    );
    assert_eq!(g.data.events.feats, vec![3.0, 1.0, 2.0, 9.0, 6.0, 4.0, 5.0, 8.0]);
    assert_eq!(g.report.feature_names, vec!["f3", "f1", "f2", "w"]);
    assert_eq!(g.data.ids.names, ExternalIds::Str(vec!["a".into(), "b".into(), "c".into()]));
    assert_eq!(g.report.id_kind, "str");
    // Index ranges are inclusive and work with a header too.
    let g = ok(
        csv,
        &IngestOptions {
            src: Some("1".parse().unwrap()),
            dst: Some("2".parse().unwrap()),
            time: Some("0".parse().unwrap()),
            features: Some("3..".parse().unwrap()),
            ..opts()
        },
    );
    assert_eq!(g.data.events.feat_dim, 4);
}

#[test]
fn csv_without_header_bitcoin_layout() {
    let o = IngestOptions {
        no_header: true,
        time: Some(ColumnRef::Index(3)),
        features: Some("2".parse().unwrap()),
        ..opts()
    };
    let g = ok("6,2,4,1289241911.72836\n6,5,-2,1289241941.53378\n", &o);
    assert_eq!(g.data.events.t, vec![1289241911.72836, 1289241941.53378]);
    assert_eq!(g.data.events.feats, vec![4.0, -2.0]);
    assert!(!g.report.files[0].header);
    // Auto-detection reaches the same answer: the first row is all numbers.
    let g = ok("6,2,4,1289241911.72836\n", &IngestOptions { no_header: false, ..o });
    assert!(!g.report.files[0].header);
}

#[test]
fn tsv_detected_and_quoted_csv() {
    let g = ok("src\tdst\ttime\nx y\tz\t1\n", &opts());
    assert_eq!(g.report.files[0].format, Format::Tsv);
    assert_eq!(g.data.ids.external(0), "x y");
    let g = ok("\"a,1\",\"b \"\"q\"\"\",3\n", &IngestOptions { no_header: true, ..opts() });
    assert_eq!(g.data.ids.external(0), "a,1");
    assert_eq!(g.data.ids.external(1), "b \"q\"");
}

#[test]
fn jodie_layout_is_bipartite_with_features() {
    let g = ok(
        "user_id,item_id,timestamp,state_label,comma_separated_list_of_features\n\
         0,0,0.0,0,0.1,0.2\n1,1,36.0,0,0.3,0.4\n0,1,77.0,1,0.5,0.6\n",
        &opts(),
    );
    assert_eq!(g.report.files[0].format, Format::Jodie);
    assert!(g.report.bipartite);
    assert_eq!((g.report.n_src, g.report.n_dst, g.report.nodes), (Some(2), Some(2), 4));
    assert_eq!(g.data.events.dst, vec![2, 3, 3]);
    assert_eq!(g.data.events.feat_dim, 2);
    assert_eq!(g.data.ids.n_src, Some(2));
    let err = err("user_id,item_id,timestamp,state_label,x\n0,0,0,0,1,2\n1,1,1,0,3\n", &opts());
    assert!(
        err.contains("in.txt:3:5: inconsistent feature width: 1 feature columns here, 2 in line 2"),
        "{err}"
    );
}

#[test]
fn dgb_layout() {
    let g = ok(",u,i,ts,label,idx\n0,1,2,0.0,0,1\n1,2,3,5.5,0,2\n2,3,1,5.5,0,3\n", &opts());
    assert_eq!(g.report.files[0].format, Format::Dgb);
    assert_eq!(ints(&g), vec![1, 2, 3]);
    assert_eq!(g.data.events.t, vec![0.0, 5.5, 5.5]);
    assert_eq!(g.data.events.feat_dim, 0);
    assert!(!g.report.bipartite);
}

#[test]
fn bipartite_id_spaces_are_separate() {
    let o = IngestOptions { bipartite: true, ..opts() };
    let g = ok("1 1 0\n2 1 1\n1 7 2\n", &o);
    // Sources 1, 2 -> 0, 1; destinations 1, 7 -> 2, 3.
    assert_eq!(g.data.events.src, vec![0, 1, 0]);
    assert_eq!(g.data.events.dst, vec![2, 2, 3]);
    assert_eq!(ints(&g), vec![1, 2, 1, 7]);
    assert_eq!((g.report.n_src, g.report.n_dst), (Some(2), Some(2)));
    let plain = ok("1 1 0\n2 1 1\n1 7 2\n", &opts());
    assert_eq!(plain.report.nodes, 3);
}

#[test]
fn string_ids_switch_the_whole_map() {
    let g = ok("1 2 0\nalice 2 1\n007 bob 2\n", &opts());
    assert_eq!(
        g.data.ids.names,
        ExternalIds::Str(vec!["1".into(), "2".into(), "alice".into(), "7".into(), "bob".into()])
    );
    assert_eq!(g.data.events.src, vec![0, 2, 3]);
}

#[test]
fn multiple_files_concatenate_then_sort() {
    let dir = tempfile::tempdir().unwrap();
    let a = write(dir.path(), "a.txt", b"1 2 10\n");
    let b = gzip(dir.path(), "b.txt", b"3 1 5\n");
    let g = ingest_files(&[a.clone(), b], &opts()).unwrap();
    assert_eq!(ints(&g), vec![1, 2, 3]);
    assert_eq!(g.data.events.src, vec![2, 0]);
    assert_eq!(g.report.files.len(), 2);
    assert_eq!(g.report.out_of_order_rows, 1);
    let c = write(dir.path(), "c.txt", b"3 1 5 0.5\n");
    let e = rel(&ingest_files(&[a, c], &opts()).unwrap_err().to_string(), dir.path());
    assert!(
        e.contains("c.txt:1: inconsistent feature width: 1 feature columns here, 0 in the earlier file"),
        "{e}"
    );
}

#[test]
fn large_input_crosses_chunks_in_order() {
    // Several 1 MiB chunks, parsed in parallel, must give file order and exact lines.
    let mut s = String::from("# header comment\n");
    for i in 0..150_000u32 {
        s.push_str(&format!("{} {} {}\n", i % 5000, (i * 7) % 5003, i / 3));
    }
    s.push_str("1 2 x\n");
    let e = err(&s, &opts());
    assert!(e.starts_with("in.txt:150002:3: time column: cannot parse \"x\" as a number"), "{e}");
    let g = ok(&s, &IngestOptions { on_bad_row: BadRowPolicy::Skip, ..opts() });
    assert_eq!(g.data.events.len(), 150_000);
    assert_eq!(g.report.rows_skipped, 1);
    assert_eq!(ints(&g)[..3], [0, 1, 7]);
    assert!(g.data.events.is_time_sorted());
}

#[test]
fn error_messages_name_file_line_column() {
    let cases: &[(&str, IngestOptions, &str)] = &[
        ("a,b,t\n1,2,3\n1,x y,\n", opts(), "in.txt:3:3: time column \"t\": cannot parse \"\" as a number"),
        ("1 2 3\n1 2\n", opts(), "in.txt:2:3: wrong number of fields: expected at least 3, found 2"),
        (
            "a,b,t\n1,2,3\n1,2,3,4\n",
            opts(),
            "in.txt:3:4: wrong number of fields: expected 3 (as in the header on line 1)",
        ),
        ("1 2 3\n1 2 nan\n", opts(), "in.txt:2:3: time column: \"nan\" is NaN"),
        ("1 2 3 4\n1 2 3 inf\n", opts(), "in.txt:2:4: feature column: \"inf\" is infinite"),
        ("1 2 3 4\n1 2 3 1e39\n", opts(), "in.txt:2:4: feature column: \"1e39\" is infinite"),
        (
            "1 2 3 4\n1 2 3\n",
            opts(),
            "in.txt:2:4: inconsistent feature width: 0 feature columns here, 1 in line 1",
        ),
        ("# only a comment\n\n", opts(), "in.txt:3:1: empty file: no data rows"),
        ("", opts(), "in.txt:1:1: empty file: no data rows (the file is empty)"),
        ("a,b,t\n", opts(), "in.txt:2:1: empty file: no data rows after the header on line 1"),
        (
            "src,dst,ts\n1,2,3\n",
            IngestOptions { time: Some("time".parse().unwrap()), ..opts() },
            "in.txt:1: no column named \"time\" (--time) in the header; available columns: \"src\" (0), \"dst\" (1), \"ts\" (2)",
        ),
        (
            "1,2,3\n",
            IngestOptions { no_header: true, time: Some("ts".parse().unwrap()), ..opts() },
            "in.txt:1: column \"ts\" (--time) is given by name, but the file has no header",
        ),
        (
            "1,2,3\n",
            IngestOptions { time: Some(ColumnRef::Index(5)), no_header: true, ..opts() },
            "in.txt:1: column index 5 (--time) is out of range: the first data row has 3 fields",
        ),
        (
            "1,\"2,3\n",
            IngestOptions { no_header: true, ..opts() },
            "in.txt:1:2: destination id column: cannot parse",
        ),
    ];
    for (input, o, want) in cases {
        let e = err(input, o);
        assert!(e.starts_with(want), "input {input:?}\n got: {e}\nwant: {want}");
    }
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), "bytes.txt", b"1 2 3\n1 \xff\xfe 3\n");
    let e = rel(&ingest_files(&[p], &opts()).unwrap_err().to_string(), dir.path());
    assert!(e.starts_with("bytes.txt:2:2: destination id column: cannot parse"), "{e}");
    assert!(e.ends_with("as a node id (not valid UTF-8)"), "{e}");
}

#[test]
fn skip_policy_counts_and_keeps_examples() {
    let input = "1 2 3\n1 x\n1 2 y\n4 5 6\n7 8 nan\n# c\n1 2 3 4\n9 9 9\n1 1 z\n";
    let g = ok(input, &IngestOptions { on_bad_row: BadRowPolicy::Skip, ..opts() });
    assert_eq!(g.data.events.len(), 3);
    assert_eq!((g.report.rows_read, g.report.rows_kept, g.report.rows_skipped), (8, 3, 5));
    assert_eq!(g.report.skipped_examples.len(), 5);
    assert!(g.report.skipped_examples[0].starts_with("in.txt:2:3: wrong number of fields"));
    assert!(g.report.skipped_examples[3].starts_with("in.txt:7:4: inconsistent feature width"));
    // Nodes of bad rows are not in the graph.
    assert_eq!(ints(&g), vec![1, 2, 4, 5, 9]);
    // File-level problems still fail.
    let e = run("", &IngestOptions { on_bad_row: BadRowPolicy::Skip, ..opts() }).unwrap_err();
    assert!(e.contains("empty file"), "{e}");
    let e = run("1 2 x\n", &IngestOptions { on_bad_row: BadRowPolicy::Skip, ..opts() }).unwrap_err();
    assert!(e.starts_with("no rows kept: all 1 data rows were bad; first: in.txt:1:3"), "{e}");
}

#[test]
fn node_features_mapped_through_ids() {
    let dir = tempfile::tempdir().unwrap();
    let edges = write(dir.path(), "e.csv", b"u,v,t\nx,y,1\ny,z,2\n");
    let nf = write(dir.path(), "n.csv", b"id,a,b\nz,1,2\nx,3,4\n");
    let o = IngestOptions { node_features: Some(nf), ..opts() };
    let g = ingest_files(std::slice::from_ref(&edges), &o).unwrap();
    let f = g.data.node_features.as_ref().unwrap();
    assert_eq!(f.dim, 2);
    assert_eq!(f.values, vec![3.0, 4.0, 0.0, 0.0, 1.0, 2.0]);
    assert_eq!(g.report.node_features.as_ref().unwrap().nodes_without_row, 1);

    let bad = write(dir.path(), "bad.txt", b"x 1 2\nq 3 4\nz 1\nx 0 0\n");
    let o = IngestOptions { node_features: Some(bad.clone()), ..opts() };
    let e = rel(&ingest_files(std::slice::from_ref(&edges), &o).unwrap_err().to_string(), dir.path());
    assert_eq!(e, "bad.txt:2:1: node id \"q\" is not in the graph");
    let o = IngestOptions { node_features: Some(bad), on_bad_row: BadRowPolicy::Skip, ..opts() };
    let g = ingest_files(&[edges], &o).unwrap();
    let mut r = g.report.node_features.unwrap();
    r.skipped_examples.iter_mut().for_each(|e| *e = rel(e, dir.path()));
    assert_eq!((r.rows_kept, r.rows_skipped), (1, 3));
    assert!(r.skipped_examples[1].starts_with("bad.txt:3:2: inconsistent feature width"));
    assert!(r.skipped_examples[2].starts_with("bad.txt:4:1: node id \"x\" already has features (line 1)"));
}

#[test]
fn parquet_columns_by_name() {
    use arrow_array::{Float64Array, Int64Array, RecordBatch, StringArray};
    use std::sync::Arc;
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("edges.bin");
    let batch = RecordBatch::try_from_iter([
        ("who", Arc::new(StringArray::from(vec!["a", "b", "a"])) as arrow_array::ArrayRef),
        ("whom", Arc::new(Int64Array::from(vec![7, 8, 9])) as _),
        ("when", Arc::new(Float64Array::from(vec![3.0, 1.0, 2.0])) as _),
        ("w", Arc::new(Float64Array::from(vec![Some(0.5), Some(1.5), None])) as _),
    ])
    .unwrap();
    let mut wr =
        ::parquet::arrow::ArrowWriter::try_new(std::fs::File::create(&p).unwrap(), batch.schema(), None)
            .unwrap();
    wr.write(&batch).unwrap();
    wr.close().unwrap();
    let o = IngestOptions {
        src: Some("who".parse().unwrap()),
        dst: Some("whom".parse().unwrap()),
        time: Some("when".parse().unwrap()),
        weight: Some("w".parse().unwrap()),
        on_bad_row: BadRowPolicy::Skip,
        ..opts()
    };
    let g = ingest_files(std::slice::from_ref(&p), &o).unwrap();
    assert_eq!(g.report.files[0].format, Format::Parquet);
    assert_eq!(g.data.events.t, vec![1.0, 3.0]);
    assert_eq!(g.data.events.feats, vec![1.5, 0.5]);
    assert_eq!(g.data.ids.names, ExternalIds::Str(vec!["a".into(), "7".into(), "b".into(), "8".into()]));
    assert_eq!(g.report.rows_skipped, 1);
    assert!(
        rel(&g.report.skipped_examples[0], dir.path())
            .starts_with("edges.bin:3:4: feature column \"w\": cannot parse \"null\"")
    );
    let e = ingest_files(&[p], &IngestOptions { time: Some("t".parse().unwrap()), ..opts() }).unwrap_err();
    assert!(e.to_string().contains("no column named \"t\" (--time)"), "{e}");
}

/// The bundled dataset, through the library.
#[test]
fn bundled_collegemsg_counts() {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("datasets/collegemsg/CollegeMsg.txt.gz");
    let g = ingest_files(&[p], &opts()).unwrap();
    assert_eq!((g.report.events, g.report.nodes, g.report.out_of_order_rows), (59_835, 1_899, 0));
    assert_eq!(g.report.files[0].format, Format::Snap);
}
