//! Tests of batching: tie-respecting cuts, batch contents, the prefetching
//! pipeline against sequential building, and causality of every batch input
//! (with deliberately leaky builders that the checks must catch).

use std::sync::Arc;

use proptest::prelude::*;

use super::*;
use crate::sample::negatives::NegStrategy;
use crate::sample::neighbors::Strategy as NbrStrategy;
use crate::store::{EventLog, MemStore};

/// Sorted times with many ties.
fn sorted_times(max: usize) -> impl Strategy<Value = Vec<f64>> {
    prop::collection::vec(prop_oneof![3 => Just(0u8), 1 => 1u8..3], 0..max).prop_map(|gaps| {
        let mut t = 0.0;
        gaps.iter()
            .map(|&g| {
                t += f64::from(g);
                t
            })
            .collect()
    })
}

/// A store with 2 edge features per event; the last `tail` events are appended
/// after the build, so the events live in two segments.
fn store_of(ev: &[(u32, u32, u8)], n: u32, tail: usize) -> MemStore {
    let mut log = EventLog::with_feat_dim(2);
    let mut t = 0.0;
    let mut rows = Vec::new();
    for (i, &(s, d, g)) in ev.iter().enumerate() {
        t += f64::from(g);
        rows.push((s, d, t, [i as f32, -(i as f32)]));
    }
    let split = rows.len() - tail.min(rows.len());
    for &(s, d, t, f) in &rows[..split] {
        log.push(s, d, t, &f);
    }
    let mut store = MemStore::build(log, n, false, 3, None).unwrap();
    for &(s, d, t, f) in &rows[split..] {
        store.append(s, d, t, &f).unwrap();
    }
    store
}

fn events(n: u32, len: usize) -> impl Strategy<Value = Vec<(u32, u32, u8)>> {
    prop::collection::vec((0..n, 0..n, prop_oneof![3 => Just(0u8), 1 => 1u8..3]), 1..len)
}

fn times(store: &MemStore) -> Vec<f64> {
    (0..store.num_events()).map(|e| store.event(e as u32).2).collect()
}

fn config(strategy: NbrStrategy, fanouts: Vec<usize>, neg: NegStrategy, batch_size: usize) -> BatchConfig {
    BatchConfig {
        batch_size,
        neg: NegConfig { strategy: neg, seed: 5, eval_start: 0 },
        sampler: SamplerConfig::new(fanouts, strategy, 9),
        round: 1,
        prefetch: 2,
        hist_negatives: 0.0,
    }
}

/// First causality violation among a batch's inputs, if any: a valid slot must
/// be an existing adjacency entry of its root, with event id below the cutoff
/// and time strictly before its root's time (layer 0: the event time; deeper
/// layers: the time of the parent slot). Padded parents must have padded children.
fn causal_violation<S: TemporalStore + ?Sized>(store: &S, b: &Batch) -> Option<String> {
    let mut parents: (Vec<NodeId>, Vec<Time>, Vec<u8>) =
        (b.roots.clone(), b.root_t.clone(), vec![1; b.roots.len()]);
    for (l, s) in b.layers.iter().enumerate() {
        if s.nbr.len() != parents.0.len() * s.k {
            return Some(format!("layer {l}: {} slots for {} roots", s.nbr.len(), parents.0.len()));
        }
        for j in 0..s.nbr.len() {
            let p = j / s.k;
            if s.mask[j] == 0 {
                continue;
            }
            let (root, rt) = (parents.0[p], parents.1[p]);
            if parents.2[p] == 0 {
                return Some(format!("layer {l} slot {j}: child of a padded slot"));
            }
            let (e, te) = (s.eid[j], s.t[j]);
            // The batch's own first event, not `b.cutoff`: a wrong cutoff must not
            // excuse itself.
            if e as usize >= b.range.start {
                return Some(format!("layer {l} slot {j}: event {e} is not before the batch {:?}", b.range));
            }
            if te >= rt {
                return Some(format!("layer {l} slot {j}: time {te} not before root time {rt}"));
            }
            let (x, y, tx) = store.event(e);
            let ok = tx == te && ((x, y) == (root, s.nbr[j]) || (y, x) == (root, s.nbr[j]));
            if !ok {
                return Some(format!("layer {l} slot {j}: ({root}, {}, {te}) is not event {e}", s.nbr[j]));
            }
        }
        parents = (s.nbr.clone(), s.t.clone(), s.mask.clone());
    }
    None
}

