"""Two real ``chatserver serve`` processes on one PostgreSQL database and one Redis: a
conversation spans both, queue updates reach consoles on both, the accept race holds
across them, and a broken Redis connection loses nothing (peers resume from storage)."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import redis.asyncio as redis
from conftest import ORIGIN, PASSWORD, client_key, credential, keystore_for, need_service, until
from test_durability import ServerProcess

from chatserver.config import load_settings
from chatserver.ops import cli
from chatserver.sdk.peers import ChatRefused, ClientPeer, ConsolePeer, login
from chatserver.storage.db import Database

REDIS_URL = os.environ.get("CHAT_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")

# The machine's shared Redis: channels and presence keys are named by team, so these tests
# must not overlap; scripts/test runs a file's tests on one worker (--dist loadfile).
pytestmark = [
    # Several processes need a database server; SQLite is one process's (tests elsewhere).
    pytest.mark.parametrize("db_url", ["postgres"], indirect=True),
]


def _redis_reachable() -> bool:
    parts = urlsplit(REDIS_URL)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 6379), 2):
            return True
    except OSError:
        return False


class Pair:
    def __init__(self, a: ServerProcess, b: ServerProcess) -> None:
        self.a, self.b = a, b
        self.peers: list[Any] = []

    async def client(self, url: str) -> ClientPeer:
        peer = await ClientPeer.connect(url, origin=ORIGIN)
        self.peers.append(peer)
        return peer

    async def console(self, url: str, username: str) -> ConsolePeer:
        cookie, _ = await login(url, username, credential=credential(username), origin=ORIGIN)
        peer = await ConsolePeer.connect(url, cookie, origin=ORIGIN)
        self.peers.append(peer)
        return peer


@pytest.fixture
async def pair(db_url: str, tmp_path: Path) -> AsyncIterator[Pair]:
    need_service(_redis_reachable(), f"Redis is not reachable at {REDIS_URL}")
    db = Database(db_url, pooled=False)
    settings = load_settings(
        environ={}, database_url=db_url, keystore_url=keystore_for(db_url), public_origin=ORIGIN
    )
    try:
        await cli.team_add(db, "alpha", "Alpha", [])
        for name in ("anna", "ben"):
            await cli.user_add(
                db, settings, name, name.title(), "counsellor", ["alpha"], PASSWORD, totp=False
            )
    finally:
        await db.dispose()
    env = {
        "CHAT_REDIS_URL": REDIS_URL,
        "CHAT_RETENTION_IN_PROCESS": "false",
        "CHAT_REQUIRE_TOTP": "false",  # anna and ben have no TOTP
    }
    a = ServerProcess(db_url, tmp_path / "a.log", **env)
    b = ServerProcess(db_url, tmp_path / "b.log", **env)
    await a.start()
    await b.start()
    both = Pair(a, b)
    yield both
    for peer in both.peers:
        await peer.close()
    for proc in (a, b):
        if proc.proc is not None and proc.proc.poll() is None:
            proc.signal(signal.SIGTERM)


async def test_one_conversation_across_two_processes(pair: Pair) -> None:
    """The client is on A, Anna on B and Ben on A: both consoles see the queue change,
    Anna accepts, and messages and typing cross between the processes."""
    anna = await pair.console(pair.b.url, "anna")
    ben = await pair.console(pair.a.url, "ben")
    client = await pair.client(pair.a.url)
    conv = (await client.start("alpha", client_key()))["conversation"]
    for console in (anna, ben):
        assert (await until(console, "queued"))["item"]["conversation"] == conv
    await client.send("c1", b"ciphertext one")
    assigned = await anna.accept(conv)
    assert assigned["conversation"] == conv
    assert (await until(ben, "dequeued"))["conversation"] == conv
    await until(client, "state", state="active")
    await anna.fetch(conv)
    assert (await until(anna, "message", id="c1"))["sender"] == "client"
    await anna.send(conv, "t1", b"reply from B")
    assert (await until(client, "message", id="t1"))["sender"] == "team"
    await client.typing(True)
    assert (await until(anna, "typing", conversation=conv))["active"] is True
    await client.send("c2", b"ciphertext two")
    assert (await until(anna, "message", id="c2"))["seq"] == 3


async def test_the_accept_race_holds_across_processes(pair: Pair) -> None:
    """Anna on B and Ben on A accept the same conversation at once: one gets it."""
    anna = await pair.console(pair.b.url, "anna")
    ben = await pair.console(pair.a.url, "ben")
    client = await pair.client(pair.a.url)
    conv = (await client.start("alpha", client_key()))["conversation"]
    await until(anna, "queued")
    await until(ben, "queued")

    async def accept(console: ConsolePeer) -> str:
        try:
            await console.accept(conv)
            return "assigned"
        except ChatRefused as refused:
            return refused.code

    outcomes = sorted(await asyncio.gather(accept(anna), accept(ben)))
    assert outcomes == ["already_taken", "assigned"]


async def test_a_broken_redis_connection_loses_nothing(pair: Pair) -> None:
    """Redis drops both processes' subscriptions mid-conversation: each reconnects and
    tells its peers to resync (GOING_AWAY); they come back and resume from storage, and
    every message arrives exactly once."""
    anna = await pair.console(pair.b.url, "anna")
    client = await pair.client(pair.a.url)
    started = await client.start("alpha", client_key())
    conv = started["conversation"]
    await until(anna, "queued")
    await anna.accept(conv)
    await anna.send(conv, "t1", b"before")
    await until(client, "message", id="t1")

    server = redis.Redis.from_url(REDIS_URL)
    try:
        killed = await server.client_kill_filter(_type="pubsub")
    finally:
        await server.aclose()
    assert killed >= 2  # both processes' subscriptions
    # Each process reconnects to Redis and sends its peers away to resync.
    assert await client.wait_closed() == 1001
    assert await anna.wait_closed() == 1001

    anna = await pair.console(pair.b.url, "anna")
    held = await until(anna, "assigned")  # what a console is told at its hello
    assert held["conversation"] == conv
    await anna.send(conv, "t2", b"while the client was away")
    again = await pair.client(pair.a.url)
    resumed = await again.resume(conv, started["token"], last_seq=1)
    assert resumed["last_seq"] == 2
    await anna.send(conv, "t3", b"after")
    seen = [(await until(again, "message"))["id"] for _ in range(2)]
    assert seen == ["t2", "t3"]  # t2 from storage, t3 through Redis, each once
    await again.send("c1", b"the client is back")
    assert (await until(anna, "message", id="c1"))["seq"] == 4
    assert again.pending("message") == []
