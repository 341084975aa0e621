#!/usr/bin/env bash
# The top-k cache (docs/SERVING.md "The top-k cache"), on one MODEL:
# 1. the library (`bench serve --topk-cache-mb`): exhaustive top-10 uncached, then
#    the query that fills the cache, warm queries at the same time, and the same
#    queries after INGEST random events have invalidated what they touched; the
#    ingest itself runs with the cache populated;
# 2. the same bench with the cache off (the ingest's latency without it);
# 3. unless HTTP=0: `linkcast serve` on loopback under `bench http`'s mixed load
#    (8 connections, score + recommend + events, SECONDS_LOAD s), with
#    `--topk-cache-mb 0` and then the default cap, one after the other.
# env: MODEL (model dir), DATA (its graph, if not where the model says), BIN, OUT
#      (runs/topk-cache), TOPK (5 queries), INGEST (2000 events), MANY (sources of one
#      many-sources call, 0: none), HTTP (1), SECONDS_LOAD (60), EXTRA (more `bench
#      serve` flags).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/serve_lib.sh
B=${BIN:-target/release/linkcast}
MODEL=${MODEL:?set MODEL to a model directory written by linkcast train}
OUT=${OUT:-runs/topk-cache}
TOPK=${TOPK:-5}
INGEST=${INGEST:-2000}
HTTP=${HTTP:-1}
SECONDS_LOAD=${SECONDS_LOAD:-60}
EXTRA=${EXTRA:-}
MANY=${MANY:-0}
DATA=${DATA:-}
mkdir -p "$OUT"
data=()
[ -z "$DATA" ] || data=(--data "$DATA")
common=(--single 10 --batch 1000 --batch-calls 1 --topk-queries "$TOPK" --ingest-events "$INGEST" --threads 2
  --many-sources "$MANY" "${data[@]}")
# shellcheck disable=SC2086
"$B" -q bench serve "$MODEL" "${common[@]}" --topk-cache-mb 4096 $EXTRA >"$OUT/library-cache.json"
# shellcheck disable=SC2086
"$B" -q bench serve "$MODEL" "${common[@]}" $EXTRA >"$OUT/library-nocache.json"
if [ "$HTTP" = 1 ]; then
  for cap in 0 1024; do
    SERVE_ARGS="--topk-cache-mb $cap ${data[*]}" start_server "$B" "$MODEL" "$OUT"
    trap 'kill -TERM $PID 2>/dev/null || true' EXIT
    "$B" -q bench http --addr "$ADDR" --connections 8 --seconds "$SECONDS_LOAD" --max-requests 1000000 \
      >"$OUT/http-load-cache$cap.json"
    kill -TERM "$PID"
    wait "$PID" || true
    trap - EXIT
  done
fi
echo "results in $OUT"
