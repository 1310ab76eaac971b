"""The duty console (docs/console.md), served from the chat server's own origin.

- ``/console``: the page, under a Content-Security-Policy that allows nothing but this
  server's own modules, styles and WebSocket, and never in a frame.
- ``/console/{file}``: its modules and stylesheet. What it shares with the widget and the
  admin area (the end-to-end modules, sign-in, pins) comes from ``/widget/shared/``, and
  the conversation logic from ``/widget/chat-core.js``.

Nothing is cached: a console holds decrypted conversations in memory only, and its code
must be the code this server serves now. Files come from the ``console`` folder beside
the widget's (see :func:`chatserver.web.pages.widget.widget_dir`).
"""

from __future__ import annotations

import re

from aiohttp import web

from chatserver.policy import console_csp, widget_dir
from chatserver.protocol.errors import NotFound
from chatserver.web.pages.widget import file_response
from chatserver.web.state import SETTINGS

__all__ = ["add_console_routes"]

_FILE = re.compile(r"[a-z0-9-]{1,40}\.(js|css)")


def _file(request: web.Request, name: str) -> web.Response:
    folder = widget_dir(request.app[SETTINGS].static_dir) / "console"
    response = file_response(folder / name, "console")
    response.headers["Cache-Control"] = "no-store"
    return response


async def page(request: web.Request) -> web.Response:
    response = _file(request, "index.html")
    response.headers["Content-Security-Policy"] = console_csp(request.app[SETTINGS].origin)
    return response


async def asset(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    if not _FILE.fullmatch(name):
        raise NotFound("there is no such console file")
    return _file(request, name)


def add_console_routes(app: web.Application) -> None:
    app.router.add_get("/console", page)
    app.router.add_get("/console/", page)
    app.router.add_get("/console/{name}", asset)
