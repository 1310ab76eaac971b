"""The primitives of suite cc1 on ``cryptography``: P-256 ECDH and ECDSA, HKDF-SHA-256,
AES-256-GCM, PBKDF2-HMAC-SHA-256, and the key formats the browser side uses."""

from __future__ import annotations

import hashlib
import os

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from chatserver.e2e.encoding import b64url, seq
from chatserver.e2e.errors import E2EError

__all__ = [
    "PBKDF2_ITERATIONS",
    "PrivateKey",
    "ecdh",
    "generate",
    "hkdf",
    "load_pkcs8",
    "nonce",
    "open_",
    "pbkdf2",
    "pin",
    "pkcs8",
    "public_bytes",
    "safety_number",
    "seal",
    "sha256",
    "sign",
    "spki",
    "verify",
]

SUITE = "cc1"
PBKDF2_ITERATIONS = 600_000
CURVE = ec.SECP256R1()
PrivateKey = ec.EllipticCurvePrivateKey


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def nonce() -> bytes:
    return os.urandom(12)


def generate() -> PrivateKey:
    """A fresh P-256 key pair (the same kind serves ECDH and ECDSA; each key has one use)."""
    return ec.generate_private_key(CURVE)


def public_bytes(key: PrivateKey | ec.EllipticCurvePublicKey) -> bytes:
    pub = key.public_key() if isinstance(key, ec.EllipticCurvePrivateKey) else key
    return pub.public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )


def load_public(data: bytes) -> ec.EllipticCurvePublicKey:
    """A 65-byte uncompressed point on P-256; anything else is ``bad_key``."""
    if len(data) != 65 or data[0] != 4:
        raise E2EError("bad_key", "a public key must be a 65-byte uncompressed P-256 point")
    try:
        return ec.EllipticCurvePublicKey.from_encoded_point(CURVE, data)
    except ValueError:
        raise E2EError("bad_key", "not a point on P-256") from None


def pkcs8(key: PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def load_pkcs8(data: bytes) -> PrivateKey:
    try:
        key = serialization.load_der_private_key(data, password=None)
    except ValueError:
        raise E2EError("bad_key", "not a PKCS#8 private key") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != CURVE.name:
        raise E2EError("bad_key", "not a P-256 private key")
    return key


def spki(pub: bytes) -> bytes:
    return load_public(pub).public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def pin(root_pub: bytes) -> str:
    """The team-root pin an agency puts in its embed snippet."""
    return b64url(sha256(spki(root_pub)))


def safety_number(root_pub: bytes) -> str:
    """Thirty digits (about 99.6 bits) to compare when there is no pin."""
    digest = sha256(seq("cc1 safety", root_pub))
    groups = (int.from_bytes(digest[5 * i : 5 * i + 5], "big") % 100_000 for i in range(6))
    return " ".join(f"{g:05d}" for g in groups)


def ecdh(own: PrivateKey, peer_pub: bytes) -> bytes:
    return own.exchange(ec.ECDH(), load_public(peer_pub))


def hkdf(ikm: bytes, salt: bytes, info: bytes | str, length: int = 32) -> bytes:
    info_bytes = info.encode() if isinstance(info, str) else info
    # An empty salt is HKDF's zero salt, as in WebCrypto.
    return HKDF(hashes.SHA256(), length, salt or None, info_bytes).derive(ikm)


def seal(key: bytes, iv: bytes, plaintext: bytes, ad: bytes) -> bytes:
    return AESGCM(key).encrypt(iv, plaintext, ad)


def open_(key: bytes, iv: bytes, ciphertext: bytes, ad: bytes) -> bytes:
    try:
        return AESGCM(key).decrypt(iv, ciphertext, ad)
    except (InvalidTag, ValueError):
        raise E2EError("decrypt_failed") from None


def sign(key: PrivateKey, message: bytes) -> bytes:
    """ECDSA P-256 SHA-256 as raw ``r ‖ s`` (64 bytes)."""
    r, s = decode_dss_signature(key.sign(message, ec.ECDSA(hashes.SHA256())))
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def verify(pub: bytes, message: bytes, signature: bytes) -> bool:
    if len(signature) != 64:
        return False
    der = encode_dss_signature(
        int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
    )
    try:
        load_public(pub).verify(der, message, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        return False
    return True


def pbkdf2(password: bytes, salt: bytes, iterations: int = PBKDF2_ITERATIONS) -> bytes:
    if iterations != PBKDF2_ITERATIONS:
        raise E2EError("bad_parameter", "cc1 uses exactly 600 000 PBKDF2 iterations")
    return hashlib.pbkdf2_hmac("sha256", password, salt, iterations)
