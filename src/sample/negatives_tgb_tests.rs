//! TGB-style sets, every destination, and imported rows: each row against a
//! brute-force description of what TGB's sampler may draw, determinism, and the
//! import file's errors.

use std::collections::HashSet;
use std::path::Path;

use proptest::prelude::*;

use super::super::tests::store_of;
use super::*;
use crate::store::MemStore;

/// What TGB allows for the query of event `e`: (training destinations of its
/// source, not true; destinations neither true nor reached in training).
fn pools(store: &MemStore, e: usize, train_end: usize, dst: DstRange) -> (HashSet<u32>, HashSet<u32>) {
    let (s, _, t) = store.event(e as u32);
    let all: Vec<_> = (0..store.num_events()).map(|i| store.event(i as u32)).collect();
    let trues: HashSet<u32> = all.iter().filter(|x| x.0 == s && x.2 == t).map(|x| x.1).collect();
    let train: HashSet<u32> = all[..train_end].iter().filter(|x| x.0 == s).map(|x| x.1).collect();
    let hist = train.iter().copied().filter(|d| dst.contains(*d) && !trues.contains(d)).collect();
    let rnd = (dst.lo..dst.hi).filter(|d| !trues.contains(d) && !train.contains(d)).collect();
    (hist, rnd)
}

