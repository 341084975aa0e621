#!/usr/bin/env python3
"""Expected values for the golden metric tests in src/eval/metrics_tests.rs.

Run with the project venv (scripts/setup.sh installs scikit-learn):

    .venv/bin/python scripts/golden_metrics.py

AP and AUC come from scikit-learn (an implementation independent of linkcast's);
MRR and Hits@k are computed by hand in plain Python with the tie rule of
src/eval/metrics.rs: optimistic rank = 1 + #neg > pos, pessimistic rank =
1 + #neg >= pos, rank = their mean, RR = 1 / rank, hits@k = mean of the two
indicators [optimistic <= k] and [pessimistic <= k].
Floats are printed with repr (shortest round-trip) so they paste exactly.
"""
import warnings

import sklearn
from sklearn.metrics import average_precision_score, roc_auc_score

BINARY_CASES = [
    # (name, scores, labels)
    ("no_ties", [0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1]),
    ("ties_across_classes", [0.5, 0.5, 0.5, 0.2, 0.9, 0.2], [1, 0, 1, 0, 0, 1]),
    ("all_equal", [0.3, 0.3, 0.3, 0.3, 0.3], [1, 0, 0, 1, 0]),
    ("signed_zero_tie", [0.0, -0.0, 1.0, -1.0], [1, 0, 0, 1]),
    ("perfect", [0.9, 0.8, 0.2, 0.1], [1, 1, 0, 0]),
    ("reversed", [0.9, 0.8, 0.2, 0.1], [0, 0, 1, 1]),
    (
        "many_ties",
        [0.1, 0.2, 0.2, 0.7, 0.7, 0.7, 0.3, 0.1, 0.9, 0.9, 0.2, 0.7, 0.3, 0.3, 0.1, 0.9, 0.5, 0.5, 0.1, 0.7],
        [0, 1, 0, 1, 1, 0, 0, 0, 1, 0, 0, 1, 1, 0, 1, 1, 0, 1, 0, 0],
    ),
    # Single-class inputs: linkcast returns MetricError::SingleClass for both
    # metrics; printed here to document what scikit-learn does instead.
    ("single_class_all_positive", [0.2, 0.7, 0.7], [1, 1, 1]),
    ("single_class_all_negative", [0.2, 0.7, 0.7], [0, 0, 0]),
]

RANK_CASES = [
    # (name, pos_score, neg_scores)
    ("strictly_first", 0.9, [0.1, 0.5, 0.3]),
    ("ties_straddle_3", 0.5, [0.9, 0.5, 0.5, 0.1]),
    ("all_tied", 0.4, [0.4] * 10),
    ("last_of_12", 0.0, [0.1 * i + 0.05 for i in range(12)]),
    ("no_negatives", 0.3, []),
    ("tie_at_1", 0.7, [0.7, 0.2]),
]
HITS_AT = (1, 3, 10)


def sk(fn, scores, labels):
    # Newer scikit-learn warns (and returns nan or 0) where older versions
    # raised; report either so the single-class rows document the behaviour.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            value = repr(float(fn(labels, scores)))
        except ValueError as e:
            return f"ValueError({e})"
    if caught:
        value += f" (warning: {caught[0].category.__name__})"
    return value


def rank_outcome(pos, negs):
    opt = 1 + sum(1 for n in negs if n > pos)
    pess = 1 + sum(1 for n in negs if n >= pos)
    return opt, pess


def main():
    print(f"# scikit-learn {sklearn.__version__}")
    print("# binary: name | AP | AUC")
    for name, scores, labels in BINARY_CASES:
        ap = sk(average_precision_score, scores, labels)
        auc = sk(roc_auc_score, scores, labels)
        print(f"{name} | {ap} | {auc}")

    print("# rank: name | optimistic | pessimistic | rr | hits@1 | hits@3 | hits@10")
    outcomes = []
    for name, pos, negs in RANK_CASES:
        opt, pess = rank_outcome(pos, negs)
        rr = 1.0 / ((opt + pess) / 2.0)
        hits = [((opt <= k) + (pess <= k)) / 2.0 for k in HITS_AT]
        outcomes.append((rr, hits))
        print(f"{name} | {opt} | {pess} | {rr!r} | " + " | ".join(repr(h) for h in hits))
    n = len(outcomes)
    mrr = sum(rr for rr, _ in outcomes) / n
    hits = [sum(h[i] for _, h in outcomes) / n for i in range(len(HITS_AT))]
    print(f"# summary over all rank cases: n | mrr | hits@1 | hits@3 | hits@10")
    print(f"summary | {n} | {mrr!r} | " + " | ".join(repr(h) for h in hits))


if __name__ == "__main__":
    main()
