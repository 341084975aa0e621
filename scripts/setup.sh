#!/usr/bin/env bash
# Install what a fresh machine lacks (the Rust toolchain and python3 are assumed):
# a project venv with PyPI torch==2.11.0, the libtorch that tch 0.24.0 expects.
# Idempotent: a second run only checks.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

TORCH_VERSION=2.11.0
if ! command -v cargo >/dev/null; then
  echo "setup: cargo not found; install the Rust toolchain (https://rustup.rs)" >&2
  exit 1
fi
if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv" >&2
  python3 -m venv .venv
fi
have=$(.venv/bin/python -c "import torch; print(torch.__version__.split('+')[0])" 2>/dev/null || true)
if [ "$have" != "$TORCH_VERSION" ]; then
  # pip needs room for the wheels and the unpacked install (about 8 GB at peak, plus
  # about 8 GB for the build later); say so plainly instead of failing mid-install.
  free_kb=$(df -Pk . | awk 'NR==2 {print $4}')
  if [ "${free_kb:-0}" -lt $((10 * 1024 * 1024)) ]; then
    echo "setup: only $((free_kb / 1024 / 1024)) GB free on $(df -P . | awk 'NR==2 {print $6}');" \
      "installing torch and building need about 10 GB" >&2
    exit 1
  fi
  echo "setup: installing torch==$TORCH_VERSION into .venv (about 4.6 GB, a few minutes)" >&2
  .venv/bin/pip install --quiet --disable-pip-version-check "torch==$TORCH_VERSION"
fi
# scikit-learn: only the metrics differential test (src/eval/metrics_tests.rs)
# and scripts/golden_metrics.py use it; linkcast never calls Python at run time.
SKLEARN_VERSION=1.9.1  # the golden values in src/eval/metrics_tests.rs came from it
have=$(.venv/bin/python -c "import sklearn; print(sklearn.__version__)" 2>/dev/null || true)
if [ "$have" != "$SKLEARN_VERSION" ]; then
  echo "setup: installing scikit-learn==$SKLEARN_VERSION into .venv" >&2
  .venv/bin/pip install --quiet --disable-pip-version-check "scikit-learn==$SKLEARN_VERSION"
fi