fn check_tgb_set(store: &MemStore, set: &NegativeSet, train_end: usize, dst: DstRange, k: usize, frac: f64) {
    let h_max = ((k as f64) * frac).floor() as usize;
    assert_eq!(set.header.style, NegSetStyle::Tgb);
    assert_eq!(set.header.n_hist as usize, h_max);
    for e in set.header.range.start as usize..set.header.range.end as usize {
        let row = set.query(e).unwrap();
        let (hist, rnd) = pools(store, e, train_end, dst);
        let h = h_max.min(hist.len());
        let r = (k - h).min(rnd.len());
        let (head, rest) = row.split_at(h);
        assert!(head.iter().all(|d| hist.contains(d)), "event {e}: historical {head:?} not in {hist:?}");
        assert!(
            rest[..r].iter().all(|d| rnd.contains(d)),
            "event {e}: random {:?} not in {rnd:?}",
            &rest[..r]
        );
        assert!(rest[r..].iter().all(|&d| d == NO_NEGATIVE), "event {e}: {row:?}");
        let distinct: HashSet<u32> = row[..h + r].iter().copied().collect();
        assert_eq!(distinct.len(), h + r, "event {e}: a repeated negative in {row:?}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn tgb_sets_draw_what_tgb_allows(
        ev in prop::collection::vec((0u32..9, 0u32..9, prop_oneof![3 => Just(0u8), 1 => 1u8..3]), 8..90),
        seed in any::<u64>(),
        k in 1u32..12,
        frac in prop_oneof![Just(0.5), Just(0.0), Just(1.0), 0.0f64..1.0],
        bipartite in any::<bool>(),
    ) {
        let ev: Vec<_> = if bipartite { ev.into_iter().map(|(s, d, g)| (s % 4, 4 + d % 5, g)).collect() } else { ev };
        let store = store_of(&ev, 9);
        let dst = if bipartite { DstRange { lo: 4, hi: 9 } } else { DstRange::all(9) };
        let n = store.num_events();
        let (train_end, start) = (n / 2, n / 2 + n / 4);
        let cfg = RankConfig { k, hist_fraction: frac, seed };
        let set = NegativeSet::generate_tgb(&store, start..n, train_end, dst, &cfg).unwrap();
        check_tgb_set(&store, &set, train_end, dst, k as usize, frac);
        prop_assert_eq!(&set, &NegativeSet::generate_tgb(&store, start..n, train_end, dst, &cfg).unwrap());
        let all = NegativeSet::generate_all(&store, start..n, dst).unwrap();
        prop_assert_eq!(all.header.k, dst.len() - 1);
        for e in start..n {
            let (s, _, t) = store.event(e as u32);
            let trues: HashSet<u32> =
                (0..n).map(|i| store.event(i as u32)).filter(|x| x.0 == s && x.2 == t).map(|x| x.1).collect();
            let want: Vec<u32> = (dst.lo..dst.hi).filter(|d| !trues.contains(d)).collect();
            let row = all.query(e).unwrap();
            prop_assert_eq!(&row[..want.len()], &want[..]);
            prop_assert!(row[want.len()..].iter().all(|&d| d == NO_NEGATIVE));
        }
    }
}

/// Every allowed random destination is drawn by some seed (the draw is not stuck
/// on part of the pool), the dense path (pool under twice the need) included, and
/// the set does not depend on the thread count.
#[test]
fn tgb_draws_cover_the_pool_and_ignore_threads() {
    let ev: Vec<(u32, u32, u8)> = (0..60u32).map(|i| (i % 3, (i * 7) % 40, 1)).collect();
    let store = store_of(&ev, 40);
    let dst = DstRange::all(40);
    let (train_end, range) = (30, 45..60);
    for k in [4u32, 30] {
        let mut drawn: HashSet<u32> = HashSet::new();
        for seed in 0..200 {
            let cfg = RankConfig { k, hist_fraction: 0.0, seed };
            let set = NegativeSet::generate_tgb(&store, range.clone(), train_end, dst, &cfg).unwrap();
            drawn.extend(set.query(45).unwrap().iter().copied().filter(|&d| d != NO_NEGATIVE));
        }
        let (_, rnd) = pools(&store, 45, train_end, dst);
        assert_eq!(drawn, rnd, "k {k}");
    }
    let cfg = RankConfig { k: 6, hist_fraction: 0.5, seed: 9 };
    let one = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap();
    let a = one.install(|| NegativeSet::generate_tgb(&store, range.clone(), train_end, dst, &cfg).unwrap());
    let b = NegativeSet::generate_tgb(&store, range.clone(), train_end, dst, &cfg).unwrap();
    assert_eq!(a, b);
    let c = NegativeSet::generate_tgb(&store, range.clone(), train_end, dst, &RankConfig { seed: 10, ..cfg })
        .unwrap();
    assert_ne!(a.negs, c.negs);
    let err = NegativeSet::generate_tgb(&store, 20..60, 30, dst, &cfg).unwrap_err().to_string();
    assert!(err.contains("overlaps"), "{err}");
}

/// A set written as rows and imported back is the same set (equal events share
/// one line), survives the file, and is refused for another part.
#[test]
fn imported_rows_round_trip() {
    let ev: Vec<(u32, u32, u8)> = (0..80u32)
        .map(|i| (i % 5, (i * 3 + i / 7) % 12, u8::from(i % 3 != 0)))
        .chain([(1, 2, 0), (1, 2, 0)])
        .collect();
    let store = store_of(&ev, 12);
    let dst = DstRange::all(12);
    let n = store.num_events();
    let range = 60..n;
    let set =
        NegativeSet::generate_tgb(&store, range.clone(), 40, dst, &RankConfig { k: 5, ..Default::default() })
            .unwrap();
    let mut text = String::from("# src dst t negatives\n\n");
    let mut keys = HashSet::new();
    let mut first_of = std::collections::HashMap::new();
    for e in range.clone() {
        let (s, d, t) = store.event(e as u32);
        if keys.insert((s, d, t.to_bits())) {
            first_of.insert((s, d, t.to_bits()), e);
            let negs: Vec<String> =
                set.query(e).unwrap().iter().filter(|&&x| x != NO_NEGATIVE).map(|x| x.to_string()).collect();
            text.push_str(&format!("{s} {d} {t:?} {}  # event {e}\n", negs.join(" ")));
        }
    }
    let path = Path::new("rows.txt");
    let rows = parse_rows(&text, path).unwrap();
    let imported = NegativeSet::import_rows(&store, range.clone(), dst, &rows, path, 7).unwrap();
    assert_eq!(imported.header.style, NegSetStyle::TgbImport);
    assert_eq!((imported.header.k, imported.header.seed), (5, 7));
    for e in range.clone() {
        let (s, d, t) = store.event(e as u32);
        let first = first_of[&(s, d, t.to_bits())];
        assert_eq!(imported.query(e), set.query(first), "event {e}");
    }
    let back = NegativeSet::from_bytes(&imported.to_bytes(), path).unwrap();
    assert_eq!(back, imported);
    assert_eq!(back.style_label(), "tgb-import");
    let err = NegativeSet::import_rows(&store, 50..n, dst, &rows, path, 0).unwrap_err().to_string();
    assert!(err.contains("has no line"), "{err}");
    let err = NegativeSet::import_rows(&store, 65..n, dst, &rows, path, 0).unwrap_err().to_string();
    assert!(err.contains("match no event"), "{err}");
}

#[test]
fn bad_import_rows_are_errors_naming_the_line() {
    let store = store_of(&[(0, 1, 1), (0, 2, 1), (1, 2, 1), (0, 1, 0)], 4);
    let dst = DstRange::all(4);
    let path = Path::new("bad.txt");
    let import = |text: &str| -> String {
        match parse_rows(text, path) {
            Err(e) => e.to_string(),
            Ok(rows) => NegativeSet::import_rows(&store, 2..4, dst, &rows, path, 0).unwrap_err().to_string(),
        }
    };
    let (t2, t3) = (store.event(2).2, store.event(3).2);
    let good2 = format!("1 2 {t2:?} 0 3");
    let e = import(&format!("{good2}\n0 1 {t3:?} 2 9\n"));
    assert!(
        e.contains("bad.txt") && e.contains("line 2") && e.contains("outside the destination range"),
        "{e}"
    );
    let e = import(&format!("{good2}\n0 1 {t3:?} 3 1\n"));
    assert!(e.contains("line 2") && e.contains("true destination"), "{e}");
    let e = import(&format!("{good2}\n0 1 {t3:?} 3 3\n"));
    assert!(e.contains("listed twice"), "{e}");
    let e = import(&format!("{good2}\n{good2}\n0 1 {t3:?} 3\n"));
    assert!(e.contains("line 2 repeats") && e.contains("line 1"), "{e}");
    let e = import(&format!("{good2}\n0 x {t3:?} 3\n"));
    assert!(e.contains("line 2, field 2") && e.contains("\"x\""), "{e}");
    let e = import("1 2\n");
    assert!(e.contains("line 1") && e.contains("SRC DST T"), "{e}");
    let e = import(&format!("1 2 inf 0\n0 1 {t3:?} 3\n"));
    assert!(e.contains("not finite"), "{e}");
    // No line for the last event (0, 1, t3).
    let e = import(&format!("{good2}\n"));
    assert!(e.contains("event 3") && e.contains("has no line"), "{e}");
}
