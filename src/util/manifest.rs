//! Manifests: the XXH3-64 and size of every file of a model directory or a live
//! state directory, so a byte changed anywhere is found before the files are used.
//!
//! The manifest is a text file, `manifest.xxh3`, written last into the staged
//! directory (so it is renamed into place together with the files it lists):
//! ```text
//! # linkcast-manifest-1
//! <xxh3 16 lowercase hex>  <bytes>  <path relative to the directory, '/'-separated>
//! ...
//! # end <xxh3 of every byte above this line>
//! ```
//! The last line checks the manifest itself, so a flipped byte in the manifest
//! is refused as surely as one in a listed file. Hex is compared as text (never
//! parsed case-insensitively), so a flipped case bit is a mismatch too. Files
//! are hashed from buffered reads (never mapped: a file truncated under a map
//! would fault), several at once on the rayon pool.
//!
//! A directory without a manifest (written before manifests existed) is
//! [`Verified::Absent`]: callers load it with a one-line warning, and
//! `linkcast verify --write-manifest DIR` adds one.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use serde::Serialize;
use xxhash_rust::xxh3::{Xxh3, xxh3_64};

pub const MANIFEST: &str = "manifest.xxh3";
const HEAD: &str = "# linkcast-manifest-1\n";
const END: &str = "# end ";

/// Every file a model directory may hold (`linkcast train`'s checkpoint), in the
/// order a manifest lists them; `verify --write-manifest` covers the ones present.
pub const MODEL_FILES: &[&str] = &[
    "config.json",
    "model.safetensors",
    "memory.safetensors",
    "state.json",
    "ids.tsv",
    "metrics.jsonl",
    "training.png",
    "results.json",
    "resume/last.safetensors",
    "resume/adam.safetensors",
];

/// Every file of a live state directory (`serve::state`).
pub const LIVE_FILES: &[&str] = &["live.json", "events.jsonl", "scorer.safetensors"];

#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: corrupt manifest ({why}); run `linkcast verify` on the directory")]
    Corrupt { path: PathBuf, why: String },
    #[error("{path}: {why}: the file does not match the directory's {MANIFEST} (damaged or changed)")]
    Mismatch { path: PathBuf, why: String },
    #[error("{path}: missing, but listed in {MANIFEST}")]
    Missing { path: PathBuf },
    #[error("{path}: file name cannot be listed in a manifest ({why})")]
    BadName { path: PathBuf, why: String },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> ManifestError + '_ {
    move |source| ManifestError::Io { path: path.to_path_buf(), source }
}

/// One listed file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Entry {
    pub file: String,
    pub bytes: u64,
    pub xxh3: String,
}

/// A directory's manifest, entries in the order written.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Manifest {
    pub entries: Vec<Entry>,
}

/// What [`verify`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verified {
    /// Every listed file matched.
    Ok { files: usize, bytes: u64 },
    /// No manifest (a directory from before manifests).
    Absent,
}

fn hex(h: u64) -> String {
    format!("{h:016x}")
}

/// Size and XXH3-64 (16 lowercase hex digits) of one file.
pub fn hash_file(path: &Path) -> Result<(u64, String), ManifestError> {
    let mut f = File::open(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => ManifestError::Missing { path: path.to_path_buf() },
        _ => ManifestError::Io { path: path.to_path_buf(), source: e },
    })?;
    let mut h = Xxh3::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut bytes = 0u64;
    loop {
        let n = f.read(&mut buf).map_err(io(path))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
        bytes += n as u64;
    }
    Ok((bytes, hex(h.digest())))
}

fn check_name(dir: &Path, rel: &str) -> Result<(), ManifestError> {
    let bad = |why: &str| ManifestError::BadName { path: dir.join(rel), why: why.into() };
    if rel.is_empty() || rel.contains(['\n', '\r']) || rel.starts_with('/') {
        return Err(bad("empty, absolute or with a line break"));
    }
    if rel.split('/').any(|c| c.is_empty() || c == "." || c == "..") {
        return Err(bad("components must be plain names"));
    }
    Ok(())
}

