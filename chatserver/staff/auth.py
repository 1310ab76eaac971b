"""Staff authentication: derived credentials, Argon2id, TOTP, sessions, throttling.

The password never reaches the server. Consoles and the CLI derive a login credential
from it (``derive_credential``: PBKDF2-HMAC-SHA-256, 600 000 iterations, salted with the
account's public salt and the username, then HKDF with the info ``cc1 auth``); the server
stores only an Argon2id hash of that credential. The salt is the installation id (the
origin for accounts made before migration 0011), never the address the server is
reached by now: ``POST /api/login/salt`` tells a console which. The end-to-end layer
derives its unwrapping key from the same PBKDF2 output with another HKDF info, which the
server never sees.

Throttling counts failures per username in memory only: no address is ever a key.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import hashlib
import hmac
import secrets
from collections import deque
from dataclasses import dataclass, field

import pyotp
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from chatserver.e2e.password import auth_credential, derive_master
from chatserver.e2e.password import normalise_username as normalise_username

__all__ = [
    "LoginThrottle",
    "csrf_token",
    "derive_credential",
    "hash_credential",
    "hash_token",
    "new_token",
    "normalise_username",
    "verify_credential",
    "verify_totp",
]

_hasher = PasswordHasher()  # Argon2id, argon2-cffi's RFC 9106 low-memory profile


def derive_credential(password: str, salt: str, username: str, secret: bytes = b"") -> str:
    """The login credential a console derives from a password, with the account's salt
    (docs/e2e.md, Passwords)."""
    return auth_credential(derive_master(password, salt, username), secret)


def hash_credential(credential: str) -> str:
    return _hasher.hash(credential)


@functools.cache
def _dummy_hash() -> str:
    """Verified for unknown usernames so that a login takes as long either way and does not
    tell which usernames exist (made at the first such login, not at every import: the CLI
    would pay for it on every command)."""
    return _hasher.hash("no such user")


def verify_credential(stored_hash: str | None, credential: str) -> bool:
    """Argon2id check; with ``stored_hash`` None the same work is done and False returned."""
    if stored_hash is None:
        with contextlib.suppress(VerificationError, InvalidHashError):
            _hasher.verify(_dummy_hash(), credential)
        return False
    try:
        return _hasher.verify(stored_hash, credential)
    except (VerificationError, InvalidHashError):
        return False


def new_totp_secret() -> str:
    return str(pyotp.random_base32())


def verify_totp(secret: str, code: str, now: float) -> int | None:
    """The time step of a valid code (one step of clock drift allowed), else None."""
    if not (code.isdigit() and len(code) == 6):
        return None
    totp = pyotp.TOTP(secret)
    step = int(now) // totp.interval
    for candidate in (step, step - 1, step + 1):
        if hmac.compare_digest(str(totp.at(candidate * totp.interval)), code):
            return candidate
    return None


def new_token() -> str:
    return secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    """Tokens are stored only as their SHA-256 (they are random, so no salt is needed)."""
    return hashlib.sha256(token.encode()).hexdigest()


def csrf_token(session_token: str) -> str:
    """The CSRF token bound to a session; the session cookie itself is HttpOnly."""
    mac = hmac.new(session_token.encode(), b"cc csrf", hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()


@dataclass(slots=True)
class LoginThrottle:
    """At most ``attempts`` failures per username per ``window`` seconds, plus one global
    bucket against spraying across usernames. In memory only."""

    attempts: int = 5
    window: float = 900.0
    global_per_minute: int = 120
    _failures: dict[str, deque[float]] = field(default_factory=dict)
    _recent: deque[float] = field(default_factory=deque)
    #: Last TOTP step used per staff id: a code works once.
    used_steps: dict[str, int] = field(default_factory=dict)

    def allowed(self, username: str, now: float) -> bool:
        while self._recent and self._recent[0] < now - 60:
            self._recent.popleft()
        if len(self._recent) >= self.global_per_minute:
            return False
        failures = self._failures.get(username)
        if failures is None:
            return True
        while failures and failures[0] < now - self.window:
            failures.popleft()
        if not failures:
            del self._failures[username]
            return True
        return len(failures) < self.attempts

    def attempt(self, now: float) -> None:
        self._recent.append(now)

    def failed(self, username: str, now: float) -> None:
        self._failures.setdefault(username, deque()).append(now)

    def succeeded(self, username: str) -> None:
        self._failures.pop(username, None)
