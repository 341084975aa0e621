//! The model directory, written whole into a temporary sibling and swapped into
//! place, so an interrupted run leaves the previous complete checkpoint:
//!
//! ```text
//! config.json         linkcast version, model config, training flags, data facts
//! model.safetensors   best weights so far
//! memory.safetensors  memory + last-update times + watermark (memory models), consistent
//!                     with model.safetensors: it absorbed exactly `state.watermark` events
//! state.json          epochs done, best epoch, early-stopping counter, watermark
//! ids.tsv             external id of each dense node id (line = id)
//! metrics.jsonl       one line per epoch
//! training.png        loss and validation curves
//! results.json        final validation/test metrics (once training has finished)
//! resume/             last epoch's weights and optimiser state, for --resume
//! manifest.xxh3       size and XXH3-64 of every file above (`util::manifest`), written last
//! ```
//!
//! Every reader ([`verify`]: `ModelScorer::open`, `Trainer::resume`) checks the whole
//! manifest first, so a damaged file is refused by name before any of it is used.
//! Staging from an older checkpoint checks each file it carries over against the
//! older manifest, so a new manifest never vouches for damaged bytes.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::train::TrainError;
use crate::util::faults;
use crate::util::manifest::{self, MANIFEST, Manifest, Verified};

pub const CONFIG: &str = "config.json";
pub const WEIGHTS: &str = "model.safetensors";
pub const MEMORY: &str = "memory.safetensors";
pub const STATE: &str = "state.json";
pub const IDS: &str = "ids.tsv";
pub const METRICS: &str = "metrics.jsonl";
pub const PLOT: &str = "training.png";
pub const RESULTS: &str = "results.json";
pub const RESUME_WEIGHTS: &str = "resume/last.safetensors";
pub const RESUME_ADAM: &str = "resume/adam.safetensors";
/// Every file above, as the manifest module lists them.
pub const FILES: &[&str] = manifest::MODEL_FILES;

/// Progress of a training run, saved after every epoch.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TrainState {
    pub epochs_done: usize,
    pub best_epoch: Option<usize>,
    pub best_val_ap: f64,
    /// The best epoch's validation MRR under `--select-by mrr` (absent otherwise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub best_val_mrr: Option<f64>,
    pub bad_epochs: usize,
    pub finished: bool,
    /// Events absorbed by the saved memory, and the newest one's time.
    pub watermark_events: usize,
    pub watermark_time: Option<f64>,
}

/// A checkpoint being assembled in a temporary directory next to the target.
pub struct Staging {
    tmp: tempfile::TempDir,
    target: PathBuf,
}

impl Staging {
    /// Start from a copy of the current checkpoint's files (if any), so a writer
    /// only replaces what changed.
    pub fn begin(target: &Path) -> Result<Staging, TrainError> {
        let parent = match target.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        fs::create_dir_all(&parent).map_err(TrainError::io(&parent))?;
        let name = target.file_name().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
        let tmp = tempfile::Builder::new()
            .prefix(&format!(".{name}.tmp-"))
            .tempdir_in(&parent)
            .map_err(TrainError::io(&parent))?;
        fs::create_dir_all(tmp.path().join("resume")).map_err(TrainError::io(tmp.path()))?;
        if target.is_dir() {
            let old = Manifest::read(target)?;
            if old.is_none() && target.join(CONFIG).is_file() {
                tracing::warn!(
                    "{}: no {MANIFEST} (written before manifests); carrying its files over unverified",
                    target.display()
                );
            }
            for rel in FILES {
                let from = target.join(rel);
                if !from.is_file() {
                    continue;
                }
                let to = tmp.path().join(rel);
                fs::copy(&from, &to).map_err(TrainError::io(&from))?;
                faults::written(&to).map_err(TrainError::io(&to))?;
                if let Some(m) = &old {
                    let entry = m.get(rel).ok_or_else(|| TrainError::Checkpoint {
                        path: from.clone(),
                        msg: format!("not listed in {MANIFEST}; refusing to carry it into a new checkpoint"),
                    })?;
                    // The copy is what the new manifest will vouch for: check it.
                    manifest::check_entry(tmp.path(), entry)?;
                }
            }
        }
        Ok(Staging { tmp, target: target.to_path_buf() })
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.tmp.path().join(rel)
    }

