//! One-vs-many negative sets drawn as TGB draws them, every destination, and sets
//! imported from rows written by TGB's own sampler. All three produce a
//! [`NegativeSet`] (same file, same checks against the graph and split), with the
//! header's style telling them apart ([`NegSetStyle`]).
//!
//! **TGB's `hist_rnd`** (py-tgb 2.3.0, `tgb/linkproppred/negative_generator.py`),
//! [`NegativeSet::generate_tgb`]: for each positive `(s, d, t)` of the evaluated part,
//! - historical: `min(floor(K * hist_fraction), n)` distinct destinations drawn
//!   without replacement from the `n` destinations `s` reached in the **training**
//!   period (events `0..train_end`, for the validation and the test part alike),
//!   leaving out the true destinations of `s` at `t`;
//! - random: the remaining `K - historical` drawn without replacement, uniformly
//!   from the destination range minus the true destinations of `s` at `t` and
//!   minus *every* destination `s` reached in training (TGB leaves them all out,
//!   not only those drawn as historical);
//! - when fewer candidates exist than asked, all of them: TGB returns a shorter
//!   list and never repeats a negative, so the row ends with [`NO_NEGATIVE`].
//!
//! "True destinations of `s` at `t`" are the destinations of every event with
//! source `s` and time `t` (a split never cuts a tie group, so they are all in the
//! evaluated part, as in TGB, which looks them up within the split). The draws come
//! from linkcast's counter-based generator keyed by `(seed, event id)`, so the set
//! has TGB's distribution, not the numbers TGB's numpy generator would draw; to rank
//! against a set TGB itself drew, `scripts/tgb_negatives.py` runs TGB's sampler and
//! imports its rows ([`NegativeSet::import_rows`]).
//!
//! **All destinations** ([`NegativeSet::generate_all`]): each row lists every
//! destination except the true ones, ascending; `K` = destinations - 1.
//!
//! **Import** ([`parse_rows`], [`NegativeSet::import_rows`]): a text file, one line
//! per positive, `SRC DST T NEG...` in the graph's dense ids and time (`#` starts a
//! comment). Each event of the part must find its line by `(src, dst, t)` (equal
//! events share one line, as TGB's dictionary keyed by `(src, dst, t)` does); every
//! line must be used; negatives must lie in the destination range, never be a true
//! destination of that source at that time, and not repeat within a line.

use std::collections::{HashMap, HashSet};
use std::ops::Range;
use std::path::Path;

use foldhash::fast::FixedState;
use rayon::prelude::*;

use super::rank::{NegSetHeader, NegSetStyle, queries_of};
use super::{
    Draws, DstRange, NO_NEGATIVE, NegError, NegativeSet, PairHistory, RankConfig, check_range, pair_key,
};
use crate::store::{EventId, NodeId, TemporalStore};

const TAG_TGB: u64 = 0x7467_625f_6e65_6773; // "tgb_negs"
/// Above this many draws per row, chosen negatives are tracked in a hash set
/// rather than by scanning the row.
const SCAN_MAX: usize = 128;

