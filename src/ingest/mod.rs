//! Ingest: edge-list files -> validated, id-mapped, time-sorted [`GraphData`].
//!
//! Input: one or more files (or `-` for stdin), concatenated in the order given and
//! read with the same [`IngestOptions`]. Formats: whitespace SNAP
//! (`src dst time [extra...]`, `#`/`%` comments), CSV/TSV with or without a header,
//! JODIE (`user_id,item_id,timestamp,state_label,f1..fn`), DGB/TGN processed
//! (`,u,i,ts,label,idx`) and Parquet. gzip and Parquet are recognised by their
//! magic bytes; the text layout and header by the first lines (rules in `layout.rs`).
//!
//! Output shapes: `events.src/dst/t` of length `E` (event id = row after the sort),
//! `events.feats` row-major `E x d` `f32` (features in selection order, `--weight`
//! last); node ids dense `u32` in order of first appearance in file order
//! (bipartite: sources `0..n_src`, then destinations); optional node features
//! `N x d_node`.
//!
//! Time convention: `f64` in the input's unit (see [`crate::store::log`]); NaN and
//! infinities are rejected, integers and decimals are both fine. Rows are then
//! stable-sorted by time, so equal timestamps keep file order, and the report says
//! how many rows were out of order. A time column that steps back at more than 1%
//! of adjacent rows is judged probably not a time, and a better column is named
//! ([`time_order`]; `train` and `eval` refuse such data unless confirmed).
//!
//! Errors name `FILE:LINE:COLUMN` (see [`error`]); with
//! [`BadRowPolicy::Skip`] bad rows are counted and the first few kept as messages,
//! while file-level problems (unreadable, empty, missing column) still fail.
//!
//! Inputs larger than RAM: [`ingest_to_dir`] ([`external`]) parses the same way but
//! spills sorted runs to disk once the rows outgrow a memory limit, and writes the
//! graph directory itself (byte-identical to `write_graph` on [`ingest_files`]).

use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::time::Instant;

use crate::store::{GraphData, IdMap};

mod builder;
pub mod error;
pub mod external;
mod intern;
mod layout;
mod node_features;
mod num;
pub mod options;
pub(crate) mod parquet;
pub mod report;
mod rows;
mod source;
mod text;
pub mod time_order;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_disk_full;
#[cfg(test)]
mod tests_external;
#[cfg(test)]
mod tests_time_order;

pub use error::{ColumnDesc, IngestError, Location, Role};
pub use external::{ExternalMode, OutOfCoreOptions, ingest_to_dir};
pub use options::{BadRowPolicy, ColumnRef, FeatureItem, FeatureSpec, Format, IngestOptions};
pub use report::{ColumnsReport, FileReport, IngestReport, MemoryReport, NodeFeaturesReport};
pub use time_order::{TimeOrder, TimeSuggestion};

use builder::Builder;

/// Shared by both ingest paths once every row is in: node features joined through
/// the id map, then the map closed; returns its external names and their kind.
#[allow(clippy::type_complexity)]
pub(crate) fn close_ids(
    b: &mut Builder,
    opts: &IngestOptions,
) -> Result<
    (Option<(crate::store::NodeFeatures, NodeFeaturesReport)>, crate::store::ExternalIds, &'static str),
    IngestError,
> {
    let node_features = match &opts.node_features {
        Some(p) => Some(node_features::read_node_features(p, b, opts.on_bad_row)?),
        None => None,
    };
    b.finish_ids()?;
    let names = match &b.dst_ids {
        Some(d) => intern::external_ids(&[&b.src_ids, d]),
        None => intern::external_ids(&[&b.src_ids]),
    };
    let id_kind = match names {
        crate::store::ExternalIds::Int(_) => "int",
        crate::store::ExternalIds::Str(_) => "str",
    };
    Ok((node_features, names, id_kind))
}
use source::Input;

/// The parsed graph and what happened while parsing it.
#[derive(Debug, Clone)]
pub struct Ingested {
    pub data: GraphData,
    pub report: IngestReport,
}

/// Progress of a running ingest, for progress bars.
#[derive(Debug, Clone)]
pub struct Progress<'a> {
    /// 0-based index of the current file, and how many files there are.
    pub file: usize,
    pub files: usize,
    pub path: &'a str,
    /// Bytes read from the current file (compressed, for gzip), and its size.
    pub bytes: u64,
    pub size: Option<u64>,
    /// Data rows read from the current file so far.
    pub rows: u64,
}

/// Parse `paths` (`-` = stdin) into one graph.
pub fn ingest_files(paths: &[PathBuf], opts: &IngestOptions) -> Result<Ingested, IngestError> {
    ingest_files_with_progress(paths, opts, &mut |_| {})
}

