"""Blocks in storage: a team's blocks in force (with who set them and the blocked
conversation while it exists) and lifting one. Expired blocks are hidden at read time,
so they can be neither listed nor lifted; the sweep deletes them later. A block names
its client only by the hash of the blocked conversation's resume token."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import ColumnElement, and_, delete, select
from sqlalchemy.ext.asyncio import AsyncConnection

from chatserver.storage import models as m
from chatserver.storage.store import audit_tx, visible

__all__ = ["Block", "active", "lift", "team_of"]

b, s, c = m.blocks.c, m.staff.c, m.conversations.c


@dataclass(frozen=True, slots=True)
class Block:
    id: int
    created_at: int
    expires_at: int
    created_by: str | None
    by_name: str | None  # None once the account is gone
    conversation: str | None  # None once retention removed it


def _blocked(now: int) -> ColumnElement[bool]:
    """The blocked conversation, while it is visible."""
    return and_(c.token_hash == b.token_hash, c.team_id == b.team_id, visible(now))


async def active(conn: AsyncConnection, team_id: int, now: int) -> list[Block]:
    """The team's blocks in force at ``now``, newest first."""
    rows = await conn.execute(
        select(b.id, b.created_at, b.expires_at, b.created_by, s.display_name, c.id.label("cid"))
        .select_from(m.blocks)
        .outerjoin(m.staff, s.id == b.created_by)
        .outerjoin(m.conversations, _blocked(now))
        .where(b.team_id == team_id, b.expires_at > now)
        .order_by(b.created_at.desc(), b.id.desc())
    )
    return [
        Block(r.id, r.created_at, r.expires_at, r.created_by, r.display_name, r.cid) for r in rows
    ]


async def team_of(conn: AsyncConnection, block_id: int, now: int) -> int | None:
    """The team of a block in force, or None."""
    found = await conn.execute(select(b.team_id).where(b.id == block_id, b.expires_at > now))
    team_id = found.scalar()
    return None if team_id is None else int(team_id)


async def lift(conn: AsyncConnection, block_id: int, actor: str, now: int) -> bool:
    """End a block in force, audited ``client.unblocked`` with the blocked conversation as
    its target (while it exists); False when there is no such block (any more: read again
    in this transaction, a colleague may have lifted it meanwhile)."""
    row = (
        await conn.execute(
            select(b.team_id, c.id.label("cid"))
            .select_from(m.blocks)
            .outerjoin(m.conversations, _blocked(now))
            .where(b.id == block_id, b.expires_at > now)
        )
    ).first()
    if row is None:
        return False
    await conn.execute(delete(m.blocks).where(b.id == block_id))
    await audit_tx(conn, now, actor, "client.unblocked", row.cid, block=block_id, team=row.team_id)
    return True
