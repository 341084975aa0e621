//! Parquet inputs: the same column flags as delimited text, resolved against the
//! schema's top-level column names (defaults: columns 0, 1, 2; no features).
//!
//! Only the selected columns are decoded (a projection). Accepted types: signed and
//! unsigned integers, floats, timestamps and dates (their integer value in the
//! column's own unit), UTF-8 strings (plain, large, view, or dictionary-encoded
//! with `i32` keys). Ids may be integer, string, or integral floats; times and
//! features any number, or a string holding one. Null cells are bad rows.
//! Positions in messages are `FILE:ROW:COLUMN` (1-based row number). When the
//! time column runs backwards too often, the file's other numeric columns are read
//! (first rows only) to name a better one ([`crate::ingest::time_order`]).

use std::fs::File;

use arrow_array::cast::AsArray;
use arrow_array::types::{
    Date32Type, Date64Type, Float32Type, Float64Type, Int8Type, Int16Type, Int32Type, Int64Type,
    TimestampMicrosecondType, TimestampMillisecondType, TimestampNanosecondType, TimestampSecondType,
    UInt8Type, UInt16Type, UInt32Type, UInt64Type,
};
use arrow_array::{Array, ArrayAccessor, RecordBatch, StringArray};
use arrow_schema::{DataType, TimeUnit};
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use crate::ingest::IngestError;
use crate::ingest::builder::{Builder, ParsedChunk};
use crate::ingest::error::{Location, Role};
use crate::ingest::intern::RawId;
use crate::ingest::layout::{Head, Layout, Split};
use crate::ingest::num::{non_finite_kind, parse_f32, parse_f64};
use crate::ingest::options::{Format, IngestOptions};
use crate::ingest::report::{ColumnsReport, FileReport};
use crate::ingest::time_order::{SCAN_COLUMNS, SCAN_LINES, Trend};

const BATCH_ROWS: usize = 1 << 16;

/// One cell, typed just enough to convert.
#[derive(Debug, Clone, Copy)]
enum Cell<'a> {
    Null,
    Int(i64),
    UInt(u64),
    Float(f64),
    Str(&'a str),
}

impl Cell<'_> {
    fn text(&self) -> String {
        match self {
            Cell::Null => "null".into(),
            Cell::Int(v) => v.to_string(),
            Cell::UInt(v) => v.to_string(),
            Cell::Float(v) => v.to_string(),
            Cell::Str(s) => s.to_string(),
        }
    }
}

type Getter<'a> = Box<dyn Fn(usize) -> Cell<'a> + 'a>;

macro_rules! prim {
    ($a:expr, $t:ty, $variant:ident, $conv:expr) => {{
        let p = $a.as_primitive::<$t>();
        Box::new(move |i: usize| if p.is_null(i) { Cell::Null } else { Cell::$variant($conv(p.value(i))) })
    }};
}

macro_rules! strs {
    ($s:expr) => {{
        let s = $s;
        Box::new(move |i: usize| if s.is_null(i) { Cell::Null } else { Cell::Str(s.value(i)) })
    }};
}

/// A cell reader for `a`, or `None` for a type we do not read.
fn getter<'a>(a: &'a dyn Array) -> Option<Getter<'a>> {
    Some(match a.data_type() {
        DataType::Int8 => prim!(a, Int8Type, Int, i64::from),
        DataType::Int16 => prim!(a, Int16Type, Int, i64::from),
        DataType::Int32 => prim!(a, Int32Type, Int, i64::from),
        DataType::Int64 => prim!(a, Int64Type, Int, |v| v),
        DataType::UInt8 => prim!(a, UInt8Type, Int, i64::from),
        DataType::UInt16 => prim!(a, UInt16Type, Int, i64::from),
        DataType::UInt32 => prim!(a, UInt32Type, Int, i64::from),
        DataType::UInt64 => prim!(a, UInt64Type, UInt, |v| v),
        DataType::Float32 => prim!(a, Float32Type, Float, f64::from),
        DataType::Float64 => prim!(a, Float64Type, Float, |v| v),
        DataType::Timestamp(TimeUnit::Second, _) => prim!(a, TimestampSecondType, Int, |v| v),
        DataType::Timestamp(TimeUnit::Millisecond, _) => prim!(a, TimestampMillisecondType, Int, |v| v),
        DataType::Timestamp(TimeUnit::Microsecond, _) => prim!(a, TimestampMicrosecondType, Int, |v| v),
        DataType::Timestamp(TimeUnit::Nanosecond, _) => prim!(a, TimestampNanosecondType, Int, |v| v),
        DataType::Date32 => prim!(a, Date32Type, Int, i64::from),
        DataType::Date64 => prim!(a, Date64Type, Int, |v| v),
        DataType::Utf8 => strs!(a.as_string::<i32>()),
        DataType::LargeUtf8 => strs!(a.as_string::<i64>()),
        DataType::Utf8View => strs!(a.as_string_view()),
        DataType::Dictionary(k, v) if **k == DataType::Int32 && **v == DataType::Utf8 => {
            let d = a.as_dictionary::<Int32Type>().downcast_dict::<StringArray>()?;
            Box::new(move |i: usize| if d.is_null(i) { Cell::Null } else { Cell::Str(d.value(i)) })
        }
        _ => return None,
    })
}

