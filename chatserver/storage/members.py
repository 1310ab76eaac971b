"""Team membership in storage: invitations, enrolments, identity keys, signed rosters and
the membership rows they add and remove, with the account changes that come with them
(an enrolment's new password, a reset, an approval). Accounts themselves are made by
:func:`chatserver.storage.staff.create_account` only.

Invitations expire, but an expired one is still read: its holder is told it has expired
rather than that it does not exist (the domain decides what an expired invitation may do).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Row, delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from chatserver.storage import models as m
from chatserver.storage.staff import installation_id

__all__ = [
    "Candidate",
    "EnrolledInvite",
    "Enrolment",
    "Identity",
    "Invite",
    "InviteView",
    "Roster",
    "add_identity",
    "add_member",
    "add_roster",
    "candidates",
    "create_invite",
    "enable_account",
    "has_identity",
    "identity",
    "invite_view",
    "is_member",
    "latest_roster",
    "lock_enrolment",
    "lock_invite",
    "mark_approved",
    "mark_enrolled",
    "member_ids",
    "pending",
    "remove_member",
    "renew_account",
    "revoke_account",
    "role_of",
    "username_of",
    "username_taken",
]

i, s, idn, ms, r = m.invites.c, m.staff.c, m.identities.c, m.memberships.c, m.rosters.c


@dataclass(frozen=True, slots=True)
class Invite:
    """An invitation row. ``staff_id`` is set by an enrolment, or from the start when the
    invitation renews an account (a password reset)."""

    id: str
    team_id: int
    role: str
    expires_at: int
    staff_id: str | None
    enrolled_at: int | None
    approved_at: int | None


@dataclass(frozen=True, slots=True)
class InviteView:
    """An invitation with the slug of its team, as its holder is shown it."""

    invite: Invite
    team: str


@dataclass(frozen=True, slots=True)
class EnrolledInvite:
    """An invitation with the identity keys of the account it enrolled."""

    invite: Invite
    staff_id: str
    dh_pub: bytes
    sig_pub: bytes


@dataclass(frozen=True, slots=True)
class Enrolment:
    invite: str
    team: str
    role: str
    staff_id: str
    username: str
    name: str
    dh_pub: bytes
    sig_pub: bytes
    mac: bytes
    enrolled_at: int


@dataclass(frozen=True, slots=True)
class Roster:
    version: int
    roster: str  # signed, JSON


@dataclass(frozen=True, slots=True)
class Candidate:
    """An account a roster names: disabled or not, and its identity keys if it has any."""

    disabled_at: int | None
    dh_pub: bytes | None
    sig_pub: bytes | None


@dataclass(frozen=True, slots=True)
class Identity:
    dh_pub: bytes
    sig_pub: bytes
    wrapped: bytes


def _invite(row: Row[Any]) -> Invite:
    return Invite(
        row.id,
        row.team_id,
        row.role,
        row.expires_at,
        row.staff_id,
        row.enrolled_at,
        row.approved_at,
    )


# ---------------------------------------------------------------------- invitations
async def create_invite(
    conn: AsyncConnection,
    invite_id: str,
    team_id: int,
    role: str,
    created_by: str | None,
    now: int,
    expires_at: int,
    *,
    staff_id: str | None = None,
) -> None:
    """A new invitation; ``staff_id``: the account it renews (a password reset)."""
    renews = {} if staff_id is None else {"staff_id": staff_id}
    await conn.execute(
        insert(m.invites).values(
            id=invite_id,
            team_id=team_id,
            role=role,
            created_by=created_by,
            created_at=now,
            expires_at=expires_at,
            **renews,
        )
    )


async def invite_view(conn: AsyncConnection, invite_id: str) -> InviteView | None:
    """The invitation and its team's slug, expired or not; None when there is none."""
    row = (
        await conn.execute(
            select(m.invites, m.teams.c.slug)
            .join(m.teams, m.teams.c.id == i.team_id)
            .where(i.id == invite_id)
        )
    ).first()
    return None if row is None else InviteView(_invite(row), row.slug)


