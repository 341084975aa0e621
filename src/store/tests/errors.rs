//! Bad files and bad input: each is a specific `StoreError` naming the file or the
//! values, never garbage and never a panic.

use std::fs;
use std::path::{Path, PathBuf};

use super::oracle::Oracle;
use crate::store::format::{META_FILE, Meta, read_meta};
use crate::store::{
    EventLog, MemStore, MmapStore, StoreError, TemporalStore, WriteOptions, verify, write_graph,
};

/// A small undirected graph with 2-dim features over 3 shards, written to `tmp/g`.
fn written(tmp: &Path) -> (PathBuf, Oracle) {
    let events = vec![(0, 1, 1.0), (1, 2, 1.0), (2, 2, 2.0), (3, 0, 3.0), (4, 1, 3.0), (0, 4, 5.0)];
    let o = Oracle::new(events, 2, false, 5);
    let dir = tmp.join("g");
    write_graph(&dir, &o.data(), &WriteOptions { shard_nodes: 2, replace: false }).unwrap();
    (dir, o)
}

fn file_of(dir: &Path, name: &str) -> PathBuf {
    let meta = read_meta(dir).unwrap();
    dir.join(&meta.array(name).unwrap().file)
}

fn rewrite_meta(dir: &Path, f: impl FnOnce(&mut Meta)) {
    let mut meta = read_meta(dir).unwrap();
    f(&mut meta);
    fs::write(dir.join(META_FILE), serde_json::to_vec_pretty(&meta).unwrap()).unwrap();
}

fn err_names(err: &StoreError, file: &Path) {
    let msg = err.to_string();
    assert!(msg.contains(&file.display().to_string()), "error does not name {}: {msg}", file.display());
}

#[test]
fn truncated_array_file_is_refused_on_open() {
    let tmp = tempfile::tempdir().unwrap();
    let (dir, _) = written(tmp.path());
    let f = file_of(&dir, "shards/00001/t");
    let len = fs::metadata(&f).unwrap().len();
    fs::OpenOptions::new().write(true).open(&f).unwrap().set_len(len - 3).unwrap();
    let err = MmapStore::open(&dir).err().expect("truncated file must be refused");
    assert!(matches!(err, StoreError::SizeMismatch { .. }), "{err}");
    err_names(&err, &f);
    // Shorter than the header too.
    fs::write(&f, b"LCA").unwrap();
    let err = MmapStore::open(&dir).err().unwrap();
    assert!(matches!(err, StoreError::SizeMismatch { .. }), "{err}");
}

#[test]
fn wrong_magic_is_refused_on_open() {
    let tmp = tempfile::tempdir().unwrap();
    let (dir, _) = written(tmp.path());
    let f = file_of(&dir, "events/src");
    let mut bytes = fs::read(&f).unwrap();
    bytes[0] = b'X';
    fs::write(&f, bytes).unwrap();
    let err = MmapStore::open(&dir).err().unwrap();
    assert!(matches!(err, StoreError::BadMagic { .. }), "{err}");
    err_names(&err, &f);
}

#[test]
fn swapped_files_are_refused_on_open() {
    let tmp = tempfile::tempdir().unwrap();
    let (dir, _) = written(tmp.path());
    // A u32 file where an f64 file belongs: dtype mismatch.
    let (src, t) = (file_of(&dir, "events/src"), file_of(&dir, "events/t"));
    fs::copy(&src, &t).unwrap();
    let err = MmapStore::open(&dir).err().unwrap();
    assert!(matches!(err, StoreError::DtypeMismatch { .. }), "{err}");
    err_names(&err, &t);

    // Same dtype, different length: shard 0's nbr file in place of shard 2's.
    let (dir2, _) = written(&tmp.path().join("b"));
    let (a, b) = (file_of(&dir2, "shards/00000/nbr"), file_of(&dir2, "shards/00002/nbr"));
    fs::copy(&a, &b).unwrap();
    let err = MmapStore::open(&dir2).err().unwrap();
    assert!(matches!(err, StoreError::LengthMismatch { .. }), "{err}");
    err_names(&err, &b);
}

#[test]
fn unsupported_array_version_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let (dir, _) = written(tmp.path());
    let f = file_of(&dir, "events/dst");
    let mut bytes = fs::read(&f).unwrap();
    bytes[8] = 99;
    fs::write(&f, bytes).unwrap();
    let err = MmapStore::open(&dir).err().unwrap();
    assert!(matches!(err, StoreError::UnsupportedVersion { found: 99, .. }), "{err}");
}

