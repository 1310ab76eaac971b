"""Staff sign-in: the password's salt, login with the derived credential and the TOTP
code, logout, and who is signed in (``/api/login``, ``/api/login/salt``, ``/api/logout``,
``/api/me``)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiohttp import web

from chatserver.protocol.bodies import Login, LoginSalt
from chatserver.protocol.errors import RateLimited, Unauthorized
from chatserver.staff.auth import (
    csrf_token,
    hash_token,
    new_token,
    normalise_username,
    verify_credential,
    verify_totp,
)
from chatserver.storage.staff import kdf_salt
from chatserver.storage.store import StaffRow
from chatserver.web.guards import check_csrf, cookie_name, current_staff, read_body
from chatserver.web.state import CLOCK, DB, METRICS, SETTINGS, STORE, THROTTLE

MAX_BODY = 4096

log = logging.getLogger("chatserver.web")


def _staff_json(staff: StaffRow) -> dict[str, Any]:
    return {
        "id": staff.id,
        "username": staff.username,
        "name": staff.display_name,
        "role": staff.role,
        "salt": staff.kdf_salt,  # the identity wrap is bound to it (docs/e2e.md, Passwords)
    }


async def login_salt(request: web.Request) -> web.Response:
    """What a console salts the password of ``username`` with before it derives the login
    credential (docs/e2e.md, "Passwords"). Public; a username without an account gets the
    installation id, the salt of every account made since migration 0011, so the answer
    does not tell which accounts exist."""
    body = await read_body(request, LoginSalt, MAX_BODY)
    async with request.app[DB].read() as conn:
        salt = await kdf_salt(conn, normalise_username(body.username)[:80])
    return web.json_response({"salt": salt})


async def login(request: web.Request) -> web.Response:
    """Check the derived credential (Argon2id) and the TOTP code; start a session."""
    app = request.app
    settings, store, throttle, clock = app[SETTINGS], app[STORE], app[THROTTLE], app[CLOCK]
    body = await read_body(request, Login, MAX_BODY)
    username, now = normalise_username(body.username)[:80], clock()
    if not throttle.allowed(username, now):
        app[METRICS].inc("chat_logins_total", "Staff login attempts.", result="throttled")
        raise RateLimited("too many attempts; wait a few minutes")
    throttle.attempt(now)
    staff = await store.staff_by_username(username)
    usable = staff if staff is not None and staff.disabled_at is None else None
    ok = await asyncio.to_thread(
        verify_credential, usable.credential_hash if usable else None, body.credential
    )
    step = None
    if ok and staff is not None and staff.totp_secret:
        step = verify_totp(staff.totp_secret, body.totp, now)
        ok = step is not None and throttle.used_steps.get(staff.id, -1) < step
    if not ok or staff is None:
        throttle.failed(username, now)
        app[METRICS].inc("chat_logins_total", "Staff login attempts.", result="failed")
        raise Unauthorized("wrong username, password or code")
    if step is not None:
        throttle.used_steps[staff.id] = step
    throttle.succeeded(username)
    token = new_token()
    ttl = int(settings.session_hours * 3_600_000)
    await store.create_session(hash_token(token), staff.id, int(now * 1000), ttl)
    app[METRICS].inc("chat_logins_total", "Staff login attempts.", result="ok")
    log.info("event=login staff=%s", staff.id)
    response = web.json_response({"staff": _staff_json(staff), "csrf": csrf_token(token)})
    response.set_cookie(
        cookie_name(request),
        token,
        max_age=ttl // 1000,
        path="/",
        httponly=True,
        secure=settings.cookie_secure,
        samesite="Strict",
    )
    return response


async def logout(request: web.Request) -> web.Response:
    staff, token = await current_staff(request)
    check_csrf(request, token)
    await request.app[STORE].delete_session(hash_token(token))
    log.info("event=logout staff=%s", staff.id)
    response = web.json_response({"ok": True})
    secure = request.app[SETTINGS].cookie_secure
    response.del_cookie(
        cookie_name(request), path="/", secure=secure, httponly=True, samesite="Strict"
    )
    return response


async def me(request: web.Request) -> web.Response:
    staff, token = await current_staff(request)
    teams = await request.app[STORE].staff_teams(staff.id)
    return web.json_response(
        {
            "staff": _staff_json(staff),
            "teams": sorted(teams.values()),
            "csrf": csrf_token(token),
            "totp": staff.totp_secret is not None,
            "totp_required": request.app[SETTINGS].require_totp,
        }
    )


def add_session_routes(app: web.Application) -> None:
    app.router.add_post("/api/login", login)
    app.router.add_post("/api/login/salt", login_salt)
    app.router.add_post("/api/logout", logout)
    app.router.add_get("/api/me", me)
