"""Retention in storage: team rules, legal holds, the rows a sweep finds due and their
deletion, the preview's counts, the sweep reports and the sweep's lock.

Durations come in milliseconds and times are passed in: what is due, what a hold
protects and in which order things go are decided by ``chatserver.records.retention``
and ``retention.sweeper``; this module only runs the statements. The sweep's deletions
take a plain :class:`~sqlalchemy.Connection` (one call to the writer thread from
``BEGIN`` to commit, :meth:`chatserver.storage.db.Database.run_write`).

Nothing here serves a conversation's content, so none of it filters with
:func:`chatserver.storage.store.visible`: these statements are about the rows past due on
purpose (the sweep deletes them, a hold keeps one, the preview counts them).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Table, and_, delete, func, insert, select, text, union, update
from sqlalchemy.ext.asyncio import AsyncConnection

from chatserver.protocol.lifecycle import State
from chatserver.storage import models as m

__all__ = [
    "OPEN",
    "ExpiredHold",
    "Hold",
    "IdleRow",
    "SweepReport",
    "active_holds",
    "content_due",
    "conversation_exists",
    "conversations_due",
    "count_abandoned_due",
    "count_content_due",
    "count_epochs_due",
    "count_idle",
    "count_metadata_due",
    "count_operator_due",
    "delete_conversations",
    "delete_messages",
    "delete_operator_rows",
    "end_idle",
    "epochs_due",
    "expired_holds",
    "extend_hold",
    "finish_content",
    "free_pages",
    "held",
    "held_due",
    "hold_in_force",
    "hold_team",
    "idle_ids",
    "idle_rows",
    "incremental_vacuum",
    "insert_hold",
    "mark_hold_expired",
    "operator_due_ids",
    "put_rule",
    "release_hold",
    "retime",
    "retire_epoch",
    "statistics_due",
    "sweep_reports",
    "team_rules",
    "try_advisory_xact_lock",
    "vacuum",
    "wal_checkpoint",
]

c, h, e = m.conversations.c, m.holds.c, m.team_epochs.c

#: Conversations still open (an idle one is closed by the sweep).
OPEN = (State.WAITING.value, State.ACTIVE.value)
#: Conversations that have ended (their due times are set).
ENDED = (State.CLOSED.value, State.ABANDONED.value)


# ------------------------------------------------------------------------------ teams
# ------------------------------------------------------------------------------ rules
async def team_rules(conn: AsyncConnection, team_id: int) -> dict[str, int]:
    """The rules a team set itself (minutes per category), unclamped."""
    r = m.retention_rules.c
    rows = await conn.execute(select(r.category, r.minutes).where(r.team_id == team_id))
    return {row.category: int(row.minutes) for row in rows}


async def put_rule(
    conn: AsyncConnection,
    team_id: int,
    category: str,
    minutes: int | None,
    updated_by: str | None,
    now: int,
) -> None:
    """Replace the team's rule for ``category`` (``None``: remove it)."""
    r = m.retention_rules.c
    await conn.execute(
        m.retention_rules.delete().where(r.team_id == team_id, r.category == category)
    )
    if minutes is not None:
        await conn.execute(
            insert(m.retention_rules).values(
                team_id=team_id,
                category=category,
                minutes=minutes,
                updated_by=updated_by,
                updated_at=now,
            )
        )


async def retime(
    conn: AsyncConnection, team_id: int, *, messages: int, metadata: int, abandoned: int
) -> int:
    """New due times for every ended conversation of the team: closed ones ``messages``
    and ``metadata`` ms after they closed, abandoned ones ``abandoned`` ms after the
    client's last activity (both due times). Returns how many were re-timed."""
    closed = await conn.execute(
        update(m.conversations)
        .where(c.team_id == team_id, c.state == State.CLOSED.value, c.closed_at.is_not(None))
        .values(messages_due_at=c.closed_at + messages, due_at=c.closed_at + metadata)
    )
    gone = await conn.execute(
        update(m.conversations)
        .where(c.team_id == team_id, c.state == State.ABANDONED.value)
        .values(
            messages_due_at=c.last_activity_at + abandoned,
            due_at=c.last_activity_at + abandoned,
        )
    )
    return int(closed.rowcount or 0) + int(gone.rowcount or 0)


