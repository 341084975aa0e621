#!/usr/bin/env bash
# Serving on a GPU machine without cargo (see ../shared/docs/gpu.md): `bench serve`
# with --device cuda on Wikipedia (TGN trained there for one epoch) and on a generated
# graph of 1M nodes (TGN trained for a few batches: only the cost matters), so top-k
# over every node is measured on the GPU. Results: JSON in $OUT.
set -u
OUT=${OUT:-/tmp/linkcast-gpu-serve}
W=/tmp/lcgs
mkdir -p "$OUT" "$W"
TL=$(python3 -c "import torch,os;print(os.path.dirname(torch.__file__))")/lib
export LD_LIBRARY_PATH=$TL:${LD_LIBRARY_PATH:-}
B=${BIN:-.gpu/linkcast}
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv >"$OUT/gpu.txt" 2>&1
"$B" -q ingest .gpu/ml_wikipedia.txt --bipartite -o "$W/wiki" --force
"$B" -q train "$W/wiki" -o "$W/wiki-tgn" --model tgn --epochs 1 --device cuda --force --json \
  >"$OUT/wiki-train.json" 2>"$OUT/wiki-train.err"
"$B" -q bench serve "$W/wiki-tgn" --device cuda >"$OUT/wiki-serve-cuda.json" 2>"$OUT/wiki-serve.err"
"$B" -q generate -o - --nodes 1000000 --events 2000000 --seed 1 --zipf 0.5 | "$B" -q ingest - -o "$W/g1m" --force
"$B" -q train "$W/g1m" -o "$W/g1m-tgn" --model tgn --epochs 1 --max-batches 50 --split 0.99,0.005,0.005 \
  --device cuda --force --json >"$OUT/g1m-train.json" 2>"$OUT/g1m-train.err"
"$B" -q bench serve "$W/g1m-tgn" --device cuda --single 300 --topk-queries 5 --ingest-events 5000 \
  >"$OUT/g1m-serve-cuda.json" 2>"$OUT/g1m-serve.err"
