//! Opening inputs: files or stdin (`-`), gzip and Parquet recognised by their
//! magic bytes (`1f 8b`, `PAR1`), never by the file name; and the chunk reader that
//! feeds the text parsers.
//!
//! Text is handed on as [`Chunk`]s of whole lines (about [`CHUNK_BYTES`] each)
//! with the file line number of their first line, so chunks can be parsed in
//! parallel and still report exact line numbers. Gzip members are concatenated
//! (multi-member files, as written by `pigz` or `cat a.gz b.gz`, read whole).

use std::fs::File;
use std::io::{self, BufRead, BufReader, Cursor, Read, Seek};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::SyncSender;

use flate2::read::MultiGzDecoder;

use crate::ingest::IngestError;

/// Target size of one text chunk. Big enough that per-chunk costs vanish, small
/// enough that a batch of them per core stays a few MiB.
pub(crate) const CHUNK_BYTES: usize = 1 << 20;

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];
const PARQUET_MAGIC: &[u8; 4] = b"PAR1";

/// Counts the bytes read from the underlying file (compressed bytes for gzip), for
/// the report and progress bars.
struct Counting<R> {
    inner: R,
    n: Arc<AtomicU64>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let k = self.inner.read(buf)?;
        self.n.fetch_add(k as u64, Ordering::Relaxed);
        Ok(k)
    }
}

pub(crate) enum Input {
    /// Decoded text, buffered.
    Text(Box<dyn BufRead + Send>),
    /// A seekable Parquet file (stdin and gzip-wrapped Parquet are spooled to a
    /// temporary file first, because Parquet's footer is at the end).
    Parquet(File),
}

pub(crate) struct Opened {
    /// The name used in messages (`<stdin>` for `-`).
    pub name: String,
    pub input: Input,
    pub gzip: bool,
    /// Bytes read from the file so far (compressed, for gzip).
    pub raw_bytes: Arc<AtomicU64>,
    /// File size, when known (not for stdin).
    pub size: Option<u64>,
}

pub(crate) fn display_name(path: &Path) -> String {
    if path.as_os_str() == "-" { "<stdin>".to_string() } else { path.display().to_string() }
}

/// Read up to `n` bytes (fewer only at end of input).
fn peek(r: &mut impl Read, n: usize) -> io::Result<Vec<u8>> {
    let mut buf = Vec::with_capacity(n);
    r.by_ref().take(n as u64).read_to_end(&mut buf)?;
    Ok(buf)
}

/// Turn an I/O error into a read error or, for a gzip stream, a decoding error.
pub(crate) fn io_error(name: &str, gzip: bool, e: io::Error, decoded: u64, line: u64) -> IngestError {
    let codec = matches!(
        e.kind(),
        io::ErrorKind::InvalidInput | io::ErrorKind::InvalidData | io::ErrorKind::UnexpectedEof
    );
    if gzip && codec {
        IngestError::Gzip { path: name.to_string(), decoded, line, source: e }
    } else {
        IngestError::Read { path: name.to_string(), bytes: decoded, source: e }
    }
}

fn spool(name: &str, mut r: impl Read, gzip: bool) -> Result<File, IngestError> {
    let mut f = tempfile::tempfile().map_err(|e| IngestError::Read {
        path: "temporary file".into(),
        bytes: 0,
        source: e,
    })?;
    io::copy(&mut r, &mut f).map_err(|e| io_error(name, gzip, e, 0, 0))?;
    f.rewind().map_err(|e| io_error(name, false, e, 0, 0))?;
    Ok(f)
}

/// Open `path` (`-` = stdin) and sniff what it is.
pub(crate) fn open(path: &Path) -> Result<Opened, IngestError> {
    let name = display_name(path);
    let raw_bytes = Arc::new(AtomicU64::new(0));
    let (reader, size): (Box<dyn Read + Send>, Option<u64>) = if path.as_os_str() == "-" {
        (Box::new(io::stdin()), None)
    } else {
        let f = File::open(path).map_err(|e| IngestError::Open { path: name.clone(), source: e })?;
        let size = f.metadata().ok().filter(|m| m.is_file()).map(|m| m.len());
        (Box::new(f), size)
    };
    let mut counted = Counting { inner: reader, n: raw_bytes.clone() };
    let head = peek(&mut counted, 4).map_err(|e| io_error(&name, false, e, 0, 0))?;
    let rest = Cursor::new(head.clone()).chain(counted);

    if head.starts_with(&GZIP_MAGIC) {
        let mut dec = MultiGzDecoder::new(rest);
        let inner = peek(&mut dec, 4).map_err(|e| io_error(&name, true, e, 0, 1))?;
        let dec = Cursor::new(inner.clone()).chain(dec);
        let input = if inner.as_slice() == PARQUET_MAGIC {
            Input::Parquet(spool(&name, dec, true)?)
        } else {
            Input::Text(Box::new(BufReader::with_capacity(1 << 18, dec)))
        };
        return Ok(Opened { name, input, gzip: true, raw_bytes, size });
    }
    let input = if head.as_slice() == PARQUET_MAGIC {
        if path.as_os_str() == "-" {
            Input::Parquet(spool(&name, rest, false)?)
        } else {
            // Reopen: the Parquet reader seeks, and the counted stream cannot.
            let f = File::open(path).map_err(|e| IngestError::Open { path: name.clone(), source: e })?;
            raw_bytes.store(size.unwrap_or(0), Ordering::Relaxed);
            Input::Parquet(f)
        }
    } else {
        Input::Text(Box::new(BufReader::with_capacity(1 << 18, rest)))
    };
    Ok(Opened { name, input, gzip: false, raw_bytes, size })
}

