//! A full disk under ingest, in memory (`write_graph`) and out of core
//! (`ingest_to_dir` with spilled runs, merge passes and windows), failed before,
//! at and after the first byte of every file it writes and in the middle of each
//! (`util::faults::sweep`). Every case fails with ENOSPC naming a file, and the
//! graph directory it was replacing (`--force`) is left byte for byte, with no
//! temporary files beside it; once there is room the same ingest succeeds.

use super::*;
use crate::store::{WriteOptions, write_graph};
use crate::util::faults::{chain, sweep};

fn csv(rows: usize, salt: u64) -> String {
    let mut s = String::from("src,dst,t,w\n");
    for i in 0..rows as u64 {
        let (u, v) = ((i * 7 + salt) % 23, (i * 11 + 3 * salt) % 29 + 30);
        // Some rows out of order, so the external path sorts and merges.
        let t = if i % 5 == 0 { i.saturating_sub(3) } else { i };
        s += &format!("n{u},n{v},{t},{}\n", (i % 7) as f64 * 0.5);
    }
    s
}

fn options() -> IngestOptions {
    IngestOptions { features: Some("3..".parse().unwrap()), ..IngestOptions::default() }
}

#[test]
fn ingest_on_a_full_disk_keeps_the_previous_graph() {
    let dir = tempfile::tempdir().unwrap();
    let (old, new, out) = (dir.path().join("old.csv"), dir.path().join("new.csv"), dir.path().join("g"));
    std::fs::write(&old, csv(40, 1)).unwrap();
    std::fs::write(&new, csv(300, 2)).unwrap();
    let wopts = WriteOptions { shard_nodes: 8, replace: true };
    let prev = ingest_files(std::slice::from_ref(&old), &options()).unwrap();
    write_graph(&out, &prev.data, &wopts).unwrap();

    let ing = ingest_files(std::slice::from_ref(&new), &options()).unwrap();
    let in_memory = sweep(dir.path(), &[], &mut || {
        write_graph(&out, &ing.data, &wopts).map(|_| ()).map_err(|e| chain(&e))
    });

    let ooc = OutOfCoreOptions {
        mode: ExternalMode::Always,
        run_rows: Some(64),
        window_bytes: Some(2048),
        fan_in: Some(2),
        max_open: Some(3),
        direct_windows: Some(2),
        ..OutOfCoreOptions::new(1 << 40)
    };
    let external = sweep(dir.path(), &["meta.json"], &mut || {
        ingest_to_dir(std::slice::from_ref(&new), &options(), &ooc, &out, &wopts, &mut |_| {})
            .map(|_| ())
            .map_err(|e| chain(&e))
    });
    eprintln!("disk full under ingest: in memory {in_memory:?}, out of core {external:?}");
    assert!(in_memory.files >= 8 && external.files > in_memory.files, "{in_memory:?} {external:?}");
}
