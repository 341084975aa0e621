#!/usr/bin/env bash
# Install PyTorch Geometric into the project venv for the peer (scripts/compare_pyg.py).
# Needs the venv from scripts/setup.sh (torch==2.11.0). PyG itself is pure Python; its
# TGN parts need neither torch_scatter nor torch_sparse. Idempotent: a second run
# only checks that the TGN imports work.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

PY=.venv/bin/python
if [ ! -x "$PY" ]; then
  echo "setup_peer: .venv missing; run scripts/setup.sh first" >&2
  exit 1
fi
PYG_SPEC=${PYG_SPEC:-torch_geometric}  # e.g. PYG_SPEC=torch_geometric==2.8.0
if ! "$PY" -c "import torch_geometric" 2>/dev/null; then
  echo "setup_peer: installing $PYG_SPEC into .venv" >&2
  "$PY" -m pip install --quiet --disable-pip-version-check "$PYG_SPEC"
fi
"$PY" - <<'EOF'
import torch, torch_geometric
from torch_geometric.nn import TransformerConv
from torch_geometric.nn.models.tgn import (IdentityMessage, LastAggregator,
                                           LastNeighborLoader, TGNMemory, TimeEncoder)
try:
    import sklearn
    sk = sklearn.__version__
except Exception:
    sk = "absent (compare_pyg.py uses its own AP/AUC)"
print(f"setup_peer: torch {torch.__version__}, torch_geometric {torch_geometric.__version__}, "
      f"scikit-learn {sk}; TGN imports OK")
EOF
