//! Neighbour sampler tests: every answer checked against a linear-scan oracle over
//! random graphs with many equal timestamps, on `MemStore` and `MmapStore` (with
//! and without an appended tail), both strategies, one and two layers, binary
//! search and cursor; planted leaks; a deliberately wrong (`<=`) sampler that the
//! checks must reject; a chi-square test of the uniform draws; determinism across
//! thread counts.

use proptest::prelude::*;
use proptest::strategy::Strategy as _;
use proptest::test_runner::{Config, TestRunner};

use super::{NeighborSampler, SampleError, Sampled, SamplerConfig, SplitMix64, Strategy};
use crate::store::{
    EventId, EventLog, ExternalIds, GraphData, IdMap, MemStore, MmapStore, NodeId, TemporalStore, Time,
    WriteOptions, write_graph,
};

/// The obvious model: a list of events, scanned linearly.
#[derive(Debug, Clone)]
struct Oracle {
    events: Vec<(NodeId, NodeId, Time)>,
    directed: bool,
}

impl Oracle {
    /// Entries of `v` with time `< t` and id `< cutoff`, in event order (a filter
    /// over all events, not a prefix: the sampler's prefix logic is what is tested).
    fn visible(&self, v: NodeId, t: Time, cutoff: EventId) -> Vec<(NodeId, Time, EventId)> {
        let mut out = Vec::new();
        for (e, &(s, d, te)) in self.events.iter().enumerate() {
            let e = e as EventId;
            if !(te < t && e < cutoff) {
                continue;
            }
            if s == v {
                out.push((d, te, e));
            } else if !self.directed && d == v {
                out.push((s, te, e));
            }
        }
        out
    }
}

/// A random graph (ties everywhere), how to store it, and events appended later.
#[derive(Debug, Clone)]
struct Case {
    n: u32,
    base: Vec<(NodeId, NodeId, Time)>,
    appends: Vec<(NodeId, NodeId, Time)>,
    directed: bool,
    shard_nodes: u32,
    batch: usize,
    k: usize,
    k2: usize,
    /// Extra queries at arbitrary (node, time, cutoff): time going back and forth.
    extra: Vec<(NodeId, u8, u8)>,
}

fn case_strategy(max_events: usize) -> impl proptest::strategy::Strategy<Value = Case> {
    (1u32..8, any::<bool>(), 1u32..4, 1usize..7, 1usize..5, 1usize..4).prop_flat_map(
        move |(n, directed, shard_nodes, batch, k, k2)| {
            let evs = prop::collection::vec((0..n, 0..n, 0u8..4), 1..max_events);
            let apps = prop::collection::vec((0..n + 2, 0..n + 2, 0u8..3), 0..8);
            let extra = prop::collection::vec((0..n + 2, any::<u8>(), any::<u8>()), 0..16);
            (evs, apps, extra).prop_map(move |(evs, apps, extra)| {
                // Steps of 0 (a tie) half of the time.
                let mut t = 0.0;
                let mut step = |s: u8| {
                    t += (s / 2) as Time;
                    t
                };
                let base = evs.into_iter().map(|(s, d, st)| (s, d, step(st))).collect();
                let appends = apps.into_iter().map(|(s, d, st)| (s, d, step(st))).collect();
                Case { n, base, appends, directed, shard_nodes, batch, k, k2, extra }
            })
        },
    )
}

fn log_of(evs: &[(NodeId, NodeId, Time)]) -> EventLog {
    let mut log = EventLog::with_feat_dim(0);
    for &(s, d, t) in evs {
        log.push(s, d, t, &[]);
    }
    log
}

impl Case {
    fn oracle(&self, with_tail: bool) -> Oracle {
        let mut events = self.base.clone();
        if with_tail {
            events.extend(&self.appends);
        }
        Oracle { events, directed: self.directed }
    }

    fn data(&self) -> GraphData {
        GraphData {
            events: log_of(&self.base),
            ids: IdMap::new(ExternalIds::Int((0..self.n as i64).collect()), None),
            node_features: None,
            directed: self.directed,
            provenance: serde_json::Value::Null,
        }
    }

    fn mem(&self, with_tail: bool) -> MemStore {
        let opts = WriteOptions { shard_nodes: self.shard_nodes, replace: false };
        let mut s = MemStore::from_data_with(&self.data(), &opts).expect("MemStore");
        if with_tail {
            self.append(&mut s);
        }
        s
    }

