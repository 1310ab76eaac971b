"""Conversations in storage, for the chat service's writes: a row locked for a decision,
its new state, a new conversation and its deletion, envelopes and blocks written with a
change, legal holds and the counts a decision needs (chats held, a colleague, recent
waits). The reads that come with every frame are :class:`chatserver.storage.store.Store`'s.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from chatserver.protocol.lifecycle import State
from chatserver.storage import models as m
from chatserver.storage.store import ConversationRow, conversation_tx

__all__ = [
    "colleague",
    "create",
    "envelope_body",
    "held_count",
    "insert_block",
    "insert_envelope",
    "lock",
    "recent_waits",
    "remove",
    "set_state",
    "under_hold",
]

c = m.conversations.c


async def lock(conn: AsyncConnection, conversation_id: str, now: int) -> ConversationRow | None:
    """The conversation as visible at ``now``, its row locked for this transaction
    (PostgreSQL; SQLite serialises writers anyway); None when it does not exist."""
    await conn.execute(select(c.id).where(c.id == conversation_id).with_for_update())
    return await conversation_tx(conn, conversation_id, now)


async def create(conn: AsyncConnection, **values: Any) -> None:
    """A new conversation row (its id, team, token hash, key and times in ``values``)."""
    await conn.execute(insert(m.conversations).values(**values))


async def remove(conn: AsyncConnection, conversation_id: str) -> None:
    """The conversation's row, and with it (foreign keys) everything stored in it."""
    await conn.execute(delete(m.conversations).where(c.id == conversation_id))


async def set_state(
    conn: AsyncConnection,
    conversation_id: str,
    state: State,
    values: dict[str, Any],
    *,
    accepted_at: int | None = None,
    transfers: bool = False,
) -> None:
    """Move the conversation to ``state`` with further column ``values``. ``accepted_at``:
    an accept's time, kept only if it is the first; ``transfers``: count one more."""
    extra: dict[str, Any] = {}
    if accepted_at is not None:
        extra["accepted_at"] = func.coalesce(c.accepted_at, accepted_at)
    if transfers:
        extra["transfers"] = c.transfers + 1
    await conn.execute(
        update(m.conversations)
        .where(c.id == conversation_id)
        .values(state=state.value, **values, **extra)
    )


async def held_count(conn: AsyncConnection, staff_id: str) -> int:
    """How many active conversations ``staff_id`` holds, with the account's row locked for
    this transaction, so that two accepts of one counsellor are counted one after the
    other."""
    await conn.execute(select(m.staff.c.id).where(m.staff.c.id == staff_id).with_for_update())
    rows = await conn.execute(
        select(c.id).where(c.counsellor_id == staff_id, c.state == State.ACTIVE.value)
    )
    return len(rows.all())


async def colleague(conn: AsyncConnection, staff_id: str, team_id: int) -> tuple[bool, int | None]:
    """Whether ``staff_id`` is an enabled member of ``team_id``, and their own chat limit
    (None: the server's default)."""
    row = (
        await conn.execute(
            select(m.staff.c.disabled_at, m.staff.c.cap)
            .join(m.memberships, m.memberships.c.staff_id == m.staff.c.id)
            .where(m.staff.c.id == staff_id, m.memberships.c.team_id == team_id)
        )
    ).first()
    if row is None or row.disabled_at is not None:
        return False, None
    return True, None if row.cap is None else int(row.cap)


async def insert_envelope(
    conn: AsyncConnection,
    row: ConversationRow,
    envelope_id: str,
    purpose: str,
    epoch: int,
    author: str,
    sealed: bytes,
    now: int,
) -> None:
    """An envelope of the conversation, already sealed with its storage key."""
    await conn.execute(
        insert(m.key_envelopes).values(
            team_id=row.team_id,
            conversation_id=row.id,
            envelope_id=envelope_id,
            purpose=purpose,
            epoch=epoch,
            author_id=author,
            body=sealed,
            created_at=now,
        )
    )


async def envelope_body(
    conn: AsyncConnection, conversation_id: str, envelope_id: str
) -> tuple[bytes, str] | None:
    """The sealed body and the purpose of an envelope already stored under this id."""
    e = m.key_envelopes.c
    found = (
        await conn.execute(
            select(e.body, e.purpose).where(
                e.conversation_id == conversation_id, e.envelope_id == envelope_id
            )
        )
    ).first()
    return None if found is None else (bytes(found.body), str(found.purpose))


async def insert_block(
    conn: AsyncConnection, row: ConversationRow, by: str, now: int, hours: int
) -> None:
    """The client's token blocked in the conversation's team for ``hours``."""
    await conn.execute(
        insert(m.blocks).values(
            team_id=row.team_id,
            token_hash=row.token_hash,
            created_by=by,
            created_at=now,
            expires_at=now + hours * 3_600_000,
        )
    )


async def under_hold(conn: AsyncConnection, conversation_id: str, now: int) -> bool:
    """Whether a legal hold keeps the conversation at ``now`` (placed, not released, not
    expired: chatserver.records.retention's rule)."""
    h = m.holds.c
    found = await conn.execute(
        select(h.id)
        .where(h.conversation_id == conversation_id, h.released_at.is_(None), h.expires_at > now)
        .limit(1)
    )
    return found.first() is not None


async def recent_waits(conn: AsyncConnection, team_id: int, since: int, limit: int) -> list[int]:
    """Start-to-first-accept times (ms) of the team's last accepted conversations that
    were accepted at ``since`` or later, the newest first."""
    rows = await conn.execute(
        select(c.accepted_at - c.created_at)
        .where(c.team_id == team_id, c.accepted_at.is_not(None), c.accepted_at >= since)
        .order_by(c.accepted_at.desc())
        .limit(limit)
    )
    return [int(wait) for wait in rows.scalars()]