async def lock_invite(conn: AsyncConnection, invite_id: str) -> Invite | None:
    """The invitation, its row locked for this transaction; None when there is none."""
    row = (await conn.execute(select(m.invites).where(i.id == invite_id).with_for_update())).first()
    return None if row is None else _invite(row)


async def mark_enrolled(
    conn: AsyncConnection, invite_id: str, staff_id: str, mac: bytes, now: int
) -> None:
    """The invitation used: the account it made or renewed, and the enrolment MAC."""
    await conn.execute(
        update(m.invites)
        .where(i.id == invite_id)
        .values(
            staff_id=staff_id,
            mac=mac,
            enrolled_at=now,
        )
    )


async def lock_enrolment(
    conn: AsyncConnection, invite_id: str, team_id: int
) -> EnrolledInvite | None:
    """An invitation of ``team_id`` whose account has identity keys, with those keys, the
    invitation's row locked for this transaction; None when there is none."""
    row = (
        await conn.execute(
            select(m.invites, idn.dh_pub, idn.sig_pub)
            .join(m.identities, idn.staff_id == i.staff_id)
            .where(i.id == invite_id, i.team_id == team_id)
            .with_for_update(of=m.invites)
        )
    ).first()
    if row is None:
        return None
    return EnrolledInvite(_invite(row), row.staff_id, bytes(row.dh_pub), bytes(row.sig_pub))


async def mark_approved(conn: AsyncConnection, invite_id: str, now: int) -> None:
    await conn.execute(update(m.invites).where(i.id == invite_id).values(approved_at=now))


async def pending(conn: AsyncConnection, team_id: int) -> list[Enrolment]:
    """The team's enrolments waiting for an admin's approval, the oldest first."""
    rows = await conn.execute(
        select(
            i.id,
            m.teams.c.slug,
            i.role,
            s.id.label("staff"),
            s.username,
            s.display_name,
            idn.dh_pub,
            idn.sig_pub,
            i.mac,
            i.enrolled_at,
        )
        .join(m.teams, m.teams.c.id == i.team_id)
        .join(m.staff, s.id == i.staff_id)
        .join(m.identities, idn.staff_id == s.id)
        .where(i.team_id == team_id, i.enrolled_at.is_not(None), i.approved_at.is_(None))
        .order_by(i.enrolled_at)
    )
    return [
        Enrolment(r[0], r[1], r[2], r[3], r[4], r[5], bytes(r[6]), bytes(r[7]), bytes(r[8]), r[9])
        for r in rows
    ]


# ---------------------------------------------------------------------- accounts
async def username_of(conn: AsyncConnection, staff_id: str) -> str | None:
    """The account's username; None when there is no such account."""
    found = (await conn.execute(select(s.username).where(s.id == staff_id))).scalar()
    return None if found is None else str(found)


async def username_taken(conn: AsyncConnection, username: str) -> bool:
    return (await conn.execute(select(s.id).where(s.username == username))).first() is not None


async def role_of(conn: AsyncConnection, staff_id: str) -> str | None:
    """The account's role; None when there is no such account."""
    row = (await conn.execute(select(s.role).where(s.id == staff_id))).first()
    return None if row is None else str(row.role)


async def renew_account(
    conn: AsyncConnection, staff_id: str, display_name: str, credential_hash: str
) -> None:
    """A renewed account's name and password, salted with the installation id."""
    await conn.execute(
        update(m.staff)
        .where(s.id == staff_id)
        .values(
            display_name=display_name,
            credential_hash=credential_hash,
            kdf_salt=await installation_id(conn),
        )
    )


async def revoke_account(conn: AsyncConnection, staff_id: str, unusable: str, now: int) -> int:
    """Disable the account with the credential hash ``unusable`` and delete its identity,
    sessions and the team-key envelopes sealed to it; returns how many envelopes went."""
    await conn.execute(
        update(m.staff).where(s.id == staff_id).values(credential_hash=unusable, disabled_at=now)
    )
    await conn.execute(delete(m.identities).where(idn.staff_id == staff_id))
    await conn.execute(delete(m.sessions).where(m.sessions.c.staff_id == staff_id))
    gone = await conn.execute(
        delete(m.key_envelopes).where(
            m.key_envelopes.c.recipient_id == staff_id,
            m.key_envelopes.c.conversation_id.is_(None),
        )
    )
    return int(gone.rowcount)


