//! On-disk format of a graph directory (format version 1).
//!
//! ```text
//! GRAPH_DIR/
//!   meta.json                      counts, time range, shard layout, one entry per array file
//!   events/src.u32                 u32[E]       source node of event e (event id = row, time order)
//!   events/dst.u32                 u32[E]       destination node
//!   events/t.f64                   f64[E]       time, non-decreasing
//!   events/feats.f32               f32[E * d]   row-major edge features (0 elements when d = 0)
//!   shards/NNNNN/offsets.u64       u64[n + 1]   CSR offsets of the shard's n nodes, offsets[0] = 0
//!   shards/NNNNN/nbr.u32           u32[m]       neighbour of each adjacency entry
//!   shards/NNNNN/t.f64             f64[m]       time of the entry's event
//!   shards/NNNNN/eid.u32           u32[m]       event id of the entry
//!   node_feats.f32                 f32[N0 * k]  row-major node features (only if the graph has them)
//!   ids/int.i64                    i64[N0]      external integer id of dense node i, or
//!   ids/str_offsets.u64            u64[N0 + 1]  byte range [off[i], off[i+1]) of node i's name in
//!   ids/str_bytes.u8               u8[B]        the concatenated UTF-8 names
//! ```
//! Shard `s` (`NNNNN` = `s` as 5+ decimal digits) holds nodes
//! `[s * shard_nodes, min((s + 1) * shard_nodes, N))`; its entries for local node `i`
//! are `offsets[i]..offsets[i + 1]`, sorted by (time, event id). An undirected graph
//! stores event `u -> v` in `u`'s list (neighbour `v`) and in `v`'s list (neighbour
//! `u`); a self-loop once; a directed graph only in `u`'s list. `N0` (ids, node
//! features) is the node count when the graph was written; nodes appended later have
//! neither an external id nor features here.
//!
//! Every array file is a 64-byte header followed by the raw little-endian elements,
//! so that in a page-aligned memory map the data starts 8-byte aligned:
//! ```text
//! offset  size  field
//!      0     8  magic b"LCARRAY\0"
//!      8     4  format version, u32 (1)
//!     12     4  dtype code, u32: 1 u8, 2 u32, 3 u64, 4 i64, 5 f32, 6 f64
//!     16     8  element count, u64
//!     24     8  row width, u64 (d for feature matrices, 1 otherwise)
//!     32    32  reserved, zero
//!     64     .  elements; file size = 64 + count * dtype size, exactly
//! ```
//! meta.json lists every array as `{name, file, dtype, len, row_width, xxh3}` where
//! `xxh3` is the XXH3-64 hash (16 hex digits) of the whole file, header included.
//! `name` is stable ("events/src", "shards/00003/nbr"); `file` is the path relative to
//! the directory. Compaction writes replaced arrays under new names
//! (`events/src.g2.u32` for generation 2) and then replaces meta.json atomically, so
//! meta.json is the commit point: a crash leaves either the old or the new graph.
//!
//! Bytes per event, with `d` edge features:
//! - event log: 16 B (src 4 + dst 4 + t 8) plus `4 d` B of features;
//! - adjacency: 16 B per entry (nbr 4 + t 8 + eid 4); two entries per event when
//!   undirected (one for a self-loop), one when directed;
//! - so 48 B/event undirected (32 B directed) plus `4 d`, plus 8 B per node of
//!   offsets, 64 B of header per file, and meta.json.
//!
//! This stays under the budget of 64 B/event plus features: measured 48.16 B/event for
//! 1e8 undirected events over 1e6 nodes (log 16.0, adjacency 32.08 with offsets, ids 0.08).
//! Out-of-core ingest ([`super::write_external`]) writes the same bytes; its scratch
//! space (runs, buckets) is temporary and reported separately.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use xxhash_rust::xxh3::Xxh3Default;

use crate::store::StoreError;
use crate::util::faults::{Guarded, guard};

pub const FORMAT_NAME: &str = "linkcast-graph";
pub const FORMAT_VERSION: u32 = 1;
pub const META_FILE: &str = "meta.json";
pub const MAGIC: [u8; 8] = *b"LCARRAY\0";
pub const HEADER_LEN: usize = 64;

/// Element type of an array file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Dtype {
    U8,
    U32,
    U64,
    I64,
    F32,
    F64,
}

