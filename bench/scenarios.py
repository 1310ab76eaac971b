"""The scenarios: each takes the run's config and a fresh folder, starts what it needs,
prints its figures and returns them (JSON-ready). Checks of correctness (nothing lost,
counts add up) are part of the figures; the tests assert them, never the timings."""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from websockets.exceptions import ConnectionClosed

from bench import widget_weight
from bench.harness import Config, Json, Latency, LoadMeter, median, open_loop, say, slope
from bench.systems import (
    KEY,
    TEAM,
    BenchClient,
    BenchConsole,
    ChatServer,
    Nchan,
    NullRelay,
    Pair,
    Prosody,
    Recorder,
    System,
    b64_body,
)
from chatserver.sdk.peers import b64

Frame = dict[str, Any]
#: Above this CPU share of its own core the load generator, not the server, is the limit.
LOAD_LIMIT = 0.9
#: A server using this share of its core is saturated; steps above it are not measured.
SATURATED = 0.9
#: A median p99 this high means the server is far behind; steps above it are not measured.
GIVE_UP_MS = 2000.0


def systems(config: Config, workdir: Path, counsellors: int) -> list[System]:
    server = ChatServer(workdir / "chatserver", counsellors)
    if config.profile:
        server.profile = Path(config.profile)
    found: list[System] = [server]
    if config.before:
        found.append(ChatServer(workdir / "chatserver-before", counsellors, code=before(config)))
    if "null-relay" in config.peers:
        found.append(NullRelay(workdir / "null-relay"))
    if "nginx-nchan" in config.peers and Nchan.available():
        found.append(Nchan(workdir / "nginx-nchan"))
    if "prosody" in config.peers and Prosody.available():
        found.append(Prosody(workdir / "prosody"))
    if "prosody-no-archive" in config.peers and Prosody.available():
        found.append(Prosody(workdir / "prosody-no-archive", archive=False))
    return found


def before(config: Config) -> Path:
    code = Path(config.before)
    if not (code / "chatserver" / "__init__.py").is_file():
        raise SystemExit(f"--before {code}: no chatserver package there")
    return code


async def gather_limited(jobs: list[Any], limit: int = 50) -> list[Any]:
    """Run coroutines with at most ``limit`` at a time, results in order."""
    gate = asyncio.Semaphore(limit)

    async def one(job: Any) -> Any:
        async with gate:
            return await job

    return list(await asyncio.gather(*(one(j) for j in jobs)))


# --------------------------------------------------------------------------- relay
class Switch:
    """Lets the sockets of a system report to the recorder of the current step."""

    def __init__(self, acks: bool) -> None:
        self.rec = Recorder(acks)
        self.steps = 0

    def next(self, acks: bool) -> Recorder:
        """A new recorder whose message ids differ from every earlier step's."""
        self.steps += 1
        self.rec = Recorder(acks, serial=self.steps)
        return self.rec

    def on_frame(self, frame: Frame) -> bool:
        return self.rec.on_frame(frame)


async def relay_step(
    system: System,
    pairs: list[Pair],
    switch: Switch,
    rate: int,
    seconds: float,
    size: int,
    direction: str = "both",
) -> Json:
    """One measured step: ``rate`` messages a second for ``seconds``, both directions
    (alternating), or only from the clients or only from the counsellors."""
    assert system.proc is not None
    rec = switch.next(system.stores)
    body = b64_body(size)
    n = len(pairs)
    count = max(1, int(rate * seconds))
    cpu0, load = system.proc.cpu(), LoadMeter()
    began = time.perf_counter()

    def fire(k: int, due_ns: int) -> None:
        from_client = (k // n) % 2 == 0 if direction == "both" else direction == "client"
        pairs[k % n].send(rec, k, due_ns, body, from_client=from_client)

    await open_loop(count, rate, fire)
    rec.all_sent()
    with _suppress_timeout():
        async with asyncio.timeout(max(5.0, 2 * seconds)):
            await rec.settled.wait()
    cpu = system.proc.cpu() - cpu0
    wall = time.perf_counter() - began
    delivered = rec.delivered.summary()
    if rec.in_flight:
        say(f"  {system.name}: {len(rec.in_flight)} lost: {sorted(rec.in_flight)[:5]}")
    return {
        "rate": rate,
        "strays": rec.strays,
        "sent": rec.sent,
        "delivered": rec.delivered.count,
        "lost": len(rec.in_flight),
        "unacked": len(rec.unacked),
        "errors": len(rec.errors),
        "latency": delivered,
        "ack_latency": rec.acked.summary(),
        "server_cpu_s": cpu,
        "server_cpu_share": cpu / wall,
        "cpu_us_per_msg": cpu / max(1, rec.delivered.count) * 1e6,
        "load_cpu_share": load.share(),
    }


class _suppress_timeout:
    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: object, exc: object, tb: object) -> bool:
        return kind is TimeoutError


