#!/usr/bin/env python3
"""Peer for linkcast's TPNet and DyGFormer: tgm-lib's (PyPI `tgm-lib`, 0.1.0b1), chosen by `--model
tpnet|dygformer`, on a linkcast graph directory. The description below is TPNet's; with
`--model dygformer` the model is tgm's `DyGFormer` encoder (sequences of L = neighbors + 1,
4 channels, frozen time encoder) with tgm's `LinkPredictor`, and there is no walk state.

Usage:
    python scripts/compare_tgm.py GRAPH_DIR --negatives-file GRAPH_DIR/test-k100-s0.neg
        [--epochs 1] [--seed 0] [--threads 2] [--max-batches N] [--max-queries Q]
        [--decoder pair|tgm] [--select ap|last] [--linkcast BIN|none]
    python scripts/compare_tgm.py --self-test

What it does. GRAPH_DIR is a directory written by `linkcast ingest`. Its event arrays
are read with numpy (scripts/compare_pyg.py's reader), split 70/15/15 and cut into
batches of 200 by linkcast's rules (src/store/split.rs, src/sample/batch.rs: a batch
never splits a group of equal timestamps), and handed to tgm-lib as one `DGData`
(`DGData.from_raw`, nothing downloaded) viewed by one `DGraph`; each batch is
`dg.slice_events(lo, hi).materialize()` passed through a tgm `HookManager`:
  - training: tgm's `NegativeEdgeSamplerHook(low, high)`, one uniform negative per
    positive over linkcast's destination range (bipartite graphs: the item side);
  - evaluation: a small hook of this script that puts the batch's preset negatives
    (the K=100 file's rows, the random negatives of AP) in `batch.neg`;
  - shared: tgm's `RecencyNeighborHook`: the 20 most recent neighbours (undirected),
    strictly before the batch, of sources, destinations and negatives; it stores the
    batch's events after sampling, so a batch never sees itself.
The model is tgm's `TPNet` encoder over tgm's `RandomProjectionModule`, trained with
BCE (one random negative per positive), Adam, lr 1e-4 (linkcast's `train --lr`
default). After each epoch the validation part is streamed (AP, one random negative
per positive) and the weights of the best epoch are kept, as `linkcast train` does
(`--select-by ap`; run linkcast with `--patience E` so it also trains all E epochs).
For the test, the state (neighbour buffers, walk projections) is rebuilt by
replaying train and validation, then the test part is streamed: each batch is
scored with the state from before it, then absorbed. Each of the first
--max-queries test events (all by default) is ranked against its row of the K=100
negative file written by `linkcast negatives` (header checked against this split),
rank = 1 + (#neg > pos + #neg >= pos) / 2 (TGB's and linkcast's convention,
src/eval/metrics.rs); MRR, Hits@{1,3,10} in linkcast's convention (mean of the
optimistic and pessimistic indicators) and in TGB's (mean rank <= k). Every test
event also gets one random negative for test AP/AUC.

Model as configured here (linkcast's defaults, src/model/config.rs):
  walk_hops k = 3 (`num_layer`), projections `use_matrix=False` of width
  d = min(10 * floor(ln(2E)), N) with E = all events of the graph (tgm's own formula
  with `num_edges=E, dim_factor=10`, checked against linkcast's), lambda = ln 2 /
  (time of the first test event - time of the first validation event), 20 recent
  neighbours, time_dim 100 (tgm's `Time2Vec`, frozen: linkcast's frequencies are
  fixed), emb_dim c = 100 (`output_dim`), 2 MLP-mixer layers (token expansion 0.5,
  channel 4), dropout 0 (linkcast has none), no node features (neither graph has
  any), edge features (when the graph has them) standardised as `linkcast train`
  does: (x - mean) / (3 std) with training-period population statistics.
  Decoder (`--decoder pair`, default): an MLP [h_u, h_v, f(u, v)] -> c -> 1 where
  f(u, v) is the `RandomProjectionModule`'s own pair feature (shared pair MLP), as
  linkcast's decoder reads; `--decoder tgm`: tgm's `LinkPredictor` on [h_u, h_v]
  (hidden c), as tgm's examples/linkproppred/tpnet.py does.

Known differences from linkcast's TPNet that tgm's API does not let us remove:
  1. Pair features at query time: linkcast decays the stored walk projections from
     the last absorbed event's time to each query's time; tgm uses them as they are
     at the last absorbed batch (no decay to the query time).
  2. Nodes never seen: linkcast zeroes their projected rows (exact: their walk rows
     are 0 except A^(0)); tgm keeps the random row P[v].
  3. Padded neighbour slots: linkcast zeroes their tokens and mean-pools over valid
     slots only; tgm's `TPNet.forward` calls `masked_fill` out of place (its result
     is dropped), so padded tokens carry the projection of zero features plus the
     pair features of node -1 (the last node's row), and the mean runs over all 20.
  4. Slot order: linkcast's rows hold the valid neighbours first (oldest first), then
     padding; tgm's recency buffer gives padding first, then oldest ... newest. The
     token-mixing MLP sees the positions differently.
  5. Token-mixing LayerNorm: tgm normalises over the 20 tokens (DyGLib's MLPMixer);
     linkcast normalises over the c channels before the token MLP.
  6. Time encoding input: both log(1 + t - t_w); linkcast computes it in f64 on the
     host, tgm in float32 from int64 differences. Times must be integers here (tgm
     stores int64 timestamps); they are shifted to start at 0 (only differences
     matter to both models).
  7. Random numbers: P, weights and negatives come from torch's generator (seeded by
     --seed), not linkcast's SplitMix streams; linkcast's own training negatives
     differ draw by draw (same distribution). The test K=100 negatives are identical.
  8. Weight initialisation: torch's nn.Linear defaults versus tch's; LayerNorm alike.
  9. Work sharing: tgm computes f(w, endpoint) per pair, linkcast once per distinct
     (node, time) row; a speed difference, not a numeric one.
 10. Ranking batches: the same 200-event batches and state as linkcast; within a
     batch, queries are scored in chunks of --eval-chunk pairs (memory), which
     changes no score (the model scores each pair on its own).

Shapes: events E, nodes N; `src, dst` int32 [E], times int64 [E] (shifted), edge
features float32 [E, F] (F may be 0); the negative file is `[Q_test, K]` u32
(u32::MAX = no negative). Per batch of P events: `batch.nbr_nids[0]` [R, 20] with R
the seed rows (sources, destinations, negatives), `seed_node_nbr_mask[key]` the row
of each seed.

Time convention: linkcast's: a batch is scored with the state built from the events
strictly before it (earlier batches), then absorbed; neighbours are strictly earlier.

Output: ONE JSON object on stdout (versions, configuration used, training events/s
per epoch = training events / seconds of the training pass alone, test MRR /
Hits@k / AP, seconds); progress on stderr.

Dependencies (a peer venv, never linkcast's): torch, tgm-lib 0.1.0b1 (which pulls
torch_geometric), numpy; scikit-learn for AP/AUC when present (otherwise
compare_pyg.py's builtin equivalents); xxhash to verify the negative file's checksums
and split hash (skipped, and said so in the JSON, without it).
"""

