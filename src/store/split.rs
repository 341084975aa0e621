//! Chronological train/validation/test split by timestamp quantile.
//!
//! Input: the time column of an event log, sorted non-decreasingly (event id =
//! row). Output: three contiguous event-id ranges `train = 0..a`, `val = a..b`,
//! `test = b..n`, so validation and test are the later periods (the TGN/DyGLib
//! convention the sampler and trainer reuse).
//!
//! A boundary never cuts a group of equal timestamps: when the quantile index
//! falls inside a tie group, the boundary moves to the end of that group (the
//! whole group stays in the earlier part, as TGN's `t <= quantile` does). Then
//! every train event is strictly earlier than every val event, and val than test.
//!
//! Time convention: by timestamps, `val_start` and `test_start` are half-open
//! starts: events with `t < val_start` are train, `val_start <= t < test_start`
//! val, `t >= test_start` test. A split by fractions reports the same two times
//! (the first val and test timestamps), so it can be replayed by time.

use std::fmt;
use std::ops::Range;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::store::Time;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SplitError {
    #[error("split fractions must be finite, non-negative and sum to 1; got {train}, {val}, {test}")]
    BadFractions { train: f64, val: f64, test: f64 },
    #[error("split times must be finite with val_start <= test_start; got {val_start}, {test_start}")]
    BadTimes { val_start: f64, test_start: f64 },
    #[error("event times are not sorted: t[{index}] = {t} follows {prev}")]
    NotSorted { index: usize, prev: f64, t: f64 },
    #[error("cannot parse split {input:?}: {why} (expected e.g. 0.7,0.15,0.15 or t=VAL_START,TEST_START)")]
    Parse { input: String, why: String },
}

/// How to split: by fractions of events (quantiles of the time column) or by
/// explicit start times of the validation and test periods.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "by", rename_all = "snake_case")]
pub enum SplitSpec {
    Fractions { train: f64, val: f64, test: f64 },
    Times { val_start: Time, test_start: Time },
}

impl Default for SplitSpec {
    /// 70/15/15 by timestamp quantile.
    fn default() -> Self {
        SplitSpec::Fractions { train: 0.70, val: 0.15, test: 0.15 }
    }
}

impl SplitSpec {
    /// Validated split by fractions (they must sum to 1 within 1e-6).
    pub fn fractions(train: f64, val: f64, test: f64) -> Result<Self, SplitError> {
        let s = SplitSpec::Fractions { train, val, test };
        s.validate()?;
        Ok(s)
    }

    /// Validated split by start times of validation and test.
    pub fn times(val_start: Time, test_start: Time) -> Result<Self, SplitError> {
        let s = SplitSpec::Times { val_start, test_start };
        s.validate()?;
        Ok(s)
    }

    pub fn validate(&self) -> Result<(), SplitError> {
        match *self {
            SplitSpec::Fractions { train, val, test } => {
                let ok = [train, val, test].iter().all(|f| f.is_finite() && *f >= 0.0)
                    && (train + val + test - 1.0).abs() <= 1e-6;
                if ok { Ok(()) } else { Err(SplitError::BadFractions { train, val, test }) }
            }
            SplitSpec::Times { val_start, test_start } => {
                if val_start.is_finite() && test_start.is_finite() && val_start <= test_start {
                    Ok(())
                } else {
                    Err(SplitError::BadTimes { val_start, test_start })
                }
            }
        }
    }
}

impl fmt::Display for SplitSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SplitSpec::Fractions { train, val, test } => write!(f, "{train},{val},{test}"),
            SplitSpec::Times { val_start, test_start } => write!(f, "t={val_start},{test_start}"),
        }
    }
}

impl FromStr for SplitSpec {
    type Err = SplitError;

    /// `0.7,0.15,0.15` (fractions) or `t=VAL_START,TEST_START` (times).
    fn from_str(s: &str) -> Result<Self, SplitError> {
        let err = |why: &str| SplitError::Parse { input: s.to_string(), why: why.to_string() };
        let (by_time, body) = match s.trim().strip_prefix("t=") {
            Some(rest) => (true, rest),
            None => (false, s.trim()),
        };
        let nums: Vec<f64> = body
            .split(',')
            .map(|p| p.trim().parse::<f64>())
            .collect::<Result<_, _>>()
            .map_err(|e| err(&e.to_string()))?;
        match (by_time, nums.as_slice()) {
            (true, &[v, t]) => SplitSpec::times(v, t),
            (false, &[a, b, c]) => SplitSpec::fractions(a, b, c),
            (true, _) => Err(err("need two times")),
            (false, _) => Err(err("need three fractions")),
        }
    }
}

