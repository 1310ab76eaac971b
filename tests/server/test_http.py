"""The public HTTP interface through a real server: staff login and sessions, CSRF and
Origin checks, throttling, security headers, health, metrics; on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pyotp
from conftest import ORIGIN, PASSWORD, SALT, Server, client_key, credential, dump

from chatserver.ops import cli
from chatserver.sdk.peers import b64
from chatserver.staff import auth


@dataclass
class Reply:
    """What came back from one HTTP request."""

    status: int
    headers: dict[str, str]
    set_cookies: list[str]
    text: str
    body: Any = field(default=None)

    @property
    def error(self) -> dict[str, Any]:
        assert isinstance(self.body, dict) and set(self.body) == {"error"}, self.text
        error: dict[str, Any] = self.body["error"]
        assert set(error) == {"code", "message"} and error["message"], error
        return error


async def call(
    server: Server,
    method: str,
    path: str,
    *,
    json_body: Any = None,
    data: bytes | None = None,
    cookie: str | None = None,
    origin: str | None = ORIGIN,
    headers: dict[str, str] | None = None,
) -> Reply:
    """One request with no cookie jar: the test says exactly which cookie is sent."""
    sent = dict(headers or {})
    if origin is not None:
        sent["Origin"] = origin
    if cookie is not None:
        sent["Cookie"] = cookie
    async with (
        aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as http,
        http.request(
            method, server.url + path, json=json_body, data=data, headers=sent
        ) as response,
    ):
        text = await response.text()
        body = None
        if response.content_type == "application/json":
            body = json.loads(text)
        return Reply(
            response.status,
            dict(response.headers),
            response.headers.getall("Set-Cookie", []),
            text,
            body,
        )


async def login(
    server: Server, username: str, cred: str | None = None, totp: str = "", **kw: Any
) -> Reply:
    return await call(
        server,
        "POST",
        "/api/login",
        json_body={"username": username, "credential": cred or credential(username), "totp": totp},
        **kw,
    )


def session_cookie(reply: Reply) -> tuple[str, str, dict[str, str]]:
    """(name, value, attributes with lower-case names) of the one cookie a reply sets."""
    assert len(reply.set_cookies) == 1, reply.set_cookies
    pair, *attributes = (part.strip() for part in reply.set_cookies[0].split(";"))
    name, _, value = pair.partition("=")
    value = "" if value == '""' else value  # how an emptied cookie is written
    attrs = {}
    for attribute in attributes:
        key, _, val = attribute.partition("=")
        attrs[key.lower()] = val
    return name, value, attrs


async def signed_in(server: Server, username: str) -> tuple[str, str]:
    """(Cookie header, CSRF token) of a fresh session."""
    reply = await login(server, username)
    assert reply.status == 200, reply.text
    name, value, _ = session_cookie(reply)
    return f"{name}={value}", reply.body["csrf"]


# --------------------------------------------------------------------------- login
async def test_login_sets_a_strict_httponly_cookie_and_returns_csrf(server: Server) -> None:
    """Login answers the account and a CSRF token, in an HttpOnly SameSite=Strict cookie."""
    anna = await server.staff("anna", ["alpha"])
    reply = await login(server, "anna")
    assert reply.status == 200, reply.text
    name, token, attrs = session_cookie(reply)
    assert name == "chat_session"  # cookie_secure=False: plain-HTTP development
    assert "httponly" in attrs and attrs["samesite"] == "Strict" and attrs["path"] == "/"
    assert "secure" not in attrs and "domain" not in attrs
    assert int(attrs["max-age"]) == int(server.settings.session_hours * 3600)
    assert reply.body == {
        "staff": {
            "id": anna,
            "username": "anna",
            "name": "Anna",
            "role": "counsellor",
            "salt": SALT,
        },
        "csrf": auth.csrf_token(token),
    }

    me = await call(server, "GET", "/api/me", cookie=f"{name}={token}")
    assert me.status == 200
    assert me.body == {
        "staff": reply.body["staff"],
        "teams": ["alpha"],
        "csrf": reply.body["csrf"],
        "totp": False,
        "totp_required": False,
    }
    assert me.set_cookies == []


async def test_login_normalises_the_username(server: Server) -> None:
    """The username is matched case-insensitively and without surrounding spaces."""
    await server.staff("anna", ["alpha"])
    reply = await login(server, "  ANNA ", credential("anna"))
    assert reply.status == 200, reply.text
    assert reply.body["staff"]["username"] == "anna"


async def test_secure_cookie_has_the_host_prefix(make_server: Callable[..., Any]) -> None:
    """With cookie_secure the cookie is ``__Host-``, Secure, path / and has no Domain."""
    server: Server = await make_server(cookie_secure=True)
    await server.team("alpha")
    await server.staff("anna", ["alpha"])
    reply = await login(server, "anna")
    assert reply.status == 200, reply.text
    raw = reply.set_cookies[0]
    assert raw.startswith("__Host-chat_session="), raw
    name, token, attrs = session_cookie(reply)
    assert "secure" in attrs and "httponly" in attrs and attrs["samesite"] == "Strict"
    assert attrs["path"] == "/" and "domain" not in attrs
    assert (await call(server, "GET", "/api/me", cookie=f"{name}={token}")).status == 200
    # The unprefixed name is not accepted in its place.
    assert (await call(server, "GET", "/api/me", cookie=f"chat_session={token}")).status == 401


async def test_logout_clears_the_host_cookie_with_secure(make_server: Callable[..., Any]) -> None:
    """Logout's expiring ``__Host-`` cookie is Secure too, or browsers would refuse it."""
    server: Server = await make_server(cookie_secure=True)
    await server.team("alpha")
    await server.staff("anna", ["alpha"])
    cookie, csrf = await signed_in(server, "anna")
    reply = await call(server, "POST", "/api/logout", cookie=cookie, headers={"X-CSRF-Token": csrf})
    assert reply.status == 200
    name, value, attrs = session_cookie(reply)
    assert (name, value, attrs.get("max-age")) == ("__Host-chat_session", "", "0")
    assert "secure" in attrs and attrs["path"] == "/"


