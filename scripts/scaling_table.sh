#!/usr/bin/env bash
# Feature scaling on Bitcoin OTC (issue 20): TGN and GraphMixer, 3 epochs, seeds 0-2, test AP
# under four inputs: (1) raw ratings, --feature-scaling none; (2) raw ratings, the default
# scaling (z-scores / 3); (2b) raw ratings, plain z-scores (--feature-sigmas 1); (3) ratings
# divided by 10 by hand, --feature-scaling none. The same flags as
# scripts/train_table.sh, so input (2) is that script's Bitcoin OTC row at this commit.
# Writes one JSON per run under $OUT and a markdown table to $OUT/table.md.
# Usage: scripts/scaling_table.sh [EPOCHS] [THREADS]   env: OUT, DATA=../shared/datasets, SEEDS
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
EPOCHS=${1:-3}
THREADS=${2:-2}
OUT=${OUT:-runs/scaling-table}
DATA=${DATA:-../shared/datasets}
SEEDS=${SEEDS:-0 1 2}
BIN=./target/release/linkcast
FLAGS="--no-header --src 0 --dst 1 --time 3 --features 2"
mkdir -p "$OUT"
cargo build --release -q
RAW="$DATA/bitcoin-otc/soc-sign-bitcoinotc.csv.gz"
TENTH="$OUT/bitcoin-otc-rating-tenth.csv"
[ -s "$TENTH" ] || .venv/bin/python - "$RAW" "$TENTH" <<'PY'
import gzip, sys
with gzip.open(sys.argv[1], "rt") as f, open(sys.argv[2], "w") as out:
    for line in f:
        s, d, r, t = line.rstrip("\n").split(",")
        out.write(f"{s},{d},{float(r) / 10!r},{t}\n")
PY
[ -d "$OUT/g-raw" ] || $BIN -q ingest "$RAW" $FLAGS -o "$OUT/g-raw" >/dev/null
[ -d "$OUT/g-tenth" ] || $BIN -q ingest "$TENTH" $FLAGS -o "$OUT/g-tenth" >/dev/null
for seed in $SEEDS; do
  for model in tgn graphmixer; do
    for input in raw-none raw-standard raw-zscore tenth-none; do
      graph=$OUT/g-${input%%-*}
      case ${input#*-} in
        none) scaling="--feature-scaling none" ;;
        standard) scaling="" ;;
        zscore) scaling="--feature-sigmas 1" ;;
      esac
      f="$OUT/$input-$model-s$seed.json"
      # shellcheck disable=SC2086
      [ -s "$f" ] || $BIN -q train "$graph" -o "$OUT/models/$input-$model-s$seed" --model $model \
        --epochs "$EPOCHS" --patience "$EPOCHS" --seed "$seed" --threads "$THREADS" --device cpu \
        $scaling --force --json >"$f"
    done
  done
done
.venv/bin/python - "$OUT" "$EPOCHS" <<'PY'
import glob, json, statistics as st, sys
out, epochs = sys.argv[1], sys.argv[2]
names = {"raw-none": "(1) raw ratings, --feature-scaling none",
         "raw-standard": "(2) raw ratings, default (standard: z-scores / 3)",
         "raw-zscore": "(2b) raw ratings, plain z-scores (--feature-sigmas 1)",
         "tenth-none": "(3) ratings / 10 by hand, --feature-scaling none"}
lines = ["| model | input | test AP per seed | test AP mean ± std | test AUC mean ± std |", "|---|---|---|---|---|"]
for model in ["tgn", "graphmixer"]:
    for key, name in names.items():
        runs = [json.load(open(f)) for f in sorted(glob.glob(f"{out}/{key}-{model}-s*.json"))]
        if not runs:
            continue
        ap = [r["test"]["ap"] for r in runs]; auc = [r["test"]["auc"] for r in runs]
        sd = lambda xs: st.stdev(xs) if len(xs) > 1 else 0.0
        lines.append(f"| {model} | {name} | {' / '.join(f'{x:.4f}' for x in ap)} | "
                     f"{st.mean(ap):.4f} ± {sd(ap):.4f} | {st.mean(auc):.4f} ± {sd(auc):.4f} |")
text = f"Bitcoin OTC, {epochs} epochs, random negatives, 70/15/15 split, pooled test AP\n\n" + "\n".join(lines) + "\n"
open(f"{out}/table.md", "w").write(text)
print(text)
PY
