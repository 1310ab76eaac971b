"""Rate limits and the proof-of-work gate, driven by a passed-in time."""

from __future__ import annotations

import hashlib
import hmac
import itertools
from collections.abc import Callable

import pytest

from chatserver.protocol.frames import Challenge
from chatserver.protocol.limits import PowGate, TokenBucket, leading_zero_bits, solve

T0 = 1_700_000_000.0
SECRET = b"s" * 32


def gate(**overrides: float | int | bytes) -> PowGate:
    """A gate with small difficulties so that solve() is fast."""
    options: dict[str, float | int | bytes] = {
        "free_per_minute": 3,
        "base_difficulty": 8,
        "max_difficulty": 12,
        "ttl": 120.0,
        "secret": SECRET,
    }
    options.update(overrides)
    return PowGate(**options)  # type: ignore[arg-type]


def bits_of(challenge: str, nonce: str) -> int:
    return leading_zero_bits(hashlib.sha256(f"{challenge}:{nonce}".encode()).digest())


def weak_nonce(challenge: Challenge) -> str:
    """A nonce whose hash has fewer leading zero bits than the challenge asks."""
    for counter in itertools.count():
        nonce = format(counter, "x")
        if bits_of(challenge.challenge, nonce) < challenge.difficulty:
            return nonce
    raise AssertionError("unreachable")


def signed(body: str, secret: bytes = SECRET) -> str:
    """A challenge string with a valid MAC over an arbitrary body."""
    mac = hmac.new(secret, body.encode(), hashlib.sha256).hexdigest()[:32]
    return f"{body}.{mac}"


# --------------------------------------------------------------------------- TokenBucket


def test_bucket_starts_full_and_allows_a_burst() -> None:
    """A fresh bucket allows exactly ``burst`` takes at one instant."""
    bucket = TokenBucket(rate=1.0, burst=3)
    assert [bucket.take(T0) for _ in range(4)] == [True, True, True, False]


def test_bucket_refills_with_passed_in_time() -> None:
    """Tokens come back at ``rate`` per second of the time passed in."""
    bucket = TokenBucket(rate=2.0, burst=2)
    assert bucket.take(T0) and bucket.take(T0)
    assert not bucket.take(T0 + 0.25)  # half a token
    assert bucket.take(T0 + 0.5)  # one full token now
    assert not bucket.take(T0 + 0.5)


def test_bucket_never_holds_more_than_burst() -> None:
    """However long the bucket rests, it only ever holds ``burst`` tokens."""
    bucket = TokenBucket(rate=10.0, burst=2)
    assert bucket.take(T0)
    later = T0 + 10_000
    assert [bucket.take(later) for _ in range(3)] == [True, True, False]
    assert bucket.tokens <= bucket.burst


def test_bucket_take_with_cost() -> None:
    """A take of ``cost`` spends that many tokens and fails when fewer are left."""
    bucket = TokenBucket(rate=1.0, burst=5)
    assert bucket.take(T0, cost=3)
    assert not bucket.take(T0, cost=3)
    assert bucket.take(T0, cost=2)
    assert not bucket.take(T0, cost=0.5)


def test_bucket_failed_take_spends_nothing() -> None:
    """A refused take leaves the tokens for a cheaper take."""
    bucket = TokenBucket(rate=1.0, burst=1)
    assert not bucket.take(T0, cost=2)
    assert bucket.take(T0, cost=1)


def test_bucket_steady_rate() -> None:
    """Taking once per 1/rate seconds is always allowed once the burst is spent."""
    bucket = TokenBucket(rate=4.0, burst=1)
    assert all(bucket.take(T0 + i * 0.25) for i in range(100))
    assert not bucket.take(T0 + 99 * 0.25 + 0.1)


def test_bucket_time_going_backwards_does_not_refill() -> None:
    """An earlier time than the last take never gives tokens back."""
    bucket = TokenBucket(rate=1.0, burst=2)
    assert bucket.take(T0) and bucket.take(T0)
    assert not bucket.take(T0 - 1)
    assert not bucket.take(T0 - 1)


# --------------------------------------------------------------------------- leading_zero_bits


@pytest.mark.parametrize(
    ("digest", "bits"),
    [
        (b"", 0),
        (b"\xff", 0),
        (b"\x80", 0),
        (b"\x7f", 1),
        (b"\x01", 7),
        (b"\x00", 8),
        (b"\x00\x80", 8),
        (b"\x00\x0f", 12),
        (b"\x00\x00\x01", 23),
        (b"\x00\x01\x00", 15),
        (b"\x00" * 32, 256),
    ],
    ids=lambda v: v.hex() or "empty" if isinstance(v, bytes) else str(v),
)
def test_leading_zero_bits(digest: bytes, bits: int) -> None:
    """leading_zero_bits counts zero bits from the most significant bit of the first byte."""
    assert leading_zero_bits(digest) == bits


