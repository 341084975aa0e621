#!/usr/bin/env bash
# A soak of `linkcast serve`: one server with snapshots on, a read-only phase
# (score + recommend) then a mixed phase (events too) under `linkcast bench
# http`, resident memory sampled every 10 s, then SIGKILL and a restart that must
# hold every acknowledged event exactly once.
#
#   scripts/soak.sh                 # 10 min read-only + 20 min mixed
#   READ_MIN=1 MIXED_MIN=2 scripts/soak.sh
#
# Writes OUT (default runs/soak) /soak.json: per phase the load report (requests,
# errors, p50/p99 per route), the RSS curve (seconds, bytes) and the events
# before and after the restart. The model is a small TGN trained on the bundled
# CollegeMsg in the first minute. Loopback only; nothing here runs in CI.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN="${BIN:-target/release/linkcast}"
OUT="${OUT:-runs/soak}"
READ_MIN="${READ_MIN:-10}"
MIXED_MIN="${MIXED_MIN:-20}"
CONNS="${CONNS:-4}"
[[ -x "$BIN" ]] || { echo "soak.sh: build first (cargo build --release) or set BIN" >&2; exit 2; }
rm -rf "$OUT" && mkdir -p "$OUT"
"$BIN" train datasets/collegemsg/CollegeMsg.txt.gz -o "$OUT/model" --epochs 1 --max-batches 50 \
    --threads 1 --device cpu --quiet
start_server() {
    "$BIN" serve "$OUT/model" --addr 127.0.0.1:0 --threads 1 --device cpu --state "$OUT/state" \
        --wal "$OUT/wal" --snapshot-every 100 >"$OUT/serve.out" 2>>"$OUT/serve.err" &
    PID=$!
    for _ in $(seq 600); do
        grep -q '^listening on ' "$OUT/serve.out" 2>/dev/null && break
        sleep 0.1
    done
    ADDR="$(sed -n 's/^listening on //p' "$OUT/serve.out")"
    [[ -n "$ADDR" ]] || { echo "server did not start: $(cat "$OUT/serve.err")" >&2; exit 1; }
}
sample_rss() {  # every 10 s: seconds since start, VmRSS bytes
    local t0; t0="$(date +%s)"
    while kill -0 "$PID" 2>/dev/null; do
        local kb; kb="$(awk '/^VmRSS/{print $2}' "/proc/$PID/status" 2>/dev/null || echo 0)"
        echo "$(( $(date +%s) - t0 )) $(( kb * 1024 ))" >>"$OUT/rss.txt"
        sleep 10
    done
}
health() { curl -s "http://$ADDR/health"; }
start_server
sample_rss & SAMPLER=$!
echo "read-only phase: ${READ_MIN} min on $ADDR" >&2
"$BIN" bench http --addr "$ADDR" --seconds $((READ_MIN * 60)) --connections "$CONNS" \
    --max-requests 1000000000 --mix score,recommend >"$OUT/read.json"
echo "$(awk 'END{print $1}' "$OUT/rss.txt")" >"$OUT/read_end_s.txt"
echo "mixed phase: ${MIXED_MIN} min" >&2
"$BIN" bench http --addr "$ADDR" --seconds $((MIXED_MIN * 60)) --connections "$CONNS" \
    --max-requests 1000000000 --mix score,recommend,events >"$OUT/mixed.json"
health >"$OUT/health_before.json"
kill -9 "$PID"; wait "$PID" 2>/dev/null || true
kill "$SAMPLER" 2>/dev/null || true
: >"$OUT/serve.out"
start_server
health >"$OUT/health_after.json"
kill -TERM "$PID"; wait "$PID" || true
python3 - "$OUT" <<'PY'
import json, sys, os
out = sys.argv[1]
rss = [tuple(map(int, l.split())) for l in open(os.path.join(out, "rss.txt")) if l.strip()]
read_end = int(open(os.path.join(out, "read_end_s.txt")).read().strip() or 0)
before = json.load(open(os.path.join(out, "health_before.json")))
after = json.load(open(os.path.join(out, "health_after.json")))
r = {
    "read": json.load(open(os.path.join(out, "read.json"))),
    "mixed": json.load(open(os.path.join(out, "mixed.json"))),
    "rss": rss,
    "read_phase_end_s": read_end,
    "events_before_kill": before["events"],
    "events_after_restart": after["events"],
    "batches_before_kill": before["batches"],
    "batches_after_restart": after["batches"],
}
json.dump(r, open(os.path.join(out, "soak.json"), "w"), indent=1)
# Every acknowledged event: each phase's setup batch (one event per generator
# node) plus every /events request answered 200 (all of them when errors == 0).
acked = sum(r[p]["spec"]["nodes"] for p in ("read", "mixed"))
ev = r["mixed"]["kinds"].get("events")
acked += (ev["requests"] - ev["errors"]) * r["mixed"]["spec"]["batch"] if ev else 0
r["acknowledged_live_events"] = acked
r["live_events_after_restart"] = after["live_events"]
json.dump(r, open(os.path.join(out, "soak.json"), "w"), indent=1)
ok = before["events"] == after["events"] and before["batches"] == after["batches"] and after["live_events"] == acked
errs = r["read"]["errors"] + r["mixed"]["errors"]
print(json.dumps({"errors": errs, "acknowledged_once_after_restart": ok, "acknowledged": acked, "live_after": after["live_events"]}))
sys.exit(0 if ok and errs == 0 else 1)
PY
