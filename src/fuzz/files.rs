//! Binary and structured files linkcast writes and reads back: the serve WAL,
//! graph directories, negative-set files, manifests.
//!
//! Where a file carries a checksum, random bytes never get past it; so each
//! harness has a mode that repairs the checksums of a mutated file before reading
//! it, which lets the fuzzer reach the parser behind them.

use std::path::Path;
use std::sync::OnceLock;

use xxhash_rust::xxh3::xxh3_64;

use crate::fuzz::{check_message, fresh_dir, scratch, scratch_file};
use crate::sample::negatives::NegativeSet;
use crate::sample::negatives::tgb::parse_rows;
use crate::serve::http::recover;
use crate::serve::wal::{self, MAGIC, Wal};
use crate::store::{
    EventLog, ExternalIds, GraphData, IdMap, MemStore, MmapStore, TemporalStore, WriteOptions,
    check_structure, read_ids, verify, write_graph,
};
use crate::util::manifest::{self, Manifest};

/// Target 4: WAL recovery from arbitrary bytes. Input: a selector byte, then the
/// log. Selector bits 0-1: 0 = one raw segment, 1 = one segment of well-formed
/// records (each `[len u8][seq u8][payload]`, checksummed by the harness; bytes
/// that do not make a whole record become a raw tail), 2 = two raw segments
/// (split at the middle; the second named by the first byte after the split).
/// Bit 2: prefix each raw segment with the magic. Bits 4-5: the batches the
/// scorer's snapshot holds.
///
/// Checks: an open that succeeds gives records in sequence after the snapshot,
/// and a record appended then is found by the next open, after exactly the same
/// replay, with nothing truncated. Replaying the records into a server's scorer
/// succeeds or fails cleanly.
pub fn wal(data: &[u8]) {
    let Some((&sel, body)) = data.split_first() else { return };
    let dir = fresh_dir("wal");
    let magic = |b: &[u8]| if sel & 4 != 0 { [MAGIC.as_slice(), b].concat() } else { b.to_vec() };
    match sel & 3 {
        1 => {
            let mut seg = MAGIC.to_vec();
            let mut at = 0;
            let mut first = None;
            while at + 2 <= body.len() {
                let (len, seq) = (usize::from(body[at]), u64::from(body[at + 1]));
                if at + 2 + len > body.len() {
                    break;
                }
                seg.extend_from_slice(&wal::encode(seq, &body[at + 2..at + 2 + len]));
                first.get_or_insert(seq);
                at += 2 + len;
            }
            seg.extend_from_slice(&body[at..]);
            std::fs::write(dir.join(format!("wal-{}.log", first.unwrap_or(1))), seg).expect("scratch");
        }
        2 => {
            let (a, b) = body.split_at(body.len() / 2);
            let second = b.first().map_or(2, |&x| u64::from(x));
            std::fs::write(dir.join("wal-1.log"), magic(a)).expect("scratch");
            std::fs::write(dir.join(format!("wal-{second}.log")), magic(b)).expect("scratch");
        }
        _ => std::fs::write(dir.join("wal-1.log"), magic(body)).expect("scratch"),
    }
    let after = u64::from((sel >> 4) & 3);
    // The bytes as given, for the server's recovery below (`Wal::open` truncates a torn tail).
    let pristine = fresh_dir("wal-before");
    copy_dir(&dir, &pristine);
    let opened = match Wal::open(&dir, after) {
        Ok(o) => o,
        Err(e) => return check_message("wal open", &e),
    };
    let mut seqs = opened.covered.iter().chain(&opened.replay).map(|r| r.seq);
    if let Some(mut prev) = seqs.next() {
        for s in seqs {
            assert_eq!(s, prev + 1, "records out of sequence were accepted");
            prev = s;
        }
    }
    assert!(opened.covered.iter().all(|r| r.seq <= after) && opened.replay.iter().all(|r| r.seq > after));
    let mut w = opened.wal;
    let next = w.next_seq();
    if next < u64::MAX / 2 && w.append(next, b"[]").is_ok() {
        drop(w);
        let again = Wal::open(&dir, after).expect("a log just appended to opens again");
        assert!(again.truncated.is_none(), "the second open truncated: {:?}", again.truncated);
        let mut want = opened.replay.clone();
        want.push(wal::Record { seq: next, payload: b"[]".to_vec() });
        assert_eq!(again.replay, want, "the replay changed across an append and a reopen");
    }
    // A server's recovery over the same bytes (snapshot = no batches).
    let mut scorer = crate::fuzz::http::base_scorer(sel);
    if let Err(e) = recover(&mut scorer, &pristine) {
        check_message("recover", &e);
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("scratch");
    for e in std::fs::read_dir(from).expect("scratch") {
        let e = e.expect("scratch");
        if e.file_type().expect("scratch").is_dir() {
            copy_dir(&e.path(), &to.join(e.file_name()));
        } else {
            // read + write, not fs::copy: libFuzzer's timer signal interrupts
            // copy_file_range, which fs::copy does not retry.
            std::fs::write(to.join(e.file_name()), std::fs::read(e.path()).expect("scratch"))
                .expect("scratch");
        }
    }
}

/// Every file under `dir`, relative, sorted (so a selector byte names one stably).
fn files_under(dir: &Path, rel: &Path, out: &mut Vec<std::path::PathBuf>) {
    let mut entries: Vec<_> =
        std::fs::read_dir(dir.join(rel)).expect("scratch").map(|e| e.expect("scratch")).collect();
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let r = rel.join(e.file_name());
        if e.file_type().expect("scratch").is_dir() {
            files_under(dir, &r, out);
        } else {
            out.push(r);
        }
    }
}

