#!/usr/bin/env python3
"""The ranking tables of docs/RANKING.md (markdown to stdout) from `linkcast eval`
run records: the baselines' runs (scripts/baselines_table.sh) and the trained models'
(scripts/ranking_grid.sh), against the same negative files.

Per dataset: every trained variant and the best heuristics (by mean test MRR under
K=100 half historical; the heuristics' parameters were fixed by the validation rule),
with MRR and Hits@10 under the three K=100 sets and AP under the three one-negative
protocols, mean ± sample std over seeds. Then the target: the best model against the
best heuristic, passed when the model's mean exceeds it by more than twice the model's
seed std. Train events/s and scoring pairs/s come from the training JSONs and the
rank records. Standard library only.
"""
import argparse
import glob
import json
import os
import re
import statistics as st
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from baselines_doc import base, protocol_key  # noqa: E402  (one definition of the row keys)

DATASETS = ["collegemsg", "email-eu", "bitcoin-otc", "enron", "wikipedia"]
COLS = [("rank:half", "mrr", "MRR K=100 half-hist"), ("rank:half", "hits10_tgb", "Hits@10"),
        ("rank:random", "mrr", "MRR K=100 random"), ("rank:tgb", "mrr", "MRR TGB-style"),
        ("ap:random", "ap", "AP random"), ("ap:historical", "ap", "AP hist"),
        ("ap:inductive", "ap", "AP inductive")]


def load(paths):
    """Records of `paths`; a configuration run twice (an interrupted grid) counts once,
    the later record kept."""
    out = {}
    for p in paths:
        if os.path.exists(p):
            for r in json.load(open(p)):
                k = (r["target"], r["data"], r["protocol"], r.get("negatives"), r.get("negatives_style"),
                     r.get("k"), r["seed"], r.get("split"))
                out[k] = r
    return list(out.values())


def key(r):
    return protocol_key(r)


def value(r, m):
    if m == "ap":
        return r["metrics"]["ap"]["all"]["ap"]
    v = r["metrics"]["rank"].get(m)
    return v


def group(runs):
    g = {}
    for r in runs:
        ds = os.path.basename(os.path.normpath(r["data"]))
        g.setdefault((base(r["target"]), ds, key(r)), []).append(r)
    return g


def stats(rs, m):
    vals = [v for v in (value(r, m) for r in rs) if v is not None]
    if not vals:
        return None
    return st.mean(vals), (st.stdev(vals) if len(vals) > 1 else 0.0), len(vals)


def fmt(s, bold=False):
    if s is None:
        return ""
    m, sd, n = s
    txt = f"{m:.4f} ± {sd:.4f}" if n > 1 else f"{m:.4f} (1 seed)"
    return f"**{txt}**" if bold else txt


def train_speed(grid_dir):
    """Mean training events/s per (dataset, label) from the grid's train JSONs."""
    out = {}
    for f in glob.glob(os.path.join(grid_dir, "models", "*.train.json")):
        name = os.path.basename(f)[: -len(".train.json")]
        ds = next((d for d in DATASETS if name.startswith(d + "-")), None)
        if ds is None:
            continue
        label = re.sub(r"-s\d+$", "", name[len(ds) + 1:])
        try:
            r = json.load(open(f))
        except (json.JSONDecodeError, OSError):
            continue
        eps = [e["events_per_s"] for e in r.get("epochs", [])]
        if eps:
            out.setdefault((ds, label), []).append(st.mean(eps))
    return {k: st.mean(v) for k, v in out.items()}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--baselines", nargs="+", required=True)
    ap.add_argument("--models", nargs="+", required=True)
    ap.add_argument("--grid", help="the grid's OUT dir (training JSONs)")
    ap.add_argument("--top", type=int, default=3, help="heuristics shown per dataset")
    a = ap.parse_args()
    base_runs, model_runs = load(a.baselines), load(a.models)
    gb, gm = group(base_runs), group(model_runs)
    models = sorted({t for (t, _, _) in gm})
    heur = sorted({t for (t, _, _) in gb})
    speed = train_speed(a.grid) if a.grid else {}
    verdicts = []
    for ds in DATASETS:
        ranked = sorted(((stats(gb[(t, ds, "rank:half")], "mrr")[0], t) for t in heur
                         if (t, ds, "rank:half") in gb), reverse=True)
        if not ranked:
            continue
        top = [t for _, t in ranked[: a.top]]
        print(f"### {ds}\n")
        print("| target | " + " | ".join(c[2] for c in COLS) + " | train events/s | rank pairs/s |")
        print("|---|" + "---|" * (len(COLS) + 2))
        rows = [(t, gm, True) for t in models] + [(t, gb, False) for t in top]
        best_col = {}
        for ci, (k, m, _) in enumerate(COLS):
            cands = [(s[0], t) for t, g, _ in rows for s in [stats(g.get((t, ds, k), []), m)] if s]
            if cands:
                best_col[ci] = max(cands)[1]
        for t, g, trained in rows:
            cells = [fmt(stats(g.get((t, ds, k), []), m), best_col.get(ci) == t) for ci, (k, m, _) in enumerate(COLS)]
            if not any(cells):
                continue
            sp = speed.get((ds, t))
            pr = [r["pairs_per_s"] for r in g.get((t, ds, "rank:half"), [])]
            name = f"{t} (trained)" if trained else t
            print(f"| {name} | " + " | ".join(cells) +
                  f" | {f'{sp:,.0f}' if sp and trained else ''} | {f'{st.mean(pr):,.0f}' if pr else ''} |")
        print()
        h_mean, h_name = ranked[0]
        mstats = [(s, t) for t in models for s in [stats(gm.get((t, ds, "rank:half"), []), "mrr")] if s]
        if mstats:
            (m_mean, m_sd, n), m_name = max(mstats, key=lambda x: x[0][0])
            margin = m_mean - h_mean
            ok = margin > 2 * m_sd and n >= 3
            verdicts.append((ds, m_name, m_mean, m_sd, n, h_name, h_mean, margin, ok))
    print("### Target: best model against best heuristic, MRR, K=100 half historical\n")
    print("| data | best model | MRR | seeds | best heuristic | MRR | margin | 2 x model std | met |")
    print("|---|---|---|---|---|---|---|---|---|")
    for ds, mn, mm, ms, n, hn, hm, mg, ok in verdicts:
        print(f"| {ds} | {mn} | {mm:.4f} ± {ms:.4f} | {n} | {hn} | {hm:.4f} | {mg:+.4f} | {2 * ms:.4f} | "
              f"{'yes' if ok else 'no'} |")


if __name__ == "__main__":
    main()
