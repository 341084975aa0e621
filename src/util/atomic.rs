//! Outputs appear complete or not at all: write into a temporary sibling, then rename.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// A temporary directory next to `target` (same filesystem, so the final rename is
/// atomic). Dropped without `commit`, it is removed.
pub struct TempDir {
    tmp: Option<PathBuf>,
    target: PathBuf,
}

impl TempDir {
    pub fn new(target: &Path) -> io::Result<Self> {
        let parent = match target.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        fs::create_dir_all(&parent)?;
        let name = target.file_name().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
        let tmp = tempfile::Builder::new().prefix(&format!(".{name}.tmp-")).tempdir_in(&parent)?.keep();
        Ok(Self { tmp: Some(tmp), target: target.to_path_buf() })
    }

    pub fn path(&self) -> &Path {
        self.tmp.as_deref().expect("TempDir used after commit")
    }

    /// Move the finished directory into place. Fails if the target exists and is
    /// not an empty directory (we never merge into or clobber a user's directory
    /// unless `replace` is set, in which case the old one is removed first).
    pub fn commit(mut self, replace: bool) -> io::Result<PathBuf> {
        let tmp = self.tmp.take().expect("TempDir committed twice");
        if self.target.exists() {
            let empty_dir = self.target.is_dir() && fs::read_dir(&self.target)?.next().is_none();
            if empty_dir {
                fs::remove_dir(&self.target)?;
            } else if replace {
                if self.target.is_dir() {
                    fs::remove_dir_all(&self.target)?;
                } else {
                    fs::remove_file(&self.target)?;
                }
            } else {
                let _ = fs::remove_dir_all(&tmp);
                return Err(io::Error::new(
                    io::ErrorKind::AlreadyExists,
                    format!("{} already exists (pass --force to replace it)", self.target.display()),
                ));
            }
        }
        fs::rename(&tmp, &self.target)?;
        Ok(self.target.clone())
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if let Some(tmp) = self.tmp.take() {
            let _ = fs::remove_dir_all(tmp);
        }
    }
}

/// Write a file atomically: temp file in the same directory, fsync, rename.
pub fn write_file(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let f = tempfile::NamedTempFile::new_in(dir)?;
    // Temporary files are created 0600; an output is an ordinary file (0644).
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        f.as_file().set_permissions(std::fs::Permissions::from_mode(0o644))?;
    }
    crate::util::faults::guard(path, f.as_file()).write_all(bytes)?;
    f.as_file().sync_all()?;
    f.persist(path).map_err(|e| e.error)?;
    Ok(())
}
