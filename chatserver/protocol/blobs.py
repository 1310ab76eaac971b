"""Shape checks for the opaque blobs of the end-to-end layer that arrive over HTTP.

The server checks what it can without cryptography: base64, exact sizes of public keys
and signatures, integer ranges. A refusal is :class:`Malformed` naming the field.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from chatserver.protocol.errors import Malformed

__all__ = ["b64_field", "whole_field"]


def b64_field(value: Any, name: str, size: int | None = None, limit: int | None = None) -> bytes:
    """Decoded bytes of a base64 field; ``size`` 65 also means an uncompressed point."""
    if not isinstance(value, str):
        raise Malformed(f"field '{name}' must be base64")
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise Malformed(f"field '{name}' must be base64") from None
    if size is not None and (len(raw) != size or (size == 65 and raw[0] != 4)):
        raise Malformed(f"field '{name}' has the wrong size")
    if limit is not None and not 0 < len(raw) <= limit:
        raise Malformed(f"field '{name}' has the wrong size")
    return raw


def whole_field(value: Any, name: str) -> int:
    """A JSON integer in 0 … 2^53 (not a bool, float or string)."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**53:
        raise Malformed(f"field '{name}' must be a non-negative integer")
    return value
