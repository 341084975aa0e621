//! `IngestError`: everything that can be wrong with the input, each variant saying
//! where.
//!
//! Positions are `FILE:LINE:COLUMN`: LINE is 1-based and counts every physical line
//! of the (decompressed) file, header and comment lines included, so it matches an
//! editor or `sed -n LINEp`; COLUMN is the 1-based field number. For Parquet, LINE
//! is the 1-based row number. Messages then name the column's role and its header
//! name when there is one, and quote the offending text, e.g.
//! `edges.csv:3:4: time column "ts": cannot parse "12x" as a number`.

use std::fmt;
use std::io;

/// Where a problem is. `column` is `None` for whole-line problems.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    pub file: String,
    pub line: u64,
    pub column: Option<usize>,
}

impl Location {
    pub fn new(file: &str, line: u64, column: Option<usize>) -> Self {
        Self { file: file.to_string(), line, column }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file, self.line)?;
        if let Some(c) = self.column {
            write!(f, ":{c}")?;
        }
        Ok(())
    }
}

/// What a column is used for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Src,
    Dst,
    Time,
    Feature,
    NodeId,
    NodeFeature,
}

impl Role {
    /// The command-line flag that selects this column.
    pub fn flag(self) -> &'static str {
        match self {
            Role::Src => "--src",
            Role::Dst => "--dst",
            Role::Time => "--time",
            Role::Feature => "--features/--weight",
            Role::NodeId | Role::NodeFeature => "--node-features",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Role::Src => "source id",
            Role::Dst => "destination id",
            Role::Time => "time",
            Role::Feature => "feature",
            Role::NodeId => "node id",
            Role::NodeFeature => "node feature",
        })
    }
}

/// A column as messages name it: its role and, with a header, its name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnDesc {
    pub role: Role,
    pub name: Option<String>,
}

impl fmt::Display for ColumnDesc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.name {
            Some(n) => write!(f, "{} column {n:?}", self.role),
            None => write!(f, "{} column", self.role),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("{path}: cannot open")]
    Open {
        path: String,
        #[source]
        source: io::Error,
    },
    #[error("{path}: read failed after {bytes} bytes")]
    Read {
        path: String,
        bytes: u64,
        #[source]
        source: io::Error,
    },
    #[error("{path}: undecodable gzip data (after {decoded} decompressed bytes, near line {line})")]
    Gzip {
        path: String,
        decoded: u64,
        line: u64,
        #[source]
        source: io::Error,
    },
    #[error("{path}: cannot read as Parquet")]
    Parquet {
        path: String,
        #[source]
        source: parquet::errors::ParquetError,
    },
    #[error("{path}: cannot decode Parquet data")]
    Arrow {
        path: String,
        #[source]
        source: arrow_schema::ArrowError,
    },
    #[error("{at}: empty file: no data rows{detail}")]
    Empty { at: Location, detail: String },
    #[error("{at}: {column}: cannot parse {text:?} as {expected}")]
    Unparsable { at: Location, column: ColumnDesc, text: String, expected: &'static str },
    #[error("{at}: {column}: {text:?} is {kind}; times and features must be finite numbers")]
    NotFinite { at: Location, column: ColumnDesc, text: String, kind: &'static str },
    #[error("{at}: no column named {name:?} ({flag}) in the header; available columns: {available}")]
    MissingColumn { at: Location, flag: &'static str, name: String, available: String },
    #[error(
        "{at}: column index {index} ({flag}) is out of range: {what} has {fields} fields (indices are 0-based)"
    )]
    ColumnOutOfRange { at: Location, flag: &'static str, index: usize, what: &'static str, fields: usize },
    #[error(
        "{at}: column {name:?} ({flag}) is given by name, but the file has no header; \
         give a 0-based index or pass --header"
    )]
    NameWithoutHeader { at: Location, flag: &'static str, name: String },
    #[error("{at}: wrong number of fields: expected {expected}, found {found}: {text:?}")]
    FieldCount { at: Location, expected: String, found: usize, text: String },
    #[error(
        "{at}: inconsistent feature width: {found} feature columns here, {expected} in {reference}: {text:?}"
    )]
    FeatureWidth { at: Location, expected: usize, found: usize, reference: String, text: String },
    #[error("{at}: node id {id:?} is not in the graph")]
    UnknownNode { at: Location, id: String },
    #[error("{at}: node id {id:?} already has features (line {first})")]
    DuplicateNode { at: Location, id: String, first: u64 },
    #[error("{path}: {column} has type {dtype}, which cannot be read as {expected}")]
    ColumnType { path: String, column: ColumnDesc, dtype: String, expected: &'static str },
    #[error("too many {what}: more than {max} do not fit the store's u32 ids")]
    TooMany { what: &'static str, max: u64 },
    #[error("no rows kept: all {skipped} data rows were bad; first: {first}")]
    NothingKept { skipped: u64, first: String },
    #[error("invalid option: {0}")]
    Options(String),
    /// Writing runs, buckets or the graph directory failed.
    #[error("writing the graph")]
    Store(#[from] crate::store::StoreError),
    /// The memory limit leaves no room to work (the program and the id map take it all).
    #[error(
        "--memory-limit {limit} bytes is too small: {what} already take {used} bytes of anonymous memory \
         (plus {reserve} bytes kept for parsing); raise the limit"
    )]
    MemoryLimit { limit: u64, used: u64, reserve: u64, what: &'static str },
}

impl IngestError {
    /// The position the error names, when it names one.
    pub fn location(&self) -> Option<&Location> {
        use IngestError::*;
        match self {
            Empty { at, .. }
            | Unparsable { at, .. }
            | NotFinite { at, .. }
            | MissingColumn { at, .. }
            | ColumnOutOfRange { at, .. }
            | NameWithoutHeader { at, .. }
            | FieldCount { at, .. }
            | FeatureWidth { at, .. }
            | UnknownNode { at, .. }
            | DuplicateNode { at, .. } => Some(at),
            _ => None,
        }
    }

    /// Whether `--on-bad-row skip` may skip the row this error is about (errors about
    /// a whole file or an option always fail the run).
    pub fn is_row_error(&self) -> bool {
        use IngestError::*;
        matches!(
            self,
            Unparsable { .. }
                | NotFinite { .. }
                | FieldCount { .. }
                | FeatureWidth { .. }
                | UnknownNode { .. }
                | DuplicateNode { .. }
        )
    }
}

/// Quote at most `max` characters of a field or line for a message.
pub(crate) fn excerpt(bytes: &[u8], max: usize) -> String {
    let s = String::from_utf8_lossy(bytes);
    if s.chars().count() <= max {
        s.into_owned()
    } else {
        let mut t: String = s.chars().take(max).collect();
        t.push_str("...");
        t
    }
}
