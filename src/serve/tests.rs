//! Serving equals evaluation (with and without scaled edge features), restarts
//! reproduce memory, and every refusal is a clean error that changes nothing.
//! Data: a slice of the bundled CollegeMsg.

use std::ops::Range;

use rand::{Rng, SeedableRng};

use crate::eval::baselines::{BaselineConfig, BaselineKind, make_baseline};
use crate::eval::scorer::StreamScorer;
use crate::model::config::ModelKind;
use crate::sample::batch::batch_ranges;
use crate::serve::{LiveEvent, Query, Scorer, ServeError, TopK, Unknown};
use crate::store::scaling::FeatureScaling;
use crate::store::{EventLog, ExternalIds, IdMap, MemStore, NodeId, Side, TemporalStore, Time};
use crate::train::scorer::ModelScorer;
use crate::train::tests::{store_of, tiny, torch_lock};

const N: usize = 1500;
const SPLIT: usize = 1200;

fn model(kind: ModelKind) -> Box<dyn StreamScorer> {
    Box::new(ModelScorer::from_model(
        crate::model::build(tiny(kind, 2000), tch::Device::Cpu, 7).unwrap(),
        50,
        0,
    ))
}

fn baseline() -> Box<dyn StreamScorer> {
    make_baseline(&BaselineConfig::new(BaselineKind::EdgeBank)).unwrap()
}

/// Identity id map: external id `v` is dense node `v` (CollegeMsg's ids are dense in
/// order of first appearance, and live ingest interns in the same order).
fn identity_ids(n: u32) -> IdMap {
    IdMap::new(ExternalIds::Int((0..n as i64).collect()), None)
}

fn events_of(store: &dyn TemporalStore, r: Range<usize>) -> Vec<LiveEvent> {
    r.map(|e| {
        let (s, d, t) = store.event(e as u32);
        LiveEvent { src: s.to_string(), dst: d.to_string(), t, feat: store.event_feat(e as u32).to_vec() }
    })
    .collect()
}

/// `store_of(N)` with two edge features at a user's scale: a rating in -10..10 and
/// an amount around 5,000.
fn with_edge_features(plain: &MemStore) -> MemStore {
    let mut log = EventLog::with_feat_dim(2);
    for e in 0..plain.num_events() {
        let (s, d, t) = plain.event(e as u32);
        log.push(s, d, t, &[((e * 7) % 21) as f32 - 10.0, 5000.0 + ((e * 13) % 97) as f32 * 37.5]);
    }
    MemStore::from_log(log, false).unwrap()
}

/// Each batch's positives, then one seeded random destination per positive.
fn queries_of(store: &dyn TemporalStore, r: Range<usize>, rng: &mut rand_chacha::ChaCha8Rng) -> Vec<Query> {
    queries_among(store, r, rng, 1000)
}

/// [`queries_of`] among nodes `< known` only (a positive with another endpoint is left out).
fn queries_among(
    store: &dyn TemporalStore,
    r: Range<usize>,
    rng: &mut rand_chacha::ChaCha8Rng,
    known: u32,
) -> Vec<Query> {
    let pos: Vec<(NodeId, NodeId, Time)> =
        r.map(|e| store.event(e as u32)).filter(|&(s, d, _)| s < known && d < known).collect();
    let mut q: Vec<Query> =
        pos.iter().map(|&(s, d, t)| Query { src: s.to_string(), dst: d.to_string(), t }).collect();
    for &(s, _, t) in &pos {
        q.push(Query { src: s.to_string(), dst: rng.random_range(0..known).to_string(), t });
    }
    q
}

fn dense(q: &[Query]) -> (Vec<NodeId>, Vec<NodeId>, Vec<Time>) {
    (
        q.iter().map(|x| x.src.parse().unwrap()).collect(),
        q.iter().map(|x| x.dst.parse().unwrap()).collect(),
        q.iter().map(|x| x.t).collect(),
    )
}