struct Cols<'a> {
    src: Getter<'a>,
    dst: Getter<'a>,
    time: Getter<'a>,
    feats: Vec<(usize, Getter<'a>)>,
}

struct RowCtx<'a> {
    layout: &'a Layout,
    file: &'a str,
}

impl RowCtx<'_> {
    fn at(&self, row: u64, col: usize) -> Location {
        Location::new(self.file, row, Some(col + 1))
    }

    fn unparsable(
        &self,
        row: u64,
        col: usize,
        role: Role,
        cell: Cell<'_>,
        expected: &'static str,
    ) -> IngestError {
        IngestError::Unparsable {
            at: self.at(row, col),
            column: self.layout.column(col, role),
            text: cell.text(),
            expected,
        }
    }

    fn id(
        &self,
        c: Cell<'_>,
        col: usize,
        role: Role,
        row: u64,
        arena: &mut Vec<u8>,
    ) -> Result<RawId, IngestError> {
        match c {
            Cell::Int(v) => Ok(RawId::Int(v)),
            Cell::UInt(v) => match i64::try_from(v) {
                Ok(v) => Ok(RawId::Int(v)),
                Err(_) => Ok(RawId::from_field(v.to_string().as_bytes(), arena)),
            },
            Cell::Float(v) if v.fract() == 0.0 && v.abs() < 9.2e18 => Ok(RawId::Int(v as i64)),
            Cell::Str(s) if !s.trim().is_empty() => Ok(RawId::from_field(s.trim().as_bytes(), arena)),
            _ => Err(self.unparsable(row, col, role, c, "a node id")),
        }
    }

    fn number(&self, c: Cell<'_>, col: usize, role: Role, row: u64) -> Result<f64, IngestError> {
        let v = match c {
            Cell::Int(v) => v as f64,
            Cell::UInt(v) => v as f64,
            Cell::Float(v) => v,
            Cell::Str(s) => match parse_f64(s.trim().as_bytes()) {
                Some(v) => v,
                None => return Err(self.unparsable(row, col, role, c, "a number")),
            },
            Cell::Null => return Err(self.unparsable(row, col, role, c, "a number")),
        };
        if !v.is_finite() {
            return Err(IngestError::NotFinite {
                at: self.at(row, col),
                column: self.layout.column(col, role),
                text: c.text(),
                kind: non_finite_kind(v),
            });
        }
        Ok(v)
    }

    fn feature(&self, c: Cell<'_>, col: usize, row: u64) -> Result<f32, IngestError> {
        // Strings take the f32 parser directly (no double rounding through f64).
        let v = match c {
            Cell::Str(s) => match parse_f32(s.trim().as_bytes()) {
                Some(v) => v,
                None => return Err(self.unparsable(row, col, Role::Feature, c, "a number")),
            },
            _ => self.number(c, col, Role::Feature, row)? as f32,
        };
        if !v.is_finite() {
            return Err(IngestError::NotFinite {
                at: self.at(row, col),
                column: self.layout.column(col, Role::Feature),
                text: c.text(),
                kind: non_finite_kind(v as f64),
            });
        }
        Ok(v)
    }

    fn row(&self, cols: &Cols<'_>, i: usize, row: u64, out: &mut ParsedChunk) -> Result<(), IngestError> {
        let l = self.layout;
        let src = self.id((cols.src)(i), l.src, Role::Src, row, &mut out.arena)?;
        let dst = self.id((cols.dst)(i), l.dst, Role::Dst, row, &mut out.arena)?;
        let t = self.number((cols.time)(i), l.time, Role::Time, row)?;
        for (c, g) in &cols.feats {
            out.feats.push(self.feature(g(i), *c, row)?);
        }
        out.src.push(src);
        out.dst.push(dst);
        out.t.push(t);
        Ok(())
    }
}

