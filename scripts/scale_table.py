#!/usr/bin/env python3
"""Markdown rows for docs/SCALE.md from `linkcast bench scale` reports.

usage: scripts/scale_table.py runs/scale/scale.json [runs/scale-1e9/scale.json ...]
"""
import json
import sys

MIB = 1 << 20


def fmt(x, unit=""):
    return "-" if x is None else f"{x:,.0f}{unit}"


def rows(path):
    r = json.load(open(path))
    directed = r["spec"].get("directed", False)
    limit = r["spec"].get("memory_limit")
    feats = r["spec"].get("features", 0)
    for s in r["sizes"]:
        ing = s["ingest"]["report"]["ingest"]
        mem = ing.get("memory", {})
        disk = mem.get("disk", {})
        e = s["events"]
        per = lambda k: disk.get(k, 0) / e
        t = (s.get("train") or {}).get("report") or {}
        train = fmt(s.get("train_events_per_s"))
        if t:
            train += f" ({t['train_events']:,} events{', one epoch' if t.get('full_epoch') else ''})"
        lim = f" / {limit / MIB:,.0f}" if limit else ""
        yield (
            f"| {e:.2g}{' directed' if directed else ''}{f', {feats} features' if feats else ''} | {ing['nodes']:,} | {s['ingest_rows_per_s']:,.0f} "
            f"({s['ingest']['seconds']:,.1f} s) | {mem.get('mode')}, {mem.get('peak_rss_anon', 0) / MIB:,.0f}{lim} MiB "
            f"| {disk.get('bytes_per_event', 0):.2f} ({per('log'):.2f} + {per('adjacency'):.2f} + {per('ids'):.2f}) "
            f"| {s['sample_roots_per_s']:,.0f} ({s['sample']['peak_rss_bytes'] / MIB:,.0f} MiB) "
            f"| {train} | {fmt(s.get('score_pairs_per_s'))} "
            f"| {fmt(s['train']['peak_rss_bytes'] / MIB if s.get('train') else None, ' MiB')}"
            f" ({fmt(t.get('model_memory_bytes', 0) / MIB if t else None, ' MiB')}) |"
        )


for p in sys.argv[1:]:
    for row in rows(p):
        print(row)
