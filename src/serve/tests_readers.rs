//! Many readers at once: scoring through `&Scorer` from several threads gives the
//! answers a single reader gets, and reads really overlap (in the library and
//! through the HTTP server), while a target that needs exclusive access is still
//! served one caller at a time.

use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::time::{Duration, Instant};

use crate::eval::baselines::{BaselineConfig, BaselineKind, make_baseline};
use crate::eval::scorer::{EvalError, StreamScorer};
use crate::model::config::ModelKind;
use crate::serve::http::{self, App, Options};
use crate::serve::load::Client;
use crate::serve::wal::Wal;
use crate::serve::{LiveEvent, Query, Scorer, TopK, Unknown};
use crate::store::{ExternalIds, IdMap, MemStore, NodeId, TemporalStore, Time};
use crate::train::scorer::ModelScorer;
use crate::train::tests::{store_of, tiny, torch_lock};

/// A scorer that records how many callers are inside `score`/`score_shared` at
/// once: each caller waits (up to `wait`) for a second one to arrive.
struct Gate {
    shared: bool,
    wait: Duration,
    inside: Arc<AtomicUsize>,
    peak: Arc<AtomicUsize>,
}

impl Gate {
    fn visit(&self, n: usize, out: &mut Vec<f64>) {
        let now = self.inside.fetch_add(1, SeqCst) + 1;
        self.peak.fetch_max(now, SeqCst);
        let t0 = Instant::now();
        while self.inside.load(SeqCst) < 2 && t0.elapsed() < self.wait {
            std::thread::sleep(Duration::from_millis(1));
        }
        // Stay a moment so the other caller sees us too.
        std::thread::sleep(Duration::from_millis(20));
        self.inside.fetch_sub(1, SeqCst);
        out.clear();
        out.resize(n, 0.5);
    }
}

impl StreamScorer for Gate {
    fn name(&self) -> String {
        "gate".into()
    }
    fn start(&mut self, _: &dyn TemporalStore, _: usize) -> Result<(), EvalError> {
        Ok(())
    }
    fn score(
        &mut self,
        _: &dyn TemporalStore,
        _: Range<usize>,
        src: &[NodeId],
        _: &[NodeId],
        _: &[Time],
        out: &mut Vec<f64>,
    ) -> Result<(), EvalError> {
        self.visit(src.len(), out);
        Ok(())
    }
    fn score_shared(
        &self,
        _: &dyn TemporalStore,
        src: &[NodeId],
        _: &[NodeId],
        _: &[Time],
        out: &mut Vec<f64>,
    ) -> Result<bool, EvalError> {
        if !self.shared {
            return Ok(false);
        }
        self.visit(src.len(), out);
        Ok(true)
    }
    fn absorb(&mut self, _: &dyn TemporalStore, _: Range<usize>) -> Result<(), EvalError> {
        Ok(())
    }
}

fn gate_scorer(shared: bool, wait: Duration) -> (Scorer, Arc<AtomicUsize>) {
    let peak = Arc::new(AtomicUsize::new(0));
    let gate = Gate { shared, wait, inside: Default::default(), peak: peak.clone() };
    let store = store_of(200, &[]);
    let ids = IdMap::new(ExternalIds::Int((0..store.num_nodes() as i64).collect()), None);
    (Scorer::open(Box::new(gate), Box::new(store), ids, Unknown::Error, None).unwrap(), peak)
}

fn late(s: &Scorer) -> f64 {
    s.watermark_time().unwrap() + 1.0
}

#[test]
fn library_reads_overlap_and_exclusive_targets_do_not() {
    for (shared, want) in [(true, 2), (false, 1)] {
        let wait = Duration::from_millis(if shared { 10_000 } else { 300 });
        let (s, peak) = gate_scorer(shared, wait);
        let q = vec![Query { src: "1".into(), dst: "2".into(), t: late(&s) }];
        std::thread::scope(|sc| {
            for _ in 0..2 {
                sc.spawn(|| assert_eq!(s.score(&q).unwrap().len(), 1));
            }
        });
        assert_eq!(peak.load(SeqCst), want, "shared = {shared}");
    }
}