fn build_all(store: &MemStore, cfg: &BatchConfig, ranges: &[Range<usize>]) -> Vec<Batch> {
    let mut b = BatchBuilder::new(store, cfg, DstRange::all(store.num_nodes())).unwrap();
    ranges.iter().enumerate().map(|(i, r)| b.build(i, r.clone()).unwrap()).collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn batch_ranges_never_cut_ties(t in sorted_times(200), size in 1usize..20, a in 0usize..20) {
        // Start at a tie boundary, as splits do.
        let start = (a.min(t.len())..=t.len()).find(|&i| i == 0 || i == t.len() || t[i - 1] < t[i]).unwrap();
        let rs = batch_ranges(&t, start..t.len(), size);
        // Contiguous cover of the range, no empty batch.
        let mut at = start;
        for r in &rs {
            prop_assert_eq!(r.start, at);
            prop_assert!(r.end > r.start);
            at = r.end;
        }
        prop_assert_eq!(at, t.len());
        for r in &rs {
            // Ends only where the time changes.
            if r.end < t.len() {
                prop_assert!(t[r.end - 1] < t[r.end], "cut inside a tie at {}", r.end);
            }
            // At most `size`, unless the batch is one tie group.
            prop_assert!(r.len() <= size || t[r.start] == t[r.end - 1], "{:?}", r);
            // A short batch is short because the next tie group would not fit.
            if r.len() < size && r.end < t.len() {
                let g = t[r.end..].iter().take_while(|&&x| x == t[r.end]).count();
                prop_assert!(r.len() + g > size, "{:?} could take the next group of {}", r, g);
            }
        }
    }

    #[test]
    fn every_batch_input_is_causal(
        ev in events(9, 120),
        size in 1usize..12,
        tail in 0usize..30,
        uniform in any::<bool>(),
        neg in 0usize..3,
    ) {
        let store = store_of(&ev, 9, tail);
        let strategy = if uniform { NbrStrategy::Uniform } else { NbrStrategy::Recent };
        let neg = [NegStrategy::Random, NegStrategy::Historical, NegStrategy::Inductive][neg];
        let cfg = config(strategy, vec![3, 2], neg, size);
        let ranges = batch_ranges(&times(&store), 0..store.num_events(), size);
        for b in build_all(&store, &cfg, &ranges) {
            prop_assert_eq!(b.cutoff as usize, b.range.start);
            let v = causal_violation(&store, &b);
            prop_assert!(v.is_none(), "batch {:?}: {}", b.range, v.unwrap());
        }
    }
}

#[test]
fn batch_holds_positives_features_and_roots() {
    let ev: Vec<(u32, u32, u8)> = (0..40).map(|i| (i % 5, (i * 3 + 1) % 7, (i % 3 != 0) as u8)).collect();
    let store = store_of(&ev, 7, 15); // events 25.. live in the tail
    let cfg = config(NbrStrategy::Recent, vec![4], NegStrategy::Random, 8);
    let ranges = batch_ranges(&times(&store), 0..40, 8);
    let batches = build_all(&store, &cfg, &ranges);
    assert_eq!(batches.iter().map(Batch::len).sum::<usize>(), 40);
    for b in &batches {
        let n = b.len();
        assert_eq!(b.eid, (b.range.start as u32..b.range.end as u32).collect::<Vec<_>>());
        for (i, &e) in b.eid.iter().enumerate() {
            let (s, d, t) = store.event(e);
            assert_eq!((b.src[i], b.dst[i], b.t[i]), (s, d, t));
            assert_eq!(&b.feats[i * 2..i * 2 + 2], store.event_feat(e));
        }
        assert_eq!((b.feat_dim, b.feats.len(), b.neg.len()), (2, 2 * n, n));
        assert_eq!(b.roots, [b.src.clone(), b.dst.clone(), b.neg.clone()].concat());
        assert_eq!(b.root_t, [b.t.clone(), b.t.clone(), b.t.clone()].concat());
        assert_eq!(b.layers.len(), 1);
        assert_eq!((b.layers[0].k, b.layers[0].nbr.len()), (4, 3 * n * 4));
        assert!(causal_violation(&store, b).is_none());
    }
}

#[test]
fn pipeline_equals_sequential_building() {
    let ev: Vec<(u32, u32, u8)> = (0..500).map(|i| (i % 23, (i * 7 + 3) % 31, (i % 4 == 0) as u8)).collect();
    let store = Arc::new(store_of(&ev, 31, 100));
    for (strategy, neg) in
        [(NbrStrategy::Recent, NegStrategy::Historical), (NbrStrategy::Uniform, NegStrategy::Random)]
    {
        let cfg = config(strategy, vec![5, 2], neg, 37);
        let ranges = batch_ranges(&times(&store), 0..500, 37);
        let seq = build_all(&store, &cfg, &ranges);
        let dst = DstRange::all(31);
        let piped: Vec<Batch> = BatchPipeline::start(store.clone(), cfg, dst, ranges.clone())
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(piped.len(), ranges.len());
        assert!(piped.iter().enumerate().all(|(i, b)| b.index == i));
        assert_eq!(piped, seq);
    }
}

