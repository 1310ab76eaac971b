"""Acked means stored: a server process killed with SIGKILL loses no acked message, and
SIGTERM says GOING_AWAY to every peer. Runs the real ``chatserver serve`` process."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import ORIGIN, client_key, keystore_for
from sqlalchemy import func, select

from chatserver.ops import cli
from chatserver.sdk.peers import ClientPeer
from chatserver.storage import models as m
from chatserver.storage.db import Database


class ServerProcess:
    def __init__(self, db_url: str, log: Path, **env: str) -> None:
        self.db_url = db_url
        self.log = log
        self.env = env  # more CHAT_* settings
        self.proc: subprocess.Popen[str] | None = None
        self.url = ""

    async def start(self) -> str:
        env = {
            **os.environ,
            "CHAT_DATABASE_URL": self.db_url,
            "CHAT_KEYSTORE_URL": keystore_for(self.db_url),
            "CHAT_PORT": "0",
            "CHAT_PUBLIC_ORIGIN": ORIGIN,
            "CHAT_COOKIE_SECURE": "false",
            "CHAT_STARTS_PER_MINUTE_FREE": "1000",
            "CHAT_FRAME_RATE": "1000",
            "CHAT_FRAME_BURST": "1000",
            **self.env,
        }
        env.pop("CHAT_CONFIG", None)
        with self.log.open("a") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "chatserver.ops.cli", "serve"],
                env=env,
                text=True,
                stdout=subprocess.PIPE,
                stderr=log,
            )
        assert self.proc.stdout is not None
        line = await asyncio.to_thread(self.proc.stdout.readline)
        assert line.startswith("listening on "), line
        self.url = line.split()[-1]
        return self.url

    def signal(self, sig: int) -> int:
        assert self.proc is not None
        self.proc.send_signal(sig)
        code = self.proc.wait(timeout=30)
        assert self.proc.stdout is not None
        self.proc.stdout.close()
        return code


@pytest.fixture
async def process(db_url: str, tmp_path: Path) -> AsyncIterator[ServerProcess]:
    db = Database(db_url, pooled=False)
    await cli.team_add(db, "alpha", "Alpha", [])
    await db.dispose()
    proc = ServerProcess(db_url, tmp_path / "server.log")
    yield proc
    if proc.proc is not None and proc.proc.poll() is None:
        proc.signal(signal.SIGKILL)


async def _count(db_url: str, query: Callable[[], Any]) -> Any:
    db = Database(db_url, pooled=False)
    try:
        async with db.read() as conn:
            return (await conn.execute(query())).all()
    finally:
        await db.dispose()


async def test_acked_messages_survive_kill_9(process: ServerProcess) -> None:
    """N messages acked by a server that is then SIGKILLed are all there, once each."""
    url = await process.start()
    clients = [await ClientPeer.connect(url, origin=ORIGIN) for _ in range(6)]
    started = [await c.start("alpha", client_key(i)) for i, c in enumerate(clients)]
    per_client = 25

    async def talk(peer: ClientPeer) -> list[int]:
        return [
            (await peer.send(f"m{i}", f"ciphertext {i}".encode(), n=i))["seq"]
            for i in range(per_client)
        ]

    acks = await asyncio.gather(*(talk(c) for c in clients))
    assert all(seqs == list(range(1, per_client + 1)) for seqs in acks)
    assert process.signal(signal.SIGKILL) == -signal.SIGKILL
    for c in clients:
        await c.close()

    rows = await _count(
        process.db_url,
        lambda: select(
            m.messages.c.conversation_id, m.messages.c.client_msg_id, func.count()
        ).group_by(m.messages.c.conversation_id, m.messages.c.client_msg_id),
    )
    assert len(rows) == len(clients) * per_client
    assert all(count == 1 for *_, count in rows)

    # Through the public interface of a restarted server: everything, in order, once.
    url = await process.start()
    for s in started:
        async with await ClientPeer.connect(url, origin=ORIGIN) as again:
            resumed = await again.resume(s["conversation"], s["token"], last_seq=0)
            assert resumed["last_seq"] == per_client
            seqs = [(await again.next("message"))["seq"] for _ in range(per_client)]
            assert seqs == list(range(1, per_client + 1))
            # A resend of an acked message after the crash is recognised, not stored twice.
            ack = await again.send("m3", b"ciphertext 3", n=3)
            assert ack["seq"] == 4
    assert process.signal(signal.SIGTERM) == 0


async def test_sigterm_sends_going_away(process: ServerProcess) -> None:
    """On SIGTERM every connected peer is closed with 1001 and the process exits 0."""
    url = await process.start()
    client = await ClientPeer.connect(url, origin=ORIGIN)
    await client.start("alpha", client_key())
    assert await asyncio.to_thread(process.signal, signal.SIGTERM) == 0
    assert await client.wait_closed() == 1001