impl Dtype {
    pub fn code(self) -> u32 {
        match self {
            Dtype::U8 => 1,
            Dtype::U32 => 2,
            Dtype::U64 => 3,
            Dtype::I64 => 4,
            Dtype::F32 => 5,
            Dtype::F64 => 6,
        }
    }

    pub fn from_code(code: u32) -> Option<Dtype> {
        Some(match code {
            1 => Dtype::U8,
            2 => Dtype::U32,
            3 => Dtype::U64,
            4 => Dtype::I64,
            5 => Dtype::F32,
            6 => Dtype::F64,
            _ => return None,
        })
    }

    pub fn size(self) -> usize {
        match self {
            Dtype::U8 => 1,
            Dtype::U32 | Dtype::F32 => 4,
            Dtype::U64 | Dtype::I64 | Dtype::F64 => 8,
        }
    }

    /// File extension and display name.
    pub fn name(self) -> &'static str {
        match self {
            Dtype::U8 => "u8",
            Dtype::U32 => "u32",
            Dtype::U64 => "u64",
            Dtype::I64 => "i64",
            Dtype::F32 => "f32",
            Dtype::F64 => "f64",
        }
    }
}

/// Rust element types that can live in an array file.
pub trait Element: bytemuck::Pod + Send + Sync {
    const DTYPE: Dtype;
}
impl Element for u8 {
    const DTYPE: Dtype = Dtype::U8;
}
impl Element for u32 {
    const DTYPE: Dtype = Dtype::U32;
}
impl Element for u64 {
    const DTYPE: Dtype = Dtype::U64;
}
impl Element for i64 {
    const DTYPE: Dtype = Dtype::I64;
}
impl Element for f32 {
    const DTYPE: Dtype = Dtype::F32;
}
impl Element for f64 {
    const DTYPE: Dtype = Dtype::F64;
}

/// One array file as recorded in meta.json.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ArrayMeta {
    /// Stable logical name, e.g. "events/t" or "shards/00002/offsets".
    pub name: String,
    /// Path relative to the graph directory.
    pub file: String,
    pub dtype: Dtype,
    /// Element count.
    pub len: u64,
    pub row_width: u64,
    /// XXH3-64 of the whole file, 16 lowercase hex digits.
    pub xxh3: String,
}

impl ArrayMeta {
    pub fn checksum(&self) -> Option<u64> {
        u64::from_str_radix(&self.xxh3, 16).ok()
    }

    pub fn file_bytes(&self) -> u64 {
        HEADER_LEN as u64 + self.len * self.dtype.size() as u64
    }
}

/// One node-range shard as recorded in meta.json.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShardMeta {
    pub first_node: u32,
    pub num_nodes: u32,
    /// Adjacency entries (length of nbr/t/eid).
    pub entries: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IdKind {
    Int,
    Str,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IdsMeta {
    pub kind: IdKind,
    /// Nodes that have an external id (the node count at write time).
    pub count: u32,
}

/// Contents of meta.json.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Meta {
    /// Always "linkcast-graph".
    pub format: String,
    pub format_version: u32,
    /// Bumped by every compaction; names the files it wrote.
    pub generation: u64,
    pub num_events: u64,
    pub num_nodes: u32,
    pub num_shards: usize,
    pub shard_nodes: u32,
    /// Smallest and largest event time (`None` for an empty graph).
    pub time_min: Option<f64>,
    pub time_max: Option<f64>,
    pub feat_dim: usize,
    /// 0 when the graph has no node features.
    pub node_feat_dim: usize,
    pub directed: bool,
    pub bipartite: bool,
    pub n_src: Option<u32>,
    pub ids: IdsMeta,
    /// Sum of the shards' entries.
    pub adjacency_entries: u64,
    pub shards: Vec<ShardMeta>,
    pub arrays: Vec<ArrayMeta>,
    pub provenance: serde_json::Value,
}

impl Meta {
    pub fn array(&self, name: &str) -> Option<&ArrayMeta> {
        self.arrays.iter().find(|a| a.name == name)
    }

    pub fn has_node_features(&self) -> bool {
        self.array("node_feats").is_some()
    }
}

pub fn shard_dir_name(s: usize) -> String {
    format!("shards/{s:05}")
}

