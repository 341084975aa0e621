//! What an ingest did: [`IngestReport`] (serialised into the graph's
//! `meta.json` provenance and printed by `linkcast ingest --json`).

use serde::{Deserialize, Serialize};

use crate::ingest::options::Format;
use crate::ingest::time_order::{ColumnScan, TimeOrder};

/// How many bad-row messages the report keeps (per file and overall).
pub const MAX_EXAMPLES: usize = 5;

/// Which columns a file's src, dst, time and features came from (header names, or
/// `colN` for 0-based field N).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ColumnsReport {
    pub src: String,
    pub dst: String,
    pub time: String,
    pub features: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FileReport {
    /// As given (`<stdin>` for `-`).
    pub path: String,
    /// The format used (never `auto`).
    pub format: Format,
    pub gzip: bool,
    pub header: bool,
    pub columns: ColumnsReport,
    /// Data rows seen (not counting header, comment and blank lines).
    pub rows_read: u64,
    pub rows_kept: u64,
    pub rows_skipped: u64,
    /// Bytes read from the file (compressed size for gzip).
    pub bytes_read: u64,
    pub seconds: f64,
    /// How the file's first lines run, column by column (for [`TimeOrder`]'s suggestion).
    #[serde(skip)]
    pub scan: ColumnScan,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NodeFeaturesReport {
    pub path: String,
    pub dim: usize,
    pub rows_read: u64,
    pub rows_kept: u64,
    pub rows_skipped: u64,
    pub skipped_examples: Vec<String>,
    /// Graph nodes with no row in the file (their features are zeros).
    pub nodes_without_row: u32,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct IngestReport {
    pub files: Vec<FileReport>,
    pub rows_read: u64,
    pub rows_kept: u64,
    pub rows_skipped: u64,
    /// The first few bad rows, as `FILE:LINE:COLUMN: message`.
    pub skipped_examples: Vec<String>,
    /// The fewest rows that had to move to sort the input by time (input length minus its
    /// longest non-decreasing run of times; see `EventLog::stable_sort_by_time`).
    pub out_of_order_rows: u64,
    /// Places where time ran backwards between adjacent rows (a file with one
    /// misplaced block has few descents but possibly many out-of-order rows).
    pub time_descents: u64,
    /// Whether the time column runs forwards, and a better one if it does not
    /// (absent from reports written before the check existed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_order: Option<TimeOrder>,
    pub events: u64,
    pub nodes: u32,
    /// `int` when every external id is an integer, else `str`.
    pub id_kind: String,
    pub bipartite: bool,
    pub n_src: Option<u32>,
    pub n_dst: Option<u32>,
    pub directed: bool,
    pub feature_dim: usize,
    pub feature_names: Vec<String>,
    pub time_min: Option<f64>,
    pub time_max: Option<f64>,
    pub node_features: Option<NodeFeaturesReport>,
    /// Bytes read from all input files (compressed sizes for gzip).
    pub bytes_read: u64,
    /// Reading, decompressing, parsing and id mapping.
    pub parse_seconds: f64,
    /// The stable time sort.
    pub sort_seconds: f64,
    pub total_seconds: f64,
    /// Rows read per second over `total_seconds`.
    pub rows_per_second: f64,
    /// Memory and disk figures of `ingest_to_dir` (absent from `ingest_files`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<MemoryReport>,
}

/// How [`crate::ingest::ingest_to_dir`] used memory and disk.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MemoryReport {
    /// `in-memory` (everything fitted the budget) or `external` (sorted runs on disk).
    pub mode: String,
    /// The bound on anonymous memory (RssAnon), bytes.
    pub memory_limit: u64,
    /// RssAnon when the ingest started (the program itself), bytes.
    pub base_rss_anon: u64,
    /// Largest RssAnon sampled during the ingest (every 20 ms), bytes. Mapped file pages
    /// (page cache) do not count.
    pub peak_rss_anon: u64,
    /// Estimated size of the id map at the end of parsing (grows with the node count,
    /// not the event count), bytes.
    pub id_map_bytes: u64,
    /// Rows per chunk before a chunk was sorted and spilled (external mode).
    pub run_rows: u64,
    /// Sorted runs written while parsing.
    pub runs: u64,
    /// Runs written by intermediate merge passes (more runs than can be open at once).
    pub merged_runs: u64,
    pub merge_passes: u32,
    /// Most bytes of run files on disk at once, and all bytes written to them.
    pub peak_run_bytes: u64,
    pub run_bytes_written: u64,
    /// Adjacency: node windows, single-node windows too large for one, passes over
    /// the log to fill bucket files, bytes written to buckets.
    pub windows: usize,
    pub hub_windows: usize,
    pub partition_passes: u32,
    pub bucket_bytes: u64,
    pub merge_seconds: f64,
    pub adjacency_seconds: f64,
    /// Bytes on disk per part of the written graph.
    pub disk: crate::store::write_external::DiskBytes,
}
