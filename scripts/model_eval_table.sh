#!/usr/bin/env bash
# The trained models of scripts/train_table.sh under the same protocols as the
# baselines in docs/BASELINES.md: `ap` with random and historical negatives and
# `rank` against the same K=100 negative files (seed s -> test-k100-s$s.neg), one
# model per seed. Writes $OUT/model-runs.json and prints the aggregated table.
# env: MODELS (dirs of trained models, default runs/train-table*/models), OUT, BIN,
#      RANK_DATASETS (datasets also ranked; default all: K=100 costs 101 embeddings per query)
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-target/release/linkcast}
OUT=${OUT:-runs/model-eval}
THREADS=${THREADS:-2}
mkdir -p "$OUT"
RUNS="$OUT/model-runs.json"
rm -f "$RUNS"
for m in ${MODELS:-runs/train-table/models/* runs/train-table-1ep/models/*}; do
  [ -f "$m/results.json" ] || continue
  name=$(basename "$m")            # DATASET-MODEL-sSEED
  rest=${name%-s*}                 # DATASET-MODEL (datasets may contain dashes)
  ds=${rest%-*}
  seed=${name##*-s}
  g="runs/$ds"
  neg="$g/test-k100-s$seed.neg"
  [ -f "$neg" ] || "$BIN" -q negatives "$g" --k 100 --seed "$seed" -o "$neg" >/dev/null
  for n in random historical; do
    "$BIN" -q eval "$m" "$g" --protocol ap --negatives "$n" --seed "$seed" --device cpu --threads "$THREADS" -o "$RUNS" >/dev/null
  done
  case " ${RANK_DATASETS:-$ds} " in *" $ds "*) ;; *) continue ;; esac
  "$BIN" -q eval "$m" "$g" --protocol rank --negatives-file "$neg" --device cpu --threads "$THREADS" -o "$RUNS" >/dev/null
done
"$BIN" eval --compare --aggregate "$RUNS" | tee "$OUT/table.md"