/// File name of array `name` written by compaction generation `generation`.
pub fn array_file(name: &str, dtype: Dtype, generation: u64) -> String {
    if generation == 0 {
        format!("{name}.{}", dtype.name())
    } else {
        format!("{name}.g{generation}.{}", dtype.name())
    }
}

pub fn encode_header(dtype: Dtype, len: u64, row_width: u64) -> [u8; HEADER_LEN] {
    let mut h = [0u8; HEADER_LEN];
    h[0..8].copy_from_slice(&MAGIC);
    h[8..12].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
    h[12..16].copy_from_slice(&dtype.code().to_le_bytes());
    h[16..24].copy_from_slice(&len.to_le_bytes());
    h[24..32].copy_from_slice(&row_width.to_le_bytes());
    h
}

/// Check a file's header and size against what meta.json says. `file_len` is the
/// actual size on disk; `head` holds at least its first `HEADER_LEN` bytes when it
/// is that long.
pub fn check_header(path: &Path, head: &[u8], file_len: u64, am: &ArrayMeta) -> Result<(), StoreError> {
    let expected_bytes = am.file_bytes();
    if file_len < HEADER_LEN as u64 || head.len() < HEADER_LEN {
        return Err(StoreError::SizeMismatch {
            path: path.to_path_buf(),
            expected: expected_bytes,
            actual: file_len,
        });
    }
    if head[0..8] != MAGIC {
        return Err(StoreError::BadMagic { path: path.to_path_buf() });
    }
    let u32_at = |i: usize| u32::from_le_bytes(head[i..i + 4].try_into().expect("4 bytes"));
    let u64_at = |i: usize| u64::from_le_bytes(head[i..i + 8].try_into().expect("8 bytes"));
    let version = u32_at(8);
    if version != FORMAT_VERSION {
        return Err(StoreError::UnsupportedVersion {
            path: path.to_path_buf(),
            found: version,
            supported: FORMAT_VERSION,
        });
    }
    let code = u32_at(12);
    match Dtype::from_code(code) {
        Some(d) if d == am.dtype => {}
        Some(d) => {
            return Err(StoreError::DtypeMismatch {
                path: path.to_path_buf(),
                expected: am.dtype.name().into(),
                found: d.name().into(),
            });
        }
        None => {
            return Err(StoreError::DtypeMismatch {
                path: path.to_path_buf(),
                expected: am.dtype.name().into(),
                found: format!("unknown code {code}"),
            });
        }
    }
    let len = u64_at(16);
    if len != am.len {
        return Err(StoreError::LengthMismatch { path: path.to_path_buf(), expected: am.len, found: len });
    }
    let row_width = u64_at(24);
    if row_width != am.row_width {
        return Err(StoreError::CorruptArray {
            path: path.to_path_buf(),
            reason: format!("header row width {row_width} but meta.json says {}", am.row_width),
        });
    }
    if file_len != expected_bytes {
        return Err(StoreError::SizeMismatch {
            path: path.to_path_buf(),
            expected: expected_bytes,
            actual: file_len,
        });
    }
    Ok(())
}

/// Streams one array file: header first, then elements in any number of pieces,
/// hashing as it goes so the checksum costs no second pass. Dropped before
/// `finish` (an error on the way), it removes its half-written file.
pub struct ArrayWriter {
    path: PathBuf,
    out: Option<BufWriter<Guarded<File>>>,
    hasher: Xxh3Default,
    meta: ArrayMeta,
    written: u64,
}

