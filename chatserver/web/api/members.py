"""HTTP endpoints of membership: invites, enrolment, approval, rosters and identities.

Admins act from their console with a session and the CSRF token; the invitee enrols
without an account (the invite id is the capability, the invite secret never reaches
the server). The server checks shape and rights; the browsers check the cryptography.
"""

from __future__ import annotations

import base64
from typing import Any

from aiohttp import web

from chatserver.protocol.bodies import Envelopes, Invite, Roster
from chatserver.protocol.errors import Forbidden
from chatserver.storage.store import StaffRow
from chatserver.teams.epoch_keys import TeamKeys
from chatserver.teams.members import Members
from chatserver.teams.root_keys import RootKeys
from chatserver.web.api.teams import team_of
from chatserver.web.guards import check_csrf, current_staff, now_ms, read_body, read_json
from chatserver.web.state import DB, KEYSTORE, SERVICE, SETTINGS, STORE

MAX_BODY = 1024 * 1024


async def _json(request: web.Request) -> Any:
    return await read_json(request, MAX_BODY)


async def _admin(request: web.Request) -> StaffRow:
    staff, token = await current_staff(request)
    check_csrf(request, token)
    if staff.role != "admin":
        raise Forbidden("only admins hold the team root key")
    return staff


def _same_origin(request: web.Request) -> None:
    if request.headers.get("Origin") != request.app[SETTINGS].origin:
        raise Forbidden("enrol from this server's own pages")


async def create_invite(request: web.Request) -> web.Response:
    admin = await _admin(request)
    team = await team_of(request)
    body = await read_body(request, Invite, MAX_BODY)
    members = Members(request.app[DB])
    invite = await members.invite(team.id, body.role, admin.id, now_ms(request), body.hours)
    return web.json_response(await members.invite_state(invite, now_ms(request)), status=201)


async def show_invite(request: web.Request) -> web.Response:
    state = await Members(request.app[DB]).invite_state(
        request.match_info["invite"], now_ms(request)
    )
    return web.json_response(state)


async def enrol(request: web.Request) -> web.Response:
    _same_origin(request)
    staff_id = await Members(request.app[DB]).enrol(
        request.match_info["invite"], await _json(request), now_ms(request)
    )
    return web.json_response({"staff": staff_id, "state": "enrolled"}, status=201)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


async def pending(request: web.Request) -> web.Response:
    await _admin_read(request)
    team = await team_of(request)
    rows = await Members(request.app[DB]).pending(team.id)
    return web.json_response(
        [
            {
                "invite": r.invite,
                "role": r.role,
                "staff": r.staff_id,
                "username": r.username,
                "name": r.name,
                "dh_pub": _b64(r.dh_pub),
                "sig_pub": _b64(r.sig_pub),
                "mac": _b64(r.mac),
                "enrolled_at": r.enrolled_at,
            }
            for r in rows
        ]
    )


async def _admin_read(request: web.Request) -> StaffRow:
    staff, _ = await current_staff(request)
    if staff.role != "admin":
        raise Forbidden("admins only")
    return staff


async def approve(request: web.Request) -> web.Response:
    admin = await _admin(request)
    team = await team_of(request)
    body = await read_body(request, Roster, MAX_BODY)
    version = await Members(request.app[DB]).approve(
        request.match_info["invite"],
        team.id,
        team.slug,
        body.roster,
        admin.id,
        now_ms(request),
    )
    return web.json_response({"roster_version": version})


async def upload_roster(request: web.Request) -> web.Response:
    admin = await _admin(request)
    team = await team_of(request)
    body = await read_body(request, Roster, MAX_BODY)
    version, removed = await Members(request.app[DB]).upload_roster(
        team.id, team.slug, body.roster, admin.id, now_ms(request)
    )
    for staff_id in removed:
        await request.app[SERVICE].member_removed(staff_id, team.id, admin.id)
    return web.json_response({"roster_version": version, "removed": removed}, status=201)


