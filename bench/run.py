"""The benchmark harness: every scenario of docs/performance.md, side by side with the
null relay, printing its figures and writing them all as JSON.

    .venv/bin/python -m bench.run all --quick          # under a minute: the smoke run
    .venv/bin/python -m bench.run relay idle --out docs/performance.json

Scenarios: ``relay`` (relay and store against the null relay, stepped rates, 256 B and
2 KiB), ``idle`` (memory per open client connection), ``storm`` (reconnect storm),
``surge`` (queue surge), ``widget`` (gzipped widget weight). The server under test runs
on core 0, this process (the load) on core 1.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

from bench import harness as h
from bench import scenarios
from bench.harness import Config, Json

SCENARIOS = ("relay", "idle", "storm", "surge", "widget")


async def run(names: Sequence[str], config: Config, workdir: Path) -> Json:
    result: Json = {
        "machine": h.machine(),
        "config": asdict(config),
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "scenarios": {},
    }
    for name in names:
        h.say(f"== {name}")
        began = time.perf_counter()
        try:
            figures: Json = await getattr(scenarios, name)(config, workdir / name)
        except Exception as exc:  # one broken scenario must not lose the others' figures
            h.say(f"{name} failed: {exc!r}")
            for log in sorted((workdir / name).rglob("server.log")):
                h.say(f"-- {log.relative_to(workdir)}, its end:\n{log.read_text()[-3000:]}")
            figures = {"error": repr(exc)}
        figures["seconds"] = round(time.perf_counter() - began, 1)
        result["scenarios"][name] = figures
    return result


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scenario", nargs="*", default=["all"], help=f"all or {SCENARIOS}")
    parser.add_argument("--quick", action="store_true", help="the smoke run (under a minute)")
    parser.add_argument("--out", default="bench-results.json", help="JSON file to write")
    parser.add_argument("--rounds", type=int, help="alternating rounds per pair")
    parser.add_argument("--pairs", type=int, help="client-counsellor pairs (relay)")
    parser.add_argument("--step-seconds", type=float, help="length of one measured step")
    parser.add_argument("--rates", help="comma-separated total message rates (relay)")
    parser.add_argument("--sizes", help="comma-separated message sizes in bytes (relay)")
    parser.add_argument("--charts", help="write PNG charts into this folder")
    parser.add_argument("--profile", help="profile the chat server with pyinstrument into FILE")
    parser.add_argument(
        "--peers",
        help="comma-separated peers beside the chat server: null-relay, nginx-nchan, prosody "
        "(with mod_mam), prosody-no-archive (default: all but the last)",
    )
    parser.add_argument(
        "--direction", choices=("both", "client", "team"), help="relay: who sends (default both)"
    )
    parser.add_argument(
        "--before",
        help="also run the chat server found in this checkout (e.g. `git worktree add DIR "
        "HEAD`) as chatserver-before, for before/after figures in one run",
    )
    args = parser.parse_args(argv)
    names = list(SCENARIOS) if "all" in args.scenario else args.scenario
    unknown = set(names) - set(SCENARIOS)
    if unknown:
        parser.error(f"unknown scenario(s): {', '.join(sorted(unknown))}")
    config = Config.quick() if args.quick else Config()
    for option in ("rounds", "pairs", "step_seconds", "direction"):
        if getattr(args, option) is not None:
            setattr(config, option, getattr(args, option))
    if args.profile:
        config.profile = str(Path(args.profile).resolve())
    if args.before:
        config.before = str(Path(args.before).resolve())
    if args.peers is not None:
        config.peers = [p for p in args.peers.split(",") if p]
    if args.sizes:
        config.sizes = [int(x) for x in args.sizes.split(",")]
    if args.rates:
        config.rates = [int(r) for r in args.rates.split(",")]
    h.pin_load()
    with tempfile.TemporaryDirectory(prefix="chat-bench-") as tmp:
        result = asyncio.run(run(names, config, Path(tmp)))
    result["quick"] = args.quick
    h.write_json(Path(args.out), result)
    h.say(f"wrote {args.out}")
    if args.charts:
        with contextlib.suppress(ImportError):
            from bench import charts

            for path in charts.draw(result, Path(args.charts)):
                h.say(f"chart {path}")


if __name__ == "__main__":
    main()
