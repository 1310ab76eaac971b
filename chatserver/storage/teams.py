"""Teams in storage: a team with its topics and the websites allowed to embed its widget,
the writes of :class:`chatserver.teams.teams.Teams` (which checks and audits them), what
the widget's status shows of a team, and what a team's consoles list: its people and,
for its supervisors, its chats in progress (expired conversations hidden at read time)."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from chatserver.protocol.lifecycle import State
from chatserver.storage import models as m
from chatserver.storage.store import visible

__all__ = ["ActiveChat", "Person", "Team", "Topic", "add_origin", "add_topic", "change"]
__all__ += ["chats_in_progress", "create", "id_of", "ids", "offers_transcript", "origins"]
__all__ += ["people", "remove_origin", "remove_topic", "rename_topic", "team", "topic_id"]
__all__ += ["widget_topics"]

tm, tp, o = m.teams.c, m.topics.c, m.origins.c


@dataclass(frozen=True, slots=True)
class Topic:
    slug: str
    name: str

    def to_json(self) -> dict[str, Any]:
        return {"slug": self.slug, "name": self.name}


@dataclass(frozen=True, slots=True)
class Team:
    id: int
    slug: str
    name: str
    created_at: int
    archived_at: int | None
    topics: tuple[Topic, ...]
    origins: tuple[str, ...]
    transcript: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "slug": self.slug,
            "name": self.name,
            "created_at": self.created_at,
            "archived": self.archived_at is not None,
            "archived_at": self.archived_at,
            "topics": [t.to_json() for t in self.topics],
            "origins": list(self.origins),
            "transcript": self.transcript,
        }


@dataclass(frozen=True, slots=True)
class Person:
    """A member of a team as its consoles name them."""

    id: str
    name: str
    role: str


@dataclass(frozen=True, slots=True)
class ActiveChat:
    """A chat in progress, without anything of its content."""

    id: str
    topic: str | None
    counsellor_id: str | None
    counsellor_name: str | None  # None once the account is gone
    accepted_at: int | None
    last_activity_at: int
    transfers: int


# ------------------------------------------------------------------ teams
async def ids(conn: AsyncConnection, only: Collection[int] | None = None) -> list[int]:
    """The ids of every team by slug, archived ones included; or of the teams ``only``
    names."""
    query = select(tm.id).order_by(tm.slug)
    if only is not None:
        query = query.where(tm.id.in_(list(only)))
    return [int(team_id) for team_id in (await conn.execute(query)).scalars()]


async def with_slugs(
    conn: AsyncConnection, slugs: Collection[str] | None = None
) -> list[tuple[int, str]]:
    """(id, slug) of every team, archived ones included, or of those ``slugs`` names; by
    slug."""
    query = select(tm.id, tm.slug).order_by(tm.slug)
    if slugs is not None:
        query = query.where(tm.slug.in_(list(slugs)))
    return [(int(i), str(s)) for i, s in (await conn.execute(query)).all()]


async def id_of(conn: AsyncConnection, slug: str) -> int | None:
    """The id of the team ``slug``, archived or not; None when there is none."""
    team_id = (await conn.execute(select(tm.id).where(tm.slug == slug))).scalar()
    return None if team_id is None else int(team_id)


async def team(conn: AsyncConnection, team_id: int) -> Team:
    """The team with its topics and origins (each by slug); the team must exist."""
    row = (await conn.execute(select(m.teams).where(tm.id == team_id))).one()
    topics = await conn.execute(
        select(tp.slug, tp.name).where(tp.team_id == team_id).order_by(tp.slug)
    )
    return Team(
        row.id,
        row.slug,
        row.name,
        row.created_at,
        row.archived_at,
        tuple(Topic(r.slug, r.name) for r in topics),
        tuple(await origins(conn, team_id)),
        bool(row.transcript),
    )


async def create(conn: AsyncConnection, slug: str, name: str, now: int) -> int:
    """A new team without topics or origins; returns its id."""
    found = await conn.execute(
        insert(m.teams).values(slug=slug, name=name, created_at=now).returning(tm.id)
    )
    return int(found.scalar_one())


async def change(conn: AsyncConnection, team_id: int, **values: Any) -> None:
    """New values of the team's columns (``name``, ``archived_at``, ``transcript``)."""
    await conn.execute(update(m.teams).where(tm.id == team_id).values(values))