async def show_roster(request: web.Request) -> web.Response:
    staff, _ = await current_staff(request)
    team = await team_of(request)
    if staff.role != "admin" and team.id not in await request.app[STORE].staff_teams(staff.id):
        raise Forbidden("members of the team only")
    roster = await Members(request.app[DB]).latest_roster(team.id)
    return web.Response(text=roster, content_type="application/json")


async def my_identity(request: web.Request) -> web.Response:
    staff, _ = await current_staff(request)
    return web.json_response(await Members(request.app[DB]).identity(staff.id))


async def upload_team_keys(request: web.Request) -> web.Response:
    admin = await _admin(request)
    team = await team_of(request)
    body = await read_body(request, Envelopes, MAX_BODY)
    added = await TeamKeys(request.app[DB], request.app[KEYSTORE]).upload(
        team.id, team.slug, body.envelopes, admin.id, now_ms(request)
    )
    return web.json_response({"added": added}, status=201 if added else 200)


async def my_team_keys(request: web.Request) -> web.Response:
    staff, _ = await current_staff(request)
    team = await team_of(request)
    if team.id not in await request.app[STORE].staff_teams(staff.id):
        raise Forbidden("members of the team only")
    keys = await TeamKeys(request.app[DB], request.app[KEYSTORE]).for_member(
        staff.id, team.id, now_ms(request)
    )
    return web.json_response(
        [{"epoch": k.epoch, "author": k.author, "body": _b64(k.body)} for k in keys]
    )


async def create_identity(request: web.Request) -> web.Response:
    """The first identity keys of an account made without them (the first admin)."""
    staff, token = await current_staff(request)
    check_csrf(request, token)
    _same_origin(request)
    await Members(request.app[DB]).set_identity(staff.id, await _json(request), now_ms(request))
    return web.json_response({"created": True}, status=201)


async def upload_root_keys(request: web.Request) -> web.Response:
    """The team root key, wrapped in an admin's browser to each admin of the team."""
    admin = await _admin(request)
    team = await team_of(request)
    body = await read_body(request, Envelopes, MAX_BODY)
    stored = await RootKeys(request.app[DB], request.app[KEYSTORE]).upload(
        team.id, team.slug, body.envelopes, admin.id, now_ms(request)
    )
    return web.json_response({"stored": stored}, status=201)


async def my_root_key(request: web.Request) -> web.Response:
    """This admin's envelope of the team's root key (an admin of the team only)."""
    staff, _ = await current_staff(request)
    team = await team_of(request)
    if staff.role != "admin" or team.id not in await request.app[STORE].staff_teams(staff.id):
        raise Forbidden("admins of the team only")
    author, body = await RootKeys(request.app[DB], request.app[KEYSTORE]).for_admin(
        staff.id, team.id
    )
    return web.json_response({"author": author, "body": _b64(body)})


def add_member_routes(app: web.Application) -> None:
    app.router.add_post("/api/teams/{slug}/team-keys", upload_team_keys)
    app.router.add_get("/api/teams/{slug}/team-keys/mine", my_team_keys)
    app.router.add_post("/api/teams/{slug}/invites", create_invite)
    app.router.add_get("/api/invites/{invite}", show_invite)
    app.router.add_post("/api/invites/{invite}/enrol", enrol)
    app.router.add_get("/api/teams/{slug}/enrolments", pending)
    app.router.add_post("/api/teams/{slug}/enrolments/{invite}/approve", approve)
    app.router.add_post("/api/teams/{slug}/roster", upload_roster)
    app.router.add_get("/api/teams/{slug}/roster", show_roster)
    app.router.add_get("/api/me/identity", my_identity)
    app.router.add_post("/api/me/identity", create_identity)
    app.router.add_post("/api/teams/{slug}/root-keys", upload_root_keys)
    app.router.add_get("/api/teams/{slug}/root-key/mine", my_root_key)