/// A small valid graph directory (two shards, one edge feature, string ids),
/// written once per process; every input mutates a copy.
pub(crate) fn template_graph() -> &'static (std::path::PathBuf, Vec<std::path::PathBuf>) {
    static T: OnceLock<(std::path::PathBuf, Vec<std::path::PathBuf>)> = OnceLock::new();
    T.get_or_init(|| {
        let mut log = EventLog::with_feat_dim(1);
        for i in 0..24u32 {
            log.push(i % 7, (i * 3 + 1) % 9, f64::from(i / 2), &[i as f32 * 0.5]);
        }
        let names = ExternalIds::Str((0..9).map(|i| format!("n{i}")).collect());
        let data = GraphData {
            events: log,
            ids: IdMap::new(names, None),
            node_features: None,
            directed: false,
            provenance: serde_json::json!({"fuzz": "template"}),
        };
        let dir = scratch().join("graph-template");
        // A scratch folder may outlive a process (libFuzzer's merge restarts).
        let _ = std::fs::remove_dir_all(&dir);
        let opts = WriteOptions { shard_nodes: 5, ..WriteOptions::default() };
        write_graph(&dir, &data, &opts).expect("template graph");
        let mut files = Vec::new();
        files_under(&dir, Path::new(""), &mut files);
        (dir, files)
    })
}

/// Target 5: the graph-directory reader (`meta.json`, array headers, then the
/// content checks). Input: a file selector byte (index into the template's sorted
/// files; see [`graph_files`]), a mode byte (0 overwrite at an offset, 1
/// truncate, 2 replace, 3 append), a little-endian `u16` offset, then the bytes.
///
/// Checks: opening either refuses or gives a store whose contents `verify` and
/// `check_structure` can examine without panicking; when both find nothing
/// wrong, every event and neighbour list reads within range.
pub fn graph_dir(data: &[u8]) {
    let [file, mode, o0, o1, rest @ ..] = data else { return };
    let (template, files) = template_graph();
    let dir = fresh_dir("graph");
    copy_dir(template, &dir);
    let target = dir.join(&files[usize::from(*file) % files.len()]);
    let mut bytes = std::fs::read(&target).expect("scratch");
    let off = usize::from(u16::from_le_bytes([*o0, *o1])).min(bytes.len());
    match mode % 4 {
        0 => {
            let end = (off + rest.len()).min(bytes.len());
            bytes[off..end].copy_from_slice(&rest[..end - off]);
        }
        1 => bytes.truncate(off),
        2 => bytes = rest.to_vec(),
        _ => bytes.extend_from_slice(rest),
    }
    std::fs::write(&target, &bytes).expect("scratch");
    if let Err(e) = read_ids(&dir) {
        check_message("read ids", &e);
    }
    let report = match verify(&dir) {
        Ok(r) => Some(r),
        Err(e) => {
            check_message("verify", &e);
            None
        }
    };
    let store = match MmapStore::open(&dir) {
        Ok(s) => s,
        Err(e) => return check_message("open", &e),
    };
    let problems = check_structure(&store);
    if problems.is_empty() && report.is_some_and(|r| r.ok) {
        read_everything(&store);
    }
}

