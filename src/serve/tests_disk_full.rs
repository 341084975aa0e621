//! A full disk under the live state: `Scorer::save_state` (what `ingest-events`
//! and every server snapshot call) failed before, at and after the first byte of
//! each file and in the middle of each (`util::faults::sweep`) leaves the previous
//! state byte for byte, and it still opens. A server whose snapshot fails keeps
//! serving and acknowledging (the WAL holds the batches), counts the failure, serves
//! what a restart from the old snapshot plus the log rebuilds, and snapshots again
//! once there is room.

use std::path::Path;

use serde_json::{Value, json};

use crate::eval::scorer::StreamScorer;
use crate::model::config::ModelKind;
use crate::serve::http::{self, App, Options};
use crate::serve::load::Client;
use crate::serve::wal::Wal;
use crate::serve::{LiveEvent, Query, Scorer, Unknown};
use crate::store::{ExternalIds, IdMap, MemStore, TemporalStore};
use crate::train::scorer::ModelScorer;
use crate::train::tests::{store_of, tiny, torch_lock};
use crate::util::faults::{FullDisk, chain, sweep, tree};

const BASE: usize = 900;

fn model() -> Box<dyn StreamScorer> {
    Box::new(ModelScorer::from_model(
        crate::model::build(tiny(ModelKind::Tgn, 2000), tch::Device::Cpu, 7).unwrap(),
        50,
        0,
    ))
}

fn open(full: &MemStore, state: Option<&Path>) -> Scorer {
    let mut log = crate::store::EventLog::with_feat_dim(0);
    for e in 0..BASE {
        let (s, d, t) = full.event(e as u32);
        log.push(s, d, t, &[]);
    }
    let base = MemStore::from_log(log, false).unwrap();
    let ids = IdMap::new(ExternalIds::Int((0..base.num_nodes() as i64).collect()), None);
    Scorer::open(model(), Box::new(base), ids, Unknown::Cold, state).unwrap()
}

fn events(full: &MemStore, lo: usize) -> Vec<LiveEvent> {
    (lo..lo + 20)
        .map(|e| {
            let (a, b, t) = full.event(e as u32);
            LiveEvent { src: a.to_string(), dst: b.to_string(), t, feat: vec![] }
        })
        .collect()
}

fn queries() -> Vec<Query> {
    let q: Vec<Value> = (0..40)
        .map(|i| json!({"src": (i % 7).to_string(), "dst": (i % 11 + 1).to_string(), "t": 2e9}))
        .collect();
    serde_json::from_value(Value::Array(q)).unwrap()
}

fn scores(s: &Scorer) -> (u64, Vec<u64>) {
    (s.batches(), s.score(&queries()).unwrap().iter().map(|x| x.score.to_bits()).collect())
}

#[test]
fn a_live_state_saved_on_a_full_disk_keeps_the_previous_one() {
    let _g = torch_lock();
    let full = store_of(1100, &[]);
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("live");
    let mut s = open(&full, Some(&state));
    for lo in (BASE..BASE + 80).step_by(20) {
        s.ingest(&events(&full, lo)).unwrap();
    }
    s.save_state(&state).unwrap();
    let saved = scores(&open(&full, Some(&state)));
    assert_eq!(saved.0, 4);
    s.ingest(&events(&full, BASE + 80)).unwrap();
    s.ingest(&events(&full, BASE + 100)).unwrap();
    let swept = sweep(dir.path(), &[], &mut || s.save_state(&state).map_err(|e| chain(&e)));
    eprintln!("disk full under a live-state save: {swept:?}");
    assert!(swept.files >= 4 && swept.cases >= 15, "{swept:?}");
    assert_eq!(scores(&open(&full, Some(&state))).0, 6, "the retry saved the new state");
}

#[test]
fn a_failed_snapshot_loses_nothing_and_snapshots_resume() {
    let _g = torch_lock();
    let full = store_of(1100, &[]);
    let (disk_dir, wal_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let state = disk_dir.path().join("live");
    let wal = Wal::open(wal_dir.path(), 0).unwrap().wal;
    let opts = Options {
        max_body_bytes: 1 << 20,
        snapshot_every: 1,
        state_dir: Some(state.clone()),
        pause_before_ack: None,
    };
    let app = App::new(open(&full, Some(&state)), wal, opts);
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let listener = rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = rt.spawn(http::serve(listener, app.clone(), async {
        let _ = stopped.await;
    }));
    let post = |lo: usize| {
        let body = serde_json::to_vec(&events(&full, lo)).unwrap();
        Client::new(addr).unwrap().post("/events", &body).unwrap()
    };
    let served = || {
        let body = serde_json::to_vec(&queries()).unwrap();
        let r = Client::new(addr).unwrap().post("/score", &body).unwrap().json().unwrap();
        let bits: Vec<u64> =
            r["scores"].as_array().unwrap().iter().map(|s| s["score"].as_f64().unwrap().to_bits()).collect();
        let h = Client::new(addr).unwrap().get("/health").unwrap().json().unwrap();
        (h["batches"].as_u64().unwrap(), bits)
    };
    let restarted = || {
        let mut s = open(&full, Some(&state));
        http::recover(&mut s, wal_dir.path()).unwrap();
        scores(&s)
    };
    let metric = |name: &str| {
        let text = String::from_utf8(Client::new(addr).unwrap().get("/metrics").unwrap().body).unwrap();
        let line = text.lines().find(|l| l.starts_with(name)).unwrap_or_else(|| panic!("no {name}"));
        line.rsplit(' ').next().unwrap().parse::<f64>().unwrap() as u64
    };

    assert_eq!(post(BASE).status, 200);
    assert_eq!(metric("linkcast_snapshots_total"), 1);
    let snapshot = tree(disk_dir.path());
    // The disk fills: batches are acknowledged and served (the WAL has them), the
    // snapshot on disk stays the last good one, and a restart rebuilds the same.
    let disk = FullDisk::with_budget(disk_dir.path(), 0);
    for (i, lo) in [BASE + 20, BASE + 40].into_iter().enumerate() {
        let r = post(lo);
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        assert_eq!(metric("linkcast_snapshot_failures_total"), i as u64 + 1);
        assert!(tree(disk_dir.path()) == snapshot, "a failed snapshot changed the state directory");
        let now = served();
        assert_eq!(now.0, i as u64 + 2);
        assert_eq!(restarted(), now, "served = restarted from the old snapshot and the log");
    }
    drop(disk);
    // Room again: the next batch's snapshot succeeds and holds everything.
    assert_eq!(post(BASE + 60).status, 200);
    assert_eq!(metric("linkcast_snapshots_total"), 2);
    let now = served();
    assert_eq!(now.0, 4);
    assert_eq!(scores(&open(&full, Some(&state))), now, "the new snapshot alone holds every batch");
    assert_eq!(restarted(), now);
    stop.send(()).unwrap();
    rt.block_on(server).unwrap().unwrap();
}
