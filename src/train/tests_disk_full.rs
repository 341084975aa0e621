//! A full disk under a checkpoint: the staged directory (copies of the previous
//! checkpoint, weights and memory written by libtorch, JSON, the plot, the
//! manifest) failed before, at and after the first byte of every file and in the
//! middle of each (`util::faults::sweep`). Each fails with ENOSPC naming a file;
//! the previous checkpoint stays byte for byte and no staging directory is left.
//! Through `Trainer::run`, the failed epoch's error reaches the caller, and a
//! `--resume` once there is room finishes the run.

use std::sync::Arc;

use crate::model::config::ModelKind;
use crate::train::checkpoint::{STATE, TrainState, read_json};
use crate::train::tests::{store_of, torch_lock, train_cfg, trainer};
use crate::util::faults::{FullDisk, chain, sweep, tree};

#[test]
fn a_checkpoint_on_a_full_disk_keeps_the_previous_one() {
    let _g = torch_lock();
    let store = Arc::new(store_of(1500, &[]));
    for kind in [ModelKind::Tgn, ModelKind::Tpnet] {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("m");
        trainer(&store, kind, train_cfg(1, 0), &out).run(&mut |_| {}).unwrap();
        let mut t = trainer(&store, kind, train_cfg(2, 0), &out);
        t.resume().unwrap();
        let swept = sweep(dir.path(), &[], &mut || t.checkpoint(true, None).map_err(|e| chain(&e)));
        eprintln!("{kind}: disk full under a checkpoint: {swept:?}");
        assert!(swept.files >= 10 && swept.cases >= 40, "{kind}: {swept:?}");

        // The next epoch's checkpoint fails half way: the run fails, epoch 1 stays.
        let before = tree(dir.path());
        let disk = FullDisk::with_budget(dir.path(), swept.bytes / 2);
        let mut t = trainer(&store, kind, train_cfg(2, 0), &out);
        t.resume().unwrap();
        let e = chain(&t.run(&mut |_| {}).expect_err("trained on a full disk"));
        drop(disk);
        assert!(e.contains("No space left on device"), "{e}");
        assert!(tree(dir.path()) == before, "{kind}: a failed epoch changed the model directory");
        let mut t = trainer(&store, kind, train_cfg(2, 0), &out);
        t.resume().unwrap();
        t.run(&mut |_| {}).unwrap();
        assert_eq!(read_json::<TrainState>(&out, STATE).unwrap().epochs_done, 2);
    }
}
