//! Sorted runs of events on disk and their k-way merge: the external sort behind
//! out-of-core ingest ([`crate::ingest::external`]).
//!
//! A run is one scratch file of fixed-size little-endian records
//! `t: f64, src: u32, dst: u32, feats: f32[d]` (`16 + 4 d` bytes), holding one chunk of
//! input rows sorted stably by time. Runs are numbered in input order, so merging them
//! by the key `(time, run, position in run)` is a stable sort of the whole input: equal
//! times keep input order, exactly as `EventLog::stable_sort_by_time` orders them.
//!
//! Time order is `f64::total_cmp` (what the in-memory sort uses), through
//! [`time_key`]. One subtlety keeps the output identical to the in-memory path: that
//! path sorts only when the input is not already non-decreasing under `<=`, and
//! `<=` treats `-0.0` and `0.0` as equal while `total_cmp` does not. So a chunk that is
//! `<=`-sorted is written in input order; if it is not also `total_cmp`-sorted it is
//! flagged and re-sorted only when the whole input turns out to need a sort.
//!
//! Memory: spilling a chunk needs a `u32` permutation (4 B per row) beside the chunk;
//! merging needs one read buffer per open run (`buf_bytes` each, at most `fan_in`
//! runs open; more runs are first merged in consecutive groups, which keeps the
//! order stable). Each run file is deleted as soon as it has been fully merged.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use rayon::prelude::*;

use crate::store::{NodeId, StoreError, Time};
use crate::util::faults::{Guarded, guard};

/// Maps `f64` to `i64` so that integer order is `f64::total_cmp` order.
#[inline]
pub fn time_key(t: f64) -> i64 {
    let b = t.to_bits() as i64;
    b ^ ((((b >> 63) as u64) >> 1) as i64)
}

/// One merged event as the merge hands it on; `feats` holds `4 d` little-endian bytes.
#[derive(Debug, Clone, Copy)]
pub struct Record<'a> {
    pub t: Time,
    pub src: NodeId,
    pub dst: NodeId,
    pub feats: &'a [u8],
}

impl<'a> Record<'a> {
    fn decode(rec: &'a [u8]) -> Self {
        let t = f64::from_le_bytes(rec[0..8].try_into().expect("8 bytes"));
        let src = u32::from_le_bytes(rec[8..12].try_into().expect("4 bytes"));
        let dst = u32::from_le_bytes(rec[12..16].try_into().expect("4 bytes"));
        Record { t, src, dst, feats: &rec[16..] }
    }
}

#[derive(Debug)]
struct Run {
    path: PathBuf,
    rows: u64,
    /// `<=`-sorted but not `total_cmp`-sorted (written in input order; see the module docs).
    resort: bool,
}

/// What the spill and the merge did.
#[derive(Debug, Clone, Default)]
pub struct RunStats {
    /// Runs written from input chunks.
    pub runs: u64,
    /// Runs written by intermediate merge passes.
    pub merged_runs: u64,
    /// Merge passes over the data (0 when the input was sorted and runs were concatenated).
    pub merge_passes: u32,
    /// Bytes written to run files, intermediate passes included.
    pub bytes_written: u64,
    /// Most bytes of run files on disk at once.
    pub peak_scratch_bytes: u64,
}

/// The sorted runs of one ingest, in input order, in a scratch directory.
#[derive(Debug)]
pub struct RunSpill {
    dir: PathBuf,
    feat_dim: usize,
    runs: Vec<Run>,
    next: u64,
    on_disk: u64,
    pub stats: RunStats,
}

/// Writes records to one run file.
struct RunWriter {
    path: PathBuf,
    out: BufWriter<Guarded<File>>,
    rows: u64,
}

impl RunWriter {
    fn create(path: PathBuf) -> Result<Self, StoreError> {
        let f = File::create(&path).map_err(|e| StoreError::io(&path, e))?;
        Ok(Self { out: BufWriter::with_capacity(1 << 20, guard(&path, f)), path, rows: 0 })
    }

