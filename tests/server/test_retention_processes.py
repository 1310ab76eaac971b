"""Two real server processes on one PostgreSQL database, each with its in-process sweeper
on a short schedule: a sweep runs in one of them at a time, never in both, and what is due
is deleted exactly once. The evidence comes from the database (the advisory lock, the
audit log's sweep reports, the rows left) and from the processes' own logs.

The test gates the first sweep instead of timing it: it holds a SHARE lock on ``messages``
before the processes start, so whichever process wins the sweep lock stops at its first
delete while still holding it; the other process must then be refused, again and again,
until the gate opens. Every wait is on a condition (a new log line, then a look at the
database) with a timeout; nothing sleeps."""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from conftest import FakeClock, Server, client_key
from sqlalchemy import func, select, text
from test_cli import COMMAND, environment

from chatserver.sdk.peers import ConsolePeer
from chatserver.storage import models as m
from chatserver.storage.db import Database
from chatserver.storage.keystore import Keystore, conversation_key_id
from chatserver.web.state import KEYSTORE
from retention.locks import SWEEP_LOCK

pytestmark = pytest.mark.postgres

SKIPPED = "retention sweep skipped"
SWEPT = "retention sweep:"
CONVERSATIONS = 5  # with 2 per batch: three batches in the one sweep that deletes them


@dataclass
class Process:
    """A ``chatserver serve`` process and the lines it has logged so far."""

    proc: asyncio.subprocess.Process
    lines: list[str] = field(default_factory=list)
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    reader: asyncio.Task[None] | None = None

    def count(self, fragment: str) -> int:
        return sum(fragment in line for line in self.lines)

    async def _read(self, stream: asyncio.StreamReader) -> None:
        async for raw in stream:
            self.lines.append(raw.decode(errors="replace"))
            self.changed.set()


