# Sourced by the serving measurement scripts.
# start_server BIN MODEL OUT: serve a scratch copy of MODEL (OUT/model, no live state) on a
# loopback port the kernel picks; sets PID and ADDR, exits if the server does not come up.
# SERVE_ARGS: extra `linkcast serve` flags (e.g. "--topk-cache-mb 0").
start_server() {
  local bin=$1 model=$2 out=$3
  rm -rf "$out/model"
  cp -r "$model" "$out/model"
  rm -rf "$out/model/live" "$out/model/live.wal"
  "$bin" serve "$out/model" --addr 127.0.0.1:0 ${SERVE_ARGS:-} >"$out/serve.out" 2>"$out/serve.err" &
  PID=$!
  for _ in $(seq 600); do
    grep -q "listening on" "$out/serve.out" 2>/dev/null && break
    sleep 0.5
  done
  ADDR=$(sed -n 's/^listening on //p' "$out/serve.out" | head -1)
  [ -n "$ADDR" ] || { echo "server did not start; see $out/serve.err" >&2; exit 1; }
}
