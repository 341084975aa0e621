//! Writing a graph directory out of core: the event log streamed from a merge
//! ([`LogWriter`]), then the adjacency built a node window at a time
//! ([`write_adjacency`]), then meta.json ([`assemble_meta`]). The bytes (array headers,
//! elements, XXH3 of each file, the order of arrays in meta.json) are exactly what
//! [`super::write_graph`] writes for the same events; only provenance differs.
//!
//! Shapes: events `src/dst: u32[E]`, `t: f64[E]`, `feats: f32[E x d]`; per shard
//! `offsets: u64[n + 1]`, `nbr/eid: u32[m]`, `t: f64[m]`, runs sorted by (time, event id).
//!
//! Adjacency method. The log is written in event-id (= time) order, and while it is
//! written each node's entry count (`deg`, 4 B per node) is counted. Nodes are then cut
//! into contiguous windows whose entries fit `window_bytes` (16 B per entry plus 12 B
//! per node of offsets and cursors); a node too big for any window is a window alone.
//! A window's entries arrive in event-id order, so already in (time, event id) order
//! per node, from one of two sources. With few windows (`direct_windows`), each window
//! reads the log itself (16 B per event per window). Otherwise one streaming pass over
//! the log (more if there are more than `max_open` windows) appends each entry
//! `(node, nbr, eid, t)` (20 B) to its window's bucket file, read back once and deleted
//! when its window is written. A window is then a stable counting sort by node into
//! RAM, parallel over disjoint node ranges, written out as contiguous slices of its
//! shards' arrays; a one-node window needs no sort and is streamed straight through.
//! Memory: `deg` plus one window's buffers plus `max_open` write buffers; disk: the log
//! and the shards as written, plus the buckets (20 B per entry) until each window is
//! done.

use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use rayon::prelude::*;

use crate::store::format::{
    ArrayMeta, ArrayWriter, Dtype, FORMAT_NAME, FORMAT_VERSION, HEADER_LEN, IdsMeta, Meta, ShardMeta,
    shard_dir_name,
};
use crate::store::runs::Record;
use crate::store::{NodeId, StoreError, Time};
use crate::util::faults::guard;

/// Elements buffered per column before a write (keeps hashing calls large).
const BLOCK: usize = 1 << 16;
/// Bytes of one bucket record: node u32, nbr u32, eid u32, t f64.
const BUCKET_REC: usize = 20;

/// Streams merged events into `events/{src,dst,t,feats}` and counts entries per node.
pub struct LogWriter {
    w: [ArrayWriter; 3],
    feats: ArrayWriter,
    bs: Vec<NodeId>,
    bd: Vec<NodeId>,
    bt: Vec<Time>,
    bf: Vec<f32>,
    dst_offset: u32,
    num_nodes: u32,
    directed: bool,
    deg: Vec<u32>,
    n: u64,
    time_min: Option<f64>,
    time_max: Option<f64>,
}

/// The written event log: its four array entries (src, dst, t, feats), entries per
/// node, and its time range.
#[derive(Debug)]
pub struct WrittenLog {
    pub arrays: Vec<ArrayMeta>,
    pub deg: Vec<u32>,
    pub events: u64,
    pub time_min: Option<f64>,
    pub time_max: Option<f64>,
}

impl LogWriter {
    /// `events` rows will follow; each record's `dst` is shifted by `dst_offset`
    /// (bipartite graphs number destinations after sources).
    pub fn create(
        dir: &Path,
        events: u64,
        feat_dim: usize,
        num_nodes: u32,
        directed: bool,
        dst_offset: u32,
    ) -> Result<Self, StoreError> {
        if events > u32::MAX as u64 {
            return Err(StoreError::TooManyEvents { count: events });
        }
        let w = [
            ArrayWriter::create(dir, "events/src", Dtype::U32, events, 1, 0)?,
            ArrayWriter::create(dir, "events/dst", Dtype::U32, events, 1, 0)?,
            ArrayWriter::create(dir, "events/t", Dtype::F64, events, 1, 0)?,
        ];
        let feats = ArrayWriter::create(
            dir,
            "events/feats",
            Dtype::F32,
            events * feat_dim as u64,
            feat_dim as u64,
            0,
        )?;
        Ok(Self {
            w,
            feats,
            bs: Vec::with_capacity(BLOCK),
            bd: Vec::with_capacity(BLOCK),
            bt: Vec::with_capacity(BLOCK),
            bf: Vec::with_capacity(BLOCK * feat_dim),
            dst_offset,
            num_nodes,
            directed,
            deg: vec![0; num_nodes as usize],
            n: 0,
            time_min: None,
            time_max: None,
        })
    }

