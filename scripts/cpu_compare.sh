#!/usr/bin/env bash
# Training throughput of linkcast's TGN against PyG's TGN on this machine's CPUs, one
# after the other in one run (same data, split, sizes, negatives, threads), 1 epoch.
# Run it on an idle machine; the load average is recorded with every number.
# Usage: [REPS=2] scripts/cpu_compare.sh [THREADS] [GRAPH_DIR...]   (default: runs/collegemsg runs/wikipedia)
set -euo pipefail
cd "$(dirname "$0")/.."
THREADS=${1:-2}; shift || true
GRAPHS=${*:-runs/collegemsg runs/wikipedia}
BIN=./target/release/linkcast
OUT=${OUT:-runs/cpu-compare}
mkdir -p "$OUT"
for g in $GRAPHS; do
  ds=$(basename "$g")
  for rep in $(seq "${REPS:-2}"); do
    load=$(cut -d' ' -f1 /proc/loadavg)
    lc=$($BIN -q train "$g" -o "$OUT/m-$ds" --epochs 1 --threads "$THREADS" --device cpu --force --json |
      .venv/bin/python -c "import json,sys; d=json.load(sys.stdin); print(round(d['epochs'][0]['events_per_s']), round(d['test']['ap'],4))")
    pyg=$(.venv/bin/python scripts/compare_pyg.py "$g" --epochs 1 --threads "$THREADS" --linkcast none 2>/dev/null |
      .venv/bin/python -c "import json,sys; d=json.load(sys.stdin); print(round(d['events_per_s'][0]), round(d['test_ap'],4))")
    set -- $lc; lce=$1; lcap=$2; set -- $pyg; pe=$1; pap=$2
    echo "$ds rep$rep load=$load linkcast=${lce}ev/s(AP $lcap) pyg=${pe}ev/s(AP $pap) ratio=$(.venv/bin/python -c "print(round($lce/$pe,2))")" | tee -a "$OUT/results.txt"
  done
done
