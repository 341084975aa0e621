#!/usr/bin/env bash
# linkcast's TPNet or DyGFormer (MODEL) against tgm-lib's (scripts/compare_tgm.py), back to back on the
# same CPUs, data, split, batches, sizes and K=100 test negatives.
#
# For each DATASET and SEED: linkcast trains (`train --model $MODEL`, all EPOCHS epochs:
# --patience EPOCHS) and ranks the test part against GRAPH/test-k100-sSEED.neg
# (`eval --protocol rank`), then the peer does the same with the same settings. The
# JSON of every run lands in $OUT; $OUT/table.md gets one row per run (training
# events/s of each, their ratio, test MRR and Hits@10 of each, the load average before
# the pair) and a mean +- std row per dataset, with the issue's target: linkcast at
# least 3x faster, and its MRR no lower than the peer's mean minus one std.
# Resumable: a run whose JSON exists is not redone (FORCE=1 redoes it).
# Run it on an idle machine (the numbers are throughput on THREADS cores).
#
# env: MODEL (tpnet or dygformer), EPOCHS (1), SEEDS ("0 1 2"), DATASETS ("collegemsg wikipedia"),
#      DATA (graph dirs with their .neg files; /work/wt17/runs), OUT (runs/compare-tgm),
#      BIN (target/release/linkcast), PEER_PY (/work/peer-tgm/bin/python), THREADS (2),
#      MAX_QUERIES (0 = every test event; else the peer ranks only the first Q, and the
#      table says its MRR is over fewer queries than linkcast's),
#      PEER_ONLY (1: skip linkcast, for a check of the peer), PEER_ARGS (extra
#      compare_tgm.py flags, e.g. "--max-batches 5" or "--decoder tgm"), LC_ARGS (extra
#      linkcast train flags, e.g. "--emb-dim 100"), VARIANT (a tag for runs with LC_ARGS
#      or PEER_ARGS, so their JSON does not overwrite the default runs')
# Peer venv: python3 -m venv /work/peer-tgm &&
#   /work/peer-tgm/bin/pip install torch==2.11.0 tgm-lib numpy scikit-learn
# As installed on 2026-12-04: tgm-lib 0.1.0b1, torch 2.11.0 (PyPI's default wheel, +cu130,
# used on the CPU), torch-geometric 2.8.1, numpy 2.4.6, scikit-learn 1.9.1, scipy 1.17.1,
# xxhash 4.1.0 (pulled in; lets the peer verify the negative files' checksums and split hash).
# Cost at tgm-lib's measured rate (about 125 training events per CPU-second, 0.16 CPU-s per
# ranked query on CollegeMsg): a CollegeMsg epoch takes roughly 3-6 minutes on 2 idle cores,
# ranking all 8,975 test events 12-24 minutes; Wikipedia about 2.6x and 2.6x that. MAX_QUERIES
# trades the ranking's cost for an MRR over fewer queries.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-target/release/linkcast}
PEER_PY=${PEER_PY:-/work/peer-tgm/bin/python}
DATA=${DATA:-/work/wt17/runs}
OUT=${OUT:-runs/compare-tgm}
EPOCHS=${EPOCHS:-1}
MODEL=${MODEL:-tpnet}
SEEDS=${SEEDS:-"0 1 2"}
DATASETS=${DATASETS:-"collegemsg wikipedia"}
THREADS=${THREADS:-2}
MAX_QUERIES=${MAX_QUERIES:-0}
PEER_ONLY=${PEER_ONLY:-0}
PEER_ARGS=${PEER_ARGS:-}
LC_ARGS=${LC_ARGS:-}
VARIANT=${VARIANT:-}
FORCE=${FORCE:-0}
mkdir -p "$OUT/models"
[ -x "$PEER_PY" ] || { echo "no peer python $PEER_PY (see the header for the venv)" >&2; exit 1; }
if [ "$PEER_ONLY" != 1 ] && [ ! -x "$BIN" ]; then
  echo "no linkcast binary $BIN (cargo build --release, or PEER_ONLY=1)" >&2
  exit 1
fi
LC_FLAG=none
[ -x "$BIN" ] && LC_FLAG=$BIN

todo() { [ "$FORCE" = 1 ] || [ ! -s "$1" ]; }