    pub fn push(&mut self, r: Record<'_>) -> Result<(), StoreError> {
        let (u, v) = (r.src, r.dst + self.dst_offset);
        for node in [u, v] {
            if node >= self.num_nodes {
                return Err(StoreError::NodeOutOfRange { row: self.n, node, num_nodes: self.num_nodes });
            }
        }
        if let Some(prev) = self.time_max
            && r.t < prev
        {
            return Err(StoreError::UnsortedTime { row: self.n, prev, t: r.t });
        }
        self.time_min.get_or_insert(r.t);
        self.time_max = Some(r.t);
        self.deg[u as usize] += 1;
        if !self.directed && u != v {
            self.deg[v as usize] += 1;
        }
        self.bs.push(u);
        self.bd.push(v);
        self.bt.push(r.t);
        self.bf.extend(r.feats.chunks_exact(4).map(|b| f32::from_le_bytes(b.try_into().expect("4 bytes"))));
        self.n += 1;
        if self.bt.len() == BLOCK {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), StoreError> {
        self.w[0].write(&self.bs)?;
        self.w[1].write(&self.bd)?;
        self.w[2].write(&self.bt)?;
        self.feats.write(&self.bf)?;
        self.bs.clear();
        self.bd.clear();
        self.bt.clear();
        self.bf.clear();
        Ok(())
    }

    pub fn finish(mut self) -> Result<WrittenLog, StoreError> {
        self.flush()?;
        let [s, d, t] = self.w;
        let arrays = vec![s.finish()?, d.finish()?, t.finish()?, self.feats.finish()?];
        Ok(WrittenLog {
            arrays,
            deg: self.deg,
            events: self.n,
            time_min: self.time_min,
            time_max: self.time_max,
        })
    }
}

/// Reads an array file's elements in order, a block at a time (header skipped).
struct ColReader {
    path: PathBuf,
    r: BufReader<File>,
    buf: Vec<u8>,
}

impl ColReader {
    fn open(dir: &Path, am: &ArrayMeta) -> Result<Self, StoreError> {
        let path = dir.join(&am.file);
        let mut f = File::open(&path).map_err(|e| StoreError::io(&path, e))?;
        let mut head = [0u8; HEADER_LEN];
        f.read_exact(&mut head).map_err(|e| StoreError::io(&path, e))?;
        Ok(Self { r: BufReader::with_capacity(1 << 20, f), buf: Vec::new(), path })
    }

    /// The next `n` elements of `size` bytes, as raw little-endian bytes.
    fn next(&mut self, n: usize, size: usize) -> Result<&[u8], StoreError> {
        self.buf.resize(n * size, 0);
        self.r.read_exact(&mut self.buf).map_err(|e| StoreError::io(&self.path, e))?;
        Ok(&self.buf)
    }
}

fn u32_at(b: &[u8], i: usize) -> u32 {
    u32::from_le_bytes(b[4 * i..4 * i + 4].try_into().expect("4 bytes"))
}

fn f64_at(b: &[u8], i: usize) -> f64 {
    f64::from_le_bytes(b[8 * i..8 * i + 8].try_into().expect("8 bytes"))
}

/// How to bound the adjacency build.
#[derive(Debug, Clone, Copy)]
pub struct AdjacencyPlan {
    /// RAM for one window: 16 B per entry + 12 B per node.
    pub window_bytes: u64,
    /// Write buffer per open bucket file.
    pub buf_bytes: usize,
    /// Bucket files open at once in one partition pass.
    pub max_open: usize,
    /// With at most this many windows, each window reads the log instead of a bucket.
    pub direct_windows: usize,
}

/// What the adjacency build did.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize, PartialEq)]
pub struct AdjacencyReport {
    pub windows: usize,
    /// Windows that were a single node with more entries than a window holds.
    pub hub_windows: usize,
    /// Passes over the log: one per bucket group, or one per window when reading it directly.
    pub partition_passes: u32,
    pub bucket_bytes: u64,
    pub seconds: f64,
}

/// A node window `[first, end)` with its entry count.
#[derive(Debug, Clone, Copy)]
struct Window {
    first: u32,
    end: u32,
    entries: u64,
}

fn plan_windows(deg: &[u32], window_bytes: u64) -> Vec<Window> {
    let mut out = Vec::new();
    let mut cur = Window { first: 0, end: 0, entries: 0 };
    for (v, &d) in deg.iter().enumerate() {
        let cost = 16 * (cur.entries + d as u64) + 12 * (cur.end - cur.first + 1) as u64;
        if cur.end > cur.first && cost > window_bytes {
            out.push(cur);
            cur = Window { first: v as u32, end: v as u32, entries: 0 };
        }
        cur.end = v as u32 + 1;
        cur.entries += d as u64;
    }
    if cur.end > cur.first {
        out.push(cur);
    }
    out
}

/// One shard being written.
struct OpenShard {
    s: usize,
    end: u32,
    entries: u64,
    w: [ArrayWriter; 3],
    offsets: ArrayMeta,
}

/// Shards are opened and finished in node order as windows reach them.
struct ShardSink<'a> {
    dir: &'a Path,
    deg: &'a [u32],
    sn: u32,
    num_nodes: u32,
    open: Option<OpenShard>,
    shards: Vec<ShardMeta>,
    arrays: Vec<ArrayMeta>,
}