# ------------------------------------------------------------------------------ holds
@dataclass(frozen=True, slots=True)
class Hold:
    id: int
    conversation: str
    reason: str
    created_by: str | None
    created_at: int
    expires_at: int


@dataclass(frozen=True, slots=True)
class ExpiredHold:
    id: int
    conversation: str
    expires_at: int


def held(now: int) -> Any:
    """Conversations with a hold in force at ``now`` (for ``where`` clauses)."""
    return (
        select(h.id)
        .where(h.conversation_id == c.id, h.released_at.is_(None), h.expires_at > now)
        .exists()
    )


async def active_holds(conn: AsyncConnection, now: int, team_ids: Sequence[int]) -> list[Hold]:
    """The holds in force at ``now`` on the teams' conversations, the first to end first."""
    rows = await conn.execute(
        select(h.id, h.conversation_id, h.reason, h.created_by, h.created_at, h.expires_at)
        .join(m.conversations, c.id == h.conversation_id)
        .where(h.released_at.is_(None), h.expires_at > now, c.team_id.in_(team_ids))
        .order_by(h.expires_at)
    )
    return [Hold(*row) for row in rows]


async def conversation_exists(conn: AsyncConnection, conversation_id: str) -> bool:
    """Whether the conversation's row exists (due or not: a hold may keep it)."""
    found = await conn.execute(select(c.id).where(c.id == conversation_id))
    return found.first() is not None


async def insert_hold(
    conn: AsyncConnection,
    conversation_id: str,
    reason: str,
    created_by: str | None,
    now: int,
    expires_at: int,
) -> int:
    """A new hold; returns its id."""
    result = await conn.execute(
        insert(m.holds)
        .values(
            conversation_id=conversation_id,
            reason=reason,
            created_by=created_by,
            created_at=now,
            expires_at=expires_at,
        )
        .returning(h.id)
    )
    return int(result.scalar_one())


async def hold_in_force(conn: AsyncConnection, hold_id: int, now: int) -> str | None:
    """The conversation of the hold ``hold_id`` while it is in force at ``now``, or None."""
    row = (
        await conn.execute(
            select(h.conversation_id).where(
                h.id == hold_id, h.released_at.is_(None), h.expires_at > now
            )
        )
    ).first()
    return None if row is None else str(row.conversation_id)


async def extend_hold(conn: AsyncConnection, hold_id: int, expires_at: int) -> None:
    await conn.execute(update(m.holds).where(h.id == hold_id).values(expires_at=expires_at))


async def release_hold(
    conn: AsyncConnection, hold_id: int, now: int, released_by: str | None
) -> None:
    await conn.execute(
        update(m.holds).where(h.id == hold_id).values(released_at=now, released_by=released_by)
    )


async def hold_team(conn: AsyncConnection, hold_id: int) -> int | None:
    """The team of the conversation a hold (in force or not) is on, or None."""
    team = (
        await conn.execute(
            select(c.team_id).join(m.holds, h.conversation_id == c.id).where(h.id == hold_id)
        )
    ).scalar()
    return None if team is None else int(team)


async def expired_holds(conn: AsyncConnection, now: int) -> list[ExpiredHold]:
    """Holds not released whose end is at or before ``now``."""
    rows = await conn.execute(
        select(h.id, h.conversation_id, h.expires_at).where(
            h.released_at.is_(None), h.expires_at <= now
        )
    )
    return [ExpiredHold(*row) for row in rows]


async def mark_hold_expired(conn: AsyncConnection, hold: ExpiredHold) -> None:
    """Released at the time it ended."""
    await conn.execute(update(m.holds).where(h.id == hold.id).values(released_at=hold.expires_at))


# ------------------------------------------------------------------------------ idle
@dataclass(frozen=True, slots=True)
class IdleRow:
    id: str
    state: str
    last_activity_at: int
    counsellor_id: str | None
    team: str  # slug


def _idle(limit: int) -> Any:
    return and_(c.state.in_(OPEN), c.last_activity_at <= limit)