    fn put(&mut self, rec: &[u8]) -> Result<(), StoreError> {
        self.rows += 1;
        self.out.write_all(rec).map_err(|e| StoreError::io(&self.path, e))
    }

    fn finish(self, resort: bool) -> Result<Run, StoreError> {
        let path = self.path;
        self.out.into_inner().map_err(|e| StoreError::io(&path, e.into_error()))?;
        Ok(Run { path, rows: self.rows, resort })
    }
}

/// Reads one run record by record.
struct RunReader {
    path: PathBuf,
    r: BufReader<File>,
    rec: Vec<u8>,
    left: u64,
}

impl RunReader {
    fn open(run: &Run, rec_len: usize, buf_bytes: usize) -> Result<Self, StoreError> {
        let f = File::open(&run.path).map_err(|e| StoreError::io(&run.path, e))?;
        Ok(Self {
            path: run.path.clone(),
            r: BufReader::with_capacity(buf_bytes.max(rec_len), f),
            rec: vec![0; rec_len],
            left: run.rows,
        })
    }

    /// Load the next record into `rec`; `false` at the end of the run.
    fn advance(&mut self) -> Result<bool, StoreError> {
        if self.left == 0 {
            return Ok(false);
        }
        self.left -= 1;
        self.r.read_exact(&mut self.rec).map_err(|e| StoreError::io(&self.path, e))?;
        Ok(true)
    }

    fn key(&self) -> i64 {
        time_key(f64::from_le_bytes(self.rec[0..8].try_into().expect("8 bytes")))
    }
}

fn remove(path: &Path) -> Result<(), StoreError> {
    std::fs::remove_file(path).map_err(|e| StoreError::io(path, e))
}

impl RunSpill {
    /// Runs go to `dir` (created if missing); records carry `feat_dim` features.
    pub fn new(dir: &Path, feat_dim: usize) -> Result<Self, StoreError> {
        std::fs::create_dir_all(dir).map_err(|e| StoreError::io(dir, e))?;
        Ok(Self {
            dir: dir.to_path_buf(),
            feat_dim,
            runs: Vec::new(),
            next: 0,
            on_disk: 0,
            stats: RunStats::default(),
        })
    }

    fn rec_len(&self) -> usize {
        16 + 4 * self.feat_dim
    }

    fn next_path(&mut self) -> PathBuf {
        self.next += 1;
        self.dir.join(format!("run-{:06}.bin", self.next))
    }

    fn grew(&mut self, bytes: u64) {
        self.on_disk += bytes;
        self.stats.bytes_written += bytes;
        self.stats.peak_scratch_bytes = self.stats.peak_scratch_bytes.max(self.on_disk);
    }

    pub fn num_runs(&self) -> usize {
        self.runs.len()
    }

    /// Sort one chunk of rows (columns in input order, `feats` row-major) stably by
    /// time and write it as the next run.
    pub fn spill(
        &mut self,
        src: &[NodeId],
        dst: &[NodeId],
        t: &[Time],
        feats: &[f32],
    ) -> Result<(), StoreError> {
        let n = t.len();
        if n == 0 {
            return Ok(());
        }
        let d = self.feat_dim;
        debug_assert!(src.len() == n && dst.len() == n && feats.len() == n * d);
        let le_sorted = t.windows(2).all(|w| w[0] <= w[1]);
        let total_sorted = le_sorted && t.windows(2).all(|w| time_key(w[0]) <= time_key(w[1]));
        let perm: Option<Vec<u32>> = (!le_sorted).then(|| {
            let mut p: Vec<u32> = (0..n as u32).collect();
            // (key, row) is a total order, so an unstable sort gives the stable result.
            p.par_sort_unstable_by_key(|&i| (time_key(t[i as usize]), i));
            p
        });
        let path = self.next_path();
        let mut w = RunWriter::create(path)?;
        let mut rec = vec![0u8; self.rec_len()];
        for k in 0..n {
            let i = perm.as_ref().map_or(k, |p| p[k] as usize);
            rec[0..8].copy_from_slice(&t[i].to_le_bytes());
            rec[8..12].copy_from_slice(&src[i].to_le_bytes());
            rec[12..16].copy_from_slice(&dst[i].to_le_bytes());
            rec[16..].copy_from_slice(bytemuck::cast_slice(&feats[i * d..(i + 1) * d]));
            w.put(&rec)?;
        }
        let run = w.finish(le_sorted && !total_sorted)?;
        self.grew(n as u64 * self.rec_len() as u64);
        self.stats.runs += 1;
        self.runs.push(run);
        Ok(())
    }