#[test]
fn concurrent_scoring_matches_one_reader_bit_for_bit() {
    let _g = torch_lock();
    let edgebank = || make_baseline(&BaselineConfig::new(BaselineKind::EdgeBank));
    let windowed_cn = || {
        make_baseline(&BaselineConfig {
            window: Some(20_000.0),
            ..BaselineConfig::new(BaselineKind::CommonNeighbours)
        })
    };
    let targets: Vec<Box<dyn StreamScorer>> = vec![
        Box::new(ModelScorer::from_model(
            crate::model::build(tiny(ModelKind::Tgn, 2000), tch::Device::Cpu, 7).unwrap(),
            50,
            0,
        )),
        Box::new(ModelScorer::from_model(
            crate::model::build(tiny(ModelKind::Graphmixer, 2000), tch::Device::Cpu, 7).unwrap(),
            50,
            0,
        )),
        edgebank().unwrap(),
        windowed_cn().unwrap(),
    ];
    let full = store_of(1000, &[]);
    for target in targets {
        let base = MemStore::from_log(
            {
                let mut log = crate::store::EventLog::with_feat_dim(0);
                for e in 0..800 {
                    let (s, d, t) = full.event(e);
                    log.push(s, d, t, &[]);
                }
                log
            },
            false,
        )
        .unwrap();
        let ids = IdMap::new(ExternalIds::Int((0..base.num_nodes() as i64).collect()), None);
        let mut s = Scorer::open(target, Box::new(base), ids, Unknown::Cold, None).unwrap();
        let ev: Vec<LiveEvent> = (800..900)
            .map(|e| {
                let (a, b, t) = full.event(e);
                LiveEvent { src: a.to_string(), dst: b.to_string(), t, feat: vec![] }
            })
            .collect();
        s.ingest(&ev).unwrap();
        let t = late(&s);
        let sets: Vec<Vec<Query>> = (0..4u32)
            .map(|k| {
                (0..300u32)
                    .map(|i| Query {
                        src: ((i * 7 + k) % 150).to_string(),
                        dst: ((i * 13 + 5 * k) % 170).to_string(),
                        t: t + f64::from(i % 5),
                    })
                    .collect()
            })
            .collect();
        let alone: Vec<Vec<u64>> =
            sets.iter().map(|q| s.score(q).unwrap().iter().map(|x| x.score.to_bits()).collect()).collect();
        let top_alone = s.top_k("3", t, &TopK { k: 5, ..Default::default() }).unwrap();
        std::thread::scope(|sc| {
            for (q, want) in sets.iter().zip(&alone) {
                let s = &s;
                sc.spawn(move || {
                    for _ in 0..3 {
                        let got: Vec<u64> = s.score(q).unwrap().iter().map(|x| x.score.to_bits()).collect();
                        assert_eq!(&got, want, "{}", s.name());
                    }
                });
            }
            sc.spawn(|| {
                assert_eq!(s.top_k("3", t, &TopK { k: 5, ..Default::default() }).unwrap(), top_alone)
            });
        });
    }
}

#[test]
fn http_reads_run_at_once() {
    let (scorer, peak) = gate_scorer(true, Duration::from_secs(10));
    let wal_dir = tempfile::tempdir().unwrap();
    let wal = Wal::open(wal_dir.path(), 0).unwrap().wal;
    let opts =
        Options { max_body_bytes: 1 << 20, snapshot_every: 0, state_dir: None, pause_before_ack: None };
    let t = late(&scorer);
    let app = App::new(scorer, wal, opts);
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let listener = rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = rt.spawn(http::serve(listener, app, async {
        let _ = stopped.await;
    }));
    let body = format!(r#"[{{"src":"1","dst":"2","t":{t}}}]"#);
    let t0 = Instant::now();
    std::thread::scope(|sc| {
        for _ in 0..2 {
            sc.spawn(|| {
                let r = Client::new(addr).unwrap().post("/score", body.as_bytes()).unwrap();
                assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
            });
        }
    });
    assert_eq!(peak.load(SeqCst), 2, "two /score requests were inside the scorer at once");
    assert!(t0.elapsed() < Duration::from_secs(9), "the readers met instead of timing out");
    stop.send(()).unwrap();
    rt.block_on(server).unwrap().unwrap();
}
