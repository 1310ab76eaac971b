"""HTTP endpoints of two-factor enrolment at the first sign-in (:mod:`chatserver.staff.totp`):
the signed-in account asks for a secret, shows it as a QR code, and confirms a code.
Both stay reachable while ``require_totp`` keeps everything else closed
(:data:`chatserver.web.guards.ENROLMENT_PATHS`)."""

from __future__ import annotations

import logging

from aiohttp import web

from chatserver.protocol.bodies import TotpConfirm
from chatserver.protocol.errors import RateLimited, Unauthorized
from chatserver.staff import totp
from chatserver.staff.auth import LoginThrottle
from chatserver.web.guards import check_csrf, current_staff, read_body
from chatserver.web.state import CLOCK, DB, SETTINGS, THROTTLE

log = logging.getLogger("chatserver.web")

#: Wrong enrolment codes per account, apart from sign-in failures (in memory only).
ENROL_THROTTLE = web.AppKey("totp_enrol_throttle", LoginThrottle)


async def start(request: web.Request) -> web.Response:
    """``{"secret", "uri"}``: a fresh pending secret; 409 when TOTP is set up already."""
    staff, token = await current_staff(request)
    check_csrf(request, token)
    secret = await totp.begin(request.app[DB], staff.id)
    uri = totp.provisioning_uri(secret, staff.username, request.app[SETTINGS].origin)
    return web.json_response({"secret": secret, "uri": uri})


async def confirm(request: web.Request) -> web.Response:
    """``{"code"}`` from the pending secret makes it the account's; audited."""
    staff, token = await current_staff(request)
    check_csrf(request, token)
    body = await read_body(request, TotpConfirm, 1024)
    throttle, now = request.app[ENROL_THROTTLE], request.app[CLOCK]()
    if not throttle.allowed(staff.id, now):
        raise RateLimited("too many wrong codes; wait a few minutes")
    try:
        step = await totp.confirm(request.app[DB], staff.id, body.code, now)
    except Unauthorized:
        throttle.failed(staff.id, now)
        raise
    throttle.succeeded(staff.id)
    # The code just used cannot sign in again (the same rule as at sign-in).
    request.app[THROTTLE].used_steps[staff.id] = step
    log.info("event=totp_enrolled staff=%s", staff.id)
    return web.json_response({"totp": True})


def add_totp_routes(app: web.Application) -> None:
    app[ENROL_THROTTLE] = LoginThrottle(attempts=app[SETTINGS].login_attempts)
    app.router.add_post("/api/me/totp", start)
    app.router.add_post("/api/me/totp/confirm", confirm)