fn prefix(full: &MemStore, n: usize) -> MemStore {
    let mut log = EventLog::with_feat_dim(full.feat_dim());
    for e in 0..n {
        let (s, d, t) = full.event(e as u32);
        log.push(s, d, t, full.event_feat(e as u32));
    }
    MemStore::from_log(log, false).unwrap()
}

/// Drive `make()` through the split the way `linkcast eval` does (start, then score and
/// absorb per batch) and through a live `Scorer` fed batch by batch; both must agree
/// bit for bit.
fn serving_equals_evaluation(make: &dyn Fn() -> Box<dyn StreamScorer>) {
    serving_equals_evaluation_on(&store_of(N, &[]), false, make);
}

/// `known_only`: query only nodes seen before each batch (no cold nodes).
fn serving_equals_evaluation_on(full: &MemStore, known_only: bool, make: &dyn Fn() -> Box<dyn StreamScorer>) {
    let times: Vec<Time> = (0..N).map(|e| full.event(e as u32).2).collect();
    let batches = batch_ranges(&times, SPLIT..N, 50);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
    let queries: Vec<Vec<Query>> = batches
        .iter()
        .map(|b| match known_only {
            // CollegeMsg's ids are dense in order of first appearance.
            true => {
                let known = (0..b.start).map(|e| full.event(e as u32)).map(|(s, d, _)| s.max(d) + 1).max();
                queries_among(full, b.clone(), &mut rng, known.unwrap_or(0))
            }
            false => queries_of(full, b.clone(), &mut rng),
        })
        .collect();

    let mut reference = make();
    reference.start(full, SPLIT).unwrap();
    let mut expected = Vec::new();
    for (b, q) in batches.iter().zip(&queries) {
        let (s, d, t) = dense(q);
        let mut out = Vec::new();
        reference.score(full, b.clone(), &s, &d, &t, &mut out).unwrap();
        expected.push(out);
        reference.absorb(full, b.clone()).unwrap();
    }

    let base = prefix(full, SPLIT);
    let ids = identity_ids(base.num_nodes());
    // Nodes whose first event is in the batch being scored are cold (no history),
    // in evaluation as in serving.
    let mut live = Scorer::open(make(), Box::new(base), ids, Unknown::Cold, None).unwrap();
    for ((b, q), want) in batches.iter().zip(&queries).zip(&expected) {
        let got: Vec<f64> = live.score(q).unwrap().iter().map(|s| s.score).collect();
        assert_eq!(got.len(), want.len());
        for (i, (g, w)) in got.iter().zip(want).enumerate() {
            assert_eq!(g.to_bits(), w.to_bits(), "batch {b:?} query {i}: live {g} vs eval {w}");
        }
        live.ingest(&events_of(full, b.clone())).unwrap();
    }
    assert_eq!(live.num_events(), N);
    assert_eq!(live.num_nodes(), full.num_nodes());
    for v in 0..full.num_nodes() {
        assert_eq!(live.ids().lookup(Side::Src, &v.to_string()), Some(v), "new nodes keep the graph's ids");
    }
}

#[test]
fn serving_equals_evaluation_tgn() {
    let _g = torch_lock();
    serving_equals_evaluation(&|| model(ModelKind::Tgn));
}

#[test]
fn serving_equals_evaluation_other_models_and_baselines() {
    let _g = torch_lock();
    for kind in [
        ModelKind::Jodie,
        ModelKind::Dyrep,
        ModelKind::Tgat,
        ModelKind::Graphmixer,
        ModelKind::Tpnet,
        ModelKind::TpnetLite,
        ModelKind::Dygformer,
    ] {
        serving_equals_evaluation(&|| model(kind));
    }
    serving_equals_evaluation(&baseline);
    serving_equals_evaluation(&|| {
        let cfg = BaselineConfig { half_life: Some(3600.0), ..BaselineConfig::new(BaselineKind::Popularity) };
        make_baseline(&cfg).unwrap()
    });
    // A lexicographic combination: its one number counts nodes with events only.
    serving_equals_evaluation(&|| {
        let cfg = BaselineConfig { half_life: Some(3600.0), ..BaselineConfig::new(BaselineKind::LrLpGp) };
        make_baseline(&cfg).unwrap()
    });
    // Evicts old events before scoring: served through the exclusive path.
    serving_equals_evaluation(&|| {
        let cfg =
            BaselineConfig { window: Some(20_000.0), ..BaselineConfig::new(BaselineKind::CommonNeighbours) };
        make_baseline(&cfg).unwrap()
    });
}