impl Manifest {
    /// Hash `files` (relative to `dir`) into a manifest.
    pub fn build(dir: &Path, files: &[String]) -> Result<Manifest, ManifestError> {
        for f in files {
            check_name(dir, f)?;
        }
        let entries = files
            .par_iter()
            .with_max_len(1)
            .map(|f| hash_file(&dir.join(f)).map(|(bytes, xxh3)| Entry { file: f.clone(), bytes, xxh3 }))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Manifest { entries })
    }

    /// The manifest's text, self-check line included.
    pub fn render(&self) -> String {
        let mut s = String::from(HEAD);
        for e in &self.entries {
            s.push_str(&format!("{}  {}  {}\n", e.xxh3, e.bytes, e.file));
        }
        let sum = hex(xxh3_64(s.as_bytes()));
        s.push_str(END);
        s.push_str(&sum);
        s.push('\n');
        s
    }

    /// Parse a manifest's text; `path` names it in errors.
    pub fn parse(path: &Path, bytes: &[u8]) -> Result<Manifest, ManifestError> {
        let corrupt = |why: String| ManifestError::Corrupt { path: path.to_path_buf(), why };
        let text = std::str::from_utf8(bytes).map_err(|_| corrupt("not UTF-8".into()))?;
        let body_end = text
            .strip_suffix('\n')
            .and_then(|t| t.rfind('\n'))
            .map(|i| i + 1)
            .ok_or_else(|| corrupt("no end line".into()))?;
        let (body, last) = text.split_at(body_end);
        let want = last
            .strip_prefix(END)
            .and_then(|l| l.strip_suffix('\n'))
            .ok_or_else(|| corrupt("last line is not `# end <xxh3>` (truncated?)".into()))?;
        let got = hex(xxh3_64(body.as_bytes()));
        if want != got {
            return Err(corrupt(format!("its own checksum is {got}, the end line says {want:?}")));
        }
        let rest = body.strip_prefix(HEAD).ok_or_else(|| corrupt("unknown format line".into()))?;
        let mut entries = Vec::new();
        for (i, line) in rest.lines().enumerate() {
            let mut parts = line.splitn(3, "  ");
            let (Some(h), Some(b), Some(f)) = (parts.next(), parts.next(), parts.next()) else {
                return Err(corrupt(format!("line {}: expected `xxh3  bytes  path`", i + 2)));
            };
            let bytes: u64 = b.parse().map_err(|_| corrupt(format!("line {}: size {b:?}", i + 2)))?;
            if h.len() != 16 || !h.bytes().all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c)) {
                return Err(corrupt(format!("line {}: checksum {h:?}", i + 2)));
            }
            check_name(path.parent().unwrap_or(Path::new(".")), f)?;
            entries.push(Entry { file: f.to_string(), bytes, xxh3: h.to_string() });
        }
        Ok(Manifest { entries })
    }

    /// Write `dir/manifest.xxh3` atomically (temp file, fsync, rename).
    pub fn write(&self, dir: &Path) -> Result<(), ManifestError> {
        let p = dir.join(MANIFEST);
        crate::util::atomic::write_file(&p, self.render().as_bytes()).map_err(io(&p))
    }

    /// Read `dir/manifest.xxh3`; `None` when there is none.
    pub fn read(dir: &Path) -> Result<Option<Manifest>, ManifestError> {
        let p = dir.join(MANIFEST);
        match std::fs::read(&p) {
            Ok(bytes) => Manifest::parse(&p, &bytes).map(Some),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(ManifestError::Io { path: p, source: e }),
        }
    }

    pub fn get(&self, file: &str) -> Option<&Entry> {
        self.entries.iter().find(|e| e.file == file)
    }
}

/// Check one listed file against its entry.
pub fn check_entry(dir: &Path, e: &Entry) -> Result<(), ManifestError> {
    let path = dir.join(&e.file);
    let (bytes, xxh3) = hash_file(&path)?;
    if bytes != e.bytes {
        let why = format!("{bytes} bytes where {} were written (truncated or extended)", e.bytes);
        return Err(ManifestError::Mismatch { path, why });
    }
    if xxh3 != e.xxh3 {
        return Err(ManifestError::Mismatch { path, why: format!("xxh3 {xxh3}, expected {}", e.xxh3) });
    }
    Ok(())
}

/// Every file of `dir` against its manifest: each file's own result, in order.
pub fn check_all(dir: &Path, m: &Manifest) -> Vec<Result<(), ManifestError>> {
    m.entries.par_iter().with_max_len(1).map(|e| check_entry(dir, e)).collect()
}

/// Verify `dir` whole: the manifest, then every file it lists (the first failure
/// is the error, naming the file).
pub fn verify(dir: &Path) -> Result<Verified, ManifestError> {
    let Some(m) = Manifest::read(dir)? else { return Ok(Verified::Absent) };
    for r in check_all(dir, &m) {
        r?;
    }
    let bytes = m.entries.iter().map(|e| e.bytes).sum();
    Ok(Verified::Ok { files: m.entries.len(), bytes })
}

/// Hash every file under `dir` except the manifest itself, in sorted order, and
/// write the manifest (the last step of staging a directory).
pub fn seal(dir: &Path) -> Result<Manifest, ManifestError> {
    let mut files = Vec::new();
    list_files(dir, "", &mut files)?;
    files.retain(|f| f != MANIFEST);
    files.sort();
    let m = Manifest::build(dir, &files)?;
    m.write(dir)?;
    Ok(m)
}

/// Hash the files of `known` that exist in `dir` and write the manifest (for
/// directories written before manifests: `verify --write-manifest`).
pub fn seal_known(dir: &Path, known: &[&str]) -> Result<Manifest, ManifestError> {
    let files: Vec<String> = known.iter().filter(|f| dir.join(f).is_file()).map(|f| f.to_string()).collect();
    let m = Manifest::build(dir, &files)?;
    m.write(dir)?;
    Ok(m)
}

/// Regular files under `dir`, relative and '/'-separated.
pub fn list_files(dir: &Path, rel: &str, out: &mut Vec<String>) -> Result<(), ManifestError> {
    let here = if rel.is_empty() { dir.to_path_buf() } else { dir.join(rel) };
    for entry in std::fs::read_dir(&here).map_err(io(&here))? {
        let entry = entry.map_err(io(&here))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let r = if rel.is_empty() { name } else { format!("{rel}/{name}") };
        let ft = entry.file_type().map_err(io(&here))?;
        if ft.is_dir() {
            list_files(dir, &r, out)?;
        } else if ft.is_file() {
            out.push(r);
        }
    }
    Ok(())
}

/// Test helper: the damages every integrity test plants in a file: one bit
/// flipped in its first, middle and last byte, and the file cut to half its length
/// (an empty file: one byte appended).
#[cfg(test)]
pub(crate) fn damages(good: &[u8]) -> Vec<(&'static str, Vec<u8>)> {
    let n = good.len();
    if n == 0 {
        return vec![("extended", vec![b'x'])];
    }
    let flip = |at: usize| {
        let mut b = good.to_vec();
        b[at] ^= 0x04;
        b
    };
    vec![
        ("header", flip(0)),
        ("middle", flip(n / 2)),
        ("end", flip(n - 1)),
        ("truncated", good[..n / 2].to_vec()),
    ]
}

#[cfg(test)]
#[path = "manifest_tests.rs"]
mod tests;
