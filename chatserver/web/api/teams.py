"""Team endpoints for the end-to-end layer: the current bundle (public, for the widget)
and the upload of signed epoch bundles (admins); the team's people as its consoles name
them, and its chats in progress for its supervisors (reading along)."""

from __future__ import annotations

from aiohttp import web

from chatserver.protocol.bodies import EpochBundles
from chatserver.protocol.errors import Forbidden, Malformed, NotFound
from chatserver.storage import teams as stored_teams
from chatserver.storage.store import TeamRow
from chatserver.teams.epochs import Epochs
from chatserver.web.guards import check_csrf, check_team_access, current_staff, now_ms, read_body
from chatserver.web.state import DB, SETTINGS, STORE

MAX_UPLOAD = 512 * 1024


async def team_of(request: web.Request) -> TeamRow:
    team = await request.app[STORE].team_by_slug(request.match_info["slug"])
    if team is None or team.archived_at is not None:
        raise NotFound("there is no such team")
    return team


async def current_bundle(request: web.Request) -> web.Response:
    """What the widget checks against its pin before it encrypts anything: the current
    epoch's bundle, or with ``?epoch=N`` that epoch's (a rekey names the new epoch)."""
    team = await team_of(request)
    epochs = Epochs(request.app[DB])
    wanted = request.query.get("epoch")
    if wanted is None:
        info = await epochs.current(team.id, now_ms(request))
    elif wanted.isascii() and wanted.isdigit() and len(wanted) <= 10:
        info = await epochs.get(team.id, int(wanted))
    else:
        raise Malformed("epoch must be a non-negative integer")
    return web.Response(text=info.canonical, content_type="application/json")


async def upload_bundles(request: web.Request) -> web.Response:
    staff, token = await current_staff(request)
    check_csrf(request, token)
    if staff.role != "admin":
        raise Forbidden("only admins hold the team root key and upload epochs")
    team = await team_of(request)
    body = await read_body(request, EpochBundles, MAX_UPLOAD)
    added = await Epochs(request.app[DB]).upload(
        team.id, team.slug, body.bundles, staff.id, now_ms(request)
    )
    return web.json_response({"added": added}, status=201 if added else 200)


async def overseen_team(request: web.Request) -> TeamRow:
    """The request's team, for an admin or one of the team's supervisors (else forbidden)."""
    staff, _ = await current_staff(request)
    if staff.role not in ("admin", "supervisor"):
        raise Forbidden("admins and supervisors only")
    team = await team_of(request)
    await check_team_access(request, staff, team.id)
    return team


async def epoch_status(request: web.Request) -> web.Response:
    """How far ahead the team's epochs reach, and whether admins must make more now."""
    team = await overseen_team(request)
    now = now_ms(request)
    epochs = Epochs(request.app[DB])
    until = await epochs.covered_until(team.id, now)
    days = 0.0 if until is None else (until - now) / 86_400_000
    warn = days < request.app[SETTINGS].epoch_warning_days
    return web.json_response(
        {
            "team": team.slug,
            "covered_until": until,
            "days_left": round(days, 2),
            "warning": warn,
            "top_epoch": await epochs.top(team.id),
        }
    )


async def team_people(request: web.Request) -> web.Response:
    """The team's members by id, with the names colleagues see: a console names the author
    of a note, a handover or a message with it, also when that colleague is off duty."""
    staff, _ = await current_staff(request)
    team = await team_of(request)
    await check_team_access(request, staff, team.id)
    async with request.app[DB].read() as conn:
        found = await stored_teams.people(conn, team.id)
    people = [{"id": p.id, "name": p.name, "role": p.role} for p in found]
    return web.json_response({"team": team.slug, "people": people})


async def team_chats(request: web.Request) -> web.Response:
    """The team's chats in progress, for its supervisors and admins to read along in the
    console: who holds each, its topic and times; nothing of its content (reading it is
    a console frame, and audited)."""
    team = await overseen_team(request)
    now = now_ms(request)
    async with request.app[DB].read() as conn:
        found = await stored_teams.chats_in_progress(conn, team.id, now)
    chats = [
        {
            "conversation": chat.id,
            "topic": chat.topic,
            "counsellor": None
            if chat.counsellor_id is None
            else {"id": chat.counsellor_id, "name": chat.counsellor_name},
            "accepted_at": chat.accepted_at,
            "last_activity_at": chat.last_activity_at,
            "transfers": chat.transfers,
        }
        for chat in found
    ]
    return web.json_response({"team": team.slug, "chats": chats})


def add_team_routes(app: web.Application) -> None:
    app.router.add_get("/api/teams/{slug}/bundle", current_bundle)
    app.router.add_post("/api/teams/{slug}/bundles", upload_bundles)
    app.router.add_get("/api/teams/{slug}/epochs", epoch_status)
    app.router.add_get("/api/teams/{slug}/people", team_people)
    app.router.add_get("/api/teams/{slug}/chats", team_chats)
