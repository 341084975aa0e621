//! The per-row hot path for text formats: split a line into fields, parse ids,
//! time and features, and append them to a [`ParsedChunk`].
//!
//! Nothing here allocates per row: field boundaries go into a reused span list,
//! quoted CSV fields are unescaped into a reused scratch buffer, string ids are
//! copied into the chunk's arena, numbers are parsed from bytes. A bad row rolls
//! back whatever it appended and becomes an error naming `FILE:LINE:COLUMN`.
//! Chunks within a file's first [`SCAN_LINES`] lines also follow how each column
//! runs (for [`crate::ingest::time_order`]).

use crate::ingest::IngestError;
use crate::ingest::builder::ParsedChunk;
use crate::ingest::error::{Location, Role, excerpt};
use crate::ingest::intern::RawId;
use crate::ingest::layout::{Layout, Split};
use crate::ingest::num::{non_finite_kind, parse_f32, parse_f64};
use crate::ingest::options::BadRowPolicy;
use crate::ingest::time_order::{SCAN_COLUMNS, SCAN_LINES, Trend};

/// Longest excerpt of a line or field quoted in a message.
const EXCERPT: usize = 120;

/// Splits lines into fields, reusing its buffers.
#[derive(Debug, Default)]
pub(crate) struct Splitter {
    spans: Vec<(usize, usize)>,
    scratch: Vec<u8>,
    /// Spans index `scratch` (a quoted line) rather than the line itself.
    quoted: bool,
}

#[inline]
fn is_blank(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

impl Splitter {
    /// Split `line`. `Err(i)`: field `i` (0-based) opens a quote that never closes.
    #[inline]
    pub(crate) fn split(&mut self, line: &[u8], split: Split) -> Result<(), usize> {
        self.spans.clear();
        self.quoted = false;
        match split {
            Split::Whitespace => {
                let n = line.len();
                let mut i = 0;
                loop {
                    while i < n && is_blank(line[i]) {
                        i += 1;
                    }
                    if i == n {
                        return Ok(());
                    }
                    let s = i;
                    while i < n && !is_blank(line[i]) {
                        i += 1;
                    }
                    self.spans.push((s, i));
                }
            }
            Split::Delim(d) if memchr::memchr(b'"', line).is_none() => {
                let mut start = 0;
                for pos in memchr::memchr_iter(d, line) {
                    self.spans.push(trim(line, start, pos, d));
                    start = pos + 1;
                }
                self.spans.push(trim(line, start, line.len(), d));
                Ok(())
            }
            Split::Delim(d) => self.split_quoted(line, d),
        }
    }

    /// RFC 4180 fields: `"a,b"` is one field, `""` inside quotes is a quote.
    fn split_quoted(&mut self, line: &[u8], d: u8) -> Result<(), usize> {
        self.quoted = true;
        self.scratch.clear();
        let n = line.len();
        let mut i = 0;
        loop {
            while i < n && line[i] == b' ' && d != b' ' {
                i += 1;
            }
            let s = self.scratch.len();
            if i < n && line[i] == b'"' {
                i += 1;
                loop {
                    let Some(k) = memchr::memchr(b'"', &line[i..]) else {
                        return Err(self.spans.len());
                    };
                    self.scratch.extend_from_slice(&line[i..i + k]);
                    i += k + 1;
                    if i < n && line[i] == b'"' {
                        self.scratch.push(b'"');
                        i += 1;
                    } else {
                        break;
                    }
                }
                // Text between the closing quote and the delimiter is kept, blanks aside.
                while i < n && line[i] != d {
                    if !is_blank(line[i]) {
                        self.scratch.push(line[i]);
                    }
                    i += 1;
                }
            } else {
                let e = memchr::memchr(d, &line[i..]).map_or(n, |k| i + k);
                let (a, b) = trim(line, i, e, d);
                self.scratch.extend_from_slice(&line[a..b]);
                i = e;
            }
            self.spans.push((s, self.scratch.len()));
            if i < n && line[i] == d {
                i += 1;
            } else {
                return Ok(());
            }
        }
    }

    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.spans.len()
    }

    /// Field `i` of the line last split (pass the same `line`).
    #[inline]
    pub(crate) fn field<'a>(&'a self, line: &'a [u8], i: usize) -> &'a [u8] {
        let (s, e) = self.spans[i];
        if self.quoted { &self.scratch[s..e] } else { &line[s..e] }
    }

    /// All fields, owned (header lines only).
    pub(crate) fn fields_owned(&self, line: &[u8]) -> Vec<Vec<u8>> {
        (0..self.len()).map(|i| self.field(line, i).to_vec()).collect()
    }
}

