#!/usr/bin/env python3
"""Median of several `steward bench --json` runs, as a Markdown table.

Usage:
    python3 benches/summarize.py run1.json run2.json run3.json

On a shared 2-core machine one run's figures swing by 10-20 %; the median of
a few runs, each ratio taken against the baseline measured in its own run,
is what BENCHMARKS.md reports. Only the standard library is needed.
"""

import json
import statistics
import sys
from collections import defaultdict


def main():
    paths = sys.argv[1:]
    if not paths:
        raise SystemExit(__doc__)
    rows = defaultdict(list)
    order = []
    for path in paths:
        with open(path, encoding="utf-8") as f:
            for r in json.load(f):
                key = (r["concurrency"], r["protocol"], not r["baseline"], r["op"])
                if key not in rows:
                    order.append(key)
                if r.get("errors", 0):
                    raise SystemExit(f"{path}: {r['op']} at {r['concurrency']} had errors")
                rows[key].append(r)
    med = lambda xs: statistics.median(xs)
    print(f"Median of {len(paths)} runs.\n")
    print("| op | proto | conc | req/s | p50 ms | p99 ms | p99.9 ms | ratio |")
    print("|---|---|---|---|---|---|---|---|")
    for key in sorted(order):
        runs = rows[key]
        ratio = [r["ratio"] for r in runs if r.get("ratio") is not None]
        name = runs[0]["op"] + (" (baseline)" if runs[0]["baseline"] else "")
        ratio_text = f"{med(ratio):.3f}" if ratio else "-"
        print(
            f"| {name} | {runs[0]['protocol']} | {runs[0]['concurrency']} "
            f"| {med([r['throughput_rps'] for r in runs]):.0f} "
            f"| {med([r['p50_us'] for r in runs]) / 1000:.3f} "
            f"| {med([r['p99_us'] for r in runs]) / 1000:.3f} "
            f"| {med([r['p999_us'] for r in runs]) / 1000:.3f} "
            f"| {ratio_text} |"
        )
    # p99 at concurrency 1 against the same run's baseline, per run, then the median.
    print("\np99 at concurrency 1 as a multiple of the same run's baseline p99 (median):\n")
    for key in sorted(order):
        conc, protocol, not_baseline, op = key
        if conc != 1 or not not_baseline:
            continue
        base_key = (1, protocol, False, f"{protocol}-noop")
        multiples = [
            r["p99_us"] / b["p99_us"]
            for r, b in zip(rows[key], rows.get(base_key, []))
            if b["p99_us"]
        ]
        if multiples:
            print(f"- {op}: {med(multiples):.2f}x")


if __name__ == "__main__":
    main()