/// Event-id ranges of the three periods: `train = 0..a`, `val = a..b`, `test = b..n`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Split {
    pub spec: SplitSpec,
    pub train: Range<usize>,
    pub val: Range<usize>,
    pub test: Range<usize>,
    /// Time of the first validation event (`None` when val and test are empty).
    pub val_start: Option<Time>,
    /// Time of the first test event (`None` when test is empty).
    pub test_start: Option<Time>,
}

impl Split {
    /// Split a sorted time column.
    pub fn compute(t: &[Time], spec: SplitSpec) -> Result<Split, SplitError> {
        check_sorted(t.iter().copied())?;
        Self::compute_with(t.len(), |i| t[i], spec)
    }

    /// Split a time column held in consecutive pieces (e.g. the segments of a
    /// memory-mapped store plus its tail), without concatenating them.
    pub fn compute_segmented(segs: &[&[Time]], spec: SplitSpec) -> Result<Split, SplitError> {
        check_sorted(segs.iter().flat_map(|s| s.iter().copied()))?;
        let mut starts = Vec::with_capacity(segs.len());
        let mut n = 0usize;
        for s in segs {
            starts.push(n);
            n += s.len();
        }
        let at = |i: usize| {
            // Last segment starting at or before i; empty segments share a start
            // with their successor, so take the last such one.
            let k = starts.partition_point(|&s| s <= i) - 1;
            segs[k][i - starts[k]]
        };
        Self::compute_with(n, at, spec)
    }

    /// Core: `at(i)` is the time of event `i` for `i < n`, non-decreasing (checked
    /// by the callers).
    fn compute_with(n: usize, at: impl Fn(usize) -> Time, spec: SplitSpec) -> Result<Split, SplitError> {
        spec.validate()?;
        // First index in [lo, n) whose time is not `pred`-true (times are sorted, so
        // `pred` is true on a prefix).
        let partition = |lo: usize, pred: &dyn Fn(Time) -> bool| {
            let (mut lo, mut hi) = (lo, n);
            while lo < hi {
                let mid = lo + (hi - lo) / 2;
                if pred(at(mid)) { lo = mid + 1 } else { hi = mid }
            }
            lo
        };
        // Move an index to the end of the tie group it falls in.
        let snap = |i: usize| {
            if i == 0 || i >= n || at(i - 1) != at(i) {
                return i.min(n);
            }
            let tie = at(i - 1);
            partition(i, &|x| x <= tie)
        };
        let (a, b) = match spec {
            SplitSpec::Fractions { train, val, .. } => {
                let target = |f: f64| ((n as f64) * f).round().clamp(0.0, n as f64) as usize;
                let a = snap(target(train));
                let b = snap(target(train + val).max(a));
                (a, b)
            }
            SplitSpec::Times { val_start, test_start } => {
                let a = partition(0, &|x| x < val_start);
                let b = partition(a, &|x| x < test_start);
                (a, b)
            }
        };
        Ok(Split {
            spec,
            train: 0..a,
            val: a..b,
            test: b..n,
            val_start: (a < n).then(|| at(a)),
            test_start: (b < n).then(|| at(b)),
        })
    }

    pub fn num_events(&self) -> usize {
        self.test.end
    }

    /// Realised fractions of events in (train, val, test); zeros for no events.
    pub fn fractions(&self) -> (f64, f64, f64) {
        let n = self.num_events().max(1) as f64;
        (self.train.len() as f64 / n, self.val.len() as f64 / n, self.test.len() as f64 / n)
    }
}