async def idle_ids(conn: AsyncConnection, team_id: int, limit: int, batch: int) -> list[str]:
    """Up to ``batch`` open conversations of the team last active at or before ``limit``."""
    rows = await conn.execute(select(c.id).where(c.team_id == team_id, _idle(limit)).limit(batch))
    return list(rows.scalars())


async def idle_rows(conn: AsyncConnection, ids: Sequence[str], limit: int) -> list[IdleRow]:
    """Of ``ids``, those still open and idle (read again in the write transaction)."""
    rows = await conn.execute(
        select(c.id, c.state, c.last_activity_at, c.counsellor_id, m.teams.c.slug)
        .join(m.teams, m.teams.c.id == c.team_id)
        .where(c.id.in_(ids), _idle(limit))
    )
    return [IdleRow(*row) for row in rows]


async def end_idle(
    conn: AsyncConnection,
    conversation_id: str,
    state: State,
    now: int,
    close_category: str | None,
    dues: dict[str, int],
) -> None:
    """Write the end of an idle conversation: its new state, end and due times."""
    await conn.execute(
        update(m.conversations)
        .where(c.id == conversation_id)
        .values(state=state.value, closed_at=now, close_category=close_category, **dues)
    )


# ------------------------------------------------------------------------------ due rows
def _due(column: Any, now: int) -> Any:
    """Ended conversations whose due time in ``column`` is set and at or before ``now``."""
    return and_(c.state.in_(ENDED), column.is_not(None), column <= now)


async def statistics_due(conn: AsyncConnection, now: int, batch: int) -> list[str]:
    """Up to ``batch`` conversations with anything due and no statistics yet."""
    rows = await conn.execute(
        select(c.id)
        .where(
            c.stats_at.is_(None),
            _due(c.messages_due_at, now) | _due(c.due_at, now),
        )
        .limit(batch)
    )
    return list(rows.scalars())


def _column(what: str) -> Any:
    return {"content": c.messages_due_at, "conversation": c.due_at}[what]


async def held_due(conn: AsyncConnection, what: str, now: int) -> int:
    """How many conversations have their ``content`` (messages) or whole ``conversation``
    due at ``now`` but a hold in force."""
    column = _column(what)
    return len((await conn.execute(select(c.id).where(_due(column, now), held(now)))).all())


async def content_due(conn: AsyncConnection, now: int, batch: int) -> list[tuple[str, int]]:
    """Up to ``batch`` (id, number of messages) of conversations whose messages are due,
    with statistics recorded, not held."""
    rows = await conn.execute(
        select(c.id, c.last_seq)
        .where(_due(c.messages_due_at, now), c.stats_at.is_not(None), ~held(now))
        .limit(batch)
    )
    return [(str(i), int(n)) for i, n in rows.all()]


async def conversations_due(conn: AsyncConnection, now: int, batch: int) -> list[str]:
    """Up to ``batch`` conversations due as a whole, with statistics recorded, not held."""
    rows = await conn.execute(
        select(c.id).where(_due(c.due_at, now), c.stats_at.is_not(None), ~held(now)).limit(batch)
    )
    return list(rows.scalars())


def _held_epochs(team_id: int, now: int) -> Any:
    """The epochs a conversation of the team under a hold in force at ``now`` needs to stay
    readable: the one its client encrypted to first, and those of its envelopes (rekeys)."""
    held = select(h.conversation_id).where(h.released_at.is_(None), h.expires_at > now)
    k = m.key_envelopes.c
    return union(
        select(c.epoch).where(c.team_id == team_id, c.id.in_(held), c.epoch.is_not(None)),
        select(k.epoch).where(k.team_id == team_id, k.conversation_id.in_(held)),
    )


async def epochs_due(conn: AsyncConnection, team_id: int, limit: int, now: int) -> list[int]:
    """The team's epochs not retired yet that ended at or before ``limit``, except those a
    held conversation needs (docs/retention.md, "Legal holds"): a hold keeps them until it
    ends."""
    rows = await conn.execute(
        select(e.epoch).where(
            e.team_id == team_id,
            e.retired_at.is_(None),
            e.not_after <= limit,
            e.epoch.not_in(_held_epochs(team_id, now)),
        )
    )
    return list(rows.scalars().all())


