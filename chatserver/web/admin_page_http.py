"""The admin area (docs/admin.md), served from the chat server's own origin like the duty
console (:mod:`chatserver.web.console_http`).

- ``/admin``: the page, under the console's Content-Security-Policy (this server's own
  modules, styles, images and connections only), never in a frame.
- ``/admin/{file}``: its modules and stylesheet, from the ``admin`` folder beside the
  widget's. Sign-in and the end-to-end modules come from ``/console/`` and ``/widget/``.

Nothing is cached: keys unlocked in the admin area live in the page's memory only, and its
code must be the code this server serves now. What each page may do is checked by the API
endpoints it calls, never by the page.
"""

from __future__ import annotations

import re

from aiohttp import web

from ..protocol.errors import NotFound
from .console_http import console_csp
from .keys import SETTINGS
from .widget_http import file_response, widget_dir

__all__ = ["add_admin_page_routes", "admin_csp"]

_FILE = re.compile(r"[a-z0-9-]{1,40}\.(js|css)")


def admin_csp(own_origin: str) -> str:
    """The console's policy, and frames from this server: the snippet page's preview."""
    return console_csp(own_origin) + "; frame-src 'self'"


def _file(request: web.Request, name: str) -> web.Response:
    folder = widget_dir(request.app[SETTINGS].static_dir) / "admin"
    response = file_response(folder / name, "admin")
    response.headers["Cache-Control"] = "no-store"
    return response


async def page(request: web.Request) -> web.Response:
    response = _file(request, "index.html")
    response.headers["Content-Security-Policy"] = admin_csp(request.app[SETTINGS].origin)
    response.headers["X-Frame-Options"] = "DENY"
    return response


async def asset(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    if not _FILE.fullmatch(name):
        raise NotFound("there is no such admin file")
    return _file(request, name)


def add_admin_page_routes(app: web.Application) -> None:
    app.router.add_get("/admin", page)
    app.router.add_get("/admin/", page)
    app.router.add_get("/admin/{name}", asset)
