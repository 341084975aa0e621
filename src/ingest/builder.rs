//! Accumulating parsed rows into one [`EventLog`] and id map.
//!
//! Parsers (text chunks in parallel, Parquet batches) produce [`ParsedChunk`]s:
//! raw ids, times and features of the good rows, plus bad-row bookkeeping. The
//! [`Builder`] absorbs chunks strictly in file order, which is what makes dense ids
//! follow first appearance and keeps the first error the earliest one.

use crate::ingest::IngestError;
use crate::ingest::error::Location;
use crate::ingest::intern::{Interner, RawId};
use crate::ingest::options::BadRowPolicy;
use crate::ingest::report::{FileReport, MAX_EXAMPLES};
use crate::ingest::time_order::Trend;
use crate::store::EventLog;

/// The good rows of one chunk (columnar), and what went wrong with the others.
#[derive(Debug, Default)]
pub(crate) struct ParsedChunk {
    pub src: Vec<RawId>,
    pub dst: Vec<RawId>,
    pub t: Vec<f64>,
    /// Row-major, `feat_width` per row.
    pub feats: Vec<f32>,
    /// Bytes of the string ids the `RawId`s point into.
    pub arena: Vec<u8>,
    pub rows_read: u64,
    pub skipped: u64,
    pub examples: Vec<String>,
    /// With `BadRowPolicy::Error`, the first bad row (parsing stopped there).
    pub error: Option<IngestError>,
    /// How each column runs over the good rows, for chunks the time-order scan
    /// covers (see [`crate::ingest::time_order`]).
    pub trends: Option<Vec<Trend>>,
}

impl ParsedChunk {
    pub(crate) fn with_capacity(rows: usize, feat_width: usize) -> Self {
        Self {
            src: Vec::with_capacity(rows),
            dst: Vec::with_capacity(rows),
            t: Vec::with_capacity(rows),
            feats: Vec::with_capacity(rows * feat_width),
            ..Self::default()
        }
    }

    /// Record a bad row; returns whether parsing may go on.
    pub(crate) fn bad_row(&mut self, e: IngestError, policy: BadRowPolicy) -> bool {
        match policy {
            BadRowPolicy::Error => {
                self.error = Some(e);
                false
            }
            BadRowPolicy::Skip => {
                self.skipped += 1;
                if self.examples.len() < MAX_EXAMPLES {
                    self.examples.push(e.to_string());
                }
                true
            }
        }
    }
}

/// Width and provenance of the features, fixed by the first file.
#[derive(Debug)]
struct FeatureShape {
    dim: usize,
    names: Vec<String>,
    file: String,
}

pub(crate) struct Builder {
    pub events: EventLog,
    pub src_ids: Interner,
    /// Destinations' own id space (bipartite), dense ids offset by `n_src` at the end.
    pub dst_ids: Option<Interner>,
    bipartite: Option<bool>,
    shape: Option<FeatureShape>,
    pub skipped: u64,
    pub examples: Vec<String>,
    /// Out-of-core ingest: sorts and writes out the rows so far whenever they reach
    /// the memory budget (see [`crate::ingest::external`]).
    pub spill: Option<Box<crate::ingest::external::Spiller>>,
}

impl Builder {
    pub(crate) fn new() -> Self {
        Self {
            events: EventLog::default(),
            src_ids: Interner::default(),
            dst_ids: None,
            bipartite: None,
            shape: None,
            skipped: 0,
            examples: Vec::new(),
            spill: None,
        }
    }

    /// Estimated bytes of the id map.
    pub(crate) fn ids_bytes(&self) -> u64 {
        self.src_ids.approx_bytes() + self.dst_ids.as_ref().map_or(0, |d| d.approx_bytes())
    }

    pub(crate) fn bipartite(&self) -> bool {
        self.bipartite.unwrap_or(false)
    }

