"""The admin area (docs/admin.md), served from the chat server's own origin like the duty
console (:mod:`chatserver.web.pages.console`).

- ``/admin``: the page, under the console's Content-Security-Policy (this server's own
  modules, styles, images and connections only), never in a frame.
- ``/admin/{file}``: its modules and stylesheet, from the ``admin`` folder beside the
  widget's. Sign-in and the end-to-end modules come from ``/widget/shared/``.

Nothing is cached: keys unlocked in the admin area live in the page's memory only, and its
code must be the code this server serves now. What each page may do is checked by the API
endpoints it calls, never by the page.
"""

from __future__ import annotations

import re

from aiohttp import web

from chatserver.policy import admin_csp, widget_dir
from chatserver.protocol.errors import NotFound
from chatserver.web.pages.widget import file_response
from chatserver.web.state import SETTINGS

__all__ = ["add_admin_page_routes", "admin_csp"]

_FILE = re.compile(r"[a-z0-9-]{1,40}\.(js|css)")


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
