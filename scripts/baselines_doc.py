#!/usr/bin/env python3
"""Writes docs/BASELINES.md (to stdout) from `linkcast eval` run records: one table
per protocol (rows: baselines and models, columns: datasets, cells: mean ± sample
std over seeds), pairs/s, and TGB's own sampler beside linkcast's --tgb draws.
Called by scripts/baselines_table.sh; standard library only.
"""
import argparse
import json
import os
import re
import statistics as st

DATASETS = ["collegemsg", "email-eu", "bitcoin-otc", "enron", "wikipedia"]
ORDER = ["edgebank", "edgebank-tw", "recency", "global-recency", "local-popularity", "popularity",
         "lr-gp", "lr-lp-gp", "lp-gp", "lr-gr"]
PROTOCOLS = [
    # (key, title, metric)
    ("ap:random", "`ap`, random negatives: AP (pooled)", "ap"),
    ("ap:historical", "`ap`, historical negatives: AP (pooled)", "ap"),
    ("ap:inductive", "`ap`, inductive negatives: AP (pooled)", "ap"),
    ("rank:half", "`rank`, K=100, half historical (`linkcast negatives`): MRR", "mrr"),
    ("rank:random", "`rank`, K=100, all random (`--hist-fraction 0`): MRR", "mrr"),
    ("rank:tgb", "`rank`, K=100, TGB's hist_rnd (`linkcast negatives --tgb`): MRR", "mrr"),
]


def load(paths):
    out = []
    for p in paths:
        out.extend(json.load(open(p)))
    return out


def base(target):
    return re.sub(r"\(.*\)$", "", target)


def protocol_key(r):
    if r["protocol"] == "ap":
        return f"ap:{r['negatives']}"
    style = r.get("negatives_style") or ""
    if style == "linkcast(hist=50)":
        return "rank:half"
    if style == "linkcast(hist=0)":
        return "rank:random"
    if style.startswith("tgb("):
        return "rank:tgb"
    if style == "tgb-import":
        return "rank:tgb-py"
    return f"rank:{style}"


def metric(r, m):
    if m == "ap":
        return r["metrics"]["ap"]["all"]["ap"]
    return r["metrics"]["rank"][m]


def cell(vals, bold=False):
    if not vals:
        return ""
    m = st.mean(vals)
    s = st.stdev(vals) if len(vals) > 1 else 0.0
    txt = f"{m:.4f} ± {s:.4f}" if len(vals) > 1 else f"{m:.4f}"
    return f"**{txt}**" if bold else txt


def rows_order(targets):
    def rank(t):
        b = t.replace("-undirected", "")
        if b in ORDER:
            return (0, ORDER.index(b), t.endswith("-undirected"), t)
        if b in ("common-neighbours", "adamic-adar"):
            return (1, 0, False, t)
        return (2, 0, False, t)
    return sorted(targets, key=rank)


def group(runs):
    g = {}
    for r in runs:
        ds = os.path.basename(os.path.normpath(r["data"]))
        g.setdefault((base(r["target"]), ds, protocol_key(r)), []).append(r)
    return g


def pivot(g, key, m, models):
    targets = rows_order({t for (t, _, k) in g if k == key})
    lines = ["| target | " + " | ".join(DATASETS) + " |", "|---|" + "---|" * len(DATASETS)]
    best = {}
    for ds in DATASETS:
        means = [(st.mean(metric(r, m) for r in g[(t, ds, key)]), t) for t in targets
                 if (t, ds, key) in g and t not in models]
        if means:
            best[ds] = max(means)[1]
    for t in targets:
        cells = []
        for ds in DATASETS:
            rs = g.get((t, ds, key), [])
            cells.append(cell([metric(r, m) for r in rs], bold=best.get(ds) == t))
        name = f"{t} (trained)" if t in models else t
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def seeds_of(g, key):
    s = sorted({r["seed"] for (t, d, k), rs in g.items() if k == key for r in rs})
    return ",".join(map(str, s))


