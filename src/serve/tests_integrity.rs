//! A live state directory's manifest: every file (and the manifest) damaged at its
//! start, middle and end, and truncated, is refused by name when the state is
//! opened, never a panic; a state from before manifests still opens.

use crate::eval::scorer::StreamScorer;
use crate::model::config::ModelKind;
use crate::serve::{LiveEvent, Scorer, Unknown};
use crate::store::{ExternalIds, IdMap, MemStore, TemporalStore};
use crate::train::scorer::ModelScorer;
use crate::train::tests::{store_of, tiny, torch_lock};
use crate::util::manifest::{LIVE_FILES, MANIFEST, damages};

fn model() -> Box<dyn StreamScorer> {
    Box::new(ModelScorer::from_model(
        crate::model::build(tiny(ModelKind::Tgn, 2000), tch::Device::Cpu, 7).unwrap(),
        50,
        0,
    ))
}

fn prefix(full: &MemStore, n: usize) -> MemStore {
    let mut log = crate::store::EventLog::with_feat_dim(0);
    for e in 0..n {
        let (s, d, t) = full.event(e as u32);
        log.push(s, d, t, &[]);
    }
    MemStore::from_log(log, false).unwrap()
}

#[test]
fn every_damaged_live_file_is_refused_by_name() {
    let _g = torch_lock();
    let full = store_of(1000, &[]);
    let open = |state: &std::path::Path| {
        let base = prefix(&full, 900);
        let ids = IdMap::new(ExternalIds::Int((0..base.num_nodes() as i64).collect()), None);
        Scorer::open(model(), Box::new(base), ids, Unknown::Cold, Some(state))
    };
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("live");
    let mut s = open(&state).unwrap();
    for lo in (900..1000).step_by(25) {
        let ev: Vec<LiveEvent> = (lo..lo + 25)
            .map(|e| {
                let (a, b, t) = full.event(e as u32);
                LiveEvent { src: a.to_string(), dst: b.to_string(), t, feat: vec![] }
            })
            .collect();
        s.ingest(&ev).unwrap();
    }
    s.save_state(&state).unwrap();
    assert_eq!(open(&state).unwrap().batches(), 4);
    let mut cases = 0;
    for rel in LIVE_FILES.iter().copied().chain([MANIFEST]) {
        let p = state.join(rel);
        let good = std::fs::read(&p).unwrap();
        for (what, bad) in damages(&good) {
            std::fs::write(&p, &bad).unwrap();
            let e = open(&state).err().unwrap_or_else(|| panic!("{rel} {what}: opened")).to_string();
            assert!(e.contains(rel), "{rel} {what}: the error does not name the file: {e}");
            cases += 1;
        }
        std::fs::write(&p, &good).unwrap();
    }
    assert_eq!(cases, 4 * (LIVE_FILES.len() + 1));
    // Before manifests: opens with a warning; the next save writes one.
    std::fs::remove_file(state.join(MANIFEST)).unwrap();
    let s = open(&state).unwrap();
    assert_eq!(s.batches(), 4);
    s.save_state(&state).unwrap();
    assert!(state.join(MANIFEST).is_file());
}
