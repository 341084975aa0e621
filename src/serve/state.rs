//! The live part of a [`super::Scorer`] on disk: every event appended since the
//! base graph, with its batch boundaries, plus the scorer's own state (a model's
//! memory), so a restart reproduces the same memory without replaying history in
//! different batches.
//!
//! Layout of a state directory:
//! ```text
//! live.json            format, base graph size, batches, events, watermark, whether scorer.bin exists
//! events.jsonl         one line per batch: {"seq": N, "events": [{"src", "dst", "t", "feat"}, ...]}
//! scorer.safetensors   the scorer's state after the last batch (model memory; absent for baselines)
//! manifest.xxh3        size and XXH3-64 of the files above (`util::manifest`), written last
//! ```
//! [`load`] checks the manifest before reading anything, so a damaged file is refused
//! by name; a state written before manifests loads with a one-line warning.
//! Saving is crash-safe: the new directory is written and fsynced beside the old one
//! (`DIR.tmp-*`), the old one is renamed to `DIR.old`, the new one to `DIR`, then
//! `DIR.old` is removed. A reader that finds no `DIR` but a `DIR.old` uses the latter,
//! so some complete state is on disk at every instant.

use std::fs;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::serve::{LiveEvent, ServeError};
use crate::util::faults;
use crate::util::manifest::{self, MANIFEST, Verified};

pub const FORMAT: &str = "linkcast-live-1";
pub const META: &str = "live.json";
pub const EVENTS: &str = "events.jsonl";
pub const SCORER: &str = "scorer.safetensors";

/// One `ingest` call: its sequence number (1-based) and events, external ids.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct LiveBatch {
    pub seq: u64,
    pub events: Vec<LiveEvent>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct LiveMeta {
    pub format: String,
    /// Scorer name (model kind or baseline) that wrote the state.
    pub scorer: String,
    /// Events and nodes of the base graph the live events extend.
    pub base_events: usize,
    pub base_nodes: u32,
    pub batches: u64,
    pub events: usize,
    pub watermark_time: Option<f64>,
    pub scorer_state: bool,
}

fn io(path: &Path, source: std::io::Error) -> ServeError {
    ServeError::Io { path: path.display().to_string(), source }
}

fn bad(path: &Path, why: impl Into<String>) -> ServeError {
    ServeError::State { path: path.display().to_string(), why: why.into() }
}

