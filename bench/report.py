"""Markdown tables of a harness run, for docs/performance.md.

.venv/bin/python -m bench.report docs/bench-results.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from bench.harness import Json


def _f(value: float | None, digits: int = 0) -> str:
    return "n/a" if value is None else f"{value:,.{digits}f}"


def relay_tables(result: Json) -> list[str]:
    out: list[str] = []
    relay = result["scenarios"].get("relay", {})
    limit = result["config"]["p99_limit_ms"]
    for size, figures in relay.get("sizes", {}).items():
        systems = figures["systems"]
        out.append(f"**{size} B messages**, {result['config']['pairs']} pairs\n")
        out.append(
            f"| system | highest rate with p99 <= {limit:.0f} ms | marginal CPU per message "
            "| delivered |"
        )
        out.append("| --- | --- | --- | --- |")
        for name, s in systems.items():
            bound = "at least " if s["limited_by_load"] else ""
            out.append(
                f"| {name} | {bound}{s['highest_rate_p99_ok']:,}/s "
                f"| {_f(s['marginal_cpu_us_per_msg'])} µs | {s['delivered']:,} of {s['sent']:,} |"
            )
        out.append("")
        rates = sorted({st["rate"] for s in systems.values() for st in s["steps"]})
        out.append("| rate/s | " + " | ".join(f"{n} p50 / p99, CPU/msg" for n in systems) + " |")
        out.append("| --- |" + " --- |" * len(systems))
        for rate in rates:
            cells = []
            for s in systems.values():
                step = next((st for st in s["steps"] if st["rate"] == rate), None)
                cells.append(
                    "-"
                    if step is None
                    else f"{_f(step['p50_ms'], 1)} / {_f(step['p99_ms'], 1)} ms, "
                    f"{_f(step['cpu_us_per_msg'])} µs"
                )
            out.append(f"| {rate:,} | " + " | ".join(cells) + " |")
        out.append("")
        if figures.get("ratios"):
            out.append("| rate/s | against | CPU per message, median ratio | p99, median ratio |")
            out.append("| --- | --- | --- | --- |")
            for r in figures["ratios"]:
                out.append(
                    f"| {r['rate']:,} | {r['peer']} | {_f(r['cpu_ratio'], 1)}x "
                    f"| {_f(r['p99_ratio'], 1)}x |"
                )
            out.append("")
    return out


def idle_table(result: Json) -> list[str]:
    idle = result["scenarios"].get("idle", {})
    if not idle.get("systems"):
        return []
    out = ["| system | bytes per idle connection (median slope) | rounds |", "| --- | --- | --- |"]
    for name, s in idle["systems"].items():
        each = ", ".join(_f(r["bytes_per_conn"] / 1000, 1) for r in s["rounds"])
        out.append(f"| {name} | {_f(s['bytes_per_conn'] / 1000, 1)} KB | {each} KB |")
    return [*out, ""]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results")
    result = json.loads(Path(parser.parse_args().results).read_text())
    print("\n".join(relay_tables(result) + idle_table(result)))
    for name in ("storm", "surge", "widget"):
        figures = result["scenarios"].get(name)
        if figures:
            print(f"{name}: {json.dumps(figures, indent=1)}")


if __name__ == "__main__":
    main()
