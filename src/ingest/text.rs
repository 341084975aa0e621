//! Text inputs (SNAP, CSV/TSV, JODIE, DGB): layout detection from the first lines,
//! then a two-stage pipeline. A reader thread decompresses and cuts the stream into
//! chunks of whole lines; this thread parses each batch of chunks in parallel
//! (rayon) and absorbs the results in file order, so ids, line numbers and "the
//! first error" are the same as a sequential read would give.

use std::io::BufRead;
use std::sync::mpsc::{Receiver, TryRecvError, sync_channel};

use rayon::prelude::*;

use crate::ingest::IngestError;
use crate::ingest::builder::{Builder, ParsedChunk};
use crate::ingest::error::{Location, excerpt};
use crate::ingest::layout::{Head, Layout, Split, decide_header, detect_format, split_for};
use crate::ingest::options::{Format, IngestOptions};
use crate::ingest::report::{ColumnsReport, FileReport};
use crate::ingest::rows::{RowParser, Splitter, is_skippable, strip_eol};
use crate::ingest::source::{Chunk, ChunkError, io_error, read_chunks};

/// Chunks the reader may run ahead of the parser.
const QUEUE: usize = 4;
const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// Reads the first lines one at a time, counting line numbers.
struct LineReader {
    r: Box<dyn BufRead + Send>,
    line: Vec<u8>,
    /// Line number of `line` (1-based); lines read so far.
    ln: u64,
    decoded: u64,
}

impl LineReader {
    /// Advance to the next line that carries data; `Ok(false)` at end of input.
    fn next_data_line(&mut self, name: &str, gzip: bool) -> Result<bool, IngestError> {
        loop {
            self.line.clear();
            let n = self
                .r
                .read_until(b'\n', &mut self.line)
                .map_err(|e| io_error(name, gzip, e, self.decoded, self.ln + 1))?;
            if n == 0 {
                return Ok(false);
            }
            self.decoded += n as u64;
            self.ln += 1;
            if self.ln == 1 && self.line.starts_with(UTF8_BOM) {
                self.line.drain(..UTF8_BOM.len());
            }
            if !is_skippable(strip_eol(&self.line)) {
                return Ok(true);
            }
        }
    }

    fn content(&self) -> Vec<u8> {
        strip_eol(&self.line).to_vec()
    }
}

/// Where the chunk stream starts: the first data line, its number, and the layout.
struct Start {
    layout: Layout,
    data: Vec<u8>,
    data_line: u64,
}

/// Fields of a line whose quotes do not close, ignoring the quotes.
fn naive_fields(line: &[u8], split: Split) -> Vec<Vec<u8>> {
    match split {
        Split::Delim(d) => line.split(|&b| b == d).map(|f| f.trim_ascii().to_vec()).collect(),
        Split::Whitespace => line.split(|b| b.is_ascii_whitespace()).map(|f| f.to_vec()).collect(),
    }
}

fn detect(lr: &mut LineReader, name: &str, gzip: bool, opts: &IngestOptions) -> Result<Start, IngestError> {
    if !lr.next_data_line(name, gzip)? {
        let detail = if lr.ln == 0 { " (the file is empty)" } else { " (only comments or blank lines)" };
        return Err(IngestError::Empty {
            at: Location::new(name, lr.ln + 1, Some(1)),
            detail: detail.into(),
        });
    }
    let first_no = lr.ln;
    let first = lr.content();
    let format = detect_format(opts, &first);
    if format == Format::Parquet {
        return Err(IngestError::Options(format!(
            "{name}: --format parquet, but the file does not start with the Parquet magic bytes PAR1"
        )));
    }
    let split = split_for(format, opts);
    let mut sp = Splitter::default();
    // A broken quote is split naively here; if the line is data, the row parser
    // then reports the quote with the right column.
    let fields = match sp.split(&first, split) {
        Ok(()) => sp.fields_owned(&first),
        Err(_) => naive_fields(&first, split),
    };
    let refs: Vec<&[u8]> = fields.iter().map(|f| f.as_slice()).collect();
    let has_header = decide_header(opts, format, &refs);
    let (names, header_line, data, data_line) = if has_header {
        let names: Vec<String> =
            fields.iter().map(|f| String::from_utf8_lossy(f).trim().to_string()).collect();
        if !lr.next_data_line(name, gzip)? {
            return Err(IngestError::Empty {
                at: Location::new(name, lr.ln + 1, Some(1)),
                detail: format!(" after the header on line {first_no}"),
            });
        }
        (Some(names), Some(first_no), lr.content(), lr.ln)
    } else {
        (None, None, first, first_no)
    };
    let first_fields = match sp.split(&data, split) {
        Ok(()) => sp.len(),
        Err(_) => naive_fields(&data, split).len(),
    };
    let head = Head { format, split, names, header_line, first_fields, data_line };
    Ok(Start { layout: Layout::resolve(opts, head, name)?, data, data_line })
}

