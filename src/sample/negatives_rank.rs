//! One-vs-many negative sets for the ranking protocol (MRR, Hits@k; TGB style).
//!
//! For each positive event `e = (src, dst, t)` of an event range (a split), `K`
//! negative destinations (default 100): `round(K * hist_fraction)` historical
//! (destinations `src` reached in an event strictly before time `t`, i.e. with id
//! below the first event of `t`'s tie group), the rest uniform over the
//! destination range ([`DstRange`]). Never a true destination of `src` at `t`
//! (any event `(src, d, t)` of the tie group, the positive included), and no
//! duplicates within one query while the pool allows; when fewer than `K`
//! destinations are allowed, the allowed ones repeat, and when none is allowed the
//! row is [`NO_NEGATIVE`]. "True destination" follows the event's direction only.
//!
//! Generated once with a seed (draws keyed by `(seed, event id, draw index)`, so
//! the set is independent of thread count), saved to a file, and loaded back by
//! every model, so all models rank against identical negatives.
//!
//! File layout, all little-endian: an 88-byte header, then `num_queries * K`
//! `u32` negatives, query-major (query `q` is event `range.start + q`).
//! ```text
//! off  size  field
//!   0     8  magic  b"LCNEGSET"
//!   8     4  version (1)
//!  12     4  K (negatives per query)
//!  16     4  n_hist (historical negatives per query, before any fallback)
//!  20     4  style ([`NegSetStyle`]; 0 = this module's, as in files written before it existed)
//!  24     8  range start (event id of query 0)
//!  32     8  range end (exclusive)
//!  40     8  num_events of the graph the set was made for
//!  48     8  split hash: XXH3-64 of (src u32, dst u32, t f64) of the range's events
//!  56     8  seed
//!  64     8  XXH3-64 of the payload bytes
//!  72     8  payload length in bytes (= (end - start) * K * 4)
//!  80     8  XXH3-64 of header bytes 0..80
//! ```
//! Loading checks the magic, version, both checksums and the exact length;
//! [`NegativeSet::check_store`] refuses a graph with another event count or
//! another split hash.
//!
//! TGB's sampler, every destination, and sets imported from TGB's pickles (via
//! `scripts/tgb_negatives.py`) write the same file: see [`super::tgb`]. Their rows
//! may be shorter than K (TGB never repeats a negative); the rest of such a row is
//! [`NO_NEGATIVE`], which the rank protocol skips.

use std::io::Write;
use std::ops::Range;
use std::path::Path;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use xxhash_rust::xxh3::{Xxh3Default, xxh3_64};

use super::{Draws, DstRange, NegError, PairHistory, check_range, pair_key};
use crate::store::{EventId, NodeId, TemporalStore};

/// Row filler when no destination is allowed for a query (every node of the
/// destination range is a true destination of that source at that time).
pub const NO_NEGATIVE: NodeId = NodeId::MAX;

const MAGIC: &[u8; 8] = b"LCNEGSET";
const VERSION: u32 = 1;
const HEADER_LEN: usize = 88;
const TAG_RANK: u64 = 0x7261_6e6b_5f6e_6567; // "rank_neg"

/// Options of a one-vs-many negative set.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RankConfig {
    /// Negatives per query.
    pub k: u32,
    /// Share of historical negatives (the rest random); 0.5 by default.
    pub hist_fraction: f64,
    pub seed: u64,
}

impl Default for RankConfig {
    fn default() -> Self {
        RankConfig { k: 100, hist_fraction: 0.5, seed: 0 }
    }
}

impl RankConfig {
    pub fn validate(&self) -> Result<(), NegError> {
        if self.k == 0 {
            return Err(NegError::InvalidOption("K (negatives per query) must be at least 1".into()));
        }
        if !(0.0..=1.0).contains(&self.hist_fraction) {
            return Err(NegError::InvalidOption(format!(
                "hist_fraction must be in [0, 1], got {}",
                self.hist_fraction
            )));
        }
        Ok(())
    }

    fn n_hist(&self) -> u32 {
        ((f64::from(self.k) * self.hist_fraction).round() as u32).min(self.k)
    }
}

/// How a negative set was drawn (the header's style field).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum NegSetStyle {
    /// [`NegativeSet::generate`]: `n_hist` historical (any earlier event), the rest uniform.
    Linkcast,
    /// TGB's `hist_rnd` ([`super::tgb`]): up to `n_hist` from the training period, the rest
    /// uniform over destinations the source never reached in training.
    Tgb,
    /// Every destination except the true ones.
    All,
    /// Rows read from a file (a TGB pickle converted by `scripts/tgb_negatives.py`).
    TgbImport,
}

