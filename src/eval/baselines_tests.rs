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

/// Brute-force score of `(s, d, t)` from the events `past`.
fn oracle(cfg: &BaselineConfig, directed: bool, past: &[(u32, u32, f64)], s: u32, d: u32, t: f64) -> f64 {
    let same = |a: u32, b: u32| (a == s && b == d) || (!directed && a == d && b == s);
    match cfg.kind {
        BaselineKind::EdgeBank => f64::from(u8::from(past.iter().any(|&(a, b, _)| same(a, b)))),
        BaselineKind::EdgeBankTw => {
            let w = cfg.window.unwrap();
            let last = past.iter().filter(|&&(a, b, _)| same(a, b)).map(|e| e.2).next_back();
            f64::from(u8::from(last.is_some_and(|l| l >= t - w && l < t)))
        }
        BaselineKind::Recency => past
            .iter()
            .filter(|&&(a, b, _)| same(a, b))
            .map(|e| e.2)
            .next_back()
            .map_or(0.0, |l| 1.0 / (1.0 + (t - l))),
        BaselineKind::Popularity => {
            let rate = cfg.half_life.map_or(0.0, |h| std::f64::consts::LN_2 / h);
            past.iter()
                .map(|&(a, b, te)| {
                    let hits = u32::from(b == d) + u32::from(!directed && a == d && a != b);
                    f64::from(hits) * (-(t - te) * rate).exp()
                })
                .sum()
        }
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
                .sum()
        }
    }
}

fn configs() -> Vec<BaselineConfig> {
    let mut v: Vec<BaselineConfig> = BaselineKind::ALL.iter().map(|&k| BaselineConfig::new(k)).collect();
    v[1].window = Some(3.0);
    v.push(BaselineConfig { kind: BaselineKind::Popularity, window: None, half_life: Some(2.0) });
    v.push(BaselineConfig { kind: BaselineKind::CommonNeighbours, window: Some(4.0), half_life: None });
    v.push(BaselineConfig { kind: BaselineKind::AdamicAdar, window: Some(4.0), half_life: None });
    v
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]
    /// Every baseline equals its oracle on every query of every batch, where the
    /// queries of a batch are all pairs of nodes at the batch's first time.
    #[test]
    fn baselines_match_oracle(
        events in prop::collection::vec((0u32..7, 0u32..7, prop_oneof![2 => Just(0u8), 1 => 1u8..3]), 1..40),
        bs in 1usize..6,
        directed in any::<bool>(),
    ) {
        let n = 7;
        let store = store_of(&events, n, directed);
        let times: Vec<f64> = (0..store.num_events()).map(|e| store.event(e as u32).2).collect();
        let start = store.num_events() / 3;
        let start = batch_ranges(&times, 0..store.num_events(), 1)
            .into_iter().map(|r| r.start).find(|&s| s >= start).unwrap_or(store.num_events());
        for cfg in configs() {
            let mut sc = make_baseline(&cfg).unwrap();
            sc.start(&store, start).unwrap();
            let mut out = Vec::new();
            for b in batch_ranges(&times, start..store.num_events(), bs) {
                let t0 = times[b.start];
                let (mut src, mut dst) = (vec![], vec![]);
                for s in 0..n { for d in 0..n { src.push(s); dst.push(d); } }
                let ts = vec![t0; src.len()];
                sc.score(&store, b.clone(), &src, &dst, &ts, &mut out).unwrap();
                let past = evs(&store, b.start);
                for i in 0..src.len() {
                    let want = oracle(&cfg, directed, &past, src[i], dst[i], t0);
                    prop_assert!((out[i] - want).abs() < 1e-9, "{} ({},{}) at {t0}: {} vs {want}", cfg.name(), src[i], dst[i], out[i]);
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
    }
    let e = "pagerank".parse::<BaselineKind>().unwrap_err().to_string();
    assert!(e.contains("unknown baseline") && e.contains("edgebank"), "{e}");
    assert!(make_baseline(&BaselineConfig::new(BaselineKind::EdgeBankTw)).is_err());
}
