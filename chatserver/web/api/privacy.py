"""``GET /api/admin/privacy-report``: the privacy report of :mod:`chatserver.records.privacy` for
the admin area, made from the running settings and database at each request.

Admins only (401 without a session, 403 for counsellors and supervisors). ``?format=json``
(the default) is the data both renderings are made from, ``md`` the Markdown,
``html`` a printable page that loads nothing (its policy allows its one inline style).
``?notice=de|en`` (with ``&team=SLUG`` when the teams' rules differ) gives the privacy
notice texts instead, in Markdown or HTML.
"""

from __future__ import annotations

from aiohttp import web

from chatserver.protocol.errors import Malformed
from chatserver.records import privacy, privacy_render
from chatserver.web.guards import now_ms, staff_in_role
from chatserver.web.state import DB, SETTINGS

__all__ = ["add_privacy_routes"]

FORMATS = {"json": "application/json", "md": "text/markdown", "html": "text/html"}


async def privacy_report(request: web.Request) -> web.Response:
    await staff_in_role(request, ("admin",), write=False)
    fmt = request.query.get("format", "json")
    notice = request.query.get("notice")
    if fmt not in FORMATS or (notice is not None and fmt == "json"):
        raise Malformed("format is json, md or html (a notice: md or html)")
    if notice is not None and notice not in ("de", "en"):
        raise Malformed("notice is de or en")
    data = await privacy.collect(request.app[DB], request.app[SETTINGS], now_ms(request))
    if fmt == "json":
        return web.json_response(data)
    try:
        text = privacy_render.render(data, fmt, notice, request.query.get("team"))
    except privacy.PrivacyError as exc:
        raise Malformed(str(exc)) from None
    response = web.Response(text=text, content_type=FORMATS[fmt], charset="utf-8")
    if fmt == "html":
        response.headers["Content-Security-Policy"] = privacy_render.html_csp()
    return response


def add_privacy_routes(app: web.Application) -> None:
    app.router.add_get("/api/admin/privacy-report", privacy_report)