impl NegSetStyle {
    fn code(self) -> u32 {
        match self {
            NegSetStyle::Linkcast => 0,
            NegSetStyle::Tgb => 1,
            NegSetStyle::All => 2,
            NegSetStyle::TgbImport => 3,
        }
    }

    fn from_code(c: u32) -> Option<Self> {
        [NegSetStyle::Linkcast, NegSetStyle::Tgb, NegSetStyle::All, NegSetStyle::TgbImport]
            .into_iter()
            .find(|s| s.code() == c)
    }
}

/// What a negative set was made from; stored in the file header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NegSetHeader {
    pub k: u32,
    pub n_hist: u32,
    pub style: NegSetStyle,
    /// Event ids of the queries.
    pub range: Range<u64>,
    pub num_events: u64,
    pub split_hash: u64,
    pub seed: u64,
}

/// `K` negatives per query; `negs[q * K..(q + 1) * K]` belong to event `range.start + q`.
#[derive(Debug, Clone, PartialEq)]
pub struct NegativeSet {
    pub header: NegSetHeader,
    pub negs: Vec<NodeId>,
}

/// XXH3-64 of the range's events as (src u32, dst u32, t f64) little-endian rows:
/// identifies the graph and split a negative set belongs to.
pub fn split_hash<S: TemporalStore + ?Sized>(store: &S, range: Range<usize>) -> Result<u64, NegError> {
    check_range(&range, store.num_events())?;
    let mut h = Xxh3Default::new();
    let mut row = [0u8; 16];
    for e in range {
        let (s, d, t) = store.event(e as EventId);
        row[..4].copy_from_slice(&s.to_le_bytes());
        row[4..8].copy_from_slice(&d.to_le_bytes());
        row[8..].copy_from_slice(&t.to_le_bytes());
        h.update(&row);
    }
    Ok(h.digest())
}

/// Per query, what the generator needs: source, the first event of its tie group
/// (historical pairs must be first seen before it) and its true destinations.
pub(super) struct Query {
    pub(super) src: NodeId,
    pub(super) group_start: EventId,
    /// Index range into the sorted (src, dst) keys of the group.
    pub(super) trues: Range<usize>,
}

/// The queries of `range` and the sorted (src, dst) keys their `trues` index: the
/// tie groups touching the range (extended beyond it when ties continue), each
/// group's keys sorted so a source's true destinations are one contiguous run.
pub(super) fn queries_of<S: TemporalStore + ?Sized>(
    store: &S,
    range: Range<usize>,
) -> (Vec<u64>, Vec<Query>) {
    let n_events = store.num_events();
    let mut keys: Vec<u64> = Vec::new();
    let mut queries: Vec<Query> = Vec::with_capacity(range.len());
    let mut g0 = range.start;
    while g0 < range.end {
        let t0 = store.event(g0 as EventId).2;
        let mut lo = g0;
        while lo > 0 && store.event(lo as EventId - 1).2 == t0 {
            lo -= 1;
        }
        let mut hi = g0 + 1;
        while hi < n_events && store.event(hi as EventId).2 == t0 {
            hi += 1;
        }
        let base = keys.len();
        keys.extend((lo..hi).map(|e| {
            let (s, d, _) = store.event(e as EventId);
            pair_key(s, d)
        }));
        keys[base..].sort_unstable();
        for e in g0..hi.min(range.end) {
            let s = store.event(e as EventId).0;
            let a = base + keys[base..].partition_point(|&k| k < pair_key(s, 0));
            let b = base + keys[base..].partition_point(|&k| (k >> 32) <= u64::from(s));
            queries.push(Query { src: s, group_start: lo as EventId, trues: a..b });
        }
        g0 = hi;
    }
    (keys, queries)
}

impl NegativeSet {
    /// Generate the set for the events `range` of `store` (e.g. a test split).
    pub fn generate<S: TemporalStore + ?Sized>(
        store: &S,
        range: Range<usize>,
        dst: DstRange,
        cfg: &RankConfig,
    ) -> Result<NegativeSet, NegError> {
        cfg.validate()?;
        let n_events = store.num_events();
        check_range(&range, n_events)?;
        dst.check(store.num_nodes())?;
        // History of every pair first seen before the range's last event; each
        // query reads the prefix first seen before its own tie group.
        let mut hist = PairHistory::new();
        hist.advance(store, range.end)?;
        let (keys, queries) = queries_of(store, range.clone());
        let k = cfg.k as usize;
        let n_hist = cfg.n_hist() as usize;
        let mut negs = vec![0 as NodeId; range.len() * k];
        negs.par_chunks_mut(k).zip(queries.par_iter()).enumerate().for_each(|(q, (row, query))| {
            let eid = (range.start + q) as u64;
            let mut rng = Draws::new(cfg.seed, TAG_RANK, 0, eid);
            // Destinations of the group's events with this source, sorted.
            let trues = &keys[query.trues.clone()];
            let is_true = |d: NodeId| trues.binary_search(&pair_key(query.src, d)).is_ok();
            let cands = hist.first_seen_in(query.src, 0, query.group_start);
            fill_query(row, cands, n_hist, dst, &mut rng, &is_true);
        });
        let header = NegSetHeader {
            k: cfg.k,
            n_hist: n_hist as u32,
            style: NegSetStyle::Linkcast,
            range: range.start as u64..range.end as u64,
            num_events: n_events as u64,
            split_hash: split_hash(store, range)?,
            seed: cfg.seed,
        };
        Ok(NegativeSet { header, negs })
    }

