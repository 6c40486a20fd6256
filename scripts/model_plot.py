"""The scale model's figure: efficiency against engines, one panel per
latency and dispatch, one line per chunk time, from `mcpi-model sweep` CSV.

    scripts/model-calibrate.sh plot SWEEP.csv OUT.png
"""

import csv
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def main(sweep: str, out: str) -> None:
    rows = list(csv.DictReader(open(sweep)))
    latencies = sorted({float(r["latency_s"]) for r in rows})
    dispatches = ["flat", "node"]
    chunk_times = sorted({float(r["chunk_s"]) for r in rows})
    fig, axes = plt.subplots(
        len(dispatches), len(latencies), figsize=(12, 7), sharex=True, sharey=True
    )
    for i, d in enumerate(dispatches):
        for j, lat in enumerate(latencies):
            ax = axes[i][j]
            for c in chunk_times:
                pts = sorted(
                    (int(r["engines"]), float(r["efficiency"]))
                    for r in rows
                    if r["dispatch"] == d
                    and float(r["latency_s"]) == lat
                    and float(r["chunk_s"]) == c
                )
                label = f"{c * 1e6:g} µs" if c < 1e-3 else f"{c * 1e3:g} ms"
                ax.plot(*zip(*pts), marker="o", ms=3, label=label)
            ax.set_xscale("log")
            ax.set_ylim(0, 1.05)
            ax.grid(alpha=0.3)
            ax.set_title(f"{d} dispatch, latency {lat * 1e6:g} µs", fontsize=10)
            if i == len(dispatches) - 1:
                ax.set_xlabel("engines")
            if j == 0:
                ax.set_ylabel("efficiency")
    axes[0][0].legend(title="chunk time", fontsize=8)
    fig.suptitle("mcpi scale model: predicted efficiency (window 4, 16 chunks per engine)")
    fig.tight_layout()
    fig.savefig(out, dpi=110)


if __name__ == "__main__":
    main(*sys.argv[1:])