/// Edge features, raw and scaled with training-period statistics saved in the
/// config: serving scales appended events exactly as evaluation scales stored ones.
/// The queries name known nodes only: the live scorer answers every unknown node
/// through one cold placeholder id, so a batch with several of them has fewer
/// distinct roots than in evaluation, and with edge features in the attention's
/// inputs the matrix products of a different row count round differently (about
/// 1e-7; the same with features scaled by hand, so not the scaling's doing).
#[test]
fn serving_equals_evaluation_with_scaled_edge_features() {
    let _g = torch_lock();
    let full = with_edge_features(&store_of(N, &[]));
    let stats = FeatureScaling::standard(&full, 0..SPLIT).unwrap();
    assert!(stats.as_ref().and_then(|s| s.edge.as_ref()).is_some_and(|e| e.std[1] > 100.0));
    for (kind, scaling) in [ModelKind::Tgn, ModelKind::Dyrep, ModelKind::Graphmixer]
        .into_iter()
        .flat_map(|k| [(k, None), (k, stats.clone())])
    {
        let mut cfg = tiny(kind, 2000);
        cfg.edge_dim = 2;
        cfg.feature_scaling = scaling;
        serving_equals_evaluation_on(&full, true, &|| {
            Box::new(ModelScorer::from_model(
                crate::model::build(cfg.clone(), tch::Device::Cpu, 7).unwrap(),
                50,
                0,
            ))
        });
    }
}

#[test]
fn a_restart_from_saved_state_reproduces_memory() {
    let _g = torch_lock();
    let full = store_of(N, &[]);
    let times: Vec<Time> = (0..N).map(|e| full.event(e as u32).2).collect();
    let batches = batch_ranges(&times, SPLIT..N, 37);
    let open = |state: Option<&std::path::Path>| {
        let base = prefix(&full, SPLIT);
        let ids = identity_ids(base.num_nodes());
        Scorer::open(model(ModelKind::Tgn), Box::new(base), ids, Unknown::Cold, state).unwrap()
    };
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("live");
    let mut a = open(None);
    let half = batches.len() / 2;
    for b in &batches[..half] {
        a.ingest(&events_of(&full, b.clone())).unwrap();
    }
    a.save_state(&state).unwrap();
    a.save_state(&state).unwrap(); // replacing an existing state works too
    let mut b = open(Some(&state));
    assert_eq!((b.num_events(), b.batches(), b.num_nodes()), (a.num_events(), a.batches(), a.num_nodes()));
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(9);
    for r in &batches[half..] {
        let q = queries_of(&full, r.clone(), &mut rng);
        let (x, y) = (a.score(&q).unwrap(), b.score(&q).unwrap());
        assert!(x.iter().zip(&y).all(|(x, y)| x.score.to_bits() == y.score.to_bits()));
        let ev = events_of(&full, r.clone());
        a.ingest(&ev).unwrap();
        b.ingest(&ev).unwrap();
    }
    // A state interrupted between its two renames is still found.
    std::fs::rename(&state, dir.path().join("live.old")).unwrap();
    let c = open(Some(&state));
    assert_eq!(c.batches(), half as u64);
}

