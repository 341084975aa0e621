#!/usr/bin/env bash
# Regenerates docs/BASELINES.md: the no-training baselines of `linkcast eval` on the
# five public datasets in ../shared/datasets, under `ap` (random and historical
# negatives) and `rank` (K=100 from a `linkcast negatives` file), 3 seeds each
# (the negatives depend on the seed; the baselines themselves are deterministic).
#
# Built without libtorch in its own target dir:
#   cargo build --release --no-default-features --target-dir target/nt
# Knobs (environment): BIN, DATA (scratch dir), SHARED, DATASETS, BASELINES, SEEDS,
# RANK_BASELINES (baselines also run under `rank`), OUT.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-target/nt/release/linkcast}
DATA=${DATA:-/tmp/evaldata}
SHARED=${SHARED:-../shared/datasets}
DATASETS=${DATASETS:-"collegemsg email-eu bitcoin-otc enron wikipedia"}
BASELINES=${BASELINES:-"edgebank edgebank-tw popularity common-neighbours adamic-adar"}
RANK_BASELINES=${RANK_BASELINES:-$BASELINES}
SEEDS=${SEEDS:-"0 1 2"}
OUT=${OUT:-docs/BASELINES.md}
mkdir -p "$DATA"
RUNS="$DATA/runs.json"
rm -f "$RUNS"

ingest() { # name file flags...
  local name=$1 file=$2; shift 2
  [ -f "$DATA/$name/meta.json" ] || "$BIN" -q ingest "$SHARED/$file" -o "$DATA/$name" "$@" >/dev/null
}
for ds in $DATASETS; do
  case $ds in
    collegemsg) ingest collegemsg collegemsg/CollegeMsg.txt.gz ;;
    email-eu) ingest email-eu email-eu-core-temporal/email-Eu-core-temporal.txt.gz ;;
    bitcoin-otc) ingest bitcoin-otc bitcoin-otc/soc-sign-bitcoinotc.csv.gz \
      --no-header --src 0 --dst 1 --time 3 --features 2 ;;
    enron) ingest enron enron/ml_enron.csv ;;
    wikipedia) ingest wikipedia wikipedia-uit/ml_wikipedia.txt --bipartite ;;
    *) echo "unknown dataset $ds" >&2; exit 1 ;;
  esac
done

for ds in $DATASETS; do
  g="$DATA/$ds"
  for seed in $SEEDS; do
    [ -f "$g/test-k100-s$seed.neg" ] || "$BIN" -q negatives "$g" --k 100 --seed "$seed" -o "$g/test-k100-s$seed.neg" >/dev/null
    for b in $BASELINES; do
      for neg in random historical; do
        "$BIN" -q eval --baseline "$b" "$g" --protocol ap --negatives "$neg" --seed "$seed" -o "$RUNS" >/dev/null
      done
    done
    for b in $RANK_BASELINES; do
      "$BIN" -q eval --baseline "$b" "$g" --protocol rank --negatives-file "$g/test-k100-s$seed.neg" -o "$RUNS" >/dev/null
    done
  done
done

{
  echo "# Baselines"
  echo
  echo "Regenerate with \`scripts/baselines_table.sh\` (release build without libtorch)."
  echo "Test part of the default 70/15/15 chronological split, batches of 200 positives, streaming"
  echo "(each batch scored, then absorbed). \`ap\`: one negative per positive, AP and AUC-ROC **pooled**"
  echo "over the test part; \"AP new-node\" is the pooled AP of the inductive subset (an endpoint unseen in"
  echo "training). \`rank\`: K=100 negatives per positive (half historical, half random) from"
  echo "\`linkcast negatives --seed S\`; MRR and Hits@k with ties as the mean of optimistic and pessimistic"
  echo "rank. Mean ± sample std over seeds $(echo $SEEDS | tr ' ' ','), which change the negatives only."
  echo "edgebank-tw's window and popularity's half-life are the validation period's length; common"
  echo "neighbours and Adamic-Adar use all events before the batch. Seconds and pairs/s are per run,"
  echo "on $(nproc) cores ($(uname -m)), $(date -u +%Y-%m-%d); seconds time the protocol (scoring, absorbing,"
  echo "negative sampling, metrics), not opening the graph or loading the negative file."
  echo "Wikipedia is bipartite (users -> pages), so two endpoints of a candidate pair never share a"
  echo "neighbour: common-neighbours and Adamic-Adar score 0 everywhere there (AP/AUC 0.5; every"
  echo "positive ties with all 100 negatives, so Hits@k is 0.5 by the tie rule and MRR 2/102)."
  echo
  "$BIN" eval --compare --aggregate "$RUNS"
} > "$OUT"
echo "wrote $OUT"
