#!/usr/bin/env python3
"""Golden MRR and Hits@k from TGB's own evaluator, for the test
`tgb_evaluator_golden_values` in src/eval/metrics_tests.rs.

Run once in a peer venv that has py-tgb (never a dependency of linkcast; CI reads
the committed numbers instead):

    python3 -m venv /work/peer-tgb
    /work/peer-tgb/bin/pip install --no-deps py-tgb
    /work/peer-tgb/bin/pip install numpy pandas scikit-learn tqdm requests clint
    /work/peer-tgb/bin/python scripts/golden_tgb_rank.py

The evaluator (`tgb.linkproppred.evaluate.Evaluator`) imports torch only inside a
try block, so it runs without torch. The scores are random and tie-heavy (a few
levels), drawn by SplitMix64 so that the Rust test regenerates the identical
inputs (`splitmix_scores` there): draw `x`, score = `(x >> 11) % levels`. Each
case prints MRR and Hits@{1,3,10} as TGB computes them (float32), with repr so
they paste exactly.
"""
import sys
from importlib.metadata import version

import numpy as np
from tgb.linkproppred.evaluate import Evaluator

MASK = (1 << 64) - 1


class SplitMix64:
    def __init__(self, seed):
        self.state = seed & MASK

    def next(self):
        self.state = (self.state + 0x9E3779B97F4A7C15) & MASK
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
        return z ^ (z >> 31)


# (name, seed, queries, negatives per query, score levels)
CASES = [
    ("two_levels_k20", 1, 400, 20, 2),
    ("eight_levels_k100", 2, 300, 100, 8),
    ("five_levels_k10", 3, 500, 10, 5),
    ("ten_levels_k1", 4, 500, 1, 10),
    ("many_levels_k50", 5, 300, 50, 1000),
]


def scores(seed, queries, k, levels):
    rng = SplitMix64(seed)
    flat = [float((rng.next() >> 11) % levels) for _ in range(queries * (k + 1))]
    a = np.array(flat, dtype=np.float64).reshape(queries, k + 1)
    return a[:, 0], a[:, 1:]


def main():
    print(f"# py-tgb {version('py-tgb')}, numpy {np.__version__}, "
          f"python {sys.version.split()[0]}")
    for name, seed, queries, k, levels in CASES:
        pos, neg = scores(seed, queries, k, levels)
        out = {}
        for hk in (1, 3, 10):
            ev = Evaluator(name="tgbl-wiki", k_value=hk)
            r = ev.eval({"y_pred_pos": pos, "y_pred_neg": neg, "eval_metric": ["mrr"]})
            out[hk] = float(r[f"hits@{hk}"])
            out["mrr"] = float(r["mrr"])
        print(f'    TgbGolden {{ name: "{name}", seed: {seed}, queries: {queries}, k: {k}, levels: {levels}, '
              f'mrr: {out["mrr"]!r}, hits: [{out[1]!r}, {out[3]!r}, {out[10]!r}] }},')


if __name__ == "__main__":
    main()