#[test]
fn missing_file_and_bad_meta_are_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let (dir, _) = written(tmp.path());
    let f = file_of(&dir, "shards/00000/eid");
    fs::remove_file(&f).unwrap();
    let err = MmapStore::open(&dir).err().unwrap();
    assert!(matches!(err, StoreError::Io { .. }), "{err}");
    err_names(&err, &f);

    fs::write(dir.join(META_FILE), b"{ not json").unwrap();
    let err = MmapStore::open(&dir).err().unwrap();
    assert!(matches!(err, StoreError::MetaParse { .. }), "{err}");

    let err = MmapStore::open(&tmp.path().join("nope")).err().unwrap();
    assert!(matches!(err, StoreError::Io { .. }), "{err}");
}

#[test]
fn edited_meta_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let (dir, _) = written(tmp.path());
    rewrite_meta(&dir, |m| m.num_events += 1);
    let err = MmapStore::open(&dir).err().unwrap();
    assert!(matches!(err, StoreError::MetaInvalid { .. } | StoreError::LengthMismatch { .. }), "{err}");

    let (dir, _) = written(&tmp.path().join("b"));
    rewrite_meta(&dir, |m| m.arrays[0].file = "../../etc/passwd".into());
    let err = MmapStore::open(&dir).err().unwrap();
    assert!(matches!(err, StoreError::MetaInvalid { .. }), "{err}");

    let (dir, _) = written(&tmp.path().join("c"));
    rewrite_meta(&dir, |m| m.format_version = 7);
    let err = MmapStore::open(&dir).err().unwrap();
    assert!(matches!(err, StoreError::UnsupportedVersion { found: 7, .. }), "{err}");
}

#[test]
fn corrupt_offsets_are_refused_on_open() {
    let tmp = tempfile::tempdir().unwrap();
    let (dir, _) = written(tmp.path());
    let f = file_of(&dir, "shards/00000/offsets");
    let mut bytes = fs::read(&f).unwrap();
    // offsets[1] = 1000: beyond the shard's entries.
    bytes[64 + 8..64 + 16].copy_from_slice(&1000u64.to_le_bytes());
    fs::write(&f, bytes).unwrap();
    let err = MmapStore::open(&dir).err().unwrap();
    assert!(matches!(err, StoreError::CorruptArray { .. }), "{err}");
    err_names(&err, &f);
}

#[test]
fn verify_detects_a_flipped_byte() {
    let tmp = tempfile::tempdir().unwrap();
    let (dir, _) = written(tmp.path());
    let clean = verify(&dir).unwrap();
    assert!(clean.ok && clean.structure_checked, "{clean:?}");
    assert!(clean.files.iter().all(|f| f.ok));

    let f = file_of(&dir, "shards/00001/nbr");
    let mut bytes = fs::read(&f).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x01;
    fs::write(&f, bytes).unwrap();
    // Headers and sizes still match, so open succeeds; only the checksum tells.
    assert!(MmapStore::open(&dir).is_ok());
    let report = verify(&dir).unwrap();
    assert!(!report.ok);
    let bad: Vec<_> = report.failed_files().map(|f| f.name.as_str()).collect();
    assert_eq!(bad, ["shards/00001/nbr"]);
    let msg = report.failed_files().next().unwrap().error.clone().unwrap();
    assert!(msg.contains("checksum mismatch"), "{msg}");
}

#[test]
fn verify_detects_inconsistent_contents_with_valid_checksums() {
    let tmp = tempfile::tempdir().unwrap();
    let (dir, _) = written(tmp.path());
    // Rewrite shard 0's nbr with a wrong neighbour and a matching checksum, as a
    // buggy writer would.
    let am = read_meta(&dir).unwrap().array("shards/00000/nbr").unwrap().clone();
    let mut nbr: Vec<u32> = crate::store::format::read_array(&dir, &am).unwrap();
    nbr[0] = (nbr[0] + 1) % 5;
    fs::remove_file(dir.join(&am.file)).unwrap();
    let new = crate::store::format::write_array(&dir, &am.name, &nbr, 1, 0).unwrap();
    rewrite_meta(&dir, |m| *m.arrays.iter_mut().find(|a| a.name == am.name).unwrap() = new);
    let report = verify(&dir).unwrap();
    assert!(report.files.iter().all(|f| f.ok));
    assert!(!report.ok && !report.structure.is_empty(), "{report:?}");
    assert!(report.structure[0].contains("node 0"), "{:?}", report.structure);
}