def test_solve_finds_enough_zero_bits() -> None:
    """solve() returns a nonce whose hash meets the difficulty."""
    challenge = Challenge("abc", 8)
    assert bits_of("abc", solve(challenge)) >= 8
    assert solve(Challenge("abc", 0)) == "0"


# --------------------------------------------------------------------------- PowGate difficulty


def test_no_proof_needed_below_free_rate() -> None:
    """Below ``free_per_minute`` starts and with a short queue, difficulty is 0."""
    pow_gate = gate(free_per_minute=3)
    for i in range(3):
        assert pow_gate.difficulty(T0 + i, queued=0, queue_cap=100) == 0
        pow_gate.record_start(T0 + i)
    assert pow_gate.difficulty(T0 + 3, queued=0, queue_cap=100) > 0


def test_zero_difficulty_check_passes_without_proof() -> None:
    """When no proof is needed, check() accepts missing fields."""
    pow_gate = gate()
    needed = pow_gate.difficulty(T0, queued=0, queue_cap=100)
    assert needed == 0
    assert pow_gate.check(T0, None, None, needed)


def test_difficulty_rises_with_starts_in_the_last_minute() -> None:
    """Each doubling of starts over the free rate adds one bit on top of the base."""
    pow_gate = gate(free_per_minute=3, base_difficulty=8, max_difficulty=20)
    seen = []
    for i in range(12):
        seen.append(pow_gate.difficulty(T0 + i, queued=0, queue_cap=100))
        pow_gate.record_start(T0 + i)
    # starts so far:  0  1  2  3  4  5   6   7   8   9   10  11
    assert seen == [0, 0, 0, 8, 9, 10, 10, 11, 11, 11, 11, 12]
    assert seen == sorted(seen)


def test_difficulty_falls_when_starts_age_out() -> None:
    """Starts older than a minute no longer count."""
    pow_gate = gate(free_per_minute=2)
    for i in range(5):
        pow_gate.record_start(T0 + i)
    assert pow_gate.difficulty(T0 + 10, queued=0, queue_cap=100) > 0
    assert pow_gate.difficulty(T0 + 60, queued=0, queue_cap=100) > 0  # the first is 60 s old
    assert pow_gate.difficulty(T0 + 63.5, queued=0, queue_cap=100) == 0  # only one left


@pytest.mark.parametrize(
    ("queued", "queue_cap", "expected"),
    [(0, 10, 0), (4, 10, 0), (5, 10, 10), (9, 10, 10), (10, 10, 10), (50, 0, 0)],
    ids=["empty", "under-half", "half", "nearly-full", "full", "no-cap"],
)
def test_difficulty_rises_with_queue_pressure(queued: int, queue_cap: int, expected: int) -> None:
    """A queue at half its cap or more asks for base + 2 bits even with no recent starts."""
    pow_gate = gate(base_difficulty=8, max_difficulty=20)
    assert pow_gate.difficulty(T0, queued=queued, queue_cap=queue_cap) == expected


def test_queue_pressure_adds_to_start_pressure() -> None:
    """Queue pressure and start pressure add up."""
    pow_gate = gate(free_per_minute=1, base_difficulty=8, max_difficulty=20)
    for _ in range(3):
        pow_gate.record_start(T0)
    assert pow_gate.difficulty(T0, queued=0, queue_cap=10) == 8 + 2
    assert pow_gate.difficulty(T0, queued=5, queue_cap=10) == 8 + 2 + 2


def test_difficulty_is_capped_at_max() -> None:
    """No amount of pressure asks for more than ``max_difficulty`` bits."""
    pow_gate = gate(free_per_minute=1, base_difficulty=8, max_difficulty=12)
    for _ in range(100_000):
        pow_gate.record_start(T0)
    assert pow_gate.difficulty(T0, queued=10, queue_cap=10) == 12


# --------------------------------------------------------------------------- PowGate check


def test_issue_solve_check_succeeds_once() -> None:
    """A solved challenge is accepted once; replaying it fails."""
    pow_gate = gate()
    challenge = pow_gate.issue(T0, 8)
    assert challenge.difficulty == 8
    nonce = solve(challenge)
    assert pow_gate.check(T0 + 1, challenge.challenge, nonce, 8)
    assert not pow_gate.check(T0 + 2, challenge.challenge, nonce, 8)
    assert not pow_gate.check(T0 + 2, challenge.challenge, solve(Challenge("x", 0)), 8)


def test_issued_challenges_are_unique() -> None:
    """Two challenges issued at the same instant differ."""
    pow_gate = gate()
    assert pow_gate.issue(T0, 8).challenge != pow_gate.issue(T0, 8).challenge


def test_a_harder_challenge_satisfies_a_lower_need() -> None:
    """A challenge issued at more bits than needed is accepted."""
    pow_gate = gate()
    challenge = pow_gate.issue(T0, 10)
    assert pow_gate.check(T0, challenge.challenge, solve(challenge), 8)


def _tamper(challenge: str, index: int, value: str) -> str:
    parts = challenge.split(".")
    parts[index] = value
    return ".".join(parts)


