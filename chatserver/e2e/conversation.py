"""Queue keys, messages, accept and chat keys (docs/e2e.md: Queue, Messages, Accept)."""

from __future__ import annotations

from dataclasses import dataclass

from chatserver.e2e.encoding import pad, seq, u64, unpad, unseq
from chatserver.e2e.errors import E2EError
from chatserver.e2e.primitives import (
    PrivateKey,
    ecdh,
    hkdf,
    load_public,
    nonce,
    open_,
    seal,
    sha256,
)

COUNT_TAGS = ("cc1 close", "cc1 rekey ack")

__all__ = [
    "Accepted",
    "ChatKeys",
    "Rekey",
    "chat_keys",
    "counts_text",
    "decrypt_message",
    "encrypt_message",
    "make_accept",
    "open_accept",
    "parse_counts",
    "parse_rekey",
    "queue_hash",
    "queue_keys",
    "rekey_text",
    "rekey_transcript",
    "transcript",
]

DIRECTIONS = ("c2t", "t2c")
KINDS = ("msg", "accept", "rekey", "close", "receipt")
MAX_MESSAGES_PER_KEY = 2**20


@dataclass(frozen=True, slots=True)
class ChatKeys:
    c2t: bytes
    t2c: bytes


def queue_keys(
    own: PrivateKey, peer_pub: bytes, team: str, epoch: int, cid: str, c_pub: bytes
) -> ChatKeys:
    """The queue keys: the client passes ``C`` and ``T_pub``, the team ``T_e`` and ``C_pub``."""
    shared = ecdh(own, peer_pub)
    salt = seq("cc1 queue", team, epoch, cid, c_pub)
    return ChatKeys(hkdf(shared, salt, "cc1 queue c2t"), hkdf(shared, salt, "cc1 queue t2c"))


def _message_ad(cid: str, direction: str, gen: int, n: int, kind: str, msg_id: str) -> bytes:
    if direction not in DIRECTIONS or kind not in KINDS:
        raise E2EError("malformed", "unknown direction or kind")
    if n >= MAX_MESSAGES_PER_KEY:
        raise E2EError("bad_parameter", "a key protects at most 2^20 messages: rekey")
    return seq("cc1 msg", cid, direction, gen, n, kind, msg_id)


def encrypt_message(
    key: bytes,
    cid: str,
    direction: str,
    gen: int,
    n: int,
    kind: str,
    msg_id: str,
    text: bytes,
    ack: int,
    iv: bytes | None = None,
) -> bytes:
    """A message body: ``N ‖ seal(K, N, pad(seq(text, u64(ack))), AD)``."""
    iv = iv or nonce()
    ad = _message_ad(cid, direction, gen, n, kind, msg_id)
    return iv + seal(key, iv, pad(seq(text, ack)), ad)


def decrypt_message(
    key: bytes, cid: str, direction: str, gen: int, n: int, kind: str, msg_id: str, body: bytes
) -> tuple[bytes, int]:
    """``(text, ack)``, or ``decrypt_failed`` when any bound field or byte was changed."""
    if len(body) < 12 + 16:
        raise E2EError("malformed", "a message body is too short")
    ad = _message_ad(cid, direction, gen, n, kind, msg_id)
    text, ack = unseq(unpad(open_(key, body[:12], body[12:], ad)), 2)
    if len(ack) != 8:
        raise E2EError("malformed", "the ack field is not 8 bytes")
    return text, int.from_bytes(ack, "big")


def queue_hash(bodies: list[bytes]) -> bytes:
    return sha256(seq("cc1 queue hash", *bodies))


def transcript(
    team: str,
    epoch: int,
    bundle_hash: bytes,
    cid: str,
    c_pub: bytes,
    e_pub: bytes,
    n_seen: int,
    queued_hash: bytes,
) -> bytes:
    return sha256(
        seq(
            "cc1 transcript",
            "cc1",
            team,
            epoch,
            bundle_hash,
            cid,
            c_pub,
            e_pub,
            n_seen,
            queued_hash,
        )
    )


def _accept_ad(team: str, epoch: int, cid: str, c_pub: bytes, e_pub: bytes, n_seen: int) -> bytes:
    return seq("cc1 accept", team, epoch, cid, c_pub, e_pub, n_seen)


def make_accept(
    k_q_t2c: bytes,
    team: str,
    epoch: int,
    cid: str,
    c_pub: bytes,
    e_pub: bytes,
    n_seen: int,
    the_transcript: bytes,
    iv: bytes | None = None,
) -> bytes:
    """``E_pub ‖ u64(n_seen) ‖ N ‖ seal(K_q_t2c, N, pad(transcript), AD_acc)``."""
    load_public(e_pub)
    iv = iv or nonce()
    ad = _accept_ad(team, epoch, cid, c_pub, e_pub, n_seen)
    return e_pub + u64(n_seen) + iv + seal(k_q_t2c, iv, pad(the_transcript), ad)


