//! Out-of-core ingest: edge lists larger than RAM -> a graph directory, with
//! anonymous memory (RssAnon) bounded by a limit whatever the input size.
//!
//! [`ingest_to_dir`] parses with the ordinary readers (text chunks in parallel,
//! Parquet batches) into a `Builder` that carries a [`Spiller`]. While the rows
//! would fit the in-memory path (`2 (16 + 4 d) + 4 + 16 x entries per event` bytes per
//! row for parsing, sorting and the adjacency, plus three times the id map for the id
//! list, id arrays and CSR counters; conservative: 68 B/row predicted, about 48 used),
//! nothing changes, and at the end the graph is sorted and written in RAM exactly as
//! `ingest_files` + `write_graph` do. Once they would not, every chunk of rows that reaches the budget
//! is sorted stably by (time, input row) and written as a sorted run
//! ([`crate::store::runs`]); then the runs are k-way merged straight into the
//! event-log arrays and the adjacency is built a node window at a time
//! ([`crate::store::write_external`]). The output is byte-identical to the in-memory
//! path's (only meta.json's provenance differs).
//!
//! Memory: the program's own RssAnon at the start (`base`, ~180 MB with libtorch
//! linked) plus a fixed reserve for the parse pipeline (chunks in flight), plus the
//! id map (O(nodes): about 4 B per small integer id, 20-30 B per other id plus the
//! string bytes), plus one chunk of rows (`16 + 4 d` B plus a 4 B sort permutation per
//! row), must stay under the limit; later phases use 4 B per node of entry counts and
//! one node window. The order tracking (longest non-decreasing subsequence, for the
//! out-of-order count) lives in a memory-mapped scratch file once it outgrows 8 MiB;
//! mapped file pages are not anonymous memory.
//!
//! Disk: the output (16 B per event of log, 16 B per adjacency entry, 4 d B per event of
//! features, 8 B per node of offsets, the ids), plus at most the runs (`16 + 4 d` B per
//! event, each deleted as soon as it is merged; plus the order-tracking file, up to 8 B
//! per event while parsing) or the buckets (20 B per entry, each deleted once its window
//! is written; only with many windows), in a scratch directory inside the output's
//! temporary directory (or `tmp_dir`). Any error removes both; the output directory
//! appears only when complete.
//!
//! Time convention: `f64` times in the input's unit; ties keep input order; the
//! out-of-order count is the in-memory path's (rows minus the longest non-decreasing
//! subsequence).

use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::ingest::builder::Builder;
use crate::ingest::report::{FileReport, IngestReport, MemoryReport};
use crate::ingest::{IngestError, IngestOptions, Progress, finish_in_memory, parse_inputs};
use crate::store::format::{IdsMeta, read_meta, write_array};
use crate::store::runs::RunSpill;
use crate::store::write::{IdArrays, id_arrays, write_meta};
use crate::store::write_external::{
    AdjacencyPlan, DiskBytes, LogWriter, MetaParts, assemble_meta, write_adjacency,
};
use crate::store::{EventLog, StoreError, WriteOptions, WriteReport, write_graph};
use crate::util::atomic::TempDir;
use crate::util::mem::{RssAnonSampler, mem_total_bytes, rss_anon_bytes};

/// RssAnon kept free for the parse pipeline: text chunks queued and in flight, their
/// parsed columns (two batches of `2 x threads` chunks of ~1 MiB), allocator slack.
const RESERVE: u64 = 64 << 20;
/// Rows a chunk may overshoot the budget by: one parsed text chunk holds fewer.
const SLACK_ROWS: u64 = 1 << 18;
/// The smallest useful chunk budget.
const MIN_DATA: u64 = 8 << 20;
/// Order-tracking values kept in RAM before moving to a mapped file.
const TAILS_IN_RAM: usize = 1 << 20;

/// When to go out of core.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ExternalMode {
    /// In memory while the rows fit the budget, external once they do not.
    #[default]
    Auto,
    /// External from the first chunk (tests, or to bound memory tightly).
    Always,
}

/// How much memory an ingest may use, and where scratch files go.
#[derive(Debug, Clone)]
pub struct OutOfCoreOptions {
    /// Bound on the process's anonymous memory (RssAnon), bytes.
    pub memory_limit: u64,
    pub mode: ExternalMode,
    /// Scratch directory for runs and buckets (default: inside the output's
    /// temporary directory, so on the output's filesystem).
    pub tmp_dir: Option<PathBuf>,
    /// Tuning and test knobs, normally derived from the limit: rows per run, bytes of
    /// one adjacency window, runs merged at once, bucket files open at once.
    pub run_rows: Option<u64>,
    pub window_bytes: Option<u64>,
    pub fan_in: Option<usize>,
    pub max_open: Option<usize>,
    /// Up to this many adjacency windows read the log directly rather than buckets.
    pub direct_windows: Option<usize>,
}

