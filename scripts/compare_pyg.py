#!/usr/bin/env python3
"""Peer for linkcast's TGN: PyTorch Geometric's TGN on a linkcast graph directory.

Usage:
    python scripts/compare_pyg.py GRAPH_DIR [--epochs 1] [--seed 0] [--threads 2]
        [--device cpu|cuda] [--batch-size 200] [--eval-memory replay|continue]
        [--linkcast ./target/release/linkcast]

GRAPH_DIR is a directory written by `linkcast ingest`. The script reads its event
arrays with numpy, splits them and cuts batches by linkcast's own rules
(src/store/split.rs, src/sample/batch.rs), trains PyG's TGN (TGNMemory with
IdentityMessage and LastAggregator, a one-layer TransformerConv embedding with 2
heads over a LastNeighborLoader of 10 neighbours, an MLP link predictor; sizes
100/100/100, Adam 1e-4, BCE with one uniform random negative per positive) and
evaluates validation then test with streaming semantics (score a batch, then
absorb it). It prints ONE JSON object on stdout; progress goes to stderr.

Dependencies: torch, torch_geometric (2.8 or newer: only TGNMemory, IdentityMessage,
LastAggregator, LastNeighborLoader, TimeEncoder and TransformerConv are used), numpy.
scikit-learn is used for AP/AUC when present; otherwise an equivalent implementation
below (step-wise AP, Mann-Whitney AUC with ties counting 1/2) is used.
See docs/PEER.md for what matches linkcast and what differs.
"""

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import time

import numpy as np
import torch
from torch.nn import Linear

import torch_geometric
from torch_geometric.nn import TransformerConv
from torch_geometric.nn.models.tgn import (
    IdentityMessage,
    LastAggregator,
    LastNeighborLoader,
    TGNMemory,
    TimeEncoder,
)

try:  # optional: sklearn's metrics; the fallback below computes the same values
    from sklearn.metrics import average_precision_score as _sk_ap
    from sklearn.metrics import roc_auc_score as _sk_auc

    HAVE_SKLEARN = True
except Exception:  # pragma: no cover - depends on the machine
    HAVE_SKLEARN = False


def log(*a):
    print("[compare_pyg]", *a, file=sys.stderr, flush=True)


# ---------------------------------------------------------------- graph directory

from lcgraph import load_graph, read_array  # noqa: E402,F401  (the graph-directory reader)


# ---------------------------------------------------------------- linkcast's rules


def rust_round(x):
    """f64::round: half away from zero (x >= 0 here)."""
    return math.floor(x + 0.5)


def linkcast_split(t, train=0.70, val=0.15):
    """src/store/split.rs, fractions: target index round(n f), moved to the end of
    the tie group it falls in. Returns (a, b): train 0..a, val a..b, test b..n."""
    n = len(t)

    def target(f):
        return int(min(max(rust_round(n * f), 0), n))

    def snap(i):
        if i == 0 or i >= n or t[i - 1] != t[i]:
            return min(i, n)
        return int(np.searchsorted(t, t[i - 1], side="right"))

    a = snap(target(train))
    b = snap(max(target(train + val), a))
    return a, b


def batch_ranges(t, start, end, size):
    """src/sample/batch.rs `batch_ranges`: batches of `size` events that end only
    where the timestamp changes (before a tie group that began inside the batch,
    or after the whole group when it began the batch)."""
    end = min(end, len(t))
    size = max(size, 1)
    out = []
    while start < end:
        stop = min(start + size, end)
        if stop < end and t[stop] == t[stop - 1]:
            tie = t[stop]
            g0 = start + int(np.searchsorted(t[start:stop], tie, side="left"))
            if g0 > start:
                stop = g0
            else:
                stop += int(np.searchsorted(t[stop:end], tie, side="right"))
        out.append((start, stop))
        start = stop
    return out


def find_linkcast(explicit):
    if explicit:
        return explicit if explicit != "none" else None
    here = os.path.dirname(os.path.abspath(__file__))
    cand = os.path.join(here, "..", "target", "release", "linkcast")
    if os.access(cand, os.X_OK):
        return cand
    return shutil.which("linkcast")


def check_split_with_linkcast(binary, gdir, a, b, n):
    """Compare our split with `linkcast stats GRAPH_DIR --json`."""
    try:
        out = subprocess.run([binary, "stats", gdir, "--json"], capture_output=True, check=True, text=True)
        s = json.loads(out.stdout)["split"]
    except Exception as e:  # a shipped binary may lack libtorch on the path, etc.
        log(f"could not run {binary} stats --json ({e}); split not cross-checked")
        return False
    mine = (a, b - a, n - b)
    theirs = (s["train_events"], s["val_events"], s["test_events"])
    if mine != theirs:
        raise SystemExit(f"split mismatch: ours {mine}, linkcast stats {theirs}")
    return True


