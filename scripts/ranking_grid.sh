#!/usr/bin/env bash
# The ranking grid (docs/RANKING.md, docs/BASELINES.md's model rows): trained models
# under the baselines' protocols, against the same negative files.
#
# For every (variant, dataset, seed) in order: train (unless its results.json exists),
# then evaluate the best weights with `linkcast eval MODEL_DIR` under
#   ap:   random, historical and inductive negatives (the eval's own seed = the run's);
#   rank: the K=100 files of scripts/baselines_table.sh: half historical (k100),
#         all random (k100-random) and TGB's hist_rnd (tgb-k100), seed s for seed s.
# Each record goes to $OUT/runs.json under the variant's label (eval --label), so
# `linkcast eval --compare --aggregate $OUT/runs.json` has one row per variant.
# Resumable: a finished evaluation leaves a stamp in $OUT/done and is skipped.
#
# A variant is LABEL:MODEL:FLAGS (FLAGS with commas for spaces), e.g.
#   tgn:tgn:              (defaults)
#   tgn+rank:tgn:--hist-negatives,0.5,--select-by,mrr
# env: VARIANTS, DATASETS, SEEDS, EPOCHS (per dataset: "collegemsg=3 wikipedia=1"),
#      EPOCHS_DEFAULT (3), DATA (graph dirs + negative files; default runs),
#      OUT (runs/ranking-grid), BIN, THREADS (2), SETS (k100 k100-random tgb-k100),
#      AP (1: the ap protocols), RANK_DATASETS (datasets ranked; default all)
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-target/release/linkcast}
DATA=${DATA:-runs}
OUT=${OUT:-runs/ranking-grid}
THREADS=${THREADS:-2}
SEEDS=${SEEDS:-"0 1 2"}
DATASETS=${DATASETS:-"collegemsg email-eu bitcoin-otc enron wikipedia"}
SETS=${SETS:-"k100 k100-random tgb-k100"}
AP=${AP:-1}
EPOCHS_DEFAULT=${EPOCHS_DEFAULT:-3}
RANK="--hist-negatives,0.5,--select-by,mrr"
VARIANTS=${VARIANTS:-"tgn:tgn: tpnet-lite:tpnet-lite: tpnet-lite+rank:tpnet-lite:$RANK tgn+rank:tgn:$RANK"}
mkdir -p "$OUT/done" "$OUT/models"
RUNS="$OUT/runs.json"

epochs_for() {
  for kv in ${EPOCHS:-}; do
    [ "${kv%%=*}" = "$1" ] && { echo "${kv#*=}"; return; }
  done
  echo "$EPOCHS_DEFAULT"
}

neg_flags() {
  case $1 in
    k100) echo "--k 100" ;;
    k100-random) echo "--k 100 --hist-fraction 0" ;;
    tgb-k100) echo "--tgb --k 100" ;;
    *) echo "unknown negative set $1" >&2; exit 1 ;;
  esac
}

for variant in $VARIANTS; do
  IFS=: read -r label model flags <<<"$variant"
  flags=${flags//,/ }
  for ds in $DATASETS; do
    g="$DATA/$ds"
    [ -f "$g/meta.json" ] || { echo "no graph $g (run scripts/baselines_table.sh first)" >&2; exit 1; }
    ep=$(epochs_for "$ds")
    for seed in $SEEDS; do
      m="$OUT/models/$ds-$label-s$seed"
      if [ ! -f "$m/results.json" ]; then
        echo "train $label $ds seed $seed ($ep epochs)" >&2
        # shellcheck disable=SC2086
        "$BIN" -q train "$g" -o "$m" --model "$model" --epochs "$ep" --patience "$ep" --seed "$seed" \
          --threads "$THREADS" --device cpu --force --json $flags >"$m.train.json"
      fi
      if [ "$AP" = 1 ]; then
        for n in random historical inductive; do
          stamp="$OUT/done/$ds-$label-s$seed-ap-$n"
          [ -f "$stamp" ] && continue
          "$BIN" -q eval "$m" "$g" --protocol ap --negatives "$n" --seed "$seed" --device cpu \
            --threads "$THREADS" --label "$label" -o "$RUNS" >/dev/null
          touch "$stamp"
        done
      fi
      case " ${RANK_DATASETS:-$ds} " in *" $ds "*) ;; *) continue ;; esac
      for set in $SETS; do
        stamp="$OUT/done/$ds-$label-s$seed-rank-$set"
        [ -f "$stamp" ] && continue
        neg="$g/test-$set-s$seed.neg"
        # shellcheck disable=SC2046
        [ -f "$neg" ] || "$BIN" -q negatives "$g" $(neg_flags "$set") --seed "$seed" -o "$neg" >/dev/null
        echo "rank $label $ds seed $seed $set" >&2
        "$BIN" -q eval "$m" "$g" --protocol rank --negatives-file "$neg" --device cpu \
          --threads "$THREADS" --label "$label" -o "$RUNS" >/dev/null
        touch "$stamp"
      done
    done
  done
done
"$BIN" eval --compare --aggregate "$RUNS" | tee "$OUT/table.md"
