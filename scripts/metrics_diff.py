#!/usr/bin/env python3
"""scikit-learn's AP and AUC for the cases in a JSON file (the differential test
in src/eval/metrics_tests.rs writes it and compares linkcast against this).

    .venv/bin/python scripts/metrics_diff.py CASES.json

Input: a JSON list of {"scores": [float], "labels": [bool]}.
Output (stdout): a JSON list, one {"ap": float|null, "auc": float|null} per case,
null where scikit-learn raised or returned a non-finite value (single class).
Exit 3 with a message on stderr if scikit-learn is not installed.
"""
import json
import math
import sys
import warnings

try:
    from sklearn.metrics import average_precision_score, roc_auc_score
except ImportError:
    print("metrics_diff: scikit-learn is missing; run scripts/setup.sh", file=sys.stderr)
    sys.exit(3)


def value(fn, labels, scores):
    try:
        v = float(fn(labels, scores))
    except ValueError:
        return None
    return v if math.isfinite(v) else None


def main():
    with open(sys.argv[1]) as f:
        cases = json.load(f)
    out = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for case in cases:
            labels = [int(b) for b in case["labels"]]
            scores = case["scores"]
            out.append(
                {
                    "ap": value(average_precision_score, labels, scores),
                    "auc": value(roc_auc_score, labels, scores),
                }
            )
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
