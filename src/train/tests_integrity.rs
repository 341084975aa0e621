//! A model directory's manifest: every file kind (and the manifest itself)
//! damaged at its start, middle and end, and truncated, is refused by name by
//! both readers (`ModelScorer::open`, `Trainer::resume`), never a panic; a
//! directory from before manifests still loads; staging a new checkpoint over a
//! damaged one refuses to carry the damage over.

use std::path::Path;
use std::sync::Arc;

use crate::model::config::ModelKind;
use crate::train::scorer::ModelScorer;
use crate::train::tests::{store_of, torch_lock, train_cfg, trainer};
use crate::util::manifest::{MANIFEST, MODEL_FILES, Manifest, damages};

#[test]
fn every_damaged_model_file_is_refused_by_name() {
    let _g = torch_lock();
    let store = Arc::new(store_of(1500, &[]));
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("m");
    // ids.tsv is empty here (the test's trainer has no external ids).
    trainer(&store, ModelKind::Tgn, train_cfg(1, 0), &out).run(&mut |_| {}).unwrap();
    let m = Manifest::read(&out).unwrap().expect("training writes a manifest");
    let listed: Vec<&str> = m.entries.iter().map(|e| e.file.as_str()).collect();
    assert_eq!(listed.len(), MODEL_FILES.len(), "every file kind is written: {listed:?}");
    for f in MODEL_FILES {
        assert!(listed.contains(f), "{f} not in the manifest");
    }
    ModelScorer::open(&out, tch::Device::Cpu).unwrap();
    trainer(&store, ModelKind::Tgn, train_cfg(1, 0), &out).resume().unwrap();

    let mut cases = 0;
    for rel in MODEL_FILES.iter().copied().chain([MANIFEST]) {
        let p = out.join(rel);
        let good = std::fs::read(&p).unwrap();
        for (what, bad) in damages(&good) {
            std::fs::write(&p, &bad).unwrap();
            let e = ModelScorer::open(&out, tch::Device::Cpu).err().map(|e| e.to_string());
            let e = e.unwrap_or_else(|| panic!("{rel} {what}: opened"));
            assert!(e.contains(rel), "{rel} {what}: the error does not name the file: {e}");
            let r = trainer(&store, ModelKind::Tgn, train_cfg(1, 0), &out).resume();
            let e = r.err().unwrap_or_else(|| panic!("{rel} {what}: resumed")).to_string();
            assert!(e.contains(rel), "{rel} {what}: {e}");
            cases += 1;
        }
        std::fs::write(&p, &good).unwrap();
    }
    // 4 damages of each file, 1 of the empty ids.tsv (a byte appended).
    assert_eq!(cases, 4 * MODEL_FILES.len() + 1);
    ModelScorer::open(&out, tch::Device::Cpu).unwrap();

    // Staging a new checkpoint over damaged memory refuses to vouch for it.
    let mem = out.join("memory.safetensors");
    let good = std::fs::read(&mem).unwrap();
    std::fs::write(&mem, &damages(&good)[1].1).unwrap();
    let e = crate::train::checkpoint::Staging::begin(&out).err().expect("staged over damage").to_string();
    assert!(e.contains("memory.safetensors"), "{e}");
    std::fs::write(&mem, &good).unwrap();

    // Before manifests: loads (with a warning), and staging writes one.
    std::fs::remove_file(out.join(MANIFEST)).unwrap();
    ModelScorer::open(&out, tch::Device::Cpu).unwrap();
    let stage = crate::train::checkpoint::Staging::begin(&out).unwrap();
    stage.commit().unwrap();
    assert_eq!(Manifest::read(&out).unwrap().unwrap().entries.len(), MODEL_FILES.len());
    assert_manifest_matches(&out);
}

fn assert_manifest_matches(dir: &Path) {
    assert!(matches!(
        crate::util::manifest::verify(dir).unwrap(),
        crate::util::manifest::Verified::Ok { .. }
    ));
}
