//! Is the time column a time? A log is written as things happen, so its time
//! column runs forwards in file order; a column that steps backwards between many
//! adjacent rows is most likely something else (a rating, an id, an amount) read
//! as time, and training on it would learn over a meaningless time axis.
//!
//! The measure: the share of adjacent rows, in file order, where the time goes
//! down ("descents"). The limit, [`DESCENT_LIMIT`] = 1%: the five public datasets
//! with their documented flags have 0 descents (CollegeMsg, Bitcoin OTC, Enron,
//! Wikipedia) or 2 in 332,333 steps (email-Eu, 0.0006%), while their id columns
//! descend at 7.6% (Enron's `u`) to 49% and Bitcoin OTC's rating, read as time
//! when no flag says otherwise, at 24% (the only other numeric columns, Enron's
//! row numbers and constant label, are never suggested). A column of
//! independent values descends at about `(1 - sum p_i^2) / 2` of steps, which is
//! under 1% only when one value fills about 99% of the rows. A log merged from
//! k sorted files in the wrong order has k - 1 descents, far below the limit, and
//! the stable sort fixes it.
//!
//! When the time column is past the limit, the other numeric columns of each
//! file's first [`SCAN_LINES`] lines (at most [`SCAN_COLUMNS`] columns; never the
//! source or destination) are ranked by their own descents, and the best one at or
//! under the limit that is neither constant nor a row number (every step +1) is
//! named with the flag that selects it. The verdict ([`TimeOrder`]) is part of the
//! ingest report, so it is kept in a graph directory's `meta.json` and `train` and
//! `eval` judge a graph directory as they judge a file: they refuse an out-of-order
//! time column unless the user chose it (`--time`) or accepts it
//! (`--allow-unsorted-time`).

use serde::{Deserialize, Serialize};

use crate::ingest::report::FileReport;

/// Most descents, as a share of adjacent row pairs, a time column may have.
pub const DESCENT_LIMIT: f64 = 0.01;
/// Lines of each file whose other columns are scanned for a better time column.
pub const SCAN_LINES: u64 = 1 << 20;
/// Columns scanned (the first ones).
pub const SCAN_COLUMNS: usize = 16;

/// How a column runs in file order, built row by row and merged chunk by chunk.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Trend {
    rows: u64,
    descents: u64,
    first: f64,
    last: f64,
    min: f64,
    max: f64,
    /// A value that is not a finite number was seen.
    bad: bool,
    /// A step other than +1 was seen (so it is not a row number).
    gaps: bool,
}

impl Trend {
    #[inline]
    pub(crate) fn push(&mut self, x: f64) {
        if self.rows == 0 {
            (self.first, self.min, self.max) = (x, x, x);
        } else {
            self.descents += (x < self.last) as u64;
            self.gaps |= x != self.last + 1.0;
            self.min = self.min.min(x);
            self.max = self.max.max(x);
        }
        self.last = x;
        self.rows += 1;
    }

    #[inline]
    pub(crate) fn push_field(&mut self, f: Option<f64>) {
        match f {
            Some(x) if x.is_finite() => self.push(x),
            _ => self.bad = true,
        }
    }

    pub(crate) fn is_bad(&self) -> bool {
        self.bad
    }

    /// More descents than [`DESCENT_LIMIT`] of its adjacent pairs.
    pub(crate) fn out_of_order(&self) -> bool {
        self.rows >= 2 && self.descents as f64 > DESCENT_LIMIT * (self.rows - 1) as f64
    }

    /// `next`'s rows follow this one's.
    pub(crate) fn merge(&mut self, next: &Trend) {
        if next.rows == 0 {
            self.bad |= next.bad;
            return;
        }
        if self.rows == 0 {
            let bad = self.bad;
            *self = next.clone();
            self.bad |= bad;
            return;
        }
        self.descents += next.descents + (next.first < self.last) as u64;
        self.gaps |= next.gaps || next.first != self.last + 1.0;
        self.min = self.min.min(next.min);
        self.max = self.max.max(next.max);
        self.last = next.last;
        self.rows += next.rows;
        self.bad |= next.bad;
    }

    /// Could this column be a time: numbers only, not constant, not a row number.
    fn usable(&self) -> bool {
        !self.bad && self.rows >= 2 && self.max > self.min && self.gaps
    }

