//! Each baseline against a brute-force oracle over the events before the batch, on
//! random graphs with many ties; causality (events at the query's time or inside
//! the batch change nothing).

use std::collections::HashSet;

use proptest::prelude::*;

use super::*;
use crate::sample::batch::batch_ranges;
use crate::store::{EventLog, MemStore};

fn store_of(events: &[(u32, u32, u8)], num_nodes: u32, directed: bool) -> MemStore {
    let mut log = EventLog::with_feat_dim(0);
    let mut t = 0.0;
    for &(s, d, g) in events {
        t += f64::from(g);
        log.push(s, d, t, &[]);
    }
    MemStore::build(log, num_nodes, directed, 4, None).unwrap()
}

fn evs(store: &MemStore, hi: usize) -> Vec<(u32, u32, f64)> {
    (0..hi).map(|e| store.event(e as u32)).collect()
}

/// Brute-force keys of `(s, d, t)` from the events `past` (one key unless the
/// baseline is a lexicographic combination).
fn oracle(cfg: &BaselineConfig, past: &[(u32, u32, f64)], s: u32, d: u32, t: f64) -> Vec<f64> {
    let undirected = cfg.direction == Direction::Undirected;
    let same = |a: u32, b: u32| (a == s && b == d) || (undirected && a == d && b == s);
    // Events with `d` as destination (directed) or endpoint (undirected), self-loops once.
    let hits = |a: u32, b: u32| u32::from(b == d) + u32::from(undirected && a == d && a != b);
    let rate = cfg.half_life.map_or(0.0, |h| std::f64::consts::LN_2 / h);
    let weight = |te: f64| (-(t - te) * rate).exp();
    let lr = || {
        past.iter()
            .filter(|&&(a, b, _)| same(a, b))
            .map(|e| e.2)
            .next_back()
            .map_or(0.0, |l| 1.0 / (1.0 + (t - l)))
    };
    let lp = || past.iter().filter(|&&(a, b, _)| same(a, b)).map(|e| weight(e.2)).sum::<f64>();
    let gr = || {
        past.iter()
            .filter(|&&(a, b, _)| hits(a, b) > 0)
            .map(|e| e.2)
            .next_back()
            .map_or(0.0, |l| 1.0 / (1.0 + (t - l)))
    };
    let gp = || past.iter().map(|&(a, b, te)| f64::from(hits(a, b)) * weight(te)).sum::<f64>();
    match cfg.kind {
        BaselineKind::EdgeBank => vec![f64::from(u8::from(past.iter().any(|&(a, b, _)| same(a, b))))],
        BaselineKind::EdgeBankTw => {
            let w = cfg.window.unwrap();
            let last = past.iter().filter(|&&(a, b, _)| same(a, b)).map(|e| e.2).next_back();
            vec![f64::from(u8::from(last.is_some_and(|l| l >= t - w && l < t)))]
        }
        BaselineKind::Recency => vec![lr()],
        BaselineKind::LocalPopularity => vec![lp()],
        BaselineKind::GlobalRecency => vec![gr()],
        BaselineKind::Popularity => vec![gp()],
        BaselineKind::LrGp => vec![lr(), gp()],
        BaselineKind::LrLpGp => vec![lr(), lp(), gp()],
        BaselineKind::LpGp => vec![lp(), gp()],
        BaselineKind::LrGr => vec![lr(), gr()],
        BaselineKind::CommonNeighbours | BaselineKind::AdamicAdar => {
            let t_b = t; // the tests score one time per batch
            let in_view = |te: f64| cfg.window.is_none_or(|w| te >= t_b - w);
            let nbrs = |n: u32| -> HashSet<u32> {
                past.iter()
                    .filter(|&&(a, b, te)| a != b && in_view(te))
                    .filter_map(|&(a, b, _)| {
                        if a == n {
                            Some(b)
                        } else if b == n {
                            Some(a)
                        } else {
                            None
                        }
                    })
                    .collect()
            };
            let (ns, nd) = (nbrs(s), nbrs(d));
            vec![
                ns.intersection(&nd)
                    .filter(|&&w| w != s && w != d)
                    .map(|&w| {
                        if cfg.kind == BaselineKind::AdamicAdar {
                            let k = nbrs(w).len();
                            if k > 1 { 1.0 / (k as f64).ln() } else { 0.0 }
                        } else {
                            1.0
                        }
                    })
                    .sum(),
            ]
        }
    }
}