async def relay(config: Config, workdir: Path) -> Json:
    """Relay and store against the null relay: stepped rates, alternating rounds."""
    out: Json = {"sizes": {}}
    counsellors = (config.pairs + 19) // 20
    found = systems(config, workdir, counsellors)
    for system in found:
        await system.prepare()
    for size in config.sizes:
        say(f"-- {size} B messages, {config.pairs} pairs")
        switches = {s.name: Switch(s.stores) for s in found}
        pairs: dict[str, list[Pair]] = {}
        steps: dict[str, list[list[Json]]] = {s.name: [] for s in found}
        held: dict[str, int] = {s.name: 0 for s in found}
        load_bound: dict[str, bool] = {s.name: False for s in found}
        ratios: list[Json] = []
        try:
            for system in found:
                await system.start()
                pairs[system.name] = await system.pairs(
                    config.pairs, switches[system.name].on_frame
                )
                # Warm up (imports, caches, the first commits); not recorded.
                await relay_step(
                    system,
                    pairs[system.name],
                    switches[system.name],
                    config.rates[0],
                    min(0.5, config.step_seconds),
                    size,
                )
            alive = [s for s in found]
            for rate in config.rates:
                if not alive:
                    break
                per_round: dict[str, list[Json]] = defaultdict(list)
                for r in range(config.rounds):
                    order = alive if r % 2 == 0 else alive[::-1]
                    for system in order:
                        step = await relay_step(
                            system,
                            pairs[system.name],
                            switches[system.name],
                            rate,
                            config.step_seconds,
                            size,
                            config.direction,
                        )
                        step["round"] = r
                        per_round[system.name].append(step)
                line = [f"{rate:>6}/s"]
                for system in list(alive):
                    rounds = per_round[system.name]
                    summary = summarise(rounds)
                    steps[system.name].append(rounds)
                    ok = (
                        summary["p99_ms"] <= config.p99_limit_ms
                        and summary["lost"] == 0
                        and summary["unacked"] == 0
                    )
                    if ok:
                        held[system.name] = rate
                    if summary["load_cpu_share"] > LOAD_LIMIT:
                        # The load's own core is full: a higher rate would measure the
                        # load generator, not the server.
                        load_bound[system.name] = ok
                        alive.remove(system)
                    elif (
                        summary["server_cpu_share"] > SATURATED
                        or summary["p99_ms"] > GIVE_UP_MS
                        or summary["lost"]
                    ):
                        # Saturated: a higher rate only queues more. (A p99 over the limit
                        # below saturation is this shared machine's noise; go on.)
                        alive.remove(system)
                    line.append(
                        f"{system.name}: p99 {summary['p99_ms']:7.1f} ms "
                        f"{summary['cpu_us_per_msg']:6.0f} us/msg"
                        f" (load {summary['load_cpu_share']:.0%})"
                        f"{'' if ok else ' (over)'}"
                    )
                a = per_round.get(found[0].name, [])
                for peer in found[1:]:
                    b = per_round.get(peer.name, [])
                    if a and b:  # the chat server against each peer, round by round
                        ratios.append(
                            {
                                "rate": rate,
                                "peer": peer.name,
                                "cpu_ratio": median_ratio(a, b, "cpu_us_per_msg"),
                                "p99_ratio": median_ratio(
                                    [x["latency"] for x in a], [y["latency"] for y in b], "p99_ms"
                                ),
                            }
                        )
                say("  ".join(line))
        finally:
            for system in found:
                await system.stop()
        figures: Json = {"systems": {}, "ratios": ratios}
        for system in found:
            rows = steps[system.name]
            flat = [step for rounds in rows for step in rounds]
            figures["systems"][system.name] = {
                "highest_rate_p99_ok": held[system.name],
                "limited_by_load": load_bound[system.name],
                "steps": [summarise(rounds) | {"rounds": rounds} for rounds in rows],
                "marginal_cpu_us_per_msg": slope(
                    [s["delivered"] for s in flat], [s["server_cpu_s"] for s in flat]
                )
                * 1e6,
                "lost": sum(s["lost"] for s in flat),
                "sent": sum(s["sent"] for s in flat),
                "delivered": sum(s["delivered"] for s in flat),
            }
        names = [s.name for s in found]
        ours = figures["systems"][names[0]]
        figures["vs"] = {
            name: {
                "marginal_cpu_ratio": _div(
                    ours["marginal_cpu_us_per_msg"],
                    figures["systems"][name]["marginal_cpu_us_per_msg"],
                ),
                "highest_rate_ratio": ours["highest_rate_p99_ok"]
                / max(1, figures["systems"][name]["highest_rate_p99_ok"]),
            }
            for name in names[1:]
        }
        for name in names:
            s = figures["systems"][name]
            say(
                f"{name}: highest rate with p99 <= {config.p99_limit_ms:.0f} ms: "
                f"{'at least ' if s['limited_by_load'] else ''}"
                f"{s['highest_rate_p99_ok']}/s; marginal CPU {s['marginal_cpu_us_per_msg']:.0f} "
                f"us/msg; {s['delivered']} of {s['sent']} delivered"
            )
        out["sizes"][str(size)] = figures
    return out


