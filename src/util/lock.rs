//! Advisory locks for writers: one `flock(2)` per lock file, taken without
//! waiting, so a second writer is refused at once with who holds the lock, while
//! readers (which never lock) are unaffected. The kernel drops the lock when the
//! holder's file is closed, so a writer that crashes or is killed releases it.
//!
//! The lock file sits beside what it guards (`STATE.lock` for a live state
//! directory, which is swapped by renames) or inside it (`compact.lock` in a graph
//! directory) and is never deleted: removing it could let two writers hold locks
//! on two different files of one name. It holds the holder's pid and role, for the
//! message the next writer gets.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error(
        "{what} is in use by another writer ({holder}; lock {path}); wait for it to finish or stop it \
         (readers such as score and recommend need no lock)"
    )]
    Held { what: String, holder: String, path: PathBuf },
    #[error("lock {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// An exclusive lock, held until dropped.
#[derive(Debug)]
pub struct Lock {
    _file: File,
    path: PathBuf,
}

impl Lock {
    /// Take the exclusive lock on `path` (created if absent) or fail at once.
    /// `what` names the guarded thing in the error; `role` is recorded for the
    /// next writer's message (e.g. "linkcast serve").
    pub fn exclusive(path: &Path, what: &str, role: &str) -> Result<Lock, LockError> {
        let io = |source| LockError::Io { path: path.to_path_buf(), source };
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(io)?;
        }
        let mut file =
            OpenOptions::new().read(true).write(true).create(true).truncate(false).open(path).map_err(io)?;
        // SAFETY: flock on a descriptor this function owns; no memory is involved.
        let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        if rc != 0 {
            let e = std::io::Error::last_os_error();
            if e.raw_os_error() != Some(libc::EWOULDBLOCK) {
                return Err(io(e));
            }
            let mut holder = String::new();
            let _ = file.read_to_string(&mut holder);
            let holder = match holder.trim() {
                "" => "holder unknown".to_string(),
                h => h.to_string(),
            };
            return Err(LockError::Held { what: what.into(), holder, path: path.to_path_buf() });
        }
        let note = format!("pid {}, {role}\n", std::process::id());
        file.set_len(0)
            .and_then(|_| file.rewind())
            .and_then(|_| file.write_all(note.as_bytes()))
            .map_err(io)?;
        Ok(Lock { _file: file, path: path.to_path_buf() })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// `DIR.lock`, the lock file beside `dir`.
pub fn beside(dir: &Path) -> PathBuf {
    let mut s = dir.as_os_str().to_owned();
    s.push(".lock");
    PathBuf::from(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_writer_is_refused_until_the_first_lets_go() {
        let tmp = tempfile::tempdir().unwrap();
        let p = beside(&tmp.path().join("state"));
        let a = Lock::exclusive(&p, "live state x", "linkcast serve").unwrap();
        let e = Lock::exclusive(&p, "live state x", "linkcast ingest-events").unwrap_err().to_string();
        assert!(e.contains("live state x is in use") && e.contains("linkcast serve"), "{e}");
        assert!(e.contains(&format!("pid {}", std::process::id())), "{e}");
        drop(a);
        let b = Lock::exclusive(&p, "live state x", "linkcast ingest-events").unwrap();
        assert_eq!(b.path(), p);
    }
}
