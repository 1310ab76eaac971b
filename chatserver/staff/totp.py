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
from sqlalchemy import select, update

from chatserver.protocol.errors import Conflict, NotFound, Unauthorized
from chatserver.staff.auth import new_totp_secret, verify_totp
from chatserver.storage import models as m
from chatserver.storage.db import Database
from chatserver.storage.store import audit_tx

__all__ = ["begin", "confirm", "provisioning_uri"]

ALREADY = "two-factor sign-in is already set up; an admin can reset it"


def provisioning_uri(secret: str, username: str, origin: str) -> str:
    """The ``otpauth://`` URI for authenticator apps; the issuer is the server's host."""
    issuer = urlsplit(origin).hostname or origin
    return str(pyotp.TOTP(secret).provisioning_uri(name=username, issuer_name=issuer))


async def begin(db: Database, staff_id: str) -> str:
    """A new pending secret (replacing any earlier pending one); ``conflict`` with TOTP."""
    secret = new_totp_secret()
    s = m.staff.c
    async with db.write() as conn:
        done = await conn.execute(
            update(m.staff)
            .where(s.id == staff_id, s.totp_secret.is_(None))
            .values(totp_pending=secret)
        )
        if done.rowcount != 1:
            raise Conflict(ALREADY)
    return secret


async def confirm(db: Database, staff_id: str, code: str, now: float) -> int:
    """Make the pending secret the account's TOTP secret when ``code`` comes from it;
    audited as ``staff.totp_enrolled``. Returns the code's time step (used up)."""
    s = m.staff.c
    async with db.write() as conn:
        row = (
            await conn.execute(select(s.totp_secret, s.totp_pending).where(s.id == staff_id))
        ).one()
        if row.totp_secret is not None:
            raise Conflict(ALREADY)
        if row.totp_pending is None:
            raise NotFound("no two-factor set-up was started; start it again")
        step = verify_totp(row.totp_pending, code, now)
        if step is None:
            raise Unauthorized("wrong code; enter the code the authenticator app shows now")
        await conn.execute(
            update(m.staff)
            .where(s.id == staff_id)
            .values(totp_secret=row.totp_pending, totp_pending=None)
        )
        await audit_tx(conn, int(now * 1000), staff_id, "staff.totp_enrolled", staff_id)
    return step