impl ShardSink<'_> {
    /// Make shard `s` the open one (writing its offsets now, from `deg`).
    fn ensure(&mut self, s: usize) -> Result<(), StoreError> {
        if self.open.as_ref().is_some_and(|o| o.s == s) {
            return Ok(());
        }
        assert!(self.open.is_none(), "shards are written in order");
        let first = s as u32 * self.sn;
        let end = first.saturating_add(self.sn).min(self.num_nodes);
        let d = shard_dir_name(s);
        let mut ow = ArrayWriter::create(
            self.dir,
            &format!("{d}/offsets"),
            Dtype::U64,
            (end - first) as u64 + 1,
            1,
            0,
        )?;
        let mut buf = Vec::with_capacity(BLOCK.min((end - first) as usize + 1));
        let mut run = 0u64;
        buf.push(0u64);
        for &c in &self.deg[first as usize..end as usize] {
            run += c as u64;
            buf.push(run);
            if buf.len() == BLOCK {
                ow.write(&buf)?;
                buf.clear();
            }
        }
        ow.write(&buf)?;
        let w = [
            ArrayWriter::create(self.dir, &format!("{d}/nbr"), Dtype::U32, run, 1, 0)?,
            ArrayWriter::create(self.dir, &format!("{d}/t"), Dtype::F64, run, 1, 0)?,
            ArrayWriter::create(self.dir, &format!("{d}/eid"), Dtype::U32, run, 1, 0)?,
        ];
        self.open = Some(OpenShard { s, end, entries: run, w, offsets: ow.finish()? });
        Ok(())
    }

    fn write(&mut self, nbr: &[u32], t: &[f64], eid: &[u32]) -> Result<(), StoreError> {
        let o = self.open.as_mut().expect("a shard is open");
        o.w[0].write(nbr)?;
        o.w[1].write(t)?;
        o.w[2].write(eid)
    }

    /// Finish the open shard if window end `end` completes it.
    fn close_if_done(&mut self, end: u32) -> Result<(), StoreError> {
        if self.open.as_ref().is_some_and(|o| o.end <= end) {
            let o = self.open.take().expect("checked");
            let [n, t, e] = o.w;
            self.arrays.extend([n.finish()?, t.finish()?, e.finish()?, o.offsets]);
            let first = o.s as u32 * self.sn;
            self.shards.push(ShardMeta { first_node: first, num_nodes: o.end - first, entries: o.entries });
        }
        Ok(())
    }
}

