#!/usr/bin/env bash
# One seed of the training options' table in docs/RANKING.md ("What moves MRR"): for each
# dataset and variant LOSS:HIST, train MODEL with --loss LOSS --hist-negatives HIST
# --select-by mrr, rank the test split against the K=100 half-historical file of
# scripts/baselines_table.sh, and print the best epoch's validation MRR per epoch and the
# test MRR and Hits@10, one line per run.
# env: BIN, DATA (graph dirs + negative files, default runs), OUT, SEED (0), MODEL
#      (tpnet-lite), EPOCHS (3), EXTRA (more train flags, e.g. "--lr 0.001"), DATASETS, VARIANTS
set -u
cd "$(dirname "$0")/.."
BIN=${BIN:-target/release/linkcast}
D=${DATA:-runs}
OUT=${OUT:-runs/ranking-options}
SEED=${SEED:-0}
MODEL=${MODEL:-tpnet-lite}
EPOCHS=${EPOCHS:-3}
EXTRA=${EXTRA:-}
mkdir -p $OUT
for ds in ${DATASETS:-collegemsg enron email-eu bitcoin-otc wikipedia}; do
 for v in ${VARIANTS:-bce:0.2 pairwise:0.2 pairwise:0.5 bce+pairwise:0.5}; do
  loss=${v%%:*}; h=${v#*:}
  lab=$MODEL-$loss-h$h
  m=$OUT/$ds-$lab-s$SEED
  if [ ! -f $m/results.json ]; then
    t0=$(date +%s)
    $BIN -q train $D/$ds -o $m --model $MODEL --epochs $EPOCHS --patience $EPOCHS --seed $SEED --threads 2 --device cpu --force \
      --loss $loss --hist-negatives $h --select-by mrr $EXTRA --json > $m.train.json 2> $m.train.err || { echo "FAIL train $ds $lab"; continue; }
    t1=$(date +%s); echo "$ds $lab train $((t1-t0)) s" >&2
  fi
  [ -f $m.rank.json ] || $BIN -q eval $m $D/$ds --protocol rank --negatives-file $D/$ds/test-k100-s$SEED.neg --device cpu --threads 2 --label $lab --json -o $OUT/runs.json > $m.rank.json 2> $m.rank.err || echo "FAIL eval $ds $lab"
  python3 - "$ds" "$lab" "$m" <<'PY'
import json,sys
ds,lab,m=sys.argv[1:]
vals=[json.loads(l) for l in open(m+"/metrics.jsonl")]
vm=[ (r.get("val_rank") or {}).get("mrr") for r in vals]
try:
  r=json.load(open(m+".rank.json"))
except Exception as e:
  r={"err":str(e)}
def find(d,key):
  if isinstance(d,dict):
    if key in d and not isinstance(d[key],(dict,list)): return d[key]
    for v in d.values():
      x=find(v,key)
      if x is not None: return x
  if isinstance(d,list):
    for v in d:
      x=find(v,key)
      if x is not None: return x
print(f"{ds}\t{lab}\tval_mrr/epoch={['%.4f'%x if x else None for x in vm]}\ttest_mrr={find(r,'mrr')}\thits10={find(r,'hits_at_10') or find(r,'hits10')}", flush=True)
PY
 done
done
