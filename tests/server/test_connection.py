"""Connections: the connection cap, and a slow peer is dropped instead of slowing fan-out."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from conftest import ORIGIN, client_key
from websockets.exceptions import InvalidStatus

from chatserver.chat.hub import LocalHub
from chatserver.protocol import frames as f
from chatserver.sdk.peers import ClientPeer
from chatserver.web.ws.connection import CLOSE_TRY_AGAIN_LATER, Connection


async def test_connection_cap_refuses_with_503(make_server: Any) -> None:
    """Past max_connections a new WebSocket is refused before the upgrade."""
    server = await make_server(max_connections=2)
    await server.team("alpha")
    await server.client()
    second = await server.client()
    with pytest.raises(InvalidStatus) as refused:
        await ClientPeer.connect(server.url, origin=ORIGIN)
    assert refused.value.response.status_code == 503
    await second.start("alpha", client_key())  # the admitted ones work normally


class StuckSocket:
    """A socket whose peer never reads: every send waits forever."""

    def __init__(self) -> None:
        self.closed = False
        self.close_code: int | None = None
        self.sent: list[str] = []
        self.never: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    async def send_str(self, text: str) -> None:
        self.sent.append(text)
        await self.never

    async def close(self, *, code: int, message: bytes = b"") -> bool:
        self.closed, self.close_code = True, code
        return True


async def test_slow_peer_is_dropped_and_fan_out_never_waits() -> None:
    """Publishing to a stuck peer returns at once; past its queue it is closed with 1013."""
    ws = StuckSocket()
    conn = Connection(ws, "client", max_queue=4)  # type: ignore[arg-type]
    hub = LocalHub()
    hub.subscribe("conv:x", conn)
    for i in range(10):  # would block forever if fan-out awaited the peer
        await hub.publish("conv:x", f"frame {i}")
    assert conn.dropping is not None
    await conn.dropping
    assert ws.close_code == CLOSE_TRY_AGAIN_LATER
    assert ws.sent == ["frame 0"]  # the writer is stuck on the first; the rest were queued
    conn.deliver("after close")  # ignored, no error
    conn.send(f.Position(1))
    conn.stop()


async def test_replies_wait_for_room_and_stop_when_the_peer_is_gone() -> None:
    """A reply waits for the peer instead of dropping it, and stops waiting once it is gone."""
    ws = StuckSocket()
    conn = Connection(ws, "client", max_queue=2)  # type: ignore[arg-type]

    async def answer() -> int:
        for i in range(10):
            await conn.reply(f.Position(i))
        return 10

    replying = asyncio.create_task(answer())
    for _ in range(50):  # let both tasks run until they block: no clock involved
        await asyncio.sleep(0)
    assert not replying.done()  # waiting for room, not failing
    assert ws.sent == ['{"type":"position","position":0}']
    assert conn.dropping is None and not ws.closed  # a reply never marks the peer slow
    ws.never.set_exception(ConnectionError("peer gone"))
    assert await replying == 10  # the writer ended: the replies stop waiting
    conn.stop()
