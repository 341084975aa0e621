//! Tests of the metrics: golden values from scikit-learn (and hand-computed
//! ranks), errors, proptests against brute-force oracles, and a differential
//! run against scikit-learn on random inputs with many ties.

use std::path::Path;
use std::process::Command;

use proptest::prelude::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::*;

fn labels(bits: &[u8]) -> Vec<bool> {
    bits.iter().map(|&b| b == 1).collect()
}

fn close(got: f64, want: f64, tol: f64) -> bool {
    (got - want).abs() <= tol
}

// Expected AP / AUC computed by scripts/golden_metrics.py with scikit-learn 1.9.1.
// (name, scores, labels, sklearn AP, sklearn AUC)
type Golden = (&'static str, &'static [f64], &'static [u8], f64, f64);
const GOLDEN: &[Golden] = &[
    ("no_ties", &[0.1, 0.4, 0.35, 0.8], &[0, 0, 1, 1], 0.8333333333333333, 0.75),
    ("ties_across_classes", &[0.5, 0.5, 0.5, 0.2, 0.9, 0.2], &[1, 0, 1, 0, 0, 1], 0.5, 0.3888888888888889),
    ("all_equal", &[0.3, 0.3, 0.3, 0.3, 0.3], &[1, 0, 0, 1, 0], 0.4, 0.5),
    ("signed_zero_tie", &[0.0, -0.0, 1.0, -1.0], &[1, 0, 0, 1], 0.41666666666666663, 0.125),
    ("perfect", &[0.9, 0.8, 0.2, 0.1], &[1, 1, 0, 0], 1.0, 1.0),
    ("reversed", &[0.9, 0.8, 0.2, 0.1], &[0, 0, 1, 1], 0.41666666666666663, 0.0),
    (
        "many_ties",
        &[0.1, 0.2, 0.2, 0.7, 0.7, 0.7, 0.3, 0.1, 0.9, 0.9, 0.2, 0.7, 0.3, 0.3, 0.1, 0.9, 0.5, 0.5, 0.1, 0.7],
        &[0, 1, 0, 1, 1, 0, 0, 0, 1, 0, 0, 1, 1, 0, 1, 1, 0, 1, 0, 0],
        0.5885327635327635,
        0.6767676767676768,
    ),
];

#[test]
fn golden_binary_metrics_match_sklearn() {
    for &(name, scores, bits, ap, auc) in GOLDEN {
        let l = labels(bits);
        let got_ap = average_precision(scores, &l).unwrap();
        let got_auc = roc_auc(scores, &l).unwrap();
        let both = binary_metrics(scores, &l).unwrap();
        assert!(close(got_ap, ap, 1e-12), "{name}: AP {got_ap} != {ap}");
        assert!(close(got_auc, auc, 1e-12), "{name}: AUC {got_auc} != {auc}");
        assert_eq!(both, BinaryMetrics { ap: got_ap, auc: got_auc }, "{name}");
    }
}

#[test]
fn single_class_is_an_error() {
    // scikit-learn 1.9.1 (scripts/golden_metrics.py): all positive -> AP 1.0,
    // AUC nan + warning; all negative -> AP 0.0 + warning, AUC nan + warning.
    // linkcast refuses both (see the module docs).
    let s = [0.2, 0.7, 0.7];
    for (l, pos, neg) in [([true; 3], 3, 0), ([false; 3], 0, 3)] {
        for (metric, r) in [("average_precision", average_precision(&s, &l)), ("roc_auc", roc_auc(&s, &l))] {
            assert_eq!(r, Err(MetricError::SingleClass { metric, positives: pos, negatives: neg }));
        }
    }
    // One element is always a single class.
    assert!(matches!(roc_auc(&[0.5], &[true]), Err(MetricError::SingleClass { .. })));
}

#[test]
fn bad_input_is_an_error() {
    assert_eq!(average_precision(&[], &[]), Err(MetricError::Empty { metric: "average_precision" }));
    assert_eq!(
        roc_auc(&[0.1, 0.2], &[true]),
        Err(MetricError::LengthMismatch { metric: "roc_auc", scores: 2, labels: 1 })
    );
    assert_eq!(
        binary_metrics(&[0.1, f64::NAN, 0.3], &[true, false, false]),
        Err(MetricError::NanScore { metric: "binary_metrics", index: 1 })
    );
    let msg = roc_auc(&[0.5], &[false]).unwrap_err().to_string();
    assert!(msg.contains("one class"), "{msg}");
}

#[test]
fn infinite_scores_order_as_expected() {
    // sklearn rejects infinities, so this is checked by hand: +inf tops the
    // ranking, -inf ends it, and two +inf tie.
    let s = [f64::INFINITY, f64::INFINITY, 0.0, f64::NEG_INFINITY];
    let l = [true, false, true, false];
    // One tie (pos/neg at +inf) = 1/2, pos at 0 beats -inf neg = 1, pos at inf
    // beats -inf neg = 1, pos at 0 loses to +inf neg = 0: U = 2.5 of 4.
    assert_eq!(roc_auc(&s, &l).unwrap(), 0.625);
    // Thresholds: inf (tp 1, fp 1, P = 1/2), 0 (tp 2, fp 1, P = 2/3).
    let ap = average_precision(&s, &l).unwrap();
    assert!(close(ap, 0.5 * 0.5 + 0.5 * 2.0 / 3.0, 1e-15), "{ap}");
}

// Hand-computed by scripts/golden_metrics.py (plain Python, same tie rule):
// (pos, negs, optimistic, pessimistic, rr, hits@1, hits@3, hits@10)
type GoldenRank = (f64, &'static [f64], usize, usize, f64, [f64; 3]);
const GOLDEN_RANK: &[GoldenRank] = &[
    (0.9, &[0.1, 0.5, 0.3], 1, 1, 1.0, [1.0, 1.0, 1.0]),
    (0.5, &[0.9, 0.5, 0.5, 0.1], 2, 4, 0.3333333333333333, [0.0, 0.5, 1.0]),
    (0.4, &[0.4; 10], 1, 11, 0.16666666666666666, [0.5, 0.5, 0.5]),
    (
        0.0,
        &[0.05, 0.15, 0.25, 0.35, 0.45, 0.55, 0.65, 0.75, 0.85, 0.95, 1.05, 1.15],
        13,
        13,
        0.07692307692307693,
        [0.0, 0.0, 0.0],
    ),
    (0.3, &[], 1, 1, 1.0, [1.0, 1.0, 1.0]),
    (0.7, &[0.7, 0.2], 1, 2, 0.6666666666666666, [0.5, 1.0, 1.0]),
];

#[test]
fn golden_rank_metrics() {
    let mut outcomes = Vec::new();
    for &(pos, negs, opt, pess, rr, hits) in GOLDEN_RANK {
        let o = rank_metrics(pos, negs);
        assert_eq!(o, RankOutcome { optimistic: opt, pessimistic: pess }, "{pos} {negs:?}");
        assert!(close(o.reciprocal_rank(), rr, 1e-15));
        for (k, h) in HITS_AT.into_iter().zip(hits) {
            assert_eq!(o.hits(k), h, "hits@{k} of {pos} {negs:?}");
        }
        outcomes.push(o);
    }
    // summary | 6 | 0.5405982905982906 | 0.5 | 0.6666666666666666 | 0.75
    let s = rank_summary(&outcomes).unwrap();
    assert_eq!(s.n, 6);
    assert!(close(s.mrr, 0.5405982905982906, 1e-15), "{}", s.mrr);
    assert!(close(s.hits.at1, 0.5, 1e-15));
    assert!(close(s.hits.at3, 0.6666666666666666, 1e-15));
    assert!(close(s.hits.at10, 0.75, 1e-15));
}

/// One case of `scripts/golden_tgb_rank.py`: inputs regenerated by [`splitmix_scores`],
/// outputs from py-tgb's `Evaluator`.
struct TgbGolden {
    name: &'static str,
    seed: u64,
    queries: usize,
    k: usize,
    levels: u64,
    mrr: f64,
    hits: [f64; 3],
}

// Computed once by `scripts/golden_tgb_rank.py` with TGB's own
// `tgb.linkproppred.evaluate.Evaluator` (py-tgb 2.3.0, numpy 2.4.6, python 3.11.7); CI does not need py-tgb.
const TGB_GOLDEN: &[TgbGolden] = &[
    TgbGolden {
        name: "two_levels_k20",
        seed: 1,
        queries: 400,
        k: 20,
        levels: 2,
        mrr: 0.11314868927001953,
        hits: [0.0, 0.0, 0.4749999940395355],
    },
    TgbGolden {
        name: "eight_levels_k100",
        seed: 2,
        queries: 300,
        k: 100,
        levels: 8,
        mrr: 0.042853791266679764,
        hits: [0.0, 0.0033333334140479565, 0.14666666090488434],
    },
    TgbGolden {
        name: "five_levels_k10",
        seed: 3,
        queries: 500,
        k: 10,
        levels: 5,
        mrr: 0.25487449765205383,
        hits: [0.02199999988079071, 0.2800000011920929, 0.921999990940094],
    },
    TgbGolden {
        name: "ten_levels_k1",
        seed: 4,
        queries: 500,
        k: 1,
        levels: 10,
        mrr: 0.7566666603088379,
        hits: [0.49000000953674316, 1.0, 1.0],
    },
    TgbGolden {
        name: "many_levels_k50",
        seed: 5,
        queries: 300,
        k: 50,
        levels: 1000,
        mrr: 0.08181480318307877,
        hits: [0.006666666828095913, 0.046666666865348816, 0.20333333313465118],
    },
];

/// The script's inputs: SplitMix64 from `seed`, score = `(x >> 11) % levels`, row
/// `q` = (positive, K negatives).
fn splitmix_scores(seed: u64, queries: usize, k: usize, levels: u64) -> (Vec<f64>, Vec<f64>) {
    let mut state = seed;
    let mut next = || {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    };
    let (mut pos, mut neg) = (Vec::with_capacity(queries), Vec::with_capacity(queries * k));
    for _ in 0..queries {
        pos.push(((next() >> 11) % levels) as f64);
        for _ in 0..k {
            neg.push(((next() >> 11) % levels) as f64);
        }
    }
    (pos, neg)
}

/// MRR and TGB's Hits@k equal py-tgb's `Evaluator` on random tie-heavy scores. TGB
/// averages in float32, so agreement is to float32 precision (1e-6 here, on values
/// below 1), not to f64's; linkcast's own Hits@k differs wherever ties straddle k.
#[test]
fn tgb_evaluator_golden_values() {
    let mut conventions_differ = false;
    for g in TGB_GOLDEN {
        let (pos, neg) = splitmix_scores(g.seed, g.queries, g.k, g.levels);
        let s = rank_summary_rows(&pos, &neg, g.k).unwrap();
        assert!(close(s.mrr, g.mrr, 1e-6), "{}: MRR {} vs TGB {}", g.name, s.mrr, g.mrr);
        let ours = [s.hits_tgb.at1, s.hits_tgb.at3, s.hits_tgb.at10];
        for (i, k) in HITS_AT.into_iter().enumerate() {
            assert!(close(ours[i], g.hits[i], 1e-6), "{}: Hits@{k} {} vs TGB {}", g.name, ours[i], g.hits[i]);
        }
        conventions_differ |= [s.hits.at1, s.hits.at3, s.hits.at10] != ours;
    }
    assert!(conventions_differ, "the cases must tell the two Hits conventions apart");
    // The scores come out as the script draws them (its first case's first row).
    let (pos, neg) = splitmix_scores(1, 1, 20, 2);
    assert_eq!(pos.len() + neg.len(), 21);
}

#[test]
fn tgb_hits_threshold_the_mean_rank() {
    // Tied with one negative for first place: mean rank 1.5.
    let o = rank_metrics(0.7, &[0.7, 0.2]);
    assert!(!o.hits_tgb(1) && o.hits_tgb(2));
    assert_eq!(o.hits(1), 0.5);
    // Mean rank exactly k counts.
    let o = rank_metrics(0.5, &[0.9, 0.5, 0.5]);
    assert_eq!(o.rank(), 3.0);
    assert!(o.hits_tgb(3) && !o.hits_tgb(2));
}

/// Lexicographic ranks: rows compare key by key; dense ranks order rows exactly as
/// [`lex_cmp`]; a row ranks among its negatives as its dense rank would.
#[test]
fn lexicographic_keys_rank_exactly() {
    let keys = [1.0, 0.0, 0.0, 5.0, 1.0, 0.0, 0.0, 5.0, 0.0, 4.0, 1.0, 0.0];
    assert_eq!(lex_dense_ranks(&keys, 2), [2.0, 1.0, 2.0, 1.0, 0.0, 2.0]);
    assert_eq!(lex_cmp(&[1.0, 0.0], &[0.0, 9.0]), std::cmp::Ordering::Greater);
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    for _ in 0..200 {
        let w = rng.random_range(1..4usize);
        let n = rng.random_range(1..30usize);
        let keys: Vec<f64> = (0..(n + 1) * w).map(|_| f64::from(rng.random_range(0..3u8))).collect();
        let ranks = lex_dense_ranks(&keys, w);
        for a in 0..=n {
            for b in 0..=n {
                let by_keys = lex_cmp(&keys[a * w..(a + 1) * w], &keys[b * w..(b + 1) * w]);
                assert_eq!(ranks[a].partial_cmp(&ranks[b]), Some(by_keys));
            }
        }
        assert_eq!(rank_metrics_lex(&keys[..w], &keys[w..], w), rank_metrics(ranks[0], &ranks[1..]));
    }
}

#[test]
fn nan_counts_against_the_positive() {
    assert_eq!(rank_metrics(f64::NAN, &[0.1, 0.2]), RankOutcome { optimistic: 3, pessimistic: 3 });
    assert_eq!(rank_metrics(0.5, &[f64::NAN, 0.1]), RankOutcome { optimistic: 2, pessimistic: 2 });
}

#[test]
fn rank_summary_rows_matches_serial_and_checks_shape() {
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let (q, k) = (257, 9);
    let pos: Vec<f64> = (0..q).map(|_| f64::from(rng.random_range(0..5u8))).collect();
    let neg: Vec<f64> = (0..q * k).map(|_| f64::from(rng.random_range(0..5u8))).collect();
    let serial: Vec<RankOutcome> = pos.iter().zip(neg.chunks(k)).map(|(&p, n)| rank_metrics(p, n)).collect();
    let want = rank_summary(&serial).unwrap();
    let got = rank_summary_rows(&pos, &neg, k).unwrap();
    assert_eq!(got.n, want.n);
    assert_eq!(got.hits, want.hits); // exact: integer half-counts
    assert!(close(got.mrr, want.mrr, 1e-14));

    assert_eq!(
        rank_summary_rows(&pos, &neg[1..], k),
        Err(MetricError::RankShape { queries: q, k, negatives: q * k - 1 })
    );
    assert_eq!(rank_summary_rows(&[], &[], 3), Err(MetricError::Empty { metric: "rank" }));
    assert_eq!(rank_summary_rows(&[0.1, 0.2], &[], 0).unwrap().mrr, 1.0);
}

/// O(n^2) Mann-Whitney: every (positive, negative) pair, ties 1/2.
fn auc_oracle(scores: &[f64], labels: &[bool]) -> f64 {
    let (mut u, mut pairs) = (0.0, 0.0);
    for (i, &si) in scores.iter().enumerate() {
        for (j, &sj) in scores.iter().enumerate() {
            if labels[i] && !labels[j] {
                pairs += 1.0;
                if si > sj {
                    u += 1.0;
                } else if si == sj {
                    u += 0.5;
                }
            }
        }
    }
    u / pairs
}

/// O(n^2) AP from the definition: for each distinct threshold t in descending
/// order, (R(t) - R(previous t)) * P(t) with "positive iff score >= t".
fn ap_oracle(scores: &[f64], labels: &[bool]) -> f64 {
    let mut thresholds: Vec<f64> = scores.to_vec();
    thresholds.sort_by(|a, b| b.partial_cmp(a).unwrap());
    thresholds.dedup_by(|a, b| a == b);
    let total_pos = labels.iter().filter(|&&l| l).count() as f64;
    let (mut ap, mut prev_recall) = (0.0, 0.0);
    for t in thresholds {
        let predicted = scores.iter().filter(|&&s| s >= t).count() as f64;
        let tp = scores.iter().zip(labels).filter(|&(&s, &l)| l && s >= t).count() as f64;
        let recall = tp / total_pos;
        ap += (recall - prev_recall) * (tp / predicted);
        prev_recall = recall;
    }
    ap
}

/// Scores from a handful of values (many ties), labels with both classes.
fn tied_input() -> impl Strategy<Value = (Vec<f64>, Vec<bool>)> {
    (2usize..60)
        .prop_flat_map(|n| {
            (
                prop::collection::vec((-3i8..4).prop_map(|v| f64::from(v) / 2.0), n),
                prop::collection::vec(any::<bool>(), n),
            )
        })
        .prop_filter("both classes", |(_, l)| l.iter().any(|&b| b) && l.iter().any(|&b| !b))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn auc_equals_pair_count((scores, labels) in tied_input()) {
        let got = roc_auc(&scores, &labels).unwrap();
        prop_assert!(close(got, auc_oracle(&scores, &labels), 1e-12));
    }

    #[test]
    fn ap_equals_definition((scores, labels) in tied_input()) {
        let got = average_precision(&scores, &labels).unwrap();
        prop_assert!(close(got, ap_oracle(&scores, &labels), 1e-12));
    }

    #[test]
    fn rank_matches_counts(pos in -2i8..3, negs in prop::collection::vec(-2i8..3, 0..30)) {
        let negs: Vec<f64> = negs.into_iter().map(f64::from).collect();
        let pos = f64::from(pos);
        let o = rank_metrics(pos, &negs);
        let above = negs.iter().filter(|&&n| n > pos).count();
        let at_or_above = negs.iter().filter(|&&n| n >= pos).count();
        prop_assert_eq!(o, RankOutcome { optimistic: 1 + above, pessimistic: 1 + at_or_above });
        for k in HITS_AT {
            let h = o.hits(k);
            prop_assert!(h == 0.0 || h == 0.5 || h == 1.0);
            prop_assert_eq!(h == 0.5, o.optimistic <= k && o.pessimistic > k);
        }
    }
}

#[derive(Serialize)]
struct DiffCase {
    scores: Vec<f64>,
    labels: Vec<bool>,
}

#[derive(Deserialize)]
struct SklearnResult {
    ap: Option<f64>,
    auc: Option<f64>,
}

/// 50 seeded cases of sizes 1..2000 with heavy ties, including single-class
/// ones and signed zeros.
fn diff_cases() -> Vec<DiffCase> {
    let mut rng = ChaCha8Rng::seed_from_u64(0x0011_c457);
    let mut cases = Vec::new();
    for i in 0..50 {
        let n = match i {
            0 => 1,
            1 => 2,
            2 => 2000,
            _ => rng.random_range(1..=2000),
        };
        // Prevalence from rare to common; case 3 is all negative, 4 all positive.
        let p: f64 = match i {
            3 => 0.0,
            4 => 1.0,
            _ => rng.random_range(0.02..0.98),
        };
        // Most cases: 11 distinct values (1 decimal); some: 3 decimals, and
        // some draw from {-0.0, 0.0, 0.5} to tie zeros of both signs.
        let style = i % 5;
        let (mut scores, mut labels) = (Vec::with_capacity(n), Vec::with_capacity(n));
        for _ in 0..n {
            let label = rng.random_bool(p);
            // Positives lean higher so AUC is not always near 1/2.
            let base: f64 = rng.random::<f64>() * 0.8 + if label { 0.2 } else { 0.0 };
            let s = match style {
                0 => [-0.0, 0.0, 0.5][rng.random_range(0..3)],
                1 => (base * 1000.0).round() / 1000.0,
                _ => (base * 10.0).round() / 10.0,
            };
            scores.push(s);
            labels.push(label);
        }
        cases.push(DiffCase { scores, labels });
    }
    cases
}

/// Differential test against scikit-learn (run in CI after scripts/setup.sh).
#[test]
fn differential_against_sklearn() {
    if std::env::var("LINKCAST_SKIP_SKLEARN").as_deref() == Ok("1") {
        println!("skipped: LINKCAST_SKIP_SKLEARN=1");
        return;
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let python = root.join(".venv/bin/python");
    assert!(
        python.exists(),
        "{} is missing: run scripts/setup.sh (or set LINKCAST_SKIP_SKLEARN=1 to skip)",
        python.display()
    );
    let cases = diff_cases();
    let mut file = tempfile::NamedTempFile::new().unwrap();
    serde_json::to_writer(&mut file, &cases).unwrap();
    let out = Command::new(&python)
        .arg(root.join("scripts/metrics_diff.py"))
        .arg(file.path())
        .output()
        .expect("running .venv/bin/python");
    assert!(
        out.status.success(),
        "scripts/metrics_diff.py failed (scikit-learn missing? run scripts/setup.sh, \
         or set LINKCAST_SKIP_SKLEARN=1 to skip): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let want: Vec<SklearnResult> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(want.len(), cases.len());

    let (mut compared, mut max_ap, mut max_auc) = (0, 0.0f64, 0.0f64);
    for (i, (case, sk)) in cases.iter().zip(&want).enumerate() {
        let ours = binary_metrics(&case.scores, &case.labels);
        let pos = case.labels.iter().filter(|&&l| l).count();
        if pos == 0 || pos == case.labels.len() {
            // linkcast refuses one class; sklearn gives AUC nan (or raises).
            assert!(matches!(ours, Err(MetricError::SingleClass { .. })), "case {i}");
            assert!(sk.auc.is_none(), "case {i}: sklearn AUC {:?}", sk.auc);
            continue;
        }
        let ours = ours.unwrap();
        let (ap, auc) = (sk.ap.unwrap(), sk.auc.unwrap());
        assert!(
            close(ours.ap, ap, 1e-9),
            "case {i} (n={}): AP {} vs sklearn {ap}",
            case.scores.len(),
            ours.ap
        );
        assert!(
            close(ours.auc, auc, 1e-9),
            "case {i} (n={}): AUC {} vs sklearn {auc}",
            case.scores.len(),
            ours.auc
        );
        max_ap = max_ap.max((ours.ap - ap).abs());
        max_auc = max_auc.max((ours.auc - auc).abs());
        compared += 1;
    }
    // Guard against a generator that silently produces only one class.
    assert!(compared >= 40, "only {compared} two-class cases");
    println!(
        "differential: {compared} two-class cases agree with scikit-learn \
         (max |dAP| {max_ap:e}, max |dAUC| {max_auc:e})"
    );
}
