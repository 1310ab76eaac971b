"""A tampering proxy between real sockets: it plays the malicious chat server of the
threat model (docs/e2e.md) from outside the server process.

Peers connect to the proxy as if it were the chat server; it forwards every HTTP request
and every WebSocket frame to the real server and back, keeping the ``Origin`` header and
the cookies, and lets a test change what passes::

    proxy = await TamperProxy(server.url).start()
    client = await SecureClient.connect(proxy.url, ...)        # talks through the proxy
    link = await proxy.conversation_link(cid)                 # its WebSocket pair
    link.to_peer.hook = lambda link, frame: []                # drop every server frame
    await link.to_peer.send({"type": "message", ...})         # inject one
    await link.to_peer.seen.wait("message", n=1)              # sync on what passed

Each WebSocket connection is a :class:`Link` with two :class:`Pipe` s, ``to_peer`` (server
to peer) and ``to_server`` (peer to server). A pipe's ``hook`` gets every decoded JSON text
frame and returns the frames to send instead: ``[]`` drops, two frames inject or replay, a
changed dict alters; it may be a coroutine function. ``hold`` keeps frames back and
``release`` sends them later (reorder); ``send`` injects frames, for instance ones taken
from another link (cross-conversation). Every HTTP request is recorded with its body
(:attr:`TamperProxy.exchanges`) and ``on_reply`` may replace an answer.

Nothing here sleeps: tests wait on :meth:`Tape.wait` and :meth:`TamperProxy.conversation_link`,
which are woken by the frames themselves.
"""

from __future__ import annotations

import asyncio
import copy
import inspect
import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Self

import aiohttp
from aiohttp import web
from multidict import CIMultiDict

__all__ = ["Exchange", "Frame", "Hook", "Link", "Pipe", "Reply", "TamperProxy", "Tape"]

Frame = dict[str, Any]
Hook = Callable[["Link", Frame], "list[Frame] | Awaitable[list[Frame]]"]
ReplyHook = Callable[["Exchange"], "Reply | None"]

#: Headers that belong to one hop and are never forwarded (RFC 9110, 7.6.1), plus those
#: the proxy's own HTTP stack computes again.
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "host",
        "content-length",
    }
)
#: The WebSocket handshake is made afresh on each side.
WS_HANDSHAKE = frozenset(
    {
        "sec-websocket-key",
        "sec-websocket-version",
        "sec-websocket-extensions",
        "sec-websocket-accept",
        "sec-websocket-protocol",
    }
)
WAIT_SECONDS = 10.0


def _forwardable(headers: Mapping[str, str], skip: frozenset[str] = HOP_BY_HOP) -> CIMultiDict[str]:
    out: CIMultiDict[str] = CIMultiDict()
    for name, value in headers.items():
        if name.lower() not in skip:
            out.add(name, value)
    return out