# ---------------------------------------------------------------- metrics


def ap_score(y, s):
    if HAVE_SKLEARN:
        return float(_sk_ap(y, s))
    order = np.argsort(-s, kind="mergesort")
    s, y = s[order], y[order]
    last = np.r_[np.nonzero(np.diff(s))[0], len(s) - 1]  # end of each tie group
    tp = np.cumsum(y)[last]
    fp = (last + 1) - tp
    prec = tp / (tp + fp)
    rec = tp / tp[-1]
    return float(np.sum(np.diff(np.r_[0.0, rec]) * prec))


def auc_score(y, s):
    if HAVE_SKLEARN:
        return float(_sk_auc(y, s))
    order = np.argsort(s, kind="mergesort")
    ss = s[order]
    ranks = np.empty(len(s))
    i = 0
    while i < len(ss):  # average ranks over ties
        j = i
        while j + 1 < len(ss) and ss[j + 1] == ss[i]:
            j += 1
        ranks[order[i : j + 1]] = 0.5 * (i + j) + 1
        i = j + 1
    npos = int(y.sum())
    nneg = len(y) - npos
    return float((ranks[y == 1].sum() - npos * (npos + 1) / 2) / (npos * nneg))


# ---------------------------------------------------------------- model


class GraphAttentionEmbedding(torch.nn.Module):
    """One TransformerConv layer; edge attributes = [time encoding of (last update
    of the neighbour - event time), raw message]."""

    def __init__(self, in_channels, out_channels, msg_dim, time_enc, heads=2):
        super().__init__()
        self.time_enc = time_enc
        edge_dim = msg_dim + time_enc.out_channels
        self.conv = TransformerConv(
            in_channels, out_channels // heads, heads=heads, dropout=0.1, edge_dim=edge_dim
        )

    def forward(self, x, last_update, edge_index, t, msg):
        rel_t = last_update[edge_index[0]] - t
        rel_t_enc = self.time_enc(rel_t.to(x.dtype))
        edge_attr = torch.cat([rel_t_enc, msg], dim=-1)
        return self.conv(x, edge_index, edge_attr)