# ------------------------------------------------------------------ topics
async def topic_id(conn: AsyncConnection, team_id: int, slug: str) -> int | None:
    """The id of the team's topic ``slug``, or None."""
    found = await conn.execute(select(tp.id).where(tp.team_id == team_id, tp.slug == slug))
    topic = found.scalar()
    return None if topic is None else int(topic)


async def add_topic(conn: AsyncConnection, team_id: int, slug: str, name: str, now: int) -> None:
    await conn.execute(
        insert(m.topics).values(team_id=team_id, slug=slug, name=name, created_at=now)
    )


async def rename_topic(conn: AsyncConnection, topic_id: int, name: str) -> None:
    await conn.execute(update(m.topics).where(tp.id == topic_id).values(name=name))


async def remove_topic(conn: AsyncConnection, topic_id: int) -> None:
    """The topic, gone; its conversations stay and lose it (``topic_id`` SET NULL)."""
    await conn.execute(delete(m.topics).where(tp.id == topic_id))


# ------------------------------------------------------------------ origins
async def origins(conn: AsyncConnection, team_id: int) -> list[str]:
    """The websites allowed to embed the team's widget, sorted."""
    rows = await conn.execute(select(o.origin).where(o.team_id == team_id).order_by(o.origin))
    return list(rows.scalars())


async def add_origin(conn: AsyncConnection, team_id: int, origin: str) -> None:
    await conn.execute(insert(m.origins).values(team_id=team_id, origin=origin))


async def remove_origin(conn: AsyncConnection, team_id: int, origin: str) -> None:
    await conn.execute(delete(m.origins).where(o.team_id == team_id, o.origin == origin))


# ------------------------------------------------------------------ the widget
async def widget_topics(conn: AsyncConnection, team_id: int) -> list[Topic]:
    """The team's topics in the order they were added, as the widget offers them."""
    rows = await conn.execute(select(tp.slug, tp.name).where(tp.team_id == team_id).order_by(tp.id))
    return [Topic(r.slug, r.name) for r in rows]


async def offers_transcript(conn: AsyncConnection, team_id: int) -> bool:
    """Whether the widget offers the team's clients a transcript saved on their device;
    the team must exist."""
    found = await conn.execute(select(tm.transcript).where(tm.id == team_id))
    return bool(found.scalar_one())


# ------------------------------------------------------------------ the consoles
async def people(conn: AsyncConnection, team_id: int) -> list[Person]:
    """The team's members, by the name colleagues see."""
    s = m.staff.c
    rows = await conn.execute(
        select(s.id, s.display_name, s.role)
        .join(m.memberships, m.memberships.c.staff_id == s.id)
        .where(m.memberships.c.team_id == team_id)
        .order_by(s.display_name, s.id)
    )
    return [Person(r.id, r.display_name, r.role) for r in rows]


async def chats_in_progress(conn: AsyncConnection, team_id: int, now: int) -> list[ActiveChat]:
    """The team's active conversations visible at ``now``, the longest held first: who
    holds each, its topic and times."""
    c, s = m.conversations.c, m.staff.c
    rows = await conn.execute(
        select(
            c.id,
            tp.slug,
            c.counsellor_id,
            s.display_name,
            c.accepted_at,
            c.last_activity_at,
            c.transfers,
        )
        .select_from(m.conversations)
        .outerjoin(m.topics, tp.id == c.topic_id)
        .outerjoin(m.staff, s.id == c.counsellor_id)
        .where(c.team_id == team_id, c.state == State.ACTIVE.value, visible(now))
        .order_by(c.accepted_at, c.id)
    )
    return [
        ActiveChat(
            r.id,
            r.slug,
            r.counsellor_id,
            r.display_name,
            r.accepted_at,
            r.last_activity_at,
            r.transfers,
        )
        for r in rows
    ]
