#!/usr/bin/env bash
# Many readers at once: the same HTTP read load against two builds of `linkcast serve`
# (BASE: scorer behind one mutex; NEW: read-write lock, reads in parallel), alternating
# builds per configuration so both see the same machine. Read-only configurations
# (single-pair /score, /score + /recommend) at 1, 2 and 4 connections, then the mixed
# load with writes. Results: JSON per run in $OUT, summary table on stdout.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/serve_lib.sh
BASE=${BASE:?path of the baseline binary}
NEW=${NEW:-target/release/linkcast}
MODEL=${MODEL:?set MODEL to a model directory written by linkcast train}
OUT=${OUT:-runs/serve-readers}
SECS=${SECS:-15}
mkdir -p "$OUT"
PID=
trap '[ -n "$PID" ] && kill -TERM $PID 2>/dev/null || true' EXIT
start() { start_server "$1" "$MODEL" "$OUT"; }
stop() { kill -TERM $PID; wait $PID || true; PID=; }
run() { # $1 label, rest: bench http flags
  local label=$1; shift
  for which in base new; do
    local bin=$BASE; [ $which = new ] && bin=$NEW
    start "$bin"
    "$bin" -q bench http --addr "$ADDR" --seconds "$SECS" --max-requests 10000000 "$@" >"$OUT/$label-$which.json"
    stop
  done
}
for c in 1 2 4; do
  run "single-c$c" --connections $c --mix score --queries 1
  run "read-c$c" --connections $c --mix score,recommend --queries 100
done
run "mixed-c8" --connections 8 --queries 100
python3 - "$OUT" <<'PY'
import json, sys, glob, os
out = sys.argv[1]
print(f"{'config':<12} {'build':<5} {'req/s':>9} {'errors':>6}  p50/p99 ms per kind")
for f in sorted(glob.glob(f"{out}/*-base.json")):
    label = os.path.basename(f)[:-len("-base.json")]
    for which in ("base", "new"):
        r = json.load(open(f"{out}/{label}-{which}.json"))
        kinds = " ".join(f"{k}:{v['p50_ms']:.2f}/{v['p99_ms']:.2f}" for k, v in r["kinds"].items())
        print(f"{label:<12} {which:<5} {r['requests_per_s']:>9.1f} {r['errors']:>6}  {kinds}")
PY