#[test]
fn refusals_are_clean_and_change_nothing() {
    let _g = torch_lock();
    let base = store_of(500, &[]);
    let wm = base.newest_time().unwrap();
    let ids = identity_ids(base.num_nodes());
    let mut s = Scorer::open(model(ModelKind::Tgn), Box::new(base), ids, Unknown::Error, None).unwrap();
    let ev = |src: &str, dst: &str, t: f64| LiveEvent { src: src.into(), dst: dst.into(), t, feat: vec![] };
    let q = |src: &str, dst: &str, t: f64| Query { src: src.into(), dst: dst.into(), t };
    let before = (s.num_events(), s.num_nodes(), s.batches());
    let err = s.ingest(&[ev("1", "2", wm + 5.0), ev("1", "3", wm - 1.0)]).unwrap_err();
    assert!(matches!(err, ServeError::TooOld { index: 1, .. }), "{err}");
    let err = s.ingest(&[ev("1", "2", wm + 5.0), ev("1", "3", wm + 4.0)]).unwrap_err();
    assert!(matches!(err, ServeError::OutOfOrder { index: 1, .. }), "{err}");
    let err = s.ingest(&[ev("1", "2", wm + 5.0), ev("1", "3", f64::NAN)]).unwrap_err();
    assert!(matches!(err, ServeError::Invalid { index: 1, field: "t", .. }), "{err}");
    let err = s.ingest(&[LiveEvent { feat: vec![1.0], ..ev("1", "2", wm + 1.0) }]).unwrap_err();
    assert!(matches!(err, ServeError::Invalid { field: "feat", .. }), "{err}");
    assert!(matches!(s.ingest(&[]).unwrap_err(), ServeError::Invalid { .. }));
    assert_eq!((s.num_events(), s.num_nodes(), s.batches()), before, "a refused batch changes nothing");

    // Queries: at the watermark is too old (events at that time were absorbed).
    assert!(matches!(s.score(&[q("1", "2", wm)]).unwrap_err(), ServeError::TooOld { .. }));
    let err = s.score(&[q("1", "2", wm + 1.0), q("1", "nobody", wm + 1.0)]).unwrap_err();
    assert!(matches!(err, ServeError::UnknownNode { index: 1, field: "dst", .. }), "{err}");
    let err = s.top_k("nobody", wm + 1.0, &TopK { k: 3, ..Default::default() }).unwrap_err();
    assert!(matches!(err, ServeError::UnknownNode { .. }), "{err}");

    // Equal times are fine for events; new nodes grow the graph and the memory.
    let sum = s.ingest(&[ev("1", "newbie", wm), ev("newbie", "2", wm + 2.0)]).unwrap();
    assert_eq!((sum.events, sum.new_nodes, sum.batch), (2, 1, 1));
    let r = s.score(&[q("newbie", "1", wm + 3.0)]).unwrap();
    assert!(r[0].score.is_finite() && !r[0].cold_src);
}

