#!/usr/bin/env bash
# Serving measurements for docs/SERVING.md: the library harness (`bench serve`:
# single-pair latency, batch pairs/s, top-k over every candidate, ingest events/s),
# then a real `linkcast serve` on loopback measured with `bench http`: one
# connection of single-pair /score requests (HTTP latency), one of 1000-pair batches,
# and a 60-second mixed load on 8 connections. Works on a scratch copy of MODEL
# (the load generator posts events). Results: JSON files in $OUT.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/serve_lib.sh
B=${BIN:-target/release/linkcast}
MODEL=${MODEL:?set MODEL to a model directory written by linkcast train}
OUT=${OUT:-runs/serve-measure}
SECONDS_LOAD=${SECONDS_LOAD:-60}
mkdir -p "$OUT"
rm -rf "$OUT/model" "$OUT/model.wal"
cp -r "$MODEL" "$OUT/model"
rm -rf "$OUT/model/live" "$OUT/model/live.wal"
"$B" -q bench serve "$OUT/model" >"$OUT/library.json"
start_server "$B" "$MODEL" "$OUT"
trap 'kill -TERM $PID 2>/dev/null || true' EXIT
"$B" -q bench http --addr "$ADDR" --connections 1 --mix score --queries 1 --seconds 20 --max-requests 1000000 \
  >"$OUT/http-single.json"
"$B" -q bench http --addr "$ADDR" --connections 1 --mix score --queries 1000 --seconds 20 \
  >"$OUT/http-batch.json"
"$B" -q bench http --addr "$ADDR" --connections 8 --seconds "$SECONDS_LOAD" --max-requests 1000000 \
  >"$OUT/http-load.json"
curl -s "http://$ADDR/metrics" >"$OUT/metrics.txt" 2>/dev/null || true
kill -TERM $PID
wait $PID || true
trap - EXIT
echo "results in $OUT"
