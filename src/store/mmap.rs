//! `MmapStore`: a graph directory, memory-mapped (layout in [`super::format`]).
//!
//! Opening reads meta.json and each array file's 64-byte header, checks magic,
//! version, dtype, element count and exact file size against meta.json, and checks
//! the CSR offsets (8 bytes per node): so a truncated, swapped or mismatched file is
//! an error naming it, never garbage, while the events and adjacency entries stay
//! on disk until queried. Full checksums are [`fn@super::verify`]'s job.
//!
//! Appends go to the in-memory tail; [`TemporalStore::compact`] rewrites the event
//! files and the shards the tail touched (under new generation names), replaces
//! meta.json atomically, then remaps. One writer per directory at a time: a
//! compaction holds `compact.lock` (`util::lock`; a second one is refused at once)
//! and refuses when meta.json's generation moved since this store opened it.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use rayon::prelude::*;

use crate::store::column::{Column, Mapped};
use crate::store::format::{
    ArrayMeta, ArrayWriter, Dtype, Element, META_FILE, Meta, ShardMeta, expect_array, read_meta,
    shard_dir_name,
};
use crate::store::graph::{Graph, ShardCols, delegate_store_queries};
use crate::store::tail::Tail;
use crate::store::write::{refuse_big_endian, write_meta};
use crate::store::{StoreError, TemporalStore};

/// The compaction lock inside a graph directory.
pub const LOCK_FILE: &str = "compact.lock";

pub struct MmapStore {
    dir: PathBuf,
    meta: Meta,
    graph: Graph,
}

fn map<T: Element>(dir: &Path, m: &Meta, name: &str, len: u64) -> Result<Column<T>, StoreError> {
    let am = expect_array(&dir.join(META_FILE), m, name, T::DTYPE, len)?;
    Ok(Column::Mapped(Mapped::open(dir, am)?))
}

/// Map every array of `meta` and check the cheap invariants.
fn load(dir: &Path, meta: &Meta) -> Result<Graph, StoreError> {
    let e = meta.num_events;
    let src = map::<u32>(dir, meta, "events/src", e)?;
    let dst = map::<u32>(dir, meta, "events/dst", e)?;
    let t = map::<f64>(dir, meta, "events/t", e)?;
    let feats = map::<f32>(dir, meta, "events/feats", e * meta.feat_dim as u64)?;
    // Two reads that catch a t file from another graph without scanning it. Not an
    // exact comparison: serde_json's default float parsing may be one ulp off.
    let ts = t.as_slice();
    let near = |a: Option<f64>, b: Option<f64>| match (a, b) {
        (Some(a), Some(b)) => (a - b).abs() <= 1e-12 * a.abs().max(b.abs()).max(1.0),
        (a, b) => a.is_none() && b.is_none(),
    };
    if !near(ts.first().copied(), meta.time_min) || !near(ts.last().copied(), meta.time_max) {
        let file = meta.array("events/t").map(|a| a.file.clone()).unwrap_or_default();
        return Err(StoreError::CorruptArray {
            path: dir.join(file),
            reason: format!(
                "first/last times {:?}/{:?} differ from meta.json's time range {:?}/{:?}",
                ts.first(),
                ts.last(),
                meta.time_min,
                meta.time_max
            ),
        });
    }
    let shards = meta
        .shards
        .par_iter()
        .enumerate()
        .map(|(s, sh)| load_shard(dir, meta, s, sh))
        .collect::<Result<Vec<_>, _>>()?;
    let (node_feat_dim, node_feats) = if meta.node_feat_dim > 0 {
        let len = meta.ids.count as u64 * meta.node_feat_dim as u64;
        (meta.node_feat_dim, map::<f32>(dir, meta, "node_feats", len)?)
    } else {
        (0, Column::default())
    };
    Ok(Graph {
        feat_dim: meta.feat_dim,
        directed: meta.directed,
        shard_nodes: meta.shard_nodes,
        base_nodes: meta.num_nodes,
        num_nodes: meta.num_nodes,
        src,
        dst,
        t,
        feats,
        shards,
        node_feat_dim,
        node_feats,
        tail: Tail::new(e as u32, meta.feat_dim),
    })
}

