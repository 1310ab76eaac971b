"""Opening hours in storage: a team's configuration, one row kept as the JSON text that
:mod:`chatserver.teams.hours` validates and writes (no row: always open)."""

from __future__ import annotations

from sqlalchemy import delete, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from chatserver.storage import models as m

__all__ = ["config", "replace"]

h = m.opening_hours.c


async def config(conn: AsyncConnection, team_id: int) -> str | None:
    """The team's hours as stored (JSON), or None when none were set."""
    found = (await conn.execute(select(h.config).where(h.team_id == team_id))).scalar()
    return None if found is None else str(found)


async def replace(
    conn: AsyncConnection, team_id: int, config: str, updated_by: str | None, now: int
) -> None:
    """Make ``config`` the team's hours, in place of any it had."""
    await conn.execute(delete(m.opening_hours).where(h.team_id == team_id))
    await conn.execute(
        insert(m.opening_hours).values(
            team_id=team_id, config=config, updated_by=updated_by, updated_at=now
        )
    )
