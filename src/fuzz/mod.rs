//! Fuzz harness bodies: one function per target, `fn(&[u8])`, each feeding
//! arbitrary bytes to a reader of untrusted input and checking what must hold
//! whatever the bytes are. A panic (or an abort on a failed allocation) is a
//! finding; a clean error is the right answer to bad input.
//!
//! The same functions run in two places: `fuzz/` (libFuzzer through `cargo fuzz`,
//! nightly, `scripts/fuzz.sh`) and `cargo test` on stable, which replays every
//! committed corpus file and every regression input (`tests/integration/fuzz.rs`).
//! So a crash found once stays fixed.
//!
//! Readers take paths, so a harness writes its bytes to a scratch file first
//! (under `/dev/shm` where there is one: no disk in the loop). The first byte or
//! two of an input choose options (format, header, policies); the rest is the file.
//! Targets, in the order of the fuzzing issue: [`ingest_text`], [`score_queries`],
//! [`http`], [`wal`], [`graph_dir`], [`parquet`], [`node_features`],
//! [`negatives`]. (The model-directory loader needs libtorch, which the fuzz build
//! leaves out; its manifest check runs first and is [`model_manifest`].)

mod files;
mod http;
mod seeds;
mod text;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

pub use files::{graph_dir, model_manifest, negatives, wal};
pub use http::http;
pub use seeds::seeds;
pub use text::{ingest_text, node_features, parquet, score_queries};

/// A harness body.
pub type Harness = fn(&[u8]);

/// Every target by name, for the corpus replay and `scripts/fuzz.sh`.
pub const TARGETS: [(&str, Harness); 9] = [
    ("ingest_text", ingest_text),
    ("score_queries", score_queries),
    ("http", http),
    ("wal", wal),
    ("graph_dir", graph_dir),
    ("model_manifest", model_manifest),
    ("parquet", parquet),
    ("node_features", node_features),
    ("negatives", negatives),
];

static SCRATCH: OnceLock<PathBuf> = OnceLock::new();

/// Use `dir` (which the caller removes) as the scratch folder of this process;
/// call before the first harness runs. Without it a harness makes a folder under
/// `/dev/shm` (or the temp folder) that lives as long as the process, and
/// `scripts/fuzz.sh` removes it after each run.
pub fn init_scratch(dir: &Path) {
    let _ = SCRATCH.set(dir.to_path_buf());
}

/// The per-process scratch folder: `LINKCAST_FUZZ_SCRATCH` when set (the caller
/// owns it; `scripts/fuzz.sh` gives each run its own), else a new one.
fn scratch() -> &'static Path {
    SCRATCH.get_or_init(|| {
        if let Some(d) = std::env::var_os("LINKCAST_FUZZ_SCRATCH") {
            let d = PathBuf::from(d);
            std::fs::create_dir_all(&d).expect("LINKCAST_FUZZ_SCRATCH");
            return d;
        }
        let shm = Path::new("/dev/shm");
        let mut b = tempfile::Builder::new();
        b.prefix("linkcast-fuzz-");
        let dir = if shm.is_dir() { b.tempdir_in(shm) } else { b.tempdir() };
        dir.expect("a scratch folder for fuzzing").keep()
    })
}

/// Write `bytes` to the scratch file `name` and return its path.
fn scratch_file(name: &str, bytes: &[u8]) -> PathBuf {
    let p = scratch().join(name);
    std::fs::write(&p, bytes).expect("scratch write");
    p
}

/// An empty scratch folder `name` (removed first if an earlier input left it).
fn fresh_dir(name: &str) -> PathBuf {
    let p = scratch().join(name);
    if p.exists() {
        std::fs::remove_dir_all(&p).expect("scratch cleanup");
    }
    std::fs::create_dir_all(&p).expect("scratch folder");
    p
}

/// A refusal must say something; the wording is checked by the hand-written tests.
/// With `LINKCAST_FUZZ_VERBOSE` set, the refusal is printed (for triage of a corpus).
fn check_message(what: &str, e: &dyn std::error::Error) {
    if std::env::var_os("LINKCAST_FUZZ_VERBOSE").is_some() {
        let mut msg = e.to_string();
        let mut src = e.source();
        while let Some(s) = src {
            msg.push_str(&format!(": {s}"));
            src = s.source();
        }
        eprintln!("  {what}: {msg}");
    }
    assert!(!e.to_string().trim().is_empty(), "{what}: an error with an empty message: {e:?}");
}
