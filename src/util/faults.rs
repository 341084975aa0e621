//! A full disk, planned by a test: every writer of a lasting output (graph
//! directories, checkpoints, live states, manifests, query and result files) writes
//! through [`guard`], and files written by code we cannot wrap (libtorch's
//! safetensors writer, `fs::copy`) are charged afterwards with [`written`].
//!
//! In a normal build both are pass-throughs and cost nothing. Under `cfg(test)` a
//! test plans a disk with [`FullDisk::with_budget`]: a directory root and a number
//! of bytes. Writes under that root draw from the budget; the write that crosses it
//! writes what still fits and then fails with `ENOSPC`, as a real full disk does (a
//! short write, then the error). [`FullDisk::counting`] measures an operation
//! first: its total bytes and where each file starts, so a test can fail it at
//! every file boundary and inside every file. Plans are keyed by path, so tests
//! running in parallel under different temporary directories do not meet.

use std::io::{self, Write};
use std::path::Path;

/// A writer whose bytes count against a planned full disk (tests only).
pub struct Guarded<W> {
    inner: W,
    #[cfg(test)]
    path: std::path::PathBuf,
}

/// Wrap the writer of the file at `path`.
pub fn guard<W: Write>(path: &Path, inner: W) -> Guarded<W> {
    #[cfg(test)]
    plan::start(path);
    #[cfg(not(test))]
    let _ = path;
    Guarded {
        inner,
        #[cfg(test)]
        path: path.to_path_buf(),
    }
}

impl<W> Guarded<W> {
    pub fn into_inner(self) -> W {
        self.inner
    }

    pub fn get_ref(&self) -> &W {
        &self.inner
    }
}

impl<W: Write> Write for Guarded<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        #[cfg(test)]
        let buf = &buf[..plan::charge(&self.path, buf.len() as u64)?];
        self.inner.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Charge a file that was written whole by someone else's writer. Past the budget
/// it is cut to what fits and the call fails with `ENOSPC`.
pub fn written(path: &Path) -> io::Result<()> {
    #[cfg(test)]
    {
        plan::start(path);
        let len = std::fs::metadata(path)?.len();
        let mut left = len;
        while left > 0 {
            match plan::charge(path, left) {
                Ok(n) if n as u64 == left => return Ok(()),
                Ok(n) => left -= n as u64,
                Err(e) => {
                    std::fs::OpenOptions::new().write(true).open(path)?.set_len(len - left)?;
                    return Err(e);
                }
            }
        }
    }
    #[cfg(not(test))]
    let _ = path;
    Ok(())
}

#[cfg(test)]
pub use plan::FullDisk;

/// Every file under `root` and its bytes (directories as empty entries), to compare
/// a tree before and after a failed operation.
#[cfg(test)]
pub fn tree(root: &Path) -> std::collections::BTreeMap<std::path::PathBuf, Option<Vec<u8>>> {
    fn walk(
        root: &Path,
        dir: &Path,
        out: &mut std::collections::BTreeMap<std::path::PathBuf, Option<Vec<u8>>>,
    ) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            let rel = p.strip_prefix(root).unwrap().to_path_buf();
            if p.is_dir() {
                out.insert(rel, None);
                walk(root, &p, out);
            } else {
                out.insert(rel, Some(std::fs::read(&p).unwrap()));
            }
        }
    }
    let mut out = std::collections::BTreeMap::new();
    walk(root, root, &mut out);
    out
}

/// Put `root` back to `saved` (a [`tree`]): files and directories not in it are
/// removed, the others rewritten.
#[cfg(test)]
pub fn restore(root: &Path, saved: &std::collections::BTreeMap<std::path::PathBuf, Option<Vec<u8>>>) {
    for (rel, _) in tree(root).iter().rev() {
        if !saved.contains_key(rel) {
            let p = root.join(rel);
            if p.is_dir() { std::fs::remove_dir_all(&p).unwrap() } else { std::fs::remove_file(&p).unwrap() }
        }
    }
    for (rel, bytes) in saved {
        match bytes {
            None => std::fs::create_dir_all(root.join(rel)).unwrap(),
            Some(b) => std::fs::write(root.join(rel), b).unwrap(),
        }
    }
}

/// The whole chain of an error's messages.
#[cfg(test)]
pub fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

/// What [`sweep`] tried.
#[cfg(test)]
#[derive(Debug)]
pub struct Swept {
    /// Bytes the clean operation wrote, and the files it opened.
    pub bytes: u64,
    pub files: usize,
    /// Budgets it was failed at.
    pub cases: usize,
}

