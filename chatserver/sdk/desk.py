"""The console's end-to-end part, without a user interface: accept, chat, rekey, take over
a conversation from its history, internal notes and the legal-hold re-wrap, speaking
docs/e2e.md with the Python reference implementation. Tests, benchmarks and the demo use it
as a duty console would."""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass, field
from typing import Any

from chatserver import e2e
from chatserver.e2e.channel import Channel, Opened, Tampering
from chatserver.e2e.primitives import PrivateKey
from chatserver.protocol.frames import PAGE
from chatserver.sdk.peers import ConsolePeer

__all__ = ["History", "SecureCounsellor"]


def _b(text: str) -> bytes:
    return base64.b64decode(text)


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
    unreadable: int = 0  # messages of generations a legal-hold package does not cover
    handovers: list[str] = field(default_factory=list)


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
        """Messages 1 … ``last_seq`` of a conversation in order, a page of :data:`PAGE` at
        a time (what the server answers a fetch with); later live ones stay buffered for
        :meth:`hear`."""
        by_seq: dict[int, dict[str, Any]] = {}
        later: list[dict[str, Any]] = []
        after = 0
        while after < last_seq:
            until = min(last_seq, after + PAGE)
            missing = set(range(after + 1, until + 1)) - set(by_seq)
            await self.peer.fetch(conversation, after)
            while missing:
                frame = await self.peer.next("message")
                if frame["conversation"] == conversation and frame["seq"] <= last_seq:
                    by_seq[frame["seq"]] = frame
                    missing.discard(frame["seq"])
                else:
                    later.append(frame)
            after = until
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
        others: list[dict[str, Any]] = []  # other chats' messages stay for their turn
        try:
            while True:
                frame = await self.peer.next("message")
                if frame["conversation"] != conversation:
                    others.append(frame)
                    continue
                text = self.receive(frame)
                if text is not None:
                    return text
        finally:
            self.peer.unread(others)

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
        self, info: dict[str, Any], frames: list[dict[str, Any]], epoch: int | None
    ) -> History:
        history = await self._replay(info, frames, await self.peer.envelopes(info["conversation"]))
        await self.rekey(info["conversation"], epoch)
        return history

    async def _replay(
        self, info: dict[str, Any], frames: list[dict[str, Any]], items: list[dict[str, Any]]
    ) -> History:
        """Rebuild a conversation's keys and counters from its stored history (left in
        ``self.held``), checking every message in order."""
        conversation = info["conversation"]
        keys = self._escrowed(items, conversation)
        queue_epoch = info["epoch"]
        t_key, bundle = self._epoch(queue_epoch)
        c_pub = _b(info["client_key"])
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
        return History(
            messages,
            self._notes(items, conversation),
            handovers=self._notes(items, conversation, "handover"),
        )

    async def read(self, conversation: str) -> History:
        """Read a conversation this console does not hold (a supervisor, an admin)."""
        info = await self.peer.envelope_list(conversation)
        frames = await self._history(conversation, info["last_seq"])
        try:
            return await self._replay(info, frames, info["items"])
        finally:
            self.held.pop(conversation, None)

    # ------------------------------------------------------------------ legal hold
    async def place_hold(self, conversation: str, recipients: dict[str, bytes]) -> list[str]:
        """Re-wrap what the conversation needs to stay readable (the keys of every
        generation and its notes) to each recipient's identity key (the admins the roster
        names), so that destroying the epoch keys does not destroy it. Returns the ids of
        the hold envelopes stored."""
        info = await self.peer.envelope_list(conversation)
        if conversation in self.held:
            keys = dict(self.held[conversation].channel.keys)
            notes = self._notes(info["items"], conversation)
        else:
            frames = await self._history(conversation, info["last_seq"])
            try:
                notes = (await self._replay(info, frames, info["items"])).notes
                keys = dict(self.held[conversation].channel.keys)
            finally:
                self.held.pop(conversation, None)
        payload = e2e.hold_payload(conversation, keys, [n.encode() for n in notes])
        digest = hashlib.sha256(payload).hexdigest()[:16]
        existing = {item["id"] for item in info["items"]}
        stored = []
        for staff_id, dh_pub in sorted(recipients.items()):
            hold_id = f"hold-{staff_id}-{digest}"
            if hold_id not in existing:
                body = e2e.seal_envelope(self.signing, dh_pub, "hold", conversation, 0, payload)
                await self.peer.envelope(conversation, hold_id, "hold", body, 0)
            stored.append(hold_id)
        return stored

    async def read_under_hold(self, conversation: str, identity: PrivateKey) -> History:
        """Read a held conversation with only this admin's identity key: no epoch key, no
        escrowed conversation key. Messages of generations the hold does not cover (written
        after it was placed) are counted in ``History.unreadable``."""
        info = await self.peer.envelope_list(conversation)
        frames = await self._history(conversation, info["last_seq"])
        mine = e2e.kid(e2e.public_bytes(identity))
        items = [
            item
            for item in info["items"]
            if item["purpose"] == "hold"
            and e2e.parse_envelope(_b(item["body"])).recipient_kid == mine
        ]
        if not items:
            raise Tampering("no legal-hold package for this reader")
        item = items[-1]
        author = self.authors.get(item["author"] or "")
        if author is None:
            raise Tampering("a hold package by an author the roster does not name")
        env, payload = e2e.open_envelope(identity, _b(item["body"]), author)
        if (env.conversation, env.purpose) != (conversation, "hold"):
            raise Tampering("a hold package of another conversation was served here")
        hold = e2e.parse_hold(payload, conversation)
        channel = Channel(conversation, "t2c", dict(hold.keys))
        messages: list[tuple[str, str]] = []
        unreadable = 0
        for frame in frames:
            if frame["gen"] not in hold.keys:
                unreadable += 1
            elif frame["sender"] == "client":
                opened = channel.open_frame(frame)
                if opened.kind == "msg":
                    messages.append(("client", opened.data.decode()))
            elif frame["kind"] == "accept":  # its keys are in the package; keep the count
                if frame["gen"] != 0 or frame["n"] != channel.sent.get(0, 0):
                    raise Tampering("the accept is out of order in the history")
                channel.sent[0] = frame["n"] + 1
            else:
                opened = channel.replay_own(frame)
                if opened.kind == "msg":
                    messages.append(("team", opened.data.decode()))
        return History(messages, [n.decode() for n in hold.notes], unreadable)

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

    def _open(self, item: dict[str, Any], conversation: str) -> bytes:
        """Open one stored envelope to an epoch key: its author must be one the roster
        names, and its signed header must say the purpose and conversation it is read as
        (a server cannot move a note or a key to another conversation or use)."""
        author = self.authors.get(item["author"] or "")
        if author is None:
            raise Tampering("an envelope by an author the roster does not name")
        # The epoch the envelope was sealed to is in its signed header.
        t_key, _ = self._epoch(e2e.parse_envelope(_b(item["body"])).epoch)
        env, payload = e2e.open_envelope(t_key, _b(item["body"]), author)
        if env.conversation != conversation or env.purpose != item["purpose"]:
            raise Tampering("an envelope of another conversation or purpose was served here")
        return payload

    def _escrowed(self, items: list[dict[str, Any]], conversation: str) -> dict[bytes, PrivateKey]:
        """The conversation keys of every generation, by public key."""
        keys: dict[bytes, PrivateKey] = {}
        for item in items:
            if item["purpose"] == "conv_key":
                key = e2e.load_pkcs8(self._open(item, conversation))
                keys[e2e.public_bytes(key)] = key
        return keys

    def _notes(
        self, items: list[dict[str, Any]], conversation: str, purpose: str = "note"
    ) -> list[str]:
        return [
            self._open(item, conversation).decode() for item in items if item["purpose"] == purpose
        ]

    async def notes(self, conversation: str) -> list[str]:
        """The conversation's internal notes, each checked and opened."""
        return self._notes(await self.peer.envelopes(conversation), conversation)

    async def transfer(self, conversation: str, to: str | None, note: str | None = None) -> None:
        """Hand the conversation to a colleague (or back to the queue) with an optional
        handover note, sealed to the epoch key like an internal note."""
        held = self.held[conversation]
        body = None
        if note is not None:
            _, bundle = self._epoch(held.epoch)
            body = e2e.seal_envelope(
                self.signing, bundle.t_pub, "handover", conversation, held.epoch, note.encode()
            )
        await self.peer.transfer(conversation, to, body)
        del self.held[conversation]

    async def note(self, conversation: str, note_id: str, text: str) -> dict[str, Any]:
        """An internal note: an envelope to the epoch key, signed; never sent to the client."""
        epoch = self.held[conversation].epoch
        _, bundle = self._epoch(epoch)
        envelope = e2e.seal_envelope(
            self.signing, bundle.t_pub, "note", conversation, epoch, text.encode()
        )
        return await self.peer.envelope(conversation, note_id, "note", envelope, epoch)