    /// How the set was drawn, for reports: `linkcast(hist=50)`, `tgb(hist<=50)`, `all`, `tgb-import`.
    pub fn style_label(&self) -> String {
        let h = &self.header;
        match h.style {
            NegSetStyle::Linkcast => format!("linkcast(hist={})", h.n_hist),
            NegSetStyle::Tgb => format!("tgb(hist<={})", h.n_hist),
            NegSetStyle::All => "all".into(),
            NegSetStyle::TgbImport => "tgb-import".into(),
        }
    }

    /// Number of queries (events in the range).
    pub fn num_queries(&self) -> usize {
        (self.header.range.end - self.header.range.start) as usize
    }

    /// The `K` negatives of event `eid`; `None` outside the range.
    pub fn query(&self, eid: usize) -> Option<&[NodeId]> {
        let r = &self.header.range;
        if (eid as u64) < r.start || (eid as u64) >= r.end {
            return None;
        }
        let k = self.header.k as usize;
        let q = eid - r.start as usize;
        self.negs.get(q * k..(q + 1) * k)
    }

    /// Refuse a store this set was not made for (other event count or other
    /// events in the range).
    pub fn check_store<S: TemporalStore + ?Sized>(&self, store: &S) -> Result<(), NegError> {
        let n = store.num_events() as u64;
        if n != self.header.num_events {
            return Err(NegError::Mismatch {
                what: "event count",
                expected: self.header.num_events,
                found: n,
            });
        }
        let r = self.header.range.start as usize..self.header.range.end as usize;
        let h = split_hash(store, r)?;
        if h != self.header.split_hash {
            return Err(NegError::Mismatch {
                what: "split hash",
                expected: self.header.split_hash,
                found: h,
            });
        }
        Ok(())
    }

