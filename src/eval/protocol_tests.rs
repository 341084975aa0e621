//! Protocol tests with scorers of known quality.

use super::*;
use crate::sample::negatives::RankConfig;
use crate::store::split::SplitSpec;
use crate::store::{EventLog, MemStore};

/// A scorer that knows the future: 1 for a true event of the batch, else 0.
struct Oracle;
/// The same score for everything.
struct Constant;
/// Knows the `ap` protocol's layout: the first half of a batch's queries are the positives.
struct FirstHalf;

impl StreamScorer for FirstHalf {
    fn name(&self) -> String {
        "first-half".into()
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
        out.clear();
        out.extend((0..src.len()).map(|i| f64::from(u8::from(i < src.len() / 2))));
        Ok(())
    }
    fn absorb(&mut self, _: &dyn TemporalStore, _: Range<usize>) -> Result<(), EvalError> {
        Ok(())
    }
}

impl StreamScorer for Oracle {
    fn name(&self) -> String {
        "oracle".into()
    }
    fn start(&mut self, _: &dyn TemporalStore, _: usize) -> Result<(), EvalError> {
        Ok(())
    }
    fn score(
        &mut self,
        store: &dyn TemporalStore,
        batch: Range<usize>,
        src: &[NodeId],
        dst: &[NodeId],
        t: &[Time],
        out: &mut Vec<f64>,
    ) -> Result<(), EvalError> {
        out.clear();
        for i in 0..src.len() {
            let hit = batch.clone().any(|e| store.event(e as u32) == (src[i], dst[i], t[i]));
            out.push(f64::from(u8::from(hit)));
        }
        Ok(())
    }
    fn absorb(&mut self, _: &dyn TemporalStore, _: Range<usize>) -> Result<(), EvalError> {
        Ok(())
    }
}

impl StreamScorer for Constant {
    fn name(&self) -> String {
        "constant".into()
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
        out.clear();
        out.resize(src.len(), 0.5);
        Ok(())
    }
    fn absorb(&mut self, _: &dyn TemporalStore, _: Range<usize>) -> Result<(), EvalError> {
        Ok(())
    }
}

fn graph() -> MemStore {
    let mut log = EventLog::with_feat_dim(0);
    for i in 0..400u32 {
        let s = (i * 7) % 50;
        let d = 50 + (i * 13 + i / 3) % 50;
        log.push(s, d, f64::from(i / 2), &[]);
    }
    MemStore::build(log, 100, false, 16, None).unwrap()
}

fn split(store: &MemStore) -> Split {
    split_store(store, SplitSpec::default()).unwrap()
}

#[test]
fn perfect_scorer_gets_ap_one_and_constant_gets_half() {
    let store = graph();
    let sp = split(&store);
    let dst = DstRange { lo: 50, hi: 100 };
    for strategy in [NegStrategy::Random, NegStrategy::Historical, NegStrategy::Inductive] {
        let cfg = ApConfig { strategy, seed: 3, batch_size: 20, mask: None };
        let run = eval_ap(&mut FirstHalf, &store, &sp, Part::Test, dst, &cfg, &mut |_| {}).unwrap();
        let Metrics::Ap(m) = run.metrics else { panic!() };
        assert_eq!(m.all.positives, sp.test.len());
        assert_eq!(run.pairs, 2 * sp.test.len() as u64);
        assert!((m.all.ap - 1.0).abs() < 1e-12 && (m.all.auc - 1.0).abs() < 1e-12, "{m:?}");
        assert!((m.all.ap_batch_mean - 1.0).abs() < 1e-12);
        let run = eval_ap(&mut Constant, &store, &sp, Part::Val, dst, &cfg, &mut |_| {}).unwrap();
        let Metrics::Ap(m) = run.metrics else { panic!() };
        assert!((m.all.ap - 0.5).abs() < 1e-12 && (m.all.auc - 0.5).abs() < 1e-12, "{m:?}");
        let sub = m.transductive.map_or(0, |s| s.positives) + m.inductive.map_or(0, |s| s.positives);
        assert_eq!(sub, sp.val.len());
    }
}

