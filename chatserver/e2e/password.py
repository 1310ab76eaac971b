"""Password derivations and the identity-key wrap (docs/e2e.md, "Passwords").

``salt`` is the account's public salt, kept with the account: the installation id for
accounts made since migration 0011, the origin the server had for older ones. It enters
both the PBKDF2 salt and the identity wrap's associated data, where cc1 once put the
origin, so moving a server to another address changes neither."""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence

from chatserver.e2e.encoding import b64url, seq, unseq
from chatserver.e2e.errors import E2EError
from chatserver.e2e.primitives import (
    PrivateKey,
    hkdf,
    load_pkcs8,
    nonce,
    open_,
    pbkdf2,
    pkcs8,
    public_bytes,
    seal,
    sha256,
)

__all__ = [
    "MIN_DISTINCT",
    "MIN_LENGTH",
    "auth_credential",
    "derive_master",
    "normalise_username",
    "password_problem",
    "unwrap_identity",
    "wrap_identity",
    "wrap_key",
]


#: The one password rule, the same in the browser (``passwordProblem`` in e2e-staff.js) and
#: the CLI: characters are Unicode code points of the NFKC form the derivation hashes.
MIN_LENGTH = 12
MIN_LENGTH_ADMIN = 16
MIN_DISTINCT = 5
MIN_PERSONAL = 3  # a word of the username, name or team this long may not be in it


def password_problem(
    password: str, *, admin: bool = False, personal: Sequence[str] = ()
) -> str | None:
    """``"short"`` (fewer than 12 characters; 16 for an admin, whose password guards the
    team root key), ``"repetitive"`` (fewer than 5 different ones), ``"personal"`` (it
    contains one of ``personal``, the username, name or team, or a word of them of at least
    3 characters, in any case), or None for a password the rule accepts."""
    text = unicodedata.normalize("NFKC", password)
    if len(text) < (MIN_LENGTH_ADMIN if admin else MIN_LENGTH):
        return "short"
    if len(set(text)) < MIN_DISTINCT:
        return "repetitive"
    lowered = text.lower()
    for value in personal:
        value = unicodedata.normalize("NFKC", value).lower()
        words = "".join(c if c.isalnum() else " " for c in value).split()
        if any(len(w) >= MIN_PERSONAL and w in lowered for w in [value.strip(), *words]):
            return "personal"
    return None


def normalise_username(username: str) -> str:
    return unicodedata.normalize("NFKC", username).strip().lower()


def derive_master(password: str, salt: str, username: str) -> bytes:
    """``m = PBKDF2(password, H(seq("cc1 salt", salt, username)), 600 000)``."""
    digest = sha256(seq("cc1 salt", salt, normalise_username(username)))
    return pbkdf2(unicodedata.normalize("NFKC", password).encode("utf-8"), digest)


def _secret(secret: bytes) -> bytes:
    if len(secret) not in (0, 16):
        raise E2EError("bad_parameter", "the account secret key has 16 bytes")
    return secret


def auth_credential(master: bytes, secret: bytes = b"") -> str:
    """The login credential (base64url); the server keeps only its Argon2id hash."""
    return b64url(hkdf(master, _secret(secret), "cc1 auth"))


def wrap_key(master: bytes, secret: bytes = b"") -> bytes:
    """Unwraps the identity keys; never leaves the console."""
    return hkdf(master, _secret(secret), "cc1 wrap")


def _identity_ad(salt: str, username: str, dh_pub: bytes, sig_pub: bytes) -> bytes:
    return seq("cc1 identity", salt, normalise_username(username), dh_pub, sig_pub)


def wrap_identity(
    wrap: bytes,
    salt: str,
    username: str,
    dh: PrivateKey,
    sig: PrivateKey,
    iv: bytes | None = None,
) -> bytes:
    iv = iv or nonce()
    ad = _identity_ad(salt, username, public_bytes(dh), public_bytes(sig))
    return iv + seal(wrap, iv, seq(pkcs8(dh), pkcs8(sig)), ad)


def unwrap_identity(
    wrap: bytes, salt: str, username: str, dh_pub: bytes, sig_pub: bytes, wrapped: bytes
) -> tuple[PrivateKey, PrivateKey]:
    """The two private keys, checked against the public halves the roster names."""
    if len(wrapped) < 12 + 16:
        raise E2EError("malformed", "the wrapped identity is too short")
    ad = _identity_ad(salt, username, dh_pub, sig_pub)
    dh_der, sig_der = unseq(open_(wrap, wrapped[:12], wrapped[12:], ad), 2)
    dh, sig = load_pkcs8(dh_der), load_pkcs8(sig_der)
    if public_bytes(dh) != dh_pub or public_bytes(sig) != sig_pub:
        raise E2EError("key_mismatch")
    return dh, sig
