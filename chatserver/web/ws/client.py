"""``/ws/client``: the widget's connection. No cookie, no account: a conversation is
reached by its resume token only."""

from __future__ import annotations

from aiohttp import web

from chatserver import PROTOCOL_VERSION
from chatserver.chat.core import conv_topic
from chatserver.chat.hub import Hub
from chatserver.chat.service import ChatService, message_frame
from chatserver.protocol import frames as f
from chatserver.protocol.errors import InvalidTransition, Overloaded
from chatserver.protocol.lifecycle import State
from chatserver.web.state import CONNECTIONS, HUB, SERVICE, SETTINGS, STORE
from chatserver.web.ws.connection import Connection
from chatserver.web.ws.sockets import open_socket, run_socket


async def origin_allowed(request: web.Request) -> str | None:
    """The request's Origin if the server's own or any team's allowed origin, else 403."""
    origin = request.headers.get("Origin")
    if origin == request.app[SETTINGS].origin:
        return origin
    if origin is None or origin not in await request.app[STORE].all_origins():
        raise web.HTTPForbidden(text="origin not allowed")
    return origin


async def client_socket(request: web.Request) -> web.WebSocketResponse:
    app = request.app
    settings, service = app[SETTINGS], app[SERVICE]
    origin = await origin_allowed(request)
    if len(app[CONNECTIONS]) >= settings.max_connections:
        raise Overloaded("the server is full right now; please try again in a minute")
    ws, conn = open_socket(request, "client")
    await ws.prepare(request)
    peer = _Client(conn, service, app[HUB], origin)
    conn.send(
        f.Hello(
            "client", PROTOCOL_VERSION, settings.max_frame_bytes, pow=service.start_challenge(0)
        )
    )
    try:
        await run_socket(request, conn, peer.dispatch)
    finally:
        if conn.conversation is not None:
            peer.hub.unsubscribe(conv_topic(conn.conversation), conn)
    return ws


class _Client:
    """What one widget connection may do. A slotted object rather than closures: it is
    held for as long as the widget stays open, thousands at a time."""

    __slots__ = ("conn", "hub", "origin", "service")

    def __init__(self, conn: Connection, service: ChatService, hub: Hub, origin: str | None):
        self.conn, self.service, self.hub, self.origin = conn, service, hub, origin

    def bind(self, conversation_id: str) -> None:
        self.conn.conversation = conversation_id
        self.hub.subscribe(conv_topic(conversation_id), self.conn)

    def bound(self) -> str:
        if self.conn.conversation is None:
            raise InvalidTransition("start or resume a conversation first")
        return self.conn.conversation

    async def dispatch(self, frame: f.Frame) -> None:
        conn, service, hub = self.conn, self.service, self.hub
        match frame:
            case f.Start():
                if conn.conversation is not None:
                    raise InvalidTransition("this connection already has a conversation")
                row, token, place = await service.start(frame, self.origin)
                self.bind(row.id)
                await hub.flush()
                conn.send(f.Started(row.id, token, place.position, place.estimate_seconds))
            case f.Resume():
                if conn.conversation is not None:
                    raise InvalidTransition("this connection already has a conversation")
                row, missed, waiting = await service.resume(frame)
                # Then subscribe, and read once more what changed between the first read
                # and the subscription (with several processes it takes a round trip to
                # Redis): the state (an accept may have come in between) and the messages
                # stored meanwhile; peers order by seq and drop duplicates. After a full
                # page the client fetches the rest page by page (docs/protocol.md).
                self.bind(row.id)
                await hub.flush()
                after = missed[-1].seq if missed else frame.last_seq
                state, last_seq, more = await service.catch_up(row.id, after, f.PAGE - len(missed))
                missed += more
                if state is not State.WAITING:
                    waiting = None
                conn.send(
                    f.Resumed(
                        row.id,
                        state.value,
                        last_seq,
                        row.client_key,
                        row.team,
                        row.topic,
                        row.epoch,
                        waiting.position if waiting else None,
                        waiting.estimate_seconds if waiting else None,
                    )
                )
                for message in missed:
                    await conn.reply(message_frame(message))
            case f.Send():
                conn.send(await service.client_send(self.bound(), frame))
            case f.Fetch():
                for message in await service.client_fetch(self.bound(), frame.after):
                    await conn.reply(message_frame(message))
            case f.Typing():
                await service.client_typing(self.bound(), frame.active)
            case f.Close():
                await service.client_close(self.bound())
            case f.Delete():
                conversation_id = self.bound()
                await service.client_delete(conversation_id)
                hub.unsubscribe(conv_topic(conversation_id), conn)
                conn.conversation = None