async def test_wrong_credential_is_401_json(server: Server) -> None:
    """A wrong credential and an unknown user get the same 401 JSON error, no cookie."""
    await server.staff("anna", ["alpha"])
    wrong = await login(server, "anna", credential("anna", "not the password at all"))
    unknown = await login(server, "nobody", credential("nobody"))
    for reply in (wrong, unknown):
        assert reply.status == 401
        assert reply.error == {
            "code": "unauthorized",
            "message": "wrong username, password or code",
        }
        assert reply.set_cookies == []
    me = await call(server, "GET", "/api/me")
    assert me.status == 401 and me.error["code"] == "unauthorized"


async def test_totp_is_required_and_works_once(server: Server) -> None:
    """With TOTP: no code 401, the current code 200, the same code again 401 (replay)."""
    _, secret = await cli.user_add(
        server.db, server.settings, "tina", "Tina", "counsellor", ["alpha"], PASSWORD, totp=True
    )
    assert secret is not None
    assert (await login(server, "tina")).status == 401
    code = pyotp.TOTP(secret).now()
    first = await login(server, "tina", totp=code)
    assert first.status == 200, first.text
    assert first.body["staff"]["username"] == "tina"
    replay = await login(server, "tina", totp=code)
    assert replay.status == 401 and replay.error["code"] == "unauthorized"
    assert replay.set_cookies == []


async def test_throttle_locks_one_username_only(server: Server) -> None:
    """After ``login_attempts`` failures the right credential gets 429; others still work."""
    await server.staff("anna", ["alpha"])
    await server.staff("ben", ["alpha"])
    wrong = credential("anna", "a wrong password")
    for _ in range(server.settings.login_attempts):
        assert (await login(server, "anna", wrong)).status == 401
    locked = await login(server, "anna")
    assert locked.status == 429
    assert locked.error["code"] == "rate_limited" and locked.set_cookies == []
    # The lockout is per account, whatever the spelling of the name.
    assert (await login(server, " Anna", credential("anna"))).status == 429
    assert (await login(server, "ben")).status == 200


# --------------------------------------------------------------------------- session
async def test_logout_needs_the_csrf_token_and_ends_the_session(server: Server) -> None:
    """Logout without (or with a wrong) CSRF header is 401; with it, the session is gone."""
    await server.staff("anna", ["alpha"])
    cookie, csrf = await signed_in(server, "anna")
    for headers in ({}, {"X-CSRF-Token": "forged"}, {"X-CSRF-Token": csrf[:-1]}):
        reply = await call(server, "POST", "/api/logout", cookie=cookie, headers=headers)
        assert reply.status == 401 and reply.error["code"] == "unauthorized"
    assert (await call(server, "GET", "/api/me", cookie=cookie)).status == 200

    reply = await call(server, "POST", "/api/logout", cookie=cookie, headers={"X-CSRF-Token": csrf})
    assert reply.status == 200 and reply.body == {"ok": True}
    name, value, attrs = session_cookie(reply)
    assert (name, value, attrs["max-age"]) == ("chat_session", "", "0")
    assert (await call(server, "GET", "/api/me", cookie=cookie)).status == 401
    again = await call(server, "POST", "/api/logout", cookie=cookie, headers={"X-CSRF-Token": csrf})
    assert again.status == 401
    assert (await dump(server.settings.database_url))["sessions"] == []