impl ArrayWriter {
    pub fn create(
        dir: &Path,
        name: &str,
        dtype: Dtype,
        len: u64,
        row_width: u64,
        generation: u64,
    ) -> Result<Self, StoreError> {
        let file = array_file(name, dtype, generation);
        let path = dir.join(&file);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| StoreError::io(parent, e))?;
        }
        let f = File::create(&path).map_err(|e| StoreError::io(&path, e))?;
        let mut w = ArrayWriter {
            out: Some(BufWriter::with_capacity(1 << 20, guard(&path, f))),
            hasher: Xxh3Default::new(),
            meta: ArrayMeta { name: name.into(), file, dtype, len, row_width, xxh3: String::new() },
            written: 0,
            path,
        };
        let header = encode_header(dtype, len, row_width);
        w.put_bytes(&header)?;
        Ok(w)
    }

    fn put_bytes(&mut self, bytes: &[u8]) -> Result<(), StoreError> {
        self.hasher.update(bytes);
        let out = self.out.as_mut().expect("ArrayWriter used after finish");
        out.write_all(bytes).map_err(|e| StoreError::io(&self.path, e))
    }

    pub fn write<T: Element>(&mut self, data: &[T]) -> Result<(), StoreError> {
        debug_assert_eq!(T::DTYPE, self.meta.dtype);
        self.written += data.len() as u64;
        self.put_bytes(bytemuck::cast_slice(data))
    }

    /// Flush, fsync, and return the meta.json entry.
    pub fn finish(mut self) -> Result<ArrayMeta, StoreError> {
        if self.written != self.meta.len {
            return Err(StoreError::LengthMismatch {
                path: self.path.clone(),
                expected: self.meta.len,
                found: self.written,
            });
        }
        let out = self.out.take().expect("ArrayWriter finished twice");
        let f = out.into_inner().map_err(|e| StoreError::io(&self.path, e.into_error()))?;
        f.get_ref().sync_all().map_err(|e| StoreError::io(&self.path, e))?;
        let mut meta = self.meta.clone();
        meta.xxh3 = format!("{:016x}", self.hasher.digest());
        self.path = PathBuf::new();
        Ok(meta)
    }
}

