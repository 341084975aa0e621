#!/usr/bin/env bash
# Accuracy table for issue 4: TGN and GraphMixer (linkcast) and PyG's TGN on three
# real graphs, 3 seeds, same split / sizes / negatives / epochs. Writes one JSON per
# run under $OUT and a markdown table to $OUT/table.md. CPU, `--threads` cores.
# Usage: scripts/train_table.sh [EPOCHS] [THREADS]
#   env: OUT, DATA=../shared/datasets, SEEDS="0 1 2", DATASETS="collegemsg wikipedia enron",
#   PYG (0: skip PyG's TGN) (also ingested: email-eu, bitcoin-otc)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
EPOCHS=${1:-3}
THREADS=${2:-2}
OUT=${OUT:-runs/train-table}
DATA=${DATA:-../shared/datasets}
SEEDS=${SEEDS:-0 1 2}
DATASETS=${DATASETS:-collegemsg wikipedia enron}
BIN=./target/release/linkcast
mkdir -p "$OUT"
cargo build --release -q
ingest() { [ -d "runs/$1" ] || $BIN -q ingest "$2" ${3:-} -o "runs/$1"; }
ingest collegemsg "$DATA/collegemsg/CollegeMsg.txt.gz"
ingest wikipedia "$DATA/wikipedia-uit/ml_wikipedia.txt" --bipartite
ingest enron "$DATA/enron/ml_enron.csv"
ingest email-eu "$DATA/email-eu-core-temporal/email-Eu-core-temporal.txt.gz"
ingest bitcoin-otc "$DATA/bitcoin-otc/soc-sign-bitcoinotc.csv.gz" "--no-header --src 0 --dst 1 --time 3 --features 2"
for ds in $DATASETS; do
  for seed in $SEEDS; do
    for model in tgn graphmixer; do
      f="$OUT/linkcast-$ds-$model-s$seed.json"
      [ -s "$f" ] || $BIN -q train "runs/$ds" -o "$OUT/models/$ds-$model-s$seed" --model $model --epochs "$EPOCHS" \
        --patience "$EPOCHS" --seed "$seed" --threads "$THREADS" --device cpu --force --json >"$f"
    done
    f="$OUT/pyg-$ds-s$seed.json"
    [ "${PYG:-1}" = 0 ] || [ -s "$f" ] || .venv/bin/python scripts/compare_pyg.py "runs/$ds" --epochs "$EPOCHS" --seed "$seed" \
      --threads "$THREADS" --linkcast $BIN >"$f" 2>"$OUT/pyg-$ds-s$seed.err"
  done
done
.venv/bin/python - "$OUT" "$EPOCHS" <<'PY'
import json, sys, statistics as st
out, epochs = sys.argv[1], sys.argv[2]
def ms(xs):
    return f"{st.mean(xs):.4f} ± {st.stdev(xs) if len(xs) > 1 else 0:.4f}"
lines = [f"| data | model | test AP (pooled) | test AUC | test AP (batch mean) | train events/s | seeds |",
         "|---|---|---|---|---|---|---|"]
import glob
for ds in ["collegemsg", "wikipedia", "enron", "email-eu", "bitcoin-otc"]:
    for name, pat in [("linkcast TGN", f"linkcast-{ds}-tgn-s*.json"), ("linkcast GraphMixer", f"linkcast-{ds}-graphmixer-s*.json"),
                      ("PyG TGN", f"pyg-{ds}-s*.json")]:
        runs = [json.load(open(f)) for f in sorted(glob.glob(f"{out}/{pat}"))]
        if not runs:
            continue
        if name.startswith("PyG"):
            ap = [r["test_ap"] for r in runs]; auc = [r["test_auc"] for r in runs]
            apb = [r["test_ap_batch_mean"] for r in runs]; eps = [st.mean(r["events_per_s"]) for r in runs]
        else:
            ap = [r["test"]["ap"] for r in runs]; auc = [r["test"]["auc"] for r in runs]
            apb = [r["test"]["ap_batch_mean"] for r in runs]; eps = [st.mean(e["events_per_s"] for e in r["epochs"]) for r in runs]
        lines.append(f"| {ds} | {name} | {ms(ap)} | {ms(auc)} | {ms(apb)} | {st.mean(eps):,.0f} | {len(runs)} |")
open(f"{out}/table.md", "w").write(f"{epochs} epochs, random negatives, 70/15/15 split\n\n" + "\n".join(lines) + "\n")
print("\n".join(lines))
PY
