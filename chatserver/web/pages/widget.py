"""The client widget, served from the chat server's own origin (docs/widget.md).

- ``/widget/loader.js``: the embed snippet's script. Other origins load it with Subresource
  Integrity, so it is served with CORS and may be cached for an hour (it is the same for
  every visitor of the agency's site and says nothing about who opened a chat).
- ``/widget/frame/{team}``: the chat page for the iframe, under a strict Content-Security-
  Policy whose ``frame-ancestors`` are the team's allowed origins (and this server). Never
  cached: a chat page in the browser's cache would show someone at home that it was used.
- ``/widget/{file}``: the page's modules and stylesheet, never cached for the same reason.
- ``/widget/shared/{file}``: the modules the widget, the console and the admin area share
  (the end-to-end suite, sign-in, pins, language), from ``widget/shared/``; not cached
  either. The URL is the file's place under ``widget/``, so that the modules' relative
  imports work the same in the browser, under Node and for the type checker.
- The end-to-end modules were ``/widget/e2e-core.js``, ``/widget/e2e-staff.js`` and
  ``/widget/e2e.js`` before they moved to ``shared/``: those URLs redirect there (not
  cached: a cached redirect would show that the chat was used).

Files come from ``static_dir``/widget when that setting is set, else from the installed
package (``chatserver/webroot``: setup.py ships every file under the repository's
``widget/`` there), else from the source checkout the package runs from.
"""

from __future__ import annotations

import base64
import hashlib
import html
import re
from pathlib import Path

from aiohttp import web

from chatserver.policy import frame_csp, widget_dir
from chatserver.protocol.errors import NotFound
from chatserver.web.state import SETTINGS, STORE

__all__ = [
    "add_widget_routes",
    "embed_snippet",
    "file_response",
    "loader_integrity",
]

_FILE = re.compile(r"[a-z0-9-]{1,40}\.(js|css)")
#: Where files that moved are now, below ``/widget/``.
_MOVED = {name: f"shared/{name}" for name in ("e2e-core.js", "e2e-staff.js", "e2e.js")}


def loader_integrity(static_dir: str = "") -> str:
    """The Subresource Integrity value of the loader this server serves."""
    digest = hashlib.sha384((widget_dir(static_dir) / "loader.js").read_bytes()).digest()
    return "sha384-" + base64.b64encode(digest).decode()


def embed_snippet(origin: str, integrity: str, team: str, **data: str | None) -> str:
    """The one tag an agency puts on its website (docs/widget.md, "Embedding")."""
    attributes = "".join(
        f' data-{name}="{html.escape(value)}"'
        for name, value in {"team": team, **data}.items()
        if value
    )
    return (
        f'<script src="{html.escape(origin)}/widget/loader.js" integrity="{integrity}" '
        f'crossorigin="anonymous"{attributes}></script>'
    )


_TYPES = {"js": "text/javascript", "css": "text/css", "html": "text/html"}
_NO_STORE = "no-store"


def file_response(path: Path, what: str) -> web.Response:
    """A widget or console file (js, css, html), compressed when the browser accepts it."""
    try:
        body = path.read_bytes()
    except OSError:
        raise NotFound(f"there is no such {what} file") from None
    response = web.Response(body=body, content_type=_TYPES[path.suffix.lstrip(".")])
    response.charset = "utf-8"
    response.enable_compression()
    return response


def _file(request: web.Request, name: str) -> web.Response:
    return file_response(widget_dir(request.app[SETTINGS].static_dir) / name, "widget")


async def loader(request: web.Request) -> web.Response:
    response = _file(request, "loader.js")
    response.headers["Cache-Control"] = "public, max-age=3600"
    # Another origin's <script integrity=... crossorigin> needs CORS to check the hash.
    response.headers["Access-Control-Allow-Origin"] = "*"
    response.headers["Cross-Origin-Resource-Policy"] = "cross-origin"
    return response


async def frame(request: web.Request) -> web.Response:
    store = request.app[STORE]
    team = await store.team_by_slug(request.match_info["team"])
    if team is None or team.archived_at is not None:
        raise NotFound("there is no such team")
    origins = sorted(await store.team_origins(team.id))
    response = _file(request, "frame.html")
    response.headers["Content-Security-Policy"] = frame_csp(request.app[SETTINGS].origin, origins)
    response.headers["Cache-Control"] = _NO_STORE
    return response


async def asset(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    if not _FILE.fullmatch(name) or name == "loader.js":
        raise NotFound("there is no such widget file")
    if name in _MOVED:
        raise web.HTTPMovedPermanently(
            f"/widget/{_MOVED[name]}", headers={"Cache-Control": _NO_STORE}
        )
    response = _file(request, name)
    response.headers["Cache-Control"] = _NO_STORE
    return response


async def shared_asset(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    if not _FILE.fullmatch(name):
        raise NotFound("there is no such widget file")
    response = _file(request, f"shared/{name}")
    response.headers["Cache-Control"] = _NO_STORE
    return response


def add_widget_routes(app: web.Application) -> None:
    app.router.add_get("/widget/loader.js", loader)
    app.router.add_get("/widget/frame/{team}", frame)
    app.router.add_get("/widget/shared/{name}", shared_asset)
    app.router.add_get("/widget/{name}", asset)