#[test]
fn rank_protocol_known_ranks() {
    let store = graph();
    let sp = split(&store);
    let dst = DstRange { lo: 50, hi: 100 };
    let set =
        NegativeSet::generate(&store, sp.test.clone(), dst, &RankConfig { k: 10, ..Default::default() })
            .unwrap();
    let run = eval_rank(&mut Oracle, &store, &sp, Part::Test, dst, RankNegatives::Set(&set), 32, &mut |_| {})
        .unwrap();
    let Metrics::Rank(m) = run.metrics else { panic!() };
    assert_eq!((m.mrr, m.hits1, m.queries), (1.0, 1.0, sp.test.len()));
    // Constant: every positive ties with its K negatives: rank (1 + K + 1) / 2.
    let run =
        eval_rank(&mut Constant, &store, &sp, Part::Test, dst, RankNegatives::Set(&set), 32, &mut |_| {})
            .unwrap();
    let Metrics::Rank(m) = run.metrics else { panic!() };
    assert!((m.mrr - 2.0 / 12.0).abs() < 1e-12, "{m:?}");
    assert_eq!((m.hits1, m.hits3, m.hits10), (0.5, 0.5, 0.5));
    // All destinations: the oracle still ranks first.
    let run =
        eval_rank(&mut Oracle, &store, &sp, Part::Test, dst, RankNegatives::All, 32, &mut |_| {}).unwrap();
    let Metrics::Rank(m) = run.metrics else { panic!() };
    assert_eq!(m.mrr, 1.0);
    // A set made for the other part is refused.
    let err =
        eval_rank(&mut Constant, &store, &sp, Part::Val, dst, RankNegatives::Set(&set), 32, &mut |_| {});
    assert!(err.unwrap_err().to_string().contains("negative set covers"));
}

#[test]
fn edgebank_through_the_protocols_and_mask() {
    let store = graph();
    let sp = split(&store);
    let dst = DstRange { lo: 50, hi: 100 };
    let mask = inductive_mask(&store, &sp, 0.1, 1);
    let active: HashSet<u32> = (0..store.num_events())
        .flat_map(|e| {
            let (s, d, _) = store.event(e as u32);
            [s, d]
        })
        .collect();
    let masked = mask.iter().filter(|&&m| m).count();
    assert_eq!(masked, (0.1 * active.len() as f64).round() as usize);
    assert_eq!(mask, inductive_mask(&store, &sp, 0.1, 1));
    let cfg = ApConfig { strategy: NegStrategy::Random, seed: 0, batch_size: 25, mask: Some(mask) };
    let mut eb =
        crate::eval::make_baseline(&crate::eval::BaselineConfig::new(crate::eval::BaselineKind::EdgeBank))
            .unwrap();
    let run = eval_ap(eb.as_mut(), &store, &sp, Part::Test, dst, &cfg, &mut |_| {}).unwrap();
    let Metrics::Ap(m) = run.metrics else { panic!() };
    assert!(m.masked && m.masked_nodes == masked && m.inductive.is_some());
    assert!(m.all.ap > 0.5, "{m:?}");
}

#[test]
fn masked_view_drops_exactly_the_masked_training_events() {
    let store = graph();
    let sp = split(&store);
    let mask = inductive_mask(&store, &sp, 0.3, 4);
    assert!(mask.iter().any(|&m| m), "the test needs some masked nodes");
    let (view, vs) = masked_view(&store, &sp, &mask).unwrap();
    assert_eq!(view.num_nodes(), store.num_nodes());
    // Oracle: the same filter written as a list.
    let all: Vec<_> = (0..store.num_events()).map(|e| (e, store.event(e as u32))).collect();
    let keep: Vec<_> = all
        .iter()
        .filter(|(e, (s, d, _))| *e >= sp.train.end || !(mask[*s as usize] || mask[*d as usize]))
        .map(|(_, ev)| *ev)
        .collect();
    let got: Vec<_> = (0..view.num_events()).map(|e| view.event(e as u32)).collect();
    assert_eq!(got, keep);
    assert_eq!(vs.val.len(), sp.val.len());
    assert_eq!(vs.test.len(), sp.test.len());
    assert_eq!(vs.test.end, view.num_events());
    for e in vs.train.clone() {
        let (s, d, _) = view.event(e as u32);
        assert!(!mask[s as usize] && !mask[d as usize]);
    }
    // No masked node has a neighbour entry from the training period.
    for (v, &m) in mask.iter().enumerate() {
        if m {
            let nb = view.neighbors(v as u32);
            let t_train_end = vs.val_start.unwrap();
            for &t in nb.base.t.iter().chain(nb.tail.t) {
                assert!(t >= t_train_end, "masked node {v} sees a training event");
            }
        }
    }
}

