"""Anonymous statistics in storage: the facts of ended conversations, written once per
conversation (by the chat service when it ends, or by the sweep before it may go) and
read per team and day by ``chatserver.records.stats``. A fact carries no conversation id
and no exact time; ``conversations.stats_at`` marks the conversations that have one."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from chatserver.storage import models as m

__all__ = ["Ended", "Fact", "NewFact", "facts", "insert_facts", "mark_recorded", "unrecorded"]

c, s = m.conversations.c, m.stat_facts.c


@dataclass(frozen=True, slots=True)
class Fact:
    """One ended conversation, as ``stat_facts`` keeps it."""

    day: str
    topic: str | None
    close_category: str | None
    accepted: bool
    waited_ms: int | None
    duration_ms: int | None


@dataclass(frozen=True, slots=True)
class NewFact:
    """A fact to write (:func:`insert_facts`)."""

    team_id: int
    day: str
    topic: str | None
    outcome: str
    close_category: str | None
    accepted: int  # 0 or 1
    waited_ms: int | None
    duration_ms: int | None
    transfers: int


@dataclass(frozen=True, slots=True)
class Ended:
    """What a fact is made of: an ended conversation's lifecycle (:func:`unrecorded`)."""

    id: str
    team_id: int
    topic: str | None  # slug
    state: str
    close_category: str | None
    created_at: int
    accepted_at: int | None
    closed_at: int | None
    last_activity_at: int
    transfers: int


async def unrecorded(conn: AsyncConnection, conversation_ids: Sequence[str]) -> list[Ended]:
    """Of these conversations, the ones without statistics yet."""
    rows = await conn.execute(
        select(
            c.id,
            c.team_id,
            m.topics.c.slug,
            c.state,
            c.close_category,
            c.created_at,
            c.accepted_at,
            c.closed_at,
            c.last_activity_at,
            c.transfers,
        )
        .outerjoin(m.topics, m.topics.c.id == c.topic_id)
        .where(c.id.in_(list(conversation_ids)), c.stats_at.is_(None))
    )
    return [
        Ended(
            r.id,
            r.team_id,
            r.slug,
            r.state,
            r.close_category,
            r.created_at,
            r.accepted_at,
            r.closed_at,
            r.last_activity_at,
            r.transfers,
        )
        for r in rows.all()
    ]


async def insert_facts(conn: AsyncConnection, new: Sequence[NewFact]) -> None:
    await conn.execute(insert(m.stat_facts), [dataclasses.asdict(f) for f in new])


async def mark_recorded(conn: AsyncConnection, conversation_ids: Sequence[str], now: int) -> None:
    """Set ``stats_at``: these conversations have their fact (and may be purged)."""
    await conn.execute(
        update(m.conversations).where(c.id.in_(list(conversation_ids))).values(stats_at=now)
    )


async def facts(conn: AsyncConnection, team_id: int, first: str, last: str) -> list[Fact]:
    """The team's facts of the days ``first`` to ``last`` (``YYYY-MM-DD``, both included)."""
    rows = await conn.execute(
        select(s.day, s.topic, s.close_category, s.accepted, s.waited_ms, s.duration_ms).where(
            s.team_id == team_id, s.day >= first, s.day <= last
        )
    )
    return [
        Fact(r.day, r.topic, r.close_category, bool(r.accepted), r.waited_ms, r.duration_ms)
        for r in rows
    ]
