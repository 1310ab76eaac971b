"""Two-factor enrolment at the first sign-in, through the real server on SQLite and
PostgreSQL: with ``require_totp`` an account without TOTP reaches only its own enrolment
(and /api/me, its identity, logout) until it confirms a code; a pending secret is never a
sign-in factor; enrolled accounts cannot enrol again."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
import pyotp
import pytest
from conftest import ORIGIN, FakeClock, Server, credential, dump
from sqlalchemy import select
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from chatserver.ops import cli
from chatserver.sdk.peers import ChatRefused, login
from chatserver.storage import models as m

CLOSE_POLICY_VIOLATION = 1008
TOTP_FIRST = "set up two-factor sign-in first"
#: Endpoints an account without TOTP may not use while require_totp is on.
GATED = [
    ("GET", "/api/teams/alpha/canned"),
    ("GET", "/api/teams/alpha/roster"),
    ("GET", "/api/teams/alpha/team-keys/mine"),
    ("GET", "/api/teams/alpha/epochs"),
]


@dataclass
class Session:
    server: Server
    cookie: str
    csrf: str

    async def __call__(
        self, method: str, path: str, body: Any = None, *, csrf: bool = True
    ) -> tuple[int, Any]:
        headers = {"Origin": ORIGIN, "Cookie": self.cookie}
        if csrf:
            headers["X-CSRF-Token"] = self.csrf
        async with (
            aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as http,
            http.request(method, self.server.url + path, json=body, headers=headers) as r,
        ):
            return r.status, await r.json()


async def sign_in(server: Server, username: str, totp: str = "") -> Session:
    cookie, csrf = await login(
        server.url, username, credential=credential(username), totp=totp, origin=ORIGIN
    )
    return Session(server, cookie, csrf)


async def gated(session: Session, method: str, path: str) -> bool:
    """Whether the two-factor gate refused the request (a role check may still refuse)."""
    status, body = await session(method, path)
    return status == 403 and body["error"]["message"] == TOTP_FIRST


async def console_refusal(server: Server, cookie: str) -> tuple[dict[str, Any], int | None]:
    """The console socket's one frame and its close code."""
    url = server.url.replace("http://", "ws://") + "/ws/console"
    async with connect(url, origin=ORIGIN, additional_headers={"Cookie": cookie}) as ws:  # type: ignore[arg-type]
        frame = json.loads(await ws.recv())
        with pytest.raises(ConnectionClosed):
            await ws.recv()
        return frame, ws.close_code


async def secrets_of(server: Server, username: str) -> tuple[str | None, str | None]:
    s = m.staff.c
    async with server.db.read() as conn:
        row = (
            await conn.execute(select(s.totp_secret, s.totp_pending).where(s.username == username))
        ).one()
    return row.totp_secret, row.totp_pending


@pytest.fixture
async def strict(make_server: Callable[..., Any]) -> tuple[Server, FakeClock]:
    """A server with require_totp on, team alpha and anna, a counsellor without TOTP."""
    clock = FakeClock()
    server: Server = await make_server(clock=clock, require_totp=True)
    await server.team("alpha")
    await server.staff("anna", ["alpha"])
    return server, clock


# --------------------------------------------------------------------------- enrolment
async def test_enrolment_opens_the_console(strict: tuple[Server, FakeClock]) -> None:
    """Before: /api/me says so, staff APIs are 403 and the console closes with
    `forbidden`. Enrol with a code from the secret; after: everything works, audited."""
    server, clock = strict
    anna = await sign_in(server, "anna")
    status, me = await anna("GET", "/api/me")
    assert status == 200 and (me["totp"], me["totp_required"]) == (False, True)
    for method, path in GATED:
        status, body = await anna(method, path)
        assert status == 403, (path, body)
        assert body["error"] == {"code": "forbidden", "message": TOTP_FIRST}
    frame, code = await console_refusal(server, anna.cookie)
    assert (frame["type"], frame["code"], frame["message"]) == ("error", "forbidden", TOTP_FIRST)
    assert code == CLOSE_POLICY_VIOLATION
    assert (await anna("GET", "/api/me/identity"))[0] != 403

    status, started = await anna("POST", "/api/me/totp")
    assert status == 200, started
    parsed = pyotp.parse_uri(started["uri"])
    assert parsed.secret == started["secret"]
    assert (parsed.issuer, parsed.name) == ("chat.test", "anna")
    assert started["uri"].startswith("otpauth://totp/chat.test:anna?")

    code_now = pyotp.TOTP(started["secret"]).at(clock.now)
    status, done = await anna("POST", "/api/me/totp/confirm", {"code": code_now})
    assert (status, done) == (200, {"totp": True})
    assert await secrets_of(server, "anna") == (started["secret"], None)
    status, me = await anna("GET", "/api/me")
    assert me["totp"] is True
    for method, path in GATED:
        assert not await gated(anna, method, path), path
    peer = await server.console_with_cookie(anna.cookie)
    assert peer.hello["staff"] == me["staff"]["id"]

    async with server.db.read() as conn:
        rows = list(await conn.execute(select(m.audit).where(m.audit.c.action.like("staff.totp%"))))
    assert [(r.action, r.actor, r.target) for r in rows] == [
        ("staff.totp_enrolled", me["staff"]["id"], me["staff"]["id"])
    ]
    assert started["secret"] not in rows[0].detail

    # From now on sign-in needs a code, and the one used to confirm is spent.
    with pytest.raises(ChatRefused):
        await sign_in(server, "anna")
    with pytest.raises(ChatRefused):
        await sign_in(server, "anna", code_now)
    clock.advance(30)
    await sign_in(server, "anna", pyotp.TOTP(started["secret"]).at(clock.now))


