#!/usr/bin/env python3
"""Negative sets drawn by TGB's own code, for `linkcast eval --protocol rank`.

Runs in a peer venv with py-tgb (never a dependency of linkcast):

    python3 -m venv /work/peer-tgb
    /work/peer-tgb/bin/pip install --no-deps py-tgb
    /work/peer-tgb/bin/pip install numpy pandas scikit-learn tqdm requests clint

Two commands, both ending in `linkcast negatives GRAPH --import ROWS -o OUT`, which
checks every row against the graph and the split and writes linkcast's negative
file (style `tgb-import`):

  generate GRAPH -o OUT [--part test] [--k 100] [--seed 0] [--hist-ratio 0.5]
      Runs TGB's `NegativeEdgeGenerator` (strategy `hist_rnd`) on the graph's own
      events: the positives are the part's events, the history is the training
      part (both as linkcast splits them), destinations are linkcast's destination
      range (all nodes, or the destination side of a bipartite graph).
  convert PICKLE GRAPH -o OUT [--part test] [--external-ids]
      Converts a pickle TGB wrote (a dict (src, dst, t) -> negative destinations).
      Its node ids must be the graph's dense ids, or, with --external-ids, the
      integer ids of the edge list the graph was ingested from; its times the
      graph's times.

TGB's generator module imports torch and torch_geometric's `TemporalData` but only
reads `.src/.dst/.t.cpu().numpy()` of its inputs; when torch is not installed
(py-tgb does not require it) this script registers two empty stand-in modules
before importing it, and passes numpy arrays behind that interface. The sampling
itself is TGB's code, unchanged.

Options: --linkcast BIN (default target/nt/release/linkcast), --rows FILE (keep the
rows file), --keep-pickle FILE (keep TGB's pickle, generate only).
"""
import argparse
import json
import os
import pickle
import subprocess
import sys
import tempfile
import types

import numpy as np

HEADER = 64
DTYPES = {"u32": np.uint32, "u64": np.uint64, "i64": np.int64, "f32": np.float32, "f64": np.float64, "u8": np.uint8}


def read_array(graph, meta, name):
    """One array of a graph directory (layout: src/store/format.rs)."""
    entry = next((a for a in meta["arrays"] if a["name"] == name), None)
    if entry is None:
        raise SystemExit(f"{graph}/meta.json lists no array {name!r}")
    path = os.path.join(graph, entry["file"])
    with open(path, "rb") as f:
        head = f.read(HEADER)
        if head[:8] != b"LCARRAY\0":
            raise SystemExit(f"{path}: not a linkcast array (bad magic)")
        data = np.frombuffer(f.read(), dtype=np.dtype(DTYPES[entry["dtype"]]).newbyteorder("<"))
    if len(data) != entry["len"] * max(entry["row_width"], 1):
        raise SystemExit(f"{path}: {len(data)} elements, meta.json says {entry['len']}")
    return data


def read_events(graph):
    meta = json.load(open(os.path.join(graph, "meta.json")))
    src, dst, t = (read_array(graph, meta, f"events/{c}") for c in ("src", "dst", "t"))
    if len(src) != meta["num_events"]:
        raise SystemExit(f"{graph}: live events in a tail are not supported; compact the graph first")
    return meta, src, dst, t


def split_info(linkcast, graph, part):
    """Event ranges and destination range as linkcast computes them (a K=1 probe)."""
    with tempfile.TemporaryDirectory() as tmp:
        out = subprocess.run(
            [linkcast, "-q", "negatives", graph, "--part", part, "--k", "1", "--json", "-o", f"{tmp}/probe.neg"],
            check=True, capture_output=True, text=True,
        ).stdout
    return json.loads(out)


class Column:
    """What TGB's generator reads from a torch tensor: `.cpu().numpy()`."""

    def __init__(self, a):
        self.a = a

    def cpu(self):
        return self

    def numpy(self):
        return self.a


class Edges:
    def __init__(self, src, dst, t):
        self.src, self.dst, self.t = Column(src), Column(dst), Column(t)