impl OutOfCoreOptions {
    pub fn new(memory_limit: u64) -> Self {
        Self {
            memory_limit,
            mode: ExternalMode::Auto,
            tmp_dir: None,
            run_rows: None,
            window_bytes: None,
            fan_in: None,
            max_open: None,
            direct_windows: None,
        }
    }
}

/// Half the machine's memory (4 GiB when /proc/meminfo is unreadable).
pub fn default_memory_limit() -> u64 {
    mem_total_bytes().map_or(4 << 30, |t| t / 2)
}

/// Rows-in-input-order bookkeeping for the report: time descents, and the longest
/// non-decreasing subsequence by patience sorting (`tails[k]` = the smallest last
/// value of such a subsequence of length `k + 1`; the same algorithm and comparisons
/// as `EventLog::stable_sort_by_time`).
pub(crate) struct Order {
    prev: Option<f64>,
    pub(crate) descents: u64,
    mem: Vec<f64>,
    map: Option<MappedTails>,
    path: PathBuf,
}

/// `tails` in a scratch file mapped shared: its pages are file pages, which the
/// kernel writes back and drops under pressure, not anonymous memory.
struct MappedTails {
    file: File,
    map: memmap2::MmapMut,
    len: usize,
}

impl MappedTails {
    fn with_capacity(path: &Path, cap: usize) -> Result<Self, StoreError> {
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(path)
            .map_err(|e| StoreError::io(path, e))?;
        reserve(&file, (cap * 8) as u64).map_err(|e| StoreError::io(path, e))?;
        // SAFETY: the file is our private scratch file; nothing else truncates or
        // writes it while it is mapped.
        let map = unsafe { memmap2::MmapMut::map_mut(&file) }.map_err(|e| StoreError::io(path, e))?;
        Ok(Self { file, map, len: 0 })
    }

    fn slice(&mut self) -> &mut [f64] {
        bytemuck::cast_slice_mut(&mut self.map[..])
    }

    fn grow(&mut self, path: &Path) -> Result<(), StoreError> {
        let cap = self.map.len() / 8 * 2;
        reserve(&self.file, (cap * 8) as u64).map_err(|e| StoreError::io(path, e))?;
        // SAFETY: as in `with_capacity`; the old map is replaced before any use.
        self.map = unsafe { memmap2::MmapMut::map_mut(&self.file) }.map_err(|e| StoreError::io(path, e))?;
        Ok(())
    }
}

/// Give the mapped file `len` bytes of real blocks. A sparse file (`set_len`) would
/// take its blocks when the map is written, and a full disk then kills the process
/// with SIGBUS; allocated up front, a full disk is an `ENOSPC` error here.
fn reserve(file: &File, len: u64) -> std::io::Result<()> {
    use std::os::unix::io::AsRawFd;
    // SAFETY: a plain syscall on an open descriptor we own.
    let rc = unsafe { libc::posix_fallocate(file.as_raw_fd(), 0, len as libc::off_t) };
    if rc != 0 {
        return Err(std::io::Error::from_raw_os_error(rc));
    }
    Ok(())
}

/// Insert `x` into sorted `tails[..len]`; returns whether it was appended.
#[inline]
fn patience(tails: &mut [f64], len: usize, x: f64) -> bool {
    if len == 0 || tails[len - 1] <= x {
        return true;
    }
    let pos = tails[..len].partition_point(|&v| v <= x);
    tails[pos] = x;
    false
}

impl Order {
    fn new(path: PathBuf) -> Self {
        Self { prev: None, descents: 0, mem: Vec::new(), map: None, path }
    }

    pub(crate) fn track(&mut self, ts: &[f64]) -> Result<(), StoreError> {
        for &x in ts {
            if let Some(p) = self.prev
                && x < p
            {
                self.descents += 1;
            }
            self.prev = Some(x);
            match &mut self.map {
                None => {
                    let len = self.mem.len();
                    if patience(&mut self.mem, len, x) {
                        self.mem.push(x);
                        if self.mem.len() >= TAILS_IN_RAM {
                            let mut m = MappedTails::with_capacity(&self.path, 4 * TAILS_IN_RAM)?;
                            m.slice()[..self.mem.len()].copy_from_slice(&self.mem);
                            m.len = self.mem.len();
                            self.mem = Vec::new();
                            self.map = Some(m);
                        }
                    }
                }
                Some(m) => {
                    let len = m.len;
                    if patience(m.slice(), len, x) {
                        if (len + 1) * 8 > m.map.len() {
                            m.grow(&self.path)?;
                        }
                        m.slice()[len] = x;
                        m.len += 1;
                    }
                }
            }
        }
        Ok(())
    }

