"""What every benchmark scenario shares: pinning, processes, /proc readings, open-loop
schedules, HdrHistogram percentiles, medians and the JSON record.

The server under test runs on core 0 (``taskset -c 0``) and the load on core 1, so
that the server's CPU time per message is its own. Latency is measured from the time a
message was *scheduled* to be sent (open loop), not from when a busy sender got round to
it, so a stalled server cannot hide its stall by slowing the load (coordinated omission).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import platform
import resource
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hdrh.histogram import HdrHistogram  # type: ignore[import-untyped]

SERVER_CORE = 0
LOAD_CORE = 1
TICK = os.sysconf("SC_CLK_TCK")
REPO = Path(__file__).resolve().parent.parent
PYTHON = sys.executable

Json = dict[str, Any]


# --------------------------------------------------------------------------- machine
def pin_load() -> None:
    """Run this (load) process on the load core and allow many open sockets."""
    if len(os.sched_getaffinity(0)) > 1 and os.cpu_count() and (os.cpu_count() or 1) > 1:
        os.sched_setaffinity(0, {LOAD_CORE})
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def server_prefix() -> list[str]:
    """``taskset -c 0`` when there is a second core for the load, else nothing."""
    if (os.cpu_count() or 1) > 1 and shutil.which("taskset"):
        return ["taskset", "-c", str(SERVER_CORE)]
    return []


def machine() -> Json:
    """What the figures were measured on."""
    model = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    mem_kib = 0
    with contextlib.suppress(OSError, ValueError):
        mem_kib = int(Path("/proc/meminfo").read_text().split()[1])
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "memory_gib": round(mem_kib / 2**20, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "server_core": SERVER_CORE,
        "load_core": LOAD_CORE,
        "pinned": bool(server_prefix()),
    }


# --------------------------------------------------------------------------- /proc
def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process (all its threads), from /proc/PID/stat."""
    raw = Path(f"/proc/{pid}/stat").read_text()
    fields = raw[raw.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def pss_bytes(pid: int) -> int:
    """Proportional set size of a process, from /proc/PID/smaps_rollup."""
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no Pss in /proc/{pid}/smaps_rollup")


def slope(xs: Sequence[float], ys: Sequence[float]) -> float:
    """Least-squares slope of ys against xs."""
    if len(set(xs)) < 2:
        return float("nan")
    return statistics.linear_regression(xs, ys).slope


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def clean(data: Any) -> Any:
    """JSON-ready: NaN and infinity (a figure that could not be measured) become null."""
    if isinstance(data, float) and (data != data or data in (float("inf"), float("-inf"))):
        return None
    if isinstance(data, dict):
        return {str(k): clean(v) for k, v in data.items()}
    if isinstance(data, (list, tuple)):
        return [clean(v) for v in data]
    return data


# --------------------------------------------------------------------------- latency
class Latency:
    """An HdrHistogram of microseconds, 1 µs to 100 s, three significant digits."""

    def __init__(self) -> None:
        self.hist = HdrHistogram(1, 100_000_000, 3)

    def record_ns(self, ns: int) -> None:
        self.hist.record_value(max(1, ns // 1000))

    @property
    def count(self) -> int:
        return int(self.hist.get_total_count())

    def summary(self) -> Json:
        """Percentiles in milliseconds."""
        h = self.hist
        if not self.count:
            return {"count": 0}
        return {
            "count": self.count,
            "p50_ms": h.get_value_at_percentile(50) / 1000,
            "p90_ms": h.get_value_at_percentile(90) / 1000,
            "p99_ms": h.get_value_at_percentile(99) / 1000,
            "p999_ms": h.get_value_at_percentile(99.9) / 1000,
            "max_ms": h.get_max_value() / 1000,
        }


async def open_loop(count: int, rate: float, fire: Any) -> None:
    """Call ``fire(k, due_ns)`` for k = 0..count-1 at ``rate`` per second, on a fixed
    schedule: a late wake-up sends everything that is due, never shifts the schedule."""
    start = time.perf_counter_ns()
    step = 1e9 / rate
    k = 0
    while k < count:
        now = time.perf_counter_ns()
        while k < count and start + k * step <= now:
            fire(k, int(start + k * step))
            k += 1
        if k < count:
            await asyncio.sleep(max(0.0, (start + k * step - time.perf_counter_ns()) / 1e9))


class LoadMeter:
    """CPU share of this (load) process over an interval: near 1.0 means the load, not
    the server, was the limit, and the figures of that interval say so."""

    def __init__(self) -> None:
        self.cpu = time.process_time()
        self.wall = time.perf_counter()

    def share(self) -> float:
        return (time.process_time() - self.cpu) / max(1e-9, time.perf_counter() - self.wall)


# --------------------------------------------------------------------------- processes
@dataclass
class Proc:
    """A server process started by the harness, pinned to the server core."""

    name: str
    process: asyncio.subprocess.Process
    port: int
    log: Path
    pids: list[int] = field(default_factory=list)

    @property
    def pid(self) -> int:
        """The process whose CPU and memory are measured (the server's main process)."""
        return self.pids[0] if self.pids else self.process.pid

    def cpu(self) -> float:
        return sum(cpu_seconds(p) for p in self.all_pids())

    def pss(self) -> int:
        return sum(pss_bytes(p) for p in self.all_pids())

    def all_pids(self) -> list[int]:
        return self.pids or [self.process.pid]

    async def stop(self) -> None:
        if self.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.process.wait(), 15)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()


async def start_process(
    name: str,
    argv: list[str],
    ready: str,
    log: Path,
    *,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    port: int = 0,
    timeout: float = 30,
) -> Proc:
    """Start ``argv`` on the server core; wait for a stdout line starting with ``ready``
    (which may end in ``:PORT``, taking the port from it), or with ``ready`` empty until
    ``port`` accepts connections. Stderr goes to ``log``."""
    err = log.open("ab")
    process = await asyncio.create_subprocess_exec(
        *server_prefix(),
        *argv,
        stdout=asyncio.subprocess.PIPE,
        stderr=err,
        env={**os.environ, **(env or {})},
        cwd=cwd,
        preexec_fn=_die_with_parent,
    )
    err.close()
    assert process.stdout is not None
    try:
        async with asyncio.timeout(timeout):
            while not ready:
                if process.returncode is not None:
                    raise RuntimeError(f"{name} exited: {log.read_text()[-2000:]}")
                try:
                    _, writer = await asyncio.open_connection("127.0.0.1", port)
                except OSError:
                    await asyncio.sleep(0.05)
                    continue
                writer.close()
                break
            while ready:
                line = (await process.stdout.readline()).decode()
                if not line:
                    raise RuntimeError(f"{name} exited: {log.read_text()[-2000:]}")
                if line.startswith(ready):
                    if not port:
                        port = int(line.strip().rsplit(":", 1)[1])
                    break
    except BaseException:
        if process.returncode is None:
            process.kill()
        raise
    drain = asyncio.get_running_loop().create_task(_drain(process.stdout))
    _TASKS.add(drain)
    drain.add_done_callback(_TASKS.discard)
    return Proc(name, process, port, log)


_TASKS: set[asyncio.Task[None]] = set()


def _die_with_parent() -> None:
    """In the child: get SIGTERM when the harness dies, so no server outlives a run."""
    with contextlib.suppress(OSError, AttributeError):
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


async def _drain(stream: asyncio.StreamReader) -> None:
    while await stream.read(65536):
        pass


async def wait_port(port: int, timeout: float = 30) -> None:
    """Return once something accepts TCP connections on 127.0.0.1:port."""
    async with asyncio.timeout(timeout):
        while True:
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", port)
            except OSError:
                await asyncio.sleep(0.05)
                continue
            writer.close()
            return


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.asynccontextmanager
async def running(proc_factory: Any) -> AsyncIterator[Proc]:
    proc: Proc = await proc_factory()
    try:
        yield proc
    finally:
        await proc.stop()


# --------------------------------------------------------------------------- output
def write_json(path: Path, data: Json) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(clean(data), indent=1, sort_keys=True, allow_nan=False) + "\n")


def say(*parts: object) -> None:
    print(*parts, flush=True)


def subprocess_version(argv: list[str]) -> str:
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        out = subprocess.run(argv, capture_output=True, text=True, timeout=10)
        return (out.stdout or out.stderr).strip().splitlines()[0]
    return ""


@dataclass
class Config:
    """Sizes of one run; ``quick()`` is the smoke run the tests use."""

    pairs: int = 100
    sizes: list[int] = field(default_factory=lambda: [256, 2048])
    rates: list[int] = field(
        default_factory=lambda: [100, 200, 300, 400, 600, 800, 1000, 1500, 2000, 3000, 4000, 6000]
    )
    rounds: int = 5
    step_seconds: float = 2.0
    p99_limit_ms: float = 50.0
    idle_steps: list[int] = field(default_factory=lambda: [0, 2500, 5000, 7500, 10000])
    idle_rounds: int = 5
    storm_clients: int = 5000
    storm_messages: int = 3
    storm_team_size: int = 100
    surge_clients: int = 2000
    surge_seconds: float = 10.0
    surge_counsellors: int = 20
    surge_accepts_per_second: float = 1.0
    peers: list[str] = field(default_factory=lambda: ["null-relay", "nginx-nchan", "prosody"])
    profile: str = ""  # write a pyinstrument profile of the chat server here
    direction: str = "both"  # relay: "client" or "team" sends only one way
    #: Also run the chat server from this checkout, as "chatserver-before" (before/after
    #: figures of a change in one run: ``git worktree add DIR COMMIT``).
    before: str = ""

    @classmethod
    def quick(cls) -> Config:
        return cls(
            pairs=10,
            rates=[100, 200],
            rounds=2,
            step_seconds=0.4,
            idle_steps=[0, 100, 200],
            idle_rounds=1,
            storm_clients=100,
            storm_messages=2,
            storm_team_size=50,
            surge_clients=100,
            surge_seconds=2.0,
            surge_counsellors=3,
            surge_accepts_per_second=4.0,
        )
