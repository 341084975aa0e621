//! `StoreError`: everything the store can refuse, with the file or value that caused it.
//!
//! Variants are narrow on purpose: a caller (CLI, server) can tell a truncated
//! file from a checksum mismatch from an out-of-order append without parsing
//! messages, and every message names the path or the numbers involved.

use std::path::PathBuf;

use crate::store::{NodeId, Time};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// An operating-system error on a specific file or directory. The message
    /// includes the OS error, so it is not also exposed as `source()` (error
    /// chains would print it twice).
    #[error("{}: {error}", path.display())]
    Io { path: PathBuf, error: std::io::Error },

    /// `write_graph` target exists and is not empty (and `replace` was not set).
    #[error("{} already exists and is not empty (pass --force to replace it)", path.display())]
    OutputExists { path: PathBuf },

    /// The on-disk format is little-endian and read in place; a big-endian host
    /// would see byte-swapped numbers.
    #[error("graph directories are little-endian; this host is big-endian and cannot map them")]
    BigEndianHost,

    /// Another writer holds the directory's lock (a compaction in progress).
    #[error(transparent)]
    Locked(#[from] crate::util::lock::LockError),

    /// meta.json changed on disk since this store opened it (another writer
    /// compacted): writing would drop that writer's events.
    #[error(
        "{}: the graph changed on disk since it was opened (generation {opened}, now {found}); another \
         writer compacted it, reopen before compacting", path.display()
    )]
    Changed { path: PathBuf, opened: u64, found: u64 },

    #[error("{}: invalid meta.json: {error}", path.display())]
    MetaParse { path: PathBuf, error: serde_json::Error },

    /// meta.json parsed but is inconsistent (shard layout, counts, missing array).
    #[error("{}: inconsistent meta.json: {reason}", path.display())]
    MetaInvalid { path: PathBuf, reason: String },

    #[error("{}: format version {found} is not supported (this build reads version {supported})", path.display())]
    UnsupportedVersion { path: PathBuf, found: u32, supported: u32 },

    /// The file is shorter than its header, or its size does not match the header.
    #[error("{}: file is {actual} bytes but should be {expected} bytes (truncated or padded?)", path.display())]
    SizeMismatch { path: PathBuf, expected: u64, actual: u64 },

    #[error("{}: not a linkcast array file (bad magic bytes)", path.display())]
    BadMagic { path: PathBuf },

    #[error("{}: element type is {found} but {expected} was expected", path.display())]
    DtypeMismatch { path: PathBuf, expected: String, found: String },

    /// Header element count disagrees with meta.json or with the graph's counts.
    #[error("{}: holds {found} elements but {expected} were expected", path.display())]
    LengthMismatch { path: PathBuf, expected: u64, found: u64 },

    #[error("{}: checksum mismatch (meta.json says {expected:016x}, file hashes to {actual:016x})", path.display())]
    ChecksumMismatch { path: PathBuf, expected: u64, actual: u64 },

    /// The array is well-formed but its values break an invariant
    /// (offsets not monotone, node id out of range, invalid UTF-8...).
    #[error("{}: corrupt contents: {reason}", path.display())]
    CorruptArray { path: PathBuf, reason: String },

    /// Input events are not sorted by time (`GraphData`, `EventLog`).
    #[error(
        "event {row} has time {t}, earlier than the previous event's time {prev}; events must be sorted by time"
    )]
    UnsortedTime { row: u64, prev: Time, t: Time },

    /// An appended event is older than the newest event in the store.
    #[error(
        "event time {t} is older than the newest event time {newest} in the store; appends must be in time order"
    )]
    OutOfOrder { t: Time, newest: Time },

    /// NaN or infinity in a time or feature (`row` is the event id it has or would get).
    #[error("event {row}: {what} is not finite ({value})")]
    NonFinite { row: u64, what: &'static str, value: f64 },

    /// `src`, `dst` and `t` of an event log differ in length.
    #[error("event columns differ in length: src {src}, dst {dst}, t {t}")]
    ColumnLengths { src: usize, dst: usize, t: usize },

    #[error("{what}: expected {expected} values but got {found}")]
    FeatureWidth { what: &'static str, expected: usize, found: usize },

    #[error("event {row}: node id {node} is out of range (the graph has {num_nodes} nodes)")]
    NodeOutOfRange { row: u64, node: NodeId, num_nodes: u32 },

    /// Node id `u32::MAX` is reserved so that `num_nodes` fits in a `u32`.
    #[error("node id {node} is too large (node ids must be below {})", u32::MAX)]
    NodeIdTooLarge { node: NodeId },

    /// Event ids are `u32`.
    #[error("too many events: {count} (at most {} fit in a store)", u32::MAX)]
    TooManyEvents { count: u64 },

    /// `WriteOptions` or another argument is unusable.
    #[error("invalid option: {0}")]
    InvalidOption(String),
}

impl StoreError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        StoreError::Io { path: path.into(), error: source }
    }
}