#[test]
fn pipeline_errors_arrive_in_order_and_end_the_stream() {
    let ev: Vec<(u32, u32, u8)> = (0..20).map(|i| (i % 3, (i + 1) % 4, 1)).collect();
    let store = Arc::new(store_of(&ev, 4, 0));
    let cfg = config(NbrStrategy::Recent, vec![2], NegStrategy::Random, 5);
    let mut p =
        BatchPipeline::start(store.clone(), cfg.clone(), DstRange::all(4), vec![0..5, 5..1000, 5..10])
            .unwrap();
    assert!(p.next().unwrap().is_ok());
    assert!(matches!(p.next(), Some(Err(BatchError::RangeOutOfBounds { .. }))));
    assert!(p.next().is_none());
    // Bad options are refused before any thread starts.
    let bad = BatchConfig { batch_size: 0, ..cfg.clone() };
    assert!(BatchPipeline::start(store.clone(), bad, DstRange::all(4), vec![]).is_err());
    let bad = BatchConfig { sampler: SamplerConfig::new(vec![], NbrStrategy::Recent, 0), ..cfg.clone() };
    assert!(matches!(
        BatchPipeline::start(store.clone(), bad, DstRange::all(4), vec![]),
        Err(BatchError::Neighbors(_))
    ));
    assert!(BatchPipeline::start(store.clone(), cfg.clone(), DstRange::all(9), vec![]).is_err());
    // No batches: an empty stream.
    assert!(BatchPipeline::start(store, cfg, DstRange::all(4), vec![]).unwrap().next().is_none());
}

#[test]
fn dropping_the_consumer_stops_the_producer() {
    let ev: Vec<(u32, u32, u8)> = (0..2000).map(|i| (i % 50, (i * 13 + 1) % 50, 1)).collect();
    let store = Arc::new(store_of(&ev, 50, 0));
    let cfg = config(NbrStrategy::Recent, vec![3], NegStrategy::Random, 2);
    let ranges = batch_ranges(&times(&store), 0..2000, 2);
    let mut p = BatchPipeline::start(store, cfg, DstRange::all(50), ranges).unwrap();
    for i in 0..3 {
        assert_eq!(p.next().unwrap().unwrap().index, i);
    }
    assert_eq!(p.remaining(), 997);
    // Drop joins the producer, which is blocked on the full queue: returning at
    // all shows it stopped.
    drop(p);
}

/// Planted ties: node 0 meets 1 and 2 at t = 1, 2, 2, 3, 3, 3, 4 ... with events at
/// each root's own timestamp and inside its batch. The correct builder passes;
/// a `<=` sampler and a cutoff at the batch end are both caught.
#[test]
fn leaky_builders_are_caught() {
    let mut ev = Vec::new();
    for step in 0..12u32 {
        for j in 0..(step % 3 + 1) {
            ev.push((0, 1 + (step + j) % 2, u8::from(j == 0)));
            ev.push((1 + j % 2, 3, 0));
        }
    }
    let store = store_of(&ev, 4, 0);
    let ranges = batch_ranges(&times(&store), 0..store.num_events(), 7);
    assert!(
        ranges.iter().any(|r| times(&store)[r.start] < times(&store)[r.end - 1]),
        "want mixed-time batches"
    );
    let cfg = config(NbrStrategy::Recent, vec![5, 5], NegStrategy::Random, 7);
    let run = |leaky_time, leaky_cutoff| {
        let mut b =
            BatchBuilder::new(&store, &cfg, DstRange::all(4)).unwrap().leaky(leaky_time, leaky_cutoff);
        ranges
            .iter()
            .enumerate()
            .filter_map(|(i, r)| causal_violation(&store, &b.build(i, r.clone()).unwrap()))
            .collect::<Vec<_>>()
    };
    assert!(run(false, false).is_empty(), "{:?}", run(false, false));
    assert!(!run(true, false).is_empty(), "a <= sampler went unnoticed");
    assert!(!run(false, true).is_empty(), "a cutoff at the batch end went unnoticed");
}

#[test]
fn batches_do_not_depend_on_thread_count() {
    let ev: Vec<(u32, u32, u8)> =
        (0..1200).map(|i| (i % 97, (i * 31 + 5) % 151, (i % 5 == 0) as u8)).collect();
    let store = store_of(&ev, 151, 200);
    let cfg = config(NbrStrategy::Uniform, vec![6, 3], NegStrategy::Historical, 300);
    let ranges = batch_ranges(&times(&store), 0..1200, 300);
    let with = |threads| {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        pool.install(|| build_all(&store, &cfg, &ranges))
    };
    assert_eq!(with(1), with(2));
}
