//! What to read and how: [`IngestOptions`] and its parts.
//!
//! Column references are header names or 0-based field indices (a name needs a
//! header; an index works with or without one). Feature selections are lists
//! `a,b,c`, ranges `3..7` / `f1..f9` (both ends inclusive, so `f1..f9` means what
//! it says) or open ranges `4..` (to the last column), and may be mixed:
//! `rating,7..9`. `none` selects no features.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::ingest::IngestError;

/// Input layout. `Auto` sniffs it per file (see the module docs of [`crate::ingest`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    #[default]
    Auto,
    /// Whitespace-separated `src dst time [extra...]`, `#`/`%` comments (SNAP).
    Snap,
    Csv,
    Tsv,
    /// `user_id,item_id,timestamp,state_label,f1..fn` (JODIE); bipartite.
    Jodie,
    /// `,u,i,ts,label,idx` (DGB / TGN processed `ml_*.csv`).
    Dgb,
    Parquet,
}

impl Format {
    pub const NAMES: [&'static str; 7] = ["auto", "snap", "csv", "tsv", "jodie", "dgb", "parquet"];

    pub fn name(self) -> &'static str {
        match self {
            Format::Auto => "auto",
            Format::Snap => "snap",
            Format::Csv => "csv",
            Format::Tsv => "tsv",
            Format::Jodie => "jodie",
            Format::Dgb => "dgb",
            Format::Parquet => "parquet",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Format {
    type Err = IngestError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s.trim().to_ascii_lowercase().as_str() {
            "auto" => Format::Auto,
            "snap" | "space" | "whitespace" | "txt" => Format::Snap,
            "csv" => Format::Csv,
            "tsv" | "tab" => Format::Tsv,
            "jodie" => Format::Jodie,
            "dgb" | "tgn" => Format::Dgb,
            "parquet" | "pq" => Format::Parquet,
            other => {
                return Err(IngestError::Options(format!(
                    "unknown format {other:?}; expected one of {}",
                    Format::NAMES.join(", ")
                )));
            }
        })
    }
}

/// What to do with a row that cannot be parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BadRowPolicy {
    /// Stop at the first bad row.
    #[default]
    Error,
    /// Skip bad rows, count them and keep the first few messages for the report.
    Skip,
}

impl FromStr for BadRowPolicy {
    type Err = IngestError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "error" => Ok(BadRowPolicy::Error),
            "skip" => Ok(BadRowPolicy::Skip),
            other => {
                Err(IngestError::Options(format!("unknown bad-row policy {other:?}; expected error or skip")))
            }
        }
    }
}

/// A column: by header name or by 0-based index.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ColumnRef {
    Index(usize),
    Name(String),
}

impl FromStr for ColumnRef {
    type Err = IngestError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        if s.is_empty() {
            return Err(IngestError::Options("empty column reference".into()));
        }
        if s.bytes().all(|b| b.is_ascii_digit()) {
            s.parse::<usize>()
                .map(ColumnRef::Index)
                .map_err(|_| IngestError::Options(format!("column index {s:?} is too large")))
        } else {
            Ok(ColumnRef::Name(s.to_string()))
        }
    }
}

impl fmt::Display for ColumnRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ColumnRef::Index(i) => write!(f, "{i}"),
            ColumnRef::Name(n) => f.write_str(n),
        }
    }
}

/// One element of a feature selection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum FeatureItem {
    One(ColumnRef),
    /// Inclusive range; `None` end = through the last column.
    Range(ColumnRef, Option<ColumnRef>),
}

/// A feature selection, in output order. Empty = no features.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct FeatureSpec(pub Vec<FeatureItem>);

