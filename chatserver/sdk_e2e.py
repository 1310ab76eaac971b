"""End-to-end encrypted peers on top of the SDK: a widget and a console without a user
interface, speaking docs/e2e.md with the Python reference implementation.

Tests use them to hold real encrypted conversations through a real server, and to play
the tampering server by changing frames before the peer sees them; benchmarks and the
demo use them as a client would. Every check a browser makes is made here too, and a
failed check raises :class:`~chatserver.e2e.E2EError` (or :class:`Tampering`).
"""

from __future__ import annotations

import base64
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from . import e2e
from .e2e.channel import Channel, Opened, Tampering
from .e2e.primitives import PrivateKey
from .sdk import ClientPeer, ConsolePeer

__all__ = ["Channel", "SecureClient", "SecureCounsellor", "Tampering", "fetch_bundle"]

Clock = Callable[[], int]  # unix milliseconds


def _b(text: str) -> bytes:
    return base64.b64decode(text)


def _now_ms() -> int:
    return int(time.time() * 1000)


async def fetch_bundle(base_url: str, team: str, epoch: int | None = None) -> dict[str, Any]:
    """The team's current bundle, or one epoch's (unchecked: pass it to ``check_bundle``)."""
    url = f"{base_url.rstrip('/')}/api/teams/{team}/bundle"
    params = {} if epoch is None else {"epoch": str(epoch)}
    async with aiohttp.ClientSession() as http, http.get(url, params=params) as response:
        response.raise_for_status()
        data: dict[str, Any] = await response.json()
        return data


class SecureClient:
    """The widget's end-to-end part: bundle check, queue, accept, chat, rekey."""

    def __init__(
        self,
        peer: ClientPeer,
        bundle: e2e.Bundle,
        *,
        base_url: str = "",
        pin: str | None = None,
        clock: Clock = _now_ms,
    ) -> None:
        self.peer = peer
        self.bundle = bundle  # of the queue (the epoch the conversation started in)
        self.bundles = {bundle.epoch: bundle}
        self.base_url, self.pin, self.clock = base_url, pin, clock
        self.key: PrivateKey = e2e.generate()
        self.channel: Channel | None = None
        self.queued: list[bytes] = []  # queued bodies as sent, for the transcript
        self.transcripts: dict[int, bytes] = {}  # by generation
        self.epochs: dict[int, int] = {0: bundle.epoch}  # the epoch of each generation
        self._rekey: tuple[int, e2e.Rekey] | None = None  # checked, keys not derived yet

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
        clock: Clock | None = None,
    ) -> SecureClient:
        """Fetch and check the team bundle (refusing on any failed check), then connect."""
        wire = await fetch_bundle(base_url, team)
        bundle = e2e.check_bundle(wire, pin_value=pin, team=team, now=now_ms, min_epoch=min_epoch)
        return cls(
            await ClientPeer.connect(base_url, origin=origin),
            bundle,
            base_url=base_url,
            pin=pin,
            clock=clock or (lambda: now_ms),
        )

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
        await self.settle()
        msg_id, gen, n, body = self.channel.seal(text)
        if gen == 0:
            self.queued.append(body)
        return await self.peer.send(msg_id, body, gen=gen, n=n)

    async def hear(self) -> str:
        """The next message's text (an accept or a rekey is handled on the way)."""
        while True:
            text = self.receive(await self.peer.next("message"))
            await self.settle()
            if text is not None:
                return text

    def receive(self, frame: dict[str, Any]) -> str | None:
        """Process one ``message`` frame: its text, or None for an accept or a rekey (call
        :meth:`settle` before the next one to finish the rekey)."""
        channel = self.channel
        assert channel is not None
        if self._rekey is not None:
            raise RuntimeError("settle() the rekey first")
        if frame["kind"] == "accept":
            self._accepted(frame)
            return None
        opened = channel.open_frame(frame)
        if opened.kind == "rekey":
            self._rekeyed(opened)
            return None
        return opened.data.decode() if opened.kind == "msg" else ""

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
        channel.finished.add(0)
        self.transcripts[1], self.epochs[1] = expected, b.epoch

    def _rekeyed(self, opened: Opened) -> None:
        """The team ends generation ``g``: check its final counts (docs/e2e.md, "Rekey")."""
        channel = self.channel
        assert channel is not None
        g = opened.gen
        try:
            r = e2e.parse_rekey(opened.data)
        except e2e.E2EError as err:
            raise Tampering(f"a malformed rekey message ({err.reason})") from None
        if g != channel.gen or r.gen != g or g == 0:
            raise Tampering("a rekey message out of place")
        if r.sent != opened.n:
            raise Tampering("message missing: the team sent messages that never arrived")
        if r.received > channel.sent.get(g, 0):
            raise Tampering("the team claims more of your messages than you sent")
        if r.epoch < self.epochs[g]:
            raise Tampering("a rekey to an older epoch (rollback)")
        channel.finished.add(g)
        self._rekey = (g, r)

    async def settle(self) -> None:
        """Finish a rekey the last message announced: check the new epoch's bundle, derive
        the next generation's keys, acknowledge with this side's final counts."""
        if self._rekey is None:
            return
        channel = self.channel
        assert channel is not None
        g, r = self._rekey
        bundle = self.bundles.get(r.epoch)
        if bundle is None:
            wire = await fetch_bundle(self.base_url, self.bundle.team, r.epoch)
            bundle = e2e.check_bundle(
                wire,
                pin_value=self.pin,
                team=self.bundle.team,
                now=self.clock(),
                min_epoch=max(self.bundles),
            )
            if bundle.epoch != r.epoch:
                raise Tampering("the server served another epoch's bundle")
            self.bundles[r.epoch] = bundle
        chained = e2e.rekey_transcript(
            self.transcripts[g],
            g + 1,
            bundle.team,
            r.epoch,
            bundle.hash,
            r.e_pub,
            r.sent,
            r.received,
        )
        channel.keys[g + 1] = e2e.chat_keys(
            e2e.ecdh(self.key, r.e_pub), e2e.ecdh(self.key, bundle.t_pub), chained
        )
        channel.gen = g + 1
        self.transcripts[g + 1], self.epochs[g + 1] = chained, r.epoch
        self._rekey = None
        ack = e2e.counts_text("cc1 rekey ack", g, channel.sent.get(g, 0), channel.received[g])
        msg_id, gen, n, body = channel.seal_bytes(ack, "rekey")
        await self.peer.send(msg_id, body, gen=gen, n=n, kind="rekey")