async def test_a_wrong_code_is_refused_and_changes_nothing(
    strict: tuple[Server, FakeClock],
) -> None:
    """A wrong or malformed code leaves the account without TOTP; confirming before
    starting is 404; wrong codes are throttled."""
    server, clock = strict
    anna = await sign_in(server, "anna")
    status, body = await anna("POST", "/api/me/totp/confirm", {"code": "123456"})
    assert (status, body["error"]["code"]) == (404, "not_found")
    _, started = await anna("POST", "/api/me/totp")
    right = pyotp.TOTP(started["secret"]).at(clock.now)
    wrong = f"{(int(right) + 1) % 1_000_000:06d}"
    before = await dump(server.settings.database_url)
    for bad in ({"code": wrong}, {"code": "12345"}, {"code": 123456}, {}, {"code": right, "x": 1}):
        status, body = await anna("POST", "/api/me/totp/confirm", bad)
        assert status in (400, 401), (bad, body)
        assert body["error"]["code"] == ("unauthorized" if status == 401 else "malformed")
    assert await dump(server.settings.database_url) == before
    for _ in range(server.settings.login_attempts - 2):  # two wrong codes were tried above
        assert (await anna("POST", "/api/me/totp/confirm", {"code": wrong}))[0] == 401
    status, body = await anna("POST", "/api/me/totp/confirm", {"code": right})
    assert (status, body["error"]["code"]) == (429, "rate_limited")
    assert await secrets_of(server, "anna") == (None, started["secret"])


async def test_the_pending_secret_is_no_sign_in_factor(strict: tuple[Server, FakeClock]) -> None:
    """Signing in with a code of the pending secret gives a session that is still gated;
    a secret replaced by a new start cannot be confirmed nor sign in after enrolment."""
    server, clock = strict
    anna = await sign_in(server, "anna")
    _, first = await anna("POST", "/api/me/totp")
    _, second = await anna("POST", "/api/me/totp")
    assert first["secret"] != second["secret"]
    assert await secrets_of(server, "anna") == (None, second["secret"])

    again = await sign_in(server, "anna", pyotp.TOTP(second["secret"]).at(clock.now))
    status, body = await again("GET", "/api/teams/alpha/canned")
    assert (status, body["error"]["message"]) == (403, TOTP_FIRST)
    assert (await again("GET", "/api/me"))[1]["totp"] is False

    old_code = pyotp.TOTP(first["secret"]).at(clock.now)
    status, _ = await anna("POST", "/api/me/totp/confirm", {"code": old_code})
    assert status == 401
    code = pyotp.TOTP(second["secret"]).at(clock.now)
    assert (await anna("POST", "/api/me/totp/confirm", {"code": code}))[0] == 200
    clock.advance(60)
    with pytest.raises(ChatRefused):
        await sign_in(server, "anna", pyotp.TOTP(first["secret"]).at(clock.now))


async def test_enrolment_needs_the_csrf_token(strict: tuple[Server, FakeClock]) -> None:
    """Both enrolment endpoints refuse a request without the CSRF header (401)."""
    server, _ = strict
    anna = await sign_in(server, "anna")
    before = await dump(server.settings.database_url)
    for path, body in (("/api/me/totp", None), ("/api/me/totp/confirm", {"code": "123456"})):
        status, answer = await anna("POST", path, body, csrf=False)
        assert (status, answer["error"]["code"]) == (401, "unauthorized")
    assert await dump(server.settings.database_url) == before


async def test_an_enrolled_account_cannot_enrol_again(strict: tuple[Server, FakeClock]) -> None:
    """With TOTP (made by the CLI) both endpoints answer 409 and change nothing."""
    server, clock = strict
    _, secret = await cli.user_add(
        server.db, server.settings, "tina", "Tina", "counsellor", ["alpha"], "x" * 12, totp=True
    )
    assert secret is not None
    cookie, csrf = await login(
        server.url,
        "tina",
        password="x" * 12,
        totp=pyotp.TOTP(secret).at(clock.now),
        origin=ORIGIN,
    )
    tina = Session(server, cookie, csrf)
    assert (await tina("GET", "/api/me"))[1]["totp"] is True
    assert (await tina("GET", "/api/teams/alpha/canned"))[0] == 200
    before = await dump(server.settings.database_url)
    for path, body in (("/api/me/totp", None), ("/api/me/totp/confirm", {"code": "123456"})):
        status, answer = await tina("POST", path, body)
        assert (status, answer["error"]["code"]) == (409, "conflict"), path
    assert await dump(server.settings.database_url) == before


async def test_logout_works_before_enrolment(strict: tuple[Server, FakeClock]) -> None:
    """An account that has not enrolled yet can still sign out."""
    server, _ = strict
    anna = await sign_in(server, "anna")
    assert (await anna("POST", "/api/logout")) == (200, {"ok": True})
    assert (await anna("GET", "/api/me"))[0] == 401


# --------------------------------------------------------------------------- off
async def test_without_require_totp_nothing_is_gated(server: Server) -> None:
    """With require_totp off (the demo) an account without TOTP uses APIs and console."""
    await server.staff("anna", ["alpha"])
    anna = await sign_in(server, "anna")
    _, me = await anna("GET", "/api/me")
    assert (me["totp"], me["totp_required"]) == (False, False)
    for method, path in GATED:
        assert not await gated(anna, method, path), path
    peer = await server.console_with_cookie(anna.cookie)
    assert peer.hello["staff"] == me["staff"]["id"]