#[test]
fn cold_nodes_and_top_k() {
    let _g = torch_lock();
    let base = store_of(800, &[]);
    let wm = base.newest_time().unwrap();
    let n = base.num_nodes();
    let ids = identity_ids(n);
    let s = Scorer::open(model(ModelKind::Tgn), Box::new(base), ids, Unknown::Cold, None).unwrap();
    let q = |src: &str, dst: &str| Query { src: src.into(), dst: dst.into(), t: wm + 10.0 };
    let r = s.score(&[q("stranger", "1"), q("1", "stranger"), q("1", "2")]).unwrap();
    assert!(r[0].cold_src && !r[0].cold_dst && r[1].cold_dst && !r[2].cold_src && !r[2].cold_dst);

    let (top, cold) = s.top_k("1", wm + 10.0, &TopK { k: 7, ..Default::default() }).unwrap();
    assert!(!cold);
    assert_eq!(top.len(), 7);
    assert!(top.windows(2).all(|w| w[0].score >= w[1].score), "best first");
    assert!(top.iter().all(|r| r.dst != "1"), "the source is not its own candidate");
    // The ranking equals brute force over score().
    let all: Vec<Query> = (0..n).filter(|&d| d != 1).map(|d| q("1", &d.to_string())).collect();
    let scores = s.score(&all).unwrap();
    let mut brute: Vec<(f64, u32)> =
        scores.iter().zip(&all).map(|(s, q)| (s.score, q.dst.parse().unwrap())).collect();
    brute.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    for (r, b) in top.iter().zip(&brute) {
        assert_eq!((r.dst.clone(), r.score.to_bits()), (b.1.to_string(), b.0.to_bits()));
    }
    // exclude_seen drops every earlier partner of the source.
    let seen: std::collections::HashSet<String> =
        s.store().neighbors(1).iter().map(|(v, _, _)| v.to_string()).collect();
    assert!(!seen.is_empty());
    let (top, _) = s
        .top_k("1", wm + 10.0, &TopK { k: n as usize, exclude_seen: true, candidates: None, retrieve: None })
        .unwrap();
    assert_eq!(top.len(), n as usize - 1 - seen.len());
    assert!(top.iter().all(|r| !seen.contains(&r.dst)));
    // Explicit candidates, and k larger than the list.
    let cands = vec!["5".to_string(), "9".to_string()];
    let (top, _) = s
        .top_k("1", wm + 10.0, &TopK { k: 10, exclude_seen: false, candidates: Some(cands), retrieve: None })
        .unwrap();
    assert_eq!(top.len(), 2);
}

#[test]
fn bipartite_graphs_rank_destinations_only() {
    // Users 0..3 (external "u0".."u2") and items 3..6 ("i0".."i2").
    let mut log = EventLog::with_feat_dim(0);
    for (k, (s, d)) in [(0, 3), (1, 4), (2, 3), (0, 5), (1, 3)].into_iter().enumerate() {
        log.push(s, d, k as f64, &[]);
    }
    let store = MemStore::from_log(log, false).unwrap();
    let names = ExternalIds::Str(["u0", "u1", "u2", "i0", "i1", "i2"].map(String::from).to_vec());
    let ids = IdMap::new(names, Some(3));
    let pop = make_baseline(&BaselineConfig::new(BaselineKind::Popularity)).unwrap();
    let mut s = Scorer::open(pop, Box::new(store), ids, Unknown::Error, None).unwrap();
    let (top, _) = s.top_k("u0", 10.0, &TopK { k: 10, ..Default::default() }).unwrap();
    let names: Vec<&str> = top.iter().map(|r| r.dst.as_str()).collect();
    assert_eq!(names, ["i0", "i1", "i2"], "items only, the most popular first");
    // A new item arrives through ingest and becomes a candidate; a new user does not.
    let ev = |s: &str, d: &str, t: f64| LiveEvent { src: s.into(), dst: d.into(), t, feat: vec![] };
    s.ingest(&[ev("u9", "i9", 11.0), ev("u9", "i9", 12.0)]).unwrap();
    let (top, _) = s.top_k("u0", 13.0, &TopK { k: 10, ..Default::default() }).unwrap();
    let mut names: Vec<&str> = top.iter().map(|r| r.dst.as_str()).collect();
    names.sort_unstable();
    assert_eq!(names, ["i0", "i1", "i2", "i9"]);
    // "u0" names a user, not an item: unknown on the destination side.
    assert!(matches!(
        s.score(&[Query { src: "u1".into(), dst: "u0".into(), t: 20.0 }]),
        Err(ServeError::UnknownNode { .. })
    ));
}

