"""HTTP endpoints of a team's consent text (:mod:`chatserver.teams.consent`): read by the team's
admins and supervisors, changed by admins (a new version each time). The widget reads the
current text with the team's public status (``hours_http.team_status``)."""

from __future__ import annotations

import re

from aiohttp import web

from chatserver.protocol.bodies import ConsentTexts
from chatserver.protocol.errors import Malformed
from chatserver.records import privacy, privacy_render
from chatserver.teams.consent import LANGUAGES, consent_history, parse_texts, save_consent
from chatserver.web.api.teams import team_of
from chatserver.web.guards import check_team_access, now_ms, read_body, staff_in_role
from chatserver.web.state import DB, SETTINGS

__all__ = ["add_consent_routes"]

MAX_BODY = 32 * 1024


async def show_consent(request: web.Request) -> web.Response:
    """The current version (``null`` without any: the widget's statement alone) and every
    earlier one, newest first."""
    staff = await staff_in_role(request, ("admin", "supervisor"), write=False)
    team = await team_of(request)
    await check_team_access(request, staff, team.id)
    async with request.app[DB].read() as conn:
        history = await consent_history(conn, team.id)
    return web.json_response(
        {
            "team": team.slug,
            "current": history[0].to_json() if history else None,
            "history": [c.to_json() for c in history],
        }
    )


async def change_consent(request: web.Request) -> web.Response:
    admin = await staff_in_role(request, ("admin",), write=True)
    team = await team_of(request)
    texts = parse_texts(await read_body(request, ConsentTexts, MAX_BODY))
    async with request.app[DB].write() as conn:
        current = await save_consent(conn, team.id, texts, admin.id, now_ms(request))
    return web.json_response({"team": team.slug, "current": current.to_json()})


_PLACEHOLDER = re.compile(r"\s*\[[^\]]*\]")


async def suggest_consent(request: web.Request) -> web.Response:
    """A starting point for the text: the consent-screen paragraph of the privacy notice
    (``chatserver privacy-report --notice``) with this team's retention periods filled in,
    without the notice's placeholders for the agency."""
    await staff_in_role(request, ("admin",), write=False)
    team = await team_of(request)
    data = await privacy.collect(request.app[DB], request.app[SETTINGS], now_ms(request))
    texts = {}
    for lang in LANGUAGES:
        try:
            kind, body = privacy_render.notice_blocks(data, lang, team.slug)[-1]
        except privacy.PrivacyError as exc:
            raise Malformed(str(exc)) from None
        texts[lang] = _PLACEHOLDER.sub("", str(body)).strip() if kind == "p" else ""
    return web.json_response({"team": team.slug, "texts": texts})


def add_consent_routes(app: web.Application) -> None:
    app.router.add_get("/api/teams/{slug}/consent", show_consent)
    app.router.add_put("/api/teams/{slug}/consent", change_consent)
    app.router.add_get("/api/teams/{slug}/consent/suggestion", suggest_consent)