#[test]
fn out_of_order_append_names_both_times() {
    let tmp = tempfile::tempdir().unwrap();
    let (dir, o) = written(tmp.path());
    let mut stores: Vec<Box<dyn TemporalStore>> =
        vec![Box::new(MemStore::from_data(&o.data()).unwrap()), Box::new(MmapStore::open(&dir).unwrap())];
    for s in stores.iter_mut() {
        let err = s.append(0, 1, 4.5, &[0.0, 0.0]).unwrap_err();
        assert!(matches!(err, StoreError::OutOfOrder { t, newest } if t == 4.5 && newest == 5.0), "{err}");
        let msg = err.to_string();
        assert!(msg.contains("4.5") && msg.contains('5'), "{msg}");
        // Equal time is fine, then the new time is the floor.
        assert_eq!(s.append(0, 1, 5.0, &[0.0, 0.0]).unwrap(), 6);
        assert!(s.append(0, 1, 6.0, &[0.0, 0.0]).is_ok());
        assert!(matches!(s.append(0, 1, 5.5, &[0.0, 0.0]), Err(StoreError::OutOfOrder { .. })));
        // Other refusals leave the store unchanged.
        assert!(matches!(s.append(0, 1, f64::NAN, &[0.0, 0.0]), Err(StoreError::NonFinite { .. })));
        assert!(matches!(s.append(0, 1, f64::INFINITY, &[0.0, 0.0]), Err(StoreError::NonFinite { .. })));
        assert!(matches!(s.append(0, 1, 7.0, &[0.0, f32::NAN]), Err(StoreError::NonFinite { .. })));
        assert!(matches!(s.append(0, 1, 7.0, &[0.0]), Err(StoreError::FeatureWidth { .. })));
        assert!(matches!(s.append(u32::MAX, 1, 7.0, &[0.0, 0.0]), Err(StoreError::NodeIdTooLarge { .. })));
        assert_eq!(s.num_events(), 8);
        assert_eq!(s.tail_len(), 2);
    }
}

#[test]
fn non_empty_output_dir_is_refused_unless_replace() {
    let tmp = tempfile::tempdir().unwrap();
    let (dir, o) = written(tmp.path());
    let err = write_graph(&dir, &o.data(), &WriteOptions { shard_nodes: 2, replace: false }).unwrap_err();
    assert!(matches!(err, StoreError::OutputExists { .. }), "{err}");
    err_names(&err, &dir);
    // A plain file in the way counts as non-empty too.
    let file = tmp.path().join("file");
    fs::write(&file, b"x").unwrap();
    assert!(matches!(
        write_graph(&file, &o.data(), &WriteOptions::default()),
        Err(StoreError::OutputExists { .. })
    ));
    // An empty directory is fine; replace overwrites.
    let empty = tmp.path().join("empty");
    fs::create_dir(&empty).unwrap();
    write_graph(&empty, &o.data(), &WriteOptions::default()).unwrap();
    let report = write_graph(&dir, &o.data(), &WriteOptions { shard_nodes: 3, replace: true }).unwrap();
    assert_eq!(report.shards, 2);
    assert_eq!(read_meta(&dir).unwrap().shard_nodes, 3);
    // No temporary directories left behind.
    let leftovers: Vec<_> = fs::read_dir(tmp.path())
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with('.'))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn bad_input_is_refused_by_write_graph_and_mem_store() {
    let tmp = tempfile::tempdir().unwrap();
    let o = Oracle::new(vec![(0, 1, 2.0), (1, 0, 1.0)], 0, false, 2);
    let err = write_graph(&tmp.path().join("g"), &o.data(), &WriteOptions::default()).unwrap_err();
    assert!(matches!(err, StoreError::UnsortedTime { row: 1, .. }), "{err}");
    assert!(!tmp.path().join("g").exists(), "nothing half-written");

    let mut log = EventLog::with_feat_dim(1);
    log.push(0, 1, f64::NAN, &[1.0]);
    assert!(matches!(MemStore::from_log(log, false), Err(StoreError::NonFinite { what: "time", .. })));

    let mut log = EventLog::with_feat_dim(1);
    log.push(0, 1, 1.0, &[f32::INFINITY]);
    assert!(matches!(MemStore::from_log(log, false), Err(StoreError::NonFinite { what: "feature", .. })));

    let mut data = o.data();
    data.events.src = vec![0, 7];
    data.events.t = vec![1.0, 2.0];
    let err = write_graph(&tmp.path().join("h"), &data, &WriteOptions::default()).unwrap_err();
    assert!(matches!(err, StoreError::NodeOutOfRange { row: 1, node: 7, num_nodes: 2 }), "{err}");

    let err = write_graph(&tmp.path().join("i"), &o.data(), &WriteOptions { shard_nodes: 0, replace: false });
    assert!(matches!(err, Err(StoreError::InvalidOption(_))));
}
