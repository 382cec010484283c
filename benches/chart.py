#!/usr/bin/env python3
"""Throughput vs concurrency from `steward bench --json` output.

Usage:
    python3 benches/chart.py results.json benches/throughput.png

One panel per protocol: the no-op baseline as a dashed line and each Steward
operation measured against it, so the gap between them is what Steward costs.
Needs matplotlib (`python3 -m venv .venv && .venv/bin/pip install matplotlib`).
"""

import json
import sys
from collections import defaultdict


def load(path):
    with open(path, encoding="utf-8") as f:
        records = json.load(f)
    if not isinstance(records, list) or not records:
        raise SystemExit(f"{path}: expected a non-empty JSON array of bench records")
    return records


def series(records):
    """{protocol: {op: [(concurrency, req/s), ...]}} in concurrency order."""
    out = defaultdict(lambda: defaultdict(list))
    for r in records:
        if r.get("errors", 0):
            continue  # a failed measurement is not a point on the curve
        out[r["protocol"]][r["op"]].append((r["concurrency"], r["throughput_rps"]))
    for ops in out.values():
        for points in ops.values():
            points.sort()
    return out


def main():
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    source, target = sys.argv[1], sys.argv[2]
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    data = series(load(source))
    protocols = [p for p in ("grpc", "http") if p in data]
    fig, axes = plt.subplots(1, len(protocols), figsize=(6.5 * len(protocols), 4.8), squeeze=False)
    for ax, protocol in zip(axes[0], protocols):
        for op, points in sorted(data[protocol].items(), key=lambda kv: (not kv[0].endswith("noop"), kv[0])):
            xs = [c for c, _ in points]
            ys = [t for _, t in points]
            baseline = op.endswith("noop")
            ax.plot(
                xs,
                ys,
                linestyle="--" if baseline else "-",
                linewidth=2.4 if baseline else 1.6,
                color="black" if baseline else None,
                marker="o",
                markersize=3.5,
                label=f"{op} (baseline)" if baseline else op,
            )
        ax.set_xscale("log", base=2)
        ax.set_xlabel("concurrent requests")
        ax.set_ylabel("successful requests / s")
        ax.set_title(f"{protocol.upper()}: Steward vs a no-op server")
        ax.grid(True, which="both", alpha=0.3)
        ax.set_ylim(bottom=0)
        ax.legend(fontsize=8, loc="best", framealpha=0.85)
    fig.suptitle("steward bench: throughput vs concurrency (2 cores, tool and server on one box)")
    fig.tight_layout()
    fig.savefig(target, dpi=110)
    print(f"wrote {target}")


if __name__ == "__main__":
    main()