def _div(a: float, b: float) -> float | None:
    """a / b, or None when b is not a measured, non-zero figure (10 ms CPU ticks)."""
    return a / b if b and b == b else None


def median_ratio(a: list[Json], b: list[Json], key: str) -> float | None:
    """Median over rounds of a[i][key] / b[i][key] (rounds where both are measured)."""
    values = [x[key] / y[key] for x, y in zip(a, b, strict=False) if x.get(key) and y.get(key)]
    return median(values) if values else None


def summarise(rounds: list[Json]) -> Json:
    """Medians over the rounds of one step."""
    return {
        "rate": rounds[0]["rate"],
        "p50_ms": median([r["latency"].get("p50_ms", float("inf")) for r in rounds]),
        "p99_ms": median([r["latency"].get("p99_ms", float("inf")) for r in rounds]),
        "ack_p99_ms": median([r["ack_latency"].get("p99_ms", 0.0) for r in rounds]),
        "cpu_us_per_msg": median([r["cpu_us_per_msg"] for r in rounds]),
        "server_cpu_share": median([r["server_cpu_share"] for r in rounds]),
        "load_cpu_share": median([r["load_cpu_share"] for r in rounds]),
        "lost": sum(r["lost"] for r in rounds),
        "unacked": sum(r["unacked"] for r in rounds),
    }