/// [`ingest_files`], calling `progress` at the start of each file and after each
/// batch of rows.
pub fn ingest_files_with_progress(
    paths: &[PathBuf],
    opts: &IngestOptions,
    progress: &mut dyn FnMut(&Progress<'_>),
) -> Result<Ingested, IngestError> {
    opts.validate()?;
    if paths.is_empty() {
        return Err(IngestError::Options("no input files".into()));
    }
    let t0 = Instant::now();
    let mut b = Builder::new();
    let files = parse_inputs(paths, opts, &mut b, progress)?;
    finish_in_memory(b, files, opts, t0)
}

/// Read every input into `b` (which may spill to sorted runs as it goes), file by file.
pub(crate) fn parse_inputs(
    paths: &[PathBuf],
    opts: &IngestOptions,
    b: &mut Builder,
    progress: &mut dyn FnMut(&Progress<'_>),
) -> Result<Vec<FileReport>, IngestError> {
    let mut files = Vec::with_capacity(paths.len());
    for (i, path) in paths.iter().enumerate() {
        let tf = Instant::now();
        let opened = source::open(path)?;
        let name = opened.name.clone();
        let mut fr = FileReport { path: name.clone(), gzip: opened.gzip, ..Default::default() };
        let (raw, size) = (opened.raw_bytes.clone(), opened.size);
        let mut tick = |rows: u64| {
            let bytes = raw.load(Ordering::Relaxed);
            progress(&Progress { file: i, files: paths.len(), path: &name, bytes, size, rows });
        };
        tick(0);
        match opened.input {
            Input::Text(r) => text::ingest_text(&name, r, opened.gzip, opts, b, &mut fr, &mut tick)?,
            Input::Parquet(f) => parquet::ingest_parquet(&name, f, opts, b, &mut fr, &mut tick)?,
        }
        fr.bytes_read = opened.raw_bytes.load(Ordering::Relaxed);
        fr.seconds = tf.elapsed().as_secs_f64();
        files.push(fr);
    }
    Ok(files)
}

/// The in-memory ending: sort the whole log, join node features, build the id map.
pub(crate) fn finish_in_memory(
    mut b: Builder,
    files: Vec<FileReport>,
    opts: &IngestOptions,
    t0: Instant,
) -> Result<Ingested, IngestError> {
    let parse_seconds = t0.elapsed().as_secs_f64();
    if b.events.is_empty() {
        return Err(IngestError::NothingKept {
            skipped: b.skipped,
            first: b.examples.first().cloned().unwrap_or_default(),
        });
    }

    let ts = Instant::now();
    let descents = b.events.t.windows(2).filter(|w| w[1] < w[0]).count() as u64;
    let out_of_order = b.events.stable_sort_by_time();
    let sort_seconds = ts.elapsed().as_secs_f64();

    let (node_features, names, id_kind) = close_ids(&mut b, opts)?;
    let bipartite = b.bipartite();
    let n_src = b.n_src();
    let nodes = b.num_nodes();

    let rows_read: u64 = files.iter().map(|f| f.rows_read).sum();
    let total_seconds = t0.elapsed().as_secs_f64();
    let (nf, nf_report) = node_features.map_or((None, None), |(f, r)| (Some(f), Some(r)));
    let report = IngestReport {
        rows_read,
        rows_kept: b.events.len() as u64,
        rows_skipped: b.skipped,
        skipped_examples: b.examples.clone(),
        out_of_order_rows: out_of_order,
        time_descents: descents,
        time_order: Some(TimeOrder::judge(&files, b.events.len() as u64, descents, opts.time_confirmed())),
        events: b.events.len() as u64,
        nodes,
        id_kind: id_kind.into(),
        bipartite,
        n_src: bipartite.then_some(n_src),
        n_dst: bipartite.then_some(nodes - n_src),
        directed: opts.directed,
        feature_dim: b.events.feat_dim,
        feature_names: b.feature_names(),
        time_min: b.events.t.first().copied(),
        time_max: b.events.t.last().copied(),
        node_features: nf_report,
        bytes_read: files.iter().map(|f| f.bytes_read).sum(),
        parse_seconds,
        sort_seconds,
        total_seconds,
        rows_per_second: if total_seconds > 0.0 { rows_read as f64 / total_seconds } else { 0.0 },
        memory: None,
        files,
    };
    let provenance = serde_json::json!({ "ingest": report });
    let data = GraphData {
        events: std::mem::take(&mut b.events),
        ids: IdMap::new(names, bipartite.then_some(n_src)),
        node_features: nf,
        directed: opts.directed,
        provenance,
    };
    Ok(Ingested { data, report })
}
