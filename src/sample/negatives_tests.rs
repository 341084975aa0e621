//! Tests of negative sampling: each strategy against a linear-scan oracle on
//! random graphs with many ties, determinism, the one-vs-many invariants, and the
//! negative-set file (round trip, corruption, wrong graph).

use std::collections::HashSet;

use proptest::prelude::*;

use super::*;
use crate::sample::batch::batch_ranges;
use crate::store::{EventLog, MemStore};

/// A store from (src, dst, time-gap) triples: times are cumulative gaps, so a zero
/// gap makes a tie with the previous event.
pub(crate) fn store_of(events: &[(u32, u32, u8)], num_nodes: u32) -> MemStore {
    let mut log = EventLog::with_feat_dim(0);
    let mut t = 0.0;
    for &(s, d, g) in events {
        t += f64::from(g);
        log.push(s, d, t, &[]);
    }
    MemStore::build(log, num_nodes, false, 4, None).unwrap()
}

/// Random events on `n` nodes (bipartite when `n_src` is set: sources below it,
/// destinations at or above it), with many equal timestamps.
fn events(n: u32, n_src: Option<u32>, len: usize) -> impl Strategy<Value = Vec<(u32, u32, u8)>> {
    let (s_hi, d_lo) = match n_src {
        Some(k) => (k, k),
        None => (n, 0),
    };
    prop::collection::vec((0..s_hi, d_lo..n, prop_oneof![3 => Just(0u8), 1 => 1u8..3]), 0..len)
}

fn times(store: &MemStore) -> Vec<f64> {
    (0..store.num_events()).map(|e| store.event(e as u32).2).collect()
}

/// Run a sampler over the whole log in tie-respecting batches.
fn run(
    store: &MemStore,
    cfg: NegConfig,
    dst: DstRange,
    bs: usize,
    round: u64,
) -> Vec<(Range<usize>, Vec<u32>)> {
    let mut s = NegativeSampler::new(cfg, dst).unwrap();
    let mut out = Vec::new();
    batch_ranges(&times(store), 0..store.num_events(), bs)
        .into_iter()
        .map(|r| {
            s.sample(store, r.clone(), round, &mut out).unwrap();
            (r, out.clone())
        })
        .collect()
}