# --------------------------------------------------------------------------- idle
async def idle(config: Config, workdir: Path) -> Json:
    """Memory per open, idle client connection: the slope of PSS against connections."""
    found = systems(config, workdir, 0)
    for system in found:
        await system.prepare()
    per: dict[str, list[Json]] = defaultdict(list)
    for r in range(config.idle_rounds):
        order = found if r % 2 == 0 else found[::-1]
        for system in order:
            proc = await system.start()
            points: list[tuple[int, int]] = []
            try:
                opened = 0
                for target in config.idle_steps:
                    await gather_limited([system.idle(1) for _ in range(target - opened)])
                    opened = target
                    points.append((opened, proc.pss()))
            finally:
                await system.stop()
            per_conn = slope([p[0] for p in points], [p[1] for p in points])
            per[system.name].append({"round": r, "points": points, "bytes_per_conn": per_conn})
    figures: Json = {"systems": {}}
    for system in found:
        rounds = per[system.name]
        figures["systems"][system.name] = {
            "bytes_per_conn": median([x["bytes_per_conn"] for x in rounds]),
            "connections": config.idle_steps[-1],
            "rounds": rounds,
        }
    names = [s.name for s in found]
    figures["vs"] = {
        name: median_ratio(per[names[0]], per[name], "bytes_per_conn") for name in names[1:]
    }
    for name in names:
        say(
            f"{name}: {figures['systems'][name]['bytes_per_conn'] / 1000:.1f} KB per idle "
            f"connection (median of {config.idle_rounds} rounds, up to "
            f"{config.idle_steps[-1]} connections)"
        )
    return figures


# --------------------------------------------------------------------------- storm
async def storm(config: Config, workdir: Path) -> Json:
    figures = await _storm(config, workdir / "chatserver", None)
    if config.before:  # the same, with the other checkout's server, in the same run
        figures["before"] = await _storm(config, workdir / "chatserver-before", before(config))
    return figures


