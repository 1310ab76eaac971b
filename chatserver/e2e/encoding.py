"""Byte encodings of suite cc1: length-prefixed sequences, padding, key ids.

Every hash input, HKDF salt or info with several parts, signed message and associated
data is a :func:`seq`: never a bare concatenation, never JSON (docs/e2e.md, "Encodings").
"""

from __future__ import annotations

import base64
import hashlib

from chatserver.e2e.errors import E2EError

__all__ = ["b64d", "b64e", "b64url", "kid", "lp", "pad", "seq", "u32", "u64", "unpad"]

Part = bytes | str | int

SMALL_BUCKET = 256
SMALL_LIMIT = 4096


def u64(n: int) -> bytes:
    if not 0 <= n < 2**64:
        raise E2EError("malformed", "an integer field is out of range")
    return n.to_bytes(8, "big")


def whole(value: object) -> int:
    """A JSON integer in 0 … 2^53; anything else (bool, float, string) is ``malformed``."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**53:
        raise E2EError("malformed", "a field must be a non-negative integer")
    return value


def u32(n: int) -> bytes:
    return n.to_bytes(4, "big")


def lp(data: bytes) -> bytes:
    return u32(len(data)) + data


def seq(*parts: Part) -> bytes:
    """``lp(a) ‖ lp(b) ‖ …``; strings as UTF-8, integers as :func:`u64` first."""
    out = bytearray()
    for part in parts:
        if isinstance(part, bool):
            raise TypeError("booleans have no encoding")
        if isinstance(part, int):
            part = u64(part)
        elif isinstance(part, str):
            try:
                part = part.encode("utf-8")
            except UnicodeEncodeError:
                raise E2EError("malformed", "text that is not valid Unicode") from None
        out += lp(part)
    return bytes(out)


def unseq(data: bytes, count: int) -> list[bytes]:
    """Split exactly ``count`` length-prefixed fields; anything else is malformed."""
    fields, pos = [], 0
    for _ in range(count):
        if pos + 4 > len(data):
            raise E2EError("malformed", "truncated field")
        size = int.from_bytes(data[pos : pos + 4], "big")
        pos += 4
        if pos + size > len(data):
            raise E2EError("malformed", "truncated field")
        fields.append(data[pos : pos + size])
        pos += size
    if pos != len(data):
        raise E2EError("malformed", "trailing bytes")
    return fields


def bucket(size: int) -> int:
    """The padded length for ``size`` bytes of content plus the 0x80 marker."""
    need = size + 1
    if need <= SMALL_LIMIT:
        return -(-need // SMALL_BUCKET) * SMALL_BUCKET
    return 1 << (need - 1).bit_length()


def pad(data: bytes) -> bytes:
    return data + b"\x80" + bytes(bucket(len(data)) - len(data) - 1)


def unpad(data: bytes) -> bytes:
    end = len(data.rstrip(b"\x00"))
    if end == 0 or data[end - 1] != 0x80:
        raise E2EError("bad_padding", "the padding is not valid")
    return data[: end - 1]


def kid(pub: bytes) -> bytes:
    """A key id: ``H(seq("cc1 kid", pub))[0:16]``."""
    return hashlib.sha256(seq("cc1 kid", pub)).digest()[:16]


def b64e(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def b64d(text: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except ValueError:
        raise E2EError("malformed", "not base64") from None


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")
