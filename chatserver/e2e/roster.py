"""The signed roster and the enrolment MAC (docs/e2e.md: "The roster", "Enrolment")."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from typing import Any

from chatserver.e2e.encoding import b64d, b64e, seq, whole
from chatserver.e2e.errors import E2EError
from chatserver.e2e.password import normalise_username
from chatserver.e2e.primitives import PrivateKey, load_public, pin, public_bytes, sign, verify

__all__ = [
    "Member",
    "Roster",
    "check_enrol_mac",
    "check_roster",
    "enrol_bytes",
    "enrol_mac",
    "roster_bytes",
    "sign_roster",
]

ROLES = ("counsellor", "supervisor", "admin")
ENROL_SECRET_BYTES = 32


@dataclass(frozen=True, slots=True)
class Member:
    id: str
    role: str
    dh_pub: bytes
    sig_pub: bytes
    since: int


@dataclass(frozen=True, slots=True)
class Roster:
    team: str
    version: int
    issued_at: int
    members: dict[str, Member]
    r_pub: bytes


def roster_bytes(team: str, version: int, issued_at: int, members: list[Member]) -> bytes:
    ordered = sorted(members, key=lambda m: m.id)
    body = seq(*(seq(m.id, m.role, m.dh_pub, m.sig_pub, m.since) for m in ordered))
    return seq("cc1 roster", "cc1", team, version, issued_at, body)


def sign_roster(
    root: PrivateKey, team: str, version: int, issued_at: int, members: list[Member]
) -> dict[str, Any]:
    for member in members:
        if member.role not in ROLES:
            raise E2EError("malformed", "unknown role")
        load_public(member.dh_pub)
        load_public(member.sig_pub)
    if len({m.id for m in members}) != len(members):
        raise E2EError("malformed", "a member appears twice")
    signature = sign(root, roster_bytes(team, version, issued_at, members))
    return {
        "suite": "cc1",
        "team": team,
        "version": version,
        "issued_at": issued_at,
        "members": [
            {
                "id": m.id,
                "role": m.role,
                "dh_pub": b64e(m.dh_pub),
                "sig_pub": b64e(m.sig_pub),
                "since": m.since,
            }
            for m in sorted(members, key=lambda m: m.id)
        ],
        "sig": b64e(signature),
        "r_pub": b64e(public_bytes(root)),
    }


def check_roster(
    wire: dict[str, Any], *, pin_value: str | None, team: str, min_version: int = 0
) -> Roster:
    """Every check of the spec, in its order."""
    if wire.get("suite") != "cc1":
        raise E2EError("unsupported_suite")
    try:
        version, issued_at = whole(wire["version"]), whole(wire["issued_at"])
        r_pub, sig, wire_team = b64d(wire["r_pub"]), b64d(wire["sig"]), wire["team"]
        if not isinstance(wire["members"], list) or not isinstance(wire_team, str):
            raise TypeError("members is a list, team a string")
        members = [
            Member(m["id"], m["role"], b64d(m["dh_pub"]), b64d(m["sig_pub"]), whole(m["since"]))
            for m in wire["members"]
        ]
        if not all(isinstance(m.id, str) and isinstance(m.role, str) for m in members):
            raise TypeError("ids and roles are strings")
    except (KeyError, TypeError, ValueError):
        raise E2EError("malformed", "the roster is incomplete") from None
    load_public(r_pub)
    for member in members:
        load_public(member.dh_pub)
        load_public(member.sig_pub)
        if member.role not in ROLES:
            raise E2EError("malformed", "unknown role")
    if len({m.id for m in members}) != len(members):
        raise E2EError("malformed", "a member appears twice")
    if pin_value is not None and pin(r_pub) != pin_value:
        raise E2EError("pin_mismatch")
    if not verify(r_pub, roster_bytes(wire_team, version, issued_at, members), sig):
        raise E2EError("bad_signature")
    if wire_team != team:
        raise E2EError("wrong_team")
    if version < min_version:
        raise E2EError("roster_rollback")
    return Roster(wire_team, version, issued_at, {m.id: m for m in members}, r_pub)


def enrol_bytes(team: str, invite_id: str, username: str, dh_pub: bytes, sig_pub: bytes) -> bytes:
    return seq("cc1 enrol", "cc1", team, invite_id, normalise_username(username), dh_pub, sig_pub)


def enrol_mac(
    secret: bytes, team: str, invite_id: str, username: str, dh_pub: bytes, sig_pub: bytes
) -> bytes:
    """What the new member's console sends with its public keys."""
    if len(secret) != ENROL_SECRET_BYTES:
        raise E2EError("bad_parameter", "an invite secret has 32 bytes")
    data = enrol_bytes(team, invite_id, username, dh_pub, sig_pub)
    return hmac.new(secret, data, hashlib.sha256).digest()


def check_enrol_mac(
    secret: bytes,
    team: str,
    invite_id: str,
    username: str,
    dh_pub: bytes,
    sig_pub: bytes,
    mac: bytes,
) -> None:
    """The admin's check before the roster names the new keys (``bad_signature`` if not)."""
    load_public(dh_pub)
    load_public(sig_pub)
    good = enrol_mac(secret, team, invite_id, username, dh_pub, sig_pub)
    if not hmac.compare_digest(good, mac):
        raise E2EError("bad_signature", "the new member's keys do not match the invite")