def pairs_table(g, targets):
    cols = [("ap:random", "ap"), ("rank:tgb", "rank")]
    head = "| target | " + " | ".join(f"{ds} {c}" for ds in DATASETS for _, c in cols) + " |"
    lines = [head, "|---|" + "---|" * (len(DATASETS) * len(cols))]
    for t in targets:
        cells = []
        for ds in DATASETS:
            for key, _ in cols:
                rs = g.get((t, ds, key), [])
                cells.append(f"{st.mean(r['pairs_per_s'] for r in rs):,.0f}" if rs else "")
        lines.append(f"| {t} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def params_table(runs):
    lines = ["| data | validation period (graph time units) | test events | K=100 queries short of K (TGB draws) |",
             "|---|---|---|---|"]
    for ds in DATASETS:
        rs = [r for r in runs if os.path.basename(os.path.normpath(r["data"])) == ds]
        period = next((m.group(2) for r in rs for m in [re.search(r"(window|half-life)=([0-9.]+)", r["target"])]
                       if m and not r["target"].startswith(("common-", "adamic-"))), "")
        ev = next((r["events"] for r in rs), None)
        short = sorted({r["metrics"]["rank"]["queries_short"] for r in rs
                        if r["protocol"] == "rank" and protocol_key(r) == "rank:tgb"})
        n = f"{ev['end'] - ev['start']:,}" if ev else ""
        lines.append(f"| {ds} | {period} | {n} | {', '.join(map(str, short))} |")
    return "\n".join(lines)


def peer_table(peer):
    g = group(peer)
    targets = rows_order({t for (t, _, _) in g})
    lines = ["| target | negatives | " + " | ".join(DATASETS) + " |", "|---|---|" + "---|" * len(DATASETS)]
    for t in targets:
        for key, label in [("rank:tgb-py", "TGB's sampler (py-tgb)"), ("rank:tgb", "linkcast --tgb")]:
            cells = [cell([metric(r, "mrr") for r in g.get((t, ds, key), [])]) for ds in DATASETS]
            lines.append(f"| {t} | {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", required=True)
    ap.add_argument("--models", nargs="*", default=[])
    ap.add_argument("--peer")
    ap.add_argument("--cores")
    ap.add_argument("--arch")
    ap.add_argument("--date")
    ap.add_argument("--full")
    ap.add_argument("--models-note", default="")
    a = ap.parse_args()
    runs = load([a.runs])
    model_runs = load(a.models)
    models = {base(r["target"]) for r in model_runs}
    g = group(runs + model_runs)
    baselines = rows_order({base(r["target"]) for r in runs})
    print(f"""# Baselines

Regenerate with `scripts/baselines_table.sh` (release build without libtorch; the trained models'
rows with `scripts/ranking_grid.sh`, same negative files, passed as `MODEL_RUNS`). Every run, with AUC, new-node AP and
Hits@k in both conventions, is in `{a.full}`.

**Protocol.** Test part of the default 70/15/15 chronological split, batches of 200 positives,
streaming (each batch scored, then absorbed). `ap`: one negative per positive (random, historical,
inductive; Poursafaei et al. 2022), AP **pooled** over the test part. `rank`: each positive against
K=100 negatives from a file written once by `linkcast negatives --seed S`, the same file for every
row: half historical (destinations the source reached in any earlier event), all random, or drawn
as TGB draws them (`--tgb`: up to 50 from the source's training-period destinations, the rest
uniform over destinations it never reached in training; never a true destination of that source
at that time). MRR with rank = 1 + (#negatives above + #negatives at or above) / 2, which is TGB's
rank, so MRR is the same in both conventions (TGB's Hits@k thresholds that mean rank; linkcast's
counts a tie straddling k as 1/2; both are in the full table). Mean ± sample std over seeds
{seeds_of(g, 'rank:half')}, which change the negatives only (and the models' training seed).
Bold: the best baseline per column.

**Variants.** Plain names count **directed** `(src, dst)` pairs (EdgeBank as TGB and DyGLib count
it), whatever the graph's direction, and the global keys count a node's appearances as a
destination; `-undirected` merges `(u, v)` with `(v, u)` and counts both endpoints. Names after
Cornell et al. 2025: `recency` = local recency (LR), `global-recency` (GR), `local-popularity`
(LP), `popularity` = global popularity (GP); `lr-gp`, `lr-lp-gp`, `lp-gp`, `lr-gr` order
candidates lexicographically (first key, ties broken by the next; a pair never seen ties at LR =
LP = 0, so the destination's popularity or recency decides), compared key by key in both
protocols. The four definitions follow the paper as a published summary of it states them (its
full text was not at hand); which combinations to run is this project's choice within the paper's
scheme (`lr-lp-gp` is the issue's example), not a list copied from the paper. Common neighbours and Adamic-Adar read the undirected static view of all earlier
events. **Parameters** are fixed by the validation period before any test number exists:
edgebank-tw's window and every popularity key's half-life (an event at `tau` weighs
`2^-((t - tau) / h)`) equal the validation period's length:

{params_table(runs)}

Wikipedia is bipartite (users -> pages), so two endpoints of a candidate pair never share a
neighbour: common-neighbours and Adamic-Adar score 0 everywhere there (AP 0.5; MRR 2/102).
Timings on {a.cores} cores ({a.arch}), {a.date}, shared with other builds on the machine, so
pairs/s are indicative; seconds time the protocol, not opening the graph or loading the file.
""")
    for key, title, m in PROTOCOLS:
        print(f"## {title}\n")
        print(pivot(g, key, m, models))
        print()
    print("## Pairs per second\n")
    print("Scored (src, dst, t) pairs per second of protocol time, mean over seeds: `ap` random and "
          "`rank` TGB-style K=100 (101 pairs per positive).\n")
    print(pairs_table(g, baselines))
    print()
    if a.peer and os.path.exists(a.peer) and os.path.getsize(a.peer) > 2:
        print("## TGB's own sampler\n")
        print("The seed-0 test set drawn by TGB's `NegativeEdgeGenerator` (py-tgb 2.3.0, `hist_rnd`, K=100, its "
              "numpy seed 0) through `scripts/tgb_negatives.py generate` and `linkcast negatives --import`, "
              "beside linkcast's `--tgb` draws of seed 0: the same distribution, other random numbers. MRR.\n")
        print(peer_table(load([a.peer])))
        print()
    if model_runs:
        print("## Trained models\n")
        print("Rows marked *trained* come from `scripts/ranking_grid.sh`: each model trained with its defaults "
              "(3 epochs, `--patience 3`, seeds 0, 1, 2; one random negative per positive, epoch chosen by "
              "validation AP), then `linkcast eval MODEL_DIR` rebuilds the model's state by replaying train + "
              "validation with the best weights and streams over the test split, against the same negative "
              "files as the baselines; the model of seed s is ranked with the negatives of seed s. Variants "
              "trained for ranking (historical negatives, selection by validation MRR) are in docs/RANKING.md.")
        if a.models_note:
            print()
            print(a.models_note)


if __name__ == "__main__":
    main()