import argparse
import json
import math
import os
import resource
import struct
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

try:
    import xxhash

    HAVE_XXHASH = True
except Exception:  # pragma: no cover - depends on the venv
    HAVE_XXHASH = False


def log(*a):
    print("[compare_tgm]", *a, file=sys.stderr, flush=True)


# ---------------------------------------------------------------- negative file (src/sample/negatives_rank.rs)

NEG_MAGIC = b"LCNEGSET"
NEG_HEADER = struct.Struct("<8s4I8Q")  # 88 bytes
NO_NEGATIVE = 0xFFFFFFFF


def split_hash(src, dst, t):
    """XXH3-64 of the events as little-endian (src u32, dst u32, t f64) rows."""
    rows = np.empty(len(t), dtype=[("s", "<u4"), ("d", "<u4"), ("t", "<f8")])
    rows["s"], rows["d"], rows["t"] = src, dst, t
    return xxhash.xxh3_64_intdigest(rows.tobytes())


def read_negatives(path):
    """A negative set file: (header dict, negs [end - start, K] uint32)."""
    with open(path, "rb") as f:
        raw = f.read()
    if len(raw) < NEG_HEADER.size:
        raise SystemExit(f"{path}: shorter than a negative-set header")
    (magic, version, k, n_hist, style, start, end, num_events, shash, seed, phash, plen, hhash) = NEG_HEADER.unpack(
        raw[: NEG_HEADER.size]
    )
    if magic != NEG_MAGIC or version != 1:
        raise SystemExit(f"{path}: not a linkcast negative set (magic {magic!r}, version {version})")
    payload = raw[NEG_HEADER.size :]
    if plen != len(payload) or plen != (end - start) * k * 4:
        raise SystemExit(f"{path}: payload is {len(payload)} bytes, header says {plen} for {end - start} x {k}")
    checked = False
    if HAVE_XXHASH:
        if xxhash.xxh3_64_intdigest(raw[:80]) != hhash:
            raise SystemExit(f"{path}: header checksum mismatch")
        if xxhash.xxh3_64_intdigest(payload) != phash:
            raise SystemExit(f"{path}: payload checksum mismatch")
        checked = True
    head = {
        "k": k,
        "n_hist": n_hist,
        "style": style,
        "range": [start, end],
        "num_events": num_events,
        "split_hash": shash,
        "seed": seed,
        "checksums_verified": checked,
    }
    negs = np.frombuffer(payload, dtype="<u4").reshape(end - start, k)
    return head, negs


