"""Rate limits and the proof-of-work gate, with the time passed in (no clock here).

Everything is kept in memory only: no address or other identifier of a client is ever
a key. Per-connection buckets live and die with the connection; the start gate is
global per process.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections import deque
from dataclasses import dataclass, field

from chatserver.protocol.frames import Challenge

__all__ = ["PowGate", "TokenBucket", "leading_zero_bits", "solve"]


@dataclass(slots=True)
class TokenBucket:
    """``rate`` tokens per second up to ``burst``; :meth:`take` spends one."""

    rate: float
    burst: float
    tokens: float = -1.0
    stamp: float = 0.0

    def take(self, now: float, cost: float = 1.0) -> bool:
        if self.tokens < 0:
            self.tokens, self.stamp = self.burst, now
        # A clock that goes backwards gives nothing back.
        self.tokens = min(self.burst, self.tokens + max(0.0, now - self.stamp) * self.rate)
        self.stamp = max(self.stamp, now)
        if self.tokens >= cost:
            self.tokens -= cost
            return True
        return False


def leading_zero_bits(digest: bytes) -> int:
    bits = 0
    for byte in digest:
        if byte == 0:
            bits += 8
            continue
        return bits + 8 - byte.bit_length()
    return bits


def _digest(challenge: str, nonce: str) -> bytes:
    return hashlib.sha256(f"{challenge}:{nonce}".encode()).digest()


def solve(challenge: Challenge) -> str:
    """Find a nonce (what the widget does with WebCrypto; used by the SDK and tests)."""
    counter = 0
    while True:
        nonce = format(counter, "x")
        if leading_zero_bits(_digest(challenge.challenge, nonce)) >= challenge.difficulty:
            return nonce
        counter += 1


@dataclass(slots=True)
class PowGate:
    """Decides when ``start`` needs a proof of work and checks it.

    The difficulty grows with pressure: the number of starts in the last minute over
    ``free_per_minute``, and the queue filling past half its cap. Each extra bit doubles
    a script's cost; at ``max_difficulty`` (20 bits, about a million hashes) an old phone
    still answers within about a second with WebCrypto. Challenges are HMAC-signed,
    expire after ``ttl`` seconds and are accepted once.
    """

    free_per_minute: int
    base_difficulty: int = 12
    max_difficulty: int = 20
    ttl: float = 120.0
    secret: bytes = field(default_factory=lambda: secrets.token_bytes(32))
    _starts: deque[float] = field(default_factory=deque)
    _used: dict[str, float] = field(default_factory=dict)

    def difficulty(self, now: float, queued: int, queue_cap: int) -> int:
        """0 when no proof is needed, else the number of leading zero bits required."""
        while self._starts and self._starts[0] < now - 60:
            self._starts.popleft()
        recent = len(self._starts)
        pressure_queue = queue_cap > 0 and queued * 2 >= queue_cap
        if recent < self.free_per_minute and not pressure_queue:
            return 0
        extra = max(0, recent - self.free_per_minute).bit_length()
        if pressure_queue:
            extra += 2
        return min(self.max_difficulty, self.base_difficulty + extra)

    def issue(self, now: float, difficulty: int) -> Challenge:
        expires = int(now + self.ttl)
        body = f"{expires}.{difficulty}.{secrets.token_urlsafe(12)}"
        mac = hmac.new(self.secret, body.encode(), hashlib.sha256).hexdigest()[:32]
        return Challenge(f"{body}.{mac}", difficulty)

    def check(self, now: float, challenge: str | None, nonce: str | None, needed: int) -> bool:
        """True when a valid, unexpired, unused solution of at least ``needed`` bits is given."""
        if needed == 0:
            return True
        if not challenge or not nonce or not (challenge.isascii() and nonce.isascii()):
            return False
        parts = challenge.split(".")
        if len(parts) != 4:
            return False
        expires, difficulty, rand, mac = parts
        body = f"{expires}.{difficulty}.{rand}"
        good = hmac.new(self.secret, body.encode(), hashlib.sha256).hexdigest()[:32]
        if not hmac.compare_digest(mac, good):
            return False
        if not (expires.isdigit() and difficulty.isdigit()) or int(expires) < now:
            return False
        if int(difficulty) < needed or challenge in self._used:
            return False
        if leading_zero_bits(_digest(challenge, nonce)) < int(difficulty):
            return False
        for old, until in list(self._used.items()):
            if until < now:
                del self._used[old]
        self._used[challenge] = float(expires)
        return True

    def record_start(self, now: float) -> None:
        self._starts.append(now)