fn load_shard(dir: &Path, meta: &Meta, s: usize, sh: &ShardMeta) -> Result<ShardCols, StoreError> {
    let d = shard_dir_name(s);
    let offsets = map::<u64>(dir, meta, &format!("{d}/offsets"), sh.num_nodes as u64 + 1)?;
    let off = offsets.as_slice();
    let bad_offsets =
        off.first() != Some(&0) || off.last() != Some(&sh.entries) || off.windows(2).any(|w| w[0] > w[1]);
    if bad_offsets {
        let file = meta.array(&format!("{d}/offsets")).map(|a| a.file.clone()).unwrap_or_default();
        return Err(StoreError::CorruptArray {
            path: dir.join(file),
            reason: format!("offsets must rise from 0 to {} (the shard's entries)", sh.entries),
        });
    }
    Ok(ShardCols {
        offsets,
        nbr: map(dir, meta, &format!("{d}/nbr"), sh.entries)?,
        t: map(dir, meta, &format!("{d}/t"), sh.entries)?,
        eid: map(dir, meta, &format!("{d}/eid"), sh.entries)?,
    })
}

impl MmapStore {
    /// Map the graph directory `dir` (see the module docs for what is checked).
    pub fn open(dir: &Path) -> Result<MmapStore, StoreError> {
        refuse_big_endian()?;
        let meta = read_meta(dir)?;
        let graph = load(dir, &meta)?;
        Ok(MmapStore { dir: dir.to_path_buf(), meta, graph })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// meta.json as of the last open or compaction.
    pub fn meta(&self) -> &Meta {
        &self.meta
    }

    /// Write the arrays of shard `s` (nodes `lo..hi`): base entries then tail
    /// entries for each node, which keeps (time, event id) order.
    fn write_shard(
        &self,
        s: usize,
        lo: u32,
        hi: u32,
        generation: u64,
    ) -> Result<(ShardMeta, Vec<ArrayMeta>), StoreError> {
        let g = &self.graph;
        let d = shard_dir_name(s);
        let mut offsets = Vec::with_capacity((hi - lo) as usize + 1);
        offsets.push(0u64);
        for v in lo..hi {
            let n = g.neighbors(v).len() as u64;
            offsets.push(offsets.last().copied().unwrap_or(0) + n);
        }
        let entries = *offsets.last().unwrap_or(&0);
        let mut out = Vec::with_capacity(4);
        let mut w = ArrayWriter::create(
            &self.dir,
            &format!("{d}/offsets"),
            Dtype::U64,
            offsets.len() as u64,
            1,
            generation,
        )?;
        w.write(&offsets)?;
        out.push(w.finish()?);
        let mut w = ArrayWriter::create(&self.dir, &format!("{d}/nbr"), Dtype::U32, entries, 1, generation)?;
        for v in lo..hi {
            let nb = g.neighbors(v);
            w.write(nb.base.nbr)?;
            w.write(nb.tail.nbr)?;
        }
        out.push(w.finish()?);
        let mut w = ArrayWriter::create(&self.dir, &format!("{d}/t"), Dtype::F64, entries, 1, generation)?;
        for v in lo..hi {
            let nb = g.neighbors(v);
            w.write(nb.base.t)?;
            w.write(nb.tail.t)?;
        }
        out.push(w.finish()?);
        let mut w = ArrayWriter::create(&self.dir, &format!("{d}/eid"), Dtype::U32, entries, 1, generation)?;
        for v in lo..hi {
            let nb = g.neighbors(v);
            w.write(nb.base.eid)?;
            w.write(nb.tail.eid)?;
        }
        out.push(w.finish()?);
        Ok((ShardMeta { first_node: lo, num_nodes: hi - lo, entries }, out))
    }

    /// Write one event column: the mapped base, then the tail.
    fn write_events<T: Element>(
        &self,
        name: &str,
        base: &[T],
        tail: &[T],
        row_width: u64,
        generation: u64,
    ) -> Result<ArrayMeta, StoreError> {
        let len = (base.len() + tail.len()) as u64;
        let mut w = ArrayWriter::create(&self.dir, name, T::DTYPE, len, row_width, generation)?;
        w.write(base)?;
        w.write(tail)?;
        w.finish()
    }

    /// Shards that compaction must rewrite: those holding a node with tail entries,
    /// the last old shard if new nodes extend it, and every new shard.
    fn affected_shards(&self) -> BTreeSet<usize> {
        let g = &self.graph;
        let sn = g.shard_nodes as usize;
        let mut set: BTreeSet<usize> = g.tail.adj.keys().map(|&v| v as usize / sn).collect();
        if g.num_nodes > g.base_nodes {
            let first_changed = g.base_nodes as usize / sn;
            set.extend(first_changed..(g.num_nodes as usize).div_ceil(sn));
        }
        set
    }

    fn compact_inner(&mut self) -> Result<(), StoreError> {
        let what = format!("graph directory {}", self.dir.display());
        let _lock = crate::util::lock::Lock::exclusive(&self.dir.join(LOCK_FILE), &what, "compaction")?;
        let on_disk = read_meta(&self.dir)?.generation;
        if on_disk != self.meta.generation {
            return Err(StoreError::Changed {
                path: self.dir.join(META_FILE),
                opened: self.meta.generation,
                found: on_disk,
            });
        }
        let generation = self.meta.generation + 1;
        let g = &self.graph;
        let sn = g.shard_nodes;
        let affected: Vec<usize> = self.affected_shards().into_iter().collect();
        let d = g.feat_dim as u64;
        let log = &g.tail.log;
        enum Out {
            Events(ArrayMeta),
            Shard(usize, ShardMeta, Vec<ArrayMeta>),
        }
        // Tasks 0..4 rewrite the event columns; the rest rewrite one shard each.
        let results: Vec<Result<Out, StoreError>> = (0..4 + affected.len())
            .into_par_iter()
            .with_max_len(1)
            .map(|task| match task {
                0 => self
                    .write_events("events/src", g.src.as_slice(), &log.src, 1, generation)
                    .map(Out::Events),
                1 => self
                    .write_events("events/dst", g.dst.as_slice(), &log.dst, 1, generation)
                    .map(Out::Events),
                2 => self.write_events("events/t", g.t.as_slice(), &log.t, 1, generation).map(Out::Events),
                3 => self
                    .write_events("events/feats", g.feats.as_slice(), &log.feats, d, generation)
                    .map(Out::Events),
                k => {
                    let s = affected[k - 4];
                    let lo = s as u32 * sn;
                    let hi = (lo as u64 + sn as u64).min(g.num_nodes as u64) as u32;
                    self.write_shard(s, lo, hi, generation).map(|(sm, ams)| Out::Shard(s, sm, ams))
                }
            })
            .collect();

        let mut new_meta = self.meta.clone();
        let mut written: Vec<String> = Vec::new();
        let mut first_err = None;
        let mut shard_metas: Vec<(usize, ShardMeta)> = Vec::new();
        let mut array_metas: Vec<ArrayMeta> = Vec::new();
        for r in results {
            match r {
                Ok(Out::Events(am)) => array_metas.push(am),
                Ok(Out::Shard(s, sm, ams)) => {
                    shard_metas.push((s, sm));
                    array_metas.extend(ams);
                }
                Err(e) => {
                    first_err.get_or_insert(e);
                }
            }
        }
        written.extend(array_metas.iter().map(|a| a.file.clone()));
        if let Some(e) = first_err {
            self.remove_files(&written);
            return Err(e);
        }

        // Assemble the new meta.json.
        let mut replaced: Vec<String> = Vec::new();
        for am in array_metas {
            match new_meta.arrays.iter_mut().find(|a| a.name == am.name) {
                Some(old) => {
                    replaced.push(std::mem::replace(old, am).file);
                }
                None => new_meta.arrays.push(am),
            }
        }
        for (s, sm) in shard_metas {
            if s < new_meta.shards.len() {
                new_meta.shards[s] = sm;
            } else {
                debug_assert_eq!(s, new_meta.shards.len(), "new shards are written in order");
                new_meta.shards.push(sm);
            }
        }
        new_meta.generation = generation;
        new_meta.num_events = g.num_events() as u64;
        new_meta.num_nodes = g.num_nodes;
        new_meta.num_shards = new_meta.shards.len();
        new_meta.adjacency_entries = new_meta.shards.iter().map(|s| s.entries).sum();
        let range = g.time_range();
        new_meta.time_min = range.map(|r| r.0);
        new_meta.time_max = range.map(|r| r.1);

        // Commit point: until meta.json is replaced, the old graph is intact on disk.
        if let Err(e) = write_meta(&self.dir, &new_meta) {
            self.remove_files(&written);
            return Err(e);
        }
        // Remap through the same checks as `open`. If this failed, the in-memory
        // store (old maps + tail) would still answer correctly, so keep it.
        let graph = load(&self.dir, &new_meta)?;
        self.graph = graph;
        self.meta = new_meta;
        // Old files are no longer referenced; our maps of them are gone, and other
        // readers keep their maps valid after an unlink.
        self.remove_files(&replaced);
        Ok(())
    }

    /// Best-effort removal of files that nothing references (cleanup only).
    fn remove_files(&self, files: &[String]) {
        for f in files {
            let _ = std::fs::remove_file(self.dir.join(f));
        }
    }
}

impl TemporalStore for MmapStore {
    delegate_store_queries!();

    fn compact(&mut self) -> Result<(), StoreError> {
        if self.graph.tail.len() == 0 && self.graph.num_nodes == self.graph.base_nodes {
            return Ok(());
        }
        self.compact_inner()
    }
}
