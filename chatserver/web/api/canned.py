"""HTTP endpoints of canned replies (:mod:`chatserver.teams.canned`): every member of a team
and admins read the team's replies; admins and the team's supervisors write them, with
the CSRF token, and every change is audited."""

from __future__ import annotations

from aiohttp import web

from chatserver.protocol.bodies import CannedDraft
from chatserver.protocol.errors import Forbidden, NotFound
from chatserver.storage.store import StaffRow
from chatserver.teams.canned import CannedReplies, parse
from chatserver.web.api.teams import team_of
from chatserver.web.guards import check_csrf, check_team_access, current_staff, now_ms, read_body
from chatserver.web.state import DB

MAX_BODY = 16 * 1024
MANAGERS = ("admin", "supervisor")


async def _manager(request: web.Request) -> StaffRow:
    staff, token = await current_staff(request)
    check_csrf(request, token)
    if staff.role not in MANAGERS:
        raise Forbidden("only admins and the team's supervisors manage canned replies")
    return staff


def _reply_id(request: web.Request) -> int:
    raw = request.match_info["id"]
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 18):
        raise NotFound("there is no such canned reply")
    return int(raw)


async def list_replies(request: web.Request) -> web.Response:
    staff, _ = await current_staff(request)
    team = await team_of(request)
    await check_team_access(request, staff, team.id)
    replies = await CannedReplies(request.app[DB]).list(team.id)
    return web.json_response({"team": team.slug, "replies": [r.to_json() for r in replies]})


async def create_reply(request: web.Request) -> web.Response:
    staff = await _manager(request)
    team = await team_of(request)
    await check_team_access(request, staff, team.id)
    draft = parse(await read_body(request, CannedDraft, MAX_BODY))
    reply = await CannedReplies(request.app[DB]).create(team.id, draft, staff.id, now_ms(request))
    return web.json_response(reply.to_json(), status=201)


async def change_reply(request: web.Request) -> web.Response:
    """``PUT`` replaces title, text and language; ``DELETE`` removes the reply."""
    staff = await _manager(request)
    replies = CannedReplies(request.app[DB])
    reply_id = _reply_id(request)
    await check_team_access(request, staff, (await replies.get(reply_id)).team_id)
    if request.method == "DELETE":
        await replies.delete(reply_id, staff.id, now_ms(request))
        return web.json_response({"id": reply_id, "deleted": True})
    draft = parse(await read_body(request, CannedDraft, MAX_BODY))
    reply = await replies.update(reply_id, draft, staff.id, now_ms(request))
    return web.json_response(reply.to_json())


def add_canned_routes(app: web.Application) -> None:
    app.router.add_get("/api/teams/{slug}/canned", list_replies)
    app.router.add_post("/api/teams/{slug}/canned", create_reply)
    app.router.add_put("/api/canned/{id}", change_reply)
    app.router.add_delete("/api/canned/{id}", change_reply)