/// Refuse a footer whose column chunks lie outside a file of `len` bytes. The
/// parquet crate asserts (panics) on a negative chunk offset or size when it
/// reaches that chunk, so corrupt metadata must be caught before reading
/// (found by fuzzing `score`'s query files).
pub(crate) fn check_chunks(meta: &parquet::file::metadata::ParquetMetaData, len: u64) -> Result<(), String> {
    for (g, rg) in meta.row_groups().iter().enumerate() {
        for (c, col) in rg.columns().iter().enumerate() {
            let start = col.dictionary_page_offset().unwrap_or(col.data_page_offset());
            let size = col.compressed_size();
            let fits = start >= 0
                && size >= 0
                && col.data_page_offset() >= 0
                && (start as u64).checked_add(size as u64).is_some_and(|end| end <= len);
            if !fits {
                return Err(format!(
                    "corrupt footer: row group {g}, column {c} claims bytes {start}..+{size} of a {len}-byte file"
                ));
            }
        }
    }
    Ok(())
}

/// The reader's builder over `file`, its footer checked by [`check_chunks`].
fn open_checked(name: &str, file: File) -> Result<ParquetRecordBatchReaderBuilder<File>, IngestError> {
    let pq_err = |source| IngestError::Parquet { path: name.to_string(), source };
    let len = file.metadata().map_err(|source| IngestError::Open { path: name.to_string(), source })?.len();
    let builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(pq_err)?;
    check_chunks(builder.metadata(), len)
        .map_err(|why| pq_err(parquet::errors::ParquetError::General(why)))?;
    Ok(builder)
}

/// A panic of the parquet crate on a corrupt file, as this file's error.
fn contained_error(name: &str, why: String) -> IngestError {
    let msg = format!("the Parquet reader failed on corrupt data ({why})");
    IngestError::Parquet { path: name.to_string(), source: parquet::errors::ParquetError::General(msg) }
}

/// Parse one Parquet file into `b` (a corrupt file is an error, even where the
/// parquet crate panics on it: see `util::contain`).
pub(crate) fn ingest_parquet(
    name: &str,
    file: File,
    opts: &IngestOptions,
    b: &mut Builder,
    fr: &mut FileReport,
    progress: &mut dyn FnMut(u64),
) -> Result<(), IngestError> {
    crate::util::contain::contain(|| ingest_parquet_inner(name, file, opts, b, fr, progress))
        .unwrap_or_else(|why| Err(contained_error(name, why)))
}

fn ingest_parquet_inner(
    name: &str,
    file: File,
    opts: &IngestOptions,
    b: &mut Builder,
    fr: &mut FileReport,
    progress: &mut dyn FnMut(u64),
) -> Result<(), IngestError> {
    let pq_err = |source| IngestError::Parquet { path: name.to_string(), source };
    let again = file.try_clone().map_err(|source| IngestError::Open { path: name.to_string(), source })?;
    let builder = open_checked(name, file)?;
    let names: Vec<String> = builder.schema().fields().iter().map(|f| f.name().clone()).collect();
    let total = builder.metadata().file_metadata().num_rows();
    if total <= 0 {
        return Err(IngestError::Empty {
            at: Location::new(name, 1, Some(1)),
            detail: " (the Parquet file has no rows)".into(),
        });
    }
    let head = Head {
        format: Format::Parquet,
        split: Split::Whitespace,
        first_fields: names.len(),
        names: Some(names),
        header_line: None,
        data_line: 1,
    };
    let layout = Layout::resolve(opts, head, name)?;
    b.begin_file(
        layout.bipartite,
        layout.feat_width,
        layout.feature_names(),
        Location::new(name, 1, None),
        "(first row)",
    )?;
    let [src, dst, time] = layout.key_names();
    fr.format = Format::Parquet;
    fr.header = true;
    fr.columns = ColumnsReport { src, dst, time, features: layout.feature_names() };
    fr.scan = layout.column_scan();

    let mut wanted: Vec<usize> =
        [layout.src, layout.dst, layout.time].into_iter().chain(layout.feats.clone()).collect();
    wanted.sort_unstable();
    wanted.dedup();
    let mask = ProjectionMask::roots(builder.parquet_schema(), wanted.iter().copied());
    let reader = builder.with_projection(mask).with_batch_size(BATCH_ROWS).build().map_err(pq_err)?;

    let ctx = RowCtx { layout: &layout, file: name };
    let mut row_base = 0u64;
    let mut time = Trend::default();
    for batch in reader {
        let batch = batch.map_err(|source| IngestError::Arrow { path: name.to_string(), source })?;
        let p = parse_batch(&ctx, &batch, &wanted, row_base, opts)?;
        for &t in &p.t {
            time.push(t);
        }
        row_base += batch.num_rows() as u64;
        b.absorb(p, fr)?;
        progress(fr.rows_read);
    }
    // Only the selected columns were decoded: the others are read (their first rows)
    // only when the time column needs a better one.
    if time.out_of_order() {
        fr.scan.cols = scan_columns(name, again, &layout)?;
    }
    Ok(())
}