/// Run `op` (which writes under `root`) cleanly once to measure it, then once per
/// [`FullDisk::failure_points`] budget from the same starting tree: each must fail
/// with an error that says the disk is full and names a file under `root`, and
/// leave `root` byte for byte as it was (previous output intact, no temporary
/// files left). `op` must be repeatable from the starting tree; it returns its
/// error's whole message ([`chain`]). Afterwards the clean run is repeated, from
/// the starting tree, and must write the same tree as the first (the same files;
/// the same bytes except in files named in `volatile`, such as reports with
/// timings).
#[cfg(test)]
pub fn sweep(root: &Path, volatile: &[&str], op: &mut dyn FnMut() -> Result<(), String>) -> Swept {
    let before = tree(root);
    let disk = FullDisk::counting(root);
    op().unwrap_or_else(|e| panic!("the clean run failed: {e}"));
    let (mut points, bytes, starts) = (disk.failure_points(), disk.used(), disk.starts());
    drop(disk);
    // A volatile file's length can change between runs, moving every later byte:
    // points past its middle are not reproducible.
    let name = |p: &Path| p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    if let Some(i) = starts.iter().position(|(_, p)| volatile.contains(&name(p).as_str())) {
        let end = starts.get(i + 1).map_or(bytes, |s| s.0);
        let mid = starts[i].0 + (end - starts[i].0) / 2;
        points.retain(|&b| b <= mid);
    }
    let files = starts.len();
    if std::env::var_os("LINKCAST_SWEEP_DEBUG").is_some() {
        for (b, p) in &starts {
            eprintln!("{b:>10} {}", p.display());
        }
    }
    assert!(bytes > 0, "nothing under {} was written through the guard", root.display());
    let clean = tree(root);
    restore(root, &before);
    let root_name = root.canonicalize().unwrap();
    for &b in &points {
        let disk = FullDisk::with_budget(root, b);
        let e = match op() {
            Ok(()) => panic!("budget {b} of {bytes}: the operation succeeded on a full disk"),
            Err(e) => e,
        };
        drop(disk);
        assert!(e.contains("No space left on device"), "budget {b}: the error hides the cause: {e}");
        let named = e.contains(&*root.to_string_lossy()) || e.contains(&*root_name.to_string_lossy());
        assert!(named, "budget {b}: the error names no file: {e}");
        let now = tree(root);
        if now != before {
            let diff: Vec<_> = now
                .iter()
                .filter(|(k, v)| before.get(*k) != Some(*v))
                .map(|(k, _)| k.clone())
                .chain(before.keys().filter(|k| !now.contains_key(*k)).cloned())
                .collect();
            panic!("budget {b} of {bytes}: the tree changed: {diff:?} ({e})");
        }
    }
    restore(root, &before);
    op().unwrap_or_else(|e| panic!("after the disk had room again: {e}"));
    let again = tree(root);
    assert_eq!(again.keys().collect::<Vec<_>>(), clean.keys().collect::<Vec<_>>(), "another set of files");
    for (k, v) in &again {
        assert!(
            volatile.contains(&name(k).as_str()) || clean[k] == *v,
            "{} differs from the first run",
            k.display()
        );
    }
    Swept { bytes, files, cases: points.len() }
}

#[cfg(test)]
mod plan {
    use std::io;
    use std::path::{Path, PathBuf};
    use std::sync::Mutex;

    struct Disk {
        id: u64,
        root: PathBuf,
        budget: Option<u64>,
        used: u64,
        starts: Vec<(u64, PathBuf)>,
    }

    static DISKS: Mutex<Vec<Disk>> = Mutex::new(Vec::new());
    static NEXT: Mutex<u64> = Mutex::new(0);

    fn disks() -> std::sync::MutexGuard<'static, Vec<Disk>> {
        DISKS.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A planned disk under `root`; removed when dropped.
    pub struct FullDisk {
        id: u64,
    }

    impl FullDisk {
        /// Nothing fails; bytes and file starts are counted.
        pub fn counting(root: &Path) -> FullDisk {
            Self::plan(root, None)
        }

        /// Writes fail once `bytes` have been written under `root`.
        pub fn with_budget(root: &Path, bytes: u64) -> FullDisk {
            Self::plan(root, Some(bytes))
        }

        fn plan(root: &Path, budget: Option<u64>) -> FullDisk {
            let id = {
                let mut n = NEXT.lock().unwrap_or_else(|e| e.into_inner());
                *n += 1;
                *n
            };
            let root = root.canonicalize().unwrap_or_else(|_| root.to_path_buf());
            disks().push(Disk { id, root, budget, used: 0, starts: Vec::new() });
            FullDisk { id }
        }

        fn with<T>(&self, f: impl FnOnce(&Disk) -> T) -> T {
            f(disks().iter().find(|d| d.id == self.id).expect("planned disk"))
        }

