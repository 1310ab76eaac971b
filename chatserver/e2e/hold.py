"""The legal-hold package (docs/e2e.md, "Legal hold"): what a held conversation needs to
stay readable after its epoch keys are destroyed, re-wrapped to the admins."""

from __future__ import annotations

from dataclasses import dataclass

from chatserver.e2e.conversation import ChatKeys
from chatserver.e2e.encoding import seq, u64, unseq
from chatserver.e2e.errors import E2EError

__all__ = ["Hold", "hold_payload", "parse_hold"]

MAX_GENERATIONS = 10_000


@dataclass(frozen=True, slots=True)
class Hold:
    conversation: str
    keys: dict[int, ChatKeys]  # by generation; 0 holds the queue keys
    notes: list[bytes]


def hold_payload(conversation: str, keys: dict[int, ChatKeys], notes: list[bytes]) -> bytes:
    """``seq("cc1 hold", cid, seq(seq(u64(g), K_c2t, K_t2c), …), seq(note, …))``,
    generations in ascending order."""
    if not keys or len(keys) > MAX_GENERATIONS:
        raise E2EError("malformed", "a hold carries 1 to 10000 generations")
    generations = [seq(u64(g), keys[g].c2t, keys[g].t2c) for g in sorted(keys)]
    return seq("cc1 hold", conversation, seq(*generations), seq(*notes))


def _split(data: bytes) -> list[bytes]:
    """Every length-prefixed field of ``data`` (a ``seq`` of unknown length)."""
    fields, pos = [], 0
    while pos < len(data):
        if pos + 4 > len(data):
            raise E2EError("malformed", "truncated field")
        size = int.from_bytes(data[pos : pos + 4], "big")
        if pos + 4 + size > len(data):
            raise E2EError("malformed", "truncated field")
        fields.append(data[pos + 4 : pos + 4 + size])
        pos += 4 + size
    return fields


def parse_hold(data: bytes, conversation: str) -> Hold:
    """The hold package of ``conversation``; ``malformed`` for anything else."""
    tag, cid, generations, notes = unseq(data, 4)
    if tag != b"cc1 hold" or cid != conversation.encode():
        raise E2EError("malformed", "not the hold package of this conversation")
    keys: dict[int, ChatKeys] = {}
    for item in _split(generations):
        g, c2t, t2c = unseq(item, 3)
        if len(g) != 8 or len(c2t) != 32 or len(t2c) != 32:
            raise E2EError("malformed", "a generation is u64 and two 32-byte keys")
        gen = int.from_bytes(g, "big")
        if keys and gen <= max(keys):
            raise E2EError("malformed", "generations must ascend")
        keys[gen] = ChatKeys(c2t, t2c)
    if not keys:
        raise E2EError("malformed", "a hold carries at least one generation")
    return Hold(conversation, keys, _split(notes))
