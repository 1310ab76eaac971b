"""HTTP endpoints of the admin area: teams, their topics and allowed widget origins, and
staff accounts (:mod:`chatserver.teams.teams`, :mod:`chatserver.staff.accounts`; the CLI calls the
same functions).

Who may: admins everything; supervisors read their own teams (the list, topics, origins);
counsellors nothing. Every request needs a staff session, every write the CSRF token; the
checks come in that order (401, 401, 403) and before anything is read or written, so a
refused request changes nothing. Team memberships are not changed here: they follow the
signed rosters (``members_http``).
"""

from __future__ import annotations

from aiohttp import web

from chatserver.protocol.bodies import (
    NewTeam,
    NewTopic,
    Origins,
    PasswordReset,
    TeamChange,
    TopicRename,
)
from chatserver.protocol.bodies import StaffChange as StaffChangeBody
from chatserver.protocol.errors import Forbidden, NotFound
from chatserver.staff.accounts import Accounts, parse_change
from chatserver.storage.store import StaffRow
from chatserver.teams.members import Members
from chatserver.teams.teams import Teams
from chatserver.web.guards import check_csrf, current_staff, now_ms, read_body
from chatserver.web.state import DB, SERVICE, STORE

__all__ = ["add_admin_routes"]

MAX_BODY = 32 * 1024


async def _admin(request: web.Request, *, write: bool = True) -> StaffRow:
    staff, token = await current_staff(request)
    if write:
        check_csrf(request, token)
    if staff.role != "admin":
        raise Forbidden("only admins may do this")
    return staff


async def _reader(request: web.Request) -> StaffRow:
    """An admin, or a supervisor of the team in the path (of any team without one)."""
    staff, _ = await current_staff(request)
    if staff.role == "admin":
        return staff
    if staff.role != "supervisor":
        raise Forbidden("only admins and supervisors may see this")
    slug = request.match_info.get("slug")
    if slug is not None and slug not in (await request.app[STORE].staff_teams(staff.id)).values():
        raise Forbidden("this team is not yours")
    return staff


# --------------------------------------------------------------------------- teams
async def list_teams(request: web.Request) -> web.Response:
    """Admins: every team, archived ones included; supervisors: their teams."""
    staff = await _reader(request)
    only = None
    if staff.role != "admin":
        only = (await request.app[STORE].staff_teams(staff.id)).keys()
    teams = await Teams(request.app[DB]).list_teams(only)
    return web.json_response({"teams": [t.to_json() for t in teams]})


async def create_team(request: web.Request) -> web.Response:
    admin = await _admin(request)
    body = await read_body(request, NewTeam, MAX_BODY)
    team = await Teams(request.app[DB]).create(body.slug, body.name, [], admin.id, now_ms(request))
    return web.json_response(team.to_json(), status=201)


async def change_team(request: web.Request) -> web.Response:
    admin = await _admin(request)
    body = await read_body(request, TeamChange, MAX_BODY)
    team = await Teams(request.app[DB]).change(
        request.match_info["slug"],
        admin.id,
        now_ms(request),
        name=body.name,
        archived=body.archived,
        transcript=body.transcript,
    )
    return web.json_response(team.to_json())


# --------------------------------------------------------------------------- topics
async def list_topics(request: web.Request) -> web.Response:
    await _reader(request)
    team = await Teams(request.app[DB]).get(request.match_info["slug"])
    return web.json_response({"team": team.slug, "topics": [t.to_json() for t in team.topics]})


async def add_topic(request: web.Request) -> web.Response:
    admin = await _admin(request)
    body = await read_body(request, NewTopic, MAX_BODY)
    topic = await Teams(request.app[DB]).add_topic(
        request.match_info["slug"], body.slug, body.name, admin.id, now_ms(request)
    )
    return web.json_response(topic.to_json(), status=201)


