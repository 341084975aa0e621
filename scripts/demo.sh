#!/usr/bin/env bash
# The main job, end to end, on the bundled SNAP CollegeMsg dataset:
# set up, build, ingest into a graph directory, verify it, print its statistics,
# train TGN on it (3 epochs, CPU or CUDA), and evaluate the model against baselines.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
scripts/setup.sh
source scripts/env.sh
cargo build --release
bin=target/release/linkcast
out=${LINKCAST_DEMO_DIR:-runs/collegemsg}

"$bin" doctor
"$bin" ingest datasets/collegemsg/CollegeMsg.txt.gz -o "$out" --force
"$bin" verify "$out"
"$bin" stats "$out"
model=${out}-tgn
"$bin" train "$out" --model tgn --epochs 3 -o "$model" --force
echo "demo: graph in $out, TGN model in $model (metrics.jsonl, training.png, results.json)"