/// Brute-force keys of `lr-gp` (directed, no half-life) for `(s, d)` at `t` from
/// the events before `upto`: (LR, GP).
fn lr_gp_oracle(store: &MemStore, upto: usize, s: u32, d: u32, t: f64) -> [f64; 2] {
    let past: Vec<(u32, u32, f64)> = (0..upto).map(|e| store.event(e as u32)).collect();
    let lr = past.iter().filter(|e| e.0 == s && e.1 == d).map(|e| e.2).next_back();
    let gp = past.iter().filter(|e| e.1 == d).count() as f64;
    [lr.map_or(0.0, |l| 1.0 / (1.0 + (t - l))), gp]
}

/// A combined heuristic is ranked by its keys: `rank` compares them per query and
/// `ap` ranks them over the whole part, both equal to brute force.
#[test]
fn combined_heuristic_ranks_by_its_keys() {
    use crate::eval::metrics::{RankAccumulator, lex_dense_ranks, rank_metrics_lex};
    let store = graph();
    let sp = split(&store);
    let dst = DstRange { lo: 50, hi: 100 };
    let cfg = crate::eval::BaselineConfig::new(crate::eval::BaselineKind::LrGp);
    let set =
        NegativeSet::generate(&store, sp.test.clone(), dst, &RankConfig { k: 10, ..Default::default() })
            .unwrap();
    let bs = 16;
    let mut sc = crate::eval::make_baseline(&cfg).unwrap();
    let run = eval_rank(sc.as_mut(), &store, &sp, Part::Test, dst, RankNegatives::Set(&set), bs, &mut |_| {})
        .unwrap();
    let Metrics::Rank(m) = run.metrics else { panic!() };
    let times = event_times(&store);
    let mut acc = RankAccumulator::default();
    for b in batch_ranges(&times, sp.test.clone(), bs) {
        for e in b.clone() {
            let (s, d, t) = store.event(e as u32);
            let pos = lr_gp_oracle(&store, b.start, s, d, t);
            let negs: Vec<f64> =
                set.query(e).unwrap().iter().flat_map(|&n| lr_gp_oracle(&store, b.start, s, n, t)).collect();
            acc.push(rank_metrics_lex(&pos, &negs, 2));
        }
    }
    let want = acc.finish().unwrap();
    assert!((m.mrr - want.mrr).abs() < 1e-12, "{} vs {}", m.mrr, want.mrr);
    assert_eq!((m.hits1, m.hits10, m.hits1_tgb), (want.hits.at1, want.hits.at10, Some(want.hits_tgb.at1)));
    assert!(m.mrr > 0.0 && m.mrr < 1.0, "{m:?}");

    let ap_cfg = ApConfig { strategy: NegStrategy::Historical, seed: 5, batch_size: bs, mask: None };
    let mut sc = crate::eval::make_baseline(&cfg).unwrap();
    let run = eval_ap(sc.as_mut(), &store, &sp, Part::Test, dst, &ap_cfg, &mut |_| {}).unwrap();
    let Metrics::Ap(m) = run.metrics else { panic!() };
    let neg_cfg = NegConfig { strategy: NegStrategy::Historical, seed: 5, eval_start: sp.val.start };
    let mut sampler = NegativeSampler::new(neg_cfg, dst).unwrap();
    let (mut keys, mut labels, mut negs) = (vec![], vec![], vec![]);
    for b in batch_ranges(&times, sp.test.clone(), bs) {
        sampler.sample(&store, b.clone(), 0, &mut negs).unwrap();
        let evs: Vec<_> = b.clone().map(|e| store.event(e as u32)).collect();
        for &(s, d, t) in &evs {
            keys.extend(lr_gp_oracle(&store, b.start, s, d, t));
            labels.push(true);
        }
        for (&(s, _, t), &n) in evs.iter().zip(&negs) {
            keys.extend(lr_gp_oracle(&store, b.start, s, n, t));
            labels.push(false);
        }
    }
    let want = binary_metrics(&lex_dense_ranks(&keys, 2), &labels).unwrap();
    assert!((m.all.ap - want.ap).abs() < 1e-12 && (m.all.auc - want.auc).abs() < 1e-12, "{m:?} vs {want:?}");
}
