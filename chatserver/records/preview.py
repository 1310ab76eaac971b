"""What the rules in force, or a proposed change to them, would delete now and within the
next days: counts per team and category, computed from the lifecycle timestamps (the same
arithmetic as :func:`chatserver.records.retention.due_values`), holds excluded."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, func, select

from chatserver.protocol.lifecycle import State
from chatserver.records.retention import MINUTE, held, team_rules
from chatserver.retention_rules import Rules
from chatserver.storage import models as m
from chatserver.storage.db import Database

__all__ = ["PreviewRow", "preview"]

DAY_MS = 86_400_000


@dataclass(frozen=True, slots=True)
class PreviewRow:
    team: str  # "*" for the operator-wide categories
    category: str
    rule: int  # minutes in force (or proposed)
    now: int  # records that would go in a sweep now
    soon: int  # ... within the next ``days`` days (including now)


async def _count(conn: Any, query: Any) -> int:
    return int((await conn.execute(query)).scalar_one())


async def preview(
    db: Database,
    rules: Rules,
    now: int,
    *,
    teams: list[str] | None = None,
    proposed: Mapping[str, Mapping[str, int]] | None = None,
    days: int = 7,
) -> list[PreviewRow]:
    """Counts per team and category; ``proposed`` maps a team slug to rule changes
    (minutes per category) to preview before they are saved."""
    c, t = m.conversations.c, m.teams.c
    later = now + days * DAY_MS
    out: list[PreviewRow] = []
    async with db.read() as conn:
        query = select(t.id, t.slug).order_by(t.slug)
        if teams is not None:
            query = query.where(t.slug.in_(teams))
        for team_id, slug in (await conn.execute(query)).all():
            own = await team_rules(conn, team_id)
            own.update((proposed or {}).get(slug, {}))
            rule = rules.effective(own)
            closed = and_(c.team_id == team_id, c.state == State.CLOSED.value, ~held(now))
            abandoned = and_(c.team_id == team_id, c.state == State.ABANDONED.value, ~held(now))
            open_ = and_(
                c.team_id == team_id, c.state.in_([State.WAITING.value, State.ACTIVE.value])
            )
            keep_meta = max(rule["metadata"], rule["messages"]) * MINUTE

            counts = {
                "messages": [
                    select(func.count())
                    .select_from(m.messages.join(m.conversations))
                    .where(closed, c.closed_at + rule["messages"] * MINUTE <= at)
                    for at in (now, later)
                ],
                "abandoned": [
                    select(func.count()).where(
                        abandoned, c.last_activity_at + rule["abandoned"] * MINUTE <= at
                    )
                    for at in (now, later)
                ],
                "idle_close": [
                    select(func.count()).where(
                        open_, c.last_activity_at + rule["idle_close"] * MINUTE <= at
                    )
                    for at in (now, later)
                ],
                "metadata": [
                    select(func.count()).where(closed, c.closed_at + keep_meta <= at)
                    for at in (now, later)
                ],
                "epoch_keys": [
                    select(func.count()).where(
                        m.team_epochs.c.team_id == team_id,
                        m.team_epochs.c.retired_at.is_(None),
                        m.team_epochs.c.not_after + rule["epoch_keys"] * MINUTE <= at,
                    )
                    for at in (now, later)
                ],
            }
            for category, (at_now, at_later) in counts.items():
                out.append(
                    PreviewRow(
                        slug,
                        category,
                        rule[category],
                        await _count(conn, at_now),
                        await _count(conn, at_later),
                    )
                )
        if teams is None:
            general = rules.effective({})
            for category, table, stamp in (
                ("sessions", m.sessions, m.sessions.c.expires_at),
                ("invites", m.invites, m.invites.c.expires_at),
                ("blocks", m.blocks, m.blocks.c.expires_at),
                ("staff", m.staff, m.staff.c.disabled_at),
                ("audit", m.audit, m.audit.c.at),
            ):
                keep = general[category] * MINUTE
                due_now, due_later = [
                    await _count(
                        conn,
                        select(func.count())
                        .select_from(table)
                        .where(stamp.is_not(None), stamp + keep <= at),
                    )
                    for at in (now, later)
                ]
                out.append(PreviewRow("*", category, general[category], due_now, due_later))
    return out
