#!/usr/bin/env bash
# The whole test suite on a fresh machine: set up, then every test of the default
# build (libtorch linked), and the library tests once more without libtorch to
# prove the store/ingest/eval layers stand alone.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
scripts/setup.sh
source scripts/env.sh
cargo test --no-default-features --lib
cargo test
cargo check --benches