async def serve(url: str, cwd: Path) -> Process:
    """Start a server with the sweeper inside it: every 0.6 s, two conversations a batch."""
    env = environment(
        url,
        CHAT_HOST="127.0.0.1",
        CHAT_PORT="0",
        CHAT_LOG_LEVEL="info",
        CHAT_REQUIRE_TOTP="false",
        CHAT_COOKIE_SECURE="false",
        CHAT_RETENTION_IN_PROCESS="true",
        CHAT_RETENTION_INTERVAL_MINUTES="0.01",
        CHAT_RETENTION_BATCH="2",
        CHAT_RETENTION_PAUSE_MS="0",
    )
    proc = await asyncio.create_subprocess_exec(
        *COMMAND,
        "serve",
        env=env,
        cwd=cwd,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    assert proc.stderr is not None
    process = Process(proc)
    process.reader = asyncio.create_task(process._read(proc.stderr))
    return process


async def until(
    processes: list[Process], check: Callable[[], Awaitable[bool]], timeout: float = 60
) -> None:
    """Until ``check`` holds, looking again whenever a process logs a line (the sweepers
    log one every 0.6 s); a process that exits fails the wait."""
    async with asyncio.timeout(timeout):
        while not await check():
            for p in processes:
                assert p.proc.returncode is None, "".join(p.lines)
                p.changed.clear()
            waits: list[asyncio.Task[Any]] = [
                asyncio.create_task(p.changed.wait()) for p in processes
            ]
            waits += [asyncio.create_task(p.proc.wait()) for p in processes]
            try:
                await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for w in waits:
                    w.cancel()


async def stop(process: Process) -> None:
    if process.proc.returncode is None:
        process.proc.terminate()
    async with asyncio.timeout(30):
        await process.proc.wait()
    if process.reader is not None:
        await process.reader


async def closed_chats(server: Server, anna: ConsolePeer, n: int) -> list[str]:
    """Conversations with a message each way, closed three days ago (the server's clock):
    their messages are due now (48 h), their records are not (90 days)."""
    ids = []
    for i in range(n):
        client = await server.client()
        conv = (await client.start("alpha", client_key(i + 1)))["conversation"]
        await client.send("c1", b"ciphertext")
        await anna.accept(conv)
        await anna.send(conv, "t1", b"ciphertext-reply")
        await anna.close_conversation(conv)
        ids.append(conv)
    return ids


@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
async def test_two_server_processes_sweep_one_at_a_time(
    make_server: Callable[..., Any], db_url: str, tmp_path: Path
) -> None:
    """While one process sweeps, the other is refused each time it tries; the sweep
    reports in the audit log never overlap; the due messages are deleted by exactly one
    sweep, with their storage keys."""
    clock = FakeClock(time.time() - 3 * 86_400)
    server: Server = await make_server(clock=clock)
    await server.team("alpha")
    await server.staff("anna", ["alpha"])
    anna = await server.console("anna")
    conversations = await closed_chats(server, anna, CONVERSATIONS)
    keystore: Keystore = server.app[KEYSTORE]
    db = Database(db_url, pool_size=2)
    processes: list[Process] = []
    try:
        async with db.engine.connect() as gate:
            await gate.execute(text("LOCK TABLE messages IN SHARE MODE"))
            processes = [await serve(db_url, tmp_path) for _ in range(2)]

            async def one_sweep_stopped_at_the_gate() -> bool:
                async with db.read() as conn:
                    holders = (
                        await conn.execute(
                            text(
                                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' "
                                "AND granted AND classid = :hi AND objid = :lo"
                            ),
                            {"hi": SWEEP_LOCK >> 32, "lo": SWEEP_LOCK & 0xFFFFFFFF},
                        )
                    ).scalar_one()
                    waiting = (
                        await conn.execute(
                            text(
                                "SELECT count(*) FROM pg_stat_activity WHERE "
                                "wait_event_type = 'Lock' AND query LIKE 'DELETE FROM messages%'"
                            )
                        )
                    ).scalar_one()
                skips = sorted(p.count(SKIPPED) for p in processes)
                return holders == 1 and waiting == 1 and skips[0] == 0 and skips[1] >= 3

            await until(processes, one_sweep_stopped_at_the_gate)
            # One process is inside a sweep, the other has been refused three times:
            # neither has finished a sweep yet.
            assert [p.count(SWEPT) for p in processes] == [0, 0]
            sweeping = next(p for p in processes if p.count(SKIPPED) == 0)
            other = next(p for p in processes if p is not sweeping)
            await gate.commit()  # open the gate

        refused = other.count(SKIPPED)

        async def both_swept_in_turn() -> bool:
            # The gated sweep finished, the other process was refused again or swept
            # after it, and later sweeps ran in each process (finding nothing due).
            return (
                sweeping.count(SWEPT) >= 2
                and other.count(SWEPT) >= 1
                and other.count(SKIPPED) + other.count(SWEPT) >= refused + 3
                and len(await reports(db)) >= 3
            )

        await until(processes, both_swept_in_turn)
    finally:
        for process in processes:
            await stop(process)

    sweeps = await reports(db)
    async with db.read() as conn:
        left = (
            await conn.execute(
                select(func.count())
                .select_from(m.messages)
                .where(m.messages.c.conversation_id.in_(conversations))
            )
        ).scalar_one()
        facts = (await conn.execute(select(func.count()).select_from(m.stat_facts))).scalar_one()
    await db.dispose()

    # Never two at once: each report's interval lies inside the lock, and they are apart.
    intervals = sorted((r["at"] - r["duration_ms"], r["at"]) for r in sweeps)
    for (_, end), (start, _) in itertools.pairwise(intervals):
        assert start >= end, intervals
    # Every sweep that ran left one report; a refused one left none.
    assert sum(p.count(SWEPT) for p in processes) == len(sweeps)
    # The due messages went once, in one sweep, with their storage keys.
    deleting = [r for r in sweeps if r["counts"].get("messages")]
    assert len(deleting) == 1, sweeps
    assert deleting[0]["counts"]["messages"] == 2 * CONVERSATIONS
    assert deleting[0]["counts"]["conversations_emptied"] == CONVERSATIONS
    assert deleting[0]["keys_destroyed"] == CONVERSATIONS
    assert deleting[0]["batches"] >= 3
    assert all(r["errors"] == [] for r in sweeps), sweeps
    assert left == 0
    assert facts == CONVERSATIONS  # statistics recorded once, at the close
    existing = await keystore.all_keys()
    assert not {conversation_key_id(c) for c in conversations} & existing.keys()


async def reports(db: Database) -> list[dict[str, Any]]:
    """The sweep reports in the audit log, with the time each was written."""
    a = m.audit.c
    async with db.read() as conn:
        rows = await conn.execute(
            select(a.at, a.detail).where(a.action == "retention.sweep").order_by(a.id)
        )
        return [{"at": row.at, **json.loads(row.detail)} for row in rows]