def write_negatives(path, negs, k, start, end, num_events, shash, seed=0, n_hist=0, style=0):
    """Inverse of read_negatives (for --self-test only; linkcast writes the real files)."""
    payload = np.ascontiguousarray(negs, dtype="<u4").tobytes()
    head = NEG_HEADER.pack(
        NEG_MAGIC, 1, k, n_hist, style, start, end, num_events, shash, seed,
        xxhash.xxh3_64_intdigest(payload), len(payload), 0,
    )
    head = head[:80] + struct.pack("<Q", xxhash.xxh3_64_intdigest(head[:80]))
    with open(path, "wb") as f:
        f.write(head + payload)


# ---------------------------------------------------------------- metrics (src/eval/metrics.rs)


def rank_outcome(pos, negs):
    """(optimistic, pessimistic) rank of pos among negs; NaN counts against the positive."""
    negs = np.asarray(negs, dtype=np.float64)
    if math.isnan(pos):
        return len(negs) + 1, len(negs) + 1
    above = int(np.sum((negs > pos) | np.isnan(negs)))
    tied = int(np.sum(negs == pos))
    return 1 + above, 1 + above + tied


def rank_summary(outcomes):
    o = np.asarray(outcomes, dtype=np.float64).reshape(-1, 2)
    opt, pes = o[:, 0], o[:, 1]
    out = {"queries": int(len(o)), "mrr": float(np.mean(2.0 / (opt + pes))) if len(o) else float("nan")}
    for k in (1, 3, 10):
        out[f"hits{k}"] = float(np.mean(((opt <= k).astype(float) + (pes <= k)) / 2)) if len(o) else float("nan")
        out[f"hits{k}_tgb"] = float(np.mean(opt + pes <= 2 * k)) if len(o) else float("nan")
    return out


def scale_features(feats, train_end, sigmas=3.0):
    """linkcast's standard scaling (src/store/scaling.rs): (x - mean) / (sigmas * std),
    population statistics over the training events, std = 1 for constant columns."""
    if feats.shape[1] == 0:
        return feats.astype(np.float32)
    x = feats[:train_end].astype(np.float64)
    mean = x.mean(axis=0)
    std = x.std(axis=0)
    ok = np.isfinite(std) & (std > np.finfo(np.float32).eps * np.maximum(np.abs(mean), 1.0))
    std = np.where(ok, std, 1.0)
    shift = mean.astype(np.float32)
    factor = (1.0 / (sigmas * std)).astype(np.float32)
    return ((feats.astype(np.float32) - shift) * factor).astype(np.float32)


# ---------------------------------------------------------------- self-test


def self_test():
    from compare_pyg import batch_ranges, linkcast_split

    # Rank convention: pos 0.5 among [0.7, 0.5, 0.2]: one above, one tied.
    o = rank_outcome(0.5, [0.7, 0.5, 0.2])
    assert o == (2, 3), o
    s = rank_summary([o])
    assert abs(s["mrr"] - 1 / 2.5) < 1e-12, s  # rank (2 + 3) / 2 = 2.5
    assert s["hits1"] == 0.0 and s["hits3"] == 1.0 and s["hits10"] == 1.0, s
    assert rank_summary([rank_outcome(0.5, [0.5])])["hits1"] == 0.5  # tie for first: ranks 1 and 2
    assert rank_summary([rank_outcome(0.5, [0.5])])["hits1_tgb"] == 0.0  # TGB: 1.5 <= 1 is false
    assert rank_outcome(0.9, [0.1, 0.2]) == (1, 1)
    assert rank_outcome(0.1, [float("nan"), 0.0]) == (2, 2)  # a NaN negative counts above
    assert rank_outcome(float("nan"), [0.3, 0.2]) == (3, 3)  # a NaN positive ranks last
    s = rank_summary([(1, 1), (2, 3), (11, 11)])
    assert abs(s["mrr"] - (1 + 1 / 2.5 + 1 / 11) / 3) < 1e-12, s
    assert abs(s["hits10"] - 2 / 3) < 1e-12 and abs(s["hits1"] - 1 / 3) < 1e-12, s

    # Split and batches: ties are never cut.
    t = np.array([0, 1, 1, 1, 2, 3, 3, 4, 5, 6], dtype=np.float64)
    a, b = linkcast_split(t)  # round(7) = 7 (not in a tie), round(8.5) = 9
    assert (a, b) == (7, 9), (a, b)
    br = batch_ranges(t, 0, 10, 2)
    assert br == [(0, 1), (1, 4), (4, 5), (5, 7), (7, 9), (9, 10)], br

    # Scaling: constant column centred only.
    f = np.array([[1.0, 5.0], [3.0, 5.0], [100.0, 7.0]], dtype=np.float32)
    g = scale_features(f, 2)
    assert np.allclose(g[:2, 0], [-1 / 3, 1 / 3]) and np.allclose(g[:, 1], [0, 0, 2 / 3]), g

    # Negative file round trip (needs xxhash).
    if HAVE_XXHASH:
        import tempfile

        src = np.array([0, 1, 2], dtype=np.uint32)
        dst = np.array([1, 2, 0], dtype=np.uint32)
        tt = np.array([0.0, 1.0, 2.0])
        h = split_hash(src[1:], dst[1:], tt[1:])
        negs = np.array([[0, 2], [1, NO_NEGATIVE]], dtype=np.uint32)
        with tempfile.TemporaryDirectory() as d:
            p = os.path.join(d, "x.neg")
            write_negatives(p, negs, 2, 1, 3, 3, h)
            head, back = read_negatives(p)
        assert head["range"] == [1, 3] and head["k"] == 2 and head["split_hash"] == h and head["checksums_verified"]
        assert np.array_equal(back, negs)
    print(json.dumps({"self_test": "ok", "xxhash": HAVE_XXHASH}))


