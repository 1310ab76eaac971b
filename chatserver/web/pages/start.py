"""The start page (``/``) and its stylesheet; with the demo team (``chatserver demo``) it
embeds the widget as an agency's website would."""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path

from aiohttp import web

from chatserver.web.state import CLOCK, DB, SETTINGS, STORE

STATIC = Path(__file__).parent / "static"


async def index(request: web.Request) -> web.Response:
    """The start page; with the demo team (``chatserver demo``) it embeds the widget as an
    agency's website would, and shows the snippet that does it."""
    page = (STATIC / "index.html").read_text("utf-8")
    return web.Response(
        text=page.replace("<!-- demo -->", await _demo_section(request)), content_type="text/html"
    )


async def _demo_section(request: web.Request) -> str:
    from chatserver import e2e
    from chatserver.protocol.errors import NotFound
    from chatserver.teams.epochs import Epochs
    from chatserver.web.pages.widget import embed_snippet, loader_integrity

    team = await request.app[STORE].team_by_slug("demo")
    if team is None:
        return ""
    try:
        bundle = await Epochs(request.app[DB]).current(team.id, int(request.app[CLOCK]() * 1000))
    except NotFound:
        return ""
    settings = request.app[SETTINGS]
    pin = e2e.pin(base64.b64decode(json.loads(bundle.canonical)["r_pub"]))
    snippet = embed_snippet(
        settings.origin,
        loader_integrity(settings.static_dir),
        "demo",
        pin=pin,
        exit="https://www.wikipedia.org/",
        lang="en",
    )
    return (
        "<h2>Demo</h2><p>The button at the bottom of this page is the client widget of the demo "
        "team, embedded exactly as an agency's website would embed it with this tag (the pin "
        "is the fingerprint of the team's root key):</p>"
        f"<pre><code>{html.escape(snippet)}</code></pre>"
        "<p>Chats you start wait in the demo team's queue, encrypted end to end.</p>" + snippet
    )


def add_start_routes(app: web.Application) -> None:
    app.router.add_get("/", index)
    app.router.add_static("/static/", STATIC, append_version=False)
