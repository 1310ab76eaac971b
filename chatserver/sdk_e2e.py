"""End-to-end encrypted peers on top of the SDK: a widget and a console without a user
interface, speaking docs/e2e.md with the Python reference implementation.

Tests use them to hold real encrypted conversations through a real server, and to play
the tampering server by changing frames before the peer sees them; benchmarks and the
demo use them as a client would. Every check a browser makes is made here too, and a
failed check raises :class:`~chatserver.e2e.E2EError` (or :class:`Tampering`).
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from . import e2e
from .e2e.primitives import PrivateKey
from .sdk import ClientPeer, ConsolePeer

__all__ = ["Channel", "SecureClient", "SecureCounsellor", "Tampering", "fetch_bundle"]


class Tampering(Exception):
    """A message was dropped, reordered, replayed or changed on the way: shown as such."""


def _b(text: str) -> bytes:
    return base64.b64decode(text)


async def fetch_bundle(base_url: str, team: str) -> dict[str, Any]:
    url = f"{base_url.rstrip('/')}/api/teams/{team}/bundle"
    async with aiohttp.ClientSession() as http, http.get(url) as response:
        response.raise_for_status()
        data: dict[str, Any] = await response.json()
        return data


@dataclass
class Channel:
    """One side's keys and counters for a conversation (both directions)."""

    cid: str
    me: str  # "c2t" for the client, "t2c" for the team
    keys: dict[int, e2e.ChatKeys] = field(default_factory=dict)  # by generation
    gen: int = 0
    sent: dict[int, int] = field(default_factory=dict)  # next n to send, by generation
    received: dict[int, int] = field(default_factory=dict)  # next n expected, by generation
    seen: dict[tuple[int, int], bytes] = field(default_factory=dict)  # (gen, n) -> body
    closed: bool = False  # a valid final-counts close arrived

    @property
    def peer_dir(self) -> str:
        return "t2c" if self.me == "c2t" else "c2t"

    def _key(self, gen: int, direction: str) -> bytes:
        keys = self.keys[gen]
        return keys.c2t if direction == "c2t" else keys.t2c

    def seal(self, text: str, kind: str = "msg") -> tuple[str, int, int, bytes]:
        """(id, gen, n, body) of the next outgoing message."""
        return self._seal_bytes(text.encode(), kind)

    def seal_close(self) -> tuple[str, int, int, bytes]:
        """The final-counts ``close`` message of the current generation."""
        gen = self.gen
        counts = e2e.seq("cc1 close", gen, self.sent.get(gen, 0), self.received.get(gen, 0))
        return self._seal_bytes(counts, "close")

    def _seal_bytes(self, data: bytes, kind: str) -> tuple[str, int, int, bytes]:
        gen = self.gen
        n = self.sent.get(gen, 0)
        self.sent[gen] = n + 1
        msg_id = f"{self.me[0]}{gen}-{n}"
        body = e2e.encrypt_message(
            self._key(gen, self.me),
            self.cid,
            self.me,
            gen,
            n,
            kind,
            msg_id,
            data,
            self.received.get(gen, 0),
        )
        return msg_id, gen, n, body

    def check_close(self, data: bytes, gen: int) -> None:
        """Compare the peer's final counts with ours (docs/e2e.md, "Closing")."""
        tag, their_gen, sent, received = (
            int.from_bytes(f, "big") if i else f for i, f in enumerate(e2e.unseq(data, 4))
        )
        if tag != b"cc1 close" or their_gen != gen:
            raise Tampering("a malformed close message")
        if sent != self.received.get(gen, 0) - 1:  # the close itself is not counted
            raise Tampering("message missing: the last messages never arrived")
        if received != self.sent.get(gen, 0):
            raise Tampering("your last messages never reached the other side")
        self.closed = True

    def open(self, frame: dict[str, Any]) -> str:
        """Check order and integrity of an incoming ``message`` frame; return its text."""
        if frame["conversation"] != self.cid:
            raise Tampering("a message of another conversation was delivered here")
        gen, n, body = frame["gen"], frame["n"], _b(frame["body"])
        if (gen, n) in self.seen:
            if self.seen[(gen, n)] == body:
                raise Tampering("a message was delivered twice (replay)")
            raise Tampering("two different messages claim the same place (equivocation)")
        if gen not in self.keys:
            raise Tampering("a message of an unknown key generation")
        expected = self.received.get(gen, 0)
        if n != expected:
            raise Tampering(f"message missing: expected #{expected}, got #{n}")
        text, _ack = e2e.decrypt_message(
            self._key(gen, self.peer_dir),
            self.cid,
            self.peer_dir,
            gen,
            n,
            frame["kind"],
            frame["id"],
            body,
        )
        self.seen[(gen, n)] = body
        self.received[gen] = n + 1
        if frame["kind"] == "close":
            self.check_close(text, gen)
            return ""
        return text.decode()


