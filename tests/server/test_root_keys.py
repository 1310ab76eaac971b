"""The first admin's keys and the team root key in the admins' keeping, through the public
HTTP interface: an admin made by ``chatserver user add`` sets its first identity keys from
the browser, creates a team whose first signed roster makes it a member, and wraps the
root key to itself; another device gets the envelope back and opens it. Nobody else may
read or replace it, and the server keeps it sealed."""

from __future__ import annotations

from typing import Any

import pytest
from conftest import ORIGIN, PASSWORD, SALT, FakeClock, Server, credential, dump
from test_enrolment import NOW_MS, Admin, b, b64

from chatserver import e2e
from chatserver.sdk.peers import login

DAY = 86_400_000


class FirstAdmin(Admin):
    """The first admin's browser: identity keys made here, the root key of team alpha."""

    def __init__(self, server: Server, cookie: str, csrf: str, staff_id: str) -> None:
        super().__init__(server, cookie, csrf)
        self.id = staff_id
        self.dh, self.sig = e2e.generate(), e2e.generate()
        self.member = e2e.Member(
            staff_id, "admin", e2e.public_bytes(self.dh), e2e.public_bytes(self.sig), NOW_MS
        )

    def identity_body(self) -> dict[str, str]:
        master = e2e.derive_master(PASSWORD, SALT, "root")
        wrapped = e2e.wrap_identity(e2e.wrap_key(master), SALT, "root", self.dh, self.sig)
        return {
            "dh_pub": b64(self.member.dh_pub),
            "sig_pub": b64(self.member.sig_pub),
            "wrapped": b64(wrapped),
        }

    def root_envelope(self, recipient: e2e.Member) -> dict[str, str]:
        body = e2e.seal_envelope(
            self.sig, recipient.dh_pub, "root_key", "", 0, e2e.pkcs8(self.root)
        )
        return {"recipient": recipient.id, "body": b64(body)}


@pytest.fixture
async def first(make_server: Any) -> FirstAdmin:
    server: Server = await make_server(clock=FakeClock(NOW_MS / 1000))
    await server.team("alpha")
    staff_id = await server.staff("root", [], role="admin")
    cookie, csrf = await login(server.url, "root", credential=credential("root"), origin=ORIGIN)
    return FirstAdmin(server, cookie, csrf, staff_id)


async def test_first_admin_sets_up_keys_and_gets_the_root_key_back(first: FirstAdmin) -> None:
    assert (await first.call("GET", "/api/me/identity"))[0] == 404
    assert (await first.call("POST", "/api/me/identity", first.identity_body()))[0] == 201
    status, stored = await first.call("GET", "/api/me/identity")
    assert status == 200 and b(stored["dh_pub"]) == first.member.dh_pub
    # Keys are never replaced: colleagues trust them through the signed roster.
    again = FirstAdmin(first.server, first.cookie, first.csrf, first.id).identity_body()
    assert (await first.call("POST", "/api/me/identity", again))[0] == 409

    # The first roster names the admin: that makes it a member of the team.
    assert "alpha" not in (await first.call("GET", "/api/me"))[1]["teams"]
    roster = first.signed_roster([first.member])
    assert (await first.call("POST", "/api/teams/alpha/roster", {"roster": roster}))[0] == 201
    assert "alpha" in (await first.call("GET", "/api/me"))[1]["teams"]

    status, answer = await first.call(
        "POST", "/api/teams/alpha/root-keys", {"envelopes": [first.root_envelope(first.member)]}
    )
    assert status == 201 and answer == {"stored": 1}
    # Another device of the same admin: the envelope comes back and opens to the root key.
    status, mine = await first.call("GET", "/api/teams/alpha/root-key/mine")
    assert status == 200 and mine["author"] == first.id
    env, payload = e2e.open_envelope(first.dh, b(mine["body"]), first.member.sig_pub)
    assert (env.purpose, env.epoch, env.conversation) == ("root_key", 0, "")
    assert e2e.public_bytes(e2e.load_pkcs8(payload)) == e2e.public_bytes(first.root)
    # The database holds it sealed under a storage key of the keystore, not as sent.
    rows = (await dump(first.server.settings.database_url))["key_envelopes"]
    assert len(rows) == 1 and b(mine["body"]) not in bytes(rows[0][-2])


async def test_only_admins_of_the_team_hold_the_root_key(first: FirstAdmin) -> None:
    server = first.server
    await first.call("POST", "/api/me/identity", first.identity_body())
    await first.call(
        "POST", "/api/teams/alpha/roster", {"roster": first.signed_roster([first.member])}
    )
    first.version += 1
    await server.staff("anna", ["alpha"])
    cookie, csrf = await login(server.url, "anna", credential=credential("anna"), origin=ORIGIN)
    anna = Admin(server, cookie, csrf)
    envelopes = {"envelopes": [first.root_envelope(first.member)]}
    before = await dump(server.settings.database_url)
    assert (await anna.call("POST", "/api/teams/alpha/root-keys", envelopes))[0] == 403
    assert (await anna.call("GET", "/api/teams/alpha/root-key/mine"))[0] == 403
    # Not to a counsellor, not twice to one admin, not in another shape.
    counsellor = e2e.Member("nobody", "counsellor", first.member.dh_pub, first.member.sig_pub, 1)
    bad_bodies: list[Any] = [
        {"envelopes": [first.root_envelope(counsellor)]},
        {"envelopes": [first.root_envelope(first.member)] * 2},
        {"envelopes": []},
        {"envelopes": [{"recipient": first.id}]},
        {"keys": []},
    ]
    for body in bad_bodies:
        assert (await first.call("POST", "/api/teams/alpha/root-keys", body))[0] in (400, 404)
    assert await dump(server.settings.database_url) == before
    assert (await first.call("GET", "/api/teams/alpha/root-key/mine"))[0] == 404


async def test_a_roster_naming_a_colleague_with_other_keys_is_refused(first: FirstAdmin) -> None:
    server = first.server
    await first.call("POST", "/api/me/identity", first.identity_body())
    impostor = e2e.Member(
        first.id, "admin", e2e.public_bytes(e2e.generate()), first.member.sig_pub, NOW_MS
    )
    before = await dump(server.settings.database_url)
    status, answer = await first.call(
        "POST", "/api/teams/alpha/roster", {"roster": first.signed_roster([impostor])}
    )
    assert status == 400 and "keys that are not theirs" in answer["error"]["message"]
    stranger = e2e.Member("s0000", "admin", first.member.dh_pub, first.member.sig_pub, NOW_MS)
    status, answer = await first.call(
        "POST", "/api/teams/alpha/roster", {"roster": first.signed_roster([stranger])}
    )
    assert status == 400 and "does not know" in answer["error"]["message"]
    assert await dump(server.settings.database_url) == before