@dataclass
class _Held:
    channel: Channel
    epoch: int  # the epoch of the generation this side sends in
    c_pub: bytes
    transcripts: dict[int, bytes] = field(default_factory=dict)
    unacknowledged: set[int] = field(default_factory=set)  # rekeyed, the client not yet


@dataclass(frozen=True)
class History:
    """What a new device or a new holder reads of a conversation, oldest first."""

    messages: list[tuple[str, str]]  # (sender, text) of every msg
    notes: list[str]


class SecureCounsellor:
    """The console's end-to-end part for held conversations. ``epochs`` maps an epoch to its
    private key and bundle (what the console unwrapped from its team-key envelopes);
    ``authors`` maps staff ids to the signing keys the roster names (to check envelopes
    colleagues wrote; this console's own key is added)."""

    def __init__(
        self,
        peer: ConsolePeer,
        epochs: dict[int, tuple[PrivateKey, e2e.Bundle]],
        signing: PrivateKey,
        authors: dict[str, bytes] | None = None,
    ) -> None:
        self.peer = peer
        self.epochs = epochs
        self.signing = signing
        self.authors = dict(authors or {})
        if peer.hello.get("staff"):
            self.authors[peer.hello["staff"]] = e2e.public_bytes(signing)
        self.held: dict[str, _Held] = {}

    def _epoch(self, epoch: int) -> tuple[PrivateKey, e2e.Bundle]:
        if epoch not in self.epochs:
            raise Tampering(f"this console holds no key of epoch {epoch}")
        return self.epochs[epoch]

    async def accept(self, conversation: str) -> list[str]:
        """Accept, read the queue, send the E2E accept; returns the queued texts. A
        conversation that was accepted before (back in the queue after a transfer or a
        member's removal) is taken over instead: every client text of it is returned."""
        assigned = await self.peer.accept(conversation)
        frames = await self._history(conversation, assigned["last_seq"])
        if any(frame["sender"] == "team" and frame["kind"] == "accept" for frame in frames):
            history = await self._take_over(assigned, frames, None)
            return [text for sender, text in history.messages if sender == "client"]
        epoch = assigned["epoch"]
        t_key, bundle = self._epoch(epoch)
        c_pub = _b(assigned["client_key"])
        queue = e2e.queue_keys(t_key, c_pub, bundle.team, epoch, conversation, c_pub)
        channel = Channel(conversation, "t2c", {0: queue})
        queued = [frame for frame in frames if frame["sender"] == "client" and frame["gen"] == 0]
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
        self.held[conversation] = _Held(channel, epoch, c_pub, {1: tr})
        await self._escrow(conversation, 1, epoch, e_key)
        return texts

    async def _escrow(self, conversation: str, gen: int, epoch: int, e_key: PrivateKey) -> None:
        """Escrow ``E`` to the epoch key so the team can read this generation later."""
        _, bundle = self._epoch(epoch)
        await self.peer.envelope(
            conversation,
            f"conv-key-{gen}",
            "conv_key",
            e2e.seal_envelope(
                self.signing, bundle.t_pub, "conv_key", conversation, epoch, e2e.pkcs8(e_key)
            ),
            epoch,
        )

    async def _history(self, conversation: str, last_seq: int) -> list[dict[str, Any]]:
        """Messages 1 … ``last_seq`` of a conversation in order; later live ones stay
        buffered for :meth:`hear`."""
        await self.peer.fetch(conversation)
        by_seq: dict[int, dict[str, Any]] = {}
        later: list[dict[str, Any]] = []
        while len(by_seq) < last_seq:
            frame = await self.peer.next("message")
            if frame["conversation"] == conversation and frame["seq"] <= last_seq:
                by_seq[frame["seq"]] = frame
            else:
                later.append(frame)
        self.peer.unread(later)
        return [by_seq[i] for i in sorted(by_seq)]

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
        """The next text the client wrote (its rekey acknowledgements are checked on the way)."""
        while True:
            frame = await self.peer.next("message")
            if frame["conversation"] == conversation:
                text = self.receive(frame)
                if text is not None:
                    return text

    def receive(self, frame: dict[str, Any]) -> str | None:
        """Check one client ``message`` frame: its text, or None for an acknowledgement."""
        held = self.held[frame["conversation"]]
        channel = held.channel
        gen, n = frame["gen"], frame["n"]
        if gen >= 2 and n == 0 and frame["kind"] != "rekey":
            raise Tampering("a new key generation must begin with the client's acknowledgement")
        opened = channel.open_frame(frame)
        if opened.kind == "rekey":
            self._acknowledged(held, opened)
            return None
        return opened.data.decode() if opened.kind == "msg" else ""

    def _acknowledged(self, held: _Held, opened: Opened) -> None:
        channel = held.channel
        try:
            g, sent, received = e2e.parse_counts("cc1 rekey ack", opened.data)
        except e2e.E2EError as err:
            raise Tampering(f"a malformed rekey acknowledgement ({err.reason})") from None
        if opened.n != 0 or g != opened.gen - 1 or g not in held.unacknowledged:
            raise Tampering("a rekey acknowledgement out of place")
        if sent != channel.received.get(g, 0):
            raise Tampering("message missing: the client's last messages never arrived")
        if received != channel.sent.get(g, 0):
            raise Tampering("the client did not get the team's last messages")
        held.unacknowledged.discard(g)
        channel.finished.add(g)

    async def rekey(self, conversation: str, epoch: int | None = None) -> int:
        """Start a new generation with a fresh ``E'``, escrowed to ``epoch`` (default: the
        current one): for transfer, a second device, a new or re-issued epoch. Returns the
        new generation."""
        held = self.held[conversation]
        channel = held.channel
        g = channel.gen
        epoch = held.epoch if epoch is None else epoch
        if epoch < held.epoch:
            raise ValueError("a rekey never goes back to an older epoch")
        self._epoch(epoch)  # this console must hold the epoch's key
        e_key = e2e.generate()
        e_pub = e2e.public_bytes(e_key)
        sent, received = channel.sent.get(g, 0), channel.received.get(g, 0)
        text = e2e.rekey_text(g, sent, received, epoch, e_pub)
        msg_id, gen, n, body = channel.seal_bytes(text, "rekey")
        await self.peer.send(conversation, msg_id, body, gen=gen, n=n, kind="rekey")
        self._next_generation(held, g, epoch, e_key, sent, received)
        await self._escrow(conversation, g + 1, epoch, e_key)
        return g + 1

    def _next_generation(
        self, held: _Held, g: int, epoch: int, e_key: PrivateKey, sent: int, received: int
    ) -> None:
        t_key, bundle = self._epoch(epoch)
        e_pub = e2e.public_bytes(e_key)
        chained = e2e.rekey_transcript(
            held.transcripts[g], g + 1, bundle.team, epoch, bundle.hash, e_pub, sent, received
        )
        held.channel.keys[g + 1] = e2e.chat_keys(
            e2e.ecdh(e_key, held.c_pub), e2e.ecdh(t_key, held.c_pub), chained
        )
        held.channel.gen = g + 1
        held.transcripts[g + 1] = chained
        held.epoch = epoch
        held.unacknowledged.add(g)

    async def take_over(self, assigned: dict[str, Any], *, epoch: int | None = None) -> History:
        """Hold a conversation another device or a colleague held until now: read its whole
        history from the server (the keys of each generation from the escrowed envelopes,
        every message checked in order), then rekey so this device owns the counters."""
        frames = await self._history(assigned["conversation"], assigned["last_seq"])
        return await self._take_over(assigned, frames, epoch)

    async def _take_over(
        self, assigned: dict[str, Any], frames: list[dict[str, Any]], epoch: int | None
    ) -> History:
        conversation = assigned["conversation"]
        keys = await self._escrowed(conversation)
        queue_epoch = assigned["epoch"]
        t_key, bundle = self._epoch(queue_epoch)
        c_pub = _b(assigned["client_key"])
        queue = e2e.queue_keys(t_key, c_pub, bundle.team, queue_epoch, conversation, c_pub)
        held = _Held(Channel(conversation, "t2c", {0: queue}), queue_epoch, c_pub)
        self.held[conversation] = held
        channel = held.channel
        queued: list[bytes] = []
        messages: list[tuple[str, str]] = []
        for frame in frames:
            if frame["sender"] == "client":
                if frame["gen"] == 0:
                    queued.append(_b(frame["body"]))
                text = self.receive(frame)
                if text is not None:
                    messages.append(("client", text))
                continue
            if frame["kind"] == "accept":
                self._replay_accept(held, frame, queued, keys)
                continue
            opened = channel.replay_own(frame)
            if opened.kind == "msg":
                messages.append(("team", opened.data.decode()))
            elif opened.kind == "rekey":
                r = e2e.parse_rekey(opened.data)
                if r.gen != opened.gen or r.sent != opened.n:
                    raise Tampering("a rekey message out of place in the history")
                self._next_generation(
                    held, r.gen, r.epoch, self._key_for(keys, r.e_pub), r.sent, r.received
                )
        notes = await self.notes(conversation)
        await self.rekey(conversation, epoch)
        return History(messages, notes)

    def _replay_accept(
        self, held: _Held, frame: dict[str, Any], queued: list[bytes], keys: dict[bytes, PrivateKey]
    ) -> None:
        channel = held.channel
        t_key, bundle = self._epoch(held.epoch)
        cid = channel.cid
        if frame["gen"] != 0 or frame["n"] != channel.sent.get(0, 0):
            raise Tampering("the accept is out of order in the history")
        opened = e2e.open_accept(
            channel.keys[0].t2c, bundle.team, held.epoch, cid, held.c_pub, _b(frame["body"])
        )
        expected = e2e.transcript(
            bundle.team,
            held.epoch,
            bundle.hash,
            cid,
            held.c_pub,
            opened.e_pub,
            opened.n_seen,
            e2e.queue_hash(queued[: opened.n_seen]),
        )
        if expected != opened.transcript:
            raise Tampering("the stored accept does not match the stored queue")
        e_key = self._key_for(keys, opened.e_pub)
        channel.sent[0] = frame["n"] + 1
        channel.keys[1] = e2e.chat_keys(
            e2e.ecdh(e_key, held.c_pub), e2e.ecdh(t_key, held.c_pub), expected
        )
        channel.gen = 1
        channel.finished.add(0)
        held.transcripts[1] = expected

    @staticmethod
    def _key_for(keys: dict[bytes, PrivateKey], e_pub: bytes) -> PrivateKey:
        if e_pub not in keys:
            raise Tampering("no escrowed key for a generation of this conversation")
        return keys[e_pub]

    def _open(self, item: dict[str, Any]) -> bytes:
        """Open one stored envelope to an epoch key, checking its author against the roster."""
        author = self.authors.get(item["author"] or "")
        if author is None:
            raise Tampering("an envelope by an author the roster does not name")
        t_key, _ = self._epoch(item["epoch"])
        _, payload = e2e.open_envelope(t_key, _b(item["body"]), author)
        return payload

    async def _escrowed(self, conversation: str) -> dict[bytes, PrivateKey]:
        """The conversation keys of every generation, by public key."""
        keys: dict[bytes, PrivateKey] = {}
        for item in await self.peer.envelopes(conversation):
            if item["purpose"] == "conv_key":
                key = e2e.load_pkcs8(self._open(item))
                keys[e2e.public_bytes(key)] = key
        return keys

    async def notes(self, conversation: str) -> list[str]:
        """The conversation's internal notes, each checked and opened."""
        return [
            self._open(item).decode()
            for item in await self.peer.envelopes(conversation)
            if item["purpose"] == "note"
        ]

    async def note(self, conversation: str, note_id: str, text: str) -> dict[str, Any]:
        """An internal note: an envelope to the epoch key, signed; never sent to the client."""
        epoch = self.held[conversation].epoch
        _, bundle = self._epoch(epoch)
        envelope = e2e.seal_envelope(
            self.signing, bundle.t_pub, "note", conversation, epoch, text.encode()
        )
        return await self.peer.envelope(conversation, note_id, "note", envelope, epoch)