/// Every baseline in both directions, with and without its parameters.
fn configs() -> Vec<BaselineConfig> {
    let mut v = Vec::new();
    for kind in BaselineKind::ALL {
        let dirs: &[Direction] = if kind.has_direction() {
            &[Direction::Directed, Direction::Undirected]
        } else {
            &[Direction::Directed]
        };
        for &direction in dirs {
            let base = BaselineConfig { direction, ..BaselineConfig::new(kind) };
            match kind {
                BaselineKind::EdgeBankTw => v.push(BaselineConfig { window: Some(3.0), ..base }),
                BaselineKind::CommonNeighbours | BaselineKind::AdamicAdar => {
                    v.push(base.clone());
                    v.push(BaselineConfig { window: Some(4.0), ..base });
                }
                k if k.uses_half_life() => {
                    v.push(base.clone());
                    v.push(BaselineConfig { half_life: Some(2.0), ..base });
                }
                _ => v.push(base),
            }
        }
    }
    v
}

/// A combination's one number as the module docs define it, from the keys of all
/// `n` nodes: `[q != 0] + #{w : 0 < k(w) < q}`.
fn share(keys_of: &dyn Fn(u32) -> Vec<f64>, n: u32, q: &[f64]) -> f64 {
    let nonzero = |k: &[f64]| k.iter().any(|&x| x != 0.0);
    let below = (0..n)
        .map(keys_of)
        .filter(|k| nonzero(k) && crate::eval::metrics::lex_cmp(k, q) == std::cmp::Ordering::Less)
        .count();
    (usize::from(nonzero(q)) + below) as f64
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]
    /// Every baseline's keys equal its oracle's on every query of every batch, where
    /// the queries of a batch are all pairs of nodes at the batch's first time; the
    /// one-number score is the key (one key) or the lexicographic share (several),
    /// whatever the store's own direction.
    #[test]
    fn baselines_match_oracle(
        events in prop::collection::vec((0u32..7, 0u32..7, prop_oneof![2 => Just(0u8), 1 => 1u8..3]), 1..40),
        bs in 1usize..6,
        store_directed in any::<bool>(),
    ) {
        let n = 7;
        let store = store_of(&events, n, store_directed);
        let times: Vec<f64> = (0..store.num_events()).map(|e| store.event(e as u32).2).collect();
        let start = store.num_events() / 3;
        let start = batch_ranges(&times, 0..store.num_events(), 1)
            .into_iter().map(|r| r.start).find(|&s| s >= start).unwrap_or(store.num_events());
        for cfg in configs() {
            let mut sc = make_baseline(&cfg).unwrap();
            sc.start(&store, start).unwrap();
            let (mut out, mut keys) = (Vec::new(), Vec::new());
            for b in batch_ranges(&times, start..store.num_events(), bs) {
                let t0 = times[b.start];
                let (mut src, mut dst) = (vec![], vec![]);
                for s in 0..n { for d in 0..n { src.push(s); dst.push(d); } }
                let ts = vec![t0; src.len()];
                let w = sc.score_keys(&store, b.clone(), &src, &dst, &ts, &mut keys).unwrap();
                sc.score(&store, b.clone(), &src, &dst, &ts, &mut out).unwrap();
                let past = evs(&store, b.start);
                prop_assert_eq!(keys.len(), src.len() * w);
                for i in 0..src.len() {
                    let want = oracle(&cfg, &past, src[i], dst[i], t0);
                    prop_assert_eq!(want.len(), w, "{}", cfg.name());
                    for (j, &k) in keys[i * w..(i + 1) * w].iter().enumerate() {
                        prop_assert!((k - want[j]).abs() < 1e-9,
                            "{} ({},{}) at {t0} key {j}: {k} vs {}", cfg.name(), src[i], dst[i], want[j]);
                    }
                    let one = if w == 1 {
                        keys[i]
                    } else {
                        // The share from the scorer's own keys (the folding), and, with
                        // integer counts (no half-life), from the oracle's as well.
                        let own = |v: u32| keys[(src[i] * n + v) as usize * w..][..w].to_vec();
                        let got = share(&own, n, &keys[i * w..(i + 1) * w]);
                        if cfg.half_life.is_none() {
                            let exact = share(&|v| oracle(&cfg, &past, src[i], v, t0), n, &want);
                            prop_assert_eq!(got, exact, "{}", cfg.name());
                        }
                        got
                    };
                    prop_assert_eq!(out[i], one, "{} ({},{})", cfg.name(), src[i], dst[i]);
                }
                sc.absorb(&store, b).unwrap();
            }
        }
    }
}

