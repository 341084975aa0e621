//! A write-ahead log that cannot take a batch (a full disk mid-record, a failed
//! flush, a failed cut of the record): the server neither acknowledges nor applies
//! it, what it serves equals what a restart rebuilds from the log, and once the
//! disk has room the same server accepts writes again.

use std::net::SocketAddr;
use std::path::Path;

use serde_json::{Value, json};

use crate::model::config::ModelKind;
use crate::serve::http::{self, App, Options};
use crate::serve::load::Client;
use crate::serve::wal::{Faults, Wal};
use crate::serve::{Scorer, Unknown};
use crate::store::{ExternalIds, IdMap, MemStore, TemporalStore};
use crate::train::scorer::ModelScorer;
use crate::train::tests::{store_of, tiny, torch_lock};

const BASE: usize = 900;

fn scorer(full: &MemStore) -> Scorer {
    let mut log = crate::store::EventLog::with_feat_dim(0);
    for e in 0..BASE {
        let (s, d, t) = full.event(e as u32);
        log.push(s, d, t, &[]);
    }
    let base = MemStore::from_log(log, false).unwrap();
    let ids = IdMap::new(ExternalIds::Int((0..base.num_nodes() as i64).collect()), None);
    let model = crate::model::build(tiny(ModelKind::Tgn, 2000), tch::Device::Cpu, 7).unwrap();
    let target = Box::new(ModelScorer::from_model(model, 50, 0));
    Scorer::open(target, Box::new(base), ids, Unknown::Cold, None).unwrap()
}

fn batch(full: &MemStore, lo: usize) -> Vec<u8> {
    let ev: Vec<Value> = (lo..lo + 20)
        .map(|e| {
            let (s, d, t) = full.event(e as u32);
            json!({"src": s.to_string(), "dst": d.to_string(), "t": t})
        })
        .collect();
    serde_json::to_vec(&ev).unwrap()
}

/// Queries after every event, among the first nodes.
fn queries() -> Vec<u8> {
    let q: Vec<Value> = (0..40)
        .map(|i| json!({"src": (i % 7).to_string(), "dst": (i % 11 + 1).to_string(), "t": 2e9}))
        .collect();
    serde_json::to_vec(&q).unwrap()
}

/// What the server serves: batches, events and the bits of its scores.
fn served(addr: SocketAddr) -> (u64, u64, Vec<u64>) {
    let mut c = Client::new(addr).unwrap();
    let h = c.get("/health").unwrap().json().unwrap();
    let r = c.post("/score", &queries()).unwrap().json().unwrap();
    let bits =
        r["scores"].as_array().unwrap().iter().map(|s| s["score"].as_f64().unwrap().to_bits()).collect();
    (h["batches"].as_u64().unwrap(), h["events"].as_u64().unwrap(), bits)
}

/// What a restart rebuilds from the log (the running server keeps its handle).
fn restarted(full: &MemStore, wal_dir: &Path) -> (u64, u64, Vec<u64>) {
    let mut s = scorer(full);
    http::recover(&mut s, wal_dir).unwrap();
    let q: Vec<crate::serve::Query> = serde_json::from_slice(&queries()).unwrap();
    let bits = s.score(&q).unwrap().iter().map(|x| x.score.to_bits()).collect();
    (s.batches(), s.num_events() as u64, bits)
}

#[test]
fn a_failed_wal_write_is_neither_applied_nor_acknowledged_and_writes_resume() {
    let _g = torch_lock();
    let full = store_of(1100, &[]);
    let wal_dir = tempfile::tempdir().unwrap();
    let wal = Wal::open(wal_dir.path(), 0).unwrap().wal;
    let opts =
        Options { max_body_bytes: 1 << 20, snapshot_every: 0, state_dir: None, pause_before_ack: None };
    let app = App::new(scorer(&full), wal, opts);
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let listener = rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = rt.spawn(http::serve(listener, app.clone(), async {
        let _ = stopped.await;
    }));
    let post = |lo: usize| Client::new(addr).unwrap().post("/events", &batch(&full, lo)).unwrap();

    assert_eq!(post(BASE).status, 200);
    let after_one = served(addr);
    assert_eq!(after_one, restarted(&full, wal_dir.path()));
    assert_eq!(after_one.0, 1);

    // Each failure: 503 kind `wal`, nothing applied, the log as a restart reads it.
    let faults = [
        ("full disk mid-record", Faults { write: 1, ..Faults::default() }),
        ("failed flush", Faults { sync: 1, ..Faults::default() }),
    ];
    let mut cases = 0;
    for (what, f) in faults {
        app.inject_wal_faults(f);
        let r = post(BASE + 20);
        assert_eq!(r.status, 503, "{what}: {}", String::from_utf8_lossy(&r.body));
        assert_eq!(r.json().unwrap()["kind"], "wal", "{what}");
        assert_eq!(served(addr), after_one, "{what}: the refused batch is not served");
        assert_eq!(restarted(&full, wal_dir.path()), after_one, "{what}: a restart agrees");
        cases += 1;
    }

    // A failed flush whose cut fails twice: the record is zeroed in place, the next
    // batch is refused too until the cut succeeds; nothing of either is served, and
    // a restart in between drops the zeroed record.
    app.inject_wal_faults(Faults { sync: 1, truncate: 2, ..Faults::default() });
    assert_eq!(post(BASE + 20).status, 503);
    assert_eq!(served(addr), after_one);
    assert_eq!(restarted(&full, wal_dir.path()), after_one);
    assert_eq!(post(BASE + 20).status, 503, "refused while the unflushed record is still there");
    assert_eq!(served(addr), after_one);
    assert_eq!(restarted(&full, wal_dir.path()), after_one);
    cases += 2;
    assert_eq!(app.metrics.wal_failures.load(std::sync::atomic::Ordering::Relaxed), 4);

    // Room again: the same server takes the batch, as batch 2.
    let r = post(BASE + 20);
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json().unwrap()["batch"], 2);
    assert_eq!(post(BASE + 40).status, 200);
    let now = served(addr);
    assert_eq!(now.0, 3);
    assert_ne!(now.2, after_one.2, "the new batches changed the scores");
    assert_eq!(restarted(&full, wal_dir.path()), now, "served = restarted after the recovery");
    assert_eq!(cases, 4);
    stop.send(()).unwrap();
    rt.block_on(server).unwrap().unwrap();
}