impl Drop for ArrayWriter {
    fn drop(&mut self) {
        if !self.path.as_os_str().is_empty() {
            self.out = None;
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// Write a whole array in one go.
pub fn write_array<T: Element>(
    dir: &Path,
    name: &str,
    data: &[T],
    row_width: u64,
    generation: u64,
) -> Result<ArrayMeta, StoreError> {
    let mut w = ArrayWriter::create(dir, name, T::DTYPE, data.len() as u64, row_width, generation)?;
    w.write(data)?;
    w.finish()
}

/// The array's recorded dtype must be the one the caller reads it as.
pub fn check_dtype<T: Element>(path: &Path, am: &ArrayMeta) -> Result<(), StoreError> {
    if am.dtype != T::DTYPE {
        return Err(StoreError::DtypeMismatch {
            path: path.to_path_buf(),
            expected: T::DTYPE.name().into(),
            found: am.dtype.name().into(),
        });
    }
    Ok(())
}

/// Read a whole (small) array into memory, checking header, size and checksum.
/// Used for ids and node features, which are read in full anyway.
pub fn read_array<T: Element>(dir: &Path, am: &ArrayMeta) -> Result<Vec<T>, StoreError> {
    let path = dir.join(&am.file);
    check_dtype::<T>(&path, am)?;
    let bytes = std::fs::read(&path).map_err(|e| StoreError::io(&path, e))?;
    check_header(&path, &bytes, bytes.len() as u64, am)?;
    let actual = xxhash_rust::xxh3::xxh3_64(&bytes);
    let expected = am.checksum().ok_or_else(|| StoreError::MetaInvalid {
        path: path.clone(),
        reason: format!("checksum of {} is not 16 hex digits: {:?}", am.name, am.xxh3),
    })?;
    if actual != expected {
        return Err(StoreError::ChecksumMismatch { path, expected, actual });
    }
    // Copy into a properly aligned Vec<T> (the Vec<u8> has alignment 1).
    let mut out = vec![T::zeroed(); am.len as usize];
    bytemuck::cast_slice_mut::<T, u8>(&mut out).copy_from_slice(&bytes[HEADER_LEN..]);
    Ok(out)
}

/// Read and sanity-check meta.json (format, version, shard layout, array list).
pub fn read_meta(dir: &Path) -> Result<Meta, StoreError> {
    let path = dir.join(META_FILE);
    let bytes = std::fs::read(&path).map_err(|e| StoreError::io(&path, e))?;
    let meta: Meta =
        serde_json::from_slice(&bytes).map_err(|e| StoreError::MetaParse { path: path.clone(), error: e })?;
    validate_meta(&path, &meta)?;
    Ok(meta)
}

fn validate_meta(path: &Path, m: &Meta) -> Result<(), StoreError> {
    let bad = |reason: String| StoreError::MetaInvalid { path: path.to_path_buf(), reason };
    if m.format != FORMAT_NAME {
        return Err(bad(format!("format is {:?}, expected {FORMAT_NAME:?}", m.format)));
    }
    if m.format_version != FORMAT_VERSION {
        return Err(StoreError::UnsupportedVersion {
            path: path.to_path_buf(),
            found: m.format_version,
            supported: FORMAT_VERSION,
        });
    }
    if m.num_events > u32::MAX as u64 {
        return Err(bad(format!("num_events {} exceeds the u32 event id range", m.num_events)));
    }
    if m.shard_nodes == 0 {
        return Err(bad("shard_nodes is 0".into()));
    }
    if m.shards.len() != m.num_shards {
        return Err(bad(format!("num_shards is {} but {} shards are listed", m.num_shards, m.shards.len())));
    }
    let mut next = 0u64;
    let mut entries = 0u64;
    for (s, sh) in m.shards.iter().enumerate() {
        if sh.first_node as u64 != next || sh.first_node as u64 != s as u64 * m.shard_nodes as u64 {
            return Err(bad(format!("shard {s} starts at node {} (expected {next})", sh.first_node)));
        }
        let full = sh.num_nodes == m.shard_nodes;
        let last = s + 1 == m.shards.len();
        if sh.num_nodes == 0 || sh.num_nodes > m.shard_nodes || (!full && !last) {
            return Err(bad(format!("shard {s} has {} nodes (shard size {})", sh.num_nodes, m.shard_nodes)));
        }
        next += sh.num_nodes as u64;
        entries += sh.entries;
    }
    if next != m.num_nodes as u64 {
        return Err(bad(format!("shards cover {next} nodes but num_nodes is {}", m.num_nodes)));
    }
    if entries != m.adjacency_entries {
        return Err(bad(format!(
            "shards hold {entries} entries but adjacency_entries is {}",
            m.adjacency_entries
        )));
    }
    let per_event = if m.directed { 1 } else { 2 };
    if entries > m.num_events * per_event || entries < m.num_events {
        return Err(bad(format!("{entries} adjacency entries cannot come from {} events", m.num_events)));
    }
    if m.time_min.is_some() != (m.num_events > 0) || m.time_max.is_some() != (m.num_events > 0) {
        return Err(bad("time range must be present exactly when there are events".into()));
    }
    if m.ids.count > m.num_nodes {
        return Err(bad(format!("{} external ids for {} nodes", m.ids.count, m.num_nodes)));
    }
    if let Some(n) = m.n_src
        && n > m.ids.count
    {
        return Err(bad(format!("n_src {n} exceeds the {} nodes with ids", m.ids.count)));
    }
    let mut names = std::collections::HashSet::new();
    for a in &m.arrays {
        if !names.insert(a.name.as_str()) {
            return Err(bad(format!("array {} is listed twice", a.name)));
        }
        let p = Path::new(&a.file);
        let safe = p.components().all(|c| matches!(c, std::path::Component::Normal(_)));
        if !safe {
            return Err(bad(format!("array {} has an unsafe file path {:?}", a.name, a.file)));
        }
        if a.checksum().is_none() || a.xxh3.len() != 16 {
            return Err(bad(format!("array {} has a malformed checksum {:?}", a.name, a.xxh3)));
        }
    }
    Ok(())
}

/// The meta.json entry for `name`, checked against the dtype and length the graph's
/// counts imply (so an edited meta.json cannot make us read past a map).
pub fn expect_array<'m>(
    meta_path: &Path,
    m: &'m Meta,
    name: &str,
    dtype: Dtype,
    len: u64,
) -> Result<&'m ArrayMeta, StoreError> {
    let am = m.array(name).ok_or_else(|| StoreError::MetaInvalid {
        path: meta_path.to_path_buf(),
        reason: format!("array {name} is missing"),
    })?;
    if am.dtype != dtype {
        return Err(StoreError::MetaInvalid {
            path: meta_path.to_path_buf(),
            reason: format!("array {name} has dtype {} (expected {})", am.dtype.name(), dtype.name()),
        });
    }
    if am.len != len {
        return Err(StoreError::MetaInvalid {
            path: meta_path.to_path_buf(),
            reason: format!("array {name} has {} elements (expected {len})", am.len),
        });
    }
    Ok(am)
}
