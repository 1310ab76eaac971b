"""HTTP endpoints of client blocks for the admin area: the blocks a team's counsellors set
from the duty console (:meth:`chatserver.chat.service.ChatService.block`) that are still in
force, and lifting one before it expires. Admins reach every team, supervisors their own;
counsellors block, but neither list nor lift.

A block names its client only by the hash of the blocked conversation's resume token: the
hash never leaves the server, and no address is ever stored. Expired blocks are hidden at
read time (the sweep deletes them later), so they can be neither listed nor lifted.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from sqlalchemy import and_, delete, select
from sqlalchemy.ext.asyncio import AsyncConnection

from chatserver.protocol.errors import NotFound
from chatserver.storage import models as m
from chatserver.storage.store import audit_tx, visible
from chatserver.web.api.teams import team_of
from chatserver.web.guards import check_team_access, now_ms, staff_in_role
from chatserver.web.state import DB

__all__ = ["add_block_routes"]

MANAGERS = ("admin", "supervisor")
NO_SUCH_BLOCK = "there is no such block (it may have ended already)"


def _block_id(request: web.Request) -> int:
    raw = request.match_info["id"]
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 18):
        raise NotFound(NO_SUCH_BLOCK)
    return int(raw)


async def _active_blocks(conn: AsyncConnection, team_id: int, now: int) -> list[dict[str, Any]]:
    """The team's blocks in force, newest first, with who set them (while the account
    exists) and the blocked conversation (while retention has not removed it)."""
    b, s, c = m.blocks.c, m.staff.c, m.conversations.c
    rows = await conn.execute(
        select(b.id, b.created_at, b.expires_at, b.created_by, s.display_name, c.id.label("cid"))
        .select_from(m.blocks)
        .outerjoin(m.staff, s.id == b.created_by)
        .outerjoin(
            m.conversations,
            and_(c.token_hash == b.token_hash, c.team_id == b.team_id, visible(now)),
        )
        .where(b.team_id == team_id, b.expires_at > now)
        .order_by(b.created_at.desc(), b.id.desc())
    )
    return [
        {
            "id": r.id,
            "created_at": r.created_at,
            "expires_at": r.expires_at,
            "created_by": (
                None if r.display_name is None else {"id": r.created_by, "name": r.display_name}
            ),
            "conversation": r.cid,
        }
        for r in rows
    ]


async def list_blocks(request: web.Request) -> web.Response:
    staff = await staff_in_role(request, MANAGERS, write=False)
    team = await team_of(request)
    await check_team_access(request, staff, team.id)
    async with request.app[DB].read() as conn:
        blocks = await _active_blocks(conn, team.id, now_ms(request))
    return web.json_response({"team": team.slug, "blocks": blocks})


async def _block_team(request: web.Request, block_id: int, now: int) -> int:
    b = m.blocks.c
    async with request.app[DB].read() as conn:
        team_id = (
            await conn.execute(select(b.team_id).where(b.id == block_id, b.expires_at > now))
        ).scalar()
    if team_id is None:
        raise NotFound(NO_SUCH_BLOCK)
    return int(team_id)


async def lift_block(request: web.Request) -> web.Response:
    """``DELETE``: the client may resume (and delete) its conversation again at once."""
    staff = await staff_in_role(request, MANAGERS, write=True)
    block_id = _block_id(request)
    now = now_ms(request)
    await check_team_access(request, staff, await _block_team(request, block_id, now))
    b, c = m.blocks.c, m.conversations.c
    async with request.app[DB].write() as conn:
        # Read again in the write transaction: a colleague may have lifted it meanwhile.
        row = (
            await conn.execute(
                select(b.team_id, c.id.label("cid"))
                .select_from(m.blocks)
                .outerjoin(
                    m.conversations,
                    and_(c.token_hash == b.token_hash, c.team_id == b.team_id, visible(now)),
                )
                .where(b.id == block_id, b.expires_at > now)
            )
        ).first()
        if row is None:
            raise NotFound(NO_SUCH_BLOCK)
        await conn.execute(delete(m.blocks).where(b.id == block_id))
        # Like client.blocked, the target is the conversation (when it still exists).
        await audit_tx(
            conn, now, staff.id, "client.unblocked", row.cid, block=block_id, team=row.team_id
        )
    return web.json_response({"id": block_id, "lifted": True})


def add_block_routes(app: web.Application) -> None:
    app.router.add_get("/api/teams/{slug}/blocks", list_blocks)
    app.router.add_delete("/api/blocks/{id}", lift_block)
