"""Retention's decisions: team rules, due times, holds and the anonymous statistics.

Due times are written when a conversation ends (and again when a rule changes), so that
reads can hide what is past due before any sweep runs (``chatserver.storage.store.visible``).
The statements are in ``chatserver.storage.retention`` and ``chatserver.storage.stats``;
here is what they are given: the due-time arithmetic, who may hold what for how long, and
what a statistics row says.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncConnection

from chatserver.protocol.lifecycle import State
from chatserver.retention_rules import OPERATOR_WIDE, RuleError, Rules, format_minutes
from chatserver.storage import retention as storage
from chatserver.storage import stats as facts
from chatserver.storage.retention import Hold, active_holds, team_rules
from chatserver.storage.store import audit_tx
from chatserver.teams.hours import DEFAULT_TIMEZONE, load_hours

__all__ = [
    "MINUTE",
    "EndedConversation",
    "Hold",
    "active_holds",
    "due_values",
    "effective_rules",
    "recompute_due",
    "record_stats",
    "set_rule",
    "team_rules",
    "team_zone",
]

MINUTE = 60_000


async def effective_rules(conn: AsyncConnection, rules: Rules, team_id: int) -> dict[str, int]:
    return rules.effective(await team_rules(conn, team_id))


def due_values(
    state: State, ended_at: int, last_activity_at: int, effective: dict[str, int]
) -> dict[str, int]:
    """The due times of a conversation that has just ended in ``state``."""
    if state is State.ABANDONED:
        due = last_activity_at + effective["abandoned"] * MINUTE
        return {"messages_due_at": due, "due_at": due}
    messages = ended_at + effective["messages"] * MINUTE
    metadata = ended_at + max(effective["metadata"], effective["messages"]) * MINUTE
    return {"messages_due_at": messages, "due_at": metadata}


async def recompute_due(conn: AsyncConnection, team_id: int, effective: dict[str, int]) -> int:
    """Apply changed rules to every ended conversation of the team (the arithmetic of
    :func:`due_values`); returns the count."""
    return await storage.retime(
        conn,
        team_id,
        messages=effective["messages"] * MINUTE,
        metadata=max(effective["metadata"], effective["messages"]) * MINUTE,
        abandoned=effective["abandoned"] * MINUTE,
    )


async def set_rule(
    conn: AsyncConnection,
    rules: Rules,
    team_id: int,
    category: str,
    minutes: int | None,
    actor: str,
    now: int,
) -> dict[str, int]:
    """Set (or with ``None`` remove) a team's rule, audited, and re-time its records.
    Returns the team's effective rules."""
    if category in OPERATOR_WIDE:
        raise RuleError(
            f"{category} belongs to no team: the operator sets it for the whole installation "
            "(retention_defaults)"
        )
    rules.check(category, minutes if minutes is not None else rules.defaults[category])
    before = await team_rules(conn, team_id)
    await storage.put_rule(conn, team_id, category, minutes, _staff(actor), now)
    effective = await effective_rules(conn, rules, team_id)
    retimed = await recompute_due(conn, team_id, effective)
    old = before.get(category)
    await audit_tx(
        conn,
        now,
        actor,
        "retention.rule_changed",
        str(team_id),
        category=category,
        before=format_minutes(old) if old is not None else "default",
        after=format_minutes(minutes) if minutes is not None else "default",
        retimed=retimed,
    )
    return effective


# ------------------------------------------------------------------------------ holds
# Hold and active_holds (the holds in force) come from chatserver.storage.retention.


@dataclass(frozen=True, slots=True)
class EndedConversation:
    """A conversation a sweep ended for idleness (the chat service tells who is concerned)."""

    id: str
    team_id: int
    team: str
    was: State
    counsellor_id: str | None
    now: State


# ------------------------------------------------------------------------------ statistics
def _day(ms: int, zone: ZoneInfo) -> str:
    return datetime.fromtimestamp(ms / 1000, zone).strftime("%Y-%m-%d")


async def team_zone(conn: AsyncConnection, team_id: int) -> ZoneInfo:
    """The time zone a team's days are counted in: its opening hours' zone, else the
    default (Europe/Berlin)."""
    hours = await load_hours(conn, team_id)
    return ZoneInfo(hours.timezone if hours is not None else DEFAULT_TIMEZONE)


async def record_stats(
    conn: AsyncConnection, conversation_ids: Sequence[str], now: int, outcome: str | None = None
) -> int:
    """Record the anonymous statistics of ended conversations that have none yet (no id
    and no exact time go into them); returns how many were recorded.

    A conversation counts on the day it started in its team's time zone (at the time of
    recording); the waiting time runs from the start to the first accept, the duration
    from the first accept to the end (``chatserver.records.stats`` reads these facts)."""
    rows = await facts.unrecorded(conn, conversation_ids)
    if not rows:
        return 0
    zones: dict[int, ZoneInfo] = {}
    new = []
    for row in rows:
        if row.team_id not in zones:
            zones[row.team_id] = await team_zone(conn, row.team_id)
        ended = row.closed_at or row.last_activity_at
        accepted = row.accepted_at is not None
        new.append(
            facts.NewFact(
                team_id=row.team_id,
                day=_day(row.created_at, zones[row.team_id]),
                topic=row.topic,
                outcome=outcome or row.state,
                close_category=row.close_category,
                accepted=int(accepted),
                waited_ms=row.accepted_at - row.created_at if row.accepted_at is not None else None,
                duration_ms=ended - row.accepted_at
                if row.accepted_at is not None and ended
                else None,
                transfers=row.transfers,
            )
        )
    await facts.insert_facts(conn, new)
    await facts.mark_recorded(conn, [r.id for r in rows], now)
    return len(rows)


async def place_hold(
    conn: AsyncConnection,
    conversation_id: str,
    reason: str,
    expires_at: int,
    actor: str,
    now: int,
) -> int:
    """Hold a conversation (never purged while the hold lasts); audited. Returns its id."""
    reason = reason.strip()
    if not 0 < len(reason) <= 500:
        raise ValueError("a hold needs a reason of at most 500 characters")
    if expires_at <= now:
        raise ValueError("a hold must end in the future")
    hold_id = await storage.insert_hold(
        conn, conversation_id, reason, _staff(actor), now, expires_at
    )
    await audit_tx(
        conn, now, actor, "hold.placed", conversation_id, hold=hold_id, expires_at=expires_at
    )
    return hold_id


async def change_hold(
    conn: AsyncConnection,
    hold_id: int,
    actor: str,
    now: int,
    *,
    expires_at: int | None = None,
    release: bool = False,
) -> str:
    """Extend (new ``expires_at``) or release a hold in force; audited. Returns the
    conversation id; :class:`LookupError` when there is no such hold in force."""
    conversation = await storage.hold_in_force(conn, hold_id, now)
    if conversation is None:
        raise LookupError("there is no hold in force with this id")
    if release:
        await storage.release_hold(conn, hold_id, now, _staff(actor))
        await audit_tx(conn, now, actor, "hold.released", conversation, hold=hold_id)
    else:
        if expires_at is None or expires_at <= now:
            raise ValueError("a hold must end in the future")
        await storage.extend_hold(conn, hold_id, expires_at)
        await audit_tx(
            conn, now, actor, "hold.extended", conversation, hold=hold_id, expires_at=expires_at
        )
    return conversation


def _staff(actor: str) -> str | None:
    return actor if actor not in ("cli", "system") else None
