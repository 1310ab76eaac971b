"""PNG charts of a harness run (matplotlib, the ``bench`` extra): latency against rate
for each system and message size, memory against open connections.

    .venv/bin/python -m bench.charts docs/performance.json docs/
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from bench.harness import Json


def draw(result: Json, folder: Path) -> list[Path]:
    """Write the charts of ``result`` into ``folder``; return their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    relay = result["scenarios"].get("relay", {})
    limit = result["config"]["p99_limit_ms"]
    for size, figures in relay.get("sizes", {}).items():
        fig, ax = plt.subplots(figsize=(7, 4.2), dpi=100)
        for name, system in figures["systems"].items():
            rates = [s["rate"] for s in system["steps"]]
            line = ax.plot(rates, [s["p99_ms"] for s in system["steps"]], "o-", label=f"{name} p99")
            ax.plot(
                rates,
                [s["p50_ms"] for s in system["steps"]],
                "o--",
                color=line[0].get_color(),
                alpha=0.5,
                label=f"{name} p50",
            )
        ax.axhline(limit, color="grey", linewidth=0.8, linestyle=":")
        ax.set_yscale("log")
        ax.set_xlabel("messages per second (total, open loop)")
        ax.set_ylabel("send to delivery, ms (median of rounds)")
        ax.set_title(f"Relay, {size} B messages, {result['config']['pairs']} pairs")
        ax.legend(fontsize="small")
        ax.grid(True, which="both", alpha=0.3)
        path = folder / f"bench-relay-{size}.png"
        fig.tight_layout()
        fig.savefig(path)
        plt.close(fig)
        written.append(path)
    idle = result["scenarios"].get("idle", {})
    if idle.get("systems"):
        fig, ax = plt.subplots(figsize=(7, 4.2), dpi=100)
        for name, system in idle["systems"].items():
            color = None
            for rnd in system["rounds"]:
                xs = [p[0] for p in rnd["points"]]
                ys = [(p[1] - rnd["points"][0][1]) / 2**20 for p in rnd["points"]]
                line = ax.plot(xs, ys, "o-", alpha=0.6, color=color, label=None if color else name)
                color = line[0].get_color()
        ax.set_xlabel("open idle client connections")
        ax.set_ylabel("server PSS above its empty state, MiB")
        ax.set_title("Memory against connections (every round)")
        ax.legend(fontsize="small")
        ax.grid(True, alpha=0.3)
        path = folder / "bench-idle.png"
        fig.tight_layout()
        fig.savefig(path)
        plt.close(fig)
        written.append(path)
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", help="JSON written by bench.run")
    parser.add_argument("folder", help="where the PNG files go")
    args = parser.parse_args()
    for path in draw(json.loads(Path(args.results).read_text()), Path(args.folder)):
        print(path)


if __name__ == "__main__":
    main()