/// Trim blanks around `line[s..e]` (but never the delimiter itself).
#[inline]
fn trim(line: &[u8], mut s: usize, mut e: usize, d: u8) -> (usize, usize) {
    while s < e && is_blank(line[s]) && line[s] != d {
        s += 1;
    }
    while e > s && is_blank(line[e - 1]) && line[e - 1] != d {
        e -= 1;
    }
    (s, e)
}

/// Whether a line carries no data: blank, or a `#` / `%` comment.
#[inline]
pub(crate) fn is_skippable(line: &[u8]) -> bool {
    match line.iter().find(|&&b| !is_blank(b)) {
        None => true,
        Some(&b) => b == b'#' || b == b'%',
    }
}

/// `line` without its `\n` / `\r\n`.
#[inline]
pub(crate) fn strip_eol(mut line: &[u8]) -> &[u8] {
    if let [rest @ .., b'\n'] = line {
        line = rest;
    }
    if let [rest @ .., b'\r'] = line {
        line = rest;
    }
    line
}

/// Parses rows of one file with a fixed layout.
pub(crate) struct RowParser<'a> {
    pub layout: &'a Layout,
    pub file: &'a str,
    pub policy: BadRowPolicy,
    /// Typical line length in bytes (the first data line's), for capacity guesses.
    pub line_hint: usize,
}