impl FromStr for FeatureSpec {
    type Err = IngestError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        if s.is_empty() || s.eq_ignore_ascii_case("none") {
            return Ok(FeatureSpec::default());
        }
        let mut items = Vec::new();
        for part in s.split(',') {
            let part = part.trim();
            match part.split_once("..") {
                Some((a, b)) => {
                    let start = a.parse::<ColumnRef>().map_err(|_| {
                        IngestError::Options(format!("feature range {part:?} has no start column"))
                    })?;
                    let end = if b.trim().is_empty() { None } else { Some(b.parse::<ColumnRef>()?) };
                    items.push(FeatureItem::Range(start, end));
                }
                None => items.push(FeatureItem::One(part.parse()?)),
            }
        }
        Ok(FeatureSpec(items))
    }
}

/// How to read the input files. `Default` = auto-detect everything, stop on the
/// first bad row.
#[derive(Debug, Clone, Default)]
pub struct IngestOptions {
    pub format: Format,
    /// Source id column (default: field 0; `u` for DGB).
    pub src: Option<ColumnRef>,
    /// Destination id column (default: field 1; `i` for DGB).
    pub dst: Option<ColumnRef>,
    /// Time column (default: field 2; `ts` for DGB).
    pub time: Option<ColumnRef>,
    /// Edge-feature columns. `None` = the format's default: SNAP's extra columns
    /// after the last used one, JODIE's columns after `state_label`, none otherwise.
    pub features: Option<FeatureSpec>,
    /// A weight column, appended after the features (and replacing the format's
    /// default features when `features` is `None`).
    pub weight: Option<ColumnRef>,
    /// The first row is data (CSV/TSV header detection is off).
    pub no_header: bool,
    /// The first non-comment row is a header.
    pub header: bool,
    /// Field delimiter for delimited text; `b' '` means runs of blanks (SNAP).
    pub delimiter: Option<u8>,
    /// Separate id spaces for sources and destinations (implied by JODIE).
    pub bipartite: bool,
    /// Passed through to the store: keep only the source's adjacency.
    pub directed: bool,
    /// `id,f1..fn` rows (CSV/TSV/whitespace, header optional).
    pub node_features: Option<PathBuf>,
    pub on_bad_row: BadRowPolicy,
    /// Accept a time column that runs backwards at many rows (recorded in the
    /// report's [`crate::ingest::time_order::TimeOrder`] as confirmed).
    pub allow_unsorted_time: bool,
}

impl IngestOptions {
    /// The user chose the time column or accepted its order: an out-of-order time
    /// column is then reported, not refused.
    pub fn time_confirmed(&self) -> bool {
        self.time.is_some() || self.allow_unsorted_time
    }

    pub(crate) fn validate(&self) -> Result<(), IngestError> {
        if self.header && self.no_header {
            return Err(IngestError::Options("--header and --no-header contradict each other".into()));
        }
        if let Some(d) = self.delimiter
            && (d == b'\n' || d == b'\r' || d == b'"')
        {
            return Err(IngestError::Options(format!("{:?} cannot be a field delimiter", d as char)));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_refs_and_specs() {
        assert_eq!("3".parse::<ColumnRef>().unwrap(), ColumnRef::Index(3));
        assert_eq!(" ts ".parse::<ColumnRef>().unwrap(), ColumnRef::Name("ts".into()));
        assert!("".parse::<ColumnRef>().is_err());
        let f: FeatureSpec = "a, 3..7,f1..f9,4..".parse().unwrap();
        assert_eq!(
            f.0,
            vec![
                FeatureItem::One(ColumnRef::Name("a".into())),
                FeatureItem::Range(ColumnRef::Index(3), Some(ColumnRef::Index(7))),
                FeatureItem::Range(ColumnRef::Name("f1".into()), Some(ColumnRef::Name("f9".into()))),
                FeatureItem::Range(ColumnRef::Index(4), None),
            ]
        );
        assert!("none".parse::<FeatureSpec>().unwrap().0.is_empty());
        assert!("..3".parse::<FeatureSpec>().is_err());
        assert_eq!("TSV".parse::<Format>().unwrap(), Format::Tsv);
        assert!("xml".parse::<Format>().is_err());
        assert_eq!("skip".parse::<BadRowPolicy>().unwrap(), BadRowPolicy::Skip);
    }
}