    pub fn write(&self, rel: &str, bytes: &[u8]) -> Result<(), TrainError> {
        let p = self.path(rel);
        let write = || faults::guard(&p, fs::File::create(&p)?).write_all(bytes);
        write().map_err(TrainError::io(&p))
    }

    /// Charge a file written into the staging directory by libtorch.
    pub fn written(&self, rel: &str) -> Result<(), TrainError> {
        let p = self.path(rel);
        faults::written(&p).map_err(TrainError::io(&p))
    }

    pub fn write_json<T: Serialize>(&self, rel: &str, v: &T) -> Result<(), TrainError> {
        let mut bytes = serde_json::to_vec_pretty(v).map_err(|e| TrainError::Invalid(e.to_string()))?;
        bytes.push(b'\n');
        self.write(rel, &bytes)
    }

    /// Swap the staged directory in: the old one is renamed aside first and removed
    /// after, so at every instant one complete checkpoint exists on disk.
    pub fn commit(self) -> Result<(), TrainError> {
        sync_files(self.tmp.path())?;
        manifest::seal(self.tmp.path())?;
        let tmp = self.tmp.keep();
        let old = self.target.with_extension("old");
        if self.target.exists() {
            if old.exists() {
                fs::remove_dir_all(&old).map_err(TrainError::io(&old))?;
            }
            fs::rename(&self.target, &old).map_err(TrainError::io(&self.target))?;
        }
        fs::rename(&tmp, &self.target).map_err(TrainError::io(&self.target))?;
        if old.exists() {
            fs::remove_dir_all(&old).map_err(TrainError::io(&old))?;
        }
        Ok(())
    }
}

/// Flush every staged file, so the manifest never outlives the bytes it lists.
fn sync_files(dir: &Path) -> Result<(), TrainError> {
    let mut files = Vec::new();
    manifest::list_files(dir, "", &mut files)?;
    for f in files {
        let p = dir.join(f);
        fs::File::open(&p).and_then(|f| f.sync_all()).map_err(TrainError::io(&p))?;
    }
    Ok(())
}

/// Check every file of the model directory `dir` (from [`locate`]) against its
/// manifest; one without (written before manifests) loads with a warning.
pub fn verify(dir: &Path) -> Result<(), TrainError> {
    let started = std::time::Instant::now();
    match manifest::verify(dir)? {
        Verified::Ok { files, bytes } => tracing::info!(
            "{}: {files} files ({bytes} bytes) match {MANIFEST} ({:.3} s)",
            dir.display(),
            started.elapsed().as_secs_f64()
        ),
        Verified::Absent => tracing::warn!(
            "{}: no {MANIFEST} (written before manifests); loading unverified \
             (`linkcast verify --write-manifest {}` adds one)",
            dir.display(),
            dir.display()
        ),
    }
    Ok(())
}

/// The directory to read: `dir`, or its `.old` twin when a swap was interrupted.
pub fn locate(dir: &Path) -> Result<PathBuf, TrainError> {
    if dir.join(CONFIG).is_file() {
        return Ok(dir.to_path_buf());
    }
    let old = dir.with_extension("old");
    if !dir.exists() && old.join(CONFIG).is_file() {
        return Ok(old);
    }
    Err(TrainError::Checkpoint {
        path: dir.to_path_buf(),
        msg: format!("not a linkcast model directory (no {CONFIG})"),
    })
}

pub fn read_json<T: for<'de> Deserialize<'de>>(dir: &Path, rel: &str) -> Result<T, TrainError> {
    let p = dir.join(rel);
    let bytes = fs::read(&p).map_err(TrainError::io(&p))?;
    serde_json::from_slice(&bytes)
        .map_err(|e| TrainError::Checkpoint { path: p.clone(), msg: format!("cannot parse: {e}") })
}

/// Append one JSON line to the staged metrics file.
pub fn append_line(stage: &Staging, rel: &str, v: &serde_json::Value) -> Result<(), TrainError> {
    let p = stage.path(rel);
    let f = fs::OpenOptions::new().create(true).append(true).open(&p).map_err(TrainError::io(&p))?;
    writeln!(faults::guard(&p, f), "{v}").map_err(TrainError::io(&p))
}
