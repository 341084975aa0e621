//! Seeded synthetic temporal graphs for scale tests and benches.
//!
//! Model, per event (all draws from a seeded ChaCha8 stream, so the output is a
//! pure function of the [`GenSpec`]):
//! - endpoints: a popularity rank `r in [0, nodes)` drawn from Zipf(`nodes`, `zipf`)
//!   for the source and again for the destination, mapped to a node id by a
//!   seeded bijection of `[0, nodes)` (so popular nodes are scattered, not
//!   0, 1, 2...); a destination equal to its source is redrawn (no self-loops);
//! - time: integer, non-decreasing, starting at [`T0`]; the gap before each
//!   event is 0 with some probability (ties), else small; with `bursty`, gaps
//!   come from a burst/quiet mixture: mostly 0-3 with many ties, and about one
//!   event in 500 starts after a long heavy-tailed (Pareto) quiet period;
//! - features: `features` values per event, N(0, 1) rounded to 4 decimals (so
//!   the CSV text is short and parses back to exactly the same `f32`).
//!
//! Events are produced in chunks of [`CHUNK`] rows, each from its own ChaCha
//! stream (`set_stream(chunk index)`), so chunks are generated in parallel and
//! the bytes do not depend on the thread count. Times get their offsets in a
//! serial pass after each batch of chunks. Output streams to CSV (header
//! `src,dst,t[,f0..]`) or Parquet (row groups of 2^20 rows; `src`, `dst`, `t`
//! as Int64, features Float32); memory stays at a few batches of chunks.
//!
//! Node ids in the output are external ids in `[0, nodes)`; not every node need
//! appear. [`generate_log`] returns the same events as an in-memory [`EventLog`]
//! (node ids as generated, not remapped).

use std::io::{self, Write};
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use arrow_array::{ArrayRef, Float32Array, Int64Array, RecordBatch};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Exp, Pareto, StandardNormal, Zipf};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::store::{EventLog, ExternalIds, GraphData, IdMap};

/// Rows per generation chunk (one RNG stream each). Fixed: changing it changes
/// the output of every seed.
pub const CHUNK: usize = 1 << 18;
/// Chunks generated per parallel batch (does not affect the output).
const BATCH_CHUNKS: usize = 8;
/// Parquet rows per row group.
pub const PARQUET_ROW_GROUP: usize = 1 << 20;
/// Time of the first event (looks like Unix seconds in 2020).
pub const T0: i64 = 1_600_000_000;