        /// Bytes written so far.
        pub fn used(&self) -> u64 {
            self.with(|d| d.used)
        }

        /// For every file opened so far: the bytes written before it, and its path.
        pub fn starts(&self) -> Vec<(u64, PathBuf)> {
            self.with(|d| d.starts.clone())
        }

        /// Budgets that fail an operation that wrote `used()` bytes in `starts()`
        /// at every point that matters: nothing written; just before, at and just
        /// after each file's first byte; the middle of each file; the last byte.
        pub fn failure_points(&self) -> Vec<u64> {
            let (used, starts) = self.with(|d| (d.used, d.starts.clone()));
            let mut marks: Vec<u64> = starts.iter().map(|s| s.0).collect();
            marks.push(used);
            let mut v = vec![0];
            for w in marks.windows(2) {
                let (a, b) = (w[0], w[1]);
                v.extend([a.saturating_sub(1), a, a + 1, a + (b - a) / 2]);
            }
            v.push(used.saturating_sub(1));
            v.retain(|&b| b < used);
            v.sort_unstable();
            v.dedup();
            v
        }
    }

    impl Drop for FullDisk {
        fn drop(&mut self) {
            disks().retain(|d| d.id != self.id);
        }
    }

    fn absolute(path: &Path) -> PathBuf {
        // The file may not exist yet: canonicalize its directory.
        match (path.parent(), path.file_name()) {
            (Some(p), Some(n)) => p.canonicalize().map(|p| p.join(n)).unwrap_or_else(|_| path.to_path_buf()),
            _ => path.to_path_buf(),
        }
    }

    pub(super) fn start(path: &Path) {
        let path = absolute(path);
        for d in disks().iter_mut().filter(|d| path.starts_with(&d.root)) {
            d.starts.push((d.used, path.clone()));
        }
    }

    /// How many of `n` bytes fit; `ENOSPC` when none do.
    pub(super) fn charge(path: &Path, n: u64) -> io::Result<usize> {
        let path = absolute(path);
        let mut room = n;
        for d in disks().iter_mut().filter(|d| path.starts_with(&d.root)) {
            if let Some(b) = d.budget {
                room = room.min(b.saturating_sub(d.used));
            }
        }
        if room == 0 && n > 0 {
            return Err(io::Error::from_raw_os_error(libc::ENOSPC));
        }
        for d in disks().iter_mut().filter(|d| path.starts_with(&d.root)) {
            d.used += room;
        }
        Ok(room as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_planned_disk_fills_with_a_short_write_then_enospc() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a");
        let disk = FullDisk::with_budget(dir.path(), 10);
        let mut w = guard(&p, std::fs::File::create(&p).unwrap());
        assert_eq!(w.write(&[1u8; 6]).unwrap(), 6);
        assert_eq!(w.write(&[2u8; 6]).unwrap(), 4, "a short write first");
        let e = w.write(&[3u8; 6]).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::ENOSPC));
        drop(w);
        assert_eq!(std::fs::read(&p).unwrap().len(), 10);
        assert_eq!(disk.used(), 10);
        // write_all turns the short write into the error, as on a real disk.
        let q = dir.path().join("b");
        let e = guard(&q, std::fs::File::create(&q).unwrap()).write_all(b"x").unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::ENOSPC));
        // Outside the planned root nothing is charged.
        let other = tempfile::tempdir().unwrap();
        let r = other.path().join("c");
        guard(&r, std::fs::File::create(&r).unwrap()).write_all(&[0u8; 100]).unwrap();
        drop(disk);
        guard(&q, std::fs::File::create(&q).unwrap()).write_all(b"now it fits").unwrap();
    }

    #[test]
    fn files_written_elsewhere_are_charged_and_cut() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("t");
        let disk = FullDisk::with_budget(dir.path(), 7);
        std::fs::write(&p, [9u8; 20]).unwrap();
        assert_eq!(written(&p).unwrap_err().raw_os_error(), Some(libc::ENOSPC));
        assert_eq!(std::fs::read(&p).unwrap(), vec![9u8; 7]);
        drop(disk);
        let disk = FullDisk::counting(dir.path());
        written(&p).unwrap();
        let q = dir.path().join("u");
        guard(&q, std::fs::File::create(&q).unwrap()).write_all(&[0u8; 5]).unwrap();
        assert_eq!(disk.used(), 12);
        assert_eq!(disk.starts().iter().map(|s| s.0).collect::<Vec<_>>(), vec![0, 7]);
        assert_eq!(disk.failure_points(), vec![0, 1, 3, 6, 7, 8, 9, 11]);
    }
}
