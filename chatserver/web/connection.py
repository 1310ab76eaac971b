"""One WebSocket peer: a bounded outbox drained by its own writer task.

Nothing ever awaits a peer's socket except that peer's writer: fan-out only puts text
in the outbox. A peer whose outbox is full is too slow; it is closed with 1013 (try
again later) and resyncs from storage when it comes back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets

from aiohttp import web

from ..protocol import frames as f
from ..protocol.codec import encode
from ..protocol.errors import ChatError

__all__ = ["Connection"]

log = logging.getLogger("chatserver.web")

CLOSE_GOING_AWAY = 1001
CLOSE_TRY_AGAIN_LATER = 1013


class Connection:
    def __init__(self, ws: web.WebSocketResponse, role: str, max_queue: int) -> None:
        #: A random id for logs; it identifies nobody.
        self.id = secrets.token_hex(4)
        self.ws = ws
        self.role = role
        self.conversation: str | None = None
        self.topics: set[str] = set()
        self._outbox: asyncio.Queue[str | None] = asyncio.Queue(max_queue)
        self._writer = asyncio.create_task(self._drain(), name=f"ws-writer-{self.id}")
        #: The task closing this peer because it fell behind, once that happened.
        self.dropping: asyncio.Task[None] | None = None

    def deliver(self, text: str) -> None:
        if self.dropping is not None:
            return
        try:
            self._outbox.put_nowait(text)
        except asyncio.QueueFull:
            log.info("event=slow_peer conn=%s role=%s", self.id, self.role)
            self.dropping = asyncio.create_task(self._close_slow())

    async def _close_slow(self) -> None:
        await self.ws.close(code=CLOSE_TRY_AGAIN_LATER, message=b"too slow; resume")

    def send(self, frame: f.Frame) -> None:
        self.deliver(encode(frame))

    async def reply(self, frame: f.Frame) -> None:
        """Answer this peer's own request, waiting for room in its outbox: a long history
        is paced by the peer's reading, where fan-out (:meth:`deliver`) never waits."""
        if self.dropping is not None or self.ws.closed or self._writer.done():
            return
        put = asyncio.ensure_future(self._outbox.put(encode(frame)))
        # If the writer ends (the peer went away), stop waiting for room.
        await asyncio.wait({put, self._writer}, return_when=asyncio.FIRST_COMPLETED)
        if not put.done():
            put.cancel()

    def send_error(self, exc: ChatError, answering: f.Frame | None = None) -> None:
        """The error frame; ``answering`` is the well-formed frame it refuses, if any."""
        challenge = getattr(exc, "challenge", None)
        ref = exc.ref or getattr(answering, "id", None)
        answers = answering.type if answering is not None else None
        conversation = getattr(answering, "conversation", None)
        self.send(f.Error(exc.code, exc.message, ref, challenge, answers, conversation))

    async def _drain(self) -> None:
        while (text := await self._outbox.get()) is not None:
            if self.ws.closed:
                return
            try:
                await self.ws.send_str(text)
            except (ConnectionError, RuntimeError):
                return

    async def close(self, code: int, reason: str) -> None:
        """Send what is queued, then close with ``code``."""
        if self.dropping is None:
            with contextlib.suppress(asyncio.QueueFull):
                self._outbox.put_nowait(None)
            with contextlib.suppress(Exception):
                await asyncio.wait_for(asyncio.shield(self._writer), timeout=5)
            await self.ws.close(code=code, message=reason.encode()[:120])
        self.stop()

    def stop(self) -> None:
        self._writer.cancel()