class SecureClient:
    """The widget's end-to-end part: bundle check, queue, accept, chat."""

    def __init__(self, peer: ClientPeer, bundle: e2e.Bundle) -> None:
        self.peer = peer
        self.bundle = bundle
        self.key: PrivateKey = e2e.generate()
        self.channel: Channel | None = None
        self.queued: list[bytes] = []  # queued bodies as sent, for the transcript

    @classmethod
    async def connect(
        cls,
        base_url: str,
        team: str,
        pin: str | None,
        now_ms: int,
        *,
        origin: str,
        min_epoch: int = 0,
    ) -> SecureClient:
        """Fetch and check the team bundle (refusing on any failed check), then connect."""
        wire = await fetch_bundle(base_url, team)
        bundle = e2e.check_bundle(wire, pin_value=pin, team=team, now=now_ms, min_epoch=min_epoch)
        return cls(await ClientPeer.connect(base_url, origin=origin), bundle)

    @property
    def public_key(self) -> bytes:
        return e2e.public_bytes(self.key)

    async def start(self, topic: str | None = None) -> dict[str, Any]:
        started = await self.peer.start(
            self.bundle.team, self.public_key, topic=topic, epoch=self.bundle.epoch
        )
        cid = started["conversation"]
        self.channel = Channel(
            cid,
            "c2t",
            {
                0: e2e.queue_keys(
                    self.key,
                    self.bundle.t_pub,
                    self.bundle.team,
                    self.bundle.epoch,
                    cid,
                    self.public_key,
                )
            },
        )
        return started

    @property
    def ended_cleanly(self) -> bool:
        """Whether the peer's final-counts ``close`` arrived and matched."""
        return self.channel is not None and self.channel.closed

    async def say(self, text: str) -> dict[str, Any]:
        assert self.channel is not None, "start first"
        msg_id, gen, n, body = self.channel.seal(text)
        if gen == 0:
            self.queued.append(body)
        return await self.peer.send(msg_id, body, gen=gen, n=n)

    async def hear(self) -> str:
        """The next message's text (an accept is handled on the way)."""
        while True:
            text = self.receive(await self.peer.next("message"))
            if text is not None:
                return text

    def receive(self, frame: dict[str, Any]) -> str | None:
        """Process one ``message`` frame: the text, or None for an accept."""
        assert self.channel is not None
        if frame["kind"] == "accept":
            self._accepted(frame)
            return None
        return self.channel.open(frame)

    def _accepted(self, frame: dict[str, Any]) -> None:
        channel = self.channel
        assert channel is not None
        if channel.gen != 0:
            raise Tampering("a second accept for an accepted conversation")
        if frame["gen"] != 0 or frame["n"] != channel.received.get(0, 0):
            raise Tampering("the accept is out of order")
        b = self.bundle
        opened = e2e.open_accept(
            channel.keys[0].t2c, b.team, b.epoch, channel.cid, self.public_key, _b(frame["body"])
        )
        if opened.n_seen > len(self.queued):
            raise Tampering("the accept claims more queued messages than were sent")
        expected = e2e.transcript(
            b.team,
            b.epoch,
            b.hash,
            channel.cid,
            self.public_key,
            opened.e_pub,
            opened.n_seen,
            e2e.queue_hash(self.queued[: opened.n_seen]),
        )
        if expected != opened.transcript:
            raise Tampering("the accept does not match what this device sent")
        channel.received[0] = frame["n"] + 1
        channel.keys[1] = e2e.chat_keys(
            e2e.ecdh(self.key, opened.e_pub), e2e.ecdh(self.key, b.t_pub), expected
        )
        channel.gen = 1


