#!/usr/bin/env bash
# The trained models of scripts/train_table.sh under the same protocols as the
# baselines in docs/BASELINES.md: `ap` with random, historical and inductive
# negatives and `rank` against the same K=100 negative files as the baselines
# (seed s -> DATA/DATASET/test-SET-s$s.neg, written by scripts/baselines_table.sh
# or here when missing), one model per seed. Appends to $OUT/model-runs.json (unless
# FRESH=1) and prints the aggregated table.
# env: MODELS (dirs of trained models, default runs/train-table*/models/*), OUT, BIN,
#      DATA (graph dirs, default runs), THREADS,
#      AP (1: run the ap protocols), RANK_SETS (negative files ranked: any of
#      k100 = half historical, k100-random, tgb-k100; default all three),
#      RANK_DATASETS (datasets also ranked; default all: K=100 costs 101 embeddings per query)
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-target/release/linkcast}
DATA=${DATA:-runs}
OUT=${OUT:-runs/model-eval}
THREADS=${THREADS:-2}
AP=${AP:-1}
RANK_SETS=${RANK_SETS:-"k100 k100-random tgb-k100"}
mkdir -p "$OUT"
RUNS="$OUT/model-runs.json"
[ "${FRESH:-0}" = 1 ] && rm -f "$RUNS"
for m in ${MODELS:-runs/train-table/models/* runs/train-table-1ep/models/*}; do
  [ -f "$m/results.json" ] || continue
  name=$(basename "$m")            # DATASET-MODEL-sSEED
  rest=${name%-s*}                 # DATASET-MODEL (datasets may contain dashes)
  ds=${rest%-*}
  seed=${name##*-s}
  g="$DATA/$ds"
  if [ "$AP" = 1 ]; then
    for n in random historical inductive; do
      "$BIN" -q eval "$m" "$g" --protocol ap --negatives "$n" --seed "$seed" --device cpu --threads "$THREADS" -o "$RUNS" >/dev/null
    done
  fi
  case " ${RANK_DATASETS:-$ds} " in *" $ds "*) ;; *) continue ;; esac
  for set in $RANK_SETS; do
    neg="$g/test-$set-s$seed.neg"
    if [ ! -f "$neg" ]; then
      case $set in
        k100) flags="--k 100" ;;
        k100-random) flags="--k 100 --hist-fraction 0" ;;
        tgb-k100) flags="--tgb --k 100" ;;
        *) echo "unknown negative set $set" >&2; exit 1 ;;
      esac
      # shellcheck disable=SC2086
      "$BIN" -q negatives "$g" $flags --seed "$seed" -o "$neg" >/dev/null
    fi
    "$BIN" -q eval "$m" "$g" --protocol rank --negatives-file "$neg" --device cpu --threads "$THREADS" -o "$RUNS" >/dev/null
  done
done
"$BIN" eval --compare --aggregate "$RUNS" | tee "$OUT/table.md"