    fn rate(&self) -> f64 {
        self.descents as f64 / (self.rows.max(2) - 1) as f64
    }
}

/// The scan of one file's columns (not serialised: only its verdict is kept).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ColumnScan {
    /// The name and the `--time` value of each column (header name, else index).
    pub(crate) names: Vec<(String, String)>,
    /// Columns that cannot be the time: the source and destination.
    pub(crate) ids: [usize; 2],
    pub(crate) time: usize,
    pub(crate) cols: Vec<Trend>,
    /// Chunks past the scanned lines arrived: later chunks are not merged.
    pub(crate) closed: bool,
}

impl ColumnScan {
    /// Fold in the next chunk's trends (`None`: the chunk was past the scan).
    pub(crate) fn absorb(&mut self, chunk: Option<Vec<Trend>>) {
        match chunk {
            Some(c) if !self.closed => {
                if self.cols.len() < c.len() {
                    self.cols.resize(c.len(), Trend::default());
                }
                for (a, b) in self.cols.iter_mut().zip(&c) {
                    a.merge(b);
                }
            }
            _ => self.closed = true,
        }
    }
}

/// A better time column than the one used.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TimeSuggestion {
    /// As the report names columns (header name, or `colN` for 0-based field N).
    pub column: String,
    /// The flag that selects it, e.g. `--time 3`.
    pub flag: String,
    /// Rows scanned (every file's first lines) and its descents among them.
    pub rows: u64,
    pub descents: u64,
}

/// The verdict on the time column, kept in the ingest report (see the module docs).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TimeOrder {
    /// The time column (the first file's name for it).
    pub column: String,
    /// The flag that selects it (`--time 2`; empty when not known).
    #[serde(default)]
    pub flag: String,
    /// Rows kept, and how many adjacent pairs (in input order) step back in time.
    pub rows: u64,
    pub descents: u64,
    /// [`DESCENT_LIMIT`] when it was judged.
    pub limit: f64,
    /// More descents than `limit` of the adjacent pairs.
    pub out_of_order: bool,
    /// The user chose the time column (`--time`) or accepted its order
    /// (`--allow-unsorted-time`) at ingest.
    pub confirmed: bool,
    /// When out of order: the best other column, if one runs forwards.
    pub suggestion: Option<TimeSuggestion>,
}

/// 1234567 -> "1,234,567".
fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

impl TimeOrder {
    /// Judge `descents` among `rows` rows, with `files`' scans for a suggestion.
    pub fn judge(files: &[FileReport], rows: u64, descents: u64, confirmed: bool) -> TimeOrder {
        let out_of_order = rows >= 2 && descents as f64 > DESCENT_LIMIT * (rows - 1) as f64;
        let flag = files
            .first()
            .and_then(|f| f.scan.names.get(f.scan.time))
            .map(|(_, v)| time_flag(v))
            .unwrap_or_default();
        TimeOrder {
            column: files.first().map(|f| f.columns.time.clone()).unwrap_or_default(),
            flag,
            rows,
            descents,
            limit: DESCENT_LIMIT,
            out_of_order,
            confirmed,
            suggestion: if out_of_order { suggest(files) } else { None },
        }
    }

    /// The same verdict from an ingest report written before [`TimeOrder`] existed
    /// (its row and descent counts; no scan, so no suggestion; not confirmed).
    pub fn from_counts(column: String, rows: u64, descents: u64) -> TimeOrder {
        let mut t = TimeOrder::judge(&[], rows, descents, false);
        t.column = column;
        t
    }

    fn share(&self) -> f64 {
        100.0 * self.descents as f64 / (self.rows.max(2) - 1) as f64
    }

    /// What is wrong, and the better column if there is one (no trailing period).
    pub fn problem(&self) -> String {
        let head = format!(
            "the time column {} steps back in time at {} of {} adjacent rows ({:.1}%; a time column in \
             a log rarely does at more than {}%), so it is probably not a time",
            self.column,
            thousands(self.descents),
            thousands(self.rows.saturating_sub(1)),
            self.share(),
            self.limit * 100.0
        );
        match &self.suggestion {
            Some(s) => format!(
                "{head}; column {} runs forwards ({} step(s) back in its first {} rows): pass {}",
                s.column,
                thousands(s.descents),
                thousands(s.rows),
                s.flag
            ),
            None => format!("{head}; no other numeric column runs forwards either"),
        }
    }