@dataclass
class _Held:
    channel: Channel
    epoch: int


class SecureCounsellor:
    """The console's end-to-end part for held conversations. ``epochs`` maps an epoch to its
    private key and bundle (what the console unwrapped from its team-key envelopes)."""

    def __init__(
        self,
        peer: ConsolePeer,
        epochs: dict[int, tuple[PrivateKey, e2e.Bundle]],
        signing: PrivateKey,
    ) -> None:
        self.peer = peer
        self.epochs = epochs
        self.signing = signing
        self.held: dict[str, _Held] = {}

    async def accept(self, conversation: str) -> list[str]:
        """Accept, read the queue, send the E2E accept; returns the queued texts."""
        assigned = await self.peer.accept(conversation)
        epoch = assigned["epoch"]
        t_key, bundle = self.epochs[epoch]
        c_pub = _b(assigned["client_key"])
        queue = e2e.queue_keys(t_key, c_pub, bundle.team, epoch, conversation, c_pub)
        channel = Channel(conversation, "t2c", {0: queue})
        await self.peer.fetch(conversation)
        queued: list[dict[str, Any]] = []
        for _ in range(assigned["last_seq"]):
            frame = await self.peer.next("message")
            if frame["sender"] == "client" and frame["gen"] == 0:
                queued.append(frame)
        texts = [channel.open(frame) for frame in queued]
        bodies = [_b(frame["body"]) for frame in queued]
        e_key = e2e.generate()
        e_pub = e2e.public_bytes(e_key)
        tr = e2e.transcript(
            bundle.team,
            epoch,
            bundle.hash,
            conversation,
            c_pub,
            e_pub,
            len(bodies),
            e2e.queue_hash(bodies),
        )
        body = e2e.make_accept(
            queue.t2c, bundle.team, epoch, conversation, c_pub, e_pub, len(bodies), tr
        )
        n = channel.sent.get(0, 0)
        channel.sent[0] = n + 1
        await self.peer.send(conversation, f"t0-{n}", body, gen=0, n=n, kind="accept")
        channel.keys[1] = e2e.chat_keys(e2e.ecdh(e_key, c_pub), e2e.ecdh(t_key, c_pub), tr)
        channel.gen = 1
        self.held[conversation] = _Held(channel, epoch)
        # Escrow E to the epoch key so the team can read this conversation later.
        await self.peer.envelope(
            conversation,
            "conv-key-1",
            "conv_key",
            e2e.seal_envelope(
                self.signing, bundle.t_pub, "conv_key", conversation, epoch, e2e.pkcs8(e_key)
            ),
            epoch,
        )
        return texts

    async def say(self, conversation: str, text: str) -> dict[str, Any]:
        msg_id, gen, n, body = self.held[conversation].channel.seal(text)
        return await self.peer.send(conversation, msg_id, body, gen=gen, n=n)

    async def close(self, conversation: str, category: str | None = None) -> None:
        """Send the final counts, then end the conversation."""
        channel = self.held[conversation].channel
        msg_id, gen, n, body = channel.seal_close()
        await self.peer.send(conversation, msg_id, body, gen=gen, n=n, kind="close")
        await self.peer.close_conversation(conversation, category)

    async def hear(self, conversation: str) -> str:
        while True:
            frame = await self.peer.next("message")
            if frame["conversation"] == conversation:
                return self.held[conversation].channel.open(frame)

    async def note(self, conversation: str, note_id: str, text: str) -> dict[str, Any]:
        """An internal note: an envelope to the epoch key, signed; never sent to the client."""
        epoch = self.held[conversation].epoch
        _, bundle = self.epochs[epoch]
        envelope = e2e.seal_envelope(
            self.signing, bundle.t_pub, "note", conversation, epoch, text.encode()
        )
        return await self.peer.envelope(conversation, note_id, "note", envelope, epoch)
