"""HTTP endpoints: staff login and session, health, metrics, the start page."""

from __future__ import annotations

import asyncio
import base64
import hmac
import html
import json
import logging
from pathlib import Path
from typing import Any

from aiohttp import web
from sqlalchemy import text

from ..auth import (
    csrf_token,
    hash_token,
    new_token,
    normalise_username,
    verify_credential,
    verify_totp,
)
from ..protocol.errors import Forbidden, MalformedFrame, RateLimited, Unauthorized
from ..redis_hub import RedisHub
from ..storage.staff import kdf_salt
from ..storage.store import StaffRow
from .keys import CLOCK, DB, HUB, METRICS, SETTINGS, STORE, THROTTLE

log = logging.getLogger("chatserver.web")

STATIC = Path(__file__).parent / "static"


def cookie_name(request: web.Request) -> str:
    # The __Host- prefix makes browsers refuse the cookie unless Secure, path=/ and no Domain.
    return "__Host-chat_session" if request.app[SETTINGS].cookie_secure else "chat_session"


#: What a signed-in account without two-factor sign-in may still reach when
#: ``require_totp`` is on: enough to enrol it (and to unlock its keys, and to leave).
ENROLMENT_PATHS = frozenset(
    {"/api/me", "/api/me/identity", "/api/me/totp", "/api/me/totp/confirm", "/api/logout"}
)
TOTP_FIRST = "set up two-factor sign-in first"


def now_ms(request: web.Request) -> int:
    """The server's clock (a dependency: tests inject one) in unix milliseconds."""
    return int(request.app[CLOCK]() * 1000)


async def staff_in_role(request: web.Request, roles: tuple[str, ...], *, write: bool) -> StaffRow:
    """The signed-in staff member when their role is one of ``roles`` (with the CSRF token
    checked for a write), else ``forbidden``."""
    staff, token = await current_staff(request)
    if write:
        check_csrf(request, token)
    if staff.role not in roles:
        raise Forbidden(f"only {' and '.join(r + 's' for r in roles)} may do this")
    return staff


async def check_team_access(request: web.Request, staff: StaffRow, team_id: int) -> None:
    """Admins reach every team; everyone else only the teams they are members of."""
    if staff.role != "admin" and not await request.app[STORE].is_member(staff.id, team_id):
        raise Forbidden("this team is not yours")


async def current_staff(request: web.Request, *, slide: bool = True) -> tuple[StaffRow, str]:
    """The staff member behind the request's session cookie, and the session token.

    With ``require_totp`` on, an account without TOTP gets ``forbidden`` everywhere but
    :data:`ENROLMENT_PATHS` (the console socket included): this is the one gate. A check
    that is not the person's own activity passes ``slide=False`` (the session's expiry
    stays where it is)."""
    token = request.cookies.get(cookie_name(request))
    if not token:
        raise Unauthorized("please sign in")
    settings = request.app[SETTINGS]
    ttl = int(settings.session_hours * 3_600_000)
    staff = await request.app[STORE].session_staff(
        hash_token(token), int(request.app[CLOCK]() * 1000), ttl, slide=slide
    )
    if staff is None:
        raise Unauthorized("your session has expired; please sign in again")
    if settings.require_totp and not staff.totp_secret and request.path not in ENROLMENT_PATHS:
        raise Forbidden(TOTP_FIRST)
    return staff, token


async def read_json(request: web.Request, max_bytes: int) -> Any:
    """The request's JSON body, refused as ``malformed`` when larger or not JSON."""
    if request.content_length is None or request.content_length > max_bytes:
        raise MalformedFrame(f"send a JSON body of at most {max_bytes} bytes")
    try:
        return json.loads(await request.read())
    except ValueError:
        raise MalformedFrame("the body must be JSON") from None


def check_csrf(request: web.Request, token: str) -> None:
    sent = request.headers.get("X-CSRF-Token", "")
    if not hmac.compare_digest(sent, csrf_token(token)):
        raise Unauthorized("missing or wrong CSRF token; reload the page")