for ds in $DATASETS; do
  g="$DATA/$ds"
  [ -f "$g/meta.json" ] || { echo "no graph $g" >&2; exit 1; }
  for seed in $SEEDS; do
    neg="$g/test-k100-s$seed.neg"
    [ -f "$neg" ] || { echo "no negative file $neg (linkcast negatives $g --seed $seed -o $neg)" >&2; exit 1; }
    tag="$ds-e$EPOCHS-s$seed"
    [ "$MODEL" = tpnet ] || tag="$MODEL-$tag"
    [ -z "$VARIANT" ] || tag="$tag-$VARIANT"
    cut -d' ' -f1-3 /proc/loadavg >"$OUT/load-$tag.txt"
    if [ "$PEER_ONLY" != 1 ]; then
      m="$OUT/models/linkcast-$tag"
      if todo "$OUT/linkcast-$tag.train.json"; then
        echo "linkcast train $ds seed $seed ($EPOCHS epochs)" >&2
        # shellcheck disable=SC2086
        "$BIN" -q train "$g" -o "$m" --model "$MODEL" --epochs "$EPOCHS" --patience "$EPOCHS" --seed "$seed" \
          --threads "$THREADS" --device cpu --force --json $LC_ARGS >"$OUT/linkcast-$tag.train.json"
      fi
      if todo "$OUT/linkcast-$tag.eval.json"; then
        echo "linkcast eval $ds seed $seed" >&2
        "$BIN" -q eval "$m" "$g" --protocol rank --negatives-file "$neg" --seed "$seed" \
          --threads "$THREADS" --device cpu --json >"$OUT/linkcast-$tag.eval.json"
      fi
    fi
    if todo "$OUT/tgm-$tag.json"; then
      echo "tgm-lib $MODEL $ds seed $seed ($EPOCHS epochs)" >&2
      # shellcheck disable=SC2086
      "$PEER_PY" scripts/compare_tgm.py "$g" --model "$MODEL" --negatives-file "$neg" --epochs "$EPOCHS" --seed "$seed" \
        --threads "$THREADS" --max-queries "$MAX_QUERIES" --linkcast "$LC_FLAG" $PEER_ARGS \
        >"$OUT/tgm-$tag.json" 2>"$OUT/tgm-$tag.log" || { tail -5 "$OUT/tgm-$tag.log" >&2; rm -f "$OUT/tgm-$tag.json"; exit 1; }
    fi
  done
done

OUT="$OUT" MODEL="$MODEL" EPOCHS="$EPOCHS" SEEDS="$SEEDS" DATASETS="$DATASETS" VARIANT="$VARIANT" "$PEER_PY" - <<'EOF' | tee "$OUT/table${VARIANT:+-$VARIANT}.md"
import json, os
import numpy as np

out, ep, model = os.environ["OUT"], os.environ["EPOCHS"], os.environ["MODEL"]

def read(p):
    try:
        with open(p) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None

def fmt(x, nd=4):
    return "-" if x is None else f"{x:.{nd}f}"

print(f"{model}, {ep} epoch(s), test ranked against the K=100 files; events/s = training events / "
      "seconds of the training passes, mean over epochs.\n")
print("| dataset | seed | linkcast ev/s | tgm-lib ev/s | ratio | linkcast MRR | tgm-lib MRR | "
      "linkcast Hits@10 | tgm-lib Hits@10 | tgm-lib queries | load (1/5/15 min) |")
print("|---|---|---|---|---|---|---|---|---|---|---|")
targets = []
for ds in os.environ["DATASETS"].split():
    rows = []
    for seed in os.environ["SEEDS"].split():
        tag = f"{ds}-e{ep}-s{seed}" if model == "tpnet" else f"{model}-{ds}-e{ep}-s{seed}"
        tag += f"-{os.environ['VARIANT']}" if os.environ.get("VARIANT") else ""
        tr, ev, pr = (read(f"{out}/{n}") for n in (f"linkcast-{tag}.train.json", f"linkcast-{tag}.eval.json", f"tgm-{tag}.json"))
        lce = float(np.mean([e["events_per_s"] for e in tr["epochs"]])) if tr else None
        lcr = ev["metrics"]["rank"] if ev else {}
        pe = pr["events_per_s_mean"] if pr else None
        prr = pr["test"]["rank"] if pr else {}
        ratio = lce / pe if lce and pe else None
        load = open(f"{out}/load-{tag}.txt").read().strip() if os.path.exists(f"{out}/load-{tag}.txt") else "-"
        queries = prr.get("queries")
        full = ev["metrics"]["rank"]["queries"] if ev else None
        qcell = "-" if queries is None else (f"{queries}" + ("" if full in (None, queries) else f" of {full}"))
        rows.append((lce, pe, lcr.get("mrr"), prr.get("mrr")))
        print(f"| {ds} | {seed} | {fmt(lce, 0)} | {fmt(pe, 0)} | {fmt(ratio, 2)} | {fmt(lcr.get('mrr'))} | "
              f"{fmt(prr.get('mrr'))} | {fmt(lcr.get('hits10'))} | {fmt(prr.get('hits10'))} | {qcell} | {load} |")
    def ms(i):
        v = [r[i] for r in rows if r[i] is not None]
        # Sample std (n - 1), as `linkcast eval --compare --aggregate`.
        return (float(np.mean(v)), float(np.std(v, ddof=1)) if len(v) > 1 else 0.0) if v else (None, None)
    (le, les), (pe, pes), (lm, lms), (pm, pms) = ms(0), ms(1), ms(2), ms(3)
    ratio = le / pe if le and pe else None
    cell = lambda m, s, nd=4: "-" if m is None else f"{m:.{nd}f} ± {s:.{nd}f}"
    print(f"| {ds} | mean ± std | {cell(le, les, 0)} | {cell(pe, pes, 0)} | {fmt(ratio, 2)} | {cell(lm, lms)} | "
          f"{cell(pm, pms)} | | | | |")
    if ratio is not None and lm is not None and pm is not None:
        ok = ratio >= 3 and lm >= pm - pms
        targets.append(f"- {ds}: target {'met' if ok else 'NOT met'} (speed ratio {ratio:.2f}, needs >= 3; "
                       f"MRR {lm:.4f}, needs >= {pm:.4f} - {pms:.4f} = {pm - pms:.4f})")
if targets:
    print()
    print("\n".join(targets))
EOF
