"""Reading a linkcast graph directory with numpy: `meta.json` and the flat array
files it names (64-byte header: magic, version, dtype code, count, width; then
little-endian elements). Shared by the peer and analysis scripts; numpy only.
"""
import json
import os

import numpy as np

MAGIC = b"LCARRAY\0"
DTYPES = {1: np.uint8, 2: np.uint32, 3: np.uint64, 4: np.int64, 5: np.float32, 6: np.float64}


def read_array(path):
    """One linkcast array file: 64-byte header, then little-endian elements."""
    with open(path, "rb") as f:
        head = f.read(64)
        if len(head) != 64 or head[:8] != MAGIC:
            raise SystemExit(f"{path}: not a linkcast array file")
        version = int.from_bytes(head[8:12], "little")
        code = int.from_bytes(head[12:16], "little")
        count = int.from_bytes(head[16:24], "little")
        width = int.from_bytes(head[24:32], "little")
        if version != 1 or code not in DTYPES:
            raise SystemExit(f"{path}: unsupported version {version} or dtype code {code}")
        dt = np.dtype(DTYPES[code]).newbyteorder("<")
        data = np.frombuffer(f.read(), dtype=dt)
    if data.size != count:
        raise SystemExit(f"{path}: header says {count} elements, file holds {data.size}")
    return data.astype(dt.newbyteorder("="), copy=False), width


def load_graph(gdir):
    with open(os.path.join(gdir, "meta.json")) as f:
        meta = json.load(f)
    files = {a["name"]: a["file"] for a in meta["arrays"]}  # generation-aware names

    def arr(name):
        return read_array(os.path.join(gdir, files[name]))

    src, _ = arr("events/src")
    dst, _ = arr("events/dst")
    t, _ = arr("events/t")
    feats, width = arr("events/feats")
    n = int(meta["num_events"])
    if not (src.size == dst.size == t.size == n):
        raise SystemExit(f"{gdir}: event arrays disagree with meta.json's num_events {n}")
    d = int(meta.get("feat_dim", 0))
    feats = feats.reshape(n, d) if d > 0 else np.zeros((n, 0), np.float32)
    if np.any(np.diff(t) < 0):
        raise SystemExit(f"{gdir}: event times are not sorted")
    return meta, src.astype(np.int64), dst.astype(np.int64), t, feats
