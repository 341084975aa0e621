//! `verify`: full integrity check of a graph directory.
//!
//! Two layers. (1) Every array file listed in meta.json: header and exact size,
//! then the XXH3-64 of the whole file against meta.json (files in parallel; each
//! is hashed from a read-only map, so nothing is copied). (2) When all files pass,
//! the contents: times finite and sorted, node and event ids in range, and every
//! adjacency entry naming a real incidence of its event with the event's time,
//! each node's list strictly increasing in event id, and the entry count equal to
//! what the events imply; together these mean the shards are exactly the CSR of
//! the events. [`check_structure`] runs layer (2) on any [`TemporalStore`].

use std::collections::HashSet;
use std::fs::File;
use std::path::{Path, PathBuf};

use memmap2::Mmap;
use rayon::prelude::*;
use serde::Serialize;

use crate::store::format::{ArrayMeta, HEADER_LEN, META_FILE, check_header, read_meta};
use crate::store::mmap::LOCK_FILE;
use crate::store::{EventId, MmapStore, NodeId, StoreError, TemporalStore};

/// Outcome for one array file.
#[derive(Debug, Clone, Serialize)]
pub struct FileCheck {
    pub name: String,
    /// Path relative to the graph directory.
    pub file: String,
    pub bytes: u64,
    pub expected_xxh3: String,
    /// `None` when the file could not be hashed (missing, wrong size or header).
    pub actual_xxh3: Option<String>,
    pub ok: bool,
    pub error: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct VerifyReport {
    pub dir: PathBuf,
    pub files: Vec<FileCheck>,
    /// Content problems (at most [`MAX_PROBLEMS`]); empty when all is well or when
    /// a file failed (contents are only checked once every checksum matches).
    pub structure: Vec<String>,
    /// Whether the content checks ran.
    pub structure_checked: bool,
    /// Files under the directory that meta.json does not reference (for example
    /// left behind by an interrupted compaction); harmless, not a failure.
    pub unreferenced: Vec<String>,
    pub bytes: u64,
    pub ok: bool,
}

impl VerifyReport {
    pub fn failed_files(&self) -> impl Iterator<Item = &FileCheck> {
        self.files.iter().filter(|f| !f.ok)
    }
}

/// Stop listing content problems after this many.
pub const MAX_PROBLEMS: usize = 20;

fn check_file(dir: &Path, am: &ArrayMeta) -> FileCheck {
    let mut fc = FileCheck {
        name: am.name.clone(),
        file: am.file.clone(),
        bytes: 0,
        expected_xxh3: am.xxh3.clone(),
        actual_xxh3: None,
        ok: false,
        error: None,
    };
    let path = dir.join(&am.file);
    let result = (|| -> Result<(), StoreError> {
        let f = File::open(&path).map_err(|e| StoreError::io(&path, e))?;
        let len = f.metadata().map_err(|e| StoreError::io(&path, e))?.len();
        fc.bytes = len;
        if len < HEADER_LEN as u64 {
            return Err(StoreError::SizeMismatch {
                path: path.clone(),
                expected: am.file_bytes(),
                actual: len,
            });
        }
        // SAFETY: read-only map of a file we only read; see column.rs on truncation.
        let map = unsafe { Mmap::map(&f) }.map_err(|e| StoreError::io(&path, e))?;
        check_header(&path, &map, len, am)?;
        let actual = xxhash_rust::xxh3::xxh3_64(&map);
        fc.actual_xxh3 = Some(format!("{actual:016x}"));
        let expected = am.checksum().unwrap_or(0);
        if actual != expected {
            return Err(StoreError::ChecksumMismatch { path: path.clone(), expected, actual });
        }
        Ok(())
    })();
    match result {
        Ok(()) => fc.ok = true,
        Err(e) => fc.error = Some(e.to_string()),
    }
    fc
}

fn list_files(root: &Path, rel: &Path, out: &mut Vec<String>) {
    let Ok(rd) = std::fs::read_dir(root.join(rel)) else { return };
    for entry in rd.flatten() {
        let rel_path = rel.join(entry.file_name());
        match entry.file_type() {
            Ok(ft) if ft.is_dir() => list_files(root, &rel_path, out),
            Ok(_) => out.push(rel_path.to_string_lossy().into_owned()),
            Err(_) => {}
        }
    }
}

/// Check every checksum of the graph directory `dir`, then its contents. Returns
/// `Err` only when meta.json itself is unreadable; file problems are in the report.
pub fn verify(dir: &Path) -> Result<VerifyReport, StoreError> {
    let meta = read_meta(dir)?;
    let files: Vec<FileCheck> =
        meta.arrays.par_iter().with_max_len(1).map(|am| check_file(dir, am)).collect();
    let files_ok = files.iter().all(|f| f.ok);
    let mut structure = Vec::new();
    if files_ok {
        match MmapStore::open(dir) {
            Ok(store) => structure = check_structure(&store),
            Err(e) => structure.push(e.to_string()),
        }
    }
    let referenced: HashSet<&str> = meta.arrays.iter().map(|a| a.file.as_str()).collect();
    let mut all = Vec::new();
    list_files(dir, Path::new(""), &mut all);
    let mut unreferenced: Vec<String> = all
        .into_iter()
        .filter(|f| f != META_FILE && f != LOCK_FILE && !referenced.contains(f.as_str()))
        .collect();
    unreferenced.sort();
    Ok(VerifyReport {
        dir: dir.to_path_buf(),
        bytes: files.iter().map(|f| f.bytes).sum(),
        ok: files_ok && structure.is_empty(),
        structure_checked: files_ok,
        files,
        structure,
        unreferenced,
    })
}

/// Content invariants of any store (see the module docs). Returns the first
/// [`MAX_PROBLEMS`] problems found, empty when the store is consistent.
pub fn check_structure(store: &dyn TemporalStore) -> Vec<String> {
    let n = store.num_nodes();
    let e_count = store.num_events();
    let directed = store.directed();
    let mut problems = Vec::new();
    let push = |p: &mut Vec<String>, s: String| {
        if p.len() < MAX_PROBLEMS {
            p.push(s)
        }
    };

    // Events: times finite and sorted, endpoints in range; expected entry count.
    let mut prev = f64::NEG_INFINITY;
    let mut expected_entries = 0u64;
    for seg in store.event_segments() {
        for i in 0..seg.t.len() {
            let e = seg.first as u64 + i as u64;
            let (s, d, t) = (seg.src[i], seg.dst[i], seg.t[i]);
            if !t.is_finite() || t < prev {
                push(&mut problems, format!("event {e}: time {t} is not finite or earlier than {prev}"));
            }
            prev = prev.max(t);
            if s >= n || d >= n {
                push(&mut problems, format!("event {e}: node {s} or {d} is out of range ({n} nodes)"));
            }
            expected_entries += if directed || s == d { 1 } else { 2 };
        }
    }
    if !problems.is_empty() {
        return problems;
    }

    // Adjacency: every entry a real incidence, lists strictly increasing in id.
    let check_node = |v: NodeId| -> (u64, Vec<String>) {
        let mut out = Vec::new();
        let nb = store.neighbors(v);
        let mut last: Option<EventId> = None;
        for (nbr, t, eid) in nb.iter() {
            if out.len() >= 3 {
                break;
            }
            if eid as usize >= e_count {
                out.push(format!("node {v}: entry names event {eid} but there are {e_count} events"));
                continue;
            }
            if last.is_some_and(|l| eid <= l) {
                out.push(format!(
                    "node {v}: event {eid} after event {} (lists must increase)",
                    last.unwrap_or(0)
                ));
            }
            last = Some(eid);
            let (s, d, te) = store.event(eid);
            let incident = (s == v && d == nbr) || (!directed && d == v && s == nbr);
            if !incident {
                out.push(format!("node {v}: entry ({nbr}, event {eid}) but event {eid} is {s} -> {d}"));
            }
            if t.to_bits() != te.to_bits() {
                out.push(format!("node {v}: entry for event {eid} has time {t} but the event has {te}"));
            }
        }
        (nb.len() as u64, out)
    };
    let (entries, node_problems) = (0..n).into_par_iter().map(check_node).reduce(
        || (0, Vec::new()),
        |(a, mut pa), (b, pb)| {
            pa.extend(pb);
            pa.truncate(MAX_PROBLEMS);
            (a + b, pa)
        },
    );
    for p in node_problems {
        push(&mut problems, p);
    }
    if entries != expected_entries {
        push(&mut problems, format!("{entries} adjacency entries but the events imply {expected_entries}"));
    }
    problems
}