    /// Merge every run, in time order, into `sink`, deleting each run file once it has
    /// been read to its end. `input_sorted`: the whole input was non-decreasing under
    /// `<=` (no time descents), so the in-memory path would keep input order and the
    /// runs are simply concatenated. At most `fan_in` runs are open at once, each with
    /// a `buf_bytes` read buffer.
    pub fn merge(
        mut self,
        input_sorted: bool,
        fan_in: usize,
        buf_bytes: usize,
        sink: &mut dyn FnMut(Record<'_>) -> Result<(), StoreError>,
    ) -> Result<RunStats, StoreError> {
        let rec_len = self.rec_len();
        let runs = std::mem::take(&mut self.runs);
        if input_sorted {
            for run in runs {
                let mut r = RunReader::open(&run, rec_len, buf_bytes)?;
                while r.advance()? {
                    sink(Record::decode(&r.rec))?;
                }
                drop(r);
                remove(&run.path)?;
                self.on_disk -= run.rows * rec_len as u64;
            }
            return Ok(self.stats.clone());
        }
        let mut runs = runs.into_iter().map(|r| self.resort(r)).collect::<Result<Vec<_>, _>>()?;
        let fan_in = fan_in.max(2);
        while runs.len() > fan_in {
            self.stats.merge_passes += 1;
            let mut next = Vec::with_capacity(runs.len().div_ceil(fan_in));
            let mut it = runs.into_iter().peekable();
            while it.peek().is_some() {
                let group: Vec<Run> = it.by_ref().take(fan_in).collect();
                if group.len() == 1 {
                    next.extend(group);
                    continue;
                }
                let rows: u64 = group.iter().map(|r| r.rows).sum();
                let path = self.next_path();
                let mut w = RunWriter::create(path)?;
                self.grew(rows * rec_len as u64);
                self.merge_group(group, buf_bytes, &mut |rec| w.put(rec))?;
                next.push(w.finish(false)?);
                self.stats.merged_runs += 1;
            }
            runs = next;
        }
        self.stats.merge_passes += 1;
        self.merge_group(runs, buf_bytes, &mut |rec| sink(Record::decode(rec)))?;
        Ok(self.stats.clone())
    }

    /// A flagged run (see the module docs) re-sorted by `total_cmp`, stably.
    fn resort(&mut self, run: Run) -> Result<Run, StoreError> {
        if !run.resort {
            return Ok(run);
        }
        let rec_len = self.rec_len();
        let bytes = std::fs::read(&run.path).map_err(|e| StoreError::io(&run.path, e))?;
        let key = |i: usize| {
            time_key(f64::from_le_bytes(bytes[i * rec_len..i * rec_len + 8].try_into().expect("8")))
        };
        let mut perm: Vec<u32> = (0..run.rows as u32).collect();
        perm.sort_by_key(|&i| (key(i as usize), i));
        let mut w = RunWriter::create(run.path.clone())?;
        for &i in &perm {
            w.put(&bytes[i as usize * rec_len..(i as usize + 1) * rec_len])?;
        }
        w.finish(false)
    }

    /// k-way merge of consecutive runs by (time key, run index); deletes each run
    /// as soon as it is exhausted.
    fn merge_group(
        &mut self,
        group: Vec<Run>,
        buf_bytes: usize,
        out: &mut dyn FnMut(&[u8]) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let rec_len = self.rec_len();
        let mut readers = Vec::with_capacity(group.len());
        let mut heap = BinaryHeap::with_capacity(group.len());
        for (k, run) in group.iter().enumerate() {
            let mut r = RunReader::open(run, rec_len, buf_bytes)?;
            if r.advance()? {
                heap.push(Reverse((r.key(), k)));
            }
            readers.push(Some(r));
        }
        for (k, run) in group.iter().enumerate() {
            if run.rows == 0 {
                readers[k] = None;
                remove(&run.path)?;
            }
        }
        while let Some(Reverse((_, k))) = heap.pop() {
            let r = readers[k].as_mut().expect("a run in the heap is open");
            out(&r.rec)?;
            if r.advance()? {
                heap.push(Reverse((r.key(), k)));
            } else {
                readers[k] = None;
                remove(&group[k].path)?;
                self.on_disk -= group[k].rows * rec_len as u64;
            }
        }
        Ok(())
    }
}

impl Drop for RunSpill {
    /// Runs left behind by an error are removed (the scratch directory's owner also
    /// removes the directory).
    fn drop(&mut self) {
        for r in &self.runs {
            let _ = std::fs::remove_file(&r.path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(spill: RunSpill, sorted: bool, fan_in: usize) -> Vec<(f64, u32, u32, f32)> {
        let mut out = Vec::new();
        spill
            .merge(sorted, fan_in, 64, &mut |r| {
                out.push((r.t, r.src, r.dst, f32::from_le_bytes(r.feats.try_into().unwrap())));
                Ok(())
            })
            .unwrap();
        out
    }

    #[test]
    fn merge_is_a_stable_sort_and_deletes_runs() {
        let dir = tempfile::tempdir().unwrap();
        let t: Vec<f64> = vec![3.0, 1.0, 2.0, 1.0, 0.0, 3.0, -0.0, 2.0, 1.0, 5.0];
        let n = t.len();
        let src: Vec<u32> = (0..n as u32).collect();
        let feats: Vec<f32> = (0..n).map(|i| i as f32).collect();
        for fan_in in [2, 3, 100] {
            let mut s = RunSpill::new(dir.path(), 1).unwrap();
            for c in (0..n).step_by(3) {
                let e = (c + 3).min(n);
                s.spill(&src[c..e], &src[c..e], &t[c..e], &feats[c..e]).unwrap();
            }
            assert_eq!(s.stats.runs, 4);
            let got = collect(s, false, fan_in);
            let mut perm: Vec<usize> = (0..n).collect();
            perm.sort_by(|&a, &b| t[a].total_cmp(&t[b]));
            let want: Vec<_> = perm.iter().map(|&i| (t[i], i as u32, i as u32, i as f32)).collect();
            assert_eq!(got.len(), n);
            for (g, w) in got.iter().zip(&want) {
                assert_eq!((g.0.to_bits(), g.1, g.3), (w.0.to_bits(), w.1, w.3));
            }
            assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "runs left behind");
        }
    }

    #[test]
    fn sorted_input_keeps_input_order_of_signed_zeros() {
        let dir = tempfile::tempdir().unwrap();
        let t = [0.0, -0.0, 0.0, 1.0];
        let ids: Vec<u32> = (0..4).collect();
        let f = [0.0f32; 4];
        let mut s = RunSpill::new(dir.path(), 1).unwrap();
        s.spill(&ids[..2], &ids[..2], &t[..2], &f[..2]).unwrap();
        s.spill(&ids[2..], &ids[2..], &t[2..], &f[2..]).unwrap();
        let got: Vec<u32> = collect(s, true, 2).iter().map(|r| r.1).collect();
        assert_eq!(got, vec![0, 1, 2, 3]);
        // Unsorted overall: the flagged run is re-sorted by total_cmp (-0 first).
        let mut s = RunSpill::new(dir.path(), 1).unwrap();
        s.spill(&ids[..2], &ids[..2], &t[..2], &f[..2]).unwrap();
        s.spill(&ids[2..], &ids[2..], &[0.0, -1.0], &f[2..]).unwrap();
        let got: Vec<u32> = collect(s, false, 2).iter().map(|r| r.1).collect();
        assert_eq!(got, vec![3, 1, 0, 2]);
    }
}
