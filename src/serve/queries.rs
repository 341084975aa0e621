//! Query files for `linkcast score` and `recommend --sources`: read `src,dst,time`
//! (or `src,time`) rows (CSV/TSV with a header, or Parquet with those column names;
//! `t` or `ts` also name the time, and `at` in a sources file) and write the scores
//! or the ranked destinations back in input order, as CSV or Parquet (by the
//! output's extension), atomically (temporary file, then rename).
//!
//! Ids are kept as text (integers in their decimal form), exactly as the graph's id
//! map spells them. Errors name the file, the 1-based line (CSV, counting the header)
//! or row (Parquet), and the field.

use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{Float32Type, Float64Type, Int32Type, Int64Type, UInt32Type, UInt64Type};
use arrow_array::{Array, ArrayRef, BooleanArray, Float64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema};
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use crate::serve::{Query, Ranked, Scored, ServeError, SourceQuery};

fn input(path: &Path, line: usize, field: &str, why: impl Into<String>) -> ServeError {
    ServeError::Input { path: path.display().to_string(), line, field: field.to_string(), why: why.into() }
}

fn io(path: &Path, source: std::io::Error) -> ServeError {
    ServeError::Io { path: path.display().to_string(), source }
}

fn is_parquet(path: &Path) -> bool {
    matches!(path.extension().and_then(|e| e.to_str()), Some("parquet" | "pq"))
}

const TIME_NAMES: [&str; 3] = ["time", "t", "ts"];
/// A sources file may also name its time `at`, as `recommend --at` does.
const SOURCE_TIME_NAMES: [&str; 4] = ["time", "t", "ts", "at"];

/// Read every query of `path`, in file order.
pub fn read_queries(path: &Path) -> Result<Vec<Query>, ServeError> {
    Ok(read_rows(path, true)?
        .into_iter()
        .map(|(src, dst, t)| Query { src, dst: dst.expect("read with dst"), t })
        .collect())
}

/// Read every `(src, time)` of `path` (`recommend --sources`), in file order: CSV/TSV
/// with a header or Parquet, the time column named `time`, `t`, `ts` or `at`; other
/// columns are ignored.
pub fn read_sources(path: &Path) -> Result<Vec<SourceQuery>, ServeError> {
    Ok(read_rows(path, false)?.into_iter().map(|(src, _, t)| SourceQuery { src, t }).collect())
}

type Row = (String, Option<String>, f64);

fn read_rows(path: &Path, dst: bool) -> Result<Vec<Row>, ServeError> {
    if is_parquet(path) { read_parquet(path, dst) } else { read_csv(path, dst) }
}

fn time_names(dst: bool) -> &'static [&'static str] {
    if dst { &TIME_NAMES } else { &SOURCE_TIME_NAMES }
}

fn read_csv(path: &Path, need_dst: bool) -> Result<Vec<Row>, ServeError> {
    let text = std::fs::read_to_string(path).map_err(|e| io(path, e))?;
    let first = text.lines().next().unwrap_or("");
    let delim = if first.contains('\t') { b'\t' } else { b',' };
    let mut rd = csv::ReaderBuilder::new().delimiter(delim).has_headers(true).from_reader(text.as_bytes());
    let header = rd.headers().map_err(|e| input(path, 1, "header", e.to_string()))?.clone();
    let col = |names: &[&str]| header.iter().position(|h| names.contains(&h.trim()));
    let (si, di, ti) = (col(&["src"]), col(&["dst"]), col(time_names(need_dst)));
    let (Some(si), Some(ti)) = (si, ti) else {
        let need = if need_dst { "src, dst, time" } else { "src, time" };
        return Err(input(path, 1, "header", format!("need columns {need}; found {:?}", header)));
    };
    if need_dst && di.is_none() {
        return Err(input(path, 1, "header", format!("need columns src, dst, time; found {:?}", header)));
    }
    let di = di.filter(|_| need_dst);
    let mut out = Vec::new();
    for (i, rec) in rd.records().enumerate() {
        let line = i + 2;
        let rec = rec.map_err(|e| input(path, line, "row", e.to_string()))?;
        let get = |c: usize, name: &str| {
            rec.get(c)
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .ok_or_else(|| input(path, line, name, "missing"))
        };
        let s = get(si, "src")?;
        let d = di.map(|c| get(c, "dst")).transpose()?;
        let t = get(ti, "time")?;
        let t: f64 = t.parse().map_err(|_| input(path, line, "time", format!("{t:?} is not a number")))?;
        if !t.is_finite() {
            return Err(input(path, line, "time", format!("{t} is not finite")));
        }
        out.push((s.to_string(), d.map(str::to_string), t));
    }
    Ok(out)
}

