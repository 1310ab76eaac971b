"""What every staff endpoint checks first: the session behind the cookie (and the
two-factor gate), the role, the team, the CSRF token; and the request's JSON body and the
server's clock. Handlers call these; nothing else reads the cookie."""

from __future__ import annotations

import hmac
import json
from typing import Any, TypeVar

from aiohttp import web

from chatserver.policy import session_cookie
from chatserver.protocol.bodies import Body
from chatserver.protocol.codec import decode_body
from chatserver.protocol.errors import Forbidden, Malformed, Unauthorized
from chatserver.staff.auth import (
    csrf_token,
    hash_token,
)
from chatserver.storage.store import StaffRow
from chatserver.web.state import CLOCK, SETTINGS, STORE

B = TypeVar("B", bound=Body)


def cookie_name(request: web.Request) -> str:
    """The staff session cookie's name (chatserver.policy)."""
    return session_cookie(request.app[SETTINGS])


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
        raise Malformed(f"send a JSON body of at most {max_bytes} bytes")
    try:
        return json.loads(await request.read())
    except (ValueError, RecursionError):
        raise Malformed("the body must be JSON") from None


async def read_body(request: web.Request, cls: type[B], max_bytes: int) -> B:
    """The request's JSON body checked against the body class ``cls``
    (:mod:`chatserver.protocol.bodies`), or ``malformed`` saying what is wrong."""
    return decode_body(await read_json(request, max_bytes), cls)


def check_csrf(request: web.Request, token: str) -> None:
    sent = request.headers.get("X-CSRF-Token", "")
    if not hmac.compare_digest(sent, csrf_token(token)):
        raise Unauthorized("missing or wrong CSRF token; reload the page")
