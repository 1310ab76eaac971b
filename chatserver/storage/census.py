"""Counts across the table groups, for the privacy report (:mod:`chatserver.records.privacy`):
enabled accounts by role and by team, live key epochs per team, legal holds in force.
Numbers only: no row, name or content leaves here."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from chatserver.storage import models as m

__all__ = ["enabled_by_role", "enabled_by_team_and_role", "holds_in_force", "live_epochs"]

s, ms = m.staff.c, m.memberships.c


async def enabled_by_team_and_role(conn: AsyncConnection) -> list[tuple[str, str, int]]:
    """(team slug, role, how many) of the teams' enabled members."""
    rows = await conn.execute(
        select(m.teams.c.slug, s.role, func.count())
        .select_from(m.memberships)
        .join(m.staff, s.id == ms.staff_id)
        .join(m.teams, m.teams.c.id == ms.team_id)
        .where(s.disabled_at.is_(None))
        .group_by(m.teams.c.slug, s.role)
    )
    return [(str(slug), str(role), int(count)) for slug, role, count in rows]


async def enabled_by_role(conn: AsyncConnection) -> list[tuple[str, int]]:
    """(role, how many) of the enabled accounts."""
    rows = await conn.execute(
        select(s.role, func.count()).where(s.disabled_at.is_(None)).group_by(s.role)
    )
    return [(str(role), int(count)) for role, count in rows]


async def live_epochs(conn: AsyncConnection) -> list[tuple[str, int, int]]:
    """(team slug, how many, the last one's end) of the key epochs not retired."""
    e = m.team_epochs.c
    rows = await conn.execute(
        select(m.teams.c.slug, func.count(), func.max(e.not_after))
        .join(m.teams, m.teams.c.id == e.team_id)
        .where(e.retired_at.is_(None))
        .group_by(m.teams.c.slug)
    )
    return [(str(slug), int(count), int(last)) for slug, count, last in rows]


async def holds_in_force(conn: AsyncConnection, now: int) -> int:
    """Legal holds neither released nor past their end at ``now``."""
    h = m.holds.c
    found = await conn.execute(
        select(func.count()).where(h.released_at.is_(None), h.expires_at > now)
    )
    return int(found.scalar_one())