    /// Whether `train` and `eval` must refuse it (`allow`: `--allow-unsorted-time`).
    pub fn refused(&self, allow: bool) -> bool {
        self.out_of_order && !self.confirmed && !allow
    }

    /// Why `train` or `eval` refuses `path`, an edge-list file or (`graph_dir`) a
    /// graph directory ingested from one, and how to go on.
    pub fn refusal(&self, path: &str, graph_dir: bool) -> String {
        let confirm = match (graph_dir, self.flag.is_empty()) {
            (true, _) => "pass --allow-unsorted-time".to_string(),
            (false, true) => "name it with --time, or pass --allow-unsorted-time".to_string(),
            (false, false) => format!("confirm with {} or --allow-unsorted-time", self.flag),
        };
        let again = if graph_dir { " (at ingest; ingest the file again)" } else { "" };
        format!("{path}: {}{again}. If {} is the time after all, {confirm}", self.problem(), self.column)
    }

    /// The verdict recorded in a graph directory's `meta.json` provenance
    /// (`{"ingest": IngestReport}`); from the counts alone for graphs ingested
    /// before the check existed; `None` for graphs not written by ingest.
    pub fn of_provenance(provenance: &serde_json::Value) -> Result<Option<TimeOrder>, serde_json::Error> {
        let Some(ingest) = provenance.get("ingest") else { return Ok(None) };
        if let Some(t) = ingest.get("time_order") {
            return serde_json::from_value(t.clone()).map(Some);
        }
        let count = |k: &str| ingest.get(k).and_then(|v| v.as_u64());
        let (Some(rows), Some(descents)) = (count("rows_kept"), count("time_descents")) else {
            return Ok(None);
        };
        let column = ingest.pointer("/files/0/columns/time").and_then(|v| v.as_str()).unwrap_or("time");
        Ok(Some(TimeOrder::from_counts(column.to_string(), rows, descents)))
    }
}

/// `--time V`, quoted when `V` has blanks.
fn time_flag(v: &str) -> String {
    if v.contains(char::is_whitespace) { format!("--time '{v}'") } else { format!("--time {v}") }
}