/// Build and write every shard of the graph whose log `log` was written into `dir`,
/// using `scratch` for bucket files. Returns the shards and their arrays in the order
/// `write_graph` lists them (per shard: nbr, t, eid, offsets).
pub fn write_adjacency(
    dir: &Path,
    scratch: &Path,
    log: &WrittenLog,
    directed: bool,
    shard_nodes: u32,
    plan: AdjacencyPlan,
) -> Result<(Vec<ShardMeta>, Vec<ArrayMeta>, AdjacencyReport), StoreError> {
    let t0 = std::time::Instant::now();
    let num_nodes = log.deg.len() as u32;
    let windows = plan_windows(&log.deg, plan.window_bytes);
    let mut rep = AdjacencyReport { windows: windows.len(), ..Default::default() };
    rep.hub_windows =
        windows.iter().filter(|w| w.end - w.first == 1 && w.entries * 16 > plan.window_bytes).count();
    let mut sink = ShardSink {
        dir,
        deg: &log.deg,
        sn: shard_nodes,
        num_nodes,
        open: None,
        shards: Vec::new(),
        arrays: Vec::new(),
    };
    if windows.len() <= plan.direct_windows {
        // Few windows: reading the log (16 B per event) once per window costs less
        // than writing and reading buckets (20 B per entry each way).
        for win in &windows {
            rep.partition_passes += 1;
            build_window(&Source::Log { dir, log, directed }, win, &mut sink)?;
        }
    } else {
        std::fs::create_dir_all(scratch).map_err(|e| StoreError::io(scratch, e))?;
        let bucket = |w: usize| scratch.join(format!("bucket-{w:06}.bin"));
        let starts: Vec<u32> = windows.iter().map(|w| w.first).collect();
        let max_open = plan.max_open.max(1);
        for g0 in (0..windows.len()).step_by(max_open) {
            let g1 = (g0 + max_open).min(windows.len());
            rep.partition_passes += 1;
            rep.bucket_bytes += partition(dir, log, directed, &starts, g0..g1, &bucket, plan.buf_bytes)?;
            for (w, win) in windows.iter().enumerate().take(g1).skip(g0) {
                let path = bucket(w);
                build_window(&Source::Bucket(path.clone()), win, &mut sink)?;
                std::fs::remove_file(&path).map_err(|e| StoreError::io(&path, e))?;
            }
        }
    }
    assert!(sink.open.is_none(), "every shard was finished");
    rep.seconds = t0.elapsed().as_secs_f64();
    Ok((sink.shards, sink.arrays, rep))
}

/// Calls `put(node, nbr, eid, t)` for every adjacency entry of event `eid` = `e`, in
/// the order `write_graph` would place them (source side first; a self-loop once).
#[inline]
fn entries_of(
    u: u32,
    v: u32,
    e: u32,
    t: f64,
    directed: bool,
    put: &mut dyn FnMut(u32, u32, u32, f64) -> Result<(), StoreError>,
) -> Result<(), StoreError> {
    put(u, v, e, t)?;
    if !directed && u != v {
        put(v, u, e, t)?;
    }
    Ok(())
}

/// `each(first_eid, src, dst, t)` over blocks of the log, as raw little-endian bytes.
type LogBlocks<'a> = dyn FnMut(u64, &[u8], &[u8], &[u8]) -> Result<(), StoreError> + 'a;

/// Streams the log's `src`, `dst`, `t` a block at a time.
fn read_log(dir: &Path, log: &WrittenLog, each: &mut LogBlocks<'_>) -> Result<(), StoreError> {
    let mut cols = [
        ColReader::open(dir, &log.arrays[0])?,
        ColReader::open(dir, &log.arrays[1])?,
        ColReader::open(dir, &log.arrays[2])?,
    ];
    let mut e0 = 0u64;
    while e0 < log.events {
        let n = BLOCK.min((log.events - e0) as usize);
        let [s, d, t] = &mut cols;
        each(e0, s.next(n, 4)?, d.next(n, 4)?, t.next(n, 8)?)?;
        e0 += n as u64;
    }
    Ok(())
}