async def _storm(config: Config, workdir: Path, code: Path | None) -> Json:
    """Reconnect storm: clients with stored messages all drop at once and resume at once;
    the time until every one has every message back."""
    n, m = config.storm_clients, config.storm_messages
    teams = max(1, n // config.storm_team_size)
    server = ChatServer(workdir, 0, teams=teams, code=code)
    if config.profile and code is None:
        server.profile = Path(config.profile)
    await server.prepare()
    proc = await server.start()
    try:
        body = b"\x01" * 256

        async def one(i: int) -> tuple[str, str, list[str]]:
            client = await BenchClient.connect(server.base, origin=server.origin)
            started = await client.start(server.team_slug(i % teams), KEY)
            ids = [f"s{i}m{j}" for j in range(m)]
            for j, id in enumerate(ids):
                await client.send(id, body, n=j)
            client.ws.transport.abort()  # a dropped network: no closing handshake
            return started["conversation"], started["token"], ids

        made = await gather_limited([one(i) for i in range(n)])
        cpu0 = proc.cpu()
        caught = Latency()
        retries = 0
        lost = 0
        began = time.perf_counter_ns()

        async def back(conversation: str, token: str, ids: list[str]) -> None:
            nonlocal retries, lost
            while True:
                try:
                    client = await BenchClient.connect(server.base, origin=server.origin)
                    break
                except Exception:  # refused, reset, timed out: try again, as the widget does
                    retries += 1
                    if retries > 50 * n:
                        raise
                    await asyncio.sleep(random.uniform(0.2, 1.0))
            try:
                await client.send_frame(
                    {"type": "resume", "conversation": conversation, "token": token, "last_seq": 0}
                )
                resumed = await client.next("resumed", timeout=120)
                got: set[str] = set()
                seqs: set[int] = set()
                while len(seqs) < resumed["last_seq"]:
                    frame = await client.next("message", timeout=60)
                    seqs.add(frame["seq"])
                    got.add(frame["id"])
                caught.record_ns(time.perf_counter_ns() - began)
                lost += len(set(ids) - got)
            finally:
                await client.close()

        await asyncio.gather(*(back(*x) for x in made))
        wall = (time.perf_counter_ns() - began) / 1e9
        cpu = proc.cpu() - cpu0
    finally:
        await server.stop()
    figures: Json = {
        "clients": n,
        "messages_each": m,
        "teams": teams,
        "caught_up": caught.count,
        "lost": lost,
        "seconds_all_caught_up": wall,
        "catch_up": caught.summary(),
        "connect_retries": retries,
        "server_cpu_s": cpu,
    }
    say(
        f"{server.name}: {n} clients resumed at once: all {caught.count} caught up in {wall:.2f} s "
        f"(p50 {figures['catch_up'].get('p50_ms', 0):.0f} ms), {lost} messages lost, "
        f"{retries} connect retries, server CPU {cpu:.2f} s"
    )
    return figures


# --------------------------------------------------------------------------- surge
async def surge(config: Config, workdir: Path) -> Json:
    figures = await _surge(config, workdir / "chatserver", None)
    if config.before:  # the same, with the other checkout's server, in the same run
        figures["before"] = await _surge(config, workdir / "chatserver-before", before(config))
    return figures


async def _surge(config: Config, workdir: Path, code: Path | None) -> Json:
    """Queue surge: many clients start within seconds while counsellors accept; how fast
    the queue's changes reach every console, and whether every start is accounted for."""
    n, c = config.surge_clients, config.surge_counsellors
    server = ChatServer(workdir, c, code=code)
    if config.profile and code is None:
        server.profile = Path(config.profile)
    await server.prepare()
    proc = await server.start()
    queued_at: dict[str, list[int]] = defaultdict(list)
    dequeued_at: dict[str, list[int]] = defaultdict(list)
    accept_sent: dict[str, int] = {}
    started_due: dict[str, int] = {}
    start_latency = Latency()
    accept_latency = Latency()
    positions = 0
    accepted: list[str] = []
    dropped_clients: list[int | None] = []
    dropped_consoles: list[int | None] = []
    try:
        consoles = [await server.console(j) for j in range(c)]
        waiting: list[list[str]] = [[] for _ in range(c)]
        queued_seen: list[set[str]] = [set() for _ in range(c)]
        dequeued_seen: list[set[str]] = [set() for _ in range(c)]

        def live() -> list[int]:
            return [j for j, x in enumerate(consoles) if x.close_code is None]

        def complete() -> tuple[bool, bool]:
            starts, accepts = set(started_due), set(accepted)
            return (
                all(starts <= queued_seen[j] for j in live()),
                all(accepts <= dequeued_seen[j] for j in live()),
            )

        def watcher(j: int) -> Any:
            def on_frame(frame: Frame) -> bool:
                kind = frame["type"]
                if kind == "queued":
                    conv = frame["item"]["conversation"]
                    queued_at[conv].append(time.perf_counter_ns())
                    queued_seen[j].add(conv)
                    waiting[j].append(conv)
                elif kind == "dequeued":
                    conv = frame["conversation"]
                    dequeued_at[conv].append(time.perf_counter_ns())
                    dequeued_seen[j].add(conv)
                    if conv in waiting[j]:
                        waiting[j].remove(conv)
                else:
                    return kind in ("presence", "state", "released")
                return True

            return on_frame

        for j, console in enumerate(consoles):
            await console.next("queue")
            console.on_frame = watcher(j)
            await console.availability("available")
        clients = await gather_limited([server.client() for _ in range(n)])

        def count_position(frame: Frame) -> bool:
            nonlocal positions
            if frame["type"] == "position":
                positions += 1
                return True
            return False

        for client in clients:
            client.on_frame = count_position
        cpu0 = proc.cpu()
        began = time.perf_counter()
        arrivals_over = asyncio.Event()

        async def start(client: BenchClient, due: int) -> None:
            await client.send_frame(
                {"type": "start", "team": TEAM, "client_key": b64(KEY), "consent": "v1"}
            )
            try:
                started = await client.next("started", timeout=120)
            except (ConnectionError, TimeoutError):
                dropped_clients.append(client.close_code)  # the server dropped it
                return
            start_latency.record_ns(time.perf_counter_ns() - due)
            started_due[started["conversation"]] = due

        tasks: list[asyncio.Task[None]] = []

        def fire(k: int, due: int) -> None:
            tasks.append(asyncio.get_running_loop().create_task(start(clients[k], due)))

        async def counsellor(j: int, console: BenchConsole) -> None:
            interval = 1 / config.surge_accepts_per_second
            tried: set[str] = set()
            next_at = time.perf_counter() + random.uniform(0, interval)
            while not arrivals_over.is_set():
                await asyncio.sleep(max(0.0, next_at - time.perf_counter()))
                next_at += interval
                todo = [w for w in waiting[j] if w not in tried]
                if not todo:
                    continue
                conv = todo[0]
                tried.add(conv)
                accept_sent.setdefault(conv, time.perf_counter_ns())
                sent = time.perf_counter_ns()
                try:
                    await console.send_frame({"type": "accept", "conversation": conv})
                    reply = await console.next("assigned", "error", errors=False, timeout=60)
                except (ConnectionError, TimeoutError, ConnectionClosed):
                    dropped_consoles.append(console.close_code)
                    return
                if reply["type"] == "assigned":
                    accept_latency.record_ns(time.perf_counter_ns() - sent)
                    accepted.append(conv)
                    with contextlib.suppress(ConnectionClosed):
                        await console.send_frame(
                            {"type": "close", "conversation": conv, "category": "advice"}
                        )

        workers = [asyncio.create_task(counsellor(j, x)) for j, x in enumerate(consoles)]
        await open_loop(n, n / config.surge_seconds, fire)
        await asyncio.gather(*tasks)
        arrivals_over.set()
        await asyncio.gather(*workers)
        # Every console must see every start, and a dequeue for every accept: wait (at
        # most a minute) for the last of the fan-out.
        deadline = time.perf_counter() + 60
        while time.perf_counter() < deadline and not all(complete()):
            await asyncio.sleep(0.05)
        saw_starts, saw_accepts = complete()
        live_consoles = len(live())
        wall = time.perf_counter() - began
        cpu = proc.cpu() - cpu0
    finally:
        await server.stop()
    queued_latency = Latency()
    for conv, due in started_due.items():
        for t in queued_at[conv]:
            queued_latency.record_ns(t - due)
    dequeued_latency = Latency()
    for conv in accepted:
        for t in dequeued_at[conv]:
            dequeued_latency.record_ns(t - accept_sent[conv])
    still_waiting = len(started_due) - len(accepted)
    figures: Json = {
        "clients": n,
        "arrival_seconds": config.surge_seconds,
        "counsellors": c,
        "started": len(started_due),
        "accepted": len(accepted),
        "still_waiting": still_waiting,
        "every_console_saw_every_start": saw_starts,
        "every_console_saw_every_accept": saw_accepts,
        "dropped_clients": len(dropped_clients),
        "dropped_consoles": len(dropped_consoles),
        "close_codes": sorted({str(x) for x in dropped_clients + dropped_consoles}),
        "consoles_connected_at_end": live_consoles,
        "start_latency": start_latency.summary(),
        "queued_latency": queued_latency.summary(),
        "dequeued_latency": dequeued_latency.summary(),
        "accept_latency": accept_latency.summary(),
        "position_frames": positions,
        "server_cpu_s": cpu,
        "wall_s": wall,
    }
    say(
        f"{server.name}: {n} starts in {config.surge_seconds:.0f} s with {c} counsellors: "
        f"started p99 {figures['start_latency'].get('p99_ms', 0):.0f} ms, queued at every "
        f"console p99 {figures['queued_latency'].get('p99_ms', 0):.0f} ms, dequeued p99 "
        f"{figures['dequeued_latency'].get('p99_ms', 0):.0f} ms, {len(accepted)} accepted, "
        f"{positions} position frames, server CPU {cpu:.1f} s"
    )
    return figures


# --------------------------------------------------------------------------- widget
async def widget(config: Config, workdir: Path) -> Json:
    """The widget's gzipped weight against its budgets (bench/widget_weight.py)."""
    rows = {"loader": ["loader.js"], "chat page": widget_weight.page_files()}
    figures: Json = {}
    for label, files in rows.items():
        sizes = {name: widget_weight.gz(name) for name in files}
        total = sum(sizes.values())
        budget = widget_weight.BUDGETS[label]
        figures[label] = {"files": sizes, "gzipped": total, "budget": budget}
        say(f"{label}: {total} B gzipped of {budget} B ({100 * total / budget:.0f} %)")
    return figures


__all__ = ["idle", "relay", "storm", "surge", "widget"]
