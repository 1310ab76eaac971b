"""Enrolment through the real server: an admin invites, the new member's browser sends its
keys with a MAC under the invite secret, the admin's browser checks it and signs a roster
that names the keys, the member signs in with a credential the server cannot derive and
unwraps its identity. A server that substitutes the keys is caught by the MAC."""

from __future__ import annotations

import base64
import secrets
from typing import Any

import aiohttp
import pytest
from conftest import ORIGIN, SALT, FakeClock, Server, credential

from chatserver import e2e
from chatserver.sdk.peers import login

NOW_MS = 1_800_000_000_000


def b(text: str) -> bytes:
    return base64.b64decode(text)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


class Admin:
    """The admin's browser: holds the team root key and its invite secrets."""

    def __init__(self, server: Server, cookie: str, csrf: str) -> None:
        self.server, self.cookie, self.csrf = server, cookie, csrf
        self.root = e2e.generate()
        self.secrets: dict[str, bytes] = {}
        self.version = 0
        self.members: list[e2e.Member] = []

    async def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        headers = {"Cookie": self.cookie, "X-CSRF-Token": self.csrf, "Origin": ORIGIN}
        async with (
            aiohttp.ClientSession() as http,
            http.request(method, self.server.url + path, json=body, headers=headers) as response,
        ):
            return response.status, await response.json()

    async def invite(self, role: str = "counsellor") -> str:
        status, data = await self.call("POST", "/api/teams/alpha/invites", {"role": role})
        assert status == 201, data
        self.secrets[data["invite"]] = secrets.token_bytes(32)  # stays in the browser
        return str(data["invite"])

    def signed_roster(self, members: list[e2e.Member]) -> dict[str, Any]:
        return e2e.sign_roster(self.root, "alpha", self.version + 1, NOW_MS, members)

    async def approve(self, pending: dict[str, Any]) -> tuple[int, Any]:
        """Check the MAC (raises on a substituted key), then sign and upload the roster."""
        e2e.check_enrol_mac(
            self.secrets[pending["invite"]],
            "alpha",
            pending["invite"],
            pending["username"],
            b(pending["dh_pub"]),
            b(pending["sig_pub"]),
            b(pending["mac"]),
        )
        member = e2e.Member(
            pending["staff"], pending["role"], b(pending["dh_pub"]), b(pending["sig_pub"]), NOW_MS
        )
        roster = self.signed_roster([*self.members, member])
        status, data = await self.call(
            "POST", f"/api/teams/alpha/enrolments/{pending['invite']}/approve", {"roster": roster}
        )
        if status == 200:
            self.version += 1
            self.members.append(member)
        return status, data


async def newcomer_enrols(
    server: Server, invite: str, secret: bytes, username: str, password: str
) -> tuple[int, Any, dict[str, Any]]:
    """The invitee's browser: keys, account secret key, credential, wrapped identity, MAC."""
    dh, sig, account_secret = e2e.generate(), e2e.generate(), secrets.token_bytes(16)
    master = e2e.derive_master(password, SALT, username)
    body = {
        "username": username,
        "name": "Nina K.",
        "credential": e2e.auth_credential(master, account_secret),
        "dh_pub": b64(e2e.public_bytes(dh)),
        "sig_pub": b64(e2e.public_bytes(sig)),
        "wrapped": b64(
            e2e.wrap_identity(e2e.wrap_key(master, account_secret), SALT, username, dh, sig)
        ),
        "mac": b64(
            e2e.enrol_mac(
                secret, "alpha", invite, username, e2e.public_bytes(dh), e2e.public_bytes(sig)
            )
        ),
    }
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            f"{server.url}/api/invites/{invite}/enrol", json=body, headers={"Origin": ORIGIN}
        ) as response,
    ):
        return (
            response.status,
            await response.json(),
            {"master": master, "secret": account_secret, "dh": dh, "sig": sig},
        )


@pytest.fixture
async def admin(server: Server) -> Admin:
    await server.staff("root", [], role="admin")
    cookie, csrf = await login(server.url, "root", credential=credential("root"), origin=ORIGIN)
    return Admin(server, cookie, csrf)


