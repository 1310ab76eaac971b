"""The live preview of the admin area's embed-snippet page (docs/admin.md, "Embed
snippet"): ``/admin/preview?team=SLUG&...`` is a page holding exactly the snippet the
admin is about to copy, so the admin sees the launcher and the chat as a website's
visitors will. The admin page frames it (same origin); the chat page it opens is the real
widget, so a chat started there reaches the team's queue, as the page says.

Every parameter is checked as the loader would read it, and goes into the page escaped;
the page runs no script of its own and is never cached.
"""

from __future__ import annotations

import html
import re

from aiohttp import web

from chatserver.policy import preview_csp
from chatserver.protocol.errors import Malformed, NotFound
from chatserver.web.pages.widget import embed_snippet, loader_integrity
from chatserver.web.state import SETTINGS, STORE

__all__ = ["add_snippet_routes", "preview_csp"]

_CHECKS = {
    "pin": re.compile(r"[A-Za-z0-9_-]{43}"),
    "topic": re.compile(r"[a-z0-9][a-z0-9-]{0,39}"),
    "lang": re.compile(r"de|en"),
    "position": re.compile(r"left|right"),
    "color": re.compile(r"#[0-9a-fA-F]{6}"),
    "text-color": re.compile(r"#[0-9a-fA-F]{6}"),
    "label": re.compile(r"[^<>\x00-\x1f]{1,60}"),
    "exit": re.compile(r"https?://[^\s\"'<>]{1,300}"),
}


async def preview(request: web.Request) -> web.Response:
    query = request.query
    slug = query.get("team", "")
    team = await request.app[STORE].team_by_slug(slug)
    if team is None or team.archived_at is not None:
        raise NotFound("there is no such team")
    data: dict[str, str | None] = {}
    for name, pattern in _CHECKS.items():
        value = query.get(name)
        if value is None or value == "":
            continue
        if not pattern.fullmatch(value):
            raise Malformed(f"{name} is not valid here")
        data[name] = value
    unknown = set(query) - {"team", *_CHECKS}
    if unknown:
        raise Malformed(f"unknown setting: {sorted(unknown)[0]}")
    settings = request.app[SETTINGS]
    snippet = embed_snippet(
        settings.origin, loader_integrity(settings.static_dir), team.slug, **data
    )
    lang = data.get("lang") or "en"
    body = (
        f'<!doctype html><html lang="{lang}"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>Preview: {html.escape(team.name)}</title></head>"
        f"<body><main><h1>{html.escape(team.name)}</h1>"
        "<p>This is how the widget looks on your website.</p></main>"
        f"{snippet}</body></html>"
    )
    response = web.Response(text=body, content_type="text/html")
    response.headers["Content-Security-Policy"] = preview_csp()
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


def add_snippet_routes(app: web.Application) -> None:
    app.router.add_get("/admin/preview", preview)
