#!/usr/bin/env python3
"""Which ranking queries a heuristic wins over a model, and why: a per-query
comparison of two `linkcast eval --protocol rank --ranks FILE` outputs against the
same negative file (markdown to stdout).

Usage:
    python3 scripts/rank_analysis.py GRAPH_DIR MODEL_RANKS.csv HEURISTIC_RANKS.csv
        [--model-name tpnet-lite] [--heuristic-name lr-gr-undirected]

Each query (a test positive `(u, v, t)`) is put in a bucket by what the events
strictly before `t` say about the pair (either direction; the default store is
undirected): never seen; or seen, with `v` the k-th most recent partner of `u`
(1 = the latest), and how long ago the pair last met relative to the validation
period. Per bucket: share of queries, MRR of each, and how often each ranks the
positive strictly better. Reads the graph's event arrays (as scripts/compare_pyg.py
does); numpy only.
"""
import argparse
import bisect
import csv
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lcgraph import load_graph  # noqa: E402


def read_ranks(path):
    with open(path) as f:
        rows = list(csv.DictReader(f))
    return {int(r["event"]): float(r["rank"]) for r in rows}, rows


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("graph")
    ap.add_argument("model")
    ap.add_argument("heuristic")
    ap.add_argument("--model-name", default="model")
    ap.add_argument("--heuristic-name", default="heuristic")
    a = ap.parse_args()
    _, src, dst, t, _ = load_graph(a.graph)
    mr, rows = read_ranks(a.model)
    hr, _ = read_ranks(a.heuristic)
    if set(mr) != set(hr):
        raise SystemExit("the two rank files cover different queries (other negatives or split?)")
    events = sorted(mr)
    first = events[0]
    # Partners of each node by their latest meeting time, from events before `first`,
    # then advanced query by query (strictly earlier times only).
    last = {}  # (u, v) unordered -> last time
    partners = {}  # u -> {v: last time}
    span_lo, span_hi = t[0], t[first - 1] if first > 0 else t[0]

    def meet(u, v, tt):
        key = (min(u, v), max(u, v))
        last[key] = tt
        partners.setdefault(u, {})[v] = tt
        partners.setdefault(v, {})[u] = tt

    for e in range(first):
        meet(int(src[e]), int(dst[e]), float(t[e]))
    # The validation period's length is not in the rank file; gaps are reported in
    # multiples of the median gap between a pair's meetings in the history instead.
    gaps = []
    seen_at = {}
    for e in range(first):
        key = (min(int(src[e]), int(dst[e])), max(int(src[e]), int(dst[e])))
        if key in seen_at:
            gaps.append(float(t[e]) - seen_at[key])
        seen_at[key] = float(t[e])
    unit = float(np.median(gaps)) if gaps else 1.0
    buckets = {}
    pending = []  # events of the current timestamp, applied when time moves on
    cur_t = None
    for e in events:
        u, v, tt = int(src[e]), int(dst[e]), float(t[e])
        if cur_t is not None and tt != cur_t:
            for (pu, pv, pt) in pending:
                meet(pu, pv, pt)
            pending = []
        cur_t = tt
        key = (min(u, v), max(u, v))
        if key not in last:
            b = ("new pair", "")
        else:
            ps = partners.get(u, {})
            times = sorted(ps.values(), reverse=True)
            k = bisect.bisect_left([-x for x in times], -ps[v]) + 1 if v in ps else 0
            pos = "latest partner" if k == 1 else ("2nd-5th" if k <= 5 else "6th or older")
            g = (tt - last[key]) / unit
            gap = "< 1 median gap" if g < 1 else ("1-10 gaps" if g < 10 else ">= 10 gaps")
            b = (f"seen, {pos}", gap)
        buckets.setdefault(b, []).append((mr[e], hr[e]))
        pending.append((u, v, tt))
    n = len(events)
    print(f"{n:,} queries; gaps in units of the history's median re-meeting gap ({unit:,.0f} time units)\n")
    print(f"| pair before t | last met | share | MRR {a.model_name} | MRR {a.heuristic_name} | "
          f"{a.model_name} better | {a.heuristic_name} better | MRR gap x share |")
    print("|---|---|---|---|---|---|---|---|")
    total = 0.0
    for b in sorted(buckets, key=lambda b: -len(buckets[b])):
        q = buckets[b]
        m = np.array([x[0] for x in q])
        h = np.array([x[1] for x in q])
        mm, hm = float(np.mean(1 / m)), float(np.mean(1 / h))
        contrib = (mm - hm) * len(q) / n
        total += contrib
        print(f"| {b[0]} | {b[1]} | {len(q) / n:.3f} | {mm:.4f} | {hm:.4f} | {np.mean(m < h):.3f} | "
              f"{np.mean(h < m):.3f} | {contrib:+.4f} |")
    print(f"\nMRR difference ({a.model_name} - {a.heuristic_name}): {total:+.4f}, the sum of the last column.")


if __name__ == "__main__":
    main()
