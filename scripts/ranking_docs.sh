#!/usr/bin/env bash
# Rewrites the docs from finished runs: docs/BASELINES.md and its full table with the
# trained models' rows (base variants only), and docs/measurements/ranking-grid.md
# (every variant, per dataset, and the target check). No training or evaluation.
# env: GRID (runs/ranking-grid), DATA (graph dirs and baseline records of
#      scripts/baselines_table.sh, runs), BASE_RUNS ($DATA/baseline-runs.json),
#      BASE_LABELS (model labels shown in BASELINES.md), BIN
set -euo pipefail
cd "$(dirname "$0")/.."
GRID=${GRID:-runs/ranking-grid}
DATA=${DATA:-runs}
BASE_RUNS=${BASE_RUNS:-$DATA/baseline-runs.json}
BASE_LABELS=${BASE_LABELS:-"tgn graphmixer tpnet-lite"}
BIN=${BIN:-target/release/linkcast}
python3 - "$GRID/runs.json" "$GRID/model-rows.json" $BASE_LABELS <<'PY'
import json, sys
src, dst, labels = sys.argv[1], sys.argv[2], set(sys.argv[3:])
keep = {}
for r in json.load(open(src)):
    if r["target"] in labels:
        k = (r["target"], r["data"], r["protocol"], r.get("negatives"), r.get("negatives_style"),
             r.get("k"), r["seed"], r.get("split"))
        keep[k] = r
json.dump(list(keep.values()), open(dst, "w"), indent=1)
PY
PEER_PY=${PEER_PY:-recorded} DATA=$DATA BIN=$BIN SKIP_RUNS=1 RUNS="$BASE_RUNS" MODEL_RUNS="$GRID/model-rows.json" bash scripts/baselines_table.sh
python3 scripts/ranking_doc.py --baselines "$BASE_RUNS" --models "$GRID/runs.json" --grid "$GRID" \
  > docs/measurements/ranking-grid.md
echo "wrote docs/measurements/ranking-grid.md"