fn ids_of(path: &Path, col: &ArrayRef, name: &str, first_row: usize) -> Result<Vec<String>, ServeError> {
    let bad_null = |i: usize| input(path, first_row + i + 1, name, "null");
    let mut v = Vec::with_capacity(col.len());
    macro_rules! ints {
        ($t:ty) => {{
            let a = col.as_primitive::<$t>();
            for i in 0..a.len() {
                if a.is_null(i) {
                    return Err(bad_null(i));
                }
                v.push(a.value(i).to_string());
            }
        }};
    }
    macro_rules! strs {
        ($o:ty) => {{
            let a = col.as_string::<$o>();
            for i in 0..a.len() {
                if a.is_null(i) {
                    return Err(bad_null(i));
                }
                v.push(a.value(i).to_string());
            }
        }};
    }
    match col.data_type() {
        DataType::Int64 => ints!(Int64Type),
        DataType::Int32 => ints!(Int32Type),
        DataType::UInt64 => ints!(UInt64Type),
        DataType::UInt32 => ints!(UInt32Type),
        DataType::Utf8 => strs!(i32),
        DataType::LargeUtf8 => strs!(i64),
        other => {
            return Err(input(
                path,
                first_row + 1,
                name,
                format!("type {other} is not an id (integer or string)"),
            ));
        }
    }
    Ok(v)
}

fn times_of(path: &Path, col: &ArrayRef, first_row: usize) -> Result<Vec<f64>, ServeError> {
    let mut v = Vec::with_capacity(col.len());
    macro_rules! nums {
        ($t:ty) => {{
            let a = col.as_primitive::<$t>();
            for i in 0..a.len() {
                if a.is_null(i) {
                    return Err(input(path, first_row + i + 1, "time", "null"));
                }
                v.push(a.value(i) as f64);
            }
        }};
    }
    match col.data_type() {
        DataType::Float64 => nums!(Float64Type),
        DataType::Float32 => nums!(Float32Type),
        DataType::Int64 => nums!(Int64Type),
        DataType::Int32 => nums!(Int32Type),
        DataType::UInt64 => nums!(UInt64Type),
        DataType::UInt32 => nums!(UInt32Type),
        other => return Err(input(path, first_row + 1, "time", format!("type {other} is not a number"))),
    }
    if let Some(i) = v.iter().position(|t| !t.is_finite()) {
        return Err(input(path, first_row + i + 1, "time", format!("{} is not finite", v[i])));
    }
    Ok(v)
}

/// A corrupt file is an error, even where the parquet crate panics on it (see
/// `util::contain`).
fn read_parquet(path: &Path, dst: bool) -> Result<Vec<Row>, ServeError> {
    crate::util::contain::contain(|| read_parquet_inner(path, dst)).unwrap_or_else(|why| {
        Err(input(path, 0, "file", format!("the Parquet reader failed on corrupt data ({why})")))
    })
}

fn read_parquet_inner(path: &Path, need_dst: bool) -> Result<Vec<Row>, ServeError> {
    let f = File::open(path).map_err(|e| io(path, e))?;
    let len = f.metadata().map_err(|e| io(path, e))?.len();
    let b = ParquetRecordBatchReaderBuilder::try_new(f).map_err(|e| input(path, 0, "file", e.to_string()))?;
    crate::ingest::parquet::check_chunks(b.metadata(), len).map_err(|why| input(path, 0, "file", why))?;
    let schema = b.schema().clone();
    let find = |names: &[&str]| schema.fields().iter().position(|f| names.contains(&f.name().as_str()));
    let (si, di, ti) = (find(&["src"]), find(&["dst"]), find(time_names(need_dst)));
    let (Some(si), Some(ti)) = (si, ti) else {
        let need = if need_dst { "src, dst, time" } else { "src, time" };
        return Err(input(path, 0, "schema", format!("need columns {need}")));
    };
    if need_dst && di.is_none() {
        return Err(input(path, 0, "schema", "need columns src, dst, time"));
    }
    let di = di.filter(|_| need_dst);
    let reader = b.build().map_err(|e| input(path, 0, "file", e.to_string()))?;
    let mut out = Vec::new();
    for batch in reader {
        let batch = batch.map_err(|e| input(path, out.len() + 1, "row", e.to_string()))?;
        let first = out.len();
        let s = ids_of(path, batch.column(si), "src", first)?;
        let d = match di {
            Some(c) => ids_of(path, batch.column(c), "dst", first)?.into_iter().map(Some).collect(),
            None => vec![None; s.len()],
        };
        let t = times_of(path, batch.column(ti), first)?;
        out.extend(s.into_iter().zip(d).zip(t).map(|((src, dst), t)| (src, dst, t)));
    }
    Ok(out)
}