/// The best other column over all files: numeric, usable and at or under the
/// limit in every file, fewest descents overall.
fn suggest(files: &[FileReport]) -> Option<TimeSuggestion> {
    let first = &files.first()?.scan;
    let width = files.iter().map(|f| f.scan.cols.len()).min().unwrap_or(0);
    let mut best: Option<(f64, TimeSuggestion)> = None;
    for c in 0..width {
        let mut total = Trend::default();
        let mut ok = true;
        for f in files {
            let s = &f.scan;
            let t = &s.cols[c];
            if s.ids.contains(&c) || c == s.time || !t.usable() || t.rate() > DESCENT_LIMIT {
                ok = false;
                break;
            }
            total.rows += t.rows;
            total.descents += t.descents;
        }
        if !ok {
            continue;
        }
        let rate = total.descents as f64 / total.rows.saturating_sub(files.len() as u64).max(1) as f64;
        let (name, flag) = first.names.get(c).cloned().unwrap_or_else(|| (format!("col{c}"), c.to_string()));
        // A header name selects the column in every file only if they all call it that.
        let flag = if files.iter().all(|f| f.scan.names.get(c).is_some_and(|n| n.1 == flag)) {
            flag
        } else {
            c.to_string()
        };
        let flag = time_flag(&flag);
        if best.as_ref().is_none_or(|(r, _)| rate < *r) {
            best = Some((
                rate,
                TimeSuggestion { column: name, flag, rows: total.rows, descents: total.descents },
            ));
        }
    }
    best.map(|(_, s)| s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trend(xs: &[f64]) -> Trend {
        let mut t = Trend::default();
        for &x in xs {
            t.push(x);
        }
        t
    }

    #[test]
    fn trends_merge_as_one_pass() {
        let xs = [3.0, 1.0, 2.0, 2.0, 5.0, 4.0, 4.0, 9.0];
        for cut in 0..=xs.len() {
            let mut a = trend(&xs[..cut]);
            a.merge(&trend(&xs[cut..]));
            assert_eq!(a, trend(&xs), "cut at {cut}");
        }
        assert_eq!(trend(&xs).descents, 2);
        let rows: Vec<f64> = (10..20).map(f64::from).collect();
        assert!(!trend(&rows).usable(), "a row number");
        assert!(!trend(&[7.0; 5]).usable(), "a constant");
        assert!(trend(&[1.0, 3.0, 3.0, 8.0]).usable());
        let mut bad = trend(&[1.0, 2.0]);
        bad.push_field(None);
        assert!(!bad.usable());
    }

    fn file(cols: Vec<Trend>, time: usize) -> FileReport {
        let names = (0..cols.len()).map(|i| (format!("col{i}"), i.to_string())).collect();
        let mut f = FileReport::default();
        f.columns.time = format!("col{time}");
        f.scan = ColumnScan { names, ids: [0, 1], time, cols, closed: false };
        f
    }

    #[test]
    fn judges_and_suggests() {
        let ids = trend(&[5.0, 1.0, 4.0, 2.0, 3.0, 9.0]);
        let rating = trend(&[1.0, -3.0, 2.0, 2.0, 0.0, 1.0]);
        let time = trend(&[10.0, 20.0, 20.0, 35.0, 40.0, 41.0]);
        let f = file(vec![ids.clone(), ids.clone(), rating.clone(), time.clone()], 2);
        let v = TimeOrder::judge(std::slice::from_ref(&f), 6, rating.descents, false);
        assert!(v.out_of_order && v.refused(false) && !v.refused(true));
        let s = v.suggestion.clone().unwrap();
        assert_eq!((s.column.as_str(), s.flag.as_str(), s.rows, s.descents), ("col3", "--time 3", 6, 0));
        assert!(v.problem().contains("pass --time 3"), "{}", v.problem());
        // Chosen by the user: kept, and never refused.
        assert!(!TimeOrder::judge(std::slice::from_ref(&f), 6, rating.descents, true).refused(false));
        // No usable column: said so.
        let g = file(vec![ids.clone(), ids, rating.clone()], 2);
        let v = TimeOrder::judge(&[g], 6, rating.descents, false);
        assert!(v.suggestion.is_none() && v.problem().contains("no other numeric column"));
        assert_eq!(v.flag, "--time 2");
        let msg = v.refusal("x.csv", false);
        assert!(
            msg.starts_with("x.csv: the time column col2 steps back")
                && msg.ends_with("--allow-unsorted-time")
        );
        // Two descents in 332,334 rows (email-Eu) are in order.
        assert!(!TimeOrder::from_counts("col2".into(), 332_334, 2).out_of_order);
        assert!(TimeOrder::from_counts("col2".into(), 1000, 11).out_of_order);
        assert!(!TimeOrder::from_counts("col2".into(), 1001, 10).out_of_order);
    }

    #[test]
    fn kept_in_provenance() {
        let f = file(
            vec![trend(&[1.0, 2.0]), trend(&[2.0, 1.0]), trend(&[3.0, 1.0, 2.0]), trend(&[1.0, 5.0, 9.0])],
            2,
        );
        let v = TimeOrder::judge(&[f], 3, 1, false);
        assert_eq!(v.flag, "--time 2");
        let p = serde_json::json!({ "ingest": { "time_order": v, "rows_kept": 3, "time_descents": 1 } });
        assert_eq!(TimeOrder::of_provenance(&p).unwrap(), Some(v));
        let old = serde_json::json!({ "ingest": { "rows_kept": 1000, "time_descents": 400,
            "files": [{ "columns": { "time": "rating" } }] } });
        let o = TimeOrder::of_provenance(&old).unwrap().unwrap();
        assert!(o.refused(false) && o.column == "rating" && o.suggestion.is_none());
        assert!(o.refusal("g", true).contains("ingest the file again"));
        assert_eq!(TimeOrder::of_provenance(&serde_json::json!({"generator": {}})).unwrap(), None);
        let broken = serde_json::json!({ "ingest": { "time_order": { "rows": "many" } } });
        assert!(TimeOrder::of_provenance(&broken).is_err());
    }
}
