#!/usr/bin/env bash
# Fuzz every target in turn with libFuzzer (cargo fuzz, nightly toolchain,
# no sanitizer, debug assertions on), then minimise each corpus in place.
#
#   scripts/fuzz.sh            # the full budget: 20 min for each of the first
#                              # four targets, 5 min for each of the rest
#   scripts/fuzz.sh 60         # 60 s per target (a smoke run)
#   TARGETS="wal http" scripts/fuzz.sh 300
#   JOBS=2 scripts/fuzz.sh     # two targets at a time (one core each)
#
# Per target it writes fuzz/logs/<target>.log and one JSON line into
# fuzz/logs/summary.jsonl (seconds, execs, execs/s, libFuzzer cov and ft,
# corpus size, crashes). Crashing inputs land in fuzz/artifacts/<target>/;
# each fixed one belongs in fuzz/regressions/<target>/, which `cargo test`
# replays together with the corpora. Needs: rustup's nightly toolchain and
# cargo-fuzz (`cargo install cargo-fuzz`); this script installs cargo-fuzz when
# it is missing. Nothing here runs in CI.
set -euo pipefail
cd "$(dirname "$0")/.."
per_target="${1:-}"
all=(ingest_text score_queries http wal graph_dir model_manifest parquet node_features negatives)
read -r -a targets <<< "${TARGETS:-${all[*]}}"
jobs="${JOBS:-1}"

rustup toolchain list | grep -q '^nightly' || { echo "fuzz.sh: needs the nightly toolchain (rustup toolchain install nightly)" >&2; exit 2; }
command -v cargo-fuzz >/dev/null || cargo +stable install cargo-fuzz --locked
export RAYON_NUM_THREADS=1   # one core per target
[[ -d /dev/shm ]] || TMPDIR_FUZZ="${TMPDIR:-/tmp}"

budget() {
    if [[ -n "$per_target" ]]; then echo "$per_target"; return; fi
    case "$1" in ingest_text|score_queries|http|wal) echo 1200 ;; *) echo 300 ;; esac
}

mkdir -p fuzz/logs
cargo +nightly fuzz build -s none -a >/dev/null
cargo +nightly run -q --manifest-path fuzz/Cargo.toml --example seeds >/dev/null

run_one() {
    local t="$1" secs; secs="$(budget "$t")"
    local log="fuzz/logs/$t.log"
    mkdir -p "fuzz/artifacts/$t" "fuzz/corpus/$t"
    local before; before="$(find "fuzz/artifacts/$t" -type f | wc -l)"
    local start; start="$(date +%s)"
    local scratch; scratch="$(mktemp -d "${TMPDIR_FUZZ:-/dev/shm}/linkcast-fuzz-$t.XXXXXX")"
    set +e
    LINKCAST_FUZZ_SCRATCH="$scratch" cargo +nightly fuzz run -s none -a "$t" "fuzz/corpus/$t" -- \
        -max_total_time="$secs" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 \
        -artifact_prefix="fuzz/artifacts/$t/" >"$log" 2>&1
    local rc=$?
    set -e
    local took=$(( $(date +%s) - start ))
    LINKCAST_FUZZ_SCRATCH="$scratch" cargo +nightly fuzz cmin -s none -a "$t" "fuzz/corpus/$t" \
        >"fuzz/logs/$t.cmin.log" 2>&1 || true
    rm -rf "$scratch"
    local execs eps cov ft corpus crashes
    execs="$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)"
    eps="$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)"
    cov="$(grep -o 'cov: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*')"
    ft="$(grep -o 'ft: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*')"
    corpus="$(find "fuzz/corpus/$t" -type f | wc -l)"
    crashes=$(( $(find "fuzz/artifacts/$t" -type f | wc -l) - before ))
    printf '{"target":"%s","seconds":%d,"execs":%s,"execs_per_s":%s,"cov":%s,"ft":%s,"corpus":%d,"new_artifacts":%d,"exit":%d}\n' \
        "$t" "$took" "${execs:-0}" "${eps:-0}" "${cov:-0}" "${ft:-0}" "$corpus" "$crashes" "$rc" | tee -a fuzz/logs/summary.jsonl
}

running=0
for t in "${targets[@]}"; do
    run_one "$t" &
    running=$((running + 1))
    if (( running >= jobs )); then wait -n || true; running=$((running - 1)); fi
done
wait
