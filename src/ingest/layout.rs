//! Layout detection for text inputs and column resolution for every format.
//!
//! Auto-detection looks at the first non-comment line of each file:
//! 1. `user_id,item_id,timestamp,...` -> JODIE (bipartite; features after `state_label`);
//! 2. `,u,i,ts,...` -> DGB/TGN processed (`u`, `i`, `ts`; no features);
//! 3. else a `--delimiter` decides (space = SNAP, tab = TSV, other = CSV);
//! 4. else a comma -> CSV, a tab -> TSV, otherwise whitespace SNAP.
//!
//! Header detection (unless `--header`/`--no-header`): a line is a header when a
//! column is selected by name, or when none of its fields is a number. Data rows
//! always have a numeric time, and a header row has no numbers, so the one
//! ambiguous line (`1,2,x`: data with a bad time) is read as data and reported.
//!
//! A resolved [`Layout`] says which 0-based field holds the source, destination,
//! time and each feature, and how many fields a row must have.

use crate::ingest::IngestError;
use crate::ingest::error::{ColumnDesc, Location, Role};
use crate::ingest::num::parse_f64;
use crate::ingest::options::{ColumnRef, FeatureItem, Format, IngestOptions};
use crate::ingest::time_order::{ColumnScan, SCAN_COLUMNS};

/// How a line splits into fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Split {
    /// Runs of spaces/tabs; leading and trailing blanks ignored (SNAP).
    Whitespace,
    /// One byte; fields trimmed of spaces; RFC 4180 double quotes honoured.
    Delim(u8),
}

/// Where each value of a row is (0-based field indices).
#[derive(Debug, Clone)]
pub(crate) struct Layout {
    pub format: Format,
    pub split: Split,
    /// Header names (text) or schema names (Parquet); `None` without a header.
    pub names: Option<Vec<String>>,
    pub header_line: Option<u64>,
    pub src: usize,
    pub dst: usize,
    pub time: usize,
    /// Explicit feature columns, weight last. Empty when `tail` is used.
    pub feats: Vec<usize>,
    /// Features are every field from this index to the end of the row (SNAP
    /// extras, JODIE): the width must then stay `feat_width`.
    pub tail: Option<usize>,
    pub feat_width: usize,
    /// Rows need at least this many fields.
    pub min_fields: usize,
    /// ... or exactly this many (delimited formats).
    pub exact_fields: Option<usize>,
    pub bipartite: bool,
    /// The first data line (or row), which fixed the widths.
    pub data_line: u64,
    /// Number of fields of that first data row.
    pub first_fields: usize,
}

fn field_eq(f: &[u8], want: &str) -> bool {
    f.trim_ascii() == want.as_bytes()
}

pub(crate) fn is_jodie_header(fields: &[&[u8]]) -> bool {
    fields.len() >= 3
        && field_eq(fields[0], "user_id")
        && field_eq(fields[1], "item_id")
        && field_eq(fields[2], "timestamp")
}

pub(crate) fn is_dgb_header(fields: &[&[u8]]) -> bool {
    fields.len() >= 4
        && field_eq(fields[0], "")
        && field_eq(fields[1], "u")
        && field_eq(fields[2], "i")
        && field_eq(fields[3], "ts")
}

fn comma_fields(line: &[u8]) -> Vec<&[u8]> {
    line.split(|&b| b == b',').collect()
}

/// The format of a text file from its first non-comment line.
pub(crate) fn detect_format(opts: &IngestOptions, first: &[u8]) -> Format {
    if opts.format != Format::Auto {
        return opts.format;
    }
    let commas = comma_fields(first);
    if is_jodie_header(&commas) {
        return Format::Jodie;
    }
    if is_dgb_header(&commas) {
        return Format::Dgb;
    }
    match opts.delimiter {
        Some(b' ') => Format::Snap,
        Some(b'\t') => Format::Tsv,
        Some(_) => Format::Csv,
        None if first.contains(&b',') => Format::Csv,
        None if first.contains(&b'\t') => Format::Tsv,
        None => Format::Snap,
    }
}

/// The splitting rule: an explicit delimiter wins, else the format's own.
pub(crate) fn split_for(format: Format, opts: &IngestOptions) -> Split {
    match (opts.delimiter, format) {
        (Some(b' '), _) => Split::Whitespace,
        (Some(d), _) => Split::Delim(d),
        (None, Format::Snap | Format::Auto | Format::Parquet) => Split::Whitespace,
        (None, Format::Tsv) => Split::Delim(b'\t'),
        (None, Format::Csv | Format::Jodie | Format::Dgb) => Split::Delim(b','),
    }
}

fn default_cols(format: Format) -> [usize; 3] {
    match format {
        Format::Dgb => [1, 2, 3],
        _ => [0, 1, 2],
    }
}