async def test_foreign_origin_writes_are_403(server: Server) -> None:
    """A POST from another origin (even a team's embedding site) is refused with 403."""
    await server.staff("anna", ["alpha"])
    await cli.team_origins(server.db, "alpha", ["https://agency.example"], [])
    for origin in (
        "https://evil.example",
        "https://agency.example",
        "null",
        ORIGIN + ":8080",
        ORIGIN.replace("http:", "https:"),
    ):
        reply = await login(server, "anna", origin=origin)
        assert reply.status == 403, origin
        assert reply.error["code"] == "forbidden" and reply.set_cookies == []
    cookie, csrf = await signed_in(server, "anna")
    reply = await call(
        server,
        "POST",
        "/api/logout",
        cookie=cookie,
        origin="https://evil.example",
        headers={"X-CSRF-Token": csrf},
    )
    assert reply.status == 403
    assert (await call(server, "GET", "/api/me", cookie=cookie)).status == 200


async def test_malformed_login_body_is_400(server: Server) -> None:
    """Bodies that are not a JSON object with three strings are 400 ``malformed``."""
    await server.staff("anna", ["alpha"])
    good = {"username": "anna", "credential": credential("anna"), "totp": ""}
    bodies: list[bytes] = [
        b"",
        b"not json",
        b"[1, 2]",
        b'"anna"',
        json.dumps({k: v for k, v in good.items() if k != "totp"}).encode(),
        json.dumps({**good, "credential": 12345}).encode(),
        json.dumps({**good, "username": None}).encode(),
        json.dumps({**good, "padding": "x" * 5000}).encode(),
        b"\xff\xfe{",
    ]
    for body in bodies:
        reply = await call(
            server, "POST", "/api/login", data=body, headers={"Content-Type": "application/json"}
        )
        assert reply.status == 400, body[:40]
        assert reply.error["code"] == "malformed" and reply.set_cookies == []
    # None of those counted as a failed attempt against the account.
    assert (await login(server, "anna")).status == 200


# --------------------------------------------------------------------------- headers
def assert_security_headers(reply: Reply, what: str) -> None:
    headers = {k.lower(): v for k, v in reply.headers.items()}
    csp = headers.get("content-security-policy", "")
    assert "frame-ancestors 'none'" in csp and "default-src 'self'" in csp, what
    assert headers.get("referrer-policy") == "no-referrer", what
    assert headers.get("x-content-type-options") == "nosniff", what


async def test_security_headers_on_pages_and_errors(server: Server) -> None:
    """CSP with frame-ancestors, no-referrer and nosniff on pages, JSON and API errors."""
    await server.staff("anna", ["alpha"])
    cookie, _ = await signed_in(server, "anna")
    replies = {
        "/": await call(server, "GET", "/"),
        "/healthz": await call(server, "GET", "/healthz"),
        "/metrics": await call(server, "GET", "/metrics"),
        "/static/site.css": await call(server, "GET", "/static/site.css"),
        "/api/me 200": await call(server, "GET", "/api/me", cookie=cookie),
        "/api/me 401": await call(server, "GET", "/api/me"),
        "/api/login 400": await call(server, "POST", "/api/login", data=b"x"),
        "/api/login 403": await login(server, "anna", origin="https://evil.example"),
    }
    assert replies["/"].status == 200 and "<" in replies["/"].text
    assert replies["/api/me 401"].status == 401
    for what, reply in replies.items():
        assert_security_headers(reply, what)


async def test_security_headers_on_404_and_405(server: Server) -> None:
    """A 404 and a 405 from the router carry the same security headers."""
    missing = await call(server, "GET", "/no/such/page")
    assert missing.status == 404
    wrong_method = await call(server, "GET", "/api/login")
    assert wrong_method.status == 405
    assert_security_headers(missing, "404")
    assert_security_headers(wrong_method, "405")