    fn mmap(&self, dir: &std::path::Path, with_tail: bool) -> MmapStore {
        let opts = WriteOptions { shard_nodes: self.shard_nodes, replace: false };
        write_graph(dir, &self.data(), &opts).expect("write_graph");
        let mut s = MmapStore::open(dir).expect("open");
        if with_tail {
            self.append(&mut s);
        }
        s
    }

    fn append<S: TemporalStore>(&self, s: &mut S) {
        for &(a, b, t) in &self.appends {
            s.append(a, b, t, &[]).expect("append");
        }
    }
}

/// One batch of a chronological replay: roots, times, cutoff.
struct Batch {
    roots: Vec<NodeId>,
    times: Vec<Time>,
    cutoff: EventId,
}

/// Replay `events` in batches of `size`: roots are each event's endpoints plus a
/// "negative" `(src + 1) % (n + 1)` (sometimes a node without entries), at the
/// event's time; then `extra` queries at arbitrary times and cutoffs (time going
/// back), each its own batch.
fn batches(o: &Oracle, size: usize, n: u32, extra: &[(NodeId, u8, u8)]) -> Vec<Batch> {
    let mut out = Vec::new();
    for (b, chunk) in o.events.chunks(size).enumerate() {
        let mut bt = Batch { roots: vec![], times: vec![], cutoff: (b * size) as EventId };
        for &(s, d, t) in chunk {
            bt.roots.extend([s, d, (s + 1) % (n + 1)]);
            bt.times.extend([t, t, t]);
        }
        out.push(bt);
    }
    let e = o.events.len().max(1);
    for &(v, ti, ci) in extra {
        let t = o.events[ti as usize % e].2 + [0.0, 0.5, -0.5, 1e9][(ti / 64) as usize];
        let cutoff = [ci as EventId % (e as EventId + 1), EventId::MAX][(ci / 200).min(1) as usize];
        out.push(Batch { roots: vec![v], times: vec![t], cutoff });
    }
    out
}

/// What one layer was asked: roots, their times and validity, cut-off, fan-out.
struct Asked<'x> {
    roots: &'x [NodeId],
    times: &'x [Time],
    valid: Option<&'x [u8]>,
    cutoff: EventId,
    k: usize,
    strategy: Strategy,
}

/// Check one layer's output against the oracle; `Err` describes the first mismatch.
fn check_layer(o: &Oracle, s: &Sampled, a: Asked<'_>) -> Result<(), String> {
    let Asked { roots, times, valid, cutoff, k, strategy } = a;
    if s.k != k || s.nbr.len() != roots.len() * k || s.roots() != roots.len() {
        return Err(format!("shape: k {} len {} for {} roots x {k}", s.k, s.nbr.len(), roots.len()));
    }
    for i in 0..roots.len() {
        let (nbr, eid, t, mask) = s.row(i).unwrap();
        let got: Vec<_> = (0..k).filter(|&j| mask[j] == 1).map(|j| (nbr[j], t[j], eid[j])).collect();
        let nvalid = got.len();
        let ctx = || format!("root {i} (node {}, t {}, cutoff {cutoff}): got {got:?}", roots[i], times[i]);
        if mask[..nvalid].iter().any(|&m| m != 1) || mask.iter().any(|&m| m > 1) {
            return Err(format!("{}: valid slots not first: {mask:?}", ctx()));
        }
        for j in nvalid..k {
            if (nbr[j], eid[j], t[j]) != (0, 0, 0.0) {
                return Err(format!("{}: padding slot {j} not zero", ctx()));
            }
        }
        let want =
            if valid.is_some_and(|v| v[i] == 0) { vec![] } else { o.visible(roots[i], times[i], cutoff) };
        match strategy {
            Strategy::Recent => {
                let w = &want[want.len() - want.len().min(k)..];
                if got != w {
                    return Err(format!("{}, want {w:?}", ctx()));
                }
            }
            Strategy::Uniform => {
                let expect_n = if want.is_empty() { 0 } else { k };
                if nvalid != expect_n {
                    return Err(format!("{}: {nvalid} valid, want {expect_n} of {want:?}", ctx()));
                }
                if let Some(x) = got.iter().find(|x| !want.contains(x)) {
                    return Err(format!("{}: {x:?} is not a visible entry {want:?}", ctx()));
                }
                if got.windows(2).any(|w| w[0].2 > w[1].2) {
                    return Err(format!("{}: not chronological", ctx()));
                }
            }
        }
    }
    Ok(())
}