@dataclass(frozen=True, slots=True)
class Accepted:
    e_pub: bytes
    n_seen: int
    transcript: bytes


def open_accept(
    k_q_t2c: bytes, team: str, epoch: int, cid: str, c_pub: bytes, body: bytes
) -> Accepted:
    """Open an accept; the caller must then recompute the transcript from its own queue."""
    if len(body) < 65 + 8 + 12 + 16:
        raise E2EError("malformed", "an accept is too short")
    e_pub, n_seen = body[:65], int.from_bytes(body[65:73], "big")
    load_public(e_pub)
    ad = _accept_ad(team, epoch, cid, c_pub, e_pub, n_seen)
    plain = unpad(open_(k_q_t2c, body[73:85], body[85:], ad))
    if len(plain) != 32:
        raise E2EError("malformed", "an accept carries a 32-byte transcript hash")
    return Accepted(e_pub, n_seen, plain)


def chat_keys(ecdh_ce: bytes, ecdh_ct: bytes, the_transcript: bytes) -> ChatKeys:
    """Generation-1 keys: ``HKDF(ECDH(C, E) ‖ ECDH(C, T_e), transcript, "cc1 chat …")``."""
    ikm = ecdh_ce + ecdh_ct
    return ChatKeys(
        hkdf(ikm, the_transcript, "cc1 chat c2t"), hkdf(ikm, the_transcript, "cc1 chat t2c")
    )


# ---------------------------------------------------------------------------- final counts
def counts_text(tag: str, gen: int, sent: int, received: int) -> bytes:
    """``seq(tag, u64(gen), u64(sent), u64(received))``: a generation's final counts, the
    text of a ``close`` message (tag ``cc1 close``) or of a client's rekey acknowledgement
    (tag ``cc1 rekey ack``)."""
    if tag not in COUNT_TAGS:
        raise E2EError("malformed", "unknown final-counts tag")
    return seq(tag, gen, sent, received)


def _u64_field(value: bytes) -> int:
    if len(value) != 8:
        raise E2EError("malformed", "a count is 8 bytes")
    return int.from_bytes(value, "big")


def parse_counts(tag: str, data: bytes) -> tuple[int, int, int]:
    """``(gen, sent, received)`` of a final-counts text with ``tag``; ``malformed`` else."""
    got, gen, sent, received = unseq(data, 4)
    if got != tag.encode() or tag not in COUNT_TAGS:
        raise E2EError("malformed", f"not a {tag!r} text")
    return _u64_field(gen), _u64_field(sent), _u64_field(received)


# ---------------------------------------------------------------------------- rekey
@dataclass(frozen=True, slots=True)
class Rekey:
    """What a team's ``rekey`` message announces: the end of generation ``gen`` with the
    team's final counts, and the new generation's epoch and conversation key ``E'``."""

    gen: int
    sent: int
    received: int
    epoch: int
    e_pub: bytes


def rekey_text(gen: int, sent: int, received: int, epoch: int, e_pub: bytes) -> bytes:
    """``seq("cc1 rekey", u64(gen), u64(sent), u64(received), u64(epoch'), E'_pub)``."""
    load_public(e_pub)
    return seq("cc1 rekey", gen, sent, received, epoch, e_pub)


def parse_rekey(data: bytes) -> Rekey:
    tag, gen, sent, received, epoch, e_pub = unseq(data, 6)
    if tag != b"cc1 rekey":
        raise E2EError("malformed", "not a rekey text")
    load_public(e_pub)
    return Rekey(_u64_field(gen), _u64_field(sent), _u64_field(received), _u64_field(epoch), e_pub)


def rekey_transcript(
    previous: bytes,
    gen: int,
    team: str,
    epoch: int,
    bundle_hash: bytes,
    e_pub: bytes,
    sent: int,
    received: int,
) -> bytes:
    """The transcript of generation ``gen`` (>= 2), chained over the previous one and the
    final counts the team's rekey message carried."""
    if len(previous) != 32 or len(bundle_hash) != 32:
        raise E2EError("malformed", "a transcript and a bundle hash are 32 bytes")
    return sha256(
        seq(
            "cc1 rekey transcript",
            "cc1",
            previous,
            gen,
            team,
            epoch,
            bundle_hash,
            e_pub,
            sent,
            received,
        )
    )