@pytest.mark.parametrize(
    "tamper",
    [
        lambda c: _tamper(c, 0, str(int(c.split(".")[0]) + 3600)),  # later expiry
        lambda c: _tamper(c, 1, "1"),  # lower difficulty
        lambda c: _tamper(c, 2, "A" * 16),  # other random part
        lambda c: _tamper(c, 3, "0" * 32),  # other MAC
        lambda c: _tamper(c, 3, c.split(".")[3][:-1]),  # truncated MAC
        lambda c: c + ".x",  # extra part
        lambda c: c.rsplit(".", 1)[0],  # no MAC
        lambda c: c.upper(),
    ],
    ids=[
        "expiry",
        "difficulty",
        "random",
        "mac",
        "short-mac",
        "extra-part",
        "no-mac",
        "uppercase",
    ],
)
def test_tampered_challenge_fails(tamper: Callable[[str], str]) -> None:
    """Any change to a signed challenge makes check() fail."""
    pow_gate = gate()
    challenge = pow_gate.issue(T0, 8)
    forged = tamper(challenge.challenge)
    assert forged != challenge.challenge
    assert not pow_gate.check(T0, forged, solve(Challenge(forged, 8)), 8)
    assert pow_gate.check(T0, challenge.challenge, solve(challenge), 8)


def test_challenge_from_another_gate_fails() -> None:
    """A challenge signed with another secret is refused."""
    other = gate(secret=b"o" * 32)
    challenge = other.issue(T0, 8)
    assert not gate().check(T0, challenge.challenge, solve(challenge), 8)


def test_expired_challenge_fails() -> None:
    """A challenge is refused once the passed-in time is past its ttl."""
    pow_gate = gate(ttl=120.0)
    challenge = pow_gate.issue(T0, 8)
    nonce = solve(challenge)
    assert not pow_gate.check(T0 + 121, challenge.challenge, nonce, 8)
    assert pow_gate.check(T0 + 120, challenge.challenge, nonce, 8)


def test_too_few_bits_fails() -> None:
    """A nonce whose hash has fewer zero bits than the challenge's difficulty is refused."""
    pow_gate = gate()
    challenge = pow_gate.issue(T0, 8)
    assert not pow_gate.check(T0, challenge.challenge, weak_nonce(challenge), 8)
    # the failure does not use the challenge up
    assert pow_gate.check(T0, challenge.challenge, solve(challenge), 8)


def test_challenge_below_current_need_fails() -> None:
    """A solved challenge issued at fewer bits than are needed now is refused."""
    pow_gate = gate(free_per_minute=0, base_difficulty=8, max_difficulty=12)
    challenge = pow_gate.issue(T0, 8)
    nonce = solve(challenge)
    for _ in range(3):
        pow_gate.record_start(T0)
    needed = pow_gate.difficulty(T0, queued=0, queue_cap=100)
    assert needed > challenge.difficulty
    assert not pow_gate.check(T0, challenge.challenge, nonce, needed)


@pytest.mark.parametrize(
    ("challenge", "nonce"),
    [(None, "0"), ("", "0"), ("VALID", None), ("VALID", ""), (None, None)],
    ids=["no-challenge", "empty-challenge", "no-nonce", "empty-nonce", "neither"],
)
def test_missing_fields_fail(challenge: str | None, nonce: str | None) -> None:
    """When a proof is needed, a missing or empty challenge or nonce is refused."""
    pow_gate = gate()
    issued = pow_gate.issue(T0, 8)
    if challenge == "VALID":
        challenge = issued.challenge
    assert not pow_gate.check(T0, challenge, nonce, 8)


@pytest.mark.parametrize(
    "body",
    [f"{int(T0) + 100}.x.r", "soon.8.r", f"-{int(T0) + 100}.8.r", f"{int(T0) + 100}.-1.r"],
    ids=["difficulty-not-digits", "expiry-not-digits", "negative-expiry", "negative-difficulty"],
)
def test_signed_but_malformed_challenge_fails(body: str) -> None:
    """A correctly signed challenge with non-numeric parts is refused, not a crash."""
    pow_gate = gate()
    challenge = signed(body)
    assert not pow_gate.check(T0, challenge, solve(Challenge(challenge, 0)), 1)


@pytest.mark.parametrize("challenge", ["a.b", "a.b.c.d.e", "....", "x"], ids=str)
def test_unsigned_garbage_challenge_fails(challenge: str) -> None:
    """A challenge string that is not ours is refused."""
    assert not gate().check(T0, challenge, "0", 8)


def test_non_ascii_challenge_fails_without_crashing() -> None:
    """A challenge with non-ASCII characters is refused, not a TypeError."""
    assert not gate().check(T0, "1.8.r.\u00e9", "0", 8)


def test_surrogate_nonce_fails_without_crashing() -> None:
    """A nonce containing a lone surrogate is refused, not a UnicodeEncodeError."""
    pow_gate = gate()
    challenge = pow_gate.issue(T0, 8)
    assert not pow_gate.check(T0, challenge.challenge, "\ud800", 8)