#[derive(Debug, thiserror::Error)]
pub enum GenError {
    #[error("--nodes must be at least 2 (a graph without self-loops needs two nodes); got {0}")]
    TooFewNodes(u64),
    #[error("--zipf exponent must be finite and >= 0; got {0}")]
    BadZipf(f64),
    #[error("{events} events with feature dim {features} do not fit in memory as an EventLog")]
    TooLarge { events: u64, features: usize },
    #[error("writing the generated graph")]
    Io(#[from] io::Error),
    #[error("writing Parquet")]
    Parquet(#[from] parquet::errors::ParquetError),
    #[error("building an Arrow batch")]
    Arrow(#[from] arrow_schema::ArrowError),
}

/// What to generate. Same spec -> identical events and bytes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GenSpec {
    pub nodes: u32,
    pub events: u64,
    pub seed: u64,
    /// Zipf exponent of endpoint popularity (0 = uniform).
    pub zipf: f64,
    /// Edge feature columns.
    pub features: usize,
    pub bursty: bool,
}

impl Default for GenSpec {
    fn default() -> Self {
        Self { nodes: 1000, events: 10_000, seed: 0, zipf: 1.1, features: 0, bursty: false }
    }
}

impl GenSpec {
    pub fn validate(&self) -> Result<(), GenError> {
        if self.nodes < 2 {
            return Err(GenError::TooFewNodes(self.nodes.into()));
        }
        if !(self.zipf.is_finite() && self.zipf >= 0.0) {
            return Err(GenError::BadZipf(self.zipf));
        }
        Ok(())
    }

    fn num_chunks(&self) -> u64 {
        self.events.div_ceil(CHUNK as u64)
    }

    fn chunk_len(&self, c: u64) -> usize {
        (self.events - c * CHUNK as u64).min(CHUNK as u64) as usize
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum OutFormat {
    Csv,
    Parquet,
}

/// What a generation run wrote.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GenReport {
    pub events: u64,
    pub bytes: u64,
    pub seconds: f64,
}

/// A seeded bijection of `[0, n)`: a 4-round Feistel network on the smallest
/// even number of bits covering `n`, with cycle walking back into range (fewer
/// than 4 steps on average, since the domain is under 4n).
#[derive(Debug, Clone)]
struct Permutation {
    n: u64,
    half_bits: u32,
    keys: [u64; 4],
}

impl Permutation {
    fn new(n: u64, seed: u64) -> Self {
        let bits = (64 - (n.max(2) - 1).leading_zeros()).max(2);
        let half_bits = bits.div_ceil(2);
        let mut s = seed ^ 0x5eed_0f9e_2a11_ce00;
        let keys = [0; 4].map(|_| {
            s = splitmix64(s);
            s
        });
        Self { n, half_bits, keys }
    }

    fn round(&self, x: u64) -> u64 {
        let mask = (1u64 << self.half_bits) - 1;
        let (mut l, mut r) = (x >> self.half_bits, x & mask);
        for k in self.keys {
            let f = splitmix64(r ^ k) & mask;
            (l, r) = (r, l ^ f);
        }
        (l << self.half_bits) | r
    }

    fn apply(&self, x: u64) -> u64 {
        let mut y = self.round(x);
        while y >= self.n {
            y = self.round(y);
        }
        y
    }
}

fn splitmix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// One chunk of events: `t` holds gaps until [`Chunk::offset`] turns them into times.
#[derive(Debug, Default)]
struct Chunk {
    src: Vec<u32>,
    dst: Vec<u32>,
    t: Vec<i64>,
    /// `len x features`, quantised: value = k / 10^4.
    feats: Vec<i32>,
}

/// The per-spec samplers, shared (read-only) by every chunk.
struct Model {
    spec: GenSpec,
    perm: Permutation,
    zipf: Zipf<f64>,
    small_gap: Exp<f64>,
    quiet_gap: Pareto<f64>,
}

impl Model {
    fn new(spec: &GenSpec) -> Result<Self, GenError> {
        spec.validate()?;
        let n = f64::from(spec.nodes);
        Ok(Self {
            spec: spec.clone(),
            perm: Permutation::new(spec.nodes.into(), spec.seed),
            zipf: Zipf::new(n, spec.zipf).map_err(|_| GenError::BadZipf(spec.zipf))?,
            // Mean gap about 9 when not bursty, about 2.5 inside bursts.
            small_gap: Exp::new(if spec.bursty { 1.0 / 1.5 } else { 1.0 / 9.0 }).expect("positive rate"),
            // Heavy-tailed quiet periods: at least 1000, mean 3000.
            quiet_gap: Pareto::new(1000.0, 1.5).expect("positive parameters"),
        })
    }

    fn node(&self, rng: &mut ChaCha8Rng) -> u32 {
        // Zipf yields ranks in [1, n] as floats.
        let rank = (self.zipf.sample(rng) as u64).clamp(1, self.perm.n) - 1;
        self.perm.apply(rank) as u32
    }

    fn gap(&self, rng: &mut ChaCha8Rng) -> i64 {
        let u: f64 = rng.random();
        if self.spec.bursty {
            if u < 0.002 {
                self.quiet_gap.sample(rng) as i64
            } else if u < 0.302 {
                0
            } else {
                1 + self.small_gap.sample(rng) as i64
            }
        } else if u < 0.1 {
            0
        } else {
            1 + self.small_gap.sample(rng) as i64
        }
    }

    fn chunk(&self, c: u64) -> Chunk {
        let len = self.spec.chunk_len(c);
        let d = self.spec.features;
        let mut rng = ChaCha8Rng::seed_from_u64(self.spec.seed);
        rng.set_stream(c);
        let mut ch = Chunk {
            src: Vec::with_capacity(len),
            dst: Vec::with_capacity(len),
            t: Vec::with_capacity(len),
            feats: Vec::with_capacity(len * d),
        };
        for _ in 0..len {
            let s = self.node(&mut rng);
            let mut t = self.node(&mut rng);
            while t == s {
                t = self.node(&mut rng);
            }
            ch.src.push(s);
            ch.dst.push(t);
            ch.t.push(self.gap(&mut rng));
            for _ in 0..d {
                let x: f64 = rng.sample(StandardNormal);
                ch.feats.push((x * 1e4).round().clamp(-1e9, 1e9) as i32);
            }
        }
        ch
    }
}

impl Chunk {
    /// Turn gaps into times continuing from `*last` (the previous event's time).
    fn offset(&mut self, last: &mut Option<i64>) {
        for g in &mut self.t {
            // The very first event sits at T0; every later one at previous + gap.
            let t = last.map_or(T0, |p| p.saturating_add(*g));
            *g = t;
            *last = Some(t);
        }
    }
}

/// Generate all chunks in order, in parallel batches, handing each (with final
/// times) to `sink` in order.
fn for_each_chunk(
    spec: &GenSpec,
    mut sink: impl FnMut(Chunk) -> Result<(), GenError>,
) -> Result<(), GenError> {
    let model = Model::new(spec)?;
    let n = spec.num_chunks();
    let mut last = None;
    let mut c = 0;
    while c < n {
        let end = (c + BATCH_CHUNKS as u64).min(n);
        let chunks: Vec<Chunk> = (c..end).into_par_iter().map(|i| model.chunk(i)).collect();
        for mut ch in chunks {
            ch.offset(&mut last);
            sink(ch)?;
        }
        c = end;
    }
    Ok(())
}

/// All events in memory, identical to what the writers emit.
pub fn generate_log(spec: &GenSpec) -> Result<EventLog, GenError> {
    let too_large = GenError::TooLarge { events: spec.events, features: spec.features };
    let n = usize::try_from(spec.events).map_err(|_| too_large)?;
    let mut log = EventLog::with_feat_dim(spec.features);
    log.src.reserve(n);
    log.dst.reserve(n);
    log.t.reserve(n);
    log.feats.reserve(n.saturating_mul(spec.features));
    for_each_chunk(spec, |ch| {
        log.src.extend_from_slice(&ch.src);
        log.dst.extend_from_slice(&ch.dst);
        log.t.extend(ch.t.iter().map(|&t| t as f64));
        log.feats.extend(ch.feats.iter().map(|&k| k as f32 / 1e4));
        Ok(())
    })?;
    Ok(log)
}

/// [`generate_log`] wrapped as ingest would hand it to the store: external ids are
/// the generated ids `0..nodes` (identity map), both directions stored.
pub fn generate_graph(spec: &GenSpec) -> Result<GraphData, GenError> {
    let events = generate_log(spec)?;
    let ids = IdMap::new(ExternalIds::Int((0..i64::from(spec.nodes)).collect()), None);
    Ok(GraphData {
        events,
        ids,
        node_features: None,
        directed: false,
        provenance: serde_json::json!({ "generator": spec }),
    })
}

/// Append `v` in decimal (faster than `write!` on the hot path).
fn push_int(out: &mut Vec<u8>, v: i64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    let mut u = v.unsigned_abs();
    loop {
        i -= 1;
        buf[i] = b'0' + (u % 10) as u8;
        u /= 10;
        if u == 0 {
            break;
        }
    }
    if v < 0 {
        out.push(b'-');
    }
    out.extend_from_slice(&buf[i..]);
}

/// Append `k / 10^4` as a short decimal ("-0.0123", "1.5", "0").
fn push_fixed4(out: &mut Vec<u8>, k: i32) {
    if k < 0 {
        out.push(b'-');
    }
    let u = k.unsigned_abs();
    push_int(out, i64::from(u / 10_000));
    let mut frac = u % 10_000;
    if frac != 0 {
        out.push(b'.');
        let mut digits = 4;
        while frac.is_multiple_of(10) {
            frac /= 10;
            digits -= 1;
        }
        let s = frac.to_string();
        out.extend(std::iter::repeat_n(b'0', digits - s.len()));
        out.extend_from_slice(s.as_bytes());
    }
}

fn csv_header(d: usize) -> String {
    let mut h = String::from("src,dst,t");
    for j in 0..d {
        h.push_str(&format!(",f{j}"));
    }
    h.push('\n');
    h
}

fn format_csv(ch: &Chunk, d: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(ch.t.len() * (26 + 8 * d));
    for i in 0..ch.t.len() {
        push_int(&mut out, ch.src[i].into());
        out.push(b',');
        push_int(&mut out, ch.dst[i].into());
        out.push(b',');
        push_int(&mut out, ch.t[i]);
        for &k in &ch.feats[i * d..(i + 1) * d] {
            out.push(b',');
            push_fixed4(&mut out, k);
        }
        out.push(b'\n');
    }
    out
}

/// Counts bytes passed through to the inner writer.
struct Counting<W> {
    inner: W,
    bytes: u64,
}

impl<W: Write> Write for Counting<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.bytes += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Stream CSV to `w` (buffer it yourself if it is unbuffered). Formatting runs in
/// parallel per chunk; writes are in order.
pub fn write_csv<W: Write>(spec: &GenSpec, w: W) -> Result<GenReport, GenError> {
    let start = Instant::now();
    let mut w = Counting { inner: w, bytes: 0 };
    w.write_all(csv_header(spec.features).as_bytes())?;
    let d = spec.features;
    let mut pending: Vec<Chunk> = Vec::with_capacity(BATCH_CHUNKS);
    let flush = |pending: &mut Vec<Chunk>, w: &mut Counting<W>| -> Result<(), GenError> {
        let texts: Vec<Vec<u8>> = pending.par_iter().map(|ch| format_csv(ch, d)).collect();
        pending.clear();
        for t in texts {
            w.write_all(&t)?;
        }
        Ok(())
    };
    for_each_chunk(spec, |ch| {
        pending.push(ch);
        if pending.len() == BATCH_CHUNKS { flush(&mut pending, &mut w) } else { Ok(()) }
    })?;
    flush(&mut pending, &mut w)?;
    w.flush()?;
    Ok(GenReport { events: spec.events, bytes: w.bytes, seconds: start.elapsed().as_secs_f64() })
}

fn parquet_schema(d: usize) -> SchemaRef {
    let mut fields = vec![
        Field::new("src", DataType::Int64, false),
        Field::new("dst", DataType::Int64, false),
        Field::new("t", DataType::Int64, false),
    ];
    fields.extend((0..d).map(|j| Field::new(format!("f{j}"), DataType::Float32, false)));
    Arc::new(Schema::new(fields))
}

/// Stream Parquet to `w`: snappy-compressed row groups of [`PARQUET_ROW_GROUP`] rows.
pub fn write_parquet<W: Write + Send>(spec: &GenSpec, w: W) -> Result<GenReport, GenError> {
    let start = Instant::now();
    let d = spec.features;
    let schema = parquet_schema(d);
    let props = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .set_max_row_group_row_count(Some(PARQUET_ROW_GROUP))
        // Fixed, so the bytes do not change with the parquet crate's version string.
        .set_created_by(format!("linkcast {} generate", env!("CARGO_PKG_VERSION")))
        .build();
    let mut writer = ArrowWriter::try_new(Counting { inner: w, bytes: 0 }, schema.clone(), Some(props))?;
    for_each_chunk(spec, |ch| {
        let mut cols: Vec<ArrayRef> = vec![
            Arc::new(Int64Array::from_iter_values(ch.src.iter().map(|&x| i64::from(x)))),
            Arc::new(Int64Array::from_iter_values(ch.dst.iter().map(|&x| i64::from(x)))),
            Arc::new(Int64Array::from(ch.t)),
        ];
        for j in 0..d {
            let col = (0..ch.src.len()).map(|i| ch.feats[i * d + j] as f32 / 1e4);
            cols.push(Arc::new(Float32Array::from_iter_values(col)));
        }
        writer.write(&RecordBatch::try_new(schema.clone(), cols)?)?;
        Ok(())
    })?;
    let mut inner = writer.into_inner()?;
    inner.flush()?;
    Ok(GenReport { events: spec.events, bytes: inner.bytes, seconds: start.elapsed().as_secs_f64() })
}

/// Stream to `w` in the given format.
pub fn write_to<W: Write + Send>(spec: &GenSpec, format: OutFormat, w: W) -> Result<GenReport, GenError> {
    match format {
        OutFormat::Csv => write_csv(spec, w),
        OutFormat::Parquet => write_parquet(spec, w),
    }
}

/// Write to a file atomically: a temporary file in the same directory, renamed
/// into place only when complete (an existing file is replaced).
pub fn write_to_path(spec: &GenSpec, format: OutFormat, path: &Path) -> Result<GenReport, GenError> {
    spec.validate()?;
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let tmp = tempfile::Builder::new().prefix(".linkcast-generate-").tempfile_in(dir)?;
    let report = write_to(spec, format, io::BufWriter::with_capacity(1 << 20, tmp.as_file()))?;
    tmp.as_file().sync_all()?;
    // Temporary files are created 0600; a generated data file is meant to be shared.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        tmp.as_file().set_permissions(std::fs::Permissions::from_mode(0o644))?;
    }
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(events: u64) -> GenSpec {
        GenSpec { nodes: 500, events, seed: 7, zipf: 1.1, features: 2, bursty: true }
    }

    #[test]
    fn permutation_is_a_bijection() {
        for n in [2u64, 3, 5, 16, 17, 1000, 4097] {
            let p = Permutation::new(n, 42);
            let mut seen = vec![false; n as usize];
            for x in 0..n {
                let y = p.apply(x);
                assert!(y < n && !seen[y as usize], "n={n} x={x} y={y}");
                seen[y as usize] = true;
            }
        }
        // Not the identity: popular ranks are scattered.
        let p = Permutation::new(1000, 42);
        assert!((0..10).filter(|&x| p.apply(x) == x).count() < 3);
    }

    #[test]
    fn log_is_valid_and_deterministic() {
        let s = spec(CHUNK as u64 + 1000); // crosses a chunk boundary
        let log = generate_log(&s).unwrap();
        assert_eq!(log.len(), s.events as usize);
        assert_eq!(log.feats.len(), log.len() * 2);
        assert!(log.is_time_sorted());
        assert_eq!(log.t[0], T0 as f64);
        assert!(log.src.iter().zip(&log.dst).all(|(a, b)| a != b), "self-loop");
        assert!(log.max_node_plus_one() <= s.nodes);
        // Ties exist, and bursty quiet periods (gap >= 1000) too.
        let gaps: Vec<f64> = log.t.windows(2).map(|w| w[1] - w[0]).collect();
        assert!(gaps.iter().filter(|&&g| g == 0.0).count() > log.len() / 10);
        assert!(gaps.iter().any(|&g| g >= 1000.0));
        assert_eq!(generate_log(&s).unwrap(), log);
        let other = generate_log(&GenSpec { seed: 8, ..s }).unwrap();
        assert_ne!(other.src, log.src);
    }

    #[test]
    fn popularity_is_skewed() {
        let s = GenSpec { nodes: 1000, events: 20_000, features: 0, bursty: false, ..spec(0) };
        let log = generate_log(&s).unwrap();
        let mut deg = vec![0u32; 1000];
        for (&a, &b) in log.src.iter().zip(&log.dst) {
            deg[a as usize] += 1;
            deg[b as usize] += 1;
        }
        deg.sort_unstable_by(|a, b| b.cmp(a));
        // Top 1% of nodes carry far more than 1% of the endpoints.
        let top: u32 = deg[..10].iter().sum();
        assert!(top as f64 > 0.2 * 40_000.0, "top-10 degree sum {top}");
        // Uniform popularity (zipf 0) is not skewed.
        let log = generate_log(&GenSpec { zipf: 0.0, ..s }).unwrap();
        let mut deg = vec![0u32; 1000];
        for &a in log.src.iter().chain(&log.dst) {
            deg[a as usize] += 1;
        }
        assert!(*deg.iter().max().unwrap() < 100);
    }

    #[test]
    fn csv_matches_log() {
        let s = spec(3000);
        let mut buf = Vec::new();
        let rep = write_csv(&s, &mut buf).unwrap();
        assert_eq!(rep.bytes, buf.len() as u64);
        let text = String::from_utf8(buf).unwrap();
        let mut lines = text.lines();
        assert_eq!(lines.next(), Some("src,dst,t,f0,f1"));
        let log = generate_log(&s).unwrap();
        let mut n = 0;
        for (i, line) in lines.enumerate() {
            let f: Vec<&str> = line.split(',').collect();
            assert_eq!(f.len(), 5);
            assert_eq!(f[0].parse::<u32>().unwrap(), log.src[i]);
            assert_eq!(f[1].parse::<u32>().unwrap(), log.dst[i]);
            assert_eq!(f[2].parse::<f64>().unwrap(), log.t[i]);
            assert_eq!(f[3].parse::<f32>().unwrap(), log.feats[2 * i]);
            assert_eq!(f[4].parse::<f32>().unwrap(), log.feats[2 * i + 1]);
            n += 1;
        }
        assert_eq!(n, 3000);
    }

    #[test]
    fn fixed4_formatting() {
        let f = |k| {
            let mut v = Vec::new();
            push_fixed4(&mut v, k);
            String::from_utf8(v).unwrap()
        };
        assert_eq!(f(0), "0");
        assert_eq!(f(15_000), "1.5");
        assert_eq!(f(-123), "-0.0123");
        assert_eq!(f(10_001), "1.0001");
        assert_eq!(f(-20_000), "-2");
        let mut v = Vec::new();
        push_int(&mut v, i64::MIN);
        assert_eq!(String::from_utf8(v).unwrap(), i64::MIN.to_string());
    }

    #[test]
    fn parquet_is_deterministic_and_matches_log() {
        use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
        let s = spec(2000);
        let dir = tempfile::tempdir().unwrap();
        let (pa, pb) = (dir.path().join("a.parquet"), dir.path().join("b.parquet"));
        write_to_path(&s, OutFormat::Parquet, &pa).unwrap();
        write_to_path(&s, OutFormat::Parquet, &pb).unwrap();
        assert_eq!(std::fs::read(&pa).unwrap(), std::fs::read(&pb).unwrap());
        let file = std::fs::File::open(&pa).unwrap();
        let reader = ParquetRecordBatchReaderBuilder::try_new(file).unwrap().build().unwrap();
        let log = generate_log(&s).unwrap();
        let mut row = 0;
        for batch in reader {
            let batch = batch.unwrap();
            let src = batch.column(0).as_any().downcast_ref::<Int64Array>().unwrap();
            let t = batch.column(2).as_any().downcast_ref::<Int64Array>().unwrap();
            let f1 = batch.column(4).as_any().downcast_ref::<Float32Array>().unwrap();
            for i in 0..batch.num_rows() {
                assert_eq!(src.value(i), i64::from(log.src[row]));
                assert_eq!(t.value(i) as f64, log.t[row]);
                assert_eq!(f1.value(i), log.feats[2 * row + 1]);
                row += 1;
            }
        }
        assert_eq!(row, 2000);
    }

    #[test]
    fn bad_specs_are_errors() {
        assert!(matches!(generate_log(&GenSpec { nodes: 1, ..spec(10) }), Err(GenError::TooFewNodes(1))));
        assert!(matches!(generate_log(&GenSpec { zipf: -1.0, ..spec(10) }), Err(GenError::BadZipf(_))));
        assert!(matches!(generate_log(&GenSpec { zipf: f64::NAN, ..spec(10) }), Err(GenError::BadZipf(_))));
        // Two nodes still work (every event is 0->1 or 1->0).
        let log = generate_log(&GenSpec { nodes: 2, ..spec(100) }).unwrap();
        assert!(log.src.iter().zip(&log.dst).all(|(a, b)| a + b == 1));
        assert_eq!(generate_log(&spec(0)).unwrap().len(), 0);
    }
}
