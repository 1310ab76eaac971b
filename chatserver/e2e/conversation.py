"""Queue keys, messages, accept and chat keys (docs/e2e.md: Queue, Messages, Accept)."""

from __future__ import annotations

from dataclasses import dataclass

from .encoding import pad, seq, u64, unpad, unseq
from .errors import E2EError
from .primitives import PrivateKey, ecdh, hkdf, load_public, nonce, open_, seal, sha256

__all__ = [
    "Accepted",
    "ChatKeys",
    "chat_keys",
    "decrypt_message",
    "encrypt_message",
    "make_accept",
    "open_accept",
    "queue_hash",
    "queue_keys",
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
