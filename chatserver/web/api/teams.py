"""Team endpoints for the end-to-end layer: the current bundle (public, for the widget)
and the upload of signed epoch bundles (admins); the team's people as its consoles name
them, and its chats in progress for its supervisors (reading along)."""

from __future__ import annotations

from aiohttp import web
from sqlalchemy import select

from chatserver.protocol.bodies import EpochBundles
from chatserver.protocol.errors import Forbidden, MalformedFrame, NotFound
from chatserver.protocol.lifecycle import State
from chatserver.storage import models as m
from chatserver.storage.store import TeamRow, visible
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
        raise MalformedFrame("epoch must be a non-negative integer")
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
    s = m.staff.c
    async with request.app[DB].read() as conn:
        rows = await conn.execute(
            select(s.id, s.display_name, s.role)
            .join(m.memberships, m.memberships.c.staff_id == s.id)
            .where(m.memberships.c.team_id == team.id)
            .order_by(s.display_name, s.id)
        )
        people = [{"id": r.id, "name": r.display_name, "role": r.role} for r in rows]
    return web.json_response({"team": team.slug, "people": people})


async def team_chats(request: web.Request) -> web.Response:
    """The team's chats in progress, for its supervisors and admins to read along in the
    console: who holds each, its topic and times; nothing of its content (reading it is
    a console frame, and audited)."""
    team = await overseen_team(request)
    now = now_ms(request)
    c, s, t = m.conversations.c, m.staff.c, m.topics.c
    async with request.app[DB].read() as conn:
        rows = await conn.execute(
            select(
                c.id,
                t.slug,
                c.counsellor_id,
                s.display_name,
                c.accepted_at,
                c.last_activity_at,
                c.transfers,
            )
            .select_from(m.conversations)
            .outerjoin(m.topics, t.id == c.topic_id)
            .outerjoin(m.staff, s.id == c.counsellor_id)
            .where(c.team_id == team.id, c.state == State.ACTIVE.value, visible(now))
            .order_by(c.accepted_at, c.id)
        )
        chats = [
            {
                "conversation": r.id,
                "topic": r.slug,
                "counsellor": None
                if r.counsellor_id is None
                else {"id": r.counsellor_id, "name": r.display_name},
                "accepted_at": r.accepted_at,
                "last_activity_at": r.last_activity_at,
                "transfers": r.transfers,
            }
            for r in rows
        ]
    return web.json_response({"team": team.slug, "chats": chats})


def add_team_routes(app: web.Application) -> None:
    app.router.add_get("/api/teams/{slug}/bundle", current_bundle)
    app.router.add_post("/api/teams/{slug}/bundles", upload_bundles)
    app.router.add_get("/api/teams/{slug}/epochs", epoch_status)
    app.router.add_get("/api/teams/{slug}/people", team_people)
    app.router.add_get("/api/teams/{slug}/chats", team_chats)
