"""The end-to-end layer, suite cc1: the Python reference implementation.

No I/O, no clock (times are passed in). ``widget/e2e.js`` implements the same
specification (docs/e2e.md) with WebCrypto; shared vectors keep the two equal.
"""

from .bundle import Bundle, bundle_bytes, check_bundle, sign_bundle
from .conversation import (
    Accepted,
    ChatKeys,
    chat_keys,
    decrypt_message,
    encrypt_message,
    make_accept,
    open_accept,
    queue_hash,
    queue_keys,
    transcript,
)
from .encoding import kid, lp, pad, seq, u64, unpad, unseq
from .envelope import Envelope, open_envelope, parse_envelope, seal_envelope
from .errors import REASONS, E2EError
from .password import auth_credential, derive_master, unwrap_identity, wrap_identity, wrap_key
from .primitives import (
    ecdh,
    generate,
    hkdf,
    load_pkcs8,
    load_public,
    pin,
    pkcs8,
    public_bytes,
    safety_number,
    sign,
    verify,
)
from .roster import (
    Member,
    Roster,
    check_enrol_mac,
    check_roster,
    enrol_bytes,
    enrol_mac,
    roster_bytes,
    sign_roster,
)

__all__ = [
    "REASONS",
    "Accepted",
    "Bundle",
    "ChatKeys",
    "E2EError",
    "Envelope",
    "Member",
    "Roster",
    "auth_credential",
    "bundle_bytes",
    "chat_keys",
    "check_bundle",
    "check_enrol_mac",
    "check_roster",
    "decrypt_message",
    "derive_master",
    "ecdh",
    "encrypt_message",
    "enrol_bytes",
    "enrol_mac",
    "generate",
    "hkdf",
    "kid",
    "load_pkcs8",
    "load_public",
    "lp",
    "make_accept",
    "open_accept",
    "open_envelope",
    "pad",
    "parse_envelope",
    "pin",
    "pkcs8",
    "public_bytes",
    "queue_hash",
    "queue_keys",
    "roster_bytes",
    "safety_number",
    "seal_envelope",
    "seq",
    "sign",
    "sign_bundle",
    "sign_roster",
    "transcript",
    "u64",
    "unpad",
    "unseq",
    "unwrap_identity",
    "verify",
    "wrap_identity",
    "wrap_key",
]
