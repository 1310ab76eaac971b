"""A retention sweep of a large SQLite database while a live conversation runs, in one run.

Builds a SQLite database through the real schema (``chatserver migrate``) and keystore:
N closed conversations whose messages are past due (default 20,000 conversations with
1,000,000 messages), each with a real storage key in the keystore and message bodies the
size end-to-end ciphertext has (12-byte nonce, a 256-byte padding bucket or more, 16-byte
tag), sealed under that key as the server seals them. Then starts a real server process
(``chatserver serve``) and a live conversation on it with the SDK: a client and a console
sending at a fixed open-loop rate, each message timed from its scheduled send to its ack
(which comes after the commit). The timeline is idle, sweep, idle: the sweep is the
server's own scheduler (the default on SQLite), or with ``--in process`` a ``chatserver
retention run`` process beside it, so the live p99 during the sweep is compared with the
idle p99 of the same run.

Prints the figures and writes them as JSON (``--json``). Goals (issue 8): the sweep under
60 s, and live p99 during the sweep at most twice the idle p99.

    .venv/bin/python bench/sweep.py                 # 1,000,000 messages (about 5 minutes)
    .venv/bin/python bench/sweep.py --quick         # 20,000 messages (well under a minute)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import secrets
import shutil
import sqlite3
import sys
import tempfile
import time
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, func, insert, select

from chatserver.config import default_keystore_url, load_settings
from chatserver.ops import cli
from chatserver.protocol.lifecycle import State
from chatserver.records.retention import due_values
from chatserver.retention_rules import Rules
from chatserver.sdk.peers import ClientPeer, ConsolePeer, b64, login
from chatserver.storage import models as m
from chatserver.storage.db import Database, migrate, sqlite_path
from chatserver.storage.keystore import (
    conversation_key_id,
    message_place,
    seal,
    storage_keys,
)

ORIGIN = "http://bench.test"
PASSWORD = "correct horse battery staple"
DAY_MS = 86_400_000
_SCRIPT = Path(sys.executable).with_name("chatserver")
COMMAND = [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-m", "chatserver.ops.cli"]


# ------------------------------------------------------------------------------ the data
def body_size(rng: random.Random) -> int:
    """An E2E message body: nonce, padded plaintext (256-byte buckets), tag. Most chat
    lines fit the first bucket; some take two to four."""
    buckets = rng.choices((1, 2, 3, 4), weights=(85, 11, 3, 1))[0]
    return 12 + 256 * buckets + 16


def build(url: str, conversations: int, per: int, seed: int) -> dict[str, Any]:
    """Migrate, add a team and a counsellor, and bulk-load closed conversations whose
    messages are due now (their records are not: metadata stays 90 days)."""
    migrate(url)
    settings = load_settings(environ={}, database_url=url, public_origin=ORIGIN)

    async def accounts() -> str:
        db = Database(url, pool_size=2)
        try:
            await cli.team_add(db, "bench", "Bench", [])
            staff_id, _ = await cli.user_add(
                db, settings, "anna", "Anna", "counsellor", ["bench"], PASSWORD, totp=False
            )
            return staff_id
        finally:
            await db.dispose()

    staff_id = asyncio.run(accounts())
    rng = random.Random(seed)
    plain = rng.randbytes(4096)
    effective = Rules.from_settings("", "", "").effective({})
    now = int(time.time() * 1000)
    path, keys_path = sqlite_path(url), sqlite_path(default_keystore_url(url))
    assert path is not None and keys_path is not None
    main = create_engine(f"sqlite:///{path}")
    keys = create_engine(f"sqlite:///{keys_path}")
    started = time.perf_counter()
    with main.begin() as conn, keys.begin() as kconn:
        conn.exec_driver_sql("PRAGMA synchronous=OFF")
        team_id = conn.execute(select(m.teams.c.id)).scalar_one()
        storage_keys.metadata.create_all(kconn)
        # Conversations run 200 at a time, one group after the other, so each page of
        # messages holds several of them (as on a real day); they ended between 7 and 3
        # days ago, and the sweep meets them roughly in the order they were written.
        for block in range(0, conversations, 200):
            opened = now - 7 * DAY_MS + 4 * DAY_MS * block // conversations
            convs, facts, key_rows, rows = [], [], [], []
            ids = [cli_id() for _ in range(block, min(block + 200, conversations))]
            keyring: dict[str, bytes] = {}
            times: dict[str, tuple[int, int]] = {}
            for cid in ids:
                created = opened + rng.randrange(600_000)
                accepted = created + rng.randrange(1, 600_000)
                closed = accepted + per * rng.randrange(5_000, 60_000)
                dues = due_values(State.CLOSED, closed, closed, effective)
                convs.append(
                    {
                        "id": cid,
                        "team_id": team_id,
                        "state": State.CLOSED.value,
                        "token_hash": secrets.token_hex(32),
                        "client_key": b"\x04" + rng.randbytes(64),
                        "consent_version": "v1",
                        "counsellor_id": staff_id,
                        "last_seq": per,
                        "created_at": created,
                        "queued_at": created,
                        "accepted_at": accepted,
                        "closed_at": closed,
                        "last_activity_at": closed,
                        "transfers": 0,
                        "stats_at": closed,
                        **dues,
                    }
                )
                facts.append(
                    {
                        "team_id": team_id,
                        "day": time.strftime("%Y-%m-%d", time.gmtime(created / 1000)),
                        "outcome": State.CLOSED.value,
                        "accepted": 1,
                        "waited_ms": accepted - created,
                        "duration_ms": closed - accepted,
                        "transfers": 0,
                    }
                )
                times[cid] = (accepted, (closed - accepted) // per)
                keyring[cid] = os.urandom(32)
                key_rows.append(
                    {"id": conversation_key_id(cid), "key": keyring[cid], "created_at": created}
                )
            for n in range(per):  # round-robin: the conversations' messages interleave
                for cid in ids:
                    sender = "client" if n % 2 == 0 else "team"
                    msg_id = f"m{n}"
                    size = body_size(rng)
                    offset = rng.randrange(4096 - size)
                    rows.append(
                        {
                            "conversation_id": cid,
                            "seq": n + 1,
                            "sender": sender,
                            "author_id": staff_id if sender == "team" else None,
                            "client_msg_id": msg_id,
                            "kind": "msg",
                            "gen": 0,
                            "n": n // 2,
                            "body": seal(
                                keyring[cid],
                                conversation_key_id(cid),
                                message_place(sender, msg_id),
                                plain[offset : offset + size],
                            ),
                            "created_at": times[cid][0] + n * times[cid][1],
                        }
                    )
            conn.execute(insert(m.conversations), convs)
            conn.execute(insert(m.stat_facts), facts)
            conn.execute(insert(m.messages), rows)
            kconn.execute(insert(storage_keys), key_rows)
    for engine in (main, keys):
        engine.dispose()
    with closing(sqlite3.connect(path)) as raw:  # start from a checkpointed, empty WAL
        raw.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return {
        "load_seconds": round(time.perf_counter() - started, 1),
        "database_mib": round(path.stat().st_size / 2**20, 1),
    }


def cli_id() -> str:
    from chatserver.chat.service import new_conversation_id

    return new_conversation_id()


def db_file(url: str) -> Path:
    path = sqlite_path(url)
    assert path is not None
    return path


def counts(url: str) -> dict[str, Any]:
    """Messages that are due and still stored, storage keys that still exist, free pages
    and the size of the database file."""
    path, keys_path = db_file(url), db_file(default_keystore_url(url))
    now = int(time.time() * 1000)
    c = m.conversations.c
    engine = create_engine(f"sqlite:///{path}")
    try:
        with engine.connect() as conn:
            due = conn.execute(
                select(func.count())
                .select_from(m.messages.join(m.conversations))
                .where(c.state == State.CLOSED.value, c.messages_due_at <= now)
            ).scalar_one()
            total = conn.execute(select(func.count()).select_from(m.messages)).scalar_one()
    finally:
        engine.dispose()
    with closing(sqlite3.connect(keys_path)) as raw:
        (keys,) = raw.execute("SELECT count(*) FROM storage_keys").fetchone()
    with closing(sqlite3.connect(path)) as raw:
        (free,) = raw.execute("PRAGMA freelist_count").fetchone()
    return {
        "due_messages": int(due),
        "messages": int(total),
        "storage_keys": int(keys),
        "free_pages": int(free),
        "database_mib": round(path.stat().st_size / 2**20, 1),
    }


# ------------------------------------------------------------------------------ processes
def environment(url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHAT_")}
    env.update(
        CHAT_DATABASE_URL=url,
        CHAT_PUBLIC_ORIGIN=ORIGIN,
        CHAT_HOST="127.0.0.1",
        CHAT_PORT="0",
        CHAT_LOG_LEVEL="warning",
        CHAT_REQUIRE_TOTP="false",
        CHAT_COOKIE_SECURE="false",
        CHAT_RETENTION_IN_PROCESS="false",  # the sweep runs where the benchmark says
        CHAT_FRAME_RATE="1000",
        CHAT_FRAME_BURST="1000",
    )
    env.update(extra)
    return env


async def start_server(url: str, **env: str) -> tuple[asyncio.subprocess.Process, str]:
    """``chatserver serve``; its log goes to ``server.log`` beside the database."""
    with open(db_file(url).with_name("server.log"), "ab") as server_log:
        proc = await asyncio.create_subprocess_exec(
            *COMMAND,
            "serve",
            env=environment(url, CHAT_LOG_LEVEL="info", **env),
            stdout=asyncio.subprocess.PIPE,
            stderr=server_log,
        )
    assert proc.stdout is not None
    async with asyncio.timeout(60):
        while True:
            line = (await proc.stdout.readline()).decode()
            if not line:
                raise RuntimeError("the server exited before it listened")
            found = re.search(r"listening on (http://\S+)", line)
            if found:
                return proc, found.group(1)


async def stop(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is None:
        proc.terminate()
    async with asyncio.timeout(30):
        await proc.wait()


async def sweep(url: str, batch: int, pause_ms: int, code: str) -> dict[str, Any]:
    """``chatserver retention run``; returns its report as written to the audit log."""
    proc = await asyncio.create_subprocess_exec(
        *COMMAND,
        "retention",
        "run",
        env=environment(
            url,
            CHAT_RETENTION_BATCH=str(batch),
            CHAT_RETENTION_PAUSE_MS=str(pause_ms),
            **({"PYTHONPATH": code} if code else {}),
        ),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"retention run failed: {err.decode()[-2000:]}")
    report = last_report(url)
    assert report is not None
    return report


def last_report(url: str) -> dict[str, Any] | None:
    """The newest sweep report that deleted messages, from the audit log."""
    with closing(sqlite3.connect(db_file(url))) as raw:
        for at, detail in raw.execute(
            "SELECT at, detail FROM audit WHERE action = 'retention.sweep' ORDER BY id DESC"
        ):
            report: dict[str, Any] = json.loads(detail)
            if report["counts"].get("messages"):
                report["finished_at"] = at
                report["started_at"] = at - report["duration_ms"]
                return report
    return None


# ------------------------------------------------------------------------------ live chat
@dataclass
class Live:
    """A client and a counsellor sending to each other at a fixed rate, open loop: each
    message is sent at its scheduled time whether or not earlier ones were acked, and its
    latency runs from that time to its ack (so a stall counts for every message it held)."""

    client: ClientPeer
    console: ConsolePeer
    conversation: str
    rate: float  # messages per second, per side
    sent: dict[str, float] = field(default_factory=dict)  # id -> scheduled time
    acked: dict[str, float] = field(default_factory=dict)  # id -> latency in s
    errors: int = 0

    @classmethod
    async def open(cls, base: str, rate: float) -> Live:
        client = await ClientPeer.connect(base, origin=ORIGIN)
        conversation = (await client.start("bench", b"\x04" + bytes(64)))["conversation"]
        cookie, _ = await login(base, "anna", password=PASSWORD, origin=ORIGIN)
        console = await ConsolePeer.connect(base, cookie, origin=ORIGIN)
        await console.accept(conversation)
        return cls(client, console, conversation, rate)

    async def _acks(self, peer: ClientPeer | ConsolePeer) -> None:
        while True:
            frame = await peer.next(errors=False, timeout=3600)  # any frame: nothing piles up
            if frame["type"] == "ack" and frame["id"] in self.sent:
                self.acked[frame["id"]] = time.time() - self.sent[frame["id"]]
            elif frame["type"] == "error":
                self.errors += 1

    async def _side(self, name: str, offset: float, until: asyncio.Event) -> None:
        body = b64(os.urandom(284))  # the size of a one-line E2E message
        start = time.time() + offset
        for n in range(10**9):
            at = start + n / self.rate
            await asyncio.sleep(max(0.0, at - time.time()))
            if until.is_set():
                return
            msg_id = f"{name}{n}"
            self.sent[msg_id] = at
            frame: dict[str, Any] = {
                "type": "send",
                "id": msg_id,
                "body": body,
                "gen": 0,
                "n": n,
                "kind": "msg",
            }
            if name == "t":
                frame["conversation"] = self.conversation
                await self.console.send_frame(frame)
            else:
                await self.client.send_frame(frame)

    async def run(self, until: asyncio.Event) -> None:
        readers = [asyncio.create_task(self._acks(p)) for p in (self.client, self.console)]
        try:
            await asyncio.gather(
                self._side("c", 0.0, until), self._side("t", 0.5 / self.rate, until)
            )
            async with asyncio.timeout(30):  # the last acks
                while len(self.acked) < len(self.sent) and not self.errors:
                    await asyncio.sleep(0.05)
        finally:
            for task in readers:
                task.cancel()
            await asyncio.gather(*readers, return_exceptions=True)

    def latencies(self, start: float, end: float) -> list[float]:
        """Latencies in ms of the messages scheduled in [start, end)."""
        return sorted(
            self.acked[i] * 1000
            for i, at in self.sent.items()
            if start <= at < end and i in self.acked
        )

    async def close(self) -> None:
        await self.client.close()
        await self.console.close()


def percentile(values: list[float], p: float) -> float | None:
    """Nearest rank of sorted ``values``; None without any."""
    if not values:
        return None
    rank = max(1, -(-len(values) * p // 100))
    return round(values[int(rank) - 1], 2)


def summary(values: list[float]) -> dict[str, Any]:
    return {
        "n": len(values),
        "p50_ms": percentile(values, 50),
        "p99_ms": percentile(values, 99),
        "max_ms": round(max(values), 2) if values else None,
    }


# ------------------------------------------------------------------------------ the run
async def measure(
    url: str, args: argparse.Namespace, batch: int, pause_ms: int, code: str
) -> dict[str, Any]:
    """Idle, sweep, idle. With ``--in server`` the server's own scheduler sweeps: its
    first sweep at start-up finds nothing due, its second (one interval later, after the
    first idle period) finds everything."""
    env = {"PYTHONPATH": code} if code else {}
    interval = args.warmup + args.idle + 6.0  # and the live chat set up
    if args.sweep_in == "server":
        due = int((time.time() + interval / 2) * 1000)
        with closing(sqlite3.connect(db_file(url))) as raw, raw:
            raw.execute(
                "UPDATE conversations SET messages_due_at = ? WHERE messages_due_at IS NOT NULL",
                (due,),
            )
        env.update(
            CHAT_RETENTION_IN_PROCESS="true",
            CHAT_RETENTION_INTERVAL_MINUTES=str(interval / 60),
            CHAT_RETENTION_BATCH=str(batch),
            CHAT_RETENTION_PAUSE_MS=str(pause_ms),
        )
    server, base = await start_server(url, **env)
    try:
        live = await Live.open(base, args.rate)
        done = asyncio.Event()
        talking = asyncio.create_task(live.run(done))
        t0 = time.time()
        if args.sweep_in == "process":
            await asyncio.sleep(args.warmup + args.idle)
            report = await sweep(url, batch, pause_ms, code)
        else:
            async with asyncio.timeout(3600):
                while (found := last_report(url)) is None:
                    await asyncio.sleep(0.5)  # a benchmark polls; tests wait on conditions
                report = found
        await asyncio.sleep(args.settle + args.idle)
        done.set()
        await talking
        t1 = time.time()
        await live.close()
    finally:
        await stop(server)
    start, end = report["started_at"] / 1000, report["finished_at"] / 1000
    # Messages sent just after the sweep may still queue behind it: they are in neither.
    before, after = live.latencies(t0 + args.warmup, start), live.latencies(end + args.settle, t1)
    idle = sorted(before + after)
    during = live.latencies(start, end)
    slowest = sorted(
        (
            (live.acked[i] * 1000, at - start)
            for i, at in live.sent.items()
            if i in live.acked and start <= at < end
        ),
        reverse=True,
    )[:10]
    return {
        "report": report,
        "slowest": [
            {"ms": round(ms, 1), "at_s_after_sweep_start": round(at, 2)} for ms, at in slowest
        ],
        "idle": summary(idle),
        "idle_before": summary(before),
        "idle_after": summary(after),
        "during": summary(during),
        "unacked": len(live.sent) - len(live.acked),
        "errors": live.errors,
    }


def one_run(
    template: Path, folder: Path, args: argparse.Namespace, batch: int, pause_ms: int, code: str
) -> dict[str, Any]:
    """Copy the built database and its keystore, then sweep it under live traffic."""
    for suffix in ("db", "keys.db"):
        shutil.copyfile(template / f"bench.{suffix}", folder / f"bench.{suffix}")
    for stale in folder.glob("bench.*-*"):  # -wal, -shm of an earlier run
        stale.unlink()
    url = f"sqlite+aiosqlite:///{folder}/bench.db"
    before = counts(url)
    measured = asyncio.run(measure(url, args, batch, pause_ms, code))
    after = counts(url)
    report = measured["report"]
    idle, during = measured["idle"], measured["during"]
    ratio = during["p99_ms"] / idle["p99_ms"] if idle["p99_ms"] and during["p99_ms"] else None
    sweep_s = report["duration_ms"] / 1000
    if "transactions" in report:  # the report of the sweeper before issue 8 has neither
        print(
            f"  {report['transactions']} write transactions, the longest held the write slot "
            f"{report['longest_write_ms']} ms",
            flush=True,
        )
    return {
        "settings": {"retention_batch": batch, "retention_pause_ms": pause_ms},
        "sweep_in": args.sweep_in,
        "code": code or "this checkout",
        "sweep": {
            "seconds": sweep_s,
            "batches": report["batches"],
            "rows_deleted": report["counts"],
            "keys_destroyed": report["keys_destroyed"],
            "errors": report["errors"],
        },
        "before": before,
        "after": after,
        "live": {
            "rate_per_side": args.rate,
            "idle": idle,
            "idle_before": measured["idle_before"],
            "idle_after": measured["idle_after"],
            "during_sweep": during,
            "p99_ratio": round(ratio, 2) if ratio is not None else None,
            "unacked": measured["unacked"],
            "slowest": measured["slowest"],
            "errors": measured["errors"],
        },
        "goals": {
            "sweep_under_60_s": sweep_s < 60,
            "p99_at_most_twice_idle": ratio is not None and ratio <= 2,
        },
    }


def setting(text: str) -> tuple[int, int]:
    batch, _, pause = text.partition(":")
    return int(batch), int(pause)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conversations", type=int, default=20_000)
    parser.add_argument("--per", type=int, default=50, help="messages per conversation")
    parser.add_argument("--quick", action="store_true", help="400 conversations of 50")
    parser.add_argument("--rate", type=float, default=20.0, help="live messages/s per side")
    parser.add_argument("--idle", type=float, default=15.0, help="idle seconds before/after")
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument(
        "--settle",
        type=float,
        default=5.0,
        help="seconds after the sweep that count as neither (a backlog may drain)",
    )
    parser.add_argument(
        "--settings",
        type=setting,
        action="append",
        metavar="BATCH:PAUSE_MS",
        help="retention_batch and retention_pause_ms of a run; repeat to compare several "
        "on copies of the same database (default: the settings' defaults)",
    )
    parser.add_argument(
        "--in",
        dest="sweep_in",
        choices=("server", "process"),
        default="server",
        help="sweep in the server process by its scheduler (the default on SQLite), or in "
        "a `chatserver retention run` process beside it",
    )
    parser.add_argument(
        "--before",
        metavar="DIR",
        default="",
        help="first sweep with the retention package found in DIR (PYTHONPATH), for "
        "before/after figures: e.g. `git worktree add DIR HEAD`",
    )
    parser.add_argument(
        "--reuse", action="store_true", help="use the database already built in --dir"
    )
    parser.add_argument("--json", type=Path, help="write the figures here")
    parser.add_argument("--dir", type=Path, help="work here and keep it (default: temporary)")
    parser.add_argument("--seed", type=int, default=8)
    args = parser.parse_args(argv)
    if args.quick:
        args.conversations, args.idle = 400, min(args.idle, 8.0)
    if not args.settings:
        defaults = load_settings(environ={}, database_url="sqlite+aiosqlite:///x.db")
        args.settings = [(defaults.retention_batch, defaults.retention_pause_ms)]
    folder = args.dir or Path(tempfile.mkdtemp(prefix="bench-sweep-"))
    template = folder / "template"
    template.mkdir(parents=True, exist_ok=True)
    try:
        if args.reuse and (template / "bench.db").exists():
            loaded = {"load_seconds": 0.0, "database_mib": 0.0}
        else:
            loaded = build(
                f"sqlite+aiosqlite:///{template}/bench.db", args.conversations, args.per, args.seed
            )
        print(
            f"{args.conversations * args.per} messages in {args.conversations} conversations "
            f"(built in {loaded['load_seconds']} s, {loaded['database_mib']} MiB)",
            flush=True,
        )
        runs = []
        plan = [(b, p, "") for b, p in args.settings]
        if args.before:
            plan.insert(0, (*args.settings[0], args.before))
        for batch, pause_ms, code in plan:
            run = one_run(template, folder, args, batch, pause_ms, code)
            runs.append(run)
            sweep, live = run["sweep"], run["live"]
            print(
                f"{'before: ' if code else ''}batch {batch}, pause {pause_ms} ms: "
                f"sweep {sweep['seconds']:.1f} s, "
                f"{sweep['batches']} batches, {sweep['rows_deleted']}, "
                f"{sweep['keys_destroyed']} storage keys destroyed, errors {sweep['errors']}; "
                f"due messages left {run['after']['due_messages']}, free pages "
                f"{run['after']['free_pages']}, {run['after']['database_mib']} MiB\n"
                f"  live p99: idle {live['idle']['p99_ms']} ms (n={live['idle']['n']}), "
                f"during the sweep {live['during_sweep']['p99_ms']} ms "
                f"(n={live['during_sweep']['n']}), ratio {live['p99_ratio']}",
                flush=True,
            )
    finally:
        if args.dir is None:
            shutil.rmtree(folder, ignore_errors=True)
    result: dict[str, Any] = {
        "conversations": args.conversations,
        "messages": args.conversations * args.per,
        "setup": loaded,
        "runs": runs,
    }
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    main()