/// How the numeric columns other than the ids run over the file's first
/// [`SCAN_LINES`] rows (columns of other types count as not numeric).
/// Called only from [`ingest_parquet`], so it runs contained too.
fn scan_columns(name: &str, file: File, layout: &Layout) -> Result<Vec<Trend>, IngestError> {
    let pq_err = |source| IngestError::Parquet { path: name.to_string(), source };
    let builder = open_checked(name, file)?;
    let width = layout.first_fields.min(SCAN_COLUMNS);
    let cols: Vec<usize> = (0..width).filter(|&c| c != layout.src && c != layout.dst).collect();
    let mask = ProjectionMask::roots(builder.parquet_schema(), cols.iter().copied());
    let reader = builder
        .with_projection(mask)
        .with_batch_size(BATCH_ROWS)
        .with_limit(SCAN_LINES as usize)
        .build()
        .map_err(pq_err)?;
    let mut trends = vec![Trend::default(); width];
    for batch in reader {
        let batch = batch.map_err(|source| IngestError::Arrow { path: name.to_string(), source })?;
        // The projection keeps schema order, and `cols` is ascending.
        for (pos, &c) in cols.iter().enumerate() {
            let a = batch.column(pos);
            let t = &mut trends[c];
            match getter(a.as_ref()) {
                Some(g) => {
                    for i in 0..batch.num_rows() {
                        t.push_field(match g(i) {
                            Cell::Int(v) => Some(v as f64),
                            Cell::UInt(v) => Some(v as f64),
                            Cell::Float(v) => Some(v),
                            Cell::Str(s) => parse_f64(s.trim().as_bytes()),
                            Cell::Null => None,
                        });
                    }
                }
                None => t.push_field(None),
            }
        }
    }
    Ok(trends)
}

fn parse_batch(
    ctx: &RowCtx<'_>,
    batch: &RecordBatch,
    wanted: &[usize],
    row_base: u64,
    opts: &IngestOptions,
) -> Result<ParsedChunk, IngestError> {
    let l = ctx.layout;
    let get = |col: usize, role: Role, expected: &'static str| -> Result<Getter<'_>, IngestError> {
        // `wanted` is sorted and holds `col`, so its position is the projected index.
        let a = wanted.binary_search(&col).ok().map(|pos| batch.column(pos));
        a.and_then(|a| getter(a.as_ref())).ok_or_else(|| IngestError::ColumnType {
            path: ctx.file.to_string(),
            column: l.column(col, role),
            dtype: a.map_or("(missing)".to_string(), |a| a.data_type().to_string()),
            expected,
        })
    };
    let cols = Cols {
        src: get(l.src, Role::Src, "a node id")?,
        dst: get(l.dst, Role::Dst, "a node id")?,
        time: get(l.time, Role::Time, "a time")?,
        feats: l
            .feats
            .iter()
            .map(|&c| Ok((c, get(c, Role::Feature, "a feature")?)))
            .collect::<Result<_, IngestError>>()?,
    };
    let n = batch.num_rows();
    let mut out = ParsedChunk::with_capacity(n, l.feat_width);
    for i in 0..n {
        out.rows_read += 1;
        let (feats, arena) = (out.feats.len(), out.arena.len());
        if let Err(e) = ctx.row(&cols, i, row_base + i as u64 + 1, &mut out) {
            out.feats.truncate(feats);
            out.arena.truncate(arena);
            if !out.bad_row(e, opts.on_bad_row) {
                break;
            }
        }
    }
    Ok(out)
}