async def enable_account(conn: AsyncConnection, staff_id: str) -> None:
    await conn.execute(update(m.staff).where(s.id == staff_id).values(disabled_at=None))


# ---------------------------------------------------------------------- identities
async def add_identity(
    conn: AsyncConnection, staff_id: str, dh_pub: bytes, sig_pub: bytes, wrapped: bytes, now: int
) -> None:
    await conn.execute(
        insert(m.identities).values(
            staff_id=staff_id,
            dh_pub=dh_pub,
            sig_pub=sig_pub,
            wrapped=wrapped,
            created_at=now,
        )
    )


async def has_identity(conn: AsyncConnection, staff_id: str) -> bool:
    found = await conn.execute(select(idn.staff_id).where(idn.staff_id == staff_id))
    return found.first() is not None


async def identity(conn: AsyncConnection, staff_id: str) -> Identity | None:
    row = (await conn.execute(select(m.identities).where(idn.staff_id == staff_id))).first()
    if row is None:
        return None
    return Identity(bytes(row.dh_pub), bytes(row.sig_pub), bytes(row.wrapped))


# ---------------------------------------------------------------------- rosters
async def latest_roster(conn: AsyncConnection, team_id: int) -> Roster | None:
    """The team's signed roster with the highest version; None before the first."""
    row = (
        await conn.execute(
            select(r.version, r.roster)
            .where(r.team_id == team_id)
            .order_by(r.version.desc())
            .limit(1)
        )
    ).first()
    return None if row is None else Roster(int(row.version), str(row.roster))


async def add_roster(
    conn: AsyncConnection, team_id: int, version: int, roster: str, created_by: str, now: int
) -> None:
    await conn.execute(
        insert(m.rosters).values(
            team_id=team_id,
            version=version,
            roster=roster,
            created_by=created_by,
            created_at=now,
        )
    )


# ---------------------------------------------------------------------- memberships
async def member_ids(conn: AsyncConnection, team_id: int) -> set[str]:
    return set((await conn.execute(select(ms.staff_id).where(ms.team_id == team_id))).scalars())


async def is_member(conn: AsyncConnection, staff_id: str, team_id: int) -> bool:
    found = await conn.execute(
        select(ms.staff_id).where(ms.staff_id == staff_id, ms.team_id == team_id)
    )
    return found.first() is not None


async def candidates(conn: AsyncConnection, staff_ids: list[str]) -> dict[str, Candidate]:
    """The accounts of ``staff_ids`` the server knows, by id."""
    rows = await conn.execute(
        select(s.id, s.disabled_at, idn.dh_pub, idn.sig_pub)
        .outerjoin(m.identities, idn.staff_id == s.id)
        .where(s.id.in_(staff_ids))
    )
    return {
        row.id: Candidate(
            row.disabled_at,
            None if row.dh_pub is None else bytes(row.dh_pub),
            None if row.sig_pub is None else bytes(row.sig_pub),
        )
        for row in rows
    }


async def add_member(conn: AsyncConnection, staff_id: str, team_id: int, now: int) -> None:
    await conn.execute(insert(m.memberships).values(staff_id=staff_id, team_id=team_id, since=now))


async def remove_member(conn: AsyncConnection, staff_id: str, team_id: int) -> int:
    """End the membership and delete the envelopes of the team sealed to the member;
    returns how many envelopes went."""
    await conn.execute(delete(m.memberships).where(ms.staff_id == staff_id, ms.team_id == team_id))
    gone = await conn.execute(
        delete(m.key_envelopes).where(
            m.key_envelopes.c.recipient_id == staff_id,
            m.key_envelopes.c.team_id == team_id,
        )
    )
    return int(gone.rowcount)
