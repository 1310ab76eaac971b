"""Canned replies in storage: a team's ready-made answers, kept as plaintext on purpose
(:mod:`chatserver.teams.canned`). A reply of an archived team is not served, so it can be
neither read nor changed until the team is restored."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from chatserver.storage import models as m

__all__ = ["CannedReply", "add", "change", "get", "of_team", "remove"]

c, t = m.canned_replies.c, m.teams.c


@dataclass(frozen=True, slots=True)
class CannedReply:
    id: int
    team_id: int
    title: str
    body: str
    lang: str
    created_at: int
    updated_at: int
    updated_by: str | None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "body": self.body,
            "lang": self.lang,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "updated_by": self.updated_by,
        }


def _reply(row: Any) -> CannedReply:
    return CannedReply(
        row.id,
        row.team_id,
        row.title,
        row.body,
        row.lang,
        row.created_at,
        row.updated_at,
        row.updated_by,
    )


async def of_team(conn: AsyncConnection, team_id: int) -> list[CannedReply]:
    """The team's replies by language, then title."""
    rows = await conn.execute(
        select(m.canned_replies).where(c.team_id == team_id).order_by(c.lang, c.title, c.id)
    )
    return [_reply(r) for r in rows]


async def get(conn: AsyncConnection, reply_id: int) -> CannedReply | None:
    """The reply, or None when there is none or its team is archived."""
    row = (
        await conn.execute(
            select(m.canned_replies)
            .join(m.teams, t.id == c.team_id)
            .where(c.id == reply_id, t.archived_at.is_(None))
        )
    ).first()
    return None if row is None else _reply(row)


async def add(
    conn: AsyncConnection, team_id: int, title: str, body: str, lang: str, by: str, now: int
) -> int:
    """A new reply of the team, written by ``by`` at ``now``; returns its id."""
    found = await conn.execute(
        insert(m.canned_replies)
        .values(
            team_id=team_id,
            title=title,
            body=body,
            lang=lang,
            created_at=now,
            updated_at=now,
            updated_by=by,
        )
        .returning(c.id)
    )
    return int(found.scalar_one())


async def change(
    conn: AsyncConnection, reply_id: int, title: str, body: str, lang: str, by: str, now: int
) -> None:
    """The reply's new title, text and language, changed by ``by`` at ``now``."""
    await conn.execute(
        update(m.canned_replies)
        .where(c.id == reply_id)
        .values(title=title, body=body, lang=lang, updated_at=now, updated_by=by)
    )


async def remove(conn: AsyncConnection, reply_id: int) -> None:
    """The reply, gone."""
    await conn.execute(delete(m.canned_replies).where(c.id == reply_id))