async def retire_epoch(conn: AsyncConnection, team_id: int, epoch: int, now: int) -> None:
    await conn.execute(
        update(m.team_epochs).where(e.team_id == team_id, e.epoch == epoch).values(retired_at=now)
    )


def _operator(category: str) -> tuple[Table, Any, Any]:
    """The table, key and timestamp of an operator-wide category."""
    s, i, b, st, a = m.sessions.c, m.invites.c, m.blocks.c, m.staff.c, m.audit.c
    return {
        "sessions": (m.sessions, s.token_hash, s.expires_at),
        "invites": (m.invites, i.id, i.expires_at),
        "blocks": (m.blocks, b.id, b.expires_at),
        "staff": (m.staff, st.id, st.disabled_at),
        "audit": (m.audit, a.id, a.at),
    }[category]


async def operator_due_ids(
    conn: AsyncConnection, category: str, limit: int, batch: int
) -> list[Any]:
    """Up to ``batch`` keys of the records of an operator-wide category (sessions,
    invites, blocks, staff, audit) whose timestamp is at or before ``limit``, oldest
    first. A staff account waiting for approval is not deactivated: never due."""
    _, key, stamp = _operator(category)
    where = [stamp.is_not(None), stamp <= limit]
    if category == "staff":
        i, st = m.invites.c, m.staff.c
        where.append(~select(i.id).where(i.staff_id == st.id, i.approved_at.is_(None)).exists())
    rows = await conn.execute(select(key).where(*where).order_by(stamp).limit(batch))
    return list(rows.scalars())


# ------------------------------------------------------------------------------ deletion
def delete_messages(conn: Connection, conversation_ids: Sequence[str], rows: int) -> int:
    """Delete up to ``rows`` messages of these conversations; returns how many went."""
    mc = m.messages.c
    ids = select(mc.id).where(mc.conversation_id.in_(conversation_ids)).limit(rows)
    return int(conn.execute(delete(m.messages).where(mc.id.in_(ids))).rowcount or 0)


def finish_content(conn: Connection, conversation_ids: Sequence[str]) -> int:
    """After their last message: delete the conversations' notes (key envelopes) and
    clear their ``messages_due_at``. Returns how many notes went."""
    notes = conn.execute(
        delete(m.key_envelopes).where(m.key_envelopes.c.conversation_id.in_(conversation_ids))
    )
    conn.execute(
        update(m.conversations).where(c.id.in_(conversation_ids)).values(messages_due_at=None)
    )
    return int(notes.rowcount or 0)


def delete_conversations(conn: Connection, ids: Sequence[str]) -> int:
    """Delete the conversations' rows (and through foreign keys what is left in them)."""
    return int(conn.execute(delete(m.conversations).where(c.id.in_(ids))).rowcount or 0)


def delete_operator_rows(conn: Connection, category: str, ids: Sequence[Any]) -> int:
    """Delete these records of an operator-wide category; returns how many went."""
    table, key, _ = _operator(category)
    return int(conn.execute(delete(table).where(key.in_(ids))).rowcount or 0)


# ------------------------------------------------------------------------------ compaction
def free_pages(conn: Connection) -> int:
    """SQLite: the pages on the free list."""
    return int(conn.exec_driver_sql("PRAGMA freelist_count").scalar() or 0)


def incremental_vacuum(conn: Connection, pages: int) -> None:
    """SQLite: hand up to ``pages`` free pages back to the file system.

    Python's sqlite3 steps a statement without result columns only once, which frees one
    page; executescript steps it to the end. It commits the empty transaction first and
    runs the pragma as its own."""
    driver = conn.connection.driver_connection
    assert driver is not None
    driver.executescript(f"PRAGMA incremental_vacuum({int(pages)})")


async def wal_checkpoint(conn: AsyncConnection, mode: str) -> int:
    """SQLite: ``PRAGMA wal_checkpoint(mode)`` (PASSIVE or TRUNCATE); returns how many
    pages the log held."""
    if mode not in ("PASSIVE", "TRUNCATE"):
        raise ValueError(mode)
    result = await conn.exec_driver_sql(f"PRAGMA wal_checkpoint({mode})")
    return int(tuple(result.one())[1])