    /// The file's bytes (layout in the module docs).
    pub fn to_bytes(&self) -> Vec<u8> {
        let h = &self.header;
        let mut out = Vec::with_capacity(HEADER_LEN + self.negs.len() * 4);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&VERSION.to_le_bytes());
        out.extend_from_slice(&h.k.to_le_bytes());
        out.extend_from_slice(&h.n_hist.to_le_bytes());
        out.extend_from_slice(&h.style.code().to_le_bytes());
        for v in [h.range.start, h.range.end, h.num_events, h.split_hash, h.seed] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        let mut payload = Vec::with_capacity(self.negs.len() * 4);
        for d in &self.negs {
            payload.extend_from_slice(&d.to_le_bytes());
        }
        out.extend_from_slice(&xxh3_64(&payload).to_le_bytes());
        out.extend_from_slice(&(payload.len() as u64).to_le_bytes());
        let hh = xxh3_64(&out);
        out.extend_from_slice(&hh.to_le_bytes());
        debug_assert_eq!(out.len(), HEADER_LEN);
        out.extend_from_slice(&payload);
        out
    }

    /// Parse and validate file bytes; `path` only labels errors.
    pub fn from_bytes(bytes: &[u8], path: &Path) -> Result<NegativeSet, NegError> {
        let bad = |why: String| NegError::Format { path: path.to_path_buf(), why };
        if bytes.len() < HEADER_LEN {
            return Err(bad(format!("{} bytes, shorter than the {HEADER_LEN}-byte header", bytes.len())));
        }
        if &bytes[..8] != MAGIC {
            return Err(bad("bad magic".into()));
        }
        let u32_at = |o: usize| u32::from_le_bytes(bytes[o..o + 4].try_into().expect("4 bytes"));
        let u64_at = |o: usize| u64::from_le_bytes(bytes[o..o + 8].try_into().expect("8 bytes"));
        if u64_at(80) != xxh3_64(&bytes[..80]) {
            return Err(bad("header checksum mismatch".into()));
        }
        let version = u32_at(8);
        if version != VERSION {
            return Err(bad(format!("version {version}, this build reads {VERSION}")));
        }
        let style = NegSetStyle::from_code(u32_at(20))
            .ok_or_else(|| bad(format!("unknown style code {} (this build reads 0 to 3)", u32_at(20))))?;
        let header = NegSetHeader {
            k: u32_at(12),
            n_hist: u32_at(16),
            style,
            range: u64_at(24)..u64_at(32),
            num_events: u64_at(40),
            split_hash: u64_at(48),
            seed: u64_at(56),
        };
        if header.k == 0 || header.n_hist > header.k || header.range.start > header.range.end {
            return Err(bad(format!("inconsistent header {header:?}")));
        }
        let expected = (header.range.end - header.range.start)
            .checked_mul(u64::from(header.k))
            .and_then(|x| x.checked_mul(4))
            .ok_or_else(|| bad("payload length overflows".into()))?;
        let payload = &bytes[HEADER_LEN..];
        if u64_at(72) != expected || payload.len() as u64 != expected {
            return Err(bad(format!(
                "payload is {} bytes, the header expects {expected} (truncated or padded)",
                payload.len()
            )));
        }
        if u64_at(64) != xxh3_64(payload) {
            return Err(bad("payload checksum mismatch".into()));
        }
        let negs =
            payload.chunks_exact(4).map(|c| u32::from_le_bytes(c.try_into().expect("4 bytes"))).collect();
        Ok(NegativeSet { header, negs })
    }

    /// Write to `path` atomically (a temporary file in the same folder, renamed).
    pub fn save(&self, path: &Path) -> Result<(), NegError> {
        let io = |source| NegError::Io { path: path.to_path_buf(), source };
        let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(io)?;
        tmp.write_all(&self.to_bytes()).map_err(io)?;
        tmp.as_file().sync_all().map_err(io)?;
        tmp.persist(path).map_err(|e| io(e.error))?;
        Ok(())
    }

    /// Read and validate a file (not yet against a graph: see [`NegativeSet::load_for`]).
    pub fn load(path: &Path) -> Result<NegativeSet, NegError> {
        let bytes =
            std::fs::read(path).map_err(|source| NegError::Io { path: path.to_path_buf(), source })?;
        Self::from_bytes(&bytes, path)
    }

    /// Read a file and check that it belongs to `store`.
    pub fn load_for<S: TemporalStore + ?Sized>(path: &Path, store: &S) -> Result<NegativeSet, NegError> {
        let set = Self::load(path)?;
        set.check_store(store)?;
        Ok(set)
    }
}

/// Fill one query's row: up to `n_hist` distinct historical candidates, then
/// distinct random ones; none true, none repeated while the pool allows.
fn fill_query(
    row: &mut [NodeId],
    cands: &[(NodeId, EventId)],
    n_hist: usize,
    dst: DstRange,
    rng: &mut Draws,
    is_true: &dyn Fn(NodeId) -> bool,
) {
    let k = row.len();
    let mut n = 0usize;
    // `row[..n]` is the chosen set; K is small (100), so a linear scan beats a hash set.
    let ok = |row: &[NodeId], n: usize, d: NodeId| dst.contains(d) && !is_true(d) && !row[..n].contains(&d);
    // Historical: rejection, then a cyclic scan from a random start.
    if !cands.is_empty() && n_hist > 0 {
        let m = cands.len();
        let mut tries = 0;
        while n < n_hist && tries < 4 * n_hist + 16 {
            tries += 1;
            let d = cands[rng.below(m as u64) as usize].0;
            if ok(row, n, d) {
                row[n] = d;
                n += 1;
            }
        }
        let start = rng.below(m as u64) as usize;
        for i in 0..m {
            if n >= n_hist {
                break;
            }
            let d = cands[(start + i) % m].0;
            if ok(row, n, d) {
                row[n] = d;
                n += 1;
            }
        }
    }
    // Random: rejection while the pool is comfortably larger than what is left,
    // then a cyclic scan of the destination range, which finds every allowed node.
    let len = u64::from(dst.len());
    let mut tries = 0;
    while n < k && tries < 4 * k + 16 {
        tries += 1;
        let d = dst.draw(rng);
        if ok(row, n, d) {
            row[n] = d;
            n += 1;
        }
    }
    if n < k {
        let start = rng.below(len);
        for i in 0..len {
            if n >= k {
                break;
            }
            let d = dst.lo + ((start + i) % len) as NodeId;
            if ok(row, n, d) {
                row[n] = d;
                n += 1;
            }
        }
    }
    // Fewer allowed destinations than K: repeat them; none at all: the filler.
    if n == 0 {
        row.fill(NO_NEGATIVE);
    } else {
        for i in n..k {
            row[i] = row[i % n];
        }
    }
}