async def test_healthz_is_ok_json(server: Server) -> None:
    """/healthz answers 200 with a JSON status and is not cached; the key horizon it adds
    names no team (tests/server/test_key_horizon.py has its levels)."""
    reply = await call(server, "GET", "/healthz", origin=None)
    assert reply.status == 200
    assert reply.headers["Content-Type"].startswith("application/json")
    assert reply.body["status"] == "ok" and set(reply.body) == {"status", "keys"}
    assert "alpha" not in str(reply.body)
    assert reply.headers["Cache-Control"] == "no-store"


# --------------------------------------------------------------------------- metrics
PROMETHEUS_LINE = re.compile(
    r'[a-z_]+(\{[a-z_]+="[A-Za-z0-9_.+]*"(,[a-z_]+="[A-Za-z0-9_.+]*")*\})? '
    r"[-+]?([0-9]+(\.[0-9]*)?([eE][-+]?[0-9]+)?|Inf|NaN)"
)


async def test_metrics_count_without_naming_anyone(server: Server) -> None:
    """/metrics is Prometheus text with conversation counters and no ids or names."""
    anna = await server.staff("anna", ["alpha"])
    console = await server.console("anna")
    client = await server.client()
    started = await client.start("alpha", client_key(), topic="school")
    await console.accept(started["conversation"])
    await client.send("m1", b"ciphertext from the client")
    await console.send(started["conversation"], "t1", b"ciphertext from the team")

    reply = await call(server, "GET", "/metrics", origin=None)
    assert reply.status == 200
    assert reply.headers["Content-Type"].startswith("text/plain")
    lines = reply.text.splitlines()
    for line in lines:
        assert (
            line.startswith("# HELP ")
            or line.startswith("# TYPE ")
            or (PROMETHEUS_LINE.fullmatch(line))
        ), line
    assert "# TYPE chat_conversations_started_total counter" in lines
    assert "chat_conversations_started_total 1" in lines
    assert "chat_conversations_accepted_total 1" in lines
    assert 'chat_messages_total{role="client"} 1' in lines
    assert 'chat_messages_total{role="team"} 1' in lines
    assert 'chat_logins_total{result="ok"} 1' in lines
    for secret in (
        started["conversation"],
        started["token"],
        anna,
        "anna",
        "Anna",
        "alpha",
        "school",
        ORIGIN,
        "127.0.0.1",
    ):
        assert secret not in reply.text, secret


# --------------------------------------------------------------------------- privacy
async def test_client_socket_never_sets_a_cookie(server: Server) -> None:
    """The widget's socket handshake sets no cookie, even when a staff cookie is sent."""
    await server.staff("anna", ["alpha"])
    cookie, _ = await signed_in(server, "anna")
    plain = await server.client()
    with_cookie = await server.client(headers={"Cookie": cookie})
    for peer in (plain, with_cookie):
        assert peer.ws.response is not None
        assert peer.ws.response.status_code == 101
        assert "Set-Cookie" not in peer.ws.response.headers
    await plain.start("alpha", client_key())

    jar = aiohttp.CookieJar(unsafe=True)  # keeps cookies even from an IP address
    async with (
        aiohttp.ClientSession(cookie_jar=jar) as http,
        http.ws_connect(server.url + "/ws/client", origin=ORIGIN) as ws,
    ):
        hello = await ws.receive_json()
        assert hello["type"] == "hello"
        await ws.send_json(
            {"type": "start", "team": "alpha", "consent": "v1", "client_key": b64(client_key(2))}
        )
        assert (await ws.receive_json())["type"] == "started"
    assert len(jar) == 0


async def test_database_keeps_only_an_argon2id_hash(server: Server) -> None:
    """The staff row holds an Argon2id hash; no password, credential or session token."""
    staff_id = await server.staff("anna", ["alpha"])
    reply = await login(server, "anna")
    assert reply.status == 200
    _, token, _ = session_cookie(reply)
    rows = await dump(server.settings.database_url)
    [staff] = [r for r in rows["staff"] if r[0] == staff_id]
    assert staff[4].startswith("$argon2id$")
    assert auth.verify_credential(staff[4], credential("anna"))
    [session] = rows["sessions"]
    assert session[:2] == (hashlib.sha256(token.encode()).hexdigest(), staff_id)
    everything = repr(rows)
    for secret in (PASSWORD, credential("anna"), token, reply.body["csrf"]):
        assert secret not in everything
