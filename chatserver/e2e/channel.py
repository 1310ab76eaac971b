"""One side's state of an encrypted conversation: keys and counters per generation, and
every receiver check of docs/e2e.md (order, replay, equivocation, reflection, final
counts, the end of a generation). Pure: frames in, texts out, no I/O.

The SDK's peers (``chatserver/sdk/e2e.py``) drive it; the browser side mirrors it.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Any

from chatserver.e2e.conversation import (
    ChatKeys,
    counts_text,
    decrypt_message,
    encrypt_message,
    parse_counts,
)
from chatserver.e2e.errors import E2EError

__all__ = ["Channel", "Opened", "Tampering"]


class Tampering(Exception):
    """A message was dropped, reordered, replayed or changed on the way: shown as such."""


@dataclass(frozen=True, slots=True)
class Opened:
    """A checked message: its generation, kind and plaintext (a ``msg``'s text as UTF-8)."""

    gen: int
    n: int
    kind: str
    data: bytes


@dataclass
class Channel:
    """One side's keys and counters for a conversation (both directions).

    ``gen`` is the generation this side sends in. ``finished`` holds the generations in
    which the peer may no longer send: for the client, each one the team's rekey ended;
    for the team, each one whose end the client acknowledged.
    """

    cid: str
    me: str  # "c2t" for the client, "t2c" for the team
    keys: dict[int, ChatKeys] = field(default_factory=dict)  # by generation
    gen: int = 0
    sent: dict[int, int] = field(default_factory=dict)  # next n to send, by generation
    received: dict[int, int] = field(default_factory=dict)  # next n expected, by generation
    seen: dict[tuple[int, int], bytes] = field(default_factory=dict)  # (gen, n) -> body
    finished: set[int] = field(default_factory=set)
    closed: bool = False  # a valid final-counts close arrived

    @property
    def peer_dir(self) -> str:
        return "t2c" if self.me == "c2t" else "c2t"

    def _key(self, gen: int, direction: str) -> bytes:
        keys = self.keys[gen]
        return keys.c2t if direction == "c2t" else keys.t2c

    # ------------------------------------------------------------------ sending
    def seal(self, text: str, kind: str = "msg") -> tuple[str, int, int, bytes]:
        """(id, gen, n, body) of the next outgoing message."""
        return self.seal_bytes(text.encode(), kind)

    def seal_close(self) -> tuple[str, int, int, bytes]:
        """The final-counts ``close`` message of the current generation."""
        gen = self.gen
        counts = counts_text("cc1 close", gen, self.sent.get(gen, 0), self.received.get(gen, 0))
        return self.seal_bytes(counts, "close")

    def seal_bytes(self, data: bytes, kind: str) -> tuple[str, int, int, bytes]:
        gen = self.gen
        n = self.sent.get(gen, 0)
        body = encrypt_message(
            self._key(gen, self.me),
            self.cid,
            self.me,
            gen,
            n,
            kind,
            self.message_id(gen, n),
            data,
            self.received.get(gen, 0),
        )
        self.sent[gen] = n + 1
        return self.message_id(gen, n), gen, n, body

    def message_id(self, gen: int, n: int) -> str:
        return f"{self.me[0]}{gen}-{n}"

    # ------------------------------------------------------------------ receiving
    def check_close(self, data: bytes, gen: int) -> None:
        """Compare the peer's final counts with ours (docs/e2e.md, "Closing")."""
        try:
            their_gen, sent, received = parse_counts("cc1 close", data)
        except E2EError:
            raise Tampering("a malformed close message") from None
        if their_gen != gen:
            raise Tampering("a malformed close message")
        if sent != self.received.get(gen, 0) - 1:  # the close itself is not counted
            raise Tampering("message missing: the last messages never arrived")
        if received != self.sent.get(gen, 0):
            raise Tampering("your last messages never reached the other side")
        self.closed = True

    def open_frame(self, frame: dict[str, Any]) -> Opened:
        """Check order and integrity of an incoming ``message`` frame of the peer."""
        if frame["conversation"] != self.cid:
            raise Tampering("a message of another conversation was delivered here")
        gen, n, body = frame["gen"], frame["n"], base64.b64decode(frame["body"])
        if (gen, n) in self.seen:
            if self.seen[(gen, n)] == body:
                raise Tampering("a message was delivered twice (replay)")
            raise Tampering("two different messages claim the same place (equivocation)")
        if gen not in self.keys:
            raise Tampering("a message of an unknown key generation")
        if gen in self.finished:
            raise Tampering("a message after its key generation ended")
        expected = self.received.get(gen, 0)
        if n != expected:
            raise Tampering(f"message missing: expected #{expected}, got #{n}")
        text, ack = decrypt_message(
            self._key(gen, self.peer_dir),
            self.cid,
            self.peer_dir,
            gen,
            n,
            frame["kind"],
            frame["id"],
            body,
        )
        if ack > self.sent.get(gen, 0):
            raise Tampering("the other side acknowledges messages this side never sent")
        self.seen[(gen, n)] = body
        self.received[gen] = n + 1
        if frame["kind"] == "close":
            self.check_close(text, gen)
        return Opened(gen, n, frame["kind"], text)

    def open(self, frame: dict[str, Any]) -> str:
        """A peer's message as text ("" for a close or a rekey)."""
        opened = self.open_frame(frame)
        return opened.data.decode() if opened.kind == "msg" else ""

    def replay_own(self, frame: dict[str, Any]) -> Opened:
        """Read back a message this side's team sent earlier (history on a new device):
        the same checks, counted as sent."""
        gen, n = frame["gen"], frame["n"]
        if gen not in self.keys:
            raise Tampering("a message of an unknown key generation")
        if n != self.sent.get(gen, 0):
            raise Tampering(f"message missing: expected own #{self.sent.get(gen, 0)}, got #{n}")
        text, _ack = decrypt_message(
            self._key(gen, self.me),
            self.cid,
            self.me,
            gen,
            n,
            frame["kind"],
            frame["id"],
            base64.b64decode(frame["body"]),
        )
        self.sent[gen] = n + 1
        return Opened(gen, n, frame["kind"], text)