fn any_named(opts: &IngestOptions) -> bool {
    let named = |r: &Option<ColumnRef>| matches!(r, Some(ColumnRef::Name(_)));
    named(&opts.src)
        || named(&opts.dst)
        || named(&opts.time)
        || named(&opts.weight)
        || opts.features.as_ref().is_some_and(|f| {
            f.0.iter().any(|it| match it {
                FeatureItem::One(r) => matches!(r, ColumnRef::Name(_)),
                FeatureItem::Range(a, b) => {
                    matches!(a, ColumnRef::Name(_)) || matches!(b, Some(ColumnRef::Name(_)))
                }
            })
        })
}

/// Whether the first non-comment line (split into `fields`) is a header.
pub(crate) fn decide_header(opts: &IngestOptions, format: Format, fields: &[&[u8]]) -> bool {
    if opts.header {
        return true;
    }
    if opts.no_header {
        return false;
    }
    if (format == Format::Jodie && is_jodie_header(fields))
        || (format == Format::Dgb && is_dgb_header(fields))
    {
        return true;
    }
    any_named(opts) || !fields.iter().any(|f| parse_f64(f).is_some())
}

/// `"src" (0), "dst" (1), ...`: what a missing-column message offers instead.
fn available(names: &[String]) -> String {
    const MAX: usize = 40;
    let mut s: Vec<String> =
        names.iter().take(MAX).enumerate().map(|(i, n)| format!("{n:?} ({i})")).collect();
    if names.len() > MAX {
        s.push(format!("... ({} more)", names.len() - MAX));
    }
    s.join(", ")
}

/// Resolves column references against a header (or none) for one file.
pub(crate) struct Resolver<'a> {
    pub names: Option<&'a [String]>,
    /// Fields in the widest of header and first data row, for index checks.
    pub fields: usize,
    /// The header line (or the first data line without one), for messages.
    pub at: Location,
}

impl Resolver<'_> {
    pub(crate) fn column(&self, r: &ColumnRef, flag: &'static str) -> Result<usize, IngestError> {
        match (r, self.names) {
            (ColumnRef::Name(n), Some(names)) => names
                .iter()
                .position(|h| h == n)
                .or_else(|| names.iter().position(|h| h.trim().eq_ignore_ascii_case(n.trim())))
                .ok_or_else(|| IngestError::MissingColumn {
                    at: self.at.clone(),
                    flag,
                    name: n.clone(),
                    available: available(names),
                }),
            (ColumnRef::Name(n), None) => {
                Err(IngestError::NameWithoutHeader { at: self.at.clone(), flag, name: n.clone() })
            }
            (ColumnRef::Index(i), _) if *i < self.fields => Ok(*i),
            (ColumnRef::Index(i), names) => Err(IngestError::ColumnOutOfRange {
                at: self.at.clone(),
                flag,
                index: *i,
                what: if names.is_some() { "the header" } else { "the first data row" },
                fields: self.fields,
            }),
        }
    }

    pub(crate) fn features(&self, items: &[FeatureItem]) -> Result<Vec<usize>, IngestError> {
        let mut out = Vec::new();
        for it in items {
            match it {
                FeatureItem::One(r) => out.push(self.column(r, "--features")?),
                FeatureItem::Range(a, b) => {
                    let lo = self.column(a, "--features")?;
                    let hi = match b {
                        Some(b) => self.column(b, "--features")?,
                        None => self.fields.saturating_sub(1),
                    };
                    if hi < lo {
                        return Err(IngestError::Options(format!(
                            "{}: feature range {a}..{} runs backwards (columns {lo} to {hi})",
                            self.at,
                            b.as_ref().map(|b| b.to_string()).unwrap_or_default()
                        )));
                    }
                    out.extend(lo..=hi);
                }
            }
        }
        Ok(out)
    }
}

/// What the start of a file showed: format, header, first data row.
#[derive(Debug, Clone)]
pub(crate) struct Head {
    pub format: Format,
    pub split: Split,
    /// The header (text) or the schema's column names (Parquet).
    pub names: Option<Vec<String>>,
    pub header_line: Option<u64>,
    /// Field count of the first data row, at line `data_line`.
    pub first_fields: usize,
    pub data_line: u64,
}