#[test]
fn queries_file_round_trip() {
    use crate::serve::Scored;
    use crate::serve::queries::{read_queries, write_scores};
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("q.csv");
    std::fs::write(&p, "dst,src,time\nb,a,5\n\"c,d\",a,6.5\n").unwrap();
    let q = read_queries(&p).unwrap();
    assert_eq!(
        q,
        vec![
            Query { src: "a".into(), dst: "b".into(), t: 5.0 },
            Query { src: "a".into(), dst: "c,d".into(), t: 6.5 }
        ]
    );
    let scores = vec![Scored { score: 0.25, cold_src: false, cold_dst: true }; 2];
    let out = dir.path().join("s.parquet");
    write_scores(&out, &q, &scores).unwrap();
    // Parquet output read back as queries keeps the order and ids.
    assert_eq!(read_queries(&out).unwrap(), q);
    std::fs::write(&p, "src,dst,time\na,b,5\na,b,soon\n").unwrap();
    let e = read_queries(&p).unwrap_err().to_string();
    assert!(e.contains("q.csv:3") && e.contains("time") && e.contains("soon"), "{e}");
    std::fs::write(&p, "src,dst,when\na,b,5\n").unwrap();
    assert!(read_queries(&p).unwrap_err().to_string().contains("need columns"));
}

/// The scorer keeps only batch boundaries; the batches a snapshot writes and the WAL
/// check reads are rebuilt from the store and the id map, and must be exactly the
/// ingested ones (string ids not in integer form, new nodes, edge features), also
/// after a restart from the snapshot.
#[test]
fn live_batches_rebuilt_from_the_store_are_the_ingested_ones() {
    let plain = store_of(N, &[]);
    let full = with_edge_features(&plain);
    let base = prefix(&full, SPLIT);
    let names: Vec<String> = (0..base.num_nodes()).map(|v| format!("user-{v:03}")).collect();
    let ids = || IdMap::new(ExternalIds::Str(names.clone()), None);
    let open = |state: Option<&std::path::Path>| {
        Scorer::open(baseline(), Box::new(prefix(&full, SPLIT)), ids(), Unknown::Cold, state).unwrap()
    };
    let name =
        |v: NodeId| if (v as usize) < names.len() { names[v as usize].clone() } else { format!("007-{v}") };
    let mut s = open(None);
    let mut sent = Vec::new();
    for (i, lo) in (SPLIT..N).step_by(60).enumerate() {
        let ev: Vec<LiveEvent> = (lo..(lo + 60).min(N))
            .map(|e| {
                let (a, b, t) = full.event(e as u32);
                LiveEvent { src: name(a), dst: name(b), t, feat: full.event_feat(e as u32).to_vec() }
            })
            .collect();
        assert_eq!(s.ingest(&ev).unwrap().batch, i as u64 + 1);
        sent.push(ev);
    }
    let check = |s: &Scorer| {
        assert_eq!(s.batches(), sent.len() as u64);
        for (i, ev) in sent.iter().enumerate() {
            let b = s.live_batch(i as u64 + 1).unwrap();
            assert_eq!((b.seq, &b.events), (i as u64 + 1, ev));
        }
        assert!(s.live_batch(0).is_none() && s.live_batch(sent.len() as u64 + 1).is_none());
    };
    check(&s);
    let dir = tempfile::tempdir().unwrap();
    s.save_state(&dir.path().join("live")).unwrap();
    check(&open(Some(&dir.path().join("live"))));
}

