//! Write-ahead log of the live ingest batches a server acknowledged.
//!
//! One record per `POST /events` batch, appended and `fsync`ed (`File::sync_data`)
//! before the batch is applied or acknowledged, so a crash loses at most a batch
//! nobody was told was accepted. A failed append (a full disk) leaves no trace of
//! its record: it is cut off again, and the next append works once there is room. The payload is opaque bytes here (the server writes the batch's
//! events as a JSON array of `LiveEvent`, external ids and `f64` times, which
//! round-trips exactly); this file knows nothing about models, so its tests need no
//! libtorch.
//!
//! Layout: a directory of segments `wal-{FIRST_SEQ:020}.log`, each an 8-byte magic
//! followed by records
//! ```text
//! len: u32 LE (payload bytes) | seq: u64 LE | xxh3_64(seq LE ++ payload): u64 LE | payload
//! ```
//! Sequence numbers are the scorer's batch numbers (1 = first batch after the base
//! graph) and are consecutive across the whole log. After a snapshot at batch `S`,
//! [`Wal::rotate`] starts segment `S + 1` and then deletes the older ones; a crash
//! between the two leaves records `<= S`, which [`Wal::open`] skips, so every
//! instant has a snapshot plus a log that together hold every acknowledged batch.
//!
//! Recovery: a torn or corrupt record at the very end of the newest segment (nothing
//! but zero bytes after it) is a write that was never acknowledged: it is truncated
//! with a warning. A bad record anywhere else, or a gap in the sequence, is an error:
//! acknowledged data would be lost, so the server refuses to start.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use xxhash_rust::xxh3::Xxh3;

pub const MAGIC: &[u8; 8] = b"LCWAL\x00\x00\x01";
/// Bytes before a record's payload: length, sequence number, checksum.
pub const RECORD_HEADER: usize = 4 + 8 + 8;
/// Larger lengths are garbage, not records.
pub const MAX_RECORD: usize = 1 << 30;

#[derive(Debug, thiserror::Error)]
pub enum WalError {
    #[error("write-ahead log {path}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "write-ahead log {path}: corrupt record at byte {offset} ({why}) followed by more data; refusing to drop acknowledged batches"
    )]
    Corrupt { path: String, offset: u64, why: String },
    #[error("write-ahead log {path}: {why}")]
    Format { path: String, why: String },
    #[error("write-ahead log: batch {found} follows batch {expected_after}; batches {} to {} are missing", expected_after.saturating_add(1), found.saturating_sub(1))]
    Gap { expected_after: u64, found: u64 },
    #[error("write-ahead log: appending batch {got} but the next batch is {expected}")]
    Sequence { expected: u64, got: u64 },
    #[error("write-ahead log: record of {0} bytes is larger than the limit of {MAX_RECORD}")]
    TooLarge(usize),
}

fn io(path: &Path, source: std::io::Error) -> WalError {
    WalError::Io { path: path.display().to_string(), source }
}

/// One acknowledged batch.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    pub seq: u64,
    pub payload: Vec<u8>,
}

/// A torn or corrupt tail removed by [`Wal::open`].
#[derive(Debug, Clone, PartialEq)]
pub struct Truncated {
    pub path: PathBuf,
    pub offset: u64,
    pub bytes: u64,
    pub why: String,
}

/// What [`Wal::open`] found: the log ready for appends, the records to replay
/// (`seq > after`, in order), those the snapshot already holds (`seq <= after`, for
/// a consistency check), and any tail it truncated.
#[derive(Debug)]
pub struct Opened {
    pub wal: Wal,
    pub replay: Vec<Record>,
    pub covered: Vec<Record>,
    pub truncated: Option<Truncated>,
}

/// An open log, appending to its newest segment.
#[derive(Debug)]
pub struct Wal {
    dir: PathBuf,
    path: PathBuf,
    file: File,
    first_seq: u64,
    next_seq: u64,
    bytes: u64,
    /// Bytes past `bytes` may hold a record that was not made durable (a failed
    /// write or flush whose removal failed too): removed before the next append.
    dirty: bool,
    #[cfg(test)]
    pub(crate) faults: Faults,
}