fn sibling(dir: &Path, suffix: &str) -> PathBuf {
    let mut s = dir.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

/// The directory to read: `dir`, or `dir.old` left by a save interrupted between
/// its two renames; `None` when neither holds a state.
pub fn locate(dir: &Path) -> Option<PathBuf> {
    [dir.to_path_buf(), sibling(dir, ".old")].into_iter().find(|d| d.join(META).is_file())
}

/// Write a state directory crash-safely. `write_scorer` writes the scorer's file
/// to the path it is given and says whether it wrote one.
pub fn save(
    dir: &Path,
    meta: &LiveMeta,
    batches: impl IntoIterator<Item = LiveBatch>,
    write_scorer: impl FnOnce(&Path) -> Result<bool, ServeError>,
) -> Result<(), ServeError> {
    let parent = match dir.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    fs::create_dir_all(&parent).map_err(|e| io(&parent, e))?;
    let tmp = sibling(dir, &format!(".tmp-{}", std::process::id()));
    if tmp.exists() {
        fs::remove_dir_all(&tmp).map_err(|e| io(&tmp, e))?;
    }
    fs::create_dir(&tmp).map_err(|e| io(&tmp, e))?;
    let result = (|| {
        let mut meta = meta.clone();
        let p = tmp.join(SCORER);
        meta.scorer_state = write_scorer(&p)?;
        if meta.scorer_state {
            faults::written(&p).map_err(|e| io(&p, e))?;
        }
        let p = tmp.join(EVENTS);
        let f = fs::File::create(&p).map_err(|e| io(&p, e))?;
        let mut w = BufWriter::new(faults::guard(&p, f));
        for b in batches {
            serde_json::to_writer(&mut w, &b).map_err(|e| bad(&p, e.to_string()))?;
            w.write_all(b"\n").map_err(|e| io(&p, e))?;
        }
        let f = w.into_inner().map_err(|e| io(&p, e.into_error()))?;
        f.get_ref().sync_all().map_err(|e| io(&p, e))?;
        let p = tmp.join(META);
        let text = serde_json::to_vec_pretty(&meta).map_err(|e| bad(&p, e.to_string()))?;
        write_whole(&p, &text).map_err(|e| io(&p, e))?;
        for name in [META, SCORER] {
            let q = tmp.join(name);
            if q.exists() {
                fs::File::open(&q).and_then(|f| f.sync_all()).map_err(|e| io(&q, e))?;
            }
        }
        manifest::seal(&tmp)?;
        Ok(())
    })();
    if let Err(e) = result {
        let _ = fs::remove_dir_all(&tmp);
        return Err(e);
    }
    let old = sibling(dir, ".old");
    if dir.exists() {
        if old.exists() {
            fs::remove_dir_all(&old).map_err(|e| io(&old, e))?;
        }
        fs::rename(dir, &old).map_err(|e| io(dir, e))?;
    }
    fs::rename(&tmp, dir).map_err(|e| io(dir, e))?;
    if let Ok(d) = fs::File::open(&parent) {
        let _ = d.sync_all();
    }
    if old.exists() {
        fs::remove_dir_all(&old).map_err(|e| io(&old, e))?;
    }
    Ok(())
}

fn write_whole(p: &Path, bytes: &[u8]) -> std::io::Result<()> {
    faults::guard(p, fs::File::create(p)?).write_all(bytes)
}

/// Read a state directory written by [`save`] (use [`locate`] first).
pub fn load(dir: &Path) -> Result<(LiveMeta, Vec<LiveBatch>), ServeError> {
    let started = std::time::Instant::now();
    match manifest::verify(dir)? {
        Verified::Absent => tracing::warn!(
            "live state {}: no {MANIFEST} (written before manifests); loading unverified \
             (`linkcast verify --write-manifest` adds one)",
            dir.display()
        ),
        Verified::Ok { files, bytes } => tracing::info!(
            "live state {}: {files} files ({bytes} bytes) match {MANIFEST} ({:.3} s)",
            dir.display(),
            started.elapsed().as_secs_f64()
        ),
    }
    let p = dir.join(META);
    let text = fs::read(&p).map_err(|e| io(&p, e))?;
    let meta: LiveMeta = serde_json::from_slice(&text).map_err(|e| bad(&p, e.to_string()))?;
    if meta.format != FORMAT {
        return Err(bad(&p, format!("format {:?}, expected {FORMAT:?}", meta.format)));
    }
    let p = dir.join(EVENTS);
    let f = fs::File::open(&p).map_err(|e| io(&p, e))?;
    let mut batches = Vec::new();
    for (i, line) in BufReader::new(f).lines().enumerate() {
        let line = line.map_err(|e| io(&p, e))?;
        let b: LiveBatch =
            serde_json::from_str(&line).map_err(|e| bad(&p, format!("line {}: {e}", i + 1)))?;
        if b.seq != i as u64 + 1 {
            return Err(bad(
                &p,
                format!("line {}: batch sequence {} where {} was expected", i + 1, b.seq, i + 1),
            ));
        }
        batches.push(b);
    }
    let events: usize = batches.iter().map(|b| b.events.len()).sum();
    if batches.len() as u64 != meta.batches || events != meta.events {
        return Err(bad(
            &p,
            format!(
                "{} batches / {events} events, but live.json records {} / {}",
                batches.len(),
                meta.batches,
                meta.events
            ),
        ));
    }
    Ok((meta, batches))
}