/// Events planted at the query's own time or later (inside the batch) do not
/// change any score; a batch starting before what was absorbed is refused.
#[test]
fn planted_events_at_query_time_do_not_leak() {
    let base = [(0, 1, 1), (1, 2, 1), (2, 3, 1), (0, 2, 1)];
    let mut planted = base.to_vec();
    // Same timestamp as the query batch (gap 1 then 0s): inside the batch.
    planted.extend([(0, 3, 1), (1, 3, 0), (3, 0, 0)]);
    let clean = store_of(&base, 4, false);
    let leaky = store_of(&planted, 4, false);
    let t = leaky.event(4).2;
    let (src, dst) = (vec![0, 1, 3, 0], vec![3, 3, 0, 1]);
    let ts = vec![t; 4];
    for cfg in configs() {
        let (mut a, mut b) = (make_baseline(&cfg).unwrap(), make_baseline(&cfg).unwrap());
        let (mut oa, mut ob) = (vec![], vec![]);
        a.start(&clean, 4).unwrap();
        a.score(&clean, 4..4, &src, &dst, &ts, &mut oa).unwrap();
        b.start(&leaky, 4).unwrap();
        b.score(&leaky, 4..7, &src, &dst, &ts, &mut ob).unwrap();
        assert_eq!(oa, ob, "{}", cfg.name());
        b.absorb(&leaky, 4..7).unwrap();
        let err = b.score(&leaky, 4..7, &src, &dst, &ts, &mut ob).unwrap_err();
        assert!(matches!(err, EvalError::Causality { .. }), "{err}");
    }
}

#[test]
fn names_parse_and_unknown_is_refused() {
    for k in BaselineKind::ALL {
        assert_eq!(k.as_str().parse::<BaselineKind>().unwrap(), k);
        let name: BaselineName = k.as_str().parse().unwrap();
        assert_eq!((name.kind, name.direction), (k, Direction::Directed));
        assert_eq!(name.to_string(), k.as_str());
        if k.has_direction() {
            let u: BaselineName = format!("{k}-undirected").parse().unwrap();
            assert_eq!((u.kind, u.direction), (k, Direction::Undirected));
            assert_eq!(u.to_string(), format!("{k}-undirected"));
            assert_eq!(BaselineConfig::named(u).name(), format!("{k}-undirected"));
        } else {
            let e = format!("{k}-undirected").parse::<BaselineName>().unwrap_err().to_string();
            assert!(e.contains("undirected view"), "{e}");
        }
    }
    for (alias, kind) in [
        ("LR", BaselineKind::Recency),
        ("gp", BaselineKind::Popularity),
        ("gr", BaselineKind::GlobalRecency),
        ("lp", BaselineKind::LocalPopularity),
        ("local_recency", BaselineKind::Recency),
    ] {
        assert_eq!(alias.parse::<BaselineName>().unwrap().kind, kind, "{alias}");
    }
    let e = "pagerank".parse::<BaselineName>().unwrap_err().to_string();
    assert!(e.contains("unknown baseline") && e.contains("edgebank") && e.contains("lr-lp-gp"), "{e}");
    let e = "pagerank-undirected".parse::<BaselineName>().unwrap_err().to_string();
    assert!(e.contains("unknown baseline"), "{e}");
    assert!(make_baseline(&BaselineConfig::new(BaselineKind::EdgeBankTw)).is_err());
    let cfg = BaselineConfig { half_life: Some(2.5), ..BaselineConfig::new(BaselineKind::LrLpGp) };
    assert_eq!(cfg.name(), "lr-lp-gp(half-life=2.5)");
    let cfg = BaselineConfig { half_life: Some(2.5), ..BaselineConfig::new(BaselineKind::LrGr) };
    assert_eq!(cfg.name(), "lr-gr", "no popularity key, no half-life in the name");
}