impl NegativeSet {
    /// TGB's `hist_rnd` set for the events `range` (module docs), with the training
    /// period `0..train_end` as its history.
    pub fn generate_tgb<S: TemporalStore + ?Sized>(
        store: &S,
        range: Range<usize>,
        train_end: usize,
        dst: DstRange,
        cfg: &RankConfig,
    ) -> Result<NegativeSet, NegError> {
        cfg.validate()?;
        let n_events = store.num_events();
        check_range(&range, n_events)?;
        dst.check(store.num_nodes())?;
        if train_end > range.start {
            return Err(NegError::InvalidOption(format!(
                "the training period 0..{train_end} overlaps the evaluated events {}..{}",
                range.start, range.end
            )));
        }
        let mut train = PairHistory::new();
        train.advance(store, train_end)?;
        let (keys, queries) = queries_of(store, range.clone());
        let k = cfg.k as usize;
        let n_hist = ((f64::from(cfg.k) * cfg.hist_fraction).floor() as usize).min(k);
        let mut negs = vec![NO_NEGATIVE; range.len() * k];
        negs.par_chunks_mut(k).zip(queries.par_iter()).enumerate().for_each(|(q, (row, query))| {
            let s = query.src;
            let mut rng = Draws::new(cfg.seed, TAG_TGB, 0, (range.start + q) as u64);
            let trues = &keys[query.trues.clone()];
            let is_true = |d: NodeId| trues.binary_search(&pair_key(s, d)).is_ok();
            // Historical pool: training destinations of s, none true.
            let mut pool: Vec<NodeId> =
                train.of(s).iter().map(|&(d, _)| d).filter(|&d| dst.contains(d) && !is_true(d)).collect();
            let h = n_hist.min(pool.len());
            choose(&mut pool, h, &mut rng);
            row[..h].copy_from_slice(&pool[..h]);
            // Random pool: the range minus true and minus every training destination.
            let allowed = |d: NodeId| !is_true(d) && !train.contains(s, d);
            let mut true_in =
                trues.iter().map(|&k| k as NodeId).filter(|&d| dst.contains(d)).collect::<Vec<_>>();
            true_in.dedup();
            let seen_in = train.of(s).iter().filter(|&&(d, _)| dst.contains(d) && !is_true(d)).count();
            let pool_len = dst.len() as usize - true_in.len() - seen_in;
            let need = k - h;
            let got = if need >= pool_len {
                let mut n = h;
                for d in dst.lo..dst.hi {
                    if allowed(d) {
                        row[n] = d;
                        n += 1;
                    }
                }
                n
            } else if 2 * need <= pool_len {
                draw_sparse(&mut row[h..], need, dst, &mut rng, &allowed) + h
            } else {
                let mut all: Vec<NodeId> = (dst.lo..dst.hi).filter(|&d| allowed(d)).collect();
                choose(&mut all, need, &mut rng);
                row[h..h + need].copy_from_slice(&all[..need]);
                h + need
            };
            debug_assert!(row[got..].iter().all(|&d| d == NO_NEGATIVE));
        });
        Ok(NegativeSet {
            header: header(store, range, cfg.k, n_hist as u32, NegSetStyle::Tgb, cfg.seed)?,
            negs,
        })
    }

    /// Every destination except the true ones, per event of `range` (module docs).
    pub fn generate_all<S: TemporalStore + ?Sized>(
        store: &S,
        range: Range<usize>,
        dst: DstRange,
    ) -> Result<NegativeSet, NegError> {
        check_range(&range, store.num_events())?;
        dst.check(store.num_nodes())?;
        if dst.len() < 2 {
            return Err(NegError::InvalidOption(format!(
                "destination range {}..{} has fewer than 2 destinations: nothing to rank against",
                dst.lo, dst.hi
            )));
        }
        let k = dst.len() as usize - 1;
        let (keys, queries) = queries_of(store, range.clone());
        let mut negs = vec![NO_NEGATIVE; range.len() * k];
        negs.par_chunks_mut(k).zip(queries.par_iter()).for_each(|(row, query)| {
            let trues = &keys[query.trues.clone()];
            let allowed = (dst.lo..dst.hi).filter(|&d| trues.binary_search(&pair_key(query.src, d)).is_err());
            for (slot, d) in row.iter_mut().zip(allowed) {
                *slot = d;
            }
        });
        Ok(NegativeSet { header: header(store, range, k as u32, 0, NegSetStyle::All, 0)?, negs })
    }

    /// A set from parsed rows (module docs); `path` labels errors, `seed` is recorded.
    pub fn import_rows<S: TemporalStore + ?Sized>(
        store: &S,
        range: Range<usize>,
        dst: DstRange,
        rows: &[Row],
        path: &Path,
        seed: u64,
    ) -> Result<NegativeSet, NegError> {
        check_range(&range, store.num_events())?;
        dst.check(store.num_nodes())?;
        let bad = |why: String| NegError::Format { path: path.to_path_buf(), why };
        let mut by_key: HashMap<(u64, u64), usize, FixedState> = HashMap::default();
        for (i, r) in rows.iter().enumerate() {
            if let Some(&j) = by_key.get(&(pair_key(r.src, r.dst), r.t.to_bits())) {
                return Err(bad(format!(
                    "line {} repeats the positive ({}, {}, {}) of line {}",
                    r.line, r.src, r.dst, r.t, rows[j].line
                )));
            }
            by_key.insert((pair_key(r.src, r.dst), r.t.to_bits()), i);
        }
        let k = rows.iter().map(|r| r.negs.len()).max().unwrap_or(0).max(1);
        let (keys, queries) = queries_of(store, range.clone());
        let mut used = vec![false; rows.len()];
        let mut negs = vec![NO_NEGATIVE; range.len() * k];
        let mut seen: HashSet<NodeId, FixedState> = HashSet::default();
        for (q, (e, query)) in range.clone().zip(&queries).enumerate() {
            let (s, d, t) = store.event(e as EventId);
            let Some(&i) = by_key.get(&(pair_key(s, d), t.to_bits())) else {
                return Err(bad(format!("event {e} (src {s}, dst {d}, t {t}) has no line")));
            };
            used[i] = true;
            let r = &rows[i];
            let trues = &keys[query.trues.clone()];
            seen.clear();
            for (slot, &n) in negs[q * k..(q + 1) * k].iter_mut().zip(&r.negs) {
                if !dst.contains(n) {
                    return Err(bad(format!(
                        "line {}: negative {n} is outside the destination range {}..{}",
                        r.line, dst.lo, dst.hi
                    )));
                }
                if trues.binary_search(&pair_key(s, n)).is_ok() {
                    return Err(bad(format!(
                        "line {}: negative {n} is a true destination of source {s} at time {t}",
                        r.line
                    )));
                }
                if !seen.insert(n) {
                    return Err(bad(format!("line {}: negative {n} is listed twice", r.line)));
                }
                *slot = n;
            }
        }
        if let Some(i) = used.iter().position(|&u| !u) {
            let unused = used.iter().filter(|&&u| !u).count();
            let r = &rows[i];
            return Err(bad(format!(
                "{unused} line(s) match no event of events {}..{}, the first is line {} ({}, {}, {}): \
                 a set for another part or graph?",
                range.start, range.end, r.line, r.src, r.dst, r.t
            )));
        }
        Ok(NegativeSet { header: header(store, range, k as u32, 0, NegSetStyle::TgbImport, seed)?, negs })
    }
}

