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

from chatserver.protocol.errors import NotFound
from chatserver.storage import blocks
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


def _json(block: blocks.Block) -> dict[str, Any]:
    return {
        "id": block.id,
        "created_at": block.created_at,
        "expires_at": block.expires_at,
        "created_by": (
            None if block.by_name is None else {"id": block.created_by, "name": block.by_name}
        ),
        "conversation": block.conversation,
    }


async def list_blocks(request: web.Request) -> web.Response:
    """The team's blocks in force, newest first, with who set them (while the account
    exists) and the blocked conversation (while retention has not removed it)."""
    staff = await staff_in_role(request, MANAGERS, write=False)
    team = await team_of(request)
    await check_team_access(request, staff, team.id)
    async with request.app[DB].read() as conn:
        found = await blocks.active(conn, team.id, now_ms(request))
    return web.json_response({"team": team.slug, "blocks": [_json(b) for b in found]})


async def lift_block(request: web.Request) -> web.Response:
    """``DELETE``: the client may resume (and delete) its conversation again at once."""
    staff = await staff_in_role(request, MANAGERS, write=True)
    block_id = _block_id(request)
    now = now_ms(request)
    async with request.app[DB].read() as conn:
        team_id = await blocks.team_of(conn, block_id, now)
    if team_id is None:
        raise NotFound(NO_SUCH_BLOCK)
    await check_team_access(request, staff, team_id)
    async with request.app[DB].write() as conn:
        if not await blocks.lift(conn, block_id, staff.id, now):
            raise NotFound(NO_SUCH_BLOCK)
    return web.json_response({"id": block_id, "lifted": True})


def add_block_routes(app: web.Application) -> None:
    app.router.add_get("/api/teams/{slug}/blocks", list_blocks)
    app.router.add_delete("/api/blocks/{id}", lift_block)