/// Directed pairs differ from undirected ones exactly where the reverse pair was
/// seen: `(1, 0)` after an event `0 -> 1`.
#[test]
fn direction_of_pairs_and_destinations() {
    let store = store_of(&[(0, 1, 1), (0, 1, 1), (2, 1, 1)], 3, false);
    let (src, dst) = (vec![0, 1, 1, 2], vec![1, 0, 2, 0]);
    let ts = vec![10.0; 4];
    let run = |kind, direction| {
        let mut sc = make_baseline(&BaselineConfig { direction, ..BaselineConfig::new(kind) }).unwrap();
        sc.start(&store, 3).unwrap();
        let mut out = vec![];
        sc.score(&store, 3..3, &src, &dst, &ts, &mut out).unwrap();
        out
    };
    assert_eq!(run(BaselineKind::EdgeBank, Direction::Directed), [1.0, 0.0, 0.0, 0.0]);
    assert_eq!(run(BaselineKind::EdgeBank, Direction::Undirected), [1.0, 1.0, 1.0, 0.0]);
    // Node 0 is never a destination; node 1 three times; undirected counts node 0's
    // two events as source too.
    assert_eq!(run(BaselineKind::Popularity, Direction::Directed), [3.0, 0.0, 0.0, 0.0]);
    assert_eq!(run(BaselineKind::Popularity, Direction::Undirected), [3.0, 2.0, 1.0, 2.0]);
    assert_eq!(run(BaselineKind::LocalPopularity, Direction::Directed), [2.0, 0.0, 0.0, 0.0]);
    assert_eq!(run(BaselineKind::LocalPopularity, Direction::Undirected), [2.0, 2.0, 1.0, 0.0]);
}

/// A combination's one number orders the candidates of one source at one time
/// exactly as its keys do, and nodes without events (more of them in a bigger
/// store) change nothing: evaluation and serving, whose node counts differ, agree.
#[test]
fn combined_score_orders_as_the_keys_and_ignores_idle_nodes() {
    let events: Vec<(u32, u32, u8)> =
        (0..60u32).map(|i| ((i * 5) % 7, (i * 3 + i / 4) % 7, u8::from(i % 4 == 0))).collect();
    let (small, big) = (store_of(&events, 7, false), store_of(&events, 40, false));
    let t = small.event(59).2 + 1.0;
    for kind in [BaselineKind::LrGp, BaselineKind::LrLpGp, BaselineKind::LpGp, BaselineKind::LrGr] {
        let cfg = BaselineConfig { half_life: Some(3.0), ..BaselineConfig::new(kind) };
        for s in 0..7u32 {
            let (src, dst): (Vec<u32>, Vec<u32>) = (0..7).map(|d| (s, d)).unzip();
            let ts = vec![t; 7];
            let (mut a, mut b, mut keys) = (vec![], vec![], vec![]);
            let mut sa = make_baseline(&cfg).unwrap();
            sa.start(&small, 60).unwrap();
            sa.score(&small, 60..60, &src, &dst, &ts, &mut a).unwrap();
            let w = sa.score_keys(&small, 60..60, &src, &dst, &ts, &mut keys).unwrap();
            let mut sb = make_baseline(&cfg).unwrap();
            sb.start(&big, 60).unwrap();
            sb.score(&big, 60..60, &src, &dst, &ts, &mut b).unwrap();
            assert_eq!(a, b, "{kind}");
            for i in 0..7 {
                for j in 0..7 {
                    let by_keys =
                        crate::eval::metrics::lex_cmp(&keys[i * w..(i + 1) * w], &keys[j * w..(j + 1) * w]);
                    assert_eq!(a[i].partial_cmp(&a[j]), Some(by_keys), "{kind} src {s}: {i} vs {j}");
                }
            }
        }
    }
}
