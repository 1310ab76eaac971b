"""Staff accounts in storage: the installation id their passwords are salted with, the
one way an account row is made (the CLI, an enrolment and the demo all call it), the
accounts as admins see them (never a hash or a secret), their changes (role, cap,
disabling, two-factor secrets), their sessions, and the teams, memberships and identity
keys the command line and the demo give an account when they make it."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from chatserver.storage import models as m

__all__ = [
    "StaffAccount",
    "account",
    "accounts",
    "another_enabled_admin",
    "awaiting_approval",
    "begin_totp",
    "create_account",
    "end_sessions",
    "id_by_username",
    "id_by_username_or_id",
    "identity_key",
    "installation_id",
    "kdf_salt",
    "rename_and_disable",
    "set_cap",
    "set_disabled",
    "set_role",
    "set_totp",
    "team_slugs",
    "teams_of",
    "totp_secrets",
]

s = m.staff.c
ms = m.memberships.c


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
    account = select(s.kdf_salt).where(s.username == username)
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


# ---------------------------------------------------------------------- accounts
@dataclass(frozen=True, slots=True)
class StaffAccount:
    """An account's row without its credential hash, salt or secrets."""

    id: str
    username: str
    display_name: str
    role: str
    disabled_at: int | None
    totp: bool  # whether two-factor sign-in is set up
    cap: int | None
    created_at: int
    last_login_at: int | None


def _account(row: Any) -> StaffAccount:
    return StaffAccount(
        row.id,
        row.username,
        row.display_name,
        row.role,
        row.disabled_at,
        row.totp_secret is not None,
        row.cap,
        row.created_at,
        row.last_login_at,
    )


async def accounts(conn: AsyncConnection) -> list[StaffAccount]:
    """Every account, by username."""
    return [_account(r) for r in await conn.execute(select(m.staff).order_by(s.username))]


async def account(conn: AsyncConnection, staff_id: str) -> StaffAccount | None:
    row = (await conn.execute(select(m.staff).where(s.id == staff_id))).first()
    return None if row is None else _account(row)


async def team_slugs(
    conn: AsyncConnection, staff_id: str | None = None
) -> dict[str, tuple[str, ...]]:
    """The slugs of the teams (archived ones too) of every account that has any, or of
    ``staff_id`` only, by slug."""
    query = (
        select(ms.staff_id, m.teams.c.slug)
        .join(m.teams, m.teams.c.id == ms.team_id)
        .order_by(m.teams.c.slug)
    )
    if staff_id is not None:
        query = query.where(ms.staff_id == staff_id)
    out: dict[str, list[str]] = {}
    for row in await conn.execute(query):
        out.setdefault(row.staff_id, []).append(row.slug)
    return {k: tuple(v) for k, v in out.items()}


async def id_by_username(conn: AsyncConnection, username: str) -> str | None:
    """The id of the account ``username`` (already normalised), or None."""
    found = (await conn.execute(select(s.id).where(s.username == username))).scalar()
    return None if found is None else str(found)


async def id_by_username_or_id(conn: AsyncConnection, username: str, staff_id: str) -> str | None:
    """The id of the account named ``username`` or with the id ``staff_id``, or None."""
    found = await conn.execute(select(s.id).where((s.username == username) | (s.id == staff_id)))
    value = found.scalar()
    return None if value is None else str(value)


async def identity_key(conn: AsyncConnection, username: str) -> tuple[str, bytes | None] | None:
    """The id of the account ``username`` and the DH public key of its identity (None
    without one); None when there is no such account."""
    row = (
        await conn.execute(
            select(s.id, m.identities.c.dh_pub)
            .outerjoin(m.identities, m.identities.c.staff_id == s.id)
            .where(s.username == username)
        )
    ).first()
    if row is None:
        return None
    return str(row.id), None if row.dh_pub is None else bytes(row.dh_pub)


# ---------------------------------------------------------------------- changes
async def set_role(conn: AsyncConnection, staff_id: str, role: str) -> None:
    await conn.execute(update(m.staff).where(s.id == staff_id).values(role=role))


async def set_cap(conn: AsyncConnection, staff_id: str, cap: int | None) -> None:
    await conn.execute(update(m.staff).where(s.id == staff_id).values(cap=cap))


async def set_disabled(conn: AsyncConnection, staff_id: str, at: int | None) -> None:
    """Disabled since ``at``, or enabled with None."""
    await conn.execute(update(m.staff).where(s.id == staff_id).values(disabled_at=at))


async def rename_and_disable(conn: AsyncConnection, staff_id: str, username: str, now: int) -> None:
    """Move the account out of the way of a new one with its username."""
    await conn.execute(
        update(m.staff).where(s.id == staff_id).values(username=username, disabled_at=now)
    )


async def end_sessions(conn: AsyncConnection, staff_id: str) -> None:
    """Sign the account out everywhere."""
    await conn.execute(delete(m.sessions).where(m.sessions.c.staff_id == staff_id))


async def another_enabled_admin(conn: AsyncConnection, staff_id: str) -> bool:
    """Whether an enabled admin other than ``staff_id`` exists. Their rows are locked
    FOR UPDATE on PostgreSQL: two admins demoting each other at once cannot both pass
    (the second sees the first's change after waiting); SQLite serialises writers anyway."""
    others = await conn.execute(
        select(s.id)
        .where(s.role == "admin", s.disabled_at.is_(None), s.id != staff_id)
        .with_for_update()
    )
    return others.first() is not None


async def awaiting_approval(conn: AsyncConnection, staff_id: str) -> bool:
    """Whether the account's enrolment waits for an admin's approval."""
    i = m.invites.c
    waiting = await conn.execute(
        select(i.id).where(
            i.staff_id == staff_id, i.enrolled_at.is_not(None), i.approved_at.is_(None)
        )
    )
    return waiting.first() is not None


# ---------------------------------------------------------------------- two-factor
async def totp_secrets(conn: AsyncConnection, staff_id: str) -> tuple[str | None, str | None]:
    """The account's TOTP secret and pending secret (``NoResultFound`` without the account)."""
    row = (await conn.execute(select(s.totp_secret, s.totp_pending).where(s.id == staff_id))).one()
    return row.totp_secret, row.totp_pending


async def begin_totp(conn: AsyncConnection, staff_id: str, pending: str) -> bool:
    """Keep ``pending`` as the account's pending secret, unless it has TOTP already;
    whether it did."""
    done = await conn.execute(
        update(m.staff)
        .where(s.id == staff_id, s.totp_secret.is_(None))
        .values(totp_pending=pending)
    )
    return bool(done.rowcount == 1)


async def set_totp(conn: AsyncConnection, staff_id: str, secret: str | None) -> None:
    """The account's TOTP secret (None: none), with no pending one."""
    await conn.execute(
        update(m.staff).where(s.id == staff_id).values(totp_secret=secret, totp_pending=None)
    )


# ---------------------------------------------------------------------- teams
async def teams_of(conn: AsyncConnection, staff_id: str) -> dict[str, int]:
    """The account's teams that are not archived: slug -> id."""
    rows = await conn.execute(
        select(m.teams.c.slug, m.teams.c.id)
        .join(m.memberships, ms.team_id == m.teams.c.id)
        .where(ms.staff_id == staff_id, m.teams.c.archived_at.is_(None))
    )
    return {str(slug): int(team) for slug, team in rows}