fn check_sorted(t: impl Iterator<Item = Time>) -> Result<(), SplitError> {
    let mut prev = f64::NEG_INFINITY;
    for (index, x) in t.enumerate() {
        // A NaN compares as `None`, which ingest rejects but a caller might not.
        if prev.partial_cmp(&x).is_none_or(|o| o.is_gt()) {
            return Err(SplitError::NotSorted { index, prev, t: x });
        }
        prev = x;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn is_boundary(t: &[f64], i: usize) -> bool {
        i == 0 || i >= t.len() || t[i - 1] < t[i]
    }

    #[test]
    fn default_is_70_15_15() {
        let t: Vec<f64> = (0..100).map(f64::from).collect();
        let s = Split::compute(&t, SplitSpec::default()).unwrap();
        assert_eq!((s.train.clone(), s.val.clone(), s.test.clone()), (0..70, 70..85, 85..100));
        assert_eq!(s.val_start, Some(70.0));
        assert_eq!(s.test_start, Some(85.0));
    }

    #[test]
    fn boundary_moves_to_end_of_tie_group() {
        // Target a = 7 falls inside the group of 5s at 5..9; target b = 9 (8.5
        // rounded) is a clean boundary after the group.
        let t = [0., 1., 2., 3., 4., 5., 5., 5., 5., 6.];
        let s = Split::compute(&t, SplitSpec::default()).unwrap();
        assert_eq!(s.train, 0..9);
        assert_eq!(s.val, 9..9);
        assert_eq!(s.test, 9..10);
        assert_eq!(s.val_start, Some(6.0));
    }

    #[test]
    fn all_times_equal_is_all_train() {
        let t = [3.0; 50];
        let s = Split::compute(&t, SplitSpec::default()).unwrap();
        assert_eq!((s.train, s.val, s.test), (0..50, 50..50, 50..50));
        assert_eq!((s.val_start, s.test_start), (None, None));
    }

    #[test]
    fn tiny_inputs() {
        let s = Split::compute(&[], SplitSpec::default()).unwrap();
        assert_eq!(s.fractions(), (0.0, 0.0, 0.0));
        assert_eq!((s.train, s.val, s.test), (0..0, 0..0, 0..0));
        let s = Split::compute(&[1.0], SplitSpec::default()).unwrap();
        assert_eq!((s.train, s.val, s.test), (0..1, 1..1, 1..1));
        let s = Split::compute(&[1.0, 2.0, 3.0], SplitSpec::default()).unwrap();
        // 2.1 -> 2, 2.55 -> 3.
        assert_eq!((s.train, s.val, s.test), (0..2, 2..3, 3..3));
    }

    #[test]
    fn by_times_is_half_open() {
        let t = [1., 2., 2., 3., 4., 4., 5.];
        let s = Split::compute(&t, SplitSpec::times(2.0, 4.0).unwrap()).unwrap();
        assert_eq!((s.train, s.val, s.test), (0..1, 1..4, 4..7));
        // Starts before / after all events.
        let s = Split::compute(&t, SplitSpec::times(0.0, 9.0).unwrap()).unwrap();
        assert_eq!((s.train, s.val, s.test), (0..0, 0..7, 7..7));
    }

    #[test]
    fn bad_specs_and_unsorted_input_are_errors() {
        assert!(SplitSpec::fractions(0.7, 0.2, 0.2).is_err());
        assert!(SplitSpec::fractions(-0.1, 0.6, 0.5).is_err());
        assert!(SplitSpec::fractions(f64::NAN, 0.5, 0.5).is_err());
        assert!(SplitSpec::times(5.0, 4.0).is_err());
        assert!(SplitSpec::times(f64::INFINITY, f64::INFINITY).is_err());
        let e = Split::compute(&[1.0, 0.5], SplitSpec::default()).unwrap_err();
        assert!(matches!(e, SplitError::NotSorted { index: 1, .. }), "{e}");
        assert!(Split::compute(&[1.0, f64::NAN], SplitSpec::default()).is_err());
        // A spec built by hand (bypassing the constructors) is validated too.
        let bad = SplitSpec::Fractions { train: 0.5, val: 0.5, test: 0.5 };
        assert!(Split::compute(&[1.0], bad).is_err());
    }

    #[test]
    fn parse_and_display_round_trip() {
        let s: SplitSpec = "0.8, 0.1, 0.1".parse().unwrap();
        assert_eq!(s, SplitSpec::Fractions { train: 0.8, val: 0.1, test: 0.1 });
        assert_eq!(s.to_string().parse::<SplitSpec>().unwrap(), s);
        let s: SplitSpec = "t=100,200.5".parse().unwrap();
        assert_eq!(s, SplitSpec::Times { val_start: 100.0, test_start: 200.5 });
        assert_eq!(s.to_string().parse::<SplitSpec>().unwrap(), s);
        assert!("0.7,0.3".parse::<SplitSpec>().is_err());
        assert!("t=1".parse::<SplitSpec>().is_err());
        assert!("a,b,c".parse::<SplitSpec>().is_err());
    }

    #[test]
    fn serde_round_trip() {
        let t: Vec<f64> = (0..20).map(|i| f64::from(i / 3)).collect();
        let s = Split::compute(&t, SplitSpec::default()).unwrap();
        let j = serde_json::to_string(&s).unwrap();
        assert!(j.contains("\"by\":\"fractions\""), "{j}");
        assert_eq!(serde_json::from_str::<Split>(&j).unwrap(), s);
    }

    /// Sorted times with many ties: small increments, often zero.
    fn sorted_times() -> impl Strategy<Value = Vec<f64>> {
        prop::collection::vec(prop_oneof![3 => Just(0u8), 2 => 1u8..4], 0..200).prop_map(|gaps| {
            let mut t = 0.0;
            gaps.iter()
                .map(|&g| {
                    t += f64::from(g);
                    t
                })
                .collect()
        })
    }

    /// Smallest boundary (index not inside a tie group) at or after `i`.
    fn oracle_snap(t: &[f64], i: usize) -> usize {
        (i..=t.len()).find(|&j| is_boundary(t, j)).unwrap()
    }

    proptest! {
        #[test]
        fn fractions_never_cut_ties_and_are_closest(
            t in sorted_times(),
            train in 0.0f64..1.0,
            val_share in 0.0f64..1.0,
        ) {
            let val = (1.0 - train) * val_share;
            let test = (1.0 - train - val).max(0.0);
            let s = Split::compute(&t, SplitSpec::fractions(train, val, test).unwrap()).unwrap();
            let n = t.len();
            let (a, b) = (s.val.start, s.test.start);
            prop_assert_eq!(s.train.clone(), 0..a);
            prop_assert_eq!(s.val.end, b);
            prop_assert_eq!(s.test.end, n);
            prop_assert!(a <= b && b <= n);
            prop_assert!(is_boundary(&t, a) && is_boundary(&t, b));
            // As close as possible: the first boundary at or after the quantile index.
            let ta = ((n as f64) * train).round() as usize;
            let tb = ((n as f64) * (train + val)).round() as usize;
            prop_assert_eq!(a, oracle_snap(&t, ta));
            prop_assert_eq!(b, oracle_snap(&t, tb.max(a)));
            // Periods are strictly ordered in time.
            if a > 0 && a < n { prop_assert!(t[a - 1] < t[a]); }
            if b > 0 && b < n { prop_assert!(t[b - 1] < t[b]); }
        }

        #[test]
        fn times_match_linear_scan(t in sorted_times(), v in 0.0f64..300.0, w in 0.0f64..300.0) {
            let (v, w) = (v.min(w).floor(), v.max(w).floor());
            let s = Split::compute(&t, SplitSpec::times(v, w).unwrap()).unwrap();
            let a = t.iter().filter(|&&x| x < v).count();
            let b = t.iter().filter(|&&x| x < w).count();
            prop_assert_eq!((s.train, s.val, s.test), (0..a, a..b, b..t.len()));
        }

        #[test]
        fn segmented_equals_contiguous(t in sorted_times(), cuts in prop::collection::vec(0usize..200, 0..5)) {
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c.min(t.len())).collect();
            cuts.push(0);
            cuts.push(t.len());
            cuts.sort_unstable();
            let segs: Vec<&[f64]> = cuts.windows(2).map(|w| &t[w[0]..w[1]]).collect();
            for spec in [SplitSpec::default(), SplitSpec::times(10.0, 40.0).unwrap()] {
                prop_assert_eq!(
                    Split::compute_segmented(&segs, spec).unwrap(),
                    Split::compute(&t, spec).unwrap()
                );
            }
        }
    }
}
