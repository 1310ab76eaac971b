"""The team bundle: an epoch's public key signed by the team root key, and the checks the
widget makes before it encrypts anything to it (docs/e2e.md, "The team bundle")."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from chatserver.e2e.encoding import b64d, b64e, seq, whole
from chatserver.e2e.errors import E2EError
from chatserver.e2e.primitives import (
    PrivateKey,
    load_public,
    pin,
    public_bytes,
    sha256,
    sign,
    verify,
)

__all__ = ["Bundle", "bundle_bytes", "check_bundle", "sign_bundle"]

MAX_WINDOW_MS = 2 * 24 * 3600 * 1000


@dataclass(frozen=True, slots=True)
class Bundle:
    team: str
    epoch: int
    t_pub: bytes
    not_before: int
    not_after: int
    r_pub: bytes
    hash: bytes  # H(bundle_bytes): part of every transcript


def bundle_bytes(team: str, epoch: int, t_pub: bytes, not_before: int, not_after: int) -> bytes:
    return seq("cc1 bundle", "cc1", team, epoch, t_pub, not_before, not_after)


def sign_bundle(
    root: PrivateKey, team: str, epoch: int, t_pub: bytes, not_before: int, not_after: int
) -> dict[str, Any]:
    """The wire form of a bundle, signed by the team root key."""
    load_public(t_pub)
    signature = sign(root, bundle_bytes(team, epoch, t_pub, not_before, not_after))
    return {
        "suite": "cc1",
        "team": team,
        "epoch": epoch,
        "t_pub": b64e(t_pub),
        "not_before": not_before,
        "not_after": not_after,
        "sig": b64e(signature),
        "r_pub": b64e(public_bytes(root)),
    }


def check_bundle(
    wire: dict[str, Any], *, pin_value: str | None, team: str, now: int, min_epoch: int = 0
) -> Bundle:
    """Every check of the spec, in its order; the first that fails raises its reason."""
    if wire.get("suite") != "cc1":
        raise E2EError("unsupported_suite")
    try:
        epoch, nb, na = (whole(wire[k]) for k in ("epoch", "not_before", "not_after"))
        t_pub, r_pub, sig = b64d(wire["t_pub"]), b64d(wire["r_pub"]), b64d(wire["sig"])
        wire_team = str(wire["team"])
    except (KeyError, TypeError, ValueError):
        raise E2EError("malformed", "the bundle is incomplete") from None
    load_public(t_pub)
    load_public(r_pub)
    if pin_value is not None and pin(r_pub) != pin_value:
        raise E2EError("pin_mismatch")
    data = bundle_bytes(wire_team, epoch, t_pub, nb, na)
    if not verify(r_pub, data, sig):
        raise E2EError("bad_signature")
    if wire_team != team:
        raise E2EError("wrong_team")
    if now < nb:
        raise E2EError("not_yet_valid")
    if now >= na:
        raise E2EError("expired")
    if na - nb > MAX_WINDOW_MS:
        raise E2EError("window_too_long")
    if epoch < min_epoch:
        raise E2EError("epoch_rollback")
    return Bundle(wire_team, epoch, t_pub, nb, na, r_pub, sha256(data))