/// Read every event and neighbour list, checking what the types promise.
fn read_everything(store: &dyn TemporalStore) {
    let (n, e) = (store.num_nodes(), store.num_events());
    for i in 0..e as u32 {
        let (s, d, t) = store.event(i);
        assert!(s < n && d < n && t.is_finite());
        assert_eq!(store.event_feat(i).len(), store.feat_dim());
    }
    for v in 0..n {
        for (u, t, eid) in store.neighbors(v).iter() {
            assert!(u < n && t.is_finite() && (eid as usize) < e);
        }
        if let Some(f) = store.node_feat(v) {
            assert_eq!(f.len(), store.node_feat_dim());
        }
    }
}

/// The graph the negative-set target checks sets against (10 events, 6 nodes).
pub(crate) fn neg_store() -> &'static MemStore {
    static S: OnceLock<MemStore> = OnceLock::new();
    S.get_or_init(|| {
        let mut log = EventLog::with_feat_dim(0);
        for i in 0..10u32 {
            log.push(i % 3, 3 + i % 3, f64::from(i), &[]);
        }
        MemStore::from_log(log, false).expect("a valid log")
    })
}

/// Target 9: negative-set files. Input: a selector byte, then the file. Bit 0:
/// the text import format (`SRC DST T NEG...` rows, imported against a 10-event
/// graph) instead of the binary set; bit 1 (binary): repair both checksums
/// before reading.
///
/// Checks: a set that loads answers `query` for every event without panicking,
/// with exactly K negatives inside its range, and checking it against a graph is
/// an answer, not a crash.
pub fn negatives(data: &[u8]) {
    let Some((&sel, body)) = data.split_first() else { return };
    let path = Path::new("negatives.bin");
    let store = neg_store();
    if sel & 1 == 1 {
        let Ok(text) = std::str::from_utf8(body) else { return };
        match parse_rows(text, path) {
            Ok(rows) => {
                let dst = crate::sample::negatives::DstRange::all(store.num_nodes());
                match NegativeSet::import_rows(store, 5..10, dst, &rows, path, 0) {
                    Ok(set) => check_set(&set, store),
                    Err(e) => check_message("import", &e),
                }
            }
            Err(e) => check_message("parse rows", &e),
        }
        return;
    }
    let mut bytes = body.to_vec();
    if sel & 2 == 2 && bytes.len() >= 88 {
        let payload = xxh3_64(&bytes[88..]);
        bytes[64..72].copy_from_slice(&payload.to_le_bytes());
        let header = xxh3_64(&bytes[..80]);
        bytes[80..88].copy_from_slice(&header.to_le_bytes());
    }
    match NegativeSet::from_bytes(&bytes, path) {
        Ok(set) => check_set(&set, store),
        Err(e) => check_message("negative set", &e),
    }
}

fn check_set(set: &NegativeSet, store: &MemStore) {
    let k = set.header.k as usize;
    let r = set.header.range.clone();
    for eid in 0..store.num_events().max(r.end.min(4096) as usize) {
        match set.query(eid) {
            Some(q) => assert_eq!(q.len(), k, "event {eid}: {} negatives of {k}", q.len()),
            None => assert!(!(r.start..r.end).contains(&(eid as u64)), "event {eid} in range has no set"),
        }
    }
    if let Err(e) = set.check_store(store) {
        check_message("check store", &e);
    }
}

/// Target 6: the model-directory loader's first step, the manifest (the rest of
/// the loader needs libtorch). Input: a selector byte, then the manifest text.
/// Bit 0: end it with a correct `# end` line (so the fuzzer reaches the entries).
///
/// Checks: a manifest that parses names only files inside its directory, and
/// verifying a directory against it is an answer, not a crash.
pub fn model_manifest(data: &[u8]) {
    let Some((&sel, body)) = data.split_first() else { return };
    let dir = fresh_dir("model");
    std::fs::write(dir.join("config.json"), b"{}").expect("scratch");
    std::fs::create_dir(dir.join("live")).expect("scratch");
    std::fs::write(dir.join("live/state.json"), b"{}").expect("scratch");
    let mut text = body.to_vec();
    if sel & 1 == 1 {
        if text.last().is_some_and(|&b| b != b'\n') {
            text.push(b'\n');
        }
        let h = xxh3_64(&text);
        text.extend_from_slice(format!("# end {h:016x}\n").as_bytes());
    }
    let path = scratch_file("model/manifest.xxh3", &text);
    match Manifest::parse(&path, &text) {
        Ok(m) => {
            for e in &m.entries {
                let p = Path::new(&e.file);
                assert!(
                    p.components().all(|c| matches!(c, std::path::Component::Normal(_))),
                    "a manifest entry outside its directory was accepted: {:?}",
                    e.file
                );
            }
            if let Err(e) = manifest::verify(&dir) {
                check_message("verify", &e);
            }
        }
        Err(e) => check_message("manifest", &e),
    }
}