/// Many sources at once answer every query exactly as `top_k` answers it alone:
/// several times (queries grouped by time), repeated and cold sources, exhaustive,
/// `exclude_seen` and a candidate list; tiny blocks and pieces force several blocks
/// per time, several calls per block and running top-k prunes.
#[test]
fn many_sources_equal_one_at_a_time() {
    use crate::serve::SourceQuery;
    let _g = torch_lock();
    // TGN and GraphMixer share candidates through `score_grid`; TPNet-lite and the
    // baseline score pairs.
    for make in [model(ModelKind::Tgn), model(ModelKind::Graphmixer), model(ModelKind::TpnetLite), baseline()]
    {
        let base = store_of(800, &[]);
        let wm = base.newest_time().unwrap();
        let n = base.num_nodes();
        let s = Scorer::open(make, Box::new(base), identity_ids(n), Unknown::Cold, None).unwrap();
        let mut qs = Vec::new();
        for (i, src) in ["1", "2", "stranger", "7", "1", "40", "3"].iter().enumerate() {
            qs.push(SourceQuery { src: src.to_string(), t: wm + if i % 2 == 0 { 10.0 } else { 20.0 } });
        }
        let cands: Vec<String> = (0..60).map(|d| (d * 7 % n).to_string()).collect();
        for opts in [
            TopK { k: 6, ..Default::default() },
            TopK { k: 6, exclude_seen: true, ..Default::default() },
            TopK { k: 4, candidates: Some(cands.clone()), ..Default::default() },
            TopK { k: 3, retrieve: Some(20), ..Default::default() },
        ] {
            let alone: Vec<_> = qs.iter().map(|q| s.top_k(&q.src, q.t, &opts).unwrap()).collect();
            for (block, chunk) in [(181, 32_768), (2, 40), (1, 7)] {
                let many = s.top_k_many_in(&qs, &opts, block, chunk).unwrap();
                assert_eq!(many.len(), qs.len());
                for (i, (m, a)) in many.iter().zip(&alone).enumerate() {
                    assert_eq!(m.1, a.1, "query {i}: cold flag");
                    let dst =
                        |r: &[crate::serve::Ranked]| r.iter().map(|x| x.dst.clone()).collect::<Vec<_>>();
                    assert_eq!(dst(&m.0), dst(&a.0), "query {i}, {opts:?}, block {block}, chunk {chunk}");
                    for (x, y) in m.0.iter().zip(&a.0) {
                        assert!((x.score - y.score).abs() <= 1e-6, "query {i}: {} vs {}", x.score, y.score);
                    }
                }
            }
        }
        // Errors name the query.
        let late = vec![qs[0].clone(), SourceQuery { src: "1".into(), t: wm - 1.0 }];
        match s.top_k_many(&late, &TopK { k: 3, ..Default::default() }) {
            Err(ServeError::TooOld { index: 1, .. }) => {}
            other => panic!("{other:?}"),
        }
    }
}

