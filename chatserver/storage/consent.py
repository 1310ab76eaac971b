"""Consent texts in storage: every version of a team's own paragraph of the widget's
consent screen, in German and English. Versions are only ever added, numbered from 1 per
team; :mod:`chatserver.teams.consent` decides when a change makes a new one."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from chatserver.storage import models as m

__all__ = ["ConsentVersion", "add", "history", "latest"]

c = m.consent_texts.c


@dataclass(frozen=True, slots=True)
class ConsentVersion:
    version: int
    de: str
    en: str
    created_at: int
    created_by: str | None  # None once the account is gone, or set by the CLI


def _version(row: Any) -> ConsentVersion:
    return ConsentVersion(
        int(row.version), row.notice_de, row.notice_en, row.created_at, row.created_by
    )


async def latest(conn: AsyncConnection, team_id: int) -> ConsentVersion | None:
    """The team's current version, or None when it has none."""
    row = (
        await conn.execute(
            select(m.consent_texts).where(c.team_id == team_id).order_by(c.version.desc()).limit(1)
        )
    ).first()
    return None if row is None else _version(row)


async def history(conn: AsyncConnection, team_id: int) -> list[ConsentVersion]:
    """Every version of the team's text, the newest first."""
    rows = await conn.execute(
        select(m.consent_texts).where(c.team_id == team_id).order_by(c.version.desc())
    )
    return [_version(r) for r in rows]


async def add(
    conn: AsyncConnection, team_id: int, de: str, en: str, created_by: str | None, now: int
) -> int:
    """Store the texts as the team's next version; returns its number."""
    top = (await conn.execute(select(func.max(c.version)).where(c.team_id == team_id))).scalar()
    version = int(top or 0) + 1
    await conn.execute(
        insert(m.consent_texts).values(
            team_id=team_id,
            version=version,
            notice_de=de,
            notice_en=en,
            created_by=created_by,
            created_at=now,
        )
    )
    return version