impl RowParser<'_> {
    fn at(&self, line: u64, col: usize) -> Location {
        Location::new(self.file, line, Some(col + 1))
    }

    fn unparsable(
        &self,
        line: u64,
        col: usize,
        role: Role,
        text: &[u8],
        expected: &'static str,
    ) -> IngestError {
        IngestError::Unparsable {
            at: self.at(line, col),
            column: self.layout.column(col, role),
            text: excerpt(text, EXCERPT),
            expected,
        }
    }

    #[inline]
    fn id(
        &self,
        f: &[u8],
        col: usize,
        role: Role,
        line: u64,
        arena: &mut Vec<u8>,
    ) -> Result<RawId, IngestError> {
        if f.is_empty() {
            return Err(self.unparsable(line, col, role, f, "a node id (the field is empty)"));
        }
        let id = RawId::from_field(f, arena);
        if let RawId::Str { .. } = id
            && std::str::from_utf8(f).is_err()
        {
            return Err(self.unparsable(line, col, role, f, "a node id (not valid UTF-8)"));
        }
        Ok(id)
    }

    #[inline]
    fn time(&self, f: &[u8], col: usize, line: u64) -> Result<f64, IngestError> {
        match parse_f64(f) {
            Some(v) if v.is_finite() => Ok(v),
            Some(v) => Err(IngestError::NotFinite {
                at: self.at(line, col),
                column: self.layout.column(col, Role::Time),
                text: excerpt(f, EXCERPT),
                kind: non_finite_kind(v),
            }),
            None => Err(self.unparsable(line, col, Role::Time, f, "a number")),
        }
    }

    #[inline]
    fn feat(&self, f: &[u8], col: usize, line: u64) -> Result<f32, IngestError> {
        match parse_f32(f) {
            Some(v) if v.is_finite() => Ok(v),
            Some(v) => Err(IngestError::NotFinite {
                at: self.at(line, col),
                column: self.layout.column(col, Role::Feature),
                text: excerpt(f, EXCERPT),
                kind: non_finite_kind(v as f64),
            }),
            None => Err(self.unparsable(line, col, Role::Feature, f, "a number")),
        }
    }

    /// Parse one data line (without its line ending) into `out`.
    #[inline]
    pub(crate) fn row(
        &self,
        line: &[u8],
        ln: u64,
        sp: &mut Splitter,
        out: &mut ParsedChunk,
    ) -> Result<(), IngestError> {
        let l = self.layout;
        if let Err(col) = sp.split(line, l.split) {
            return Err(self.unparsable(ln, col, l.role_of(col), line, "a quoted field (no closing quote)"));
        }
        let n = sp.len();
        let wrong = match l.exact_fields {
            Some(e) => n != e,
            None => n < l.min_fields,
        };
        if wrong {
            // Point at the first missing field, or the first extra one.
            let col = n.min(l.exact_fields.unwrap_or(l.min_fields));
            return Err(IngestError::FieldCount {
                at: self.at(ln, col),
                expected: l.expected_fields(),
                found: n,
                text: excerpt(line, EXCERPT),
            });
        }
        let src = self.id(sp.field(line, l.src), l.src, Role::Src, ln, &mut out.arena)?;
        let dst = self.id(sp.field(line, l.dst), l.dst, Role::Dst, ln, &mut out.arena)?;
        let t = self.time(sp.field(line, l.time), l.time, ln)?;
        match l.tail {
            Some(k) => {
                if n - k != l.feat_width {
                    return Err(IngestError::FeatureWidth {
                        at: self.at(ln, k),
                        expected: l.feat_width,
                        found: n - k,
                        reference: format!("line {}", l.data_line),
                        text: excerpt(line, EXCERPT),
                    });
                }
                for i in k..n {
                    out.feats.push(self.feat(sp.field(line, i), i, ln)?);
                }
            }
            None => {
                for &c in &l.feats {
                    out.feats.push(self.feat(sp.field(line, c), c, ln)?);
                }
            }
        }
        out.src.push(src);
        out.dst.push(dst);
        out.t.push(t);
        Ok(())
    }

    /// Follow the columns of a good row for the time-order check: every field but
    /// the ids, as a number (a field that is not one rules its column out).
    fn scan_row(&self, line: &[u8], sp: &Splitter, trends: &mut [Trend]) {
        let l = self.layout;
        for (i, t) in trends.iter_mut().enumerate() {
            if i == l.src || i == l.dst || t.is_bad() {
                continue;
            }
            t.push_field(if i < sp.len() { parse_f64(sp.field(line, i)) } else { None });
        }
    }

    /// Parse every line of `bytes` (whole lines; the first is file line `first_line`).
    pub(crate) fn chunk(&self, bytes: &[u8], first_line: u64) -> ParsedChunk {
        // Size the columns from the first data line's length, so wide rows (JODIE's
        // 172 features) do not reserve for thousands of rows that are not there.
        let rows = bytes.len() / self.line_hint.max(8) + 16;
        let mut out = ParsedChunk::with_capacity(rows, self.layout.feat_width);
        if first_line <= SCAN_LINES {
            out.trends = Some(vec![Trend::default(); self.layout.first_fields.min(SCAN_COLUMNS)]);
        }
        let mut sp = Splitter::default();
        let mut ln = first_line;
        let mut start = 0;
        while start < bytes.len() {
            let end = memchr::memchr(b'\n', &bytes[start..]).map_or(bytes.len(), |k| start + k);
            let line = strip_eol(&bytes[start..end]);
            start = end + 1;
            let this = ln;
            ln += 1;
            if is_skippable(line) {
                continue;
            }
            out.rows_read += 1;
            let (feats, arena) = (out.feats.len(), out.arena.len());
            match self.row(line, this, &mut sp, &mut out) {
                Ok(()) => {
                    if let Some(tr) = out.trends.as_mut() {
                        self.scan_row(line, &sp, tr);
                    }
                }
                Err(e) => {
                    out.feats.truncate(feats);
                    out.arena.truncate(arena);
                    if !out.bad_row(e, self.policy) {
                        break;
                    }
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(line: &str, split: Split) -> Vec<String> {
        let mut sp = Splitter::default();
        sp.split(line.as_bytes(), split).unwrap();
        (0..sp.len()).map(|i| String::from_utf8(sp.field(line.as_bytes(), i).to_vec()).unwrap()).collect()
    }

    #[test]
    fn splitting() {
        assert_eq!(fields("  1\t 2   3 ", Split::Whitespace), ["1", "2", "3"]);
        assert_eq!(fields("a, b ,,c,", Split::Delim(b',')), ["a", "b", "", "c", ""]);
        assert_eq!(fields(r#""x, y",2,"say ""hi""""#, Split::Delim(b',')), ["x, y", "2", r#"say "hi""#]);
        assert_eq!(fields("a\t\tb", Split::Delim(b'\t')), ["a", "", "b"]);
        let mut sp = Splitter::default();
        assert_eq!(sp.split(br#"1,"open,3"#, Split::Delim(b',')), Err(1));
        assert!(is_skippable(b"  # comment"));
        assert!(is_skippable(b"% konect"));
        assert!(is_skippable(b" \t"));
        assert!(!is_skippable(b"1 2 3"));
        assert_eq!(strip_eol(b"1 2\r\n"), b"1 2");
    }
}