/// The top-k cache answers what the uncached scorer answers: warm queries at one
/// time, candidate lists, `exclude_seen`, retrieval, a cold source, live batches
/// that touch cached candidates or their neighbours, new nodes, and a batch that
/// moves the watermark past the cached time. Every score is compared (`k` covers
/// all candidates), so a stale row fails it.
#[test]
fn topk_cache_equals_uncached_across_ingests() {
    let _g = torch_lock();
    let full = store_of(1000, &[]);
    let end = full.newest_time().unwrap();
    for kind in [ModelKind::Tgn, ModelKind::Graphmixer, ModelKind::TpnetLite] {
        let open = |cap: u64| {
            let base = prefix(&full, 700);
            let n = base.num_nodes();
            let mut s =
                Scorer::open(model(kind), Box::new(base), identity_ids(n), Unknown::Cold, None).unwrap();
            s.set_topk_cache(cap);
            s
        };
        let (mut cached, mut plain) = (open(64 << 20), open(0));
        let t = end + 50.0;
        let all = TopK { k: 5000, ..Default::default() };
        let check = |c: &Scorer, p: &Scorer, t: f64, what: &str| {
            let cands: Vec<String> = (0..40).map(|d| (d * 11 % c.num_nodes()).to_string()).collect();
            for opts in [
                all.clone(),
                TopK { k: 5000, exclude_seen: true, ..Default::default() },
                TopK { k: 5000, candidates: Some(cands), ..Default::default() },
                TopK { k: 5000, retrieve: Some(30), ..Default::default() },
            ] {
                // Many sources through the cache, in small blocks and pieces.
                let qs: Vec<crate::serve::SourceQuery> = ["3", "1", "stranger", "12"]
                    .iter()
                    .map(|s| crate::serve::SourceQuery { src: s.to_string(), t })
                    .collect();
                let many = c.top_k_many_in(&qs, &opts, 3, 50).unwrap();
                for (q, m) in qs.iter().zip(&many) {
                    let b = p.top_k(&q.src, t, &opts).unwrap();
                    assert_eq!(m.0.len(), b.0.len(), "{kind} {what}: many {}", q.src);
                    for (x, y) in m.0.iter().zip(&b.0) {
                        assert!((x.score - y.score).abs() <= 1e-6, "{kind} {what}: many {x:?} vs {y:?}");
                    }
                }
                for src in ["1", "2", "stranger", "7", "40"] {
                    let (a, b) = (c.top_k(src, t, &opts).unwrap(), p.top_k(src, t, &opts).unwrap());
                    assert_eq!(a.1, b.1, "{what}: cold flag");
                    assert_eq!(a.0.len(), b.0.len(), "{kind} {what}: {src} {opts:?}");
                    for (x, y) in a.0.iter().zip(&b.0) {
                        assert!((x.score - y.score).abs() <= 1e-6, "{kind} {what}: {src} {x:?} vs {y:?}");
                        assert!(x.dst == y.dst || (x.score - y.score).abs() <= 1e-6, "{kind} {what}: order");
                    }
                }
            }
        };
        check(&cached, &plain, t, "fill");
        let st = cached.topk_cache_stats();
        let splits = kind != ModelKind::TpnetLite;
        assert_eq!(st.rows > 0, splits, "{kind}: {st:?}");
        check(&cached, &plain, t, "warm");
        if splits {
            let warm = cached.topk_cache_stats();
            assert_eq!(warm.computed, st.computed, "{kind}: warm queries computed rows: {warm:?}");
            assert!(warm.served > st.served);
        }
        // Live batches before `t`: each invalidates what its events touch.
        for lo in (700..1000).step_by(100) {
            for s in [&mut cached, &mut plain] {
                s.ingest(&events_of(&full, lo..lo + 100)).unwrap();
            }
            check(&cached, &plain, t, "after a batch");
        }
        let st = cached.topk_cache_stats();
        if splits {
            assert!(st.invalidated > 0 && st.rows > 0, "{kind}: {st:?}");
        }
        // New nodes, then a batch at `t` itself: the entry for `t` is dropped.
        let fresh = vec![
            LiveEvent { src: "9001".into(), dst: "1".into(), t: end + 1.0, feat: vec![] },
            LiveEvent { src: "2".into(), dst: "9002".into(), t: end + 2.0, feat: vec![] },
        ];
        let late = vec![LiveEvent { src: "1".into(), dst: "7".into(), t, feat: vec![] }];
        // Queries that leave the new nodes out keep the entry's slot table as it
        // was; a row that reads a new node (node 1's: its latest partner) must
        // still go when that node is touched again.
        let again = vec![LiveEvent { src: "9001".into(), dst: "40".into(), t: end + 3.0, feat: vec![] }];
        let list = TopK {
            k: 50,
            candidates: Some(["1", "2", "7", "40", "3"].map(String::from).to_vec()),
            ..Default::default()
        };
        let same_list = |c: &Scorer, p: &Scorer, what: &str| {
            for src in ["12", "stranger"] {
                let (a, b) = (c.top_k(src, t, &list).unwrap().0, p.top_k(src, t, &list).unwrap().0);
                assert_eq!(a.len(), b.len());
                for (x, y) in a.iter().zip(&b) {
                    assert!((x.score - y.score).abs() <= 1e-6, "{kind} {what}: {x:?} vs {y:?}");
                }
            }
        };
        for batch in [&fresh, &again] {
            for s in [&mut cached, &mut plain] {
                s.ingest(batch).unwrap();
            }
            same_list(&cached, &plain, "new nodes, a list");
        }
        check(&cached, &plain, t, "new nodes");
        for s in [&mut cached, &mut plain] {
            s.ingest(&late).unwrap();
        }
        check(&cached, &plain, t + 5.0, "a later time");
        let end_stats = cached.topk_cache_stats();
        if splits {
            assert!(
                end_stats.dropped > st.dropped && end_stats.time == Some(t + 5.0),
                "{kind}: {end_stats:?}"
            );
        }
    }
}