/// One pass over the log writing the entries of windows `group` to their buckets;
/// returns the bytes written.
fn partition(
    dir: &Path,
    log: &WrittenLog,
    directed: bool,
    starts: &[u32],
    group: std::ops::Range<usize>,
    bucket: &dyn Fn(usize) -> PathBuf,
    buf_bytes: usize,
) -> Result<u64, StoreError> {
    let mut outs = Vec::with_capacity(group.len());
    for w in group.clone() {
        let p = bucket(w);
        let f = File::create(&p).map_err(|e| StoreError::io(&p, e))?;
        outs.push((p.clone(), BufWriter::with_capacity(buf_bytes.max(BUCKET_REC), guard(&p, f))));
    }
    let (lo, hi) = (starts[group.start], starts.get(group.end).copied().unwrap_or(u32::MAX));
    let mut bytes = 0u64;
    let mut rec = [0u8; BUCKET_REC];
    let mut put = |node: u32, nbr: u32, eid: u32, time: f64| -> Result<(), StoreError> {
        if node < lo || node >= hi {
            return Ok(());
        }
        let w = starts.partition_point(|&s| s <= node) - 1;
        rec[0..4].copy_from_slice(&node.to_le_bytes());
        rec[4..8].copy_from_slice(&nbr.to_le_bytes());
        rec[8..12].copy_from_slice(&eid.to_le_bytes());
        rec[12..20].copy_from_slice(&time.to_le_bytes());
        let (p, out) = &mut outs[w - group.start];
        bytes += BUCKET_REC as u64;
        out.write_all(&rec).map_err(|e| StoreError::io(p.as_path(), e))
    };
    read_log(dir, log, &mut |e0, s, d, t| {
        for i in 0..t.len() / 8 {
            entries_of(u32_at(s, i), u32_at(d, i), (e0 + i as u64) as u32, f64_at(t, i), directed, &mut put)?;
        }
        Ok(())
    })?;
    for (p, out) in outs {
        out.into_inner().map_err(|e| StoreError::io(&p, e.into_error()))?;
    }
    Ok(bytes)
}

/// Where a window's entries come from: its bucket file, or a filtered pass over the log.
/// Either way they arrive in event-id order.
enum Source<'a> {
    Bucket(PathBuf),
    Log { dir: &'a Path, log: &'a WrittenLog, directed: bool },
}

impl Source<'_> {
    fn entries(
        &self,
        win: &Window,
        put: &mut dyn FnMut(u32, u32, u32, f64) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        match self {
            Source::Bucket(path) => read_bucket(path, &mut |buf| {
                for r in buf.chunks_exact(BUCKET_REC) {
                    let t = f64::from_le_bytes(r[12..20].try_into().expect("8 bytes"));
                    put(u32_at(r, 0), u32_at(r, 1), u32_at(r, 2), t)?;
                }
                Ok(())
            }),
            Source::Log { dir, log, directed } => {
                let (lo, hi) = (win.first, win.end);
                let mut inside = |node: u32, nbr: u32, eid: u32, t: f64| {
                    if node >= lo && node < hi { put(node, nbr, eid, t) } else { Ok(()) }
                };
                read_log(dir, log, &mut |e0, s, d, t| {
                    for i in 0..t.len() / 8 {
                        let (u, v, e) = (u32_at(s, i), u32_at(d, i), (e0 + i as u64) as u32);
                        entries_of(u, v, e, f64_at(t, i), *directed, &mut inside)?;
                    }
                    Ok(())
                })
            }
        }
    }
}

/// Reads a bucket a block of records at a time.
fn read_bucket(path: &Path, each: &mut dyn FnMut(&[u8]) -> Result<(), StoreError>) -> Result<(), StoreError> {
    let mut f = BufReader::with_capacity(1 << 20, File::open(path).map_err(|e| StoreError::io(path, e))?);
    let mut buf = vec![0u8; BUCKET_REC * 4096];
    loop {
        let mut filled = 0;
        while filled < buf.len() {
            let k = f.read(&mut buf[filled..]).map_err(|e| StoreError::io(path, e))?;
            if k == 0 {
                break;
            }
            filled += k;
        }
        if !filled.is_multiple_of(BUCKET_REC) {
            return Err(StoreError::CorruptArray {
                path: path.into(),
                reason: "truncated bucket file".into(),
            });
        }
        each(&buf[..filled])?;
        if filled < buf.len() {
            return Ok(());
        }
    }
}

/// The nodes `[lo, hi)` of a window and their slices of its entry arrays: parts are
/// disjoint, so threads scatter into them at once, each visiting a block's entries in
/// arrival order (which keeps every node's entries in (time, event id) order).
struct Part<'a> {
    lo: u32,
    hi: u32,
    /// `off[node - lo] - base` is the node's first slot in this part's slices.
    off: &'a [u64],
    base: u64,
    cur: &'a mut [u32],
    nbr: &'a mut [u32],
    t: &'a mut [f64],
    eid: &'a mut [u32],
}