    pub(crate) fn longest(&self) -> u64 {
        self.map.as_ref().map_or(self.mem.len(), |m| m.len) as u64
    }
}

impl Drop for Order {
    /// The mapped file is scratch: up to 8 B per event, freed as soon as parsing ends.
    fn drop(&mut self) {
        if self.map.take().is_some() {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// Decides when the builder's rows go to disk, and puts them there.
pub struct Spiller {
    scratch: PathBuf,
    runs: Option<RunSpill>,
    /// Bytes for rows plus the id map.
    data_budget: u64,
    /// The limit and the program's own RssAnon, for messages.
    limit: u64,
    base: u64,
    force: bool,
    run_rows: Option<u64>,
    directed: bool,
    order: Order,
    /// Rows of the builder's log already tracked.
    checked: usize,
    rows_spilled: u64,
    max_run_rows: u64,
    ids_bytes: u64,
}

impl Spiller {
    fn new(scratch: PathBuf, data_budget: u64, ooc: &OutOfCoreOptions, directed: bool) -> Self {
        let order = Order::new(scratch.join("order-tails.f64"));
        Self {
            scratch,
            runs: None,
            data_budget,
            limit: ooc.memory_limit,
            base: ooc.memory_limit.saturating_sub(data_budget + RESERVE),
            force: ooc.mode == ExternalMode::Always,
            run_rows: ooc.run_rows,
            directed,
            order,
            checked: 0,
            rows_spilled: 0,
            max_run_rows: 0,
            ids_bytes: 0,
        }
    }

    /// RAM per row while spilling: the columns plus the sort permutation.
    fn run_cost(d: usize) -> u64 {
        16 + 4 * d as u64 + 4
    }

    /// RAM per row of the in-memory path at its peak: the columns and their sorted
    /// copies (16 + 4 d each, the second while the first is dropped column by column),
    /// the permutation, and the adjacency (16 B per entry).
    fn in_memory_cost(&self, d: usize) -> u64 {
        2 * (16 + 4 * d as u64) + 4 + if self.directed { 16 } else { 32 }
    }

    /// Called by the builder after each absorbed chunk.
    pub(crate) fn after_absorb(&mut self, ev: &mut EventLog, ids_bytes: u64) -> Result<(), IngestError> {
        self.order.track(&ev.t[self.checked..])?;
        self.checked = ev.len();
        self.ids_bytes = ids_bytes;
        let rows = ev.len() as u64;
        // The id map is O(nodes) and stays in RAM: refuse rather than exceed the limit
        // (or crawl along in runs of a few rows).
        if ids_bytes + MIN_DATA > self.data_budget {
            return Err(IngestError::MemoryLimit {
                limit: self.limit,
                used: self.base + ids_bytes,
                reserve: RESERVE,
                what: "the program and the id map",
            });
        }
        // The builder checks the event count against its own rows, which restart per run.
        if self.rows_spilled + rows > u32::MAX as u64 {
            return Err(IngestError::TooMany { what: "events", max: u32::MAX as u64 });
        }
        let d = ev.feat_dim;
        let spill = match self.run_rows {
            Some(r) => rows >= r,
            // The in-memory ending also holds the id list, the id arrays and the CSR
            // counters (a few bytes per node each): count the id map three times.
            None if self.runs.is_none() && !self.force => {
                rows * self.in_memory_cost(d) + 3 * ids_bytes > self.data_budget
            }
            None => (rows + SLACK_ROWS) * Self::run_cost(d) + ids_bytes > self.data_budget,
        };
        if spill {
            self.spill(ev)?;
        }
        Ok(())
    }

    fn spill(&mut self, ev: &mut EventLog) -> Result<(), IngestError> {
        let first = self.runs.is_none();
        let runs = match &mut self.runs {
            Some(r) => r,
            None => self.runs.insert(RunSpill::new(&self.scratch, ev.feat_dim)?),
        };
        // A forced run size cuts the rows of one absorbed chunk into several runs.
        let piece = self.run_rows.map_or(ev.len(), |r| r.max(1) as usize).max(1);
        let d = ev.feat_dim;
        for a in (0..ev.len()).step_by(piece) {
            let b = (a + piece).min(ev.len());
            runs.spill(&ev.src[a..b], &ev.dst[a..b], &ev.t[a..b], &ev.feats[a * d..b * d])?;
            self.max_run_rows = self.max_run_rows.max((b - a) as u64);
        }
        self.rows_spilled += ev.len() as u64;
        self.checked = 0;
        if first {
            // Drop buffers grown by doubling; reserve one run (pages are touched only
            // as rows arrive).
            let d = ev.feat_dim;
            let room = self.data_budget.saturating_sub(self.ids_bytes) / Self::run_cost(d);
            let cap = self.run_rows.unwrap_or(room).min(room.max(1)) as usize + SLACK_ROWS as usize;
            *ev = EventLog::with_feat_dim(d);
            ev.src.reserve_exact(cap);
            ev.dst.reserve_exact(cap);
            ev.t.reserve_exact(cap);
            ev.feats.reserve_exact(cap * d);
        } else {
            ev.src.clear();
            ev.dst.clear();
            ev.t.clear();
            ev.feats.clear();
        }
        Ok(())
    }
}

/// Where runs and buckets go: a directory removed on drop.
enum Scratch {
    Inside(PathBuf),
    Own(tempfile::TempDir),
}

impl Scratch {
    fn path(&self) -> &Path {
        match self {
            Scratch::Inside(p) => p,
            Scratch::Own(t) => t.path(),
        }
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if let Scratch::Inside(p) = self {
            let _ = std::fs::remove_dir_all(p);
        }
    }
}

fn dir_is_nonempty(dir: &Path) -> bool {
    match std::fs::read_dir(dir) {
        Ok(mut it) => it.next().is_some(),
        Err(_) => dir.exists(),
    }
}

/// Parse `paths` and write the graph directory `out`, keeping RssAnon under
/// `ooc.memory_limit`: in memory when the rows fit the budget (or never forced
/// out), out of core otherwise. The report's `memory` says which, with the peaks.
pub fn ingest_to_dir(
    paths: &[PathBuf],
    opts: &IngestOptions,
    ooc: &OutOfCoreOptions,
    out: &Path,
    wopts: &WriteOptions,
    progress: &mut dyn FnMut(&Progress<'_>),
) -> Result<(IngestReport, WriteReport), IngestError> {
    opts.validate()?;
    if paths.is_empty() {
        return Err(IngestError::Options("no input files".into()));
    }
    if wopts.shard_nodes == 0 {
        return Err(StoreError::InvalidOption("shard_nodes must be at least 1".into()).into());
    }
    if !wopts.replace && dir_is_nonempty(out) {
        return Err(StoreError::OutputExists { path: out.to_path_buf() }.into());
    }
    let sampler = RssAnonSampler::start(Duration::from_millis(20));
    let base = rss_anon_bytes().unwrap_or(0);
    let limit = ooc.memory_limit;
    if base + RESERVE + MIN_DATA > limit {
        return Err(IngestError::MemoryLimit {
            limit,
            used: base,
            reserve: RESERVE,
            what: "the program itself",
        });
    }
    let data_budget = limit - base - RESERVE;
    let t0 = Instant::now();
    let tmp = TempDir::new(out).map_err(|e| StoreError::io(out, e))?;
    let scratch = match &ooc.tmp_dir {
        Some(d) => Scratch::Own(
            tempfile::Builder::new()
                .prefix(".linkcast-ingest-")
                .tempdir_in(d)
                .map_err(|e| StoreError::io(d, e))?,
        ),
        None => Scratch::Inside(tmp.path().join(".scratch")),
    };
    std::fs::create_dir_all(scratch.path()).map_err(|e| StoreError::io(scratch.path(), e))?;

    let mut b = Builder::new();
    b.spill = Some(Box::new(Spiller::new(scratch.path().to_path_buf(), data_budget, ooc, opts.directed)));
    let files = parse_inputs(paths, opts, &mut b, progress)?;
    let mut sp = b.spill.take().expect("the spiller stays until parsing ends");
    let mut mem = MemoryReport { memory_limit: limit, base_rss_anon: base, ..Default::default() };

    if sp.runs.is_none() && (!sp.force || b.events.is_empty()) {
        // Everything fitted: the ordinary in-memory ending, same code as ingest_files.
        drop(sp);
        drop(scratch);
        drop(tmp);
        mem.mode = "in-memory".into();
        mem.id_map_bytes = b.ids_bytes();
        let mut ing = finish_in_memory(b, files, opts, t0)?;
        let w = write_graph(out, &ing.data, wopts)?;
        drop(ing.data);
        let meta = read_meta(out)?;
        let meta_bytes = std::fs::metadata(out.join(crate::store::format::META_FILE)).map_or(0, |m| m.len());
        mem.disk = DiskBytes::of(&meta, meta_bytes);
        mem.peak_rss_anon = sampler.finish();
        ing.report.memory = Some(mem);
        return Ok((ing.report, w));
    }
    let feat_dim = b.events.feat_dim;
    let mut events = std::mem::take(&mut b.events);
    sp.order.track(&events.t[sp.checked..])?;
    sp.spill(&mut events)?;
    drop(events);
    external_finish(
        b,
        sp,
        files,
        opts,
        ooc,
        out,
        wopts,
        tmp,
        scratch,
        sampler,
        mem,
        data_budget,
        t0,
        feat_dim,
    )
}

#[allow(clippy::too_many_arguments)]
fn external_finish(
    mut b: Builder,
    sp: Box<Spiller>,
    files: Vec<FileReport>,
    opts: &IngestOptions,
    ooc: &OutOfCoreOptions,
    out: &Path,
    wopts: &WriteOptions,
    tmp: TempDir,
    scratch: Scratch,
    sampler: RssAnonSampler,
    mut mem: MemoryReport,
    data_budget: u64,
    t0: Instant,
    feat_dim: usize,
) -> Result<(IngestReport, WriteReport), IngestError> {
    let parse_seconds = t0.elapsed().as_secs_f64();
    // The parse threads' freed buffers would otherwise stay resident for the whole merge.
    crate::util::mem::release_free_memory();
    let rows_kept = sp.rows_spilled;
    let descents = sp.order.descents;
    let out_of_order = if descents == 0 { 0 } else { rows_kept - sp.order.longest() };
    let Spiller { runs, max_run_rows, order, .. } = *sp;
    drop(order);
    let runs = runs.expect("external mode has runs");
    mem.mode = "external".into();
    mem.run_rows = max_run_rows;
    mem.id_map_bytes = b.ids_bytes();
    let ts = Instant::now();

    // Ids and node features first, so the id map can be freed before the merge.
    let (node_features, names, id_kind) = crate::ingest::close_ids(&mut b, opts)?;
    let bipartite = b.bipartite();
    let n_src = b.n_src();
    let nodes = b.num_nodes();
    let feature_names = b.feature_names();
    let (skipped, examples) = (b.skipped, std::mem::take(&mut b.examples));
    drop(b);
    let (nf, nf_report) = node_features.map_or((None, None), |(f, r)| (Some(f), Some(r)));
    let nf = nf.filter(|f| f.dim > 0);
    let mut tail_arrays = Vec::new();
    if let Some(f) = &nf {
        crate::store::mem::check_node_features(f, nodes)?;
        tail_arrays.push(write_array(tmp.path(), "node_feats", &f.values, f.dim as u64, 0)?);
    }
    let node_feat_dim = nf.as_ref().map_or(0, |f| f.dim);
    drop(nf);
    let (ids, ids_meta): (IdArrays, IdsMeta) = id_arrays(&names, nodes);
    drop(names);
    match &ids {
        IdArrays::Int(v) => tail_arrays.push(write_array(tmp.path(), "ids/int", v, 1, 0)?),
        IdArrays::Str { offsets, bytes } => {
            tail_arrays.push(write_array(tmp.path(), "ids/str_offsets", offsets, 1, 0)?);
            tail_arrays.push(write_array(tmp.path(), "ids/str_bytes", bytes, 1, 0)?);
        }
    }
    drop(ids);

    // Merge the runs into the event log.
    let deg_bytes = 4 * nodes as u64;
    let room = data_budget.saturating_sub(deg_bytes).max(MIN_DATA);
    let buf_bytes: usize = if room >= 512 << 20 { 1 << 20 } else { 256 << 10 };
    let fan_in = ooc.fan_in.unwrap_or(((room / 2) / buf_bytes as u64).clamp(2, 256) as usize);
    let dst_offset = if bipartite { n_src } else { 0 };
    let tm = Instant::now();
    let mut lw = LogWriter::create(tmp.path(), rows_kept, feat_dim, nodes, opts.directed, dst_offset)?;
    let run_stats = runs.merge(descents == 0, fan_in, buf_bytes, &mut |r| lw.push(r))?;
    let log = lw.finish()?;
    mem.merge_seconds = tm.elapsed().as_secs_f64();
    mem.runs = run_stats.runs;
    mem.merged_runs = run_stats.merged_runs;
    mem.merge_passes = run_stats.merge_passes;
    mem.peak_run_bytes = run_stats.peak_scratch_bytes;
    mem.run_bytes_written = run_stats.bytes_written;

    // The adjacency, a node window at a time.
    let max_open = ooc.max_open.unwrap_or(64);
    let plan = AdjacencyPlan {
        window_bytes: ooc
            .window_bytes
            .unwrap_or(room.saturating_sub(max_open as u64 * buf_bytes as u64 + (16 << 20)).max(1 << 20)),
        buf_bytes,
        max_open,
        direct_windows: ooc.direct_windows.unwrap_or(8),
    };
    let (shards, shard_arrays, adj) = write_adjacency(
        tmp.path(),
        &scratch.path().join("buckets"),
        &log,
        opts.directed,
        wopts.shard_nodes,
        plan,
    )?;
    drop(scratch);
    mem.windows = adj.windows;
    mem.hub_windows = adj.hub_windows;
    mem.partition_passes = adj.partition_passes;
    mem.bucket_bytes = adj.bucket_bytes;
    mem.adjacency_seconds = adj.seconds;

    let rows_read: u64 = files.iter().map(|f| f.rows_read).sum();
    let total_seconds = t0.elapsed().as_secs_f64();
    let mut report = IngestReport {
        rows_read,
        rows_kept,
        rows_skipped: skipped,
        skipped_examples: examples,
        out_of_order_rows: out_of_order,
        time_descents: descents,
        time_order: Some(crate::ingest::TimeOrder::judge(&files, rows_kept, descents, opts.time_confirmed())),
        events: rows_kept,
        nodes,
        id_kind: id_kind.into(),
        bipartite,
        n_src: bipartite.then_some(n_src),
        n_dst: bipartite.then_some(nodes - n_src),
        directed: opts.directed,
        feature_dim: feat_dim,
        feature_names,
        time_min: log.time_min,
        time_max: log.time_max,
        node_features: nf_report,
        bytes_read: files.iter().map(|f| f.bytes_read).sum(),
        parse_seconds,
        sort_seconds: mem.merge_seconds,
        total_seconds,
        rows_per_second: if total_seconds > 0.0 { rows_read as f64 / total_seconds } else { 0.0 },
        memory: None,
        files,
    };
    let num_events = log.events;
    let mut meta = assemble_meta(MetaParts {
        log,
        feat_dim,
        node_feat_dim,
        num_nodes: nodes,
        shard_nodes: wopts.shard_nodes,
        directed: opts.directed,
        n_src: bipartite.then_some(n_src),
        ids: ids_meta,
        shards,
        shard_arrays,
        tail_arrays,
        provenance: serde_json::Value::Null,
    });
    mem.peak_rss_anon = sampler.peak();
    mem.disk = DiskBytes::of(&meta, 0);
    report.memory = Some(mem.clone());
    meta.provenance = serde_json::json!({ "ingest": report });
    let meta_bytes = write_meta(tmp.path(), &meta)?;
    let bytes_on_disk = meta.arrays.iter().map(|a| a.file_bytes()).sum::<u64>() + meta_bytes;
    tmp.commit(wopts.replace).map_err(|e| match e.kind() {
        std::io::ErrorKind::AlreadyExists => StoreError::OutputExists { path: out.to_path_buf() },
        _ => StoreError::io(out, e),
    })?;
    mem.disk = DiskBytes::of(&meta, meta_bytes);
    mem.peak_rss_anon = sampler.finish();
    report.total_seconds = t0.elapsed().as_secs_f64();
    report.rows_per_second = rows_read as f64 / report.total_seconds.max(1e-9);
    report.memory = Some(mem);
    let write = WriteReport {
        events: num_events,
        nodes,
        shards: meta.num_shards,
        bytes_on_disk,
        build_seconds: adj.seconds,
        write_seconds: ts.elapsed().as_secs_f64() - adj.seconds,
    };
    Ok((report, write))
}

#[cfg(test)]
pub(crate) mod tests_api {
    /// The order tracker alone, its mapped file in `dir`.
    pub(crate) fn order(dir: &std::path::Path) -> super::Order {
        super::Order::new(dir.join("order-tails.f64"))
    }
}
