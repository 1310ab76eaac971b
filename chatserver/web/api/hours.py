"""HTTP endpoints of opening hours: the team's configuration for admins (and, to read, the
team's supervisors), and a public status for the widget: open or closed now, until when,
and outside hours the closed message with the emergency contacts."""

from __future__ import annotations

from aiohttp import web

from chatserver.protocol.errors import Malformed
from chatserver.storage import team_keys as stored_keys
from chatserver.storage import teams as stored_teams
from chatserver.teams.consent import current_consent
from chatserver.teams.epochs import horizon_level
from chatserver.teams.hours import (
    LANGUAGES,
    HoursError,
    load_hours,
    parse_hours,
    public_status,
    save_hours,
)
from chatserver.web.api.teams import team_of
from chatserver.web.guards import check_team_access, now_ms, read_json, staff_in_role
from chatserver.web.state import DB

MAX_BODY = 64 * 1024
#: The longest a status may be cached (browser or proxy): it is the same for everyone and
#: names nobody, and ``start`` checks the hours again, so a short cache harms nobody and
#: spares the server a burst of widget loads. It never outlives the next change.


async def show_hours(request: web.Request) -> web.Response:
    """The team's hours (``null`` when none are set: always open)."""
    staff = await staff_in_role(request, ("admin", "supervisor"), write=False)
    team = await team_of(request)
    await check_team_access(request, staff, team.id)
    async with request.app[DB].read() as conn:
        hours = await load_hours(conn, team.id)
    return web.json_response({"team": team.slug, "hours": hours.to_json() if hours else None})


async def change_hours(request: web.Request) -> web.Response:
    """Replace the team's hours with the body (the JSON of :func:`parse_hours`)."""
    admin = await staff_in_role(request, ("admin",), write=True)
    team = await team_of(request)
    try:
        hours = parse_hours(await read_json(request, MAX_BODY))
    except HoursError as exc:
        raise Malformed(str(exc)) from None
    async with request.app[DB].write() as conn:
        await save_hours(conn, team.id, hours, admin.id, now_ms(request))
    return web.json_response({"team": team.slug, "hours": hours.to_json()})


async def team_status(request: web.Request) -> web.Response:
    """Public, for the widget: ``?lang=de|en`` (default de)."""
    lang = request.query.get("lang", "de")
    if lang not in LANGUAGES:
        raise Malformed(f"lang is one of {', '.join(LANGUAGES)}")
    team = await team_of(request)
    now = now_ms(request)  # one instant for the hours and the keys
    async with request.app[DB].read() as conn:
        hours = await load_hours(conn, team.id)
        topics = await stored_teams.widget_topics(conn, team.id)
        transcript = await stored_teams.offers_transcript(conn, team.id)
        consent = await current_consent(conn, team.id)
        covered = await stored_keys.covered_until(conn, team.id, now)
    status = public_status(hours, now, lang)
    # No daily key takes new chats now (docs/operations.md, "Keys ahead"): the widget shows
    # the emergency contacts instead of a consent it could not act on.
    status["paused"] = covered is None
    status["keys"] = {"covered_until": covered, "level": horizon_level(covered, now)}
    status["topics"] = [t.to_json() for t in topics]
    # Whether the widget offers to save the conversation on the device (docs/widget.md).
    status["transcript"] = transcript
    # The team's own consent text in both languages (the widget switches language in
    # place) and the label a conversation records when its client agrees to it.
    status["consent"] = None if consent is None else {"label": consent.label, **consent.texts}
    response = web.json_response(status)
    # Never cached: a status in the browser's cache would tell someone at home that the
    # chat was opened on this device (docs/widget.md). It is small and cheap to answer.
    response.headers["Cache-Control"] = "no-store"
    return response


def add_hours_routes(app: web.Application) -> None:
    app.router.add_get("/api/teams/{slug}/hours", show_hours)
    app.router.add_put("/api/teams/{slug}/hours", change_hours)
    app.router.add_get("/api/teams/{slug}/status", team_status)