async def change_topic(request: web.Request) -> web.Response:
    """``PATCH {"name"}`` renames the topic; ``DELETE`` removes it (its conversations
    stay, without a topic)."""
    admin = await _admin(request)
    teams = Teams(request.app[DB])
    slug, topic = request.match_info["slug"], request.match_info["topic"]
    if request.method == "DELETE":
        await teams.remove_topic(slug, topic, admin.id, now_ms(request))
        return web.json_response({"slug": topic, "deleted": True})
    body = await read_body(request, TopicRename, MAX_BODY)
    renamed = await teams.rename_topic(slug, topic, body.name, admin.id, now_ms(request))
    return web.json_response(renamed.to_json())


# --------------------------------------------------------------------------- origins
async def list_origins(request: web.Request) -> web.Response:
    await _reader(request)
    team = await Teams(request.app[DB]).get(request.match_info["slug"])
    return web.json_response({"team": team.slug, "origins": list(team.origins)})


async def replace_origins(request: web.Request) -> web.Response:
    admin = await _admin(request)
    body = await read_body(request, Origins, MAX_BODY)
    slug = request.match_info["slug"]
    origins = await Teams(request.app[DB]).replace_origins(
        slug, body.origins, admin.id, now_ms(request)
    )
    return web.json_response({"team": slug, "origins": origins})


# --------------------------------------------------------------------------- accounts
async def list_staff(request: web.Request) -> web.Response:
    await _admin(request, write=False)
    accounts = await Accounts(request.app[DB]).list_accounts()
    return web.json_response({"staff": [a.to_json() for a in accounts]})


async def change_staff(request: web.Request) -> web.Response:
    admin = await _admin(request)
    change = parse_change(await read_body(request, StaffChangeBody, MAX_BODY))
    account = await Accounts(request.app[DB]).change(
        request.match_info["id"], change, admin.id, now_ms(request)
    )
    return web.json_response(account.to_json())


async def reset_totp(request: web.Request) -> web.Response:
    """Clear the account's TOTP and end its sessions: its next sign-in enrols again."""
    admin = await _admin(request)
    accounts = Accounts(request.app[DB])
    await accounts.reset_totp(request.match_info["id"], admin.id, now_ms(request))
    return web.json_response((await accounts.get(request.match_info["id"])).to_json())


async def reset_password(request: web.Request) -> web.Response:
    """A forgotten password: the old keys are lost (``Members.reset_password``); the
    answer is a re-enrolment invitation in ``team`` whose secret the admin's browser adds
    to the link. Conversations the account held go back to the queue."""
    admin = await _admin(request)
    body = await read_body(request, PasswordReset, MAX_BODY)
    store = request.app[STORE]
    team = await store.team_by_slug(body.team)
    if team is None or team.archived_at is not None:
        raise NotFound("there is no such team")
    staff_id = request.match_info["id"]
    teams = await store.staff_teams(staff_id)
    members = Members(request.app[DB])
    invite = await members.reset_password(staff_id, team.id, admin.id, now_ms(request), body.hours)
    for team_id in teams:
        await request.app[SERVICE].member_removed(staff_id, team_id, admin.id)
    state = await members.invite_state(invite, now_ms(request))
    return web.json_response(state, status=201)


def add_admin_routes(app: web.Application) -> None:
    r = app.router
    r.add_get("/api/admin/teams", list_teams)
    r.add_post("/api/admin/teams", create_team)
    r.add_patch("/api/admin/teams/{slug}", change_team)
    r.add_get("/api/admin/teams/{slug}/topics", list_topics)
    r.add_post("/api/admin/teams/{slug}/topics", add_topic)
    r.add_patch("/api/admin/teams/{slug}/topics/{topic}", change_topic)
    r.add_delete("/api/admin/teams/{slug}/topics/{topic}", change_topic)
    r.add_get("/api/admin/teams/{slug}/origins", list_origins)
    r.add_put("/api/admin/teams/{slug}/origins", replace_origins)
    r.add_get("/api/admin/staff", list_staff)
    r.add_patch("/api/admin/staff/{id}", change_staff)
    r.add_post("/api/admin/staff/{id}/reset-2fa", reset_totp)
    r.add_post("/api/admin/staff/{id}/reset-password", reset_password)
