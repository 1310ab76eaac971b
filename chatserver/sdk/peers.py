"""A Python client for the chat server's public interface, on ``websockets``.

Tests, benchmarks, the docs' examples and scripted checks use this; it speaks exactly the
protocol in ``docs/protocol.md`` and nothing private. Frames are plain dicts; ``bytes``
fields are base64 on the wire and given and returned here as ``bytes`` only where noted.

::

    async with await ClientPeer.connect("http://127.0.0.1:8080") as client:
        started = await client.start("demo", client_key=public_key_bytes)
        ack = await client.send("m1", b"ciphertext")
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Iterable
from typing import Any, Self

import aiohttp
from websockets.asyncio.client import ClientConnection, connect

from chatserver.e2e.password import auth_credential, derive_master
from chatserver.protocol.frames import Challenge
from chatserver.protocol.limits import solve

__all__ = ["ChatRefused", "ClientPeer", "ConsolePeer", "b64", "login", "login_salt"]

Frame = dict[str, Any]


class ChatRefused(Exception):
    """The server answered with an ``error`` frame."""

    def __init__(self, frame: Frame) -> None:
        super().__init__(f"{frame.get('code')}: {frame.get('message')}")
        self.frame = frame
        self.code: str = frame.get("code", "")


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _ws_url(base: str, path: str) -> str:
    return base.replace("https://", "wss://").replace("http://", "ws://").rstrip("/") + path


class _Peer:
    """Common parts: a reader task and a buffer from which frames are taken by type."""

    role = ""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self._inbox: asyncio.Queue[Frame | None] = asyncio.Queue()
        self._buffer: list[Frame] = []
        self._reader = asyncio.create_task(self._read())
        self.hello: Frame = {}

    async def _read(self) -> None:
        try:
            async for raw in self.ws:
                self._inbox.put_nowait(json.loads(raw))
        except Exception:  # the connection went away; close_code tells why
            pass
        finally:
            self._inbox.put_nowait(None)

    @property
    def close_code(self) -> int | None:
        return self.ws.close_code

    async def _opened(self) -> Self:
        self.hello = await self.next("hello")
        return self

    async def send_frame(self, frame: Frame) -> None:
        await self.ws.send(json.dumps(frame))

    async def send_raw(self, data: str | bytes) -> None:
        await self.ws.send(data)

    async def next(self, *types: str, errors: bool = True, timeout: float = 10) -> Frame:
        """The next frame of one of ``types`` (any type when none are given). Frames of
        other types stay buffered for later calls. An ``error`` frame raises
        :class:`ChatRefused` unless ``errors`` is false or ``"error"`` is asked for."""

        def wanted(frame: Frame) -> bool:
            return not types or frame["type"] in types

        for i, frame in enumerate(self._buffer):
            if wanted(frame) or (errors and frame["type"] == "error"):
                del self._buffer[i]
                return self._check(frame, types, errors)
        async with asyncio.timeout(timeout):
            while True:
                got = await self._inbox.get()
                if got is None:
                    self._inbox.put_nowait(None)
                    raise ConnectionError(f"connection closed ({self.ws.close_code})")
                if wanted(got) or (errors and got["type"] == "error"):
                    return self._check(got, types, errors)
                self._buffer.append(got)

    @staticmethod
    def _check(frame: Frame, types: Iterable[str], errors: bool) -> Frame:
        if frame["type"] == "error" and errors and "error" not in types:
            raise ChatRefused(frame)
        return frame

    def unread(self, frames: list[Frame]) -> None:
        """Put frames back, in order, ahead of everything buffered."""
        self._buffer[:0] = frames

    def pending(self, type_: str) -> list[Frame]:
        """Frames of a type already received and not yet taken."""
        return [f for f in self._buffer if f["type"] == type_]

    async def wait_closed(self, timeout: float = 10) -> int | None:
        async with asyncio.timeout(timeout):
            await self._reader
        return self.ws.close_code

    async def close(self) -> None:
        await self.ws.close()
        await asyncio.gather(self._reader, return_exceptions=True)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


class ClientPeer(_Peer):
    """What the widget does, minus the user interface (and, until E2E, minus crypto)."""

    role = "client"

    @classmethod
    async def connect(
        cls, base_url: str, *, origin: str | None = None, headers: dict[str, str] | None = None
    ) -> ClientPeer:
        ws = await connect(
            _ws_url(base_url, "/ws/client"),
            origin=origin or base_url.rstrip("/"),  # type: ignore[arg-type]
            compression=None,
            additional_headers=headers,
            max_size=None,
        )
        return await cls(ws)._opened()

    async def start(
        self,
        team: str,
        client_key: bytes,
        *,
        topic: str | None = None,
        consent: str = "v1",
        epoch: int | None = None,
    ) -> Frame:
        """Start a conversation, solving a proof of work when the server asks for one."""
        challenge = self.hello.get("pow")
        for _ in range(3):
            frame: Frame = {
                "type": "start",
                "team": team,
                "client_key": b64(client_key),
                "consent": consent,
            }
            if topic is not None:
                frame["topic"] = topic
            if epoch is not None:
                frame["epoch"] = epoch
            if challenge:
                puzzle = Challenge(challenge["challenge"], challenge["difficulty"])
                frame["pow_challenge"] = puzzle.challenge
                frame["pow_nonce"] = await asyncio.to_thread(solve, puzzle)
            await self.send_frame(frame)
            reply = await self.next("started", "error", errors=False)
            if reply["type"] == "started":
                return reply
            if reply["code"] != "pow_required":
                raise ChatRefused(reply)
            challenge = reply["pow"]
        raise ChatRefused(reply)

    async def resume(self, conversation: str, token: str, last_seq: int = 0) -> Frame:
        await self.send_frame(
            {"type": "resume", "conversation": conversation, "token": token, "last_seq": last_seq}
        )
        return await self.next("resumed")

    async def send(
        self, id: str, body: bytes, *, gen: int = 0, n: int = 0, kind: str = "msg"
    ) -> Frame:
        """Send one message and wait for its ack (after commit)."""
        await self.send_frame(
            {"type": "send", "id": id, "body": b64(body), "gen": gen, "n": n, "kind": kind}
        )
        return await self.next("ack")

    async def typing(self, active: bool) -> None:
        await self.send_frame({"type": "typing", "active": active})

    async def fetch(self, after: int) -> None:
        await self.send_frame({"type": "fetch", "after": after})

    async def _state(self, *states: str) -> Frame:
        while True:
            frame = await self.next("state")
            if frame["state"] in states:
                return frame

    async def close_conversation(self) -> Frame:
        """End the conversation; returns the ``state`` frame (closed or abandoned)."""
        await self.send_frame({"type": "close"})
        return await self._state("closed", "abandoned")

    async def delete(self) -> Frame:
        """Delete the conversation now; returns the ``state`` frame saying so."""
        await self.send_frame({"type": "delete"})
        return await self._state("deleted")


async def login_salt(base_url: str, username: str, *, origin: str | None = None) -> str:
    """What the server says the password of ``username`` is salted with."""
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            base_url.rstrip("/") + "/api/login/salt",
            json={"username": username},
            headers={"Origin": origin or base_url.rstrip("/")},
        ) as response,
    ):
        data = await response.json()
        if response.status != 200:
            raise ChatRefused({"type": "error", **data["error"]})
        return str(data["salt"])


async def login(
    base_url: str,
    username: str,
    *,
    password: str | None = None,
    credential: str | None = None,
    totp: str = "",
    origin: str | None = None,
) -> tuple[str, str]:
    """Sign in over HTTP; returns (cookie header value, CSRF token). With a password the
    credential is derived as a console does it, with the salt the server names."""
    origin = origin or base_url.rstrip("/")
    if credential is None:
        assert password is not None, "give a password or a derived credential"
        salt = await login_salt(base_url, username, origin=origin)
        master = await asyncio.to_thread(derive_master, password, salt, username)
        credential = auth_credential(master)
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            base_url.rstrip("/") + "/api/login",
            json={"username": username, "credential": credential, "totp": totp},
            headers={"Origin": origin},
        ) as response,
    ):
        data = await response.json()
        if response.status != 200:
            raise ChatRefused({"type": "error", **data["error"]})
        cookie = "; ".join(f"{k}={v.value}" for k, v in response.cookies.items())
        return cookie, data["csrf"]


class ConsolePeer(_Peer):
    """What the duty console does over its socket."""

    role = "console"

    @classmethod
    async def connect(cls, base_url: str, cookie: str, *, origin: str | None = None) -> ConsolePeer:
        ws = await connect(
            _ws_url(base_url, "/ws/console"),
            origin=origin or base_url.rstrip("/"),  # type: ignore[arg-type]
            compression=None,
            additional_headers={"Cookie": cookie},
            max_size=None,
        )
        return await cls(ws)._opened()

    async def availability(self, status: str) -> None:
        await self.send_frame({"type": "availability", "status": status})

    async def accept(
        self,
        conversation: str,
        *,
        id: str | None = None,
        key: bytes | None = None,
        body: bytes | None = None,
    ) -> Frame:
        frame: Frame = {"type": "accept", "conversation": conversation}
        if id is not None:
            frame["id"] = id
        if key is not None:
            frame["key"] = b64(key)
        if body is not None:
            frame["body"] = b64(body)
        await self.send_frame(frame)
        return await self.next("assigned")

    async def send(
        self,
        conversation: str,
        id: str,
        body: bytes,
        *,
        gen: int = 0,
        n: int = 0,
        kind: str = "msg",
    ) -> Frame:
        await self.send_frame(
            {
                "type": "send",
                "conversation": conversation,
                "id": id,
                "body": b64(body),
                "gen": gen,
                "n": n,
                "kind": kind,
            }
        )
        return await self.next("ack")

    async def fetch(self, conversation: str, after: int = 0) -> None:
        await self.send_frame({"type": "fetch", "conversation": conversation, "after": after})

    async def envelope_list(self, conversation: str) -> Frame:
        """The server's ``envelopes`` answer: every envelope stored for ``conversation``
        (keys of each generation, notes, holds), its client key, queue epoch and last seq."""
        await self.send_frame({"type": "envelopes", "conversation": conversation})
        while True:
            frame = await self.next("envelopes")
            if frame["conversation"] == conversation:
                return frame

    async def envelopes(self, conversation: str) -> list[Frame]:
        """Every envelope stored for ``conversation``."""
        items: list[Frame] = (await self.envelope_list(conversation))["items"]
        return items

    async def typing(self, conversation: str, active: bool) -> None:
        await self.send_frame({"type": "typing", "conversation": conversation, "active": active})

    async def transfer(
        self, conversation: str, to: str | None = None, note: bytes | None = None
    ) -> Frame:
        frame: Frame = {"type": "transfer", "conversation": conversation}
        if to is not None:
            frame["to"] = to
        if note is not None:
            frame["note"] = b64(note)
        await self.send_frame(frame)
        return await self.next("released")

    async def close_conversation(self, conversation: str, category: str | None = None) -> Frame:
        frame: Frame = {"type": "close", "conversation": conversation}
        if category is not None:
            frame["category"] = category
        await self.send_frame(frame)
        return await self.next("released")

    async def block(self, conversation: str, hours: int = 24) -> Frame:
        await self.send_frame({"type": "block", "conversation": conversation, "hours": hours})
        return await self.next("released")

    async def envelope(
        self, conversation: str, id: str, purpose: str, body: bytes, epoch: int = 0
    ) -> Frame:
        await self.send_frame(
            {
                "type": "envelope",
                "conversation": conversation,
                "id": id,
                "purpose": purpose,
                "body": b64(body),
                "epoch": epoch,
            }
        )
        return await self.next("ack")