def tgb_generator():
    try:
        import torch  # noqa: F401
        from torch_geometric.data import TemporalData  # noqa: F401
    except ImportError:
        torch_stub = types.ModuleType("torch")
        pyg = types.ModuleType("torch_geometric")
        pyg_data = types.ModuleType("torch_geometric.data")
        pyg_data.TemporalData = type("TemporalData", (), {})
        pyg.data = pyg_data
        sys.modules.setdefault("torch", torch_stub)
        sys.modules.setdefault("torch_geometric", pyg)
        sys.modules.setdefault("torch_geometric.data", pyg_data)
    from tgb.linkproppred.negative_generator import NegativeEdgeGenerator

    return NegativeEdgeGenerator


def write_rows(evaluation_set, path, id_of=None):
    """TGB's dict (src, dst, t) -> negatives as linkcast's import rows."""
    to = id_of or (lambda x: int(x))
    with open(path, "w") as f:
        f.write("# src dst t negatives (dense ids), from a TGB negative set\n")
        for (s, d, t), negs in evaluation_set.items():
            f.write(f"{to(s)} {to(d)} {float(t)!r} {' '.join(str(to(n)) for n in np.asarray(negs).tolist())}\n")


def import_rows(args, rows):
    cmd = [args.linkcast, "negatives", args.graph, "--part", args.part, "--import", rows, "-o", args.output,
           "--seed", str(getattr(args, "seed", 0))]
    subprocess.run(cmd, check=True)


def generate(args):
    meta, src, dst, t = read_events(args.graph)
    info = split_info(args.linkcast, args.graph, args.part)
    train_end = info["train_events"][1]
    lo, hi = info["events"]
    first_dst, last_dst = info["destinations"][0], info["destinations"][1] - 1
    Gen = tgb_generator()
    name = os.path.basename(os.path.normpath(args.graph))
    gen = Gen(dataset_name=name, first_dst_id=first_dst, last_dst_id=last_dst, num_neg_e=args.k,
              strategy="hist_rnd", rnd_seed=args.seed, hist_ratio=args.hist_ratio,
              historical_data=Edges(src[:train_end], dst[:train_end], t[:train_end]))
    with tempfile.TemporaryDirectory() as tmp:
        gen.generate_negative_samples(data=Edges(src[lo:hi], dst[lo:hi], t[lo:hi]), split_mode=args.part,
                                      partial_path=tmp)
        pkl = os.path.join(tmp, f"{name}_{args.part}_ns.pkl")
        evaluation_set = pickle.load(open(pkl, "rb"))
        if args.keep_pickle:
            os.replace(pkl, args.keep_pickle)
    finish(args, evaluation_set, None)


def convert(args):
    evaluation_set = pickle.load(open(args.pickle, "rb"))
    id_of = None
    if args.external_ids:
        meta = json.load(open(os.path.join(args.graph, "meta.json")))
        ext = read_array(args.graph, meta, "ids/int")
        dense = {int(x): i for i, x in enumerate(ext.tolist())}

        def id_of(x):
            if int(x) not in dense:
                raise SystemExit(f"{args.pickle}: node {int(x)} is not an id of {args.graph}")
            return dense[int(x)]
    finish(args, evaluation_set, id_of)


def finish(args, evaluation_set, id_of):
    with tempfile.TemporaryDirectory() as tmp:
        rows = args.rows or os.path.join(tmp, "rows.txt")
        write_rows(evaluation_set, rows, id_of)
        import_rows(args, rows)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    g = sub.add_parser("generate", help="draw a set with TGB's sampler")
    g.add_argument("graph")
    g.add_argument("--k", type=int, default=100)
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--hist-ratio", type=float, default=0.5)
    g.add_argument("--keep-pickle")
    c = sub.add_parser("convert", help="convert a TGB pickle")
    c.add_argument("pickle")
    c.add_argument("graph")
    c.add_argument("--external-ids", action="store_true")
    for q in (g, c):
        q.add_argument("-o", "--output", required=True)
        q.add_argument("--part", choices=["val", "test"], default="test")
        q.add_argument("--linkcast", default="target/nt/release/linkcast")
        q.add_argument("--rows")
    args = p.parse_args()
    generate(args) if args.cmd == "generate" else convert(args)


if __name__ == "__main__":
    main()
