#!/usr/bin/env bash
# linkcast's TGN against PyTorch Geometric's TGN on the same GPU, same data, split,
# sizes and negatives, in one run. For a GPU machine without cargo: build here with
# `cargo build --release`, then copy the (stripped) binary to .gpu/linkcast and the
# datasets to .gpu/ (see ../shared/docs/gpu.md). Results land in $OUT (JSON + logs).
set -u
OUT=${OUT:-/tmp/linkcast-gpu}
EPOCHS=${EPOCHS:-1}
mkdir -p "$OUT" /tmp/lcg
TL=$(python3 -c "import torch,os;print(os.path.dirname(torch.__file__))")/lib
export LD_LIBRARY_PATH=$TL:${LD_LIBRARY_PATH:-}
BIN=${BIN:-.gpu/linkcast}
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv >"$OUT/gpu.txt" 2>&1
nproc >"$OUT/nproc.txt"
"$BIN" doctor >"$OUT/doctor.txt" 2>&1
python3 -c "import torch, torch_geometric; print(torch.__version__, torch_geometric.__version__)" >"$OUT/versions.txt" 2>&1
run() { # name, source file, ingest flags
  local ds=$1 src=$2 flags=$3
  "$BIN" -q ingest "$src" $flags -o "/tmp/lcg/$ds" --force || return
  for model in tgn graphmixer; do
    "$BIN" -q train "/tmp/lcg/$ds" -o "/tmp/lcg/$ds-$model" --model "$model" --device cuda --epochs "$EPOCHS" \
      --force --json >"$OUT/linkcast-$ds-$model.json" 2>"$OUT/linkcast-$ds-$model.err"
  done
  python3 scripts/compare_pyg.py "/tmp/lcg/$ds" --device cuda --epochs "$EPOCHS" --linkcast "$BIN" \
    >"$OUT/pyg-$ds.json" 2>"$OUT/pyg-$ds.err"
  uptime >>"$OUT/uptime.txt"
}
run collegemsg datasets/collegemsg/CollegeMsg.txt.gz ""
run wikipedia .gpu/ml_wikipedia.txt --bipartite
run enron .gpu/ml_enron.csv ""
python3 - "$OUT" <<'PY'
import json, sys, glob, os
out = sys.argv[1]
rows = []
for ds in ["collegemsg", "wikipedia", "enron"]:
    try:
        p = json.load(open(f"{out}/pyg-{ds}.json"))
    except Exception as e:
        p = {}
    for model in ["tgn", "graphmixer"]:
        try:
            l = json.load(open(f"{out}/linkcast-{ds}-{model}.json"))
        except Exception:
            continue
        eps = [e["events_per_s"] for e in l["epochs"]]
        pe = p.get("events_per_s") or [float("nan")]
        rows.append(dict(data=ds, model=model, linkcast_events_per_s=eps, linkcast_test_ap=l["test"]["ap"],
                         pyg_events_per_s=pe, pyg_test_ap=p.get("test_ap"),
                         ratio=(sum(eps) / len(eps)) / (sum(pe) / len(pe)) if model == "tgn" else None))
json.dump(rows, open(f"{out}/summary.json", "w"), indent=1)
print(json.dumps(rows, indent=1))
PY