impl Layout {
    /// Resolve `opts` for one file.
    pub(crate) fn resolve(opts: &IngestOptions, head: Head, file: &str) -> Result<Layout, IngestError> {
        let Head { format, split, names, header_line, first_fields, data_line } = head;
        let at = Location::new(file, header_line.unwrap_or(data_line), None);
        let width = names.as_ref().map_or(0, |n| n.len()).max(first_fields);
        let res = Resolver { names: names.as_deref(), fields: width, at };
        let [ds, dd, dt] = default_cols(format);
        let pick = |r: &Option<ColumnRef>, def: usize, flag| match r {
            Some(r) => res.column(r, flag),
            None if def < width => Ok(def),
            None => Err(IngestError::ColumnOutOfRange {
                at: res.at.clone(),
                flag,
                index: def,
                what: if names.is_some() { "the header" } else { "the first data row" },
                fields: width,
            }),
        };
        let src = pick(&opts.src, ds, "--src")?;
        let dst = pick(&opts.dst, dd, "--dst")?;
        let time = pick(&opts.time, dt, "--time")?;
        let used = src.max(dst).max(time) + 1;

        let (mut feats, tail) = match (&opts.features, &opts.weight, format) {
            (Some(spec), _, _) => (res.features(&spec.0)?, None),
            (None, Some(_), _) => (Vec::new(), None),
            (None, None, Format::Snap) => (Vec::new(), Some(used)),
            (None, None, Format::Jodie) => (Vec::new(), Some(used.max(4))),
            (None, None, _) => (Vec::new(), None),
        };
        if let Some(w) = &opts.weight {
            feats.push(res.column(w, "--weight")?);
        }
        let feat_width = match tail {
            Some(k) => first_fields.saturating_sub(k),
            None => feats.len(),
        };
        let min_fields = feats.iter().copied().max().map_or(used, |m| used.max(m + 1)).max(tail.unwrap_or(0));
        let exact_fields = match (format, tail) {
            (_, Some(_)) | (Format::Snap, _) => None,
            // JODIE's header names one column for all features, so rows set the count.
            (Format::Jodie, None) => Some(first_fields),
            _ => Some(names.as_ref().map_or(first_fields, |n| n.len())),
        }
        // Never fewer than the columns used: a header shorter than the rows
        // must not let a row that lacks the id or time columns through (fuzzing).
        .map(|e| e.max(min_fields));
        Ok(Layout {
            format,
            split,
            names,
            header_line,
            src,
            dst,
            time,
            feats,
            tail,
            feat_width,
            min_fields,
            exact_fields,
            bipartite: opts.bipartite || format == Format::Jodie,
            data_line,
            first_fields,
        })
    }

    /// The column as messages name it.
    pub(crate) fn column(&self, idx: usize, role: Role) -> ColumnDesc {
        let name = self.names.as_ref().and_then(|n| n.get(idx)).filter(|n| !n.is_empty()).cloned();
        ColumnDesc { role, name }
    }

    /// The role of field `idx` (for messages about arbitrary fields).
    pub(crate) fn role_of(&self, idx: usize) -> Role {
        if idx == self.src {
            Role::Src
        } else if idx == self.dst {
            Role::Dst
        } else if idx == self.time {
            Role::Time
        } else {
            Role::Feature
        }
    }

    /// Feature column indices, in output order (for the tail: those of the first row).
    pub(crate) fn feature_columns(&self) -> Vec<usize> {
        match self.tail {
            Some(k) => (k..k + self.feat_width).collect(),
            None => self.feats.clone(),
        }
    }

    fn name_of(&self, i: usize) -> String {
        // A header that does not match the rows (JODIE's single
        // "comma_separated_list_of_features") names nothing useful.
        let fits = self.names.as_ref().is_some_and(|n| n.len() == self.first_fields || self.tail.is_none());
        match self.names.as_ref().and_then(|n| n.get(i)) {
            Some(n) if fits && !n.is_empty() => n.clone(),
            _ => format!("col{i}"),
        }
    }

    /// An empty column scan of this layout: each scanned column's report name and
    /// `--time` value (the header name where there is one, else the index).
    pub(crate) fn column_scan(&self) -> ColumnScan {
        let names = (0..self.first_fields.min(SCAN_COLUMNS))
            .map(|i| {
                let name = self.name_of(i);
                let flag = if name == format!("col{i}") { i.to_string() } else { name.clone() };
                (name, flag)
            })
            .collect();
        ColumnScan { names, ids: [self.src, self.dst], time: self.time, cols: Vec::new(), closed: false }
    }

    pub(crate) fn feature_names(&self) -> Vec<String> {
        self.feature_columns().into_iter().map(|i| self.name_of(i)).collect()
    }

    /// Names of the src, dst and time columns, for the report.
    pub(crate) fn key_names(&self) -> [String; 3] {
        [self.name_of(self.src), self.name_of(self.dst), self.name_of(self.time)]
    }

    /// "4 (as in the header on line 1)" and the like.
    pub(crate) fn expected_fields(&self) -> String {
        match (self.exact_fields, self.header_line) {
            (Some(n), Some(h)) if self.format != Format::Jodie => {
                format!("{n} (as in the header on line {h})")
            }
            (Some(n), _) => format!("{n} (as in line {})", self.data_line),
            (None, _) => format!("at least {}", self.min_fields),
        }
    }
}