pub fn checksum(seq: u64, payload: &[u8]) -> u64 {
    let mut h = Xxh3::new();
    h.update(&seq.to_le_bytes());
    h.update(payload);
    h.digest()
}

/// One record's bytes.
pub fn encode(seq: u64, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(RECORD_HEADER + payload.len());
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(&seq.to_le_bytes());
    out.extend_from_slice(&checksum(seq, payload).to_le_bytes());
    out.extend_from_slice(payload);
    out
}

fn segment_name(first_seq: u64) -> String {
    format!("wal-{first_seq:020}.log")
}

/// Segments of `dir` as (first sequence number, path), oldest first.
fn segments(dir: &Path) -> Result<Vec<(u64, PathBuf)>, WalError> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir).map_err(|e| io(dir, e))? {
        let entry = entry.map_err(|e| io(dir, e))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let Some(num) = name.strip_prefix("wal-").and_then(|n| n.strip_suffix(".log")) else { continue };
        if let Ok(first) = num.parse::<u64>() {
            out.push((first, entry.path()));
        }
    }
    out.sort();
    Ok(out)
}

fn sync_dir(dir: &Path) -> Result<(), WalError> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(|e| io(dir, e))
}

/// Parse one segment's bytes: its records and, where parsing stopped early, the
/// offset of the first bad record and why.
fn parse(bytes: &[u8]) -> (Vec<Record>, Option<(u64, String)>) {
    let mut records = Vec::new();
    let mut at = MAGIC.len();
    while at < bytes.len() {
        let rest = &bytes[at..];
        if rest.len() < RECORD_HEADER {
            return (records, Some((at as u64, format!("{} header bytes of {RECORD_HEADER}", rest.len()))));
        }
        let len = u32::from_le_bytes(rest[0..4].try_into().unwrap()) as usize;
        let seq = u64::from_le_bytes(rest[4..12].try_into().unwrap());
        let sum = u64::from_le_bytes(rest[12..20].try_into().unwrap());
        if len > MAX_RECORD || rest.len() - RECORD_HEADER < len {
            let why = format!("length {len} but {} bytes left", rest.len() - RECORD_HEADER);
            return (records, Some((at as u64, why)));
        }
        let payload = &rest[RECORD_HEADER..RECORD_HEADER + len];
        if checksum(seq, payload) != sum {
            return (records, Some((at as u64, format!("checksum mismatch in batch {seq}"))));
        }
        records.push(Record { seq, payload: payload.to_vec() });
        at += RECORD_HEADER + len;
    }
    (records, None)
}

/// Whether a bad record at `offset` is the tail of the file: it runs past the end,
/// or only zero bytes follow its claimed end.
fn is_tail(bytes: &[u8], offset: usize) -> bool {
    let rest = &bytes[offset..];
    if rest.len() < RECORD_HEADER {
        return true;
    }
    let len = u32::from_le_bytes(rest[0..4].try_into().unwrap()) as usize;
    match RECORD_HEADER.checked_add(len) {
        Some(end) if end < rest.len() => rest[end..].iter().all(|&b| b == 0),
        _ => true,
    }
}

/// Test hook: failures to inject into the next operations (each count is used up
/// one failure at a time), standing in for a full or failing disk.
#[cfg(test)]
#[derive(Debug, Default, Clone)]
pub(crate) struct Faults {
    /// Write half the record, then fail (ENOSPC).
    pub write: u32,
    /// Write the whole record, then fail the flush (EIO).
    pub sync: u32,
    /// Fail the truncation that removes a record again.
    pub truncate: u32,
    /// Fail the zeroing in place that stands in for a failed truncation.
    pub scrub: u32,
}

#[cfg(test)]
fn take(n: &mut u32) -> bool {
    let hit = *n > 0;
    *n = n.saturating_sub(1);
    hit
}

