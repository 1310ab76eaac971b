"""Two-factor sign-in set up by the staff member at the first sign-in.

:func:`begin` keeps a fresh secret as the account's *pending* secret
(``staff.totp_pending``), which sign-in never looks at; :func:`confirm` checks a code made
from it and only then moves it to ``staff.totp_secret``. The console draws the
``otpauth://`` URI as a QR code in the browser. An account that has TOTP cannot enrol
again: resetting it is an admin's (``chatserver user reset-2fa``).
"""

from __future__ import annotations

from urllib.parse import urlsplit

import pyotp

from chatserver.protocol.errors import Conflict, NotFound, Unauthorized
from chatserver.staff.auth import new_totp_secret, verify_totp
from chatserver.storage import staff as db_staff
from chatserver.storage.audit import audit_tx
from chatserver.storage.db import Database

__all__ = ["begin", "confirm", "provisioning_uri"]

ALREADY = "two-factor sign-in is already set up; an admin can reset it"


def provisioning_uri(secret: str, username: str, origin: str) -> str:
    """The ``otpauth://`` URI for authenticator apps; the issuer is the server's host."""
    issuer = urlsplit(origin).hostname or origin
    return str(pyotp.TOTP(secret).provisioning_uri(name=username, issuer_name=issuer))


async def begin(db: Database, staff_id: str) -> str:
    """A new pending secret (replacing any earlier pending one); ``conflict`` with TOTP."""
    secret = new_totp_secret()
    async with db.write() as conn:
        if not await db_staff.begin_totp(conn, staff_id, secret):
            raise Conflict(ALREADY)
    return secret


async def confirm(db: Database, staff_id: str, code: str, now: float) -> int:
    """Make the pending secret the account's TOTP secret when ``code`` comes from it;
    audited as ``staff.totp_enrolled``. Returns the code's time step (used up)."""
    async with db.write() as conn:
        secret, pending = await db_staff.totp_secrets(conn, staff_id)
        if secret is not None:
            raise Conflict(ALREADY)
        if pending is None:
            raise NotFound("no two-factor set-up was started; start it again")
        step = verify_totp(pending, code, now)
        if step is None:
            raise Unauthorized("wrong code; enter the code the authenticator app shows now")
        await db_staff.set_totp(conn, staff_id, pending)
        await audit_tx(conn, int(now * 1000), staff_id, "staff.totp_enrolled", staff_id)
    return step
