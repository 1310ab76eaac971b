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
from typing import Any

import aiohttp

from chatserver import e2e
from chatserver.e2e.channel import Channel, Opened, Tampering
from chatserver.e2e.primitives import PrivateKey
from chatserver.sdk.desk import History, SecureCounsellor  # the console side, re-exported
from chatserver.sdk.peers import ClientPeer

__all__ = [
    "Channel",
    "History",
    "SecureClient",
    "SecureCounsellor",
    "Tampering",
    "fetch_bundle",
]

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