/// Replay every batch through `sampler` (all layers) and check each layer.
fn check_sampler<S: TemporalStore + ?Sized>(
    sampler: &NeighborSampler<'_, S>,
    o: &Oracle,
    case: &Case,
) -> Result<(), String> {
    let cfg = sampler.config().clone();
    let mut outs = Vec::new();
    for b in batches(o, case.batch, case.n, &case.extra) {
        sampler.sample_layers_into(&b.roots, &b.times, b.cutoff, &mut outs).map_err(|e| e.to_string())?;
        let mut single = Sampled::new();
        sampler.sample(&b.roots, &b.times, b.cutoff, &mut single).map_err(|e| e.to_string())?;
        if single != outs[0] {
            return Err("sample() differs from layer 0 of sample_layers()".into());
        }
        let (k, strategy, cutoff) = (cfg.fanouts[0], cfg.strategy, b.cutoff);
        check_layer(
            o,
            &outs[0],
            Asked { roots: &b.roots, times: &b.times, valid: None, cutoff, k, strategy },
        )?;
        for l in 1..outs.len() {
            let p = &outs[l - 1];
            let k = cfg.fanouts[l];
            let asked = Asked { roots: &p.nbr, times: &p.t, valid: Some(&p.mask), cutoff, k, strategy };
            check_layer(o, &outs[l], asked).map_err(|e| format!("layer {l}: {e}"))?;
        }
    }
    Ok(())
}

