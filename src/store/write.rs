//! Writing a graph directory ([`write_graph`]) and reading back its small parts
//! (ids, node features). Layout: see [`super::format`].
//!
//! Atomicity: everything is written into a temporary sibling directory, each file
//! fsynced, and the directory renamed into place at the end, so `dir` appears
//! complete or not at all.

use std::path::Path;
use std::time::Instant;

use rayon::prelude::*;

use crate::store::csr::{CsrShard, build_shards, check_events, total_entries};
use crate::store::format::{
    ArrayMeta, Dtype, FORMAT_NAME, FORMAT_VERSION, IdKind, IdsMeta, META_FILE, Meta, ShardMeta, expect_array,
    read_array, read_meta, shard_dir_name, write_array,
};
use crate::store::mem::{check_node_features, data_num_nodes};
use crate::store::{ExternalIds, GraphData, IdMap, NodeFeatures, StoreError, WriteOptions, WriteReport};
use crate::util::atomic::TempDir;

/// A borrowed array waiting to be written.
enum ArraySrc<'a> {
    U8(&'a [u8]),
    U32(&'a [u32]),
    U64(&'a [u64]),
    I64(&'a [i64]),
    F32(&'a [f32]),
    F64(&'a [f64]),
}

struct Job<'a> {
    name: String,
    data: ArraySrc<'a>,
    row_width: u64,
}

impl Job<'_> {
    fn run(&self, dir: &Path, generation: u64) -> Result<ArrayMeta, StoreError> {
        let (n, w) = (self.name.as_str(), self.row_width);
        match self.data {
            ArraySrc::U8(s) => write_array(dir, n, s, w, generation),
            ArraySrc::U32(s) => write_array(dir, n, s, w, generation),
            ArraySrc::U64(s) => write_array(dir, n, s, w, generation),
            ArraySrc::I64(s) => write_array(dir, n, s, w, generation),
            ArraySrc::F32(s) => write_array(dir, n, s, w, generation),
            ArraySrc::F64(s) => write_array(dir, n, s, w, generation),
        }
    }
}

fn job<'a>(name: impl Into<String>, data: ArraySrc<'a>) -> Job<'a> {
    Job { name: name.into(), data, row_width: 1 }
}

pub(crate) fn refuse_big_endian() -> Result<(), StoreError> {
    if cfg!(target_endian = "big") { Err(StoreError::BigEndianHost) } else { Ok(()) }
}

fn dir_is_nonempty(dir: &Path) -> Result<bool, StoreError> {
    match std::fs::read_dir(dir) {
        Ok(mut it) => Ok(it.next().is_some()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        // A plain file (or something unreadable) where the directory should go.
        Err(e) if e.kind() == std::io::ErrorKind::NotADirectory => Ok(true),
        Err(e) => Err(StoreError::io(dir, e)),
    }
}

/// Ids in their on-disk form: integers, or string offsets + bytes.
pub(crate) enum IdArrays {
    Int(Vec<i64>),
    Str { offsets: Vec<u64>, bytes: Vec<u8> },
}

pub(crate) fn id_arrays(names: &ExternalIds, num_nodes: u32) -> (IdArrays, IdsMeta) {
    match names {
        // No external ids (e.g. a generated graph): dense id i is its own name.
        _ if names.is_empty() => {
            (IdArrays::Int((0..num_nodes as i64).collect()), IdsMeta { kind: IdKind::Int, count: num_nodes })
        }
        ExternalIds::Int(v) => {
            (IdArrays::Int(v.clone()), IdsMeta { kind: IdKind::Int, count: v.len() as u32 })
        }
        ExternalIds::Str(v) => {
            let mut offsets = Vec::with_capacity(v.len() + 1);
            let mut bytes = Vec::with_capacity(v.iter().map(String::len).sum());
            offsets.push(0u64);
            for s in v {
                bytes.extend_from_slice(s.as_bytes());
                offsets.push(bytes.len() as u64);
            }
            (IdArrays::Str { offsets, bytes }, IdsMeta { kind: IdKind::Str, count: v.len() as u32 })
        }
    }
}

/// Validate `data`, build the adjacency shards in parallel and write the graph
/// directory `dir` atomically. An existing non-empty `dir` is an error unless
/// `opts.replace`.
pub fn write_graph(dir: &Path, data: &GraphData, opts: &WriteOptions) -> Result<WriteReport, StoreError> {
    refuse_big_endian()?;
    if opts.shard_nodes == 0 {
        return Err(StoreError::InvalidOption("shard_nodes must be at least 1".into()));
    }
    // Fail before the expensive part; the final rename checks again.
    if !opts.replace && dir_is_nonempty(dir)? {
        return Err(StoreError::OutputExists { path: dir.to_path_buf() });
    }
    let ev = &data.events;
    let num_nodes = data_num_nodes(data);
    check_events(&ev.src, &ev.dst, &ev.t, &ev.feats, ev.feat_dim, num_nodes)?;
    if let Some(n_src) = data.ids.n_src
        && n_src > num_nodes
    {
        return Err(StoreError::InvalidOption(format!("bipartite n_src {n_src} exceeds {num_nodes} nodes")));
    }
    let node_features = data.node_features.as_ref().filter(|nf| nf.dim > 0);
    if let Some(nf) = node_features {
        check_node_features(nf, num_nodes)?;
    }

    let t0 = Instant::now();
    let shards = build_shards(&ev.src, &ev.dst, &ev.t, num_nodes, data.directed, opts.shard_nodes);
    let build_seconds = t0.elapsed().as_secs_f64();

    let t1 = Instant::now();
    let tmp = TempDir::new(dir).map_err(|e| StoreError::io(dir, e))?;
    let (ids, ids_meta) = id_arrays(&data.ids.names, num_nodes);
    let mut jobs = vec![
        job("events/src", ArraySrc::U32(&ev.src)),
        job("events/dst", ArraySrc::U32(&ev.dst)),
        job("events/t", ArraySrc::F64(&ev.t)),
        Job { name: "events/feats".into(), data: ArraySrc::F32(&ev.feats), row_width: ev.feat_dim as u64 },
    ];
    jobs.extend(shard_jobs(&shards));
    if let Some(nf) = node_features {
        jobs.push(Job {
            name: "node_feats".into(),
            data: ArraySrc::F32(&nf.values),
            row_width: nf.dim as u64,
        });
    }
    match &ids {
        IdArrays::Int(v) => jobs.push(job("ids/int", ArraySrc::I64(v))),
        IdArrays::Str { offsets, bytes } => {
            jobs.push(job("ids/str_offsets", ArraySrc::U64(offsets)));
            jobs.push(job("ids/str_bytes", ArraySrc::U8(bytes)));
        }
    }
    // One task per file: writing is I/O plus hashing, independent per file.
    let arrays: Vec<ArrayMeta> =
        jobs.par_iter().with_max_len(1).map(|j| j.run(tmp.path(), 0)).collect::<Result<_, _>>()?;

    let meta = Meta {
        format: FORMAT_NAME.into(),
        format_version: FORMAT_VERSION,
        generation: 0,
        num_events: ev.len() as u64,
        num_nodes,
        num_shards: shards.len(),
        shard_nodes: opts.shard_nodes,
        time_min: ev.t.first().copied(),
        time_max: ev.t.last().copied(),
        feat_dim: ev.feat_dim,
        node_feat_dim: node_features.map_or(0, |nf| nf.dim),
        directed: data.directed,
        bipartite: data.ids.n_src.is_some(),
        n_src: data.ids.n_src,
        ids: ids_meta,
        adjacency_entries: total_entries(&shards),
        shards: shards
            .iter()
            .map(|s| ShardMeta {
                first_node: s.first_node,
                num_nodes: s.num_nodes(),
                entries: s.nbr.len() as u64,
            })
            .collect(),
        arrays,
        provenance: data.provenance.clone(),
    };
    let meta_bytes = write_meta(tmp.path(), &meta)?;
    let bytes_on_disk = meta.arrays.iter().map(ArrayMeta::file_bytes).sum::<u64>() + meta_bytes;
    tmp.commit(opts.replace).map_err(|e| match e.kind() {
        std::io::ErrorKind::AlreadyExists => StoreError::OutputExists { path: dir.to_path_buf() },
        _ => StoreError::io(dir, e),
    })?;
    Ok(WriteReport {
        events: ev.len() as u64,
        nodes: num_nodes,
        shards: shards.len(),
        bytes_on_disk,
        build_seconds,
        write_seconds: t1.elapsed().as_secs_f64(),
    })
}

fn shard_jobs(shards: &[CsrShard]) -> Vec<Job<'_>> {
    let mut jobs = Vec::with_capacity(4 * shards.len());
    for (s, sh) in shards.iter().enumerate() {
        let d = shard_dir_name(s);
        jobs.push(job(format!("{d}/nbr"), ArraySrc::U32(&sh.nbr)));
        jobs.push(job(format!("{d}/t"), ArraySrc::F64(&sh.t)));
        jobs.push(job(format!("{d}/eid"), ArraySrc::U32(&sh.eid)));
        jobs.push(job(format!("{d}/offsets"), ArraySrc::U64(&sh.offsets)));
    }
    jobs
}

/// Write meta.json atomically (temp file + rename); returns its size.
pub(crate) fn write_meta(dir: &Path, meta: &Meta) -> Result<u64, StoreError> {
    let path = dir.join(META_FILE);
    let mut bytes = serde_json::to_vec_pretty(meta)
        .map_err(|e| StoreError::MetaParse { path: path.clone(), error: e })?;
    bytes.push(b'\n');
    crate::util::atomic::write_file(&path, &bytes).map_err(|e| StoreError::io(&path, e))?;
    Ok(bytes.len() as u64)
}

/// The external id map saved with the graph (bipartite split included). Nodes
/// appended after the graph was written have no external id here.
pub fn read_ids(dir: &Path) -> Result<IdMap, StoreError> {
    let meta = read_meta(dir)?;
    let meta_path = dir.join(META_FILE);
    let n = meta.ids.count as u64;
    let names = match meta.ids.kind {
        IdKind::Int => {
            let am = expect_array(&meta_path, &meta, "ids/int", Dtype::I64, n)?;
            ExternalIds::Int(read_array::<i64>(dir, am)?)
        }
        IdKind::Str => {
            let am_off = expect_array(&meta_path, &meta, "ids/str_offsets", Dtype::U64, n + 1)?;
            let offsets = read_array::<u64>(dir, am_off)?;
            let am_bytes = meta.array("ids/str_bytes").ok_or_else(|| StoreError::MetaInvalid {
                path: meta_path.clone(),
                reason: "array ids/str_bytes is missing".into(),
            })?;
            let bytes = read_array::<u8>(dir, am_bytes)?;
            let corrupt = |reason: String| StoreError::CorruptArray { path: dir.join(&am_off.file), reason };
            let mut names = Vec::with_capacity(n as usize);
            if offsets.first() != Some(&0) || offsets.last() != Some(&(bytes.len() as u64)) {
                return Err(corrupt(format!("offsets must run from 0 to {} (the name bytes)", bytes.len())));
            }
            for (i, w) in offsets.windows(2).enumerate() {
                if w[0] > w[1] {
                    return Err(corrupt(format!("offsets decrease at node {i}")));
                }
                let s = std::str::from_utf8(&bytes[w[0] as usize..w[1] as usize])
                    .map_err(|_| corrupt(format!("name of node {i} is not UTF-8")))?;
                names.push(s.to_owned());
            }
            ExternalIds::Str(names)
        }
    };
    Ok(IdMap::new(names, meta.n_src))
}

/// Node features saved with the graph (`None` when it has none): a row per node
/// that existed when the graph was written.
pub fn read_node_features(dir: &Path) -> Result<Option<NodeFeatures>, StoreError> {
    let meta = read_meta(dir)?;
    if meta.node_feat_dim == 0 {
        return Ok(None);
    }
    let len = meta.ids.count as u64 * meta.node_feat_dim as u64;
    let am = expect_array(&dir.join(META_FILE), &meta, "node_feats", Dtype::F32, len)?;
    Ok(Some(NodeFeatures { dim: meta.node_feat_dim, values: read_array::<f32>(dir, am)? }))
}