def _staff_json(staff: StaffRow) -> dict[str, Any]:
    return {
        "id": staff.id,
        "username": staff.username,
        "name": staff.display_name,
        "role": staff.role,
        "salt": staff.kdf_salt,  # the identity wrap is bound to it (docs/e2e.md, Passwords)
    }


async def _json_body(request: web.Request, fields: tuple[str, ...]) -> dict[str, str]:
    if request.content_length is not None and request.content_length > 4096:
        raise MalformedFrame("request body too large")
    try:
        data = json.loads(await request.read())
    except ValueError:
        raise MalformedFrame("the body must be JSON") from None
    if not isinstance(data, dict) or any(not isinstance(data.get(k), str) for k in fields):
        raise MalformedFrame(f"the body needs the string fields: {', '.join(fields)}")
    return {k: data[k] for k in fields}


async def login_salt(request: web.Request) -> web.Response:
    """What a console salts the password of ``username`` with before it derives the login
    credential (docs/e2e.md, "Passwords"). Public; a username without an account gets the
    installation id, the salt of every account made since migration 0011, so the answer
    does not tell which accounts exist."""
    body = await _json_body(request, ("username",))
    async with request.app[DB].read() as conn:
        salt = await kdf_salt(conn, normalise_username(body["username"])[:80])
    return web.json_response({"salt": salt})


async def login(request: web.Request) -> web.Response:
    """Check the derived credential (Argon2id) and the TOTP code; start a session."""
    app = request.app
    settings, store, throttle, clock = app[SETTINGS], app[STORE], app[THROTTLE], app[CLOCK]
    body = await _json_body(request, ("username", "credential", "totp"))
    username, now = normalise_username(body["username"])[:80], clock()
    if not throttle.allowed(username, now):
        app[METRICS].inc("chat_logins_total", "Staff login attempts.", result="throttled")
        raise RateLimited("too many attempts; wait a few minutes")
    throttle.attempt(now)
    staff = await store.staff_by_username(username)
    usable = staff if staff is not None and staff.disabled_at is None else None
    ok = await asyncio.to_thread(
        verify_credential, usable.credential_hash if usable else None, body["credential"]
    )
    step = None
    if ok and staff is not None and staff.totp_secret:
        step = verify_totp(staff.totp_secret, body["totp"], now)
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


async def healthz(request: web.Request) -> web.Response:
    """Ready: the database answers, and Redis when several processes share it."""
    try:
        async with request.app[DB].read() as conn:
            await conn.execute(text("SELECT 1"))
    except Exception:
        log.exception("event=health_failed part=database")
        return web.json_response({"status": "unavailable", "database": False}, status=503)
    hub = request.app[HUB]
    if isinstance(hub, RedisHub) and not await hub.ping():
        log.warning("event=health_failed part=redis")
        return web.json_response({"status": "unavailable", "redis": False}, status=503)
    return web.json_response({"status": "ok"})


async def alive(_request: web.Request) -> web.Response:
    """Alive: the process serves requests (restart it when this fails)."""
    return web.json_response({"status": "alive"})


async def metrics(request: web.Request) -> web.Response:
    return web.Response(text=request.app[METRICS].render(), content_type="text/plain")


async def index(request: web.Request) -> web.Response:
    """The start page; with the demo team (``chatserver demo``) it embeds the widget as an
    agency's website would, and shows the snippet that does it."""
    page = (STATIC / "index.html").read_text("utf-8")
    return web.Response(
        text=page.replace("<!-- demo -->", await _demo_section(request)), content_type="text/html"
    )


async def _demo_section(request: web.Request) -> str:
    from .. import e2e
    from ..epochs import Epochs
    from ..protocol.errors import NotFound
    from .widget_http import embed_snippet, loader_integrity

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


def add_routes(app: web.Application) -> None:
    app.router.add_get("/", index)
    app.router.add_post("/api/login", login)
    app.router.add_post("/api/login/salt", login_salt)
    app.router.add_post("/api/logout", logout)
    app.router.add_get("/api/me", me)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/healthz/live", alive)
    app.router.add_get("/metrics", metrics)
    app.router.add_static("/static/", STATIC, append_version=False)
