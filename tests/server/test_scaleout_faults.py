"""Scale-out under faults: presence shared by every process (and by a restarted one), a
process killed with ``kill -9`` mid-conversation, Redis itself restarted mid-conversation.

Each test has its own redis-server on a free port (never the machine's shared Redis,
whose restart would hit everyone using it), so presence entries and channels of other
tests cannot leak in. The server processes are real ``chatserver serve`` processes on one
PostgreSQL database.
"""

from __future__ import annotations

import asyncio
import shutil
import signal
import socket
import subprocess
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as redis
from conftest import ORIGIN, PASSWORD, client_key, keystore_for, need_service, until
from sqlalchemy import select
from test_durability import ServerProcess
from test_scaleout import Pair

from chatserver.chat.hub import Seen
from chatserver.chat.redis_hub import NODE, PRESENCE, RedisHub
from chatserver.config import load_settings
from chatserver.ops import cli
from chatserver.sdk.peers import ClientPeer, ConsolePeer
from chatserver.storage import models as m
from chatserver.storage.db import Database

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"

pytestmark = [pytest.mark.redis]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class RedisServer:
    """A private redis-server without persistence: a restart starts it empty."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.workdir = workdir
        self.proc: subprocess.Popen[str] | None = None
        self.reader = threading.Thread()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    async def start(self) -> None:
        args = ["--port", str(self.port), "--bind", "127.0.0.1", "--save", ""]
        args += ["--appendonly", "no", "--dir", str(self.workdir)]
        self.proc = subprocess.Popen(
            [REDIS_SERVER, *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        ready = threading.Event()
        self.reader = threading.Thread(target=self._drain, args=(self.proc, ready), daemon=True)
        self.reader.start()
        assert await asyncio.to_thread(ready.wait, 10), "redis-server did not start"

    @staticmethod
    def _drain(proc: subprocess.Popen[str], ready: threading.Event) -> None:
        """Read its log (so that a full pipe never blocks it) and say when it is ready."""
        assert proc.stdout is not None
        for line in proc.stdout:
            if "Ready to accept connections" in line:
                ready.set()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=30)
        if self.proc is not None and self.proc.stdout is not None:
            self.reader.join(timeout=10)  # it has read to the end
            self.proc.stdout.close()


@pytest.fixture
async def redis_server(tmp_path: Path) -> AsyncIterator[RedisServer]:
    need_service(Path(REDIS_SERVER).exists(), f"redis-server is not installed at {REDIS_SERVER}")
    server = RedisServer(tmp_path)
    await server.start()
    yield server
    server.stop()


@pytest.fixture
async def pair(db_url: str, tmp_path: Path, redis_server: RedisServer) -> AsyncIterator[Pair]:
    """Server processes A and B on one PostgreSQL database and the private Redis; Anna,
    Ben and Carl are counsellors of team alpha."""
    db = Database(db_url, pooled=False)
    settings = load_settings(
        environ={}, database_url=db_url, keystore_url=keystore_for(db_url), public_origin=ORIGIN
    )
    try:
        await cli.team_add(db, "alpha", "Alpha", [])
        for name in ("anna", "ben", "carl"):
            await cli.user_add(
                db, settings, name, name.title(), "counsellor", ["alpha"], PASSWORD, totp=False
            )
    finally:
        await db.dispose()
    env = {
        "CHAT_REDIS_URL": redis_server.url,
        "CHAT_RETENTION_IN_PROCESS": "false",
        "CHAT_REQUIRE_TOTP": "false",
        "CHAT_COUNSELLOR_CAP": "20",
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


async def eventually(check: Callable[[], Awaitable[bool]], timeout: float = 10) -> None:
    """Until ``check()`` holds (state outside the test's control, such as Redis keys)."""
    async with asyncio.timeout(timeout):
        while not await check():
            await asyncio.sleep(0.05)


async def colleagues(console: ConsolePeer) -> dict[str, str]:
    """The shift view a console gets at its hello: name -> status of each colleague.

    The colleagues' ``presence`` frames follow the hello before the console's own
    presence (announced to the team, itself included), which ends the list.
    """
    me = console.hello["staff"]
    seen: dict[str, str] = {}
    while (frame := await console.next("presence"))["staff"] != me:
        seen[frame["name"]] = frame["status"]
    return seen


async def stored(db_url: str, conversation: str) -> list[tuple[int, str]]:
    """(seq, client message id) of every stored message of a conversation, by seq."""
    db = Database(db_url, pooled=False)
    c = m.messages.c
    try:
        async with db.read() as conn:
            rows = await conn.execute(
                select(c.seq, c.client_msg_id).where(c.conversation_id == conversation)
                .order_by(c.seq)
            )  # fmt: skip
            return [(int(seq), str(msg_id)) for seq, msg_id in rows]
    finally:
        await db.dispose()


async def accepted_history(pair: Pair, url: str, console: ConsolePeer, count: int) -> None:
    """``count`` conversations started and accepted, so that the team has recent waits
    to estimate from (docs/widget.md: no estimate with fewer than five)."""
    for _ in range(count):
        client = await pair.client(url)
        conv = (await client.start("alpha", client_key()))["conversation"]
        while (await console.next("queued"))["item"]["conversation"] != conv:
            pass
        await console.accept(conv)
        await console.close_conversation(conv)
        await client.close()


async def rest(peer: ClientPeer | ConsolePeer) -> list[dict[str, Any]]:
    """Every frame a closed connection received and the test has not taken yet."""
    frames = []
    while True:
        try:
            frames.append(await peer.next(errors=False))
        except ConnectionError:
            return frames


# --------------------------------------------------------------------------- presence
@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
async def test_presence_spans_processes(pair: Pair) -> None:
    """A console on A sees, at its hello, colleagues whose consoles are on B, with their
    status; a colleague still on B when their console on A closes stays present; the
    last console closing sends them offline."""
    anna = await pair.console(pair.b.url, "anna")
    assert await colleagues(anna) == {}
    await anna.availability("away")
    await until(anna, "presence", name="Anna", status="away")
    ben = await pair.console(pair.a.url, "ben")
    assert await colleagues(ben) == {"Anna": "away"}
    assert (await until(anna, "presence", name="Ben"))["status"] == "available"

    second = await pair.console(pair.a.url, "anna")  # Anna's second device, on A
    await colleagues(second)
    await second.availability("available")  # the most available of her consoles shows
    await until(ben, "presence", name="Anna", status="available")
    await second.close()  # she is still on B, where she is away
    await until(ben, "presence", name="Anna", status="away")
    carl = await pair.console(pair.a.url, "carl")
    assert await colleagues(carl) == {"Anna": "away", "Ben": "available"}

    await anna.close()
    await until(ben, "presence", name="Anna", status="offline")
    await until(carl, "presence", name="Anna", status="offline")
    late = await pair.console(pair.b.url, "anna")
    assert await colleagues(late) == {"Ben": "available", "Carl": "available"}


@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
async def test_presence_survives_a_process_restart(pair: Pair) -> None:
    """Anna is on B only. A client on A gets a waiting estimate (A counts her as on duty),
    and so it does from A after A was killed and started again: the restarted process
    finds her presence, and a console on it shows her."""
    anna = await pair.console(pair.b.url, "anna")
    await accepted_history(pair, pair.a.url, anna, 5)
    first = await pair.client(pair.a.url)
    assert "estimate_seconds" in await first.start("alpha", client_key(2))
    await anna.availability("away")
    await until(anna, "presence", name="Anna", status="away")
    second = await pair.client(pair.a.url)
    assert "estimate_seconds" not in await second.start("alpha", client_key(3))
    await anna.availability("available")
    await until(anna, "presence", name="Anna", status="available")

    assert pair.a.signal(signal.SIGKILL) == -signal.SIGKILL
    await pair.a.start()
    ben = await pair.console(pair.a.url, "ben")
    assert await colleagues(ben) == {"Anna": "available"}
    third = await pair.client(pair.a.url)
    assert "estimate_seconds" in await third.start("alpha", client_key(4))


async def test_a_killed_process_leaves_the_presence_book(redis_server: RedisServer) -> None:
    """Presence entries of a process that dies without a word (``kill -9``) are hidden
    once its node key expires; a surviving process then deletes them and tells the team,
    once, that the colleague went offline. A colleague still on another process stays."""
    gone: asyncio.Queue[tuple[Seen, int]] = asyncio.Queue()
    doomed = RedisHub(redis_server.url, presence_ttl_seconds=0.6)
    survivor = RedisHub(redis_server.url, presence_ttl_seconds=0.6)
    await doomed.start()
    await survivor.start()
    try:

        async def tell(seen: Seen, team: int) -> None:
            gone.put_nowait((seen, team))

        survivor.presence.watch(tell)
        await doomed.presence.update("s-anna", "Anna", "busy", [1, 2])
        await doomed.presence.update("s-ben", "Ben", "available", [1])
        await survivor.presence.update("s-ben", "Ben", "away", [1])
        await survivor.presence.update("s-carl", "Carl", "available", [1, 2])
        names = {s.name: s.status for s in await survivor.presence.in_teams([1])}
        assert names == {"Anna": "busy", "Ben": "available", "Carl": "available"}

        # The process dies: its heartbeat stops, nothing is cleaned up.
        assert doomed.presence._heartbeat is not None
        doomed.presence._heartbeat.cancel()
        client = redis.Redis.from_url(redis_server.url)
        try:
            assert 0 < await client.pttl(NODE + doomed.presence.node) <= 600
            told = [await asyncio.wait_for(gone.get(), 10) for _ in range(2)]
            told.sort(key=lambda t: t[1])
            assert told == [
                (Seen("s-anna", "Anna", "busy"), 1),
                (Seen("s-anna", "Anna", "busy"), 2),
            ]
            names = {s.name: s.status for s in await survivor.presence.in_teams([1, 2])}
            assert names == {"Ben": "away", "Carl": "available"}
            fields = await client.hkeys(PRESENCE + "1")
            assert all(not f.decode().startswith(doomed.presence.node) for f in fields)
        finally:
            await client.aclose()
        assert gone.empty()
    finally:
        await survivor.close()
        await doomed.close()


async def test_leaving_on_one_process_keeps_presence_on_another(
    redis_server: RedisServer,
) -> None:
    """Leaving one process says how the staff member is seen on another, if anywhere
    (then colleagues hear that status, not "offline"); a stopped process leaves at once."""
    a = RedisHub(redis_server.url)
    b = RedisHub(redis_server.url)
    await a.start()
    await b.start()
    try:
        await a.presence.update("s-anna", "Anna", "away", [1])
        await b.presence.update("s-anna", "Anna", "away", [1])
        await b.presence.update("s-anna", "Anna", "busy", [1])
        assert await a.presence.leave("s-anna") == Seen("s-anna", "Anna", "busy")
        assert await a.presence.in_teams([1]) == [Seen("s-anna", "Anna", "busy")]
        assert await b.presence.leave("s-anna") is None
        assert await a.presence.in_teams([1]) == []
        await b.presence.update("s-ben", "Ben", "available", [1])
    finally:
        await b.close()
    try:
        assert await a.presence.in_teams([1]) == []  # B said goodbye as it stopped
    finally:
        await a.close()


# --------------------------------------------------------------------------- faults
@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
async def test_kill_9_mid_conversation_resumes_on_the_other_process(pair: Pair) -> None:
    """The client and Anna are both on A, which is killed while the client's messages are
    in flight. Both reconnect to B and resume: every acked message is stored once, with
    its seq; resending everything (acked or not) stores nothing twice; the conversation
    goes on."""
    ben = await pair.console(pair.b.url, "ben")
    anna = await pair.console(pair.a.url, "anna")
    client = await pair.client(pair.a.url)
    started = await client.start("alpha", client_key())
    conv = started["conversation"]
    await until(anna, "queued")
    await anna.accept(conv)
    await anna.send(conv, "t1", b"hello from A")
    await until(client, "message", id="t1")

    # Twenty messages in flight at once; A dies after the fifth ack.
    for i in range(20):
        await client.send_frame(
            {"type": "send", "id": f"c{i}", "body": "Y2lwaGVy", "gen": 0, "n": i, "kind": "msg"}
        )
    acked = {}
    for _ in range(5):
        ack = await client.next("ack")
        acked[ack["id"]] = ack["seq"]
    assert pair.a.signal(signal.SIGKILL) == -signal.SIGKILL
    acked.update({f["id"]: f["seq"] for f in await rest(client) if f["type"] == "ack"})
    await anna.wait_closed()

    rows = await stored(pair.a.db_url, conv)
    assert [seq for seq, _ in rows] == list(range(1, len(rows) + 1))
    assert {msg_id: seq for seq, msg_id in rows if msg_id in acked} == acked

    anna = await pair.console(pair.b.url, "anna")
    assert (await until(anna, "assigned"))["conversation"] == conv
    await until(ben, "presence", name="Anna", status="available")
    again = await pair.client(pair.b.url)
    resumed = await again.resume(conv, started["token"], last_seq=1)
    assert resumed["state"] == "active"
    assert resumed["last_seq"] == len(rows)
    for i in range(20):  # the client cannot know which were stored: it resends them all
        ack = await again.send(f"c{i}", b"cipher", n=i)
        if f"c{i}" in acked:
            assert ack["seq"] == acked[f"c{i}"]
    await anna.send(conv, "t2", b"still here, on B")
    assert (await until(again, "message", id="t2"))["seq"] == 22
    await again.send("c20", b"and the client too")
    assert (await until(anna, "message", id="c20"))["seq"] == 23
    rows = await stored(pair.a.db_url, conv)
    assert [seq for seq, _ in rows] == list(range(1, 24))
    assert len({msg_id for _, msg_id in rows}) == 23  # each once


@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
async def test_redis_restarted_mid_conversation(pair: Pair, redis_server: RedisServer) -> None:
    """Redis stops mid-conversation: Anna's message sent meanwhile is acked (stored) but
    cannot be published. When Redis is back (empty), both processes subscribe again and
    send their peers to resync: the client gets that message from storage, later ones
    cross between the processes through Redis again, presence is back, nothing is lost."""
    anna = await pair.console(pair.b.url, "anna")
    client = await pair.client(pair.a.url)
    started = await client.start("alpha", client_key())
    conv = started["conversation"]
    await until(anna, "queued")
    await anna.accept(conv)
    await anna.send(conv, "t1", b"before")
    await until(client, "message", id="t1")

    redis_server.stop()
    assert (await anna.send(conv, "t2", b"while Redis is down"))["seq"] == 2
    assert (await client.send("c1", b"also while Redis is down"))["seq"] == 3
    await redis_server.start()
    assert await client.wait_closed(timeout=20) == 1001
    assert await anna.wait_closed(timeout=20) == 1001
    # t2 never came through the broken Redis.
    assert [f for f in await rest(client) if f["type"] == "message"] == []

    anna = await pair.console(pair.b.url, "anna")
    assert (await until(anna, "assigned"))["conversation"] == conv
    again = await pair.client(pair.a.url)
    resumed = await again.resume(conv, started["token"], last_seq=1)
    assert resumed["last_seq"] == 3
    assert [(await until(again, "message"))["id"] for _ in range(2)] == ["t2", "c1"]
    await anna.fetch(conv, after=2)
    assert (await until(anna, "message"))["id"] == "c1"

    # The subscriptions are back: B publishes, A delivers, and the other way round.
    await anna.send(conv, "t3", b"after")
    assert (await until(again, "message", id="t3"))["seq"] == 4
    await again.send("c2", b"the client is back")
    assert (await until(anna, "message", id="c2"))["seq"] == 5
    assert again.pending("message") == []
    ben = await pair.console(pair.a.url, "ben")
    assert await colleagues(ben) == {"Anna": "available"}