    pub(crate) fn feature_names(&self) -> Vec<String> {
        self.shape.as_ref().map(|s| s.names.clone()).unwrap_or_default()
    }

    /// Check a new file's layout against the files before it. `at` is its first
    /// data row, `text` that row's text (for the message).
    pub(crate) fn begin_file(
        &mut self,
        bipartite: bool,
        dim: usize,
        names: Vec<String>,
        at: Location,
        text: &str,
    ) -> Result<(), IngestError> {
        match self.bipartite {
            None => {
                self.bipartite = Some(bipartite);
                if bipartite {
                    self.dst_ids = Some(Interner::default());
                }
            }
            Some(b) if b != bipartite => {
                return Err(IngestError::Options(format!(
                    "{}: this file is {}bipartite but the files before it are {}; pass --bipartite for all",
                    at.file,
                    if bipartite { "" } else { "not " },
                    if b { "bipartite" } else { "not bipartite" },
                )));
            }
            Some(_) => {}
        }
        match &self.shape {
            None => {
                self.events = EventLog::with_feat_dim(dim);
                self.shape = Some(FeatureShape { dim, names, file: at.file });
            }
            Some(s) if s.dim != dim => {
                return Err(IngestError::FeatureWidth {
                    reference: format!("the earlier file {}", s.file),
                    expected: s.dim,
                    found: dim,
                    at,
                    text: text.to_string(),
                });
            }
            Some(_) => {}
        }
        Ok(())
    }

    /// Append a chunk's good rows (interning their ids in order), count its rows,
    /// and return its error if it stopped on one.
    pub(crate) fn absorb(&mut self, mut p: ParsedChunk, file: &mut FileReport) -> Result<(), IngestError> {
        let n = p.t.len();
        if self.events.len() + n > u32::MAX as usize {
            return Err(IngestError::TooMany { what: "events", max: u32::MAX as u64 });
        }
        self.events.src.reserve(n);
        self.events.dst.reserve(n);
        for i in 0..n {
            let s = self.src_ids.intern(p.src[i], &p.arena)?;
            let d = match &mut self.dst_ids {
                Some(dst_ids) => dst_ids.intern(p.dst[i], &p.arena)?,
                None => self.src_ids.intern(p.dst[i], &p.arena)?,
            };
            self.events.src.push(s);
            self.events.dst.push(d);
        }
        self.events.t.extend_from_slice(&p.t);
        self.events.feats.extend_from_slice(&p.feats);

        if self.spill.is_some() {
            let ids = self.ids_bytes();
            if let Some(sp) = self.spill.as_mut() {
                sp.after_absorb(&mut self.events, ids)?;
            }
        }

        file.scan.absorb(p.trends.take());
        file.rows_read += p.rows_read;
        file.rows_kept += n as u64;
        file.rows_skipped += p.skipped;
        self.skipped += p.skipped;
        for e in p.examples.drain(..) {
            if self.examples.len() < MAX_EXAMPLES {
                self.examples.push(e);
            }
        }
        match p.error.take() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Number of source-side nodes (all nodes when not bipartite).
    pub(crate) fn n_src(&self) -> u32 {
        self.src_ids.len() as u32
    }

    pub(crate) fn num_nodes(&self) -> u32 {
        (self.src_ids.len() + self.dst_ids.as_ref().map_or(0, |d| d.len())) as u32
    }

    /// Move destination ids of a bipartite graph after the sources.
    pub(crate) fn finish_ids(&mut self) -> Result<(), IngestError> {
        let n_dst = self.dst_ids.as_ref().map_or(0, |d| d.len());
        if self.src_ids.len() + n_dst >= u32::MAX as usize {
            return Err(IngestError::TooMany { what: "nodes", max: u32::MAX as u64 });
        }
        if self.dst_ids.is_some() {
            let off = self.n_src();
            for d in &mut self.events.dst {
                *d += off;
            }
        }
        Ok(())
    }
}