# ---------------------------------------------------------------- run


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("graph", nargs="?", help="graph directory written by `linkcast ingest`")
    p.add_argument("--negatives-file", help="K negatives per test event, written by `linkcast negatives` "
                   "(default: GRAPH/test-k100-sSEED.neg)")
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=0, help="torch.set_num_threads (0: torch's default)")
    p.add_argument("--device", default="cpu", help="cpu (the comparison's); cuda is wired but untested")
    p.add_argument("--batch-size", type=int, default=200)
    p.add_argument("--lr", type=float, default=1e-4)
    p.add_argument("--model", choices=["tpnet", "dygformer"], default="tpnet",
                   help="tgm-lib's TPNet or DyGFormer (the defaults below follow linkcast's preset of each)")
    p.add_argument("--walk-hops", type=int, default=3)
    p.add_argument("--neighbors", type=int, default=None, help="[tpnet 20, dygformer 31 (L = 32)]")
    p.add_argument("--time-dim", type=int, default=100)
    p.add_argument("--emb-dim", type=int, default=None, help="[tpnet 100, dygformer 50 (channel width c)]")
    p.add_argument("--mixer-layers", type=int, default=2, help="mixer layers (tpnet) or transformer layers")
    p.add_argument("--heads", type=int, default=2, help="dygformer's attention heads")
    p.add_argument("--patch-size", type=int, default=1, help="dygformer's patch size")
    p.add_argument("--dropout", type=float, default=None, help="[tpnet 0, dygformer 0.1]")
    p.add_argument("--feature-sigmas", type=float, default=3.0)
    p.add_argument("--decoder", choices=["pair", "tgm"], default="pair",
                   help="pair: MLP on [h_u, h_v, f(u, v)] (linkcast's); tgm: tgm's LinkPredictor on [h_u, h_v]")
    p.add_argument("--select", choices=["ap", "last"], default="ap",
                   help="ap: keep the epoch with the best validation AP (linkcast's default); last: the last epoch")
    p.add_argument("--max-batches", type=int, default=0,
                   help="at most this many batches of training per epoch and of validation/test scoring (0: all)")
    p.add_argument("--max-queries", type=int, default=0, help="rank only the first Q test events (0: all)")
    p.add_argument("--eval-chunk", type=int, default=1024, help="pairs per forward pass when ranking (memory)")
    p.add_argument("--linkcast", default=None, help="linkcast binary to cross-check the split ('none' to skip)")
    p.add_argument("--self-test", action="store_true", help="check the rank convention, split, batches, file reader")
    args = p.parse_args()
    dyg = args.model == "dygformer"
    if args.neighbors is None:
        args.neighbors = 31 if dyg else 20
    if args.emb_dim is None:
        args.emb_dim = 50 if dyg else 100
    if args.dropout is None:
        args.dropout = 0.1 if dyg else 0.0
    if args.self_test:
        return self_test()
    if not args.graph:
        p.error("GRAPH_DIR is required (or --self-test)")

    import torch
    import torch.nn.functional as F
    import tgm
    import torch_geometric
    from tgm import DGraph
    from tgm.data import DGData
    from tgm.hooks import HookManager, NegativeEdgeSamplerHook, RecencyNeighborHook, StatelessHook
    from tgm.nn import DyGFormer, LinkPredictor, RandomProjectionModule, Time2Vec, TPNet
    from tgm.util.seed import seed_everything

    from compare_pyg import (
        HAVE_SKLEARN,
        ap_score,
        auc_score,
        batch_ranges,
        check_split_with_linkcast,
        find_linkcast,
        linkcast_split,
        load_graph,
    )

    if args.threads > 0:
        torch.set_num_threads(args.threads)
    seed_everything(args.seed)
    dev = torch.device(args.device)
    t_start = time.perf_counter()

    # ------------------------------------------------ data
    gdir = args.graph.rstrip("/")
    meta, src_np, dst_np, t_np, feats_np = load_graph(gdir)
    n_events, num_nodes = len(t_np), int(meta["num_nodes"])
    if int(meta.get("node_feat_dim", 0) or 0) > 0:
        log("warning: the graph has node features; this peer does not feed them (linkcast does)")
    a, b = linkcast_split(t_np)
    binary = find_linkcast(args.linkcast)
    split_checked = bool(binary) and check_split_with_linkcast(binary, gdir, a, b, n_events)
    train_b = batch_ranges(t_np, 0, a, args.batch_size)
    val_b = batch_ranges(t_np, a, b, args.batch_size)
    test_b = batch_ranges(t_np, b, n_events, args.batch_size)
    for lo, hi in train_b + val_b + test_b:
        assert hi == n_events or t_np[hi - 1] != t_np[hi], (lo, hi)
    if not (train_b and val_b and test_b):
        raise SystemExit(f"empty split: train {a}, val {b - a}, test {n_events - b} events")
    dst_lo = int(meta["n_src"]) if meta.get("bipartite") and meta.get("n_src") is not None else 0
    dst_lo, dst_hi = min(dst_lo, num_nodes), num_nodes

    t_rel = t_np - t_np[0]
    if np.any(t_rel != np.floor(t_rel)):
        raise SystemExit("fractional timestamps: tgm-lib stores integer times; rescale the graph first")
    if t_rel[-1] >= 2**31 - 1:
        raise SystemExit("time span exceeds tgm-lib's int32 limit")
    t_int = t_rel.astype(np.int64)
    val_period = float(t_np[b] - t_np[a]) if b < n_events else 0.0
    decay = math.log(2.0) / val_period if val_period > 0 else 0.0
    d_linkcast = min(10 * max(int(math.floor(math.log(2.0 * max(n_events, 1)))), 1), max(num_nodes, 1))

    # Negative file: header must describe this graph's test part.
    neg_path = args.negatives_file or os.path.join(gdir, f"test-k100-s{args.seed}.neg")
    neg_head, negs = read_negatives(neg_path)
    if neg_head["range"] != [b, n_events] or neg_head["num_events"] != n_events:
        raise SystemExit(f"{neg_path}: covers events {neg_head['range']} of a {neg_head['num_events']}-event graph, "
                         f"the test part here is {[b, n_events]} of {n_events}")
    if HAVE_XXHASH:
        if split_hash(src_np[b:], dst_np[b:], t_np[b:]) != neg_head["split_hash"]:
            raise SystemExit(f"{neg_path}: split hash differs from this graph's test events")
        neg_head["split_hash_verified"] = True
    else:
        neg_head["split_hash_verified"] = False
        log("xxhash missing: negative file checksums and split hash not verified")
    K = neg_head["k"]

    feat_dim = feats_np.shape[1]
    feats = scale_features(feats_np, a, args.feature_sigmas) if feat_dim > 0 else None
    data = DGData.from_raw(
        edge_time=torch.from_numpy(t_int),
        edge_index=torch.from_numpy(np.stack([src_np, dst_np], 1).astype(np.int32)),
        edge_x=torch.from_numpy(feats) if feats is not None else None,
        time_delta="r",
    )
    dg = DGraph(data, device=dev)
    if not (torch.equal(dg.edge_src.cpu().long(), torch.from_numpy(src_np))
            and torch.equal(dg.edge_time.cpu(), torch.from_numpy(t_int))):
        raise SystemExit("tgm reordered the events")

    # ------------------------------------------------ hooks
    class PresetNegatives(StatelessHook):
        """Puts `self.pending` (node ids chosen by this script) in batch.neg, deduplicated
        and sorted; neg_time = the batch's last time (any time in the batch gives the
        same neighbours: the buffers hold earlier batches only)."""

        requires = {"edge_src", "edge_dst", "edge_time"}
        produces = {"neg", "neg_time"}

        def __init__(self):
            self.pending = torch.empty(0, dtype=torch.int32)

        def __call__(self, dg_, batch):
            u = torch.unique(self.pending.to(torch.int32)).to(batch.edge_src.device)
            batch.neg = u
            batch.neg_time = torch.full((u.numel(),), int(batch.edge_time.max()), dtype=torch.int64,
                                        device=batch.edge_src.device)
            return batch

    preset = PresetNegatives()
    hm = HookManager(keys=["train", "eval"])
    hm.register("train", NegativeEdgeSamplerHook(low=dst_lo, high=dst_hi))
    hm.register("eval", preset)
    hm.register_shared(RecencyNeighborHook(
        num_nodes=num_nodes, num_nbrs=[args.neighbors], seed_nodes_keys=["edge_src", "edge_dst", "neg"],
        seed_times_keys=["edge_time", "edge_time", "neg_time"], directed=False))

    def load(lo, hi):
        sub = dg.slice_events(lo, hi)
        return hm.execute_active_hooks(sub, sub.materialize())

    # ------------------------------------------------ model
    rp = None
    if dyg:
        # tgm's DyGFormer always has 4 channels (node and edge features zero-width
        # here when the graph has none); its output width is the transformer's, and
        # its decoder tgm's LinkPredictor on [h_u, h_v], as in tgm's example.
        encoder = DyGFormer(
            node_feat_dim=0, edge_feat_dim=feat_dim, time_feat_dim=args.time_dim,
            channel_embedding_dim=args.emb_dim, output_dim=4 * args.emb_dim, patch_size=args.patch_size,
            num_layers=args.mixer_layers, num_heads=args.heads, dropout=args.dropout,
            max_input_sequence_length=args.neighbors + 1, time_encoder=Time2Vec, device=str(dev))
        args.decoder = "tgm"
        c = 4 * args.emb_dim
    else:
        rp = RandomProjectionModule(
            num_nodes=num_nodes, num_layer=args.walk_hops, time_decay_weight=decay, beginning_time=0,
            use_matrix=False, scale_random_projection=True, num_edges=n_events, dim_factor=10,
            concat_src_dst=True, device=str(dev))
        if rp.dim != d_linkcast:
            raise SystemExit(f"projection width: tgm {rp.dim}, linkcast's rule {d_linkcast}")
        encoder = TPNet(
            node_feat_dim=0, edge_feat_dim=feat_dim, time_feat_dim=args.time_dim, output_dim=args.emb_dim,
            num_neighbors=args.neighbors, num_layers=args.mixer_layers, dropout=args.dropout,
            random_projections=rp, device=str(dev), time_encoder=Time2Vec)
        c = args.emb_dim
    encoder.time_encoder.requires_grad_(False)  # linkcast's time frequencies are fixed
    if args.decoder == "pair":
        decoder = torch.nn.Sequential(torch.nn.Linear(2 * c + rp.out_dim, c), torch.nn.ReLU(),
                                      torch.nn.Linear(c, 1)).to(dev)
    else:
        decoder = LinkPredictor(node_dim=c, hidden_dim=c).to(dev)
    model = torch.nn.ModuleList([encoder, decoder]).to(dev)
    trainable = [q for q in model.parameters() if q.requires_grad]
    opt = torch.optim.Adam(trainable, lr=args.lr)
    X = torch.zeros((num_nodes, 0), device=dev)  # no node features
    n_weights = sum(q.numel() for q in trainable)

    def logits(batch, u, v, tt, ru, rv):
        """Logits of the pairs (u[i], v[i]) at tt[i]; ru/rv: their rows in the batch's neighbour tensors."""
        nbr, nt, nx = batch.nbr_nids[0], batch.nbr_edge_time[0], batch.nbr_edge_x[0]
        zu, zv = encoder(X, torch.stack([u, v]), tt, torch.cat([nbr[ru], nbr[rv]]),
                         torch.cat([nt[ru], nt[rv]]), torch.cat([nx[ru], nx[rv]]))
        if args.decoder == "pair":
            return decoder(torch.cat([zu, zv, rp(u, v)], 1)).view(-1)
        return decoder(zu, zv)

    def absorb(batch):
        if rp is not None:
            with torch.no_grad():
                rp.update(batch.edge_src, batch.edge_dst, batch.edge_time)

    def reset():
        hm.reset_state()
        if rp is not None:
            rp.reset_random_projections(reset_zero=False)  # keep P, as linkcast does

    def absorb_only(batches):
        with hm.activate("eval"):
            for lo, hi in batches:
                preset.pending = torch.empty(0, dtype=torch.int32)
                absorb(load(lo, hi))

    ap_gen = np.random.default_rng(args.seed + 1_000_003)

    def random_negs(n):
        return torch.from_numpy(ap_gen.integers(dst_lo, dst_hi, n).astype(np.int32))

    def pos_neg_scores(batch, negs_t):
        m = batch.seed_node_nbr_mask
        P = batch.edge_src.numel()
        negs_t = negs_t.to(batch.neg.device)
        ri = torch.searchsorted(batch.neg, negs_t)
        u = torch.cat([batch.edge_src, batch.edge_src])
        v = torch.cat([batch.edge_dst, negs_t])
        tt = torch.cat([batch.edge_time, batch.edge_time])
        ru = torch.cat([m["edge_src"], m["edge_src"]])
        rv = torch.cat([m["edge_dst"], m["neg"][ri]])
        s = logits(batch, u, v, tt, ru, rv).sigmoid().double().cpu().numpy()
        return s[:P], s[P:]

    @torch.no_grad()
    def eval_ap(batches):
        """Stream `batches`: score with one random negative each, then absorb."""
        model.eval()
        pos, neg = [], []
        with hm.activate("eval"):
            for lo, hi in batches:
                nn_ = random_negs(hi - lo)
                preset.pending = nn_
                batch = load(lo, hi)
                sp, sn = pos_neg_scores(batch, nn_)
                pos.append(sp)
                neg.append(sn)
                absorb(batch)
        sc = np.concatenate(pos + neg)
        lb = np.r_[np.ones(sum(map(len, pos))), np.zeros(sum(map(len, neg)))]
        return {"ap": ap_score(lb, sc), "auc": auc_score(lb, sc), "positives": int(sum(map(len, pos)))}

    def capped(bs):
        return bs[: args.max_batches] if args.max_batches > 0 else bs

    log(f"tgm-lib {tgm.__version__}, torch {torch.__version__}, threads {torch.get_num_threads()}; {gdir}: "
        f"{num_nodes} nodes, {n_events} events, feat_dim {feat_dim}, split {a}/{b - a}/{n_events - b}, "
        f"batches {len(train_b)}/{len(val_b)}/{len(test_b)}, negatives in {dst_lo}..{dst_hi}; "
        f"{args.model}: " + (f"L {args.neighbors + 1}, P {args.patch_size}, c {args.emb_dim}" if dyg else
                             f"k {args.walk_hops}, d {rp.dim}, lambda {decay:.6g}") + f", {n_weights} weights")

    # ------------------------------------------------ training
    epochs, best, best_state = [], None, None
    for epoch in range(args.epochs):
        reset()
        model.train()
        run_b = capped(train_b)
        total, events = 0.0, 0
        load_before = os.getloadavg()[0]
        t0, c0 = time.perf_counter(), time.process_time()
        with hm.activate("train"):
            for lo, hi in run_b:
                batch = load(lo, hi)
                P = hi - lo
                m = batch.seed_node_nbr_mask
                u = torch.cat([batch.edge_src, batch.edge_src])
                v = torch.cat([batch.edge_dst, batch.neg])
                tt = torch.cat([batch.edge_time, batch.edge_time])
                ru = torch.cat([m["edge_src"], m["edge_src"]])
                rv = torch.cat([m["edge_dst"], m["neg"]])
                opt.zero_grad()
                out = logits(batch, u, v, tt, ru, rv)
                loss = F.binary_cross_entropy_with_logits(out[:P], torch.ones(P, device=dev)) + \
                    F.binary_cross_entropy_with_logits(out[P:], torch.zeros(P, device=dev))
                loss.backward()
                opt.step()
                absorb(batch)
                total += float(loss.detach()) * P
                events += P
        secs, cpu = time.perf_counter() - t0, time.process_time() - c0
        # cpu_seconds: CPU time of all threads (wall time is what events_per_s uses; on
        # a busy machine the ratio shows how much of the cores the pass actually got).
        rec = {"epoch": epoch, "loss": total / max(events, 1), "train_events": events, "train_seconds": secs,
               "events_per_s": events / secs, "train_cpu_seconds": cpu,
               "load_avg_1m": [load_before, os.getloadavg()[0]]}
        if args.select == "ap" or epoch == args.epochs - 1:
            tv = time.perf_counter()
            absorb_only(train_b[len(run_b):])  # truncated training: complete the state first
            rec["val"] = eval_ap(capped(val_b))
            rec["val"]["seconds"] = time.perf_counter() - tv
        epochs.append(rec)
        vs = f", val AP {rec['val']['ap']:.4f}" if "val" in rec else ""
        log(f"epoch {epoch}: loss {rec['loss']:.4f}, {secs:.2f} s, {rec['events_per_s']:.0f} events/s{vs}")
        score = rec["val"]["ap"] if args.select == "ap" else epoch
        if best is None or score > best:
            best = score
            best_state = [q.detach().clone() for q in trainable]
            rec["kept"] = True
    if best_state is not None:
        with torch.no_grad():
            for q, s in zip(trainable, best_state):
                q.copy_(s)
    best_epoch = max((r["epoch"] for r in epochs if r.get("kept")), default=None)

    # ------------------------------------------------ test: replay, then stream
    model.eval()
    t0 = time.perf_counter()
    reset()
    absorb_only(train_b + val_b)
    replay_s = time.perf_counter() - t0
    Q = min(args.max_queries, n_events - b) if args.max_queries > 0 else n_events - b
    outcomes, ap_pos, ap_neg = [], [], []
    short, rank_pairs, rank_s, rank_cpu = 0, 0, 0.0, 0.0
    t1 = time.perf_counter()
    with torch.no_grad(), hm.activate("eval"):
        for lo, hi in capped(test_b):
            qs = [e for e in range(lo, hi) if e - b < Q]
            rows = [negs[e - b][negs[e - b] != NO_NEGATIVE] for e in qs]
            nn_ = random_negs(hi - lo)
            pend = [nn_] + [torch.from_numpy(r.astype(np.int32)) for r in rows]
            preset.pending = torch.cat(pend)
            batch = load(lo, hi)
            sp, sn = pos_neg_scores(batch, nn_)
            ap_pos.append(sp)
            ap_neg.append(sn)
            if qs:
                tr, cr = time.perf_counter(), time.process_time()
                m = batch.seed_node_nbr_mask
                # Flatten: per query, the positive then its negatives.
                lens = [1 + len(r) for r in rows]
                short += sum(1 for r in rows if len(r) < K)
                cand = np.concatenate([np.r_[dst_np[e], r.astype(np.int64)] for e, r in zip(qs, rows)])
                local = np.repeat(np.array(qs) - lo, lens)
                is_pos = np.zeros(len(cand), bool)
                is_pos[np.cumsum([0] + lens[:-1])] = True
                cand_t = torch.from_numpy(cand.astype(np.int32)).to(dev)
                local_t = torch.from_numpy(local).to(dev)
                pos_t = torch.from_numpy(is_pos).to(dev)
                ri_neg = torch.searchsorted(batch.neg, cand_t)
                rv_all = torch.where(pos_t, m["edge_dst"][local_t],
                                     m["neg"][ri_neg.clamp(max=max(batch.neg.numel() - 1, 0))])
                found = batch.neg[ri_neg.clamp(max=batch.neg.numel() - 1)]
                assert bool(torch.all((found == cand_t) | pos_t)), "lost a negative"
                scores = np.empty(len(cand))
                step = max(args.eval_chunk, 1)
                for s0 in range(0, len(cand), step):
                    sl = slice(s0, s0 + step)
                    li = local_t[sl]
                    out = logits(batch, batch.edge_src[li], cand_t[sl], batch.edge_time[li],
                                 m["edge_src"][li], rv_all[sl])
                    scores[sl] = out.sigmoid().double().cpu().numpy()  # f32 sigmoid, as linkcast scores
                # The positive's score here is the AP pass's score of the same pair.
                lp = np.flatnonzero(is_pos)
                if not np.allclose(scores[lp], sp[np.array(qs) - lo], rtol=1e-4, atol=1e-5):
                    raise SystemExit("ranked positives disagree with the AP pass: row mapping broken")
                off = 0
                for n in lens:
                    outcomes.append(rank_outcome(scores[off], scores[off + 1 : off + n]))
                    off += n
                rank_pairs += len(cand)
                rank_s += time.perf_counter() - tr
                rank_cpu += time.process_time() - cr
            absorb(batch)
    test_s = time.perf_counter() - t1
    rk = rank_summary(outcomes)
    sc = np.concatenate(ap_pos + ap_neg)
    lb = np.r_[np.ones(sum(map(len, ap_pos))), np.zeros(sum(map(len, ap_neg)))]
    log(f"test: MRR {rk['mrr']:.4f}, Hits@10 {rk['hits10']:.4f} over {rk['queries']} queries "
        f"({rank_s:.1f} s ranking, {1000 * rank_s / max(rk['queries'], 1):.1f} s per 1000 queries); "
        f"AP {ap_score(lb, sc):.4f}; replay {replay_s:.1f} s, test {test_s:.1f} s")

    try:
        import sklearn

        sk_version = sklearn.__version__
    except Exception:
        sk_version = None
    eps = [r["events_per_s"] for r in epochs]
    out = {
        "peer": f"tgm-{args.model}",
        "graph": os.path.abspath(gdir),
        "versions": {"tgm_lib": tgm.__version__, "torch": torch.__version__, "numpy": np.__version__,
                     "torch_geometric": torch_geometric.__version__,
                     "scikit_learn": sk_version,
                     "xxhash": xxhash.VERSION if HAVE_XXHASH else None, "python": sys.version.split()[0]},
        "device": str(dev),
        "threads": torch.get_num_threads(),
        "seed": args.seed,
        "epochs": args.epochs,
        "config": {
            "model": args.model, "heads": args.heads, "patch_size": args.patch_size,
            "walk_hops": args.walk_hops, "projection_dim": rp.dim if rp is not None else None,
            "projection_dim_linkcast_rule": d_linkcast,
            "decay": decay, "val_period": val_period, "neighbors": args.neighbors, "time_dim": args.time_dim,
            "emb_dim": c, "mixer_layers": args.mixer_layers, "dropout": args.dropout, "decoder": args.decoder,
            "time_encoder_trainable": False, "lr": args.lr, "batch_size": args.batch_size,
            "select": args.select, "feature_sigmas": args.feature_sigmas if feat_dim > 0 else None,
            "weights": n_weights, "eval_chunk": args.eval_chunk, "max_batches": args.max_batches,
            "max_queries": args.max_queries,
        },
        "num_nodes": num_nodes, "num_events": n_events, "feat_dim": feat_dim,
        "bipartite": bool(meta.get("bipartite")), "neg_dst_range": [dst_lo, dst_hi],
        "split": {"train": [0, a], "val": [a, b], "test": [b, n_events], "checked_with_linkcast": split_checked},
        "batches": {"train": len(train_b), "val": len(val_b), "test": len(test_b)},
        "negatives_file": {"path": os.path.abspath(neg_path), **neg_head},
        "train_events": a,
        "epoch_records": epochs,
        "events_per_s": eps,
        "events_per_s_mean": float(np.mean(eps)) if eps else None,
        "best_epoch": best_epoch,
        "replay_seconds": replay_s,
        "test": {
            "rank": {**rk, "k": K, "queries_short": short, "pairs": rank_pairs, "seconds": rank_s,
                     "cpu_seconds": rank_cpu,
                     "seconds_per_1000_queries": 1000 * rank_s / max(rk["queries"], 1)},
            "ap": ap_score(lb, sc), "auc": auc_score(lb, sc), "ap_positives": int(len(lb) // 2),
            "seconds": test_s,
        },
        "test_mrr": rk["mrr"],
        "test_hits10": rk["hits10"],
        "metrics_impl": "sklearn" if HAVE_SKLEARN else "builtin",
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "seconds": time.perf_counter() - t_start,
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