/// Both strategies, one and two layers, with and without cursor, tiny chunks so
/// several rayon tasks run: all checked against the oracle; cursor == no cursor.
fn check_all<S: TemporalStore + ?Sized>(store: &S, o: &Oracle, case: &Case, seed: u64) -> Result<(), String> {
    for strategy in [Strategy::Recent, Strategy::Uniform] {
        for fanouts in [vec![case.k], vec![case.k, case.k2]] {
            let cfg = SamplerConfig::new(fanouts, strategy, seed);
            let plain = NeighborSampler::new(store, cfg.clone()).unwrap().with_min_chunk(2);
            let cur = NeighborSampler::new(store, cfg).unwrap().with_cursor().with_min_chunk(3);
            check_sampler(&plain, o, case).map_err(|e| format!("{strategy} binary search: {e}"))?;
            check_sampler(&cur, o, case).map_err(|e| format!("{strategy} cursor: {e}"))?;
            // Same outputs whichever path, batch by batch (uniform included).
            for b in batches(o, case.batch, case.n, &case.extra) {
                let x = plain.sample_layers(&b.roots, &b.times, b.cutoff).unwrap();
                let y = cur.sample_layers(&b.roots, &b.times, b.cutoff).unwrap();
                if x != y {
                    return Err(format!(
                        "{strategy}: cursor and binary search differ at cutoff {}",
                        b.cutoff
                    ));
                }
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn prop_mem_store_sampler_matches_oracle(case in case_strategy(40), seed in any::<u64>()) {
        for with_tail in [false, true] {
            let store = case.mem(with_tail);
            let r = check_all(&store, &case.oracle(with_tail), &case, seed);
            prop_assert!(r.is_ok(), "MemStore (tail {}): {}", with_tail, r.unwrap_err());
        }
    }

    #[test]
    fn prop_mmap_store_sampler_matches_oracle(case in case_strategy(40), seed in any::<u64>()) {
        let tmp = tempfile::tempdir().unwrap();
        for with_tail in [false, true] {
            let dir = tmp.path().join(format!("g{with_tail}"));
            let store = case.mmap(&dir, with_tail);
            // Through a trait object too, as serving code holds it.
            let dynstore: &dyn TemporalStore = &store;
            let r = check_all(dynstore, &case.oracle(with_tail), &case, seed);
            prop_assert!(r.is_ok(), "MmapStore (tail {}): {}", with_tail, r.unwrap_err());
        }
    }
}

/// The deliberately wrong sampler (`time <= t`) must fail the same oracle check that
/// the real one passes: the property test "catches" it on some random graph.
#[test]
fn oracle_check_catches_leaky_sampler() {
    let mut runner = TestRunner::new(Config { cases: 64, failure_persistence: None, ..Config::default() });
    let result = runner.run(&case_strategy(40), |case| {
        let store = case.mem(true);
        let o = case.oracle(true);
        for strategy in [Strategy::Recent, Strategy::Uniform] {
            let cfg = SamplerConfig::new(vec![case.k], strategy, 7);
            let leaky = NeighborSampler::new(&store, cfg).unwrap().leaky();
            let r = check_sampler(&leaky, &o, &case);
            prop_assert!(r.is_ok(), "{}", r.unwrap_err());
        }
        Ok(())
    });
    let err = result.expect_err("a `<=` sampler passed the oracle check on 64 random graphs");
    assert!(err.to_string().contains("want"), "unexpected failure: {err}");
}

/// Planted events: for node 0, events at times 1, 2, 5 (ids 0..=2) before the
/// batch, then the batch starts at id 3 with events at 5 and 6. A root at 5 must
/// not see id 2 (same timestamp); a root at 6 must not see id 3 (inside the batch,
/// though earlier in time). The `<=` sampler returns id 2 and is caught.
#[test]
fn planted_same_time_and_in_batch_events_are_invisible() {
    let evs = vec![(0, 1, 1.0), (2, 0, 2.0), (0, 3, 5.0), (0, 4, 5.0), (5, 0, 6.0)];
    let case = Case {
        n: 6,
        base: evs.clone(),
        appends: vec![],
        directed: false,
        shard_nodes: 2,
        batch: 3,
        k: 10,
        k2: 1,
        extra: vec![],
    };
    let tmp = tempfile::tempdir().unwrap();
    let mem = case.mem(false);
    let mmap = case.mmap(&tmp.path().join("g"), false);
    // The same events with the last two appended to the tail instead.
    let split = Case { base: evs[..3].to_vec(), appends: evs[3..].to_vec(), ..case.clone() };
    let tail = split.mem(true);
    let stores: [(&str, &dyn TemporalStore); 3] = [("mem", &mem), ("mmap", &mmap), ("tail", &tail)];
    let (roots, times, cutoff) = ([0, 0, 0], [5.0, 6.0, 7.0], 3);
    for (name, store) in stores {
        for strategy in [Strategy::Recent, Strategy::Uniform] {
            let cfg = SamplerConfig::new(vec![10], strategy, 1);
            for cursor in [false, true] {
                let mut s = NeighborSampler::new(store, cfg.clone()).unwrap();
                if cursor {
                    s = s.with_cursor();
                }
                let mut out = Sampled::new();
                s.sample(&roots, &times, cutoff, &mut out).unwrap();
                let ids = |i: usize| {
                    let (_, eid, _, mask) = out.row(i).unwrap();
                    let mut v: Vec<_> = (0..10).filter(|&j| mask[j] == 1).map(|j| eid[j]).collect();
                    v.dedup();
                    v
                };
                let what = format!("{name} {strategy} cursor {cursor}");
                match strategy {
                    Strategy::Recent => {
                        assert_eq!(ids(0), vec![0, 1], "{what}: root at 5");
                        assert_eq!(ids(1), vec![0, 1, 2], "{what}: root at 6");
                        assert_eq!(ids(2), vec![0, 1, 2], "{what}: root at 7");
                    }
                    Strategy::Uniform => {
                        assert!(ids(0).iter().all(|&e| e < 2), "{what}: root at 5 saw {:?}", ids(0));
                        assert!(ids(1).iter().all(|&e| e < 3), "{what}: root at 6 saw {:?}", ids(1));
                    }
                }
            }
            // The wrong comparison leaks the event at the root's own timestamp.
            let leaky = NeighborSampler::new(store, cfg).unwrap().leaky();
            let mut out = Sampled::new();
            leaky.sample(&roots, &times, cutoff, &mut out).unwrap();
            let (_, eid, _, mask) = out.row(0).unwrap();
            assert!(
                (0..10).any(|j| mask[j] == 1 && eid[j] == 2),
                "{name} {strategy}: leaky sampler not leaky"
            );
        }
    }
    // Without the batch cut-off the in-batch event at 5 would be visible at 6:
    // the cut-off is what hides it.
    let s = NeighborSampler::new(&mem, SamplerConfig::default()).unwrap();
    let mut out = Sampled::new();
    s.sample(&[0], &[6.0], EventId::MAX, &mut out).unwrap();
    assert_eq!(&out.eid[..out.valid()], &[0, 1, 2, 3]);
}

/// Chi-square over 200k draws: a node with 20 visible entries, 20k rows of 10
/// uniform draws. Counts per entry must be uniform (df 19, critical value 43.82 at
/// p = 0.001); the `Recent` sampler, run the same way, must fail.
#[test]
fn uniform_draws_pass_chi_square_and_recent_fails() {
    let evs: Vec<_> = (0..25).map(|i| (0, 1 + i as NodeId, i as Time)).collect();
    let store = MemStore::from_log(log_of(&evs), false).unwrap();
    let (rows, k, visible) = (20_000usize, 10usize, 20usize);
    let roots = vec![0; rows];
    let times = vec![visible as Time; rows];
    let chi2 = |strategy: Strategy| {
        let s = NeighborSampler::new(&store, SamplerConfig::new(vec![k], strategy, 42)).unwrap();
        let mut out = Sampled::new();
        s.sample(&roots, &times, 25, &mut out).unwrap();
        let mut counts = vec![0f64; visible];
        for (&e, &m) in out.eid.iter().zip(&out.mask) {
            assert!(m == 1 && (e as usize) < visible, "{strategy}: invisible entry {e}");
            counts[e as usize] += 1.0;
        }
        let expected = out.valid() as f64 / visible as f64;
        counts.iter().map(|c| (c - expected).powi(2) / expected).sum::<f64>()
    };
    let uniform = chi2(Strategy::Uniform);
    assert!(uniform < 43.82, "uniform draws are not uniform: chi2 = {uniform}");
    let recent = chi2(Strategy::Recent);
    assert!(recent > 43.82, "recent passed the uniformity test: chi2 = {recent}");
}

/// A larger random graph for determinism and thread tests.
fn random_store(events: usize, nodes: u32, seed: u64) -> (MemStore, Vec<(NodeId, NodeId, Time)>) {
    let mut r = SplitMix64::new(seed);
    let mut t = 0.0;
    let evs: Vec<_> = (0..events)
        .map(|_| {
            t += (r.below(3) / 2) as Time;
            (r.below(nodes as u64) as NodeId, r.below(nodes as u64) as NodeId, t)
        })
        .collect();
    (MemStore::build(log_of(&evs), nodes, false, 64, None).unwrap(), evs)
}

fn run_in_pool<T: Send>(threads: usize, f: impl FnOnce() -> T + Send) -> T {
    rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap().install(f)
}

#[test]
fn same_seed_same_output_for_one_and_two_threads() {
    let (store, evs) = random_store(5_000, 300, 3);
    let roots: Vec<_> = evs[3000..3700].iter().flat_map(|e| [e.0, e.1]).collect();
    let times: Vec<_> = evs[3000..3700].iter().flat_map(|e| [e.2, e.2]).collect();
    for strategy in [Strategy::Uniform, Strategy::Recent] {
        let run = |threads: usize, seed: u64, cursor: bool| {
            run_in_pool(threads, || {
                let mut s = NeighborSampler::new(&store, SamplerConfig::new(vec![10, 5], strategy, seed))
                    .unwrap()
                    .with_min_chunk(16);
                if cursor {
                    s = s.with_cursor();
                }
                s.sample_layers(&roots, &times, 3000).unwrap()
            })
        };
        let one = run(1, 9, false);
        assert!(one[0].valid() > 1000 && one[1].valid() > 1000, "{strategy}: too few valid slots");
        assert_eq!(one, run(2, 9, false), "{strategy}: 1 vs 2 threads");
        assert_eq!(one, run(2, 9, true), "{strategy}: 2 threads with cursor");
        if strategy == Strategy::Uniform {
            assert_ne!(one, run(1, 10, false), "a different seed gave the same draws");
        }
    }
}

#[test]
fn bad_input_is_an_error_not_a_panic() {
    let (store, _) = random_store(100, 10, 1);
    assert_eq!("Uniform".parse::<Strategy>(), Ok(Strategy::Uniform));
    assert_eq!("recent".parse::<Strategy>(), Ok(Strategy::Recent));
    assert!(matches!("newest".parse::<Strategy>(), Err(SampleError::UnknownStrategy(_))));
    let bad =
        |fanouts: Vec<usize>| NeighborSampler::new(&store, SamplerConfig::new(fanouts, Strategy::Recent, 0));
    assert_eq!(bad(vec![]).err(), Some(SampleError::NoLayers));
    assert_eq!(bad(vec![3, 0]).err(), Some(SampleError::ZeroFanout { layer: 1 }));
    let s = NeighborSampler::new(&store, SamplerConfig::default()).unwrap().with_cursor();
    let mut out = Sampled::new();
    let err = s.sample(&[1, 2], &[3.0], 10, &mut out).unwrap_err();
    assert_eq!(err, SampleError::LengthMismatch { roots: 2, times: 1 });
    // Unknown nodes, NaN and infinite times, cut-offs past the end: padding or a
    // full history, never a panic.
    s.sample(&[u32::MAX, 99, 1, 1], &[5.0, 5.0, f64::NAN, f64::INFINITY], u32::MAX, &mut out).unwrap();
    assert_eq!(out.roots(), 4);
    assert_eq!(out.row(0).unwrap().3.iter().sum::<u8>(), 0);
    assert_eq!(out.row(2).unwrap().3.iter().sum::<u8>(), 0);
    // Empty input: empty output.
    s.sample(&[], &[], 0, &mut out).unwrap();
    assert_eq!((out.roots(), out.nbr.len()), (0, 0));
}

/// The cursor's moves: forward batch by batch, a short step back (rewound), a far
/// jump back (binary search, cursor kept), forward again, past the end; every
/// answer equal to binary search's, with the stamp where the rules put it.
#[test]
fn cursor_moves_forward_back_and_far_back_exactly() {
    let (store, evs) = random_store(5_000, 200, 11);
    let mut r = SplitMix64::new(5);
    let stamp = |s: &NeighborSampler<'_, MemStore>| s.cursor.as_ref().unwrap().lock().unwrap().stamp();
    for strategy in [Strategy::Recent, Strategy::Uniform] {
        let cfg = SamplerConfig::new(vec![7], strategy, 2);
        let plain = NeighborSampler::new(&store, cfg.clone()).unwrap();
        let cur = NeighborSampler::new(&store, cfg).unwrap().with_cursor();
        let mut cutoffs: Vec<EventId> = (0..5_000).step_by(600).collect();
        // (cutoff, expected stamp after): 10 roots a call allow 320 events back.
        let moves = [(4_700, 4_700), (4_900, 4_900), (100, 4_900), (5_000, 5_000), (EventId::MAX, 5_000)];
        cutoffs.extend(moves.iter().map(|m| m.0));
        for (i, &cutoff) in cutoffs.iter().enumerate() {
            let at = evs[(cutoff as usize).min(evs.len() - 1)].2;
            let roots: Vec<NodeId> = (0..10).map(|_| r.below(200) as NodeId).collect();
            let times: Vec<Time> = (0..10).map(|j| at + [0.0, 0.5, -3.0, 1e9, -1e9][j % 5]).collect();
            let (mut a, mut b) = (Sampled::new(), Sampled::new());
            plain.sample(&roots, &times, cutoff, &mut a).unwrap();
            cur.sample(&roots, &times, cutoff, &mut b).unwrap();
            assert_eq!(a, b, "{strategy}: call {i} at cutoff {cutoff}");
            if let Some(&(_, want)) = moves.iter().find(|m| m.0 == cutoff) {
                assert_eq!(stamp(&cur), want, "{strategy}: stamp after cutoff {cutoff}");
            }
        }
    }
}

/// A larger graph than the property tests use, so rows span whole prefetch blocks
/// and several rayon chunks, checked against the oracle on 2 threads.
#[test]
fn larger_graph_matches_oracle_on_two_threads() {
    let (store, evs) = random_store(800, 60, 21);
    let case = Case {
        n: 60,
        base: evs.clone(),
        appends: vec![],
        directed: false,
        shard_nodes: 64,
        batch: 64,
        k: 10,
        k2: 2,
        extra: vec![(3, 10, 5), (7, 200, 100), (59, 90, 250)],
    };
    let o = Oracle { events: evs, directed: false };
    let r = run_in_pool(2, || check_all(&store, &o, &case, 17));
    assert!(r.is_ok(), "{}", r.unwrap_err());
}

/// A call that finds the cursor held by another thread answers by binary search:
/// the same rows, and the cursor does not move.
#[test]
fn busy_cursor_falls_back_to_binary_search() {
    let (store, evs) = random_store(2_000, 100, 4);
    let cfg = SamplerConfig::default();
    let plain = NeighborSampler::new(&store, cfg.clone()).unwrap();
    let cur = NeighborSampler::new(&store, cfg).unwrap().with_cursor();
    let roots: Vec<NodeId> = evs[1000..1200].iter().map(|e| e.0).collect();
    let times: Vec<Time> = evs[1000..1200].iter().map(|e| e.2).collect();
    let (mut a, mut b) = (Sampled::new(), Sampled::new());
    plain.sample(&roots, &times, 1000, &mut a).unwrap();
    let held = cur.cursor.as_ref().unwrap().lock().unwrap();
    cur.sample(&roots, &times, 1000, &mut b).unwrap();
    assert_eq!(held.stamp(), 0, "the cursor moved while held");
    drop(held);
    assert_eq!(a, b);
    assert!(a.valid() > 1000);
}
