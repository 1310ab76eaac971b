"""Envelopes: ECIES to a recipient key plus the author's signature (docs/e2e.md)."""

from __future__ import annotations

from dataclasses import dataclass

from chatserver.e2e.encoding import kid, pad, seq, unpad, unseq
from chatserver.e2e.errors import E2EError
from chatserver.e2e.primitives import (
    PrivateKey,
    ecdh,
    generate,
    hkdf,
    load_public,
    nonce,
    open_,
    public_bytes,
    seal,
    sha256,
    sign,
    verify,
)

__all__ = ["PURPOSES", "Envelope", "open_envelope", "parse_envelope", "seal_envelope"]

PURPOSES = ("conv_key", "team_key", "note", "handover", "hold", "root_key")


@dataclass(frozen=True, slots=True)
class Envelope:
    purpose: str
    conversation: str
    epoch: int
    recipient_kid: bytes
    author_kid: bytes
    ephemeral_pub: bytes
    header: bytes
    ct: bytes
    sig: bytes


def _header(
    purpose: str,
    conversation: str,
    epoch: int,
    recipient_pub: bytes,
    author_pub: bytes,
    ephemeral_pub: bytes,
) -> bytes:
    if purpose not in PURPOSES:
        raise E2EError("malformed", "unknown envelope purpose")
    return seq(
        "cc1 envelope",
        "cc1",
        purpose,
        conversation,
        epoch,
        kid(recipient_pub),
        kid(author_pub),
        ephemeral_pub,
    )


def seal_envelope(
    author: PrivateKey,
    recipient_pub: bytes,
    purpose: str,
    conversation: str,
    epoch: int,
    payload: bytes,
    *,
    ephemeral: PrivateKey | None = None,
    iv: bytes | None = None,
) -> bytes:
    load_public(recipient_pub)
    ephemeral = ephemeral or generate()
    x_pub = public_bytes(ephemeral)
    header = _header(purpose, conversation, epoch, recipient_pub, public_bytes(author), x_pub)
    key = hkdf(ecdh(ephemeral, recipient_pub), sha256(header), "cc1 envelope key")
    iv = iv or nonce()
    ct = iv + seal(key, iv, pad(payload), header)
    sig = sign(author, seq("cc1 envelope sig", header, ct))
    return seq(header, ct, sig)


def parse_envelope(data: bytes) -> Envelope:
    header, ct, sig = unseq(data, 3)
    fields = unseq(header, 8)
    if fields[0] != b"cc1 envelope" or fields[1] != b"cc1":
        raise E2EError("unsupported_suite")
    if len(fields[4]) != 8 or len(fields[5]) != 16 or len(fields[6]) != 16:
        raise E2EError("malformed", "an envelope header field has the wrong size")
    try:
        purpose, conversation = fields[2].decode(), fields[3].decode()
    except UnicodeDecodeError:
        raise E2EError("malformed", "an envelope header is not text") from None
    if purpose not in PURPOSES:
        raise E2EError("malformed", "unknown envelope purpose")
    load_public(fields[7])
    return Envelope(
        purpose,
        conversation,
        int.from_bytes(fields[4], "big"),
        fields[5],
        fields[6],
        fields[7],
        header,
        ct,
        sig,
    )


def open_envelope(
    recipient: PrivateKey, envelope: bytes, author_pub: bytes
) -> tuple[Envelope, bytes]:
    """Check the key ids and the author's signature, then open. ``author_pub`` comes from
    the signed roster, never from the envelope."""
    env = parse_envelope(envelope)
    if env.recipient_kid != kid(public_bytes(recipient)):
        raise E2EError("decrypt_failed", "this envelope is for another key")
    if env.author_kid != kid(author_pub):
        raise E2EError("bad_signature", "the envelope names another author")
    if not verify(author_pub, seq("cc1 envelope sig", env.header, env.ct), env.sig):
        raise E2EError("bad_signature")
    if len(env.ct) < 12 + 16:
        raise E2EError("malformed", "an envelope is too short")
    key = hkdf(ecdh(recipient, env.ephemeral_pub), sha256(env.header), "cc1 envelope key")
    return env, unpad(open_(key, env.ct[:12], env.ct[12:], env.header))