/// A run of whole lines and the 1-based file line number of the first one.
pub(crate) struct Chunk {
    pub bytes: Vec<u8>,
    pub first_line: u64,
}

/// An I/O failure in the reader thread, with where it happened.
pub(crate) struct ChunkError {
    pub error: io::Error,
    pub decoded: u64,
    pub line: u64,
}

/// Read `r` to the end in chunks of whole lines and send them in order. `carry`
/// holds bytes already taken off `r` (the first data line, from header detection),
/// starting at line `next_line`. Stops early when the receiver hangs up.
pub(crate) fn read_chunks(
    mut r: impl Read,
    mut carry: Vec<u8>,
    mut next_line: u64,
    tx: SyncSender<Result<Chunk, ChunkError>>,
) {
    let mut decoded = carry.len() as u64;
    let mut target = CHUNK_BYTES;
    loop {
        let mut buf = std::mem::take(&mut carry);
        buf.reserve(target.saturating_sub(buf.len()));
        let want = target.saturating_sub(buf.len()) as u64;
        let before = buf.len();
        let res = r.by_ref().take(want).read_to_end(&mut buf);
        let got = buf.len() - before;
        decoded += got as u64;
        if let Err(error) = res {
            // Hand on the whole lines read before the failure, so rows before it are
            // still checked and the error's line number is exact.
            let whole = memchr::memrchr(b'\n', &buf).map_or(0, |nl| nl + 1);
            buf.truncate(whole);
            let lines = memchr::memchr_iter(b'\n', &buf).count() as u64;
            if !buf.is_empty() && tx.send(Ok(Chunk { bytes: buf, first_line: next_line })).is_err() {
                return;
            }
            let _ = tx.send(Err(ChunkError { error, decoded, line: next_line + lines }));
            return;
        }
        let eof = (got as u64) < want;
        if buf.is_empty() {
            return;
        }
        if !eof {
            match memchr::memrchr(b'\n', &buf) {
                Some(nl) => {
                    carry = buf[nl + 1..].to_vec();
                    buf.truncate(nl + 1);
                    target = CHUNK_BYTES;
                }
                None => {
                    // One line longer than a chunk: keep reading until it ends.
                    target = buf.len() * 2;
                    carry = buf;
                    continue;
                }
            }
        }
        let lines = memchr::memchr_iter(b'\n', &buf).count() as u64;
        if tx.send(Ok(Chunk { bytes: buf, first_line: next_line })).is_err() {
            return;
        }
        next_line += lines;
        if eof {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn chunks_cover_input_with_line_numbers() {
        let text: String = (0..100_000).map(|i| format!("{i} {} {i}\n", i + 1)).collect();
        let (tx, rx) = std::sync::mpsc::sync_channel(2);
        let data = text.clone().into_bytes();
        std::thread::spawn(move || read_chunks(Cursor::new(data), b"x y 0\n".to_vec(), 7, tx));
        let mut all = Vec::new();
        let mut expect_line = 7;
        for c in rx {
            let c = c.ok().unwrap();
            assert_eq!(c.first_line, expect_line);
            assert_eq!(c.bytes.last(), Some(&b'\n'));
            expect_line += c.bytes.iter().filter(|&&b| b == b'\n').count() as u64;
            all.extend_from_slice(&c.bytes);
        }
        assert_eq!(all, [b"x y 0\n".as_slice(), text.as_bytes()].concat());
    }

    #[test]
    fn gzip_is_sniffed_from_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("plain-looking.txt");
        let mut enc = flate2::write::GzEncoder::new(File::create(&p).unwrap(), flate2::Compression::fast());
        enc.write_all(b"1 2 3\n").unwrap();
        enc.finish().unwrap();
        let o = open(&p).unwrap();
        assert!(o.gzip);
        let Input::Text(mut r) = o.input else { panic!("expected text") };
        let mut s = String::new();
        r.read_to_string(&mut s).unwrap();
        assert_eq!(s, "1 2 3\n");
    }
}