class LinkPredictor(torch.nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.lin_src = Linear(dim, dim)
        self.lin_dst = Linear(dim, dim)
        self.lin_final = Linear(dim, 1)

    def forward(self, z_src, z_dst):
        h = (self.lin_src(z_src) + self.lin_dst(z_dst)).relu()
        return self.lin_final(h)


# ---------------------------------------------------------------- run


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("graph", help="graph directory written by `linkcast ingest`")
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=0, help="torch.set_num_threads (0: torch's default)")
    p.add_argument("--device", default="cpu", help="cpu | cuda | cuda:N")
    p.add_argument("--batch-size", type=int, default=200)
    p.add_argument("--dim", type=int, default=100, help="memory, time and embedding size")
    p.add_argument("--neighbors", type=int, default=10)
    p.add_argument("--lr", type=float, default=1e-4)
    p.add_argument("--split", default="0.7,0.15,0.15", help="train,val,test fractions")
    p.add_argument(
        "--eval-memory",
        choices=["replay", "continue"],
        default="replay",
        help="replay: reset memory and neighbours, replay the training events with the final "
        "weights, then stream val and test (linkcast's rule); continue: stream val and test "
        "from the state left by training (PyG's examples/tgn.py)",
    )
    p.add_argument("--linkcast", default=None, help="linkcast binary to cross-check the split ('none' to skip)")
    args = p.parse_args()

    if args.threads > 0:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)
    dev = torch.device(args.device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda requested but torch.cuda.is_available() is false")

    def sync():
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)

    gdir = args.graph.rstrip("/")
    meta, src_np, dst_np, t_np, feats_np = load_graph(gdir)
    n_events = len(t_np)
    num_nodes = int(meta["num_nodes"])
    feat_dim = feats_np.shape[1]

    # Split and batches by linkcast's rules.
    fr = [float(x) for x in args.split.split(",")]
    if len(fr) != 3 or abs(sum(fr) - 1) > 1e-6:
        raise SystemExit("--split needs three fractions summing to 1")
    a, b = linkcast_split(t_np, fr[0], fr[1])
    split_checked = False
    binary = find_linkcast(args.linkcast)
    if binary and args.split == "0.7,0.15,0.15":
        split_checked = check_split_with_linkcast(binary, gdir, a, b, n_events)
    train_b = batch_ranges(t_np, 0, a, args.batch_size)
    val_b = batch_ranges(t_np, a, b, args.batch_size)
    test_b = batch_ranges(t_np, b, n_events, args.batch_size)
    for lo, hi in train_b + val_b + test_b:  # batches never cut a tie group
        assert hi == n_events or t_np[hi - 1] != t_np[hi], (lo, hi)
    if not val_b or not test_b or not train_b:
        raise SystemExit(f"empty split: train {a}, val {b - a}, test {n_events - b} events")

    # Negative destinations: uniform over the destination range (bipartite graphs:
    # the destination side n_src..num_nodes), as linkcast's DstRange::for_graph.
    dst_lo = int(meta["n_src"]) if meta.get("bipartite") and meta.get("n_src") is not None else 0
    dst_lo = min(dst_lo, num_nodes)
    dst_hi = num_nodes

    # PyG keeps times as int64 (TGNMemory.last_update is long). Shift to start at 0.
    t_rel = t_np - t_np[0]
    if np.any(t_rel != np.floor(t_rel)):
        log("warning: fractional timestamps are truncated to integers (TGNMemory stores long times)")
    t_long = np.floor(t_rel).astype(np.int64)

    # PyG's TGNMemory does not handle a raw message of width 0 (its message store
    # drops zero-element tensors and then concatenates mismatched rows), so a graph
    # without edge features gets a 1-wide all-zero message.
    msg_np = feats_np if feat_dim > 0 else np.zeros((n_events, 1), np.float32)
    msg_dim = msg_np.shape[1]

    src = torch.from_numpy(src_np).to(dev)
    dst = torch.from_numpy(dst_np).to(dev)
    t = torch.from_numpy(t_long).to(dev)
    msg = torch.from_numpy(np.ascontiguousarray(msg_np, dtype=np.float32)).to(dev)

    D = args.dim
    memory = TGNMemory(num_nodes, msg_dim, D, D, IdentityMessage(msg_dim, D, D), LastAggregator()).to(dev)
    gnn = GraphAttentionEmbedding(D, D, msg_dim, memory.time_enc, heads=2).to(dev)
    link_pred = LinkPredictor(D).to(dev)
    params = set(memory.parameters()) | set(gnn.parameters()) | set(link_pred.parameters())
    opt = torch.optim.Adam(params, lr=args.lr)
    loss_fn = torch.nn.BCEWithLogitsLoss()
    neighbor_loader = LastNeighborLoader(num_nodes, size=args.neighbors, device=dev)
    assoc = torch.empty(num_nodes, dtype=torch.long, device=dev)
    gen = torch.Generator().manual_seed(args.seed)  # CPU generator: same draws on any device

    log(
        f"PyG {torch_geometric.__version__}, torch {torch.__version__}, device {dev}, threads "
        f"{torch.get_num_threads()}; {gdir}: {num_nodes} nodes, {n_events} events, feat_dim {feat_dim}, "
        f"split {a}/{b - a}/{n_events - b}, batches {len(train_b)}/{len(val_b)}/{len(test_b)}, "
        f"negatives in {dst_lo}..{dst_hi}"
    )

    def embed(s, d, n):
        """Memory + one attention layer over the last neighbours of s, d, n."""
        n_id = torch.cat([s, d, n]).unique()
        n_id, edge_index, e_id = neighbor_loader(n_id)
        assoc[n_id] = torch.arange(n_id.size(0), device=dev)
        mem, last_update = memory(n_id)
        z = gnn(mem, last_update, edge_index, t[e_id], msg[e_id])
        return z[assoc[s]], z[assoc[d]], z[assoc[n]]

    def negatives(k):
        return torch.randint(dst_lo, dst_hi, (k,), generator=gen).to(dev)

    def absorb(lo, hi):
        memory.update_state(src[lo:hi], dst[lo:hi], t[lo:hi], msg[lo:hi])
        neighbor_loader.insert(src[lo:hi], dst[lo:hi])

    def train_epoch():
        memory.train()
        gnn.train()
        link_pred.train()
        memory.reset_state()
        neighbor_loader.reset_state()
        total = 0.0
        for lo, hi in train_b:
            opt.zero_grad()
            s, d = src[lo:hi], dst[lo:hi]
            n = negatives(hi - lo)
            zs, zd, zn = embed(s, d, n)
            pos = link_pred(zs, zd)
            neg = link_pred(zs, zn)
            loss = loss_fn(pos, torch.ones_like(pos)) + loss_fn(neg, torch.zeros_like(neg))
            absorb(lo, hi)
            loss.backward()
            opt.step()
            memory.detach()
            total += float(loss.detach()) * (hi - lo)
        return total / a

    @torch.no_grad()
    def evaluate(batches):
        """Streaming: score each batch, then absorb it."""
        memory.eval()
        gnn.eval()
        link_pred.eval()
        scores, labels, ap_b, auc_b = [], [], [], []
        for lo, hi in batches:
            s, d = src[lo:hi], dst[lo:hi]
            n = negatives(hi - lo)
            zs, zd, zn = embed(s, d, n)
            pos = link_pred(zs, zd).sigmoid().view(-1)
            neg = link_pred(zs, zn).sigmoid().view(-1)
            sc = torch.cat([pos, neg]).cpu().double().numpy()
            lb = np.r_[np.ones(hi - lo), np.zeros(hi - lo)]
            scores.append(sc)
            labels.append(lb)
            ap_b.append(ap_score(lb, sc))
            auc_b.append(auc_score(lb, sc))
            absorb(lo, hi)
        sc, lb = np.concatenate(scores), np.concatenate(labels)
        return {
            "ap": ap_score(lb, sc),
            "auc": auc_score(lb, sc),
            "ap_batch_mean": float(np.mean(ap_b)),
            "auc_batch_mean": float(np.mean(auc_b)),
        }

    losses, eps, secs, loads = [], [], [], []
    for epoch in range(1, args.epochs + 1):
        sync()
        t0 = time.perf_counter()
        loss = train_epoch()
        sync()
        dt = time.perf_counter() - t0
        losses.append(loss)
        secs.append(dt)
        eps.append(a / dt)
        loads.append(os.getloadavg()[0])
        log(f"epoch {epoch}: loss {loss:.4f}, {dt:.2f} s, {a / dt:.0f} events/s (load {loads[-1]:.2f})")

    sync()
    t0 = time.perf_counter()
    if args.eval_memory == "replay":
        # Rebuild the state with the final weights by replaying the training events.
        memory.eval()
        memory.reset_state()
        neighbor_loader.reset_state()
        with torch.no_grad():
            for lo, hi in train_b:
                absorb(lo, hi)
    else:
        memory.eval()  # flushes the pending training messages into memory (PyG)
    sync()
    replay_s = time.perf_counter() - t0
    gen.manual_seed(args.seed + 1_000_003)  # fixed evaluation negatives
    val = evaluate(val_b)
    test = evaluate(test_b)
    sync()
    eval_s = time.perf_counter() - t0
    log(
        f"val AP {val['ap']:.4f} AUC {val['auc']:.4f}; test AP {test['ap']:.4f} AUC {test['auc']:.4f}; "
        f"eval {eval_s:.2f} s (replay {replay_s:.2f} s)"
    )

    out = {
        "peer": "pyg-tgn",
        "graph": os.path.abspath(gdir),
        "device": str(dev),
        "device_name": torch.cuda.get_device_name(dev) if dev.type == "cuda" else "cpu",
        "threads": torch.get_num_threads(),
        "epochs": args.epochs,
        "seed": args.seed,
        "torch": torch.__version__,
        "torch_geometric": torch_geometric.__version__,
        "metrics_impl": "sklearn" if HAVE_SKLEARN else "builtin",
        "num_nodes": num_nodes,
        "num_events": n_events,
        "feat_dim": feat_dim,
        "msg_dim": msg_dim,
        "bipartite": bool(meta.get("bipartite")),
        "directed": bool(meta.get("directed")),
        "neg_dst_range": [dst_lo, dst_hi],
        "batch_size": args.batch_size,
        "dim": D,
        "neighbors": args.neighbors,
        "lr": args.lr,
        "split": {"train": [0, a], "val": [a, b], "test": [b, n_events], "checked_with_linkcast": split_checked},
        "batches": {"train": len(train_b), "val": len(val_b), "test": len(test_b)},
        "train_events": a,
        "events_per_s": eps,
        "train_seconds": secs,
        "loss": losses,
        "load_avg_1m": loads,
        "eval_memory": args.eval_memory,
        "replay_seconds": replay_s,
        "eval_seconds": eval_s,
        "val_ap": val["ap"],
        "val_auc": val["auc"],
        "val_ap_batch_mean": val["ap_batch_mean"],
        "val_auc_batch_mean": val["auc_batch_mean"],
        "test_ap": test["ap"],
        "test_auc": test["auc"],
        "test_ap_batch_mean": test["ap_batch_mean"],
        "test_auc_batch_mean": test["auc_batch_mean"],
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
