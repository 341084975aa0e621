//! Text and Parquet readers: edge lists in every format, node-feature files,
//! `score`'s query files.

use crate::fuzz::{check_message, scratch_file};
use crate::ingest::{BadRowPolicy, Format, IngestOptions, Ingested, ingest_files};
use crate::serve::queries::read_queries;
use crate::store::{MemStore, check_structure};

/// Options from one selector byte: bits 0-2 the format (6 and 7: auto), bits
/// 3-4 header / no header / sniffed, bit 5 bipartite, bit 6 skip bad rows, bit 7
/// accept an unsorted time column.
fn options(sel: u8) -> IngestOptions {
    let format = [Format::Auto, Format::Snap, Format::Csv, Format::Tsv, Format::Jodie, Format::Dgb]
        .get(usize::from(sel & 7))
        .copied()
        .unwrap_or(Format::Auto);
    IngestOptions {
        format,
        header: sel & 0x18 == 0x08,
        no_header: sel & 0x18 == 0x10,
        bipartite: sel & 0x20 != 0,
        on_bad_row: if sel & 0x40 != 0 { BadRowPolicy::Skip } else { BadRowPolicy::Error },
        allow_unsorted_time: sel & 0x80 != 0,
        ..IngestOptions::default()
    }
}

/// What every successful ingest must give: at most one event per input line,
/// finite times in order, endpoints inside the id map, one feature row per event,
/// and a log the store accepts with consistent adjacency.
fn check_ingested(ing: &Ingested, max_rows: usize) {
    let ev = &ing.data.events;
    let n = ing.data.ids.num_nodes();
    assert!(ev.len() <= max_rows, "{} events from at most {max_rows} rows", ev.len());
    assert_eq!(ev.src.len(), ev.t.len());
    assert_eq!(ev.dst.len(), ev.t.len());
    assert_eq!(ev.feats.len(), ev.len() * ev.feat_dim, "feature rows");
    assert!(ev.t.iter().all(|t| t.is_finite()), "a non-finite time was accepted");
    assert!(ev.is_time_sorted(), "events out of time order after ingest");
    assert!(ev.src.iter().chain(&ev.dst).all(|&v| v < n), "an endpoint outside the id map ({n} ids)");
    if let Some(nf) = &ing.data.node_features {
        assert_eq!(nf.values.len(), nf.dim * n as usize, "node feature rows");
    }
    let store = MemStore::from_log(ev.clone(), ing.data.directed).expect("an ingested log is a valid store");
    let problems = check_structure(&store);
    assert!(problems.is_empty(), "store built from an ingest is inconsistent: {problems:?}");
}

/// Target 1: the text ingest formats (SNAP, CSV/TSV with and without header,
/// JODIE, DGB). Input: a selector byte (see [`options`]), then the file.
pub fn ingest_text(data: &[u8]) {
    let Some((&sel, body)) = data.split_first() else { return };
    let path = scratch_file("edges.txt", body);
    let rows = body.split(|&b| b == b'\n').count();
    match ingest_files(&[path], &options(sel)) {
        Ok(ing) => check_ingested(&ing, rows),
        Err(e) => check_message("ingest", &e),
    }
}

/// Target 7: Parquet input (the selector byte as for text; the format is sniffed
/// from the magic bytes whatever it says).
pub fn parquet(data: &[u8]) {
    let Some((&sel, body)) = data.split_first() else { return };
    let path = scratch_file("edges.parquet", body);
    let mut opts = options(sel);
    opts.format = Format::Parquet;
    match ingest_files(&[path], &opts) {
        // A Parquet file's row count is in its footer, not bounded by the bytes
        // in any useful way; every other invariant holds.
        Ok(ing) => check_ingested(&ing, usize::MAX),
        Err(e) => check_message("parquet ingest", &e),
    }
}

/// A small fixed edge list for the node-feature target: ids 1..=6, one with a
/// string-like spelling, over both sides when bipartite.
const EDGES: &[u8] = b"1 2 10\n2 3 11\n3 1 12\n4 5 13\n5 6 14\n6 4 15\n";

/// Target 8: node-feature files, joined through the id map of [`EDGES`].
/// Input: a selector byte (bit 5 bipartite, bit 6 skip bad rows), then the file.
pub fn node_features(data: &[u8]) {
    let Some((&sel, body)) = data.split_first() else { return };
    let edges = scratch_file("nf-edges.txt", EDGES);
    let feats = scratch_file("node-features.csv", body);
    let opts = IngestOptions {
        format: Format::Snap,
        bipartite: sel & 0x20 != 0,
        on_bad_row: if sel & 0x40 != 0 { BadRowPolicy::Skip } else { BadRowPolicy::Error },
        node_features: Some(feats),
        ..IngestOptions::default()
    };
    match ingest_files(&[edges], &opts) {
        Ok(ing) => {
            check_ingested(&ing, 6);
            let nf = ing.data.node_features.as_ref().expect("node features were given");
            assert!(nf.values.iter().all(|x| x.is_finite()), "a non-finite node feature was accepted");
        }
        Err(e) => check_message("node features", &e),
    }
}

/// Target 2: query files for `score`. Input: a selector byte (bit 0: read as
/// Parquet), then the file.
pub fn score_queries(data: &[u8]) {
    let Some((&sel, body)) = data.split_first() else { return };
    let name = if sel & 1 == 1 { "queries.parquet" } else { "queries.csv" };
    let path = scratch_file(name, body);
    match read_queries(&path) {
        Ok(qs) => {
            for q in &qs {
                assert!(q.t.is_finite(), "a non-finite query time was accepted");
                assert!(!q.src.is_empty() && !q.dst.is_empty(), "an empty id was accepted");
            }
        }
        Err(e) => check_message("queries", &e),
    }
}