impl Wal {
    /// Open (or create) the log in `dir` for a scorer that already holds batches
    /// `1..=after` (from its snapshot). Returns the records with `seq > after` to
    /// replay through `ingest` in order, each one batch.
    pub fn open(dir: &Path, after: u64) -> Result<Opened, WalError> {
        if !dir.is_dir() {
            fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
            if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
                sync_dir(parent)?;
            }
        }
        let segs = segments(dir)?;
        let mut all: Vec<Record> = Vec::new();
        let mut truncated = None;
        let mut last_len = 0u64;
        let mut newest_empty = false;
        for (i, (first, path)) in segs.iter().enumerate() {
            let newest = i + 1 == segs.len();
            let mut bytes = Vec::new();
            File::open(path).and_then(|mut f| f.read_to_end(&mut bytes)).map_err(|e| io(path, e))?;
            if bytes.len() < MAGIC.len() || &bytes[..MAGIC.len()] != MAGIC {
                let torn_header = bytes.len() < MAGIC.len() && MAGIC.starts_with(&bytes);
                if !(newest && torn_header) {
                    return Err(WalError::Format {
                        path: path.display().to_string(),
                        why: "bad magic".into(),
                    });
                }
                // Created but never written completely: rewrite the header.
                let mut f = OpenOptions::new().write(true).open(path).map_err(|e| io(path, e))?;
                f.set_len(0)
                    .and_then(|_| f.write_all(MAGIC))
                    .and_then(|_| f.sync_data())
                    .map_err(|e| io(path, e))?;
                last_len = MAGIC.len() as u64;
                newest_empty = true;
                continue;
            }
            let (records, bad) = parse(&bytes);
            newest_empty = records.is_empty();
            if let Some(r) = records.first()
                && r.seq != *first
            {
                let why = format!("first record is batch {} but the segment's name says {first}", r.seq);
                return Err(WalError::Format { path: path.display().to_string(), why });
            }
            last_len = bytes.len() as u64;
            if let Some((offset, why)) = bad {
                if !(newest && is_tail(&bytes, offset as usize)) {
                    return Err(WalError::Corrupt { path: path.display().to_string(), offset, why });
                }
                let f = OpenOptions::new().write(true).open(path).map_err(|e| io(path, e))?;
                f.set_len(offset).and_then(|_| f.sync_data()).map_err(|e| io(path, e))?;
                tracing::warn!(
                    "write-ahead log {}: truncated an unacknowledged torn tail at byte {offset} ({why})",
                    path.display()
                );
                truncated =
                    Some(Truncated { path: path.clone(), offset, bytes: bytes.len() as u64 - offset, why });
                last_len = offset;
            }
            all.extend(records);
        }
        for w in all.windows(2) {
            if w[1].seq != w[0].seq + 1 {
                return Err(WalError::Gap { expected_after: w[0].seq, found: w[1].seq });
            }
        }
        let (covered, replay): (Vec<Record>, Vec<Record>) = all.iter().cloned().partition(|r| r.seq <= after);
        if let Some(r) = replay.first()
            && r.seq != after + 1
        {
            return Err(WalError::Gap { expected_after: after, found: r.seq });
        }
        let last = all.last().map_or(0, |r| r.seq).max(after);
        if let Some((first, _)) = segs.last()
            && *first > last + 1
        {
            return Err(WalError::Gap { expected_after: last, found: *first });
        }
        let (first_seq, path) = match segs.last() {
            // A newest segment without records must be named for the next batch,
            // or the next open would refuse the batches appended to it (fuzzing:
            // an empty `wal-1.log` under a snapshot through batch 1).
            Some((first, path)) if newest_empty && *first != last + 1 => {
                let fixed = dir.join(segment_name(last + 1));
                fs::rename(path, &fixed).map_err(|e| io(path, e))?;
                sync_dir(dir)?;
                (last + 1, fixed)
            }
            Some((first, path)) => (*first, path.clone()),
            None => {
                let path = dir.join(segment_name(after + 1));
                Self::create_segment(dir, &path)?;
                last_len = MAGIC.len() as u64;
                (after + 1, path)
            }
        };
        let file = OpenOptions::new().append(true).open(&path).map_err(|e| io(&path, e))?;
        let mut wal = Wal {
            dir: dir.to_path_buf(),
            path,
            file,
            first_seq,
            next_seq: last + 1,
            bytes: last_len,
            dirty: false,
            #[cfg(test)]
            faults: Faults::default(),
        };
        if all.last().is_some_and(|r| r.seq < after) {
            // The snapshot is newer than every record (a save whose rotation did not
            // happen): appends must not follow the old records with a gap.
            wal.rotate(after)?;
        }
        Ok(Opened { wal, replay, covered, truncated })
    }

    fn create_segment(dir: &Path, path: &Path) -> Result<(), WalError> {
        let mut f = OpenOptions::new().write(true).create_new(true).open(path).map_err(|e| io(path, e))?;
        if let Err(e) = f.write_all(MAGIC).and_then(|_| f.sync_all()) {
            // No half-made newest segment may outlive a failed rotation: appends go
            // on in the current one, and a restart must not take this one as newest.
            drop(f);
            let _ = fs::remove_file(path);
            return Err(io(path, e));
        }
        sync_dir(dir)
    }

    /// Append batch `seq` (must be the next one) and flush it to disk. On failure
    /// nothing of the record stays in the log: a partly written or unflushed record
    /// is cut off again (and, if even that fails, before the next append), so the
    /// log holds exactly the batches appended with `Ok`, and once the disk has room
    /// again appends succeed without reopening.
    pub fn append(&mut self, seq: u64, payload: &[u8]) -> Result<(), WalError> {
        self.repair()?;
        if seq != self.next_seq {
            return Err(WalError::Sequence { expected: self.next_seq, got: seq });
        }
        if payload.len() > MAX_RECORD {
            return Err(WalError::TooLarge(payload.len()));
        }
        let rec = encode(seq, payload);
        if let Err(e) = self.write_and_flush(&rec) {
            self.dirty = true;
            if let Err(t) = self.repair() {
                tracing::error!("{t}; retried before the next append");
            }
            return Err(io(&self.path, e));
        }
        self.bytes += rec.len() as u64;
        self.next_seq += 1;
        Ok(())
    }

    fn write_and_flush(&mut self, rec: &[u8]) -> std::io::Result<()> {
        #[cfg(test)]
        if take(&mut self.faults.write) {
            self.file.write_all(&rec[..rec.len() / 2])?;
            return Err(std::io::Error::from_raw_os_error(libc::ENOSPC));
        }
        self.file.write_all(rec)?;
        #[cfg(test)]
        if take(&mut self.faults.sync) {
            return Err(std::io::Error::from_raw_os_error(libc::EIO));
        }
        self.file.sync_data()
    }

    /// Cut the segment back to its last durable record, if a failure left more.
    fn repair(&mut self) -> Result<(), WalError> {
        if !self.dirty {
            return Ok(());
        }
        match self.cut() {
            Ok(()) => {
                self.dirty = false;
                Ok(())
            }
            Err(e) => {
                // Cannot cut: zero the bytes in place instead (no new blocks needed),
                // which [`Wal::open`] reads as a torn tail and drops, so a restart
                // before the cut succeeds does not replay the record either.
                if let Err(z) = self.scrub() {
                    tracing::error!(
                        "write-ahead log {}: neither cut nor zeroed an unflushed record ({e}; {z}); \
                         a restart now would replay a batch that was not acknowledged",
                        self.path.display()
                    );
                }
                Err(io(&self.path, e))
            }
        }
    }

    /// Truncate the segment to its last durable record, and flush.
    fn cut(&mut self) -> std::io::Result<()> {
        #[cfg(test)]
        if take(&mut self.faults.truncate) {
            return Err(std::io::Error::from_raw_os_error(libc::EIO));
        }
        self.file.set_len(self.bytes).and_then(|_| self.file.sync_data())
    }

    /// Overwrite everything past the last durable record with zeros, and flush.
    fn scrub(&mut self) -> std::io::Result<()> {
        use std::os::unix::fs::FileExt;
        #[cfg(test)]
        if take(&mut self.faults.scrub) {
            return Err(std::io::Error::from_raw_os_error(libc::EIO));
        }
        // A handle without O_APPEND: there, Linux's pwrite would append.
        let f = OpenOptions::new().write(true).open(&self.path)?;
        let len = f.metadata()?.len();
        if len > self.bytes {
            f.write_all_at(&vec![0u8; (len - self.bytes) as usize], self.bytes)?;
        }
        f.sync_data()
    }

    /// Remove batch `seq`, the last one appended (its application failed, so it
    /// must not be replayed). If the cut fails it is retried before the next append.
    pub fn remove_last(&mut self, seq: u64, payload_len: usize) -> Result<(), WalError> {
        if seq + 1 != self.next_seq || self.bytes < (RECORD_HEADER + payload_len) as u64 + MAGIC.len() as u64
        {
            return Err(WalError::Sequence { expected: self.next_seq - 1, got: seq });
        }
        self.bytes -= (RECORD_HEADER + payload_len) as u64;
        self.next_seq -= 1;
        self.dirty = true;
        self.repair()
    }

    /// Whether a failed append left bytes that are not yet cut off.
    pub fn is_dirty(&self) -> bool {
        self.dirty
    }

    /// After a snapshot holding batches `1..=through`: start segment `through + 1`
    /// and delete the older segments (their records are all in the snapshot).
    pub fn rotate(&mut self, through: u64) -> Result<(), WalError> {
        self.repair()?;
        if through + 1 != self.next_seq {
            return Err(WalError::Sequence { expected: self.next_seq, got: through + 1 });
        }
        if self.first_seq != self.next_seq {
            let path = self.dir.join(segment_name(self.next_seq));
            Self::create_segment(&self.dir, &path)?;
            self.file = OpenOptions::new().append(true).open(&path).map_err(|e| io(&path, e))?;
            self.path = path;
            self.first_seq = self.next_seq;
            self.bytes = MAGIC.len() as u64;
        }
        for (first, path) in segments(&self.dir)? {
            if first < self.first_seq {
                fs::remove_file(&path).map_err(|e| io(&path, e))?;
            }
        }
        sync_dir(&self.dir)
    }

    /// The sequence number the next append must carry.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// The segment appended to.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Bytes in the current segment.
    pub fn segment_bytes(&self) -> u64 {
        self.bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payload(seq: u64) -> Vec<u8> {
        format!("[{{\"src\":\"a\",\"dst\":\"b{seq}\",\"t\":{seq}.5}}]").into_bytes()
    }

    fn write(dir: &Path, after: u64, seqs: std::ops::RangeInclusive<u64>) -> Wal {
        let mut wal = Wal::open(dir, after).unwrap().wal;
        for s in seqs {
            wal.append(s, &payload(s)).unwrap();
        }
        wal
    }

    fn only_segment(dir: &Path) -> PathBuf {
        let segs = segments(dir).unwrap();
        assert_eq!(segs.len(), 1);
        segs[0].1.clone()
    }

    #[test]
    fn round_trip_and_replay_after_a_snapshot() {
        let tmp = tempfile::tempdir().unwrap();
        let wal = write(tmp.path(), 0, 1..=5);
        assert_eq!(wal.next_seq(), 6);
        drop(wal);
        let o = Wal::open(tmp.path(), 0).unwrap();
        assert!(o.truncated.is_none());
        let want: Vec<Record> = (1..=5).map(|s| Record { seq: s, payload: payload(s) }).collect();
        assert_eq!(o.replay, want);
        assert_eq!(o.wal.next_seq(), 6);
        drop(o);
        // A snapshot already holds batches 1..=3: only 4 and 5 are replayed.
        let o = Wal::open(tmp.path(), 3).unwrap();
        assert_eq!(o.replay, want[3..].to_vec());
        assert_eq!(o.covered, want[..3].to_vec());
        // A snapshot newer than the log (its segment was rotated away) replays nothing.
        let mut o = Wal::open(tmp.path(), 7).unwrap();
        assert!(o.replay.is_empty());
        assert_eq!(o.wal.next_seq(), 8);
        o.wal.append(8, &payload(8)).unwrap();
        drop(o);
        let o = Wal::open(tmp.path(), 7).unwrap();
        assert_eq!(o.replay, vec![Record { seq: 8, payload: payload(8) }]);
        assert_eq!(segments(tmp.path()).unwrap().len(), 1);
    }

    #[test]
    fn torn_tail_is_truncated_and_appends_continue() {
        let tmp = tempfile::tempdir().unwrap();
        drop(write(tmp.path(), 0, 1..=3));
        let path = only_segment(tmp.path());
        let full = fs::read(&path).unwrap();
        let cut = full.len() - 5;
        // Every possible cut inside the last record, and a zero-filled tail.
        let third = full.len() - encode(3, &payload(3)).len();
        for end in [third + 1, third + RECORD_HEADER - 1, third + RECORD_HEADER + 2, cut] {
            fs::write(&path, &full[..end]).unwrap();
            let o = Wal::open(tmp.path(), 0).unwrap();
            assert_eq!(o.replay.len(), 2, "cut at {end}");
            let t = o.truncated.unwrap();
            assert_eq!(t.offset, third as u64);
            assert_eq!(fs::metadata(&path).unwrap().len(), third as u64);
        }
        let mut zeroed = full.clone();
        zeroed[third + RECORD_HEADER..].fill(0);
        zeroed.extend_from_slice(&[0; 100]);
        fs::write(&path, &zeroed).unwrap();
        let mut o = Wal::open(tmp.path(), 0).unwrap();
        assert_eq!(o.replay.len(), 2);
        assert!(o.truncated.as_ref().unwrap().why.contains("checksum"));
        // The lost batch was never acknowledged: its number is written again.
        o.wal.append(3, &payload(33)).unwrap();
        drop(o);
        let o = Wal::open(tmp.path(), 0).unwrap();
        assert_eq!(o.replay.last().unwrap(), &Record { seq: 3, payload: payload(33) });
        assert!(o.truncated.is_none());
    }

    #[test]
    fn corruption_before_the_tail_is_an_error() {
        let tmp = tempfile::tempdir().unwrap();
        drop(write(tmp.path(), 0, 1..=3));
        let path = only_segment(tmp.path());
        let mut bytes = fs::read(&path).unwrap();
        let len = bytes.len();
        // Flip a payload byte of batch 2 (the middle record).
        let second = MAGIC.len() + encode(1, &payload(1)).len();
        bytes[second + RECORD_HEADER + 3] ^= 1;
        fs::write(&path, &bytes).unwrap();
        let err = Wal::open(tmp.path(), 0).unwrap_err();
        assert!(matches!(err, WalError::Corrupt { offset, .. } if offset == second as u64), "{err}");
        assert_eq!(fs::metadata(&path).unwrap().len(), len as u64, "nothing truncated");
        // A bad magic is refused too.
        bytes[0] = b'X';
        fs::write(&path, &bytes).unwrap();
        assert!(matches!(Wal::open(tmp.path(), 0).unwrap_err(), WalError::Format { .. }));
    }

    #[test]
    fn sequence_numbers_are_consecutive() {
        let tmp = tempfile::tempdir().unwrap();
        let mut wal = write(tmp.path(), 0, 1..=2);
        assert!(matches!(wal.append(4, b"[]"), Err(WalError::Sequence { expected: 3, got: 4 })));
        assert!(matches!(wal.append(2, b"[]"), Err(WalError::Sequence { expected: 3, got: 2 })));
        wal.append(3, b"[]").unwrap();
        drop(wal);
        // A log starting after the snapshot's next batch is missing batches.
        let tmp2 = tempfile::tempdir().unwrap();
        drop(write(tmp2.path(), 4, 5..=6));
        assert!(matches!(Wal::open(tmp2.path(), 2), Err(WalError::Gap { expected_after: 2, found: 5 })));
        assert_eq!(Wal::open(tmp2.path(), 4).unwrap().replay.len(), 2);
        // A hand-made gap inside the log.
        let path = only_segment(tmp.path());
        let mut bytes = MAGIC.to_vec();
        bytes.extend(encode(1, b"a"));
        bytes.extend(encode(3, b"c"));
        fs::write(&path, &bytes).unwrap();
        assert!(matches!(Wal::open(tmp.path(), 0), Err(WalError::Gap { expected_after: 1, found: 3 })));
    }

    #[test]
    fn failed_appends_leave_nothing_and_the_log_recovers_in_place() {
        let tmp = tempfile::tempdir().unwrap();
        let mut wal = write(tmp.path(), 0, 1..=2);
        let len = wal.segment_bytes();
        let path = only_segment(tmp.path());
        // A full disk mid-record, then a failed flush: both cut off at once.
        wal.faults.write = 1;
        assert!(wal.append(3, &payload(3)).is_err());
        wal.faults.sync = 1;
        assert!(wal.append(3, &payload(3)).is_err());
        assert_eq!((fs::metadata(&path).unwrap().len(), wal.next_seq(), wal.is_dirty()), (len, 3, false));
        // The cut fails too: the bytes stay, zeroed, until the next append, which
        // cuts first, and fails again while the disk still refuses; a reader in
        // between drops the zeroed tail.
        wal.faults = Faults { sync: 1, truncate: 2, ..Faults::default() };
        assert!(wal.append(3, &payload(3)).is_err());
        assert!(wal.is_dirty() && fs::metadata(&path).unwrap().len() > len);
        assert!(fs::read(&path).unwrap()[len as usize..].iter().all(|&b| b == 0), "zeroed in place");
        let o = Wal::open(tmp.path(), 0).unwrap();
        assert_eq!((o.replay.len(), o.truncated.is_some()), (2, true));
        drop(o);
        assert!(wal.append(3, &payload(3)).is_err(), "cannot append over an unremoved record");
        // Space freed: the same handle appends again.
        wal.append(3, &payload(33)).unwrap();
        wal.append(4, &payload(4)).unwrap();
        // A batch whose application failed is removed again.
        wal.remove_last(4, payload(4).len()).unwrap();
        assert_eq!(wal.next_seq(), 4);
        drop(wal);
        let o = Wal::open(tmp.path(), 0).unwrap();
        assert!(o.truncated.is_none());
        let seqs: Vec<(u64, Vec<u8>)> = o.replay.into_iter().map(|r| (r.seq, r.payload)).collect();
        assert_eq!(seqs, vec![(1, payload(1)), (2, payload(2)), (3, payload(33))]);
    }

    #[test]
    fn rotation_keeps_only_records_after_the_snapshot() {
        let tmp = tempfile::tempdir().unwrap();
        let mut wal = write(tmp.path(), 0, 1..=4);
        assert!(wal.rotate(3).is_err(), "a snapshot must cover every logged batch");
        wal.rotate(4).unwrap();
        wal.rotate(4).unwrap(); // nothing new: no empty segment pile-up
        wal.append(5, &payload(5)).unwrap();
        drop(wal);
        let segs = segments(tmp.path()).unwrap();
        assert_eq!(segs.iter().map(|s| s.0).collect::<Vec<_>>(), vec![5]);
        let o = Wal::open(tmp.path(), 4).unwrap();
        assert_eq!(o.replay, vec![Record { seq: 5, payload: payload(5) }]);
        // A crash between creating the new segment and deleting the old: both kept,
        // the old records are skipped as covered by the snapshot.
        let tmp = tempfile::tempdir().unwrap();
        drop(write(tmp.path(), 0, 1..=2));
        let mut next = MAGIC.to_vec();
        next.extend(encode(3, &payload(3)));
        fs::write(tmp.path().join(segment_name(3)), &next).unwrap();
        let o = Wal::open(tmp.path(), 2).unwrap();
        assert_eq!(o.replay, vec![Record { seq: 3, payload: payload(3) }]);
        assert_eq!(o.wal.next_seq(), 4);
        // A torn header of a just-created newest segment is rewritten.
        let tmp = tempfile::tempdir().unwrap();
        drop(write(tmp.path(), 0, 1..=2));
        fs::write(tmp.path().join(segment_name(3)), &MAGIC[..3]).unwrap();
        let mut o = Wal::open(tmp.path(), 2).unwrap();
        assert!(o.replay.is_empty());
        o.wal.append(3, b"x").unwrap();
        drop(o);
        assert_eq!(Wal::open(tmp.path(), 2).unwrap().replay.len(), 1);
    }
}