/// Write `src,dst,time,score,cold_src,cold_dst` rows, one per query, in order.
pub fn write_scores(path: &Path, queries: &[Query], scores: &[Scored]) -> Result<(), ServeError> {
    assert_eq!(queries.len(), scores.len(), "one score per query");
    if is_parquet(path) {
        let schema = Arc::new(Schema::new(vec![
            Field::new("src", DataType::Utf8, false),
            Field::new("dst", DataType::Utf8, false),
            Field::new("time", DataType::Float64, false),
            Field::new("score", DataType::Float64, false),
            Field::new("cold_src", DataType::Boolean, false),
            Field::new("cold_dst", DataType::Boolean, false),
        ]));
        let cols: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from_iter_values(queries.iter().map(|q| q.src.as_str()))),
            Arc::new(StringArray::from_iter_values(queries.iter().map(|q| q.dst.as_str()))),
            Arc::new(Float64Array::from_iter_values(queries.iter().map(|q| q.t))),
            Arc::new(Float64Array::from_iter_values(scores.iter().map(|s| s.score))),
            Arc::new(BooleanArray::from(scores.iter().map(|s| s.cold_src).collect::<Vec<_>>())),
            Arc::new(BooleanArray::from(scores.iter().map(|s| s.cold_dst).collect::<Vec<_>>())),
        ];
        return write_parquet(path, schema, cols);
    }
    let mut s = String::with_capacity(queries.len() * 40 + 64);
    s.push_str("src,dst,time,score,cold_src,cold_dst\n");
    for (q, r) in queries.iter().zip(scores) {
        use std::fmt::Write;
        let _ = writeln!(
            s,
            "{},{},{},{},{},{}",
            csv_field(&q.src),
            csv_field(&q.dst),
            q.t,
            r.score,
            r.cold_src,
            r.cold_dst
        );
    }
    crate::util::atomic::write_file(path, s.as_bytes()).map_err(|e| io(path, e))
}

/// Write `src,time,rank,dst,score,cold_src` rows: for each query in order, its
/// ranked destinations best first (rank 1-based; a query with no candidate has no
/// row).
pub fn write_recommendations(
    path: &Path,
    queries: &[SourceQuery],
    results: &[(Vec<Ranked>, bool)],
) -> Result<(), ServeError> {
    assert_eq!(queries.len(), results.len(), "one result per query");
    let rows = || {
        queries
            .iter()
            .zip(results)
            .flat_map(|(q, (r, cold))| r.iter().enumerate().map(move |(i, x)| (q, i + 1, x, *cold)))
    };
    if is_parquet(path) {
        let schema = Arc::new(Schema::new(vec![
            Field::new("src", DataType::Utf8, false),
            Field::new("time", DataType::Float64, false),
            Field::new("rank", DataType::UInt32, false),
            Field::new("dst", DataType::Utf8, false),
            Field::new("score", DataType::Float64, false),
            Field::new("cold_src", DataType::Boolean, false),
        ]));
        let cols: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from_iter_values(rows().map(|r| r.0.src.as_str()))),
            Arc::new(Float64Array::from_iter_values(rows().map(|r| r.0.t))),
            Arc::new(arrow_array::UInt32Array::from_iter_values(rows().map(|r| r.1 as u32))),
            Arc::new(StringArray::from_iter_values(rows().map(|r| r.2.dst.as_str()))),
            Arc::new(Float64Array::from_iter_values(rows().map(|r| r.2.score))),
            Arc::new(BooleanArray::from(rows().map(|r| r.3).collect::<Vec<_>>())),
        ];
        return write_parquet(path, schema, cols);
    }
    let mut s = String::from("src,time,rank,dst,score,cold_src\n");
    for (q, rank, r, cold) in rows() {
        use std::fmt::Write;
        let _ = writeln!(s, "{},{},{rank},{},{},{cold}", csv_field(&q.src), q.t, csv_field(&r.dst), r.score);
    }
    crate::util::atomic::write_file(path, s.as_bytes()).map_err(|e| io(path, e))
}

/// One record batch of `cols` as a Parquet file, written atomically.
fn write_parquet(path: &Path, schema: Arc<Schema>, cols: Vec<ArrayRef>) -> Result<(), ServeError> {
    let batch =
        RecordBatch::try_new(schema.clone(), cols).map_err(|e| input(path, 0, "output", e.to_string()))?;
    let mut buf = Vec::new();
    let mut w =
        ArrowWriter::try_new(&mut buf, schema, None).map_err(|e| input(path, 0, "output", e.to_string()))?;
    w.write(&batch).map_err(|e| input(path, 0, "output", e.to_string()))?;
    w.close().map_err(|e| input(path, 0, "output", e.to_string()))?;
    crate::util::atomic::write_file(path, &buf).map_err(|e| io(path, e))
}

fn csv_field(s: &str) -> std::borrow::Cow<'_, str> {
    if s.contains([',', '"', '\n']) { format!("\"{}\"", s.replace('"', "\"\"")).into() } else { s.into() }
}