/// One line of an import file.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// 1-based line number, for errors.
    pub line: usize,
    pub src: NodeId,
    pub dst: NodeId,
    pub t: f64,
    pub negs: Vec<NodeId>,
}

/// Parse an import file (module docs); `path` labels errors.
pub fn parse_rows(text: &str, path: &Path) -> Result<Vec<Row>, NegError> {
    let bad = |line: usize, field: usize, why: String| NegError::Format {
        path: path.to_path_buf(),
        why: format!("line {line}, field {field}: {why}"),
    };
    let mut rows = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        let body = raw.split('#').next().unwrap_or("").trim();
        if body.is_empty() {
            continue;
        }
        let fields: Vec<&str> = body.split_whitespace().collect();
        if fields.len() < 3 {
            return Err(bad(line, fields.len() + 1, "expected SRC DST T NEG...".into()));
        }
        let id = |f: usize| -> Result<NodeId, NegError> {
            fields[f]
                .parse::<NodeId>()
                .map_err(|_| bad(line, f + 1, format!("{:?} is not a node id", fields[f])))
        };
        let t: f64 = fields[2].parse().map_err(|_| bad(line, 3, format!("{:?} is not a time", fields[2])))?;
        if !t.is_finite() {
            return Err(bad(line, 3, format!("time {t} is not finite")));
        }
        let negs = (3..fields.len()).map(id).collect::<Result<Vec<_>, _>>()?;
        rows.push(Row { line, src: id(0)?, dst: id(1)?, t, negs });
    }
    Ok(rows)
}

fn header<S: TemporalStore + ?Sized>(
    store: &S,
    range: Range<usize>,
    k: u32,
    n_hist: u32,
    style: NegSetStyle,
    seed: u64,
) -> Result<NegSetHeader, NegError> {
    Ok(NegSetHeader {
        k,
        n_hist,
        style,
        range: range.start as u64..range.end as u64,
        num_events: store.num_events() as u64,
        split_hash: super::split_hash(store, range)?,
        seed,
    })
}

/// Move a uniform sample of `m` distinct elements of `v` to `v[..m]` (partial Fisher-Yates).
fn choose(v: &mut [NodeId], m: usize, rng: &mut Draws) {
    let n = v.len();
    for i in 0..m.min(n) {
        let j = i + rng.below((n - i) as u64) as usize;
        v.swap(i, j);
    }
}

/// `need` distinct allowed destinations by rejection, for a pool at least twice
/// `need` (so each draw succeeds with probability above 1/2); returns `need`.
fn draw_sparse(
    out: &mut [NodeId],
    need: usize,
    dst: DstRange,
    rng: &mut Draws,
    allowed: &dyn Fn(NodeId) -> bool,
) -> usize {
    let mut chosen: HashSet<NodeId, FixedState> = HashSet::default();
    let mut n = 0;
    while n < need {
        let d = dst.draw(rng);
        if !allowed(d) {
            continue;
        }
        let fresh = if need <= SCAN_MAX { !out[..n].contains(&d) } else { chosen.insert(d) };
        if fresh {
            out[n] = d;
            n += 1;
        }
    }
    n
}

#[cfg(test)]
#[path = "negatives_tgb_tests.rs"]
mod tests;