/// Oracle for `historical` / `inductive`: the pairs `(s, d)` that qualify for a
/// negative of source `s` in batch `r`, by linear scan.
fn oracle_cands(store: &MemStore, r: &Range<usize>, s: u32, inductive_from: Option<usize>) -> HashSet<u32> {
    let ev: Vec<_> = (0..store.num_events()).map(|e| store.event(e as u32)).collect();
    let batch: HashSet<(u32, u32)> = ev[r.clone()].iter().map(|&(a, b, _)| (a, b)).collect();
    let mut out = HashSet::new();
    for (e, &(a, b, _)) in ev[..r.start].iter().enumerate() {
        if a != s || batch.contains(&(a, b)) {
            continue;
        }
        let first = ev.iter().position(|&(x, y, _)| (x, y) == (a, b)).unwrap();
        if first != e {
            continue;
        }
        if inductive_from.is_none_or(|lo| first >= lo) {
            out.insert(b);
        }
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Training's mix (`--hist-negatives F`): every draw is either the plain random
    /// draw or the historical draw of that event; 0 is random and 1 historical,
    /// exactly, and a share in between mixes (seen over many events).
    #[test]
    fn hist_mix_draws_random_or_historical(ev in events(10, None, 120), seed in any::<u64>(), bs in 1usize..20, frac in 0.0f64..1.0) {
        let store = store_of(&ev, 10);
        let dst = DstRange::all(10);
        let cfg = |strategy| NegConfig { strategy, seed, eval_start: 0 };
        let mixed = |f: f64| {
            let mut s = NegativeSampler::new(cfg(NegStrategy::Random), dst).unwrap().with_hist_mix(f).unwrap();
            let mut out = Vec::new();
            batch_ranges(&times(&store), 0..store.num_events(), bs)
                .into_iter()
                .flat_map(|r| { s.sample(&store, r, 2, &mut out).unwrap(); out.clone() })
                .collect::<Vec<u32>>()
        };
        let flat = |v: Vec<(Range<usize>, Vec<u32>)>| v.into_iter().flat_map(|x| x.1).collect::<Vec<_>>();
        let random = flat(run(&store, cfg(NegStrategy::Random), dst, bs, 2));
        let hist = flat(run(&store, cfg(NegStrategy::Historical), dst, bs, 2));
        prop_assert_eq!(&mixed(0.0), &random);
        prop_assert_eq!(&mixed(1.0), &hist);
        let m = mixed(frac);
        for i in 0..m.len() {
            prop_assert!(m[i] == random[i] || m[i] == hist[i], "draw {} is {} (random {}, historical {})", i, m[i], random[i], hist[i]);
        }
    }

    #[test]
    fn random_stays_in_destination_range(ev in events(12, Some(5), 80), seed in any::<u64>(), bs in 1usize..20) {
        let store = store_of(&ev, 12);
        let ids = IdMap::new(crate::store::ExternalIds::Int((0..12).collect()), Some(5));
        let dst = DstRange::for_graph(&ids, store.num_nodes());
        prop_assert_eq!(dst, DstRange { lo: 5, hi: 12 });
        let cfg = NegConfig { strategy: NegStrategy::Random, seed, eval_start: 0 };
        for (r, negs) in run(&store, cfg, dst, bs, 0) {
            prop_assert_eq!(negs.len(), r.len());
            prop_assert!(negs.iter().all(|&d| (5..12).contains(&d)), "{:?}", negs);
        }
    }

    #[test]
    fn historical_matches_oracle(ev in events(8, None, 120), seed in any::<u64>(), bs in 1usize..16) {
        let store = store_of(&ev, 8);
        let cfg = NegConfig { strategy: NegStrategy::Historical, seed, eval_start: 0 };
        for (r, negs) in run(&store, cfg, DstRange::all(8), bs, 3) {
            for (i, &d) in negs.iter().enumerate() {
                let s = store.event((r.start + i) as u32).0;
                let cands = oracle_cands(&store, &r, s, None);
                if cands.is_empty() {
                    prop_assert!(d < 8); // random fallback
                } else {
                    prop_assert!(cands.contains(&d), "batch {:?} src {} neg {} not in {:?}", r, s, d, cands);
                }
            }
        }
    }

    #[test]
    fn inductive_matches_oracle(ev in events(8, None, 120), seed in any::<u64>(), bs in 1usize..16, cut in 0.0f64..1.0) {
        let store = store_of(&ev, 8);
        let eval_start = (store.num_events() as f64 * cut) as usize;
        let cfg = NegConfig { strategy: NegStrategy::Inductive, seed, eval_start };
        for (r, negs) in run(&store, cfg, DstRange::all(8), bs, 0) {
            for (i, &d) in negs.iter().enumerate() {
                let s = store.event((r.start + i) as u32).0;
                let cands = oracle_cands(&store, &r, s, Some(eval_start));
                if cands.is_empty() {
                    prop_assert!(d < 8);
                } else {
                    prop_assert!(cands.contains(&d), "batch {:?} src {} neg {} not in {:?}", r, s, d, cands);
                }
            }
        }
    }

    #[test]
    fn random_ignores_batching(ev in events(30, None, 100), seed in any::<u64>(), a in 1usize..30, b in 1usize..30) {
        let store = store_of(&ev, 30);
        let cfg = NegConfig { strategy: NegStrategy::Random, seed, eval_start: 0 };
        let flat = |v: Vec<(Range<usize>, Vec<u32>)>| v.into_iter().flat_map(|x| x.1).collect::<Vec<_>>();
        prop_assert_eq!(flat(run(&store, cfg, DstRange::all(30), a, 1)), flat(run(&store, cfg, DstRange::all(30), b, 1)));
    }

    /// The ranking invariants on small graphs with many ties, where pools run out.
    #[test]
    fn rank_sets_never_contain_true_destinations(
        ev in events(10, None, 80),
        seed in any::<u64>(),
        k in 1u32..14,
        hist_fraction in 0.0f64..1.0,
    ) {
        check_rank_set(&ev, DstRange::all(10), k, hist_fraction, seed)?;
    }

    #[test]
    fn rank_sets_on_bipartite_graphs(
        ev in events(10, Some(4), 80),
        seed in any::<u64>(),
        k in 1u32..10,
    ) {
        check_rank_set(&ev, DstRange { lo: 4, hi: 10 }, k, 0.5, seed)?;
    }
}

/// The one-vs-many invariants for a set over the last two thirds of `ev`: no
/// true destination of the source at that time, all in the destination range, no
/// duplicates while the pool allows (else every allowed node present), the
/// filler only when nothing is allowed, and historical negatives first.
fn check_rank_set(
    ev: &[(u32, u32, u8)],
    dst: DstRange,
    k: u32,
    hist_fraction: f64,
    seed: u64,
) -> Result<(), TestCaseError> {
    let store = store_of(ev, dst.hi);
    let all: Vec<_> = (0..store.num_events()).map(|e| store.event(e as u32)).collect();
    let lo = all.len() / 3;
    let cfg = RankConfig { k, hist_fraction, seed };
    let set = NegativeSet::generate(&store, lo..all.len(), dst, &cfg).unwrap();
    prop_assert_eq!(set.num_queries(), all.len() - lo);
    for e in lo..all.len() {
        let (s, _, t) = all[e];
        let row = set.query(e).unwrap();
        prop_assert_eq!(row.len(), k as usize);
        let trues: HashSet<u32> = all.iter().filter(|x| x.0 == s && x.2 == t).map(|x| x.1).collect();
        let pool = dst.len() as usize - trues.len();
        if pool == 0 {
            prop_assert!(row.iter().all(|&d| d == NO_NEGATIVE));
            continue;
        }
        prop_assert!(
            row.iter().all(|&d| dst.contains(d) && !trues.contains(&d)),
            "row {:?} trues {:?}",
            row,
            trues
        );
        let distinct: HashSet<u32> = row.iter().copied().collect();
        prop_assert_eq!(distinct.len(), pool.min(k as usize), "row {:?}", row);
        // The first min(n_hist, available) are historical: seen strictly before t.
        let hist: HashSet<u32> =
            all.iter().filter(|x| x.0 == s && x.2 < t && !trues.contains(&x.1)).map(|x| x.1).collect();
        let want = (set.header.n_hist as usize).min(hist.len());
        prop_assert!(row[..want].iter().all(|d| hist.contains(d)), "row {:?} hist {:?}", row, hist);
    }
    Ok(())
}

#[test]
fn hist_mix_share_and_range() {
    // 4,000 events of 40 sources over 50 destinations, each source repeating its
    // own few partners: a historical draw differs from a random one most of the time.
    let ev: Vec<(u32, u32, u8)> =
        (0..4000u32).map(|i| (i % 40, 40 + ((i / 40) % 3 + i % 7) % 10, 1)).collect();
    let store = store_of(&ev, 50);
    let cfg = NegConfig { strategy: NegStrategy::Random, seed: 9, eval_start: 0 };
    let count = |f: f64| {
        let mut s = NegativeSampler::new(cfg, DstRange::all(50)).unwrap().with_hist_mix(f).unwrap();
        let mut out = Vec::new();
        let mut past = 0usize;
        for r in batch_ranges(&times(&store), 400..4000, 200) {
            s.sample(&store, r.clone(), 0, &mut out).unwrap();
            past += out
                .iter()
                .zip(r.clone())
                .filter(|&(&d, e)| {
                    let src = store.event(e as u32).0;
                    (0..r.start as u32).any(|p| store.event(p).0 == src && store.event(p).1 == d)
                })
                .count();
        }
        past as f64 / 3600.0
    };
    let (none, half, all) = (count(0.0), count(0.5), count(1.0));
    assert!(none < 0.25 && all > 0.99 && (half - (none + all) / 2.0).abs() < 0.05, "{none} {half} {all}");
    assert!(NegativeSampler::new(cfg, DstRange::all(50)).unwrap().with_hist_mix(1.5).is_err());
}

#[test]
fn historical_prefers_pairs_not_in_batch_and_falls_back() {
    // 0->1 and 0->2 at t=1, then a batch at t=2 with 0->1: the only allowed
    // historical destination for source 0 is 2.
    let store = store_of(&[(0, 1, 1), (0, 2, 0), (0, 1, 1), (3, 1, 0)], 5);
    let cfg = NegConfig { strategy: NegStrategy::Historical, seed: 7, eval_start: 0 };
    let mut s = NegativeSampler::new(cfg, DstRange::all(5)).unwrap();
    let mut out = Vec::new();
    for round in 0..20 {
        s.sample(&store, 2..4, round, &mut out).unwrap();
        assert_eq!(out[0], 2);
        assert!(out[1] < 5); // source 3 has no history: random
    }
}

#[test]
fn going_back_in_time_rebuilds_history() {
    let ev: Vec<(u32, u32, u8)> = (0..60).map(|i| (i % 4, (i * 7 + 1) % 9, (i % 3 == 0) as u8)).collect();
    let store = store_of(&ev, 9);
    let cfg = NegConfig { strategy: NegStrategy::Historical, seed: 1, eval_start: 0 };
    let fresh = run(&store, cfg, DstRange::all(9), 7, 0);
    // Same sampler, two epochs: the second pass restarts at event 0.
    let mut s = NegativeSampler::new(cfg, DstRange::all(9)).unwrap();
    let mut out = Vec::new();
    for (r, _) in &fresh {
        s.sample(&store, r.clone(), 0, &mut out).unwrap();
    }
    for (r, negs) in &fresh {
        s.sample(&store, r.clone(), 0, &mut out).unwrap();
        assert_eq!(&out, negs);
    }
}

#[test]
fn seeds_change_draws_and_repeat_exactly() {
    let ev: Vec<(u32, u32, u8)> = (0..200).map(|i| (i % 13, (i * 5 + 3) % 50, 1)).collect();
    let store = store_of(&ev, 50);
    for strategy in [NegStrategy::Random, NegStrategy::Historical, NegStrategy::Inductive] {
        let cfg = NegConfig { strategy, seed: 11, eval_start: 100 };
        let a = run(&store, cfg, DstRange::all(50), 16, 0);
        assert_eq!(a, run(&store, cfg, DstRange::all(50), 16, 0));
        let other = NegConfig { seed: 12, ..cfg };
        assert_ne!(a, run(&store, other, DstRange::all(50), 16, 0), "{strategy}");
    }
    let cfg = RankConfig { k: 20, hist_fraction: 0.5, seed: 3 };
    let a = NegativeSet::generate(&store, 100..200, DstRange::all(50), &cfg).unwrap();
    assert_eq!(a, NegativeSet::generate(&store, 100..200, DstRange::all(50), &cfg).unwrap());
    let b =
        NegativeSet::generate(&store, 100..200, DstRange::all(50), &RankConfig { seed: 4, ..cfg }).unwrap();
    assert_ne!(a.negs, b.negs);
}

#[test]
fn rank_sets_do_not_depend_on_thread_count() {
    let ev: Vec<(u32, u32, u8)> =
        (0..3000).map(|i| (i % 97, (i * 31 + 5) % 400, (i % 4 == 0) as u8)).collect();
    let store = store_of(&ev, 400);
    let cfg = RankConfig::default();
    let gen_with = |threads| {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        pool.install(|| NegativeSet::generate(&store, 2000..3000, DstRange::all(400), &cfg).unwrap())
    };
    assert_eq!(gen_with(1), gen_with(2));
}

#[test]
fn bad_options_are_errors() {
    let store = store_of(&[(0, 1, 1), (1, 2, 1)], 3);
    assert!(matches!(
        NegativeSampler::new(NegConfig::default(), DstRange { lo: 3, hi: 3 }),
        Err(NegError::EmptyDstRange { .. })
    ));
    let mut s = NegativeSampler::new(NegConfig::default(), DstRange { lo: 0, hi: 9 }).unwrap();
    let mut out = Vec::new();
    assert!(matches!(s.sample(&store, 0..2, 0, &mut out), Err(NegError::DstRangeOutOfBounds { .. })));
    let mut s = NegativeSampler::new(NegConfig::default(), DstRange::all(3)).unwrap();
    assert!(matches!(s.sample(&store, 1..5, 0, &mut out), Err(NegError::RangeOutOfBounds { .. })));
    let bad_k = RankConfig { k: 0, ..RankConfig::default() };
    assert!(NegativeSet::generate(&store, 0..2, DstRange::all(3), &bad_k).is_err());
    let bad_f = RankConfig { hist_fraction: 1.5, ..RankConfig::default() };
    assert!(NegativeSet::generate(&store, 0..2, DstRange::all(3), &bad_f).is_err());
    assert!("hist".parse::<NegStrategy>().is_ok());
    assert!(matches!("nope".parse::<NegStrategy>(), Err(NegError::UnknownStrategy(_))));
}

fn sample_set() -> (MemStore, NegativeSet) {
    let ev: Vec<(u32, u32, u8)> = (0..300).map(|i| (i % 17, (i * 11 + 2) % 60, (i % 2) as u8)).collect();
    let store = store_of(&ev, 60);
    let set = NegativeSet::generate(&store, 200..300, DstRange::all(60), &RankConfig::default()).unwrap();
    (store, set)
}

#[test]
fn negative_set_file_round_trip() {
    let (store, set) = sample_set();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("test.negs");
    set.save(&path).unwrap();
    let back = NegativeSet::load_for(&path, &store).unwrap();
    assert_eq!(back, set);
    assert_eq!(back.query(250).unwrap().len(), 100);
    assert!(back.query(199).is_none() && back.query(300).is_none());
    let len = std::fs::metadata(&path).unwrap().len();
    assert_eq!(len, 88 + 100 * 100 * 4);
}

#[test]
fn corrupted_or_truncated_file_is_an_error() {
    let (_, set) = sample_set();
    let bytes = set.to_bytes();
    let p = std::path::Path::new("x.negs");
    assert!(NegativeSet::from_bytes(&bytes, p).is_ok());
    // Any flipped byte, in the header or the payload, is caught.
    for at in [0, 9, 13, 30, 50, 70, 85, 88, 1000, bytes.len() - 1] {
        let mut b = bytes.clone();
        b[at] ^= 0x40;
        assert!(matches!(NegativeSet::from_bytes(&b, p), Err(NegError::Format { .. })), "byte {at}");
    }
    for len in [0, 10, 87, 88, bytes.len() - 4, bytes.len() - 1] {
        assert!(
            matches!(NegativeSet::from_bytes(&bytes[..len], p), Err(NegError::Format { .. })),
            "len {len}"
        );
    }
    let mut longer = bytes.clone();
    longer.extend_from_slice(&[0; 4]);
    assert!(NegativeSet::from_bytes(&longer, p).is_err());
    let missing = NegativeSet::load(std::path::Path::new("/nonexistent/dir/x.negs"));
    assert!(matches!(missing, Err(NegError::Io { .. })));
}

#[test]
fn wrong_graph_is_refused() {
    let (store, set) = sample_set();
    // Another event count.
    let ev: Vec<(u32, u32, u8)> = (0..301).map(|i| (i % 17, (i * 11 + 2) % 60, (i % 2) as u8)).collect();
    let bigger = store_of(&ev, 60);
    assert!(matches!(set.check_store(&bigger), Err(NegError::Mismatch { what: "event count", .. })));
    // Same count, one destination changed inside the split.
    let mut ev: Vec<(u32, u32, u8)> = (0..300).map(|i| (i % 17, (i * 11 + 2) % 60, (i % 2) as u8)).collect();
    ev[250].1 = (ev[250].1 + 1) % 60;
    let other = store_of(&ev, 60);
    assert!(matches!(set.check_store(&other), Err(NegError::Mismatch { what: "split hash", .. })));
    assert!(set.check_store(&store).is_ok());
}

/// Throughput on a 1M-event graph (run with `--release --ignored`).
#[test]
#[ignore]
fn negatives_throughput() {
    let n = 100_000u32;
    let mut log = EventLog::with_feat_dim(0);
    let mut x = 1u64;
    for i in 0..1_000_000u64 {
        x = mix64(x ^ i);
        // Skewed endpoints: squaring a uniform favours low ids.
        let s = (((x >> 40) as f64 / f64::from(1u32 << 24)).powi(2) * f64::from(n)) as u32;
        let d = ((x & 0xFF_FFFF) as f64 / f64::from(1u32 << 24)).powi(2) * f64::from(n);
        log.push(s.min(n - 1), (d as u32).min(n - 1), (i / 3) as f64, &[]);
    }
    let store = MemStore::build(log, n, false, 1 << 16, None).unwrap();
    let ranges = batch_ranges(&times(&store), 0..store.num_events(), 200);
    for strategy in [NegStrategy::Random, NegStrategy::Historical, NegStrategy::Inductive] {
        let cfg = NegConfig { strategy, seed: 1, eval_start: 700_000 };
        let mut s = NegativeSampler::new(cfg, DstRange::all(n)).unwrap();
        let mut out = Vec::new();
        let t0 = std::time::Instant::now();
        for r in &ranges {
            s.sample(&store, r.clone(), 0, &mut out).unwrap();
        }
        let dt = t0.elapsed().as_secs_f64();
        eprintln!("one-per-positive {strategy}: {:.2} M events/s ({dt:.2}s)", 1.0 / dt);
    }
    let t0 = std::time::Instant::now();
    let set =
        NegativeSet::generate(&store, 850_000..1_000_000, DstRange::all(n), &RankConfig::default()).unwrap();
    let dt = t0.elapsed().as_secs_f64();
    eprintln!(
        "rank set K=100: {} queries in {dt:.2}s ({:.0} queries/s, {} threads)",
        set.num_queries(),
        set.num_queries() as f64 / dt,
        rayon::current_num_threads()
    );
}
