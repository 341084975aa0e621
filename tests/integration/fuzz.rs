//! Replays every committed fuzz input on stable: the minimised corpora
//! (`fuzz/corpus/<target>/`) and the inputs that once crashed a harness
//! (`fuzz/regressions/<target>/`, each named for what it found). Each runs through
//! the same harness body libFuzzer drives (`linkcast::fuzz`), so a panic here is a
//! finding come back.

use std::path::Path;

fn inputs(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut v: Vec<_> = match std::fs::read_dir(dir) {
        Ok(rd) => rd.map(|e| e.unwrap().path()).filter(|p| p.is_file()).collect(),
        Err(_) => Vec::new(),
    };
    v.sort();
    v
}

#[test]
fn committed_fuzz_inputs_replay_cleanly() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    // In memory where possible: the WAL and server harnesses fsync on every record.
    let shm = Path::new("/dev/shm");
    let scratch = if shm.is_dir() { tempfile::tempdir_in(shm) } else { tempfile::tempdir() }.unwrap();
    linkcast::fuzz::init_scratch(scratch.path());
    let mut total = 0;
    for (name, run) in linkcast::fuzz::TARGETS {
        let corpus = inputs(&root.join("corpus").join(name));
        assert!(
            !corpus.is_empty(),
            "fuzz/corpus/{name} has no inputs: a target without a corpus tests nothing"
        );
        let regressions = inputs(&root.join("regressions").join(name));
        for p in corpus.iter().chain(&regressions) {
            let bytes = std::fs::read(p).unwrap();
            let r = std::panic::catch_unwind(|| run(&bytes));
            assert!(
                r.is_ok(),
                "{name}: {} panicked (rerun: cargo +nightly fuzz run {name} {})",
                p.display(),
                p.display()
            );
            total += 1;
        }
    }
    eprintln!("replayed {total} fuzz inputs");
}

/// The guard the Parquet readers run under: a panic inside becomes an error and
/// the thread goes on.
#[test]
fn a_contained_panic_is_an_error_and_the_thread_goes_on() {
    use linkcast::util::contain::contain;
    assert_eq!(contain(|| 7), Ok(7));
    let e = contain(|| -> u32 { panic!("decoder for dict should have been set") }).unwrap_err();
    assert!(e.contains("dict"), "{e}");
    let owned = contain(|| -> u32 { panic!("{} bytes", 3) }).unwrap_err();
    assert_eq!(owned, "3 bytes");
    assert_eq!(contain(|| 8), Ok(8));
}