impl Part<'_> {
    fn scatter(&mut self, block: &[(u32, u32, u32, f64)]) -> Result<(), StoreError> {
        for &(node, n, e, time) in block {
            if node < self.lo || node >= self.hi {
                continue;
            }
            let local = (node - self.lo) as usize;
            let pos = self.off[local] + self.cur[local] as u64;
            self.cur[local] += 1;
            // The counts came from the same events; a mismatch means a corrupt scratch file.
            if pos >= self.off[local + 1] {
                return Err(StoreError::CorruptArray {
                    path: PathBuf::from("adjacency scratch"),
                    reason: format!("node {node} has more entries than counted"),
                });
            }
            let pos = (pos - self.base) as usize;
            self.nbr[pos] = n;
            self.eid[pos] = e;
            self.t[pos] = time;
        }
        Ok(())
    }
}

/// Cut a window (first node `a`, offsets `off`) into about one part per thread with
/// similar entry counts.
fn split_parts<'a>(
    a: usize,
    off: &'a [u64],
    mut cur: &'a mut [u32],
    mut nbr: &'a mut [u32],
    mut t: &'a mut [f64],
    mut eid: &'a mut [u32],
) -> Vec<Part<'a>> {
    let nodes = off.len() - 1;
    let m = off[nodes];
    let k = rayon::current_num_threads().clamp(1, 8) as u64;
    let mut parts = Vec::with_capacity(k as usize);
    let mut lo = 0usize;
    for j in 1..=k {
        let hi = if j == k { nodes } else { off.partition_point(|&o| o < m * j / k).clamp(lo, nodes) };
        if hi == lo && j != k {
            continue;
        }
        let n_entries = (off[hi] - off[lo]) as usize;
        let (c, c_rest) = std::mem::take(&mut cur).split_at_mut(hi - lo);
        let (nb, nb_rest) = std::mem::take(&mut nbr).split_at_mut(n_entries);
        let (tt, t_rest) = std::mem::take(&mut t).split_at_mut(n_entries);
        let (ee, e_rest) = std::mem::take(&mut eid).split_at_mut(n_entries);
        (cur, nbr, t, eid) = (c_rest, nb_rest, t_rest, e_rest);
        parts.push(Part {
            lo: (a + lo) as u32,
            hi: (a + hi) as u32,
            off: &off[lo..=hi],
            base: off[lo],
            cur: c,
            nbr: nb,
            t: tt,
            eid: ee,
        });
        lo = hi;
    }
    parts
}

/// Write one window's shard slices. A one-node window needs no sort: its entries
/// arrive in (time, event id) order and are streamed through. Otherwise a counting
/// sort by node (stable, so each node keeps arrival order) into RAM, then the
/// slices of its shards in node order.
fn build_window(src: &Source<'_>, win: &Window, sink: &mut ShardSink<'_>) -> Result<(), StoreError> {
    if win.end - win.first == 1 {
        sink.ensure((win.first / sink.sn) as usize)?;
        let (mut nbr, mut t, mut eid) = (Vec::new(), Vec::new(), Vec::new());
        src.entries(win, &mut |_, n, e, time| {
            nbr.push(n);
            eid.push(e);
            t.push(time);
            if nbr.len() == BLOCK {
                sink.write(&nbr, &t, &eid)?;
                nbr.clear();
                t.clear();
                eid.clear();
            }
            Ok(())
        })?;
        sink.write(&nbr, &t, &eid)?;
        return sink.close_if_done(win.end);
    }
    let (a, b) = (win.first as usize, win.end as usize);
    let m = win.entries as usize;
    let mut off = Vec::with_capacity(b - a + 1);
    off.push(0u64);
    for &c in &sink.deg[a..b] {
        off.push(off.last().copied().unwrap_or(0) + c as u64);
    }
    let mut cur: Vec<u32> = vec![0; b - a];
    let (mut nbr, mut t, mut eid) = (vec![0u32; m], vec![0f64; m], vec![0u32; m]);
    {
        let mut parts = split_parts(a, &off, &mut cur, &mut nbr, &mut t, &mut eid);
        let mut block: Vec<(u32, u32, u32, f64)> = Vec::with_capacity(BLOCK);
        let mut scatter = |block: &mut Vec<(u32, u32, u32, f64)>| -> Result<(), StoreError> {
            parts.par_iter_mut().try_for_each(|p| p.scatter(block))?;
            block.clear();
            Ok(())
        };
        src.entries(win, &mut |node, n, e, time| {
            block.push((node, n, e, time));
            if block.len() == BLOCK { scatter(&mut block) } else { Ok(()) }
        })?;
        scatter(&mut block)?;
    }
    let sn = sink.sn as usize;
    let mut v = a;
    while v < b {
        let s = v / sn;
        let hi = ((s + 1) * sn).min(b);
        sink.ensure(s)?;
        let (p, q) = (off[v - a] as usize, off[hi - a] as usize);
        sink.write(&nbr[p..q], &t[p..q], &eid[p..q])?;
        sink.close_if_done(hi as u32)?;
        v = hi;
    }
    Ok(())
}