/// Parse one text file into `b`. `progress(rows_so_far)` is called after each batch.
pub(crate) fn ingest_text(
    name: &str,
    reader: Box<dyn BufRead + Send>,
    gzip: bool,
    opts: &IngestOptions,
    b: &mut Builder,
    fr: &mut FileReport,
    progress: &mut dyn FnMut(u64),
) -> Result<(), IngestError> {
    let mut lr = LineReader { r: reader, line: Vec::new(), ln: 0, decoded: 0 };
    let Start { layout, data, data_line } = detect(&mut lr, name, gzip, opts)?;
    b.begin_file(
        layout.bipartite,
        layout.feat_width,
        layout.feature_names(),
        Location::new(name, data_line, None),
        &excerpt(&data, 120),
    )?;
    let [src, dst, time] = layout.key_names();
    fr.format = layout.format;
    fr.header = layout.header_line.is_some();
    fr.columns = ColumnsReport { src, dst, time, features: layout.feature_names() };
    fr.scan = layout.column_scan();

    let parser =
        RowParser { layout: &layout, file: name, policy: opts.on_bad_row, line_hint: data.len() + 1 };
    let offset = lr.decoded.saturating_sub(data.len() as u64 + 1);
    let mut carry = data;
    carry.push(b'\n');
    let reader = lr.r;
    std::thread::scope(|s| {
        let (tx, rx) = sync_channel(QUEUE);
        s.spawn(move || read_chunks(reader, carry, data_line, tx));
        let io = |e: ChunkError| io_error(name, gzip, e.error, e.decoded + offset, e.line);
        let res = pump(&rx, &parser, b, fr, progress, &io);
        // Dropping the receiver makes a reader blocked on a full queue give up.
        drop(rx);
        res
    })
}

/// Take the next batch of chunks: block for one, then whatever else is ready.
/// Sets `done` when the reader has finished (or failed, leaving `io_err`).
fn next_batch(
    rx: &Receiver<Result<Chunk, ChunkError>>,
    max: usize,
    done: &mut bool,
    io_err: &mut Option<ChunkError>,
) -> Vec<Chunk> {
    let mut batch = Vec::new();
    let mut next = rx.recv().map_err(|_| TryRecvError::Disconnected);
    loop {
        match next {
            Ok(Ok(c)) => batch.push(c),
            Ok(Err(e)) => {
                *io_err = Some(e);
                *done = true;
                break;
            }
            Err(TryRecvError::Disconnected) => {
                *done = true;
                break;
            }
            Err(TryRecvError::Empty) => break,
        }
        if batch.len() >= max {
            break;
        }
        next = rx.try_recv();
    }
    batch
}

fn parse_all(parser: &RowParser<'_>, chunks: &[Chunk]) -> Vec<ParsedChunk> {
    if chunks.len() <= 1 {
        chunks.iter().map(|c| parser.chunk(&c.bytes, c.first_line)).collect()
    } else {
        chunks.par_iter().map(|c| parser.chunk(&c.bytes, c.first_line)).collect()
    }
}

/// Receive chunks and parse them a batch at a time, absorbing each batch (in file
/// order) while the next one is parsed: interning is sequential, parsing is not.
fn pump(
    rx: &Receiver<Result<Chunk, ChunkError>>,
    parser: &RowParser<'_>,
    b: &mut Builder,
    fr: &mut FileReport,
    progress: &mut dyn FnMut(u64),
    io: &dyn Fn(ChunkError) -> IngestError,
) -> Result<(), IngestError> {
    let max = 2 * rayon::current_num_threads().max(1);
    let (mut done, mut io_err) = (false, None);
    let mut pending: Vec<ParsedChunk> = Vec::new();
    while !done || !pending.is_empty() {
        let batch = if done { Vec::new() } else { next_batch(rx, max, &mut done, &mut io_err) };
        let prev = std::mem::take(&mut pending);
        let (absorbed, parsed) =
            rayon::join(|| prev.into_iter().try_for_each(|p| b.absorb(p, fr)), || parse_all(parser, &batch));
        absorbed?;
        progress(fr.rows_read);
        pending = parsed;
    }
    // Chunks before a read error were absorbed above, so an earlier bad row wins.
    match io_err {
        Some(e) => Err(io(e)),
        None => Ok(()),
    }
}