async def vacuum(conn: AsyncConnection, tables: Sequence[str]) -> None:
    """PostgreSQL: ``VACUUM`` each table, outside a transaction (autocommit)."""
    conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
    for table in tables:
        if table not in m.metadata.tables:
            raise ValueError(table)
        await conn.execute(text(f"VACUUM {table}"))


# ------------------------------------------------------------------------------ lock
async def try_advisory_xact_lock(conn: AsyncConnection, key: int) -> bool:
    """PostgreSQL: take the transaction-level advisory lock ``key`` if free; never waits."""
    got = await conn.execute(text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": key})
    return bool(got.scalar())


# ------------------------------------------------------------------------------ preview
async def _count(conn: AsyncConnection, query: Any) -> int:
    return int((await conn.execute(query)).scalar_one())


async def count_content_due(
    conn: AsyncConnection, team_id: int, keep: int, at: int, now: int
) -> int:
    """Messages of the team's closed conversations, not held at ``now``, that are ``keep``
    ms past their end at ``at``."""
    return await _count(
        conn,
        select(func.count())
        .select_from(m.messages.join(m.conversations))
        .where(_closed(team_id, now), c.closed_at + keep <= at),
    )


async def count_metadata_due(
    conn: AsyncConnection, team_id: int, keep: int, at: int, now: int
) -> int:
    """The team's closed conversations, not held at ``now``, ``keep`` ms past their end
    at ``at``."""
    return await _count(
        conn, select(func.count()).where(_closed(team_id, now), c.closed_at + keep <= at)
    )


async def count_abandoned_due(
    conn: AsyncConnection, team_id: int, keep: int, at: int, now: int
) -> int:
    """The team's abandoned conversations, not held at ``now``, ``keep`` ms past the
    client's last activity at ``at``."""
    abandoned = and_(c.team_id == team_id, c.state == State.ABANDONED.value, ~held(now))
    return await _count(
        conn, select(func.count()).where(abandoned, c.last_activity_at + keep <= at)
    )


async def count_idle(conn: AsyncConnection, team_id: int, keep: int, at: int) -> int:
    """The team's open conversations ``keep`` ms past their last activity at ``at``."""
    open_ = and_(c.team_id == team_id, c.state.in_(OPEN))
    return await _count(conn, select(func.count()).where(open_, c.last_activity_at + keep <= at))


async def count_epochs_due(conn: AsyncConnection, team_id: int, keep: int, at: int) -> int:
    """The team's epochs not retired that ended ``keep`` ms before ``at`` or earlier, except
    those a conversation held at ``at`` needs (as :func:`epochs_due`)."""
    return await _count(
        conn,
        select(func.count()).where(
            e.team_id == team_id,
            e.retired_at.is_(None),
            e.not_after + keep <= at,
            e.epoch.not_in(_held_epochs(team_id, at)),
        ),
    )


async def count_operator_due(conn: AsyncConnection, category: str, keep: int, at: int) -> int:
    """Records of an operator-wide category whose timestamp is ``keep`` ms before ``at``
    or earlier."""
    table, _, stamp = _operator(category)
    return await _count(
        conn,
        select(func.count()).select_from(table).where(stamp.is_not(None), stamp + keep <= at),
    )


def _closed(team_id: int, now: int) -> Any:
    return and_(c.team_id == team_id, c.state == State.CLOSED.value, ~held(now))


# ------------------------------------------------------------------------------ reports
@dataclass(frozen=True, slots=True)
class SweepReport:
    id: int
    at: int
    detail: str  # JSON, as audited
    hash: str


async def sweep_reports(conn: AsyncConnection, limit: int = 100) -> list[SweepReport]:
    """The latest sweep reports of the audit log, newest first."""
    a = m.audit.c
    rows = await conn.execute(
        select(a.id, a.at, a.detail, a.hash)
        .where(a.action == "retention.sweep")
        .order_by(a.id.desc())
        .limit(limit)
    )
    return [SweepReport(*row) for row in rows]