/// Everything meta.json records besides the arrays' own entries.
pub struct MetaParts {
    pub log: WrittenLog,
    pub feat_dim: usize,
    pub node_feat_dim: usize,
    pub num_nodes: u32,
    pub shard_nodes: u32,
    pub directed: bool,
    pub n_src: Option<u32>,
    pub ids: IdsMeta,
    pub shards: Vec<ShardMeta>,
    /// Per shard nbr, t, eid, offsets.
    pub shard_arrays: Vec<ArrayMeta>,
    /// node_feats (if any), then the id arrays.
    pub tail_arrays: Vec<ArrayMeta>,
    pub provenance: serde_json::Value,
}

/// The meta.json `write_graph` would write for the same graph.
pub fn assemble_meta(p: MetaParts) -> Meta {
    let mut arrays = p.log.arrays;
    arrays.extend(p.shard_arrays);
    arrays.extend(p.tail_arrays);
    Meta {
        format: FORMAT_NAME.into(),
        format_version: FORMAT_VERSION,
        generation: 0,
        num_events: p.log.events,
        num_nodes: p.num_nodes,
        num_shards: p.shards.len(),
        shard_nodes: p.shard_nodes,
        time_min: p.log.time_min,
        time_max: p.log.time_max,
        feat_dim: p.feat_dim,
        node_feat_dim: p.node_feat_dim,
        directed: p.directed,
        bipartite: p.n_src.is_some(),
        n_src: p.n_src,
        ids: p.ids,
        adjacency_entries: p.shards.iter().map(|s| s.entries).sum(),
        shards: p.shards,
        arrays,
        provenance: p.provenance,
    }
}

/// Bytes on disk per part of a graph directory, from its meta.json.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize, PartialEq)]
pub struct DiskBytes {
    /// events/src, dst, t (16 B per event plus headers).
    pub log: u64,
    /// events/feats (4 B per feature value).
    pub features: u64,
    /// Shards: offsets (8 B per node) and nbr/t/eid (16 B per entry).
    pub adjacency: u64,
    pub ids: u64,
    pub node_features: u64,
    pub meta: u64,
    pub total: u64,
    /// `total / events`.
    pub bytes_per_event: f64,
}

impl DiskBytes {
    pub fn of(meta: &Meta, meta_bytes: u64) -> Self {
        let mut d = DiskBytes { meta: meta_bytes, ..Default::default() };
        for a in &meta.arrays {
            let b = a.file_bytes();
            let slot = match a.name.as_str() {
                "events/feats" => &mut d.features,
                n if n.starts_with("events/") => &mut d.log,
                n if n.starts_with("shards/") => &mut d.adjacency,
                n if n.starts_with("ids/") => &mut d.ids,
                _ => &mut d.node_features,
            };
            *slot += b;
        }
        d.total = d.log + d.features + d.adjacency + d.ids + d.node_features + d.meta;
        d.bytes_per_event = if meta.num_events > 0 { d.total as f64 / meta.num_events as f64 } else { 0.0 };
        d
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_cover_nodes_and_isolate_hubs() {
        let deg = [1, 0, 100, 2, 2, 0, 0, 3];
        let w = plan_windows(&deg, 16 * 5 + 12 * 3);
        assert_eq!(w.first().unwrap().first, 0);
        assert_eq!(w.last().unwrap().end, deg.len() as u32);
        for p in w.windows(2) {
            assert_eq!(p[0].end, p[1].first);
        }
        assert!(w.iter().any(|x| x.first == 2 && x.end == 3 && x.entries == 100));
        let total: u64 = w.iter().map(|x| x.entries).sum();
        assert_eq!(total, 108);
    }
}
