"""One WebSocket peer: a bounded outbox drained by a writer task while it holds frames.

Nothing ever awaits a peer's socket except that peer's writer: fan-out only puts text
in the outbox. A peer whose outbox is full is too slow; it is closed with 1013 (try
again later) and resyncs from storage when it comes back.

The writer runs only while there is something to send: an idle peer (a widget waiting
in the queue, a console between messages) holds no task, which is most of what an idle
connection would otherwise cost beyond aiohttp's own socket.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections import deque
from collections.abc import Set as AbstractSet

from aiohttp import web

from chatserver.protocol import frames as f
from chatserver.protocol.codec import encode
from chatserver.protocol.errors import ChatError

__all__ = ["Connection"]

log = logging.getLogger("chatserver.web")

CLOSE_GOING_AWAY = 1001
CLOSE_TRY_AGAIN_LATER = 1013


_NONE: frozenset[str] = frozenset()


class Connection:
    __slots__ = (
        "_gone",
        "_max",
        "_outbox",
        "_room",
        "_writer",
        "conversation",
        "dropping",
        "id",
        "role",
        "topics",
        "ws",
    )

    def __init__(self, ws: web.WebSocketResponse, role: str, max_queue: int) -> None:
        #: A random id for logs; it identifies nobody.
        self.id = secrets.token_hex(4)
        self.ws = ws
        self.role = role
        self.conversation: str | None = None
        #: The hub topics this peer follows (a console's; a client follows its one
        #: conversation). An idle peer holds no set and no outbox of its own.
        self.topics: AbstractSet[str] = _NONE
        self._max = max_queue
        #: Frames not yet handed to the socket (None asks the writer to stop); there
        #: only while the writer runs.
        self._outbox: deque[str | None] | None = None
        #: The task sending the outbox, while it holds anything.
        self._writer: asyncio.Task[None] | None = None
        #: Replies waiting for room in the outbox.
        self._room: list[asyncio.Future[None]] = []
        #: The socket failed or was closed: nothing more is sent.
        self._gone = False
        #: The task closing this peer because it fell behind, once that happened.
        self.dropping: asyncio.Task[None] | None = None

    def deliver(self, text: str) -> None:
        if self.dropping is not None or self._gone:
            return
        if self._queued() >= self._max:
            log.info("event=slow_peer conn=%s role=%s", self.id, self.role)
            self.dropping = asyncio.create_task(self._close_slow())
            return
        self._push(text)

    async def _close_slow(self) -> None:
        await self.ws.close(code=CLOSE_TRY_AGAIN_LATER, message=b"too slow; resume")

    def send(self, frame: f.Frame) -> None:
        self.deliver(encode(frame))

    async def reply(self, frame: f.Frame) -> None:
        """Answer this peer's own request, waiting for room in its outbox: a long history
        is paced by the peer's reading, where fan-out (:meth:`deliver`) never waits."""
        text = encode(frame)
        while self._queued() >= self._max and not self._stopped():
            room = asyncio.get_running_loop().create_future()
            self._room.append(room)
            try:
                await room
            finally:
                with contextlib.suppress(ValueError):
                    self._room.remove(room)
        if self._stopped():
            return
        self._push(text)

    def _queued(self) -> int:
        return 0 if self._outbox is None else len(self._outbox)

    def _push(self, text: str | None) -> None:
        """Queue ``text`` and make sure the writer runs."""
        if self._outbox is None:
            self._outbox = deque()
        self._outbox.append(text)
        if self._writer is None and not self._gone:
            self._writer = asyncio.create_task(self._drain(), name=f"ws-writer-{self.id}")

    def _stopped(self) -> bool:
        return self.dropping is not None or self._gone or self.ws.closed

    def send_error(self, exc: ChatError, answering: f.Frame | None = None) -> None:
        """The error frame; ``answering`` is the well-formed frame it refuses, if any."""
        challenge = getattr(exc, "challenge", None)
        ref = exc.ref or getattr(answering, "id", None)
        answers = answering.type if answering is not None else None
        conversation = getattr(answering, "conversation", None)
        self.send(f.Error(exc.code, exc.message, ref, challenge, answers, conversation))

    def _make_room(self) -> None:
        for room in self._room:
            if not room.done():
                room.set_result(None)

    async def _drain(self) -> None:
        try:
            while self._outbox:
                text = self._outbox.popleft()
                self._make_room()
                if text is None or self.ws.closed:
                    self._gone = True
                    return
                try:
                    await self.ws.send_str(text)
                except (ConnectionError, RuntimeError):
                    self._gone = True
                    return
        finally:
            self._writer = None
            if not self._outbox:
                self._outbox = None  # idle again: no deque held
            if self._gone:
                self._make_room()

    async def close(self, code: int, reason: str) -> None:
        """Send what is queued, then close with ``code``."""
        if self.dropping is None:
            self._push(None)
            writer = self._writer
            if writer is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(asyncio.shield(writer), timeout=5)
            await self.ws.close(code=code, message=reason.encode()[:120])
        self.stop()

    def stop(self) -> None:
        self._gone = True
        self._outbox = None
        if self._writer is not None:
            self._writer.cancel()
        self._make_room()