async def test_enrolment_end_to_end(server: Server, admin: Admin) -> None:
    """Invite, enrol, check the MAC, sign the roster, approve, sign in, unwrap."""
    invite = await admin.invite()
    status, data, keys = await newcomer_enrols(
        server, invite, admin.secrets[invite], "nina", "a long enough password"
    )
    assert status == 201, data
    # Pending: the account exists but cannot sign in before an admin approves it.
    cred = e2e.auth_credential(keys["master"], keys["secret"])
    with pytest.raises(Exception, match="wrong username"):
        await login(server.url, "nina", credential=cred, origin=ORIGIN)
    status, pending = await admin.call("GET", "/api/teams/alpha/enrolments")
    assert status == 200 and [p["username"] for p in pending] == ["nina"]
    status, data = await admin.approve(pending[0])
    assert status == 200 and data == {"roster_version": 1}

    cookie, _csrf = await login(server.url, "nina", credential=cred, origin=ORIGIN)
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{server.url}/api/me/identity", headers={"Cookie": cookie}) as r:
            identity = await r.json()
        async with http.get(
            f"{server.url}/api/teams/alpha/roster", headers={"Cookie": cookie}
        ) as r:
            roster_wire = await r.json()
    roster = e2e.check_roster(
        roster_wire, pin_value=e2e.pin(e2e.public_bytes(admin.root)), team="alpha"
    )
    me = roster.members[pending[0]["staff"]]
    dh, _sig = e2e.unwrap_identity(
        e2e.wrap_key(keys["master"], keys["secret"]),
        SALT,
        "nina",
        me.dh_pub,
        me.sig_pub,
        b(identity["wrapped"]),
    )
    assert e2e.public_bytes(dh) == e2e.public_bytes(keys["dh"])
    # The server never saw the password or the account secret key.
    assert b"a long enough password" not in repr(identity).encode()
    # The account can now open a console in its team.
    console = await server.console_with_cookie(cookie)
    assert console.hello["teams"] == ["alpha"]


async def test_substituted_keys_are_caught_by_the_admin(server: Server, admin: Admin) -> None:
    """A server that swaps the newcomer's key in the pending list fails the MAC check."""
    invite = await admin.invite()
    await newcomer_enrols(server, invite, admin.secrets[invite], "nina", "a long password!")
    _, pending = await admin.call("GET", "/api/teams/alpha/enrolments")
    forged = {**pending[0], "dh_pub": b64(e2e.public_bytes(e2e.generate()))}
    with pytest.raises(e2e.E2EError) as caught:
        await admin.approve(forged)
    assert caught.value.reason == "bad_signature"


async def test_refusals(server: Server, admin: Admin) -> None:
    """Used invites, taken usernames, rosters without the member or out of order, and
    non-admins are refused."""
    invite = await admin.invite()
    status, _, _ = await newcomer_enrols(
        server, invite, admin.secrets[invite], "nina", "pw-123456789"
    )
    assert status == 201
    status, data, _ = await newcomer_enrols(
        server, invite, admin.secrets[invite], "nora", "pw-123456789"
    )
    assert (status, data["error"]["code"]) == (409, "conflict")
    other = await admin.invite()
    status, data, _ = await newcomer_enrols(
        server, other, admin.secrets[other], "NINA", "pw-123456789"
    )
    assert (status, data["error"]["code"]) == (409, "conflict")
    _, pending = await admin.call("GET", "/api/teams/alpha/enrolments")
    status, data = await admin.call(
        "POST", f"/api/teams/alpha/enrolments/{invite}/approve", {"roster": admin.signed_roster([])}
    )
    assert (status, data["error"]["code"]) == (400, "malformed")
    admin.version = 5  # a roster that skips versions
    status, data = await admin.approve(pending[0])
    assert (status, data["error"]["code"]) == (409, "conflict")
    await server.staff("anna", ["alpha"])
    cookie, csrf = await login(server.url, "anna", credential=credential("anna"), origin=ORIGIN)
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            f"{server.url}/api/teams/alpha/invites",
            json={"role": "admin"},
            headers={"Cookie": cookie, "X-CSRF-Token": csrf, "Origin": ORIGIN},
        ) as response,
    ):
        assert response.status == 403


async def test_expired_invite_is_refused(make_server: Any) -> None:
    """An invitation past its expiry cannot enrol anyone."""
    clock = FakeClock(NOW_MS / 1000)
    server = await make_server(clock=clock)
    await server.team("alpha")
    await server.staff("root", [], role="admin")
    cookie, csrf = await login(server.url, "root", credential=credential("root"), origin=ORIGIN)
    admin = Admin(server, cookie, csrf)
    invite = await admin.invite()
    clock.advance(73 * 3600)  # invites last 72 hours by default
    status, data, _ = await newcomer_enrols(
        server, invite, admin.secrets[invite], "nina", "pw-123456789"
    )
    assert (status, data["error"]["code"]) == (403, "forbidden")
    async with aiohttp.ClientSession() as http, http.get(f"{server.url}/api/invites/{invite}") as r:
        assert (await r.json())["state"] == "expired"
