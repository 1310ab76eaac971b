"""Staff accounts in storage: the installation id their passwords are salted with, and the
one way an account row is made (the CLI, an enrolment and the demo all call it)."""

from __future__ import annotations

import secrets
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from chatserver.storage import models as m

__all__ = ["create_account", "installation_id", "kdf_salt"]


async def installation_id(conn: AsyncConnection) -> str:
    """This installation's identifier (migration 0011 makes it; backups keep it)."""
    found = (await conn.execute(select(m.installation.c.id))).scalar()
    if found is None:
        raise LookupError("the database has no installation id: run `chatserver migrate`")
    return str(found)


async def kdf_salt(conn: AsyncConnection, username: str) -> str:
    """What the password of ``username`` is salted with. An unknown username gets the
    installation id, the salt of every account made since migration 0011: the answer does
    not tell whether the account exists."""
    account = select(m.staff.c.kdf_salt).where(m.staff.c.username == username)
    # One statement either way, so that the time it takes does not tell either.
    row = (await conn.execute(select(m.installation.c.id, account.scalar_subquery()))).one_or_none()
    if row is None:
        raise LookupError("the database has no installation id: run `chatserver migrate`")
    return str(row[1] if row[1] is not None else row[0])


async def create_account(
    conn: AsyncConnection,
    *,
    username: str,
    display_name: str,
    role: str,
    credential_hash: str,
    now: int,
    **extra: Any,
) -> str:
    """Insert a staff account salted with the installation id; returns its new id.
    ``extra``: further columns (``totp_secret``, ``disabled_at``). The caller checked the
    username and derived ``credential_hash`` with :func:`installation_id` as the salt."""
    staff_id = "s" + secrets.token_hex(8)
    await conn.execute(
        insert(m.staff).values(
            id=staff_id,
            username=username,
            display_name=display_name,
            role=role,
            credential_hash=credential_hash,
            kdf_salt=await installation_id(conn),
            created_at=now,
            **extra,
        )
    )
    return staff_id
