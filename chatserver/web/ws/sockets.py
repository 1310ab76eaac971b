"""The WebSocket read loop shared by the client and the console endpoints.

Read a frame, check the rate, decode, hand it to the role's dispatcher, and turn any
:class:`ChatError` into an ``error`` frame (closing with its code when it is fatal).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable

from aiohttp import WSMsgType, web

from chatserver.protocol import frames as f
from chatserver.protocol.codec import decode
from chatserver.protocol.errors import (
    CLOSE_MESSAGE_TOO_BIG,
    CLOSE_POLICY_VIOLATION,
    CLOSE_UNSUPPORTED_DATA,
    ChatError,
    FrameTooLarge,
    PeerError,
    RateLimited,
    ServerError,
)
from chatserver.protocol.limits import TokenBucket
from chatserver.web.state import CONNECTIONS, METRICS, SETTINGS
from chatserver.web.ws.connection import Connection

log = logging.getLogger("chatserver.web")

Dispatch = Callable[[f.Frame], Awaitable[None]]

#: Refused frames in a row after which a flooding peer is disconnected.
MAX_STRIKES = 20


def open_socket(request: web.Request, role: str) -> tuple[web.WebSocketResponse, Connection]:
    settings = request.app[SETTINGS]
    # aiohttp's own cap is twice ours: frames between the two get a `too_large` error
    # frame from the codec before the 1009 close; larger ones are cut off by aiohttp
    # (also with 1009) without reading them whole.
    ws = web.WebSocketResponse(
        compress=False, max_msg_size=2 * settings.max_frame_bytes, heartbeat=30.0
    )
    return ws, Connection(ws, role, settings.send_queue)


async def run_socket(request: web.Request, conn: Connection, dispatch: Dispatch) -> None:
    """Serve ``conn`` until it closes. The socket must already be prepared."""
    app = request.app
    settings, metrics = app[SETTINGS], app[METRICS]
    bucket = TokenBucket(settings.frame_rate, settings.frame_burst)
    strikes = 0
    app[CONNECTIONS].add(conn)
    metrics.inc("chat_connections_total", "WebSocket connections opened.", role=conn.role)
    log.info("event=open conn=%s role=%s", conn.id, conn.role)
    try:
        async for msg in conn.ws:
            if msg.type is WSMsgType.BINARY:
                exc: ChatError = _Binary("frames are JSON text, not binary")
                conn.send_error(exc)
                await conn.close(CLOSE_UNSUPPORTED_DATA, exc.message)
                break
            if msg.type is not WSMsgType.TEXT:
                break
            started = time.perf_counter()
            frame: f.Frame | None = None
            try:
                if not bucket.take(time.monotonic()):
                    raise RateLimited("you are sending too fast; slow down")
                frame = decode(msg.data, conn.role, settings.max_frame_bytes)
                await dispatch(frame)
                strikes = 0
            except ChatError as exc:
                strikes += 1
                metrics.inc("chat_errors_total", "Errors answered, by code.", code=exc.code)
                conn.send_error(exc, frame)
                if exc.fatal or strikes >= MAX_STRIKES:
                    await conn.close(
                        exc.close_code if exc.fatal else CLOSE_POLICY_VIOLATION, exc.message
                    )
                    break
            except Exception:
                log.exception("event=handler_failed conn=%s", conn.id)
                server = ServerError("something went wrong on the server; please retry")
                conn.send_error(server)
                await conn.close(server.close_code, server.message)
                break
            metrics.observe(
                "chat_frame_seconds",
                "Time to handle one inbound frame.",
                time.perf_counter() - started,
            )
        if conn.ws.close_code == CLOSE_MESSAGE_TOO_BIG:
            metrics.inc("chat_errors_total", "Errors answered, by code.", code=FrameTooLarge.code)
    finally:
        app[CONNECTIONS].discard(conn)
        conn.stop()
        log.info("event=close conn=%s role=%s code=%s", conn.id, conn.role, conn.ws.close_code)


class _Binary(PeerError):
    code = "malformed"
    close_code = CLOSE_UNSUPPORTED_DATA
    fatal = True