@dataclass
class Reply:
    """An HTTP answer as the proxy will send it to the peer."""

    status: int
    headers: CIMultiDict[str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    def with_json(self, data: Any, status: int | None = None) -> Reply:
        """The same answer with another JSON body."""
        headers = CIMultiDict(self.headers)
        headers["Content-Type"] = "application/json"
        headers.popall("Content-Encoding", None)
        return Reply(status or self.status, headers, json.dumps(data).encode())


@dataclass
class Exchange:
    """One forwarded HTTP request (a WebSocket upgrade too), exactly as the peer sent it,
    and the answer it got (101 for an upgrade the server took)."""

    method: str
    path: str  # path and query string, as sent
    headers: CIMultiDict[str]
    body: bytes
    reply: Reply | None = None  # None until the server answered


class Tape:
    """The frames that passed one direction of a link, as they arrived from their sender
    (before any hook), recorded after the hook's frames were sent on."""

    def __init__(self) -> None:
        self.frames: list[Frame] = []
        self._changed = asyncio.Condition()

    async def record(self, frame: Frame) -> None:
        async with self._changed:
            self.frames.append(frame)
            self._changed.notify_all()

    def find(self, type_: str, **match: Any) -> list[Frame]:
        return [
            f
            for f in self.frames
            if f.get("type") == type_ and all(f.get(k) == v for k, v in match.items())
        ]

    async def wait(self, type_: str, count: int = 1, **match: Any) -> Frame:
        """The ``count``-th frame of ``type_`` whose fields equal ``match``, once passed."""
        async with asyncio.timeout(WAIT_SECONDS), self._changed:
            await self._changed.wait_for(lambda: len(self.find(type_, **match)) >= count)
            return self.find(type_, **match)[count - 1]


class Pipe:
    """One direction of a link: a hook, held frames, injection and a tape of what passed."""

    def __init__(self, link: Link, send: Callable[[str], Awaitable[None]]) -> None:
        self.link = link
        self.hook: Hook | None = None
        self.seen = Tape()
        self.held: list[Frame] = []
        self.sent: list[Frame] = []  # what actually went out, after hooks and injections
        self._send = send
        self._lock = asyncio.Lock()

    def hold(self, frame: Frame) -> list[Frame]:
        """Keep ``frame`` back until :meth:`release`; returns ``[]`` for a hook to return."""
        self.held.append(frame)
        return []

    async def release(self) -> None:
        """Send the held frames on, in the order they were held."""
        held, self.held = self.held, []
        await self.send(*held)

    async def send(self, *frames: Frame) -> None:
        """Send frames in this direction: a hook's answer, held frames, injected ones."""
        async with self._lock:
            for frame in frames:
                self.sent.append(frame)
                await self._send(json.dumps(frame))

    async def _pass(self, frame: Frame) -> None:
        original = copy.deepcopy(frame)  # a hook may change the frame it is given
        out: list[Frame] = [frame]
        if self.hook is not None:
            result = self.hook(self.link, frame)
            out = await result if inspect.isawaitable(result) else result
        await self.send(*out)
        await self.seen.record(original)


class Link:
    """One WebSocket connection through the proxy: the peer's socket and the server's."""

    def __init__(
        self, path: str, peer: web.WebSocketResponse, server: aiohttp.ClientWebSocketResponse
    ) -> None:
        self.path = path
        self.peer = peer
        self.server = server
        self.conversation: str | None = None  # a client link's conversation, once started
        self.to_peer = Pipe(self, peer.send_str)
        self.to_server = Pipe(self, server.send_str)

    async def close(self) -> None:
        await self.server.close()
        await self.peer.close()


class TamperProxy:
    """An aiohttp server on 127.0.0.1 (a free port) in front of ``upstream``."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")
        self.url = ""
        self.exchanges: list[Exchange] = []
        self.on_reply: ReplyHook | None = None
        self.links: list[Link] = []
        self._links_changed = asyncio.Condition()
        self._runner: web.AppRunner | None = None
        self._http: aiohttp.ClientSession | None = None

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> Self:
        # No cookie jar: cookies pass through as headers and belong to the peers.
        self._http = aiohttp.ClientSession(
            cookie_jar=aiohttp.DummyCookieJar(), auto_decompress=False
        )
        app = web.Application(client_max_size=4 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}"
        return self

    async def stop(self) -> None:
        await asyncio.gather(*(link.close() for link in self.links), return_exceptions=True)
        if self._runner is not None:
            await self._runner.cleanup()
        if self._http is not None:
            await self._http.close()

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # ------------------------------------------------------------------ finding links
    def newest(self, path: str) -> Link:
        """The link of ``path`` opened last (a peer's connect returns after its hello has
        passed the proxy, so its link is registered by then)."""
        for link in reversed(self.links):
            if link.path == path:
                return link
        raise LookupError(f"no connection to {path} went through the proxy")

    async def conversation_link(self, conversation: str) -> Link:
        """The client link whose conversation is ``conversation`` (waits for its start)."""

        def find() -> Link | None:
            return next((k for k in self.links if k.conversation == conversation), None)

        async with asyncio.timeout(WAIT_SECONDS), self._links_changed:
            await self._links_changed.wait_for(lambda: find() is not None)
            link = find()
            assert link is not None
            return link

    async def _changed(self) -> None:
        async with self._links_changed:
            self._links_changed.notify_all()

    # ------------------------------------------------------------------ HTTP
    async def _handle(self, request: web.Request) -> web.StreamResponse:
        if request.headers.get("Upgrade", "").lower() == "websocket":
            return await self._websocket(request)
        return await self._forward(request)

    async def _forward(self, request: web.Request) -> web.Response:
        assert self._http is not None
        exchange = Exchange(
            request.method,
            request.raw_path,
            CIMultiDict(request.headers),
            await request.read(),
        )
        self.exchanges.append(exchange)
        async with self._http.request(
            request.method,
            self.upstream + request.raw_path,
            headers=_forwardable(request.headers),
            data=exchange.body if exchange.body else None,
            allow_redirects=False,
        ) as answer:
            reply = Reply(answer.status, _forwardable(answer.headers), await answer.read())
        exchange.reply = reply
        if self.on_reply is not None:
            reply = self.on_reply(exchange) or reply
        return web.Response(status=reply.status, headers=reply.headers, body=reply.body)

    # ------------------------------------------------------------------ WebSocket
    async def _websocket(self, request: web.Request) -> web.StreamResponse:
        assert self._http is not None
        url = self.upstream.replace("http://", "ws://", 1) + request.raw_path
        exchange = Exchange(request.method, request.raw_path, CIMultiDict(request.headers), b"")
        self.exchanges.append(exchange)
        try:
            server = await self._http.ws_connect(
                url,
                headers=_forwardable(request.headers, HOP_BY_HOP | WS_HANDSHAKE),
                autoclose=True,
                autoping=True,
                max_msg_size=0,
                compress=0,
            )
        except aiohttp.WSServerHandshakeError as refused:
            # The server refused the upgrade (origin, cookie, capacity): say the same.
            exchange.reply = Reply(refused.status, CIMultiDict(), refused.message.encode())
            return web.Response(status=refused.status, text=refused.message)
        exchange.reply = Reply(101, CIMultiDict(), b"")
        peer = web.WebSocketResponse(autoclose=True, autoping=True, max_msg_size=0, compress=False)
        await peer.prepare(request)
        link = Link(request.path, peer, server)
        self.links.append(link)
        await self._changed()
        down = asyncio.create_task(self._pump_to_peer(link))
        up = asyncio.create_task(self._pump_to_server(link))
        try:
            await asyncio.wait({down, up}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            # Whichever side ended first, end the other with the same close code.
            if down.done():
                await peer.close(code=_sendable(server.close_code))
                await server.close()
            else:
                await server.close(code=_sendable(peer.close_code))
                await peer.close()
            for task in (down, up):
                task.cancel()
            await asyncio.gather(down, up, return_exceptions=True)
        return peer

    async def _pump_to_peer(self, link: Link) -> None:
        async for message in link.server:
            if message.type == aiohttp.WSMsgType.TEXT:
                frame = _decode(message.data)
                if frame is None:
                    await link.peer.send_str(message.data)
                    continue
                if frame.get("type") in ("started", "resumed"):
                    link.conversation = frame.get("conversation")
                    await self._changed()
                await link.to_peer._pass(frame)
            elif message.type == aiohttp.WSMsgType.BINARY:
                await link.peer.send_bytes(message.data)

    async def _pump_to_server(self, link: Link) -> None:
        async for message in link.peer:
            if message.type == aiohttp.WSMsgType.TEXT:
                frame = _decode(message.data)
                if frame is None:
                    await link.server.send_str(message.data)
                    continue
                await link.to_server._pass(frame)
            elif message.type == aiohttp.WSMsgType.BINARY:
                await link.server.send_bytes(message.data)


def _sendable(code: int | None) -> int:
    """A close code to pass on: codes that only describe a missing close frame (1005,
    1006, 1015) may not be sent, so those become 1011."""
    if code is None:
        return int(aiohttp.WSCloseCode.OK)
    return int(aiohttp.WSCloseCode.INTERNAL_ERROR) if code in (1005, 1006, 1015) else code


def _decode(text: str) -> Frame | None:
    """A JSON object frame, or None for anything else (passed on untouched)."""
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None
