"""The admin API through the real server, on SQLite and PostgreSQL: teams, topics, allowed
widget origins and staff accounts. Every role tries every endpoint; every refusal leaves
the database exactly as it was; the rules that protect the server (last admin, strict
origins, archived teams start no chats) hold."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import aiohttp
import pyotp
import pytest
from conftest import ORIGIN, Caller, Server, caller, client_key, credential, dump
from sqlalchemy import insert, select, update

from chatserver.protocol.errors import Malformed
from chatserver.sdk.peers import ChatRefused, login
from chatserver.storage import models as m
from chatserver.teams.teams import widget_origin


@dataclass
class World:
    server: Server
    ids: dict[str, str]
    as_: dict[str, Caller]

    async def dump(self) -> dict[str, list[tuple[Any, ...]]]:
        return await dump(self.server.settings.database_url)

    async def audit(self, prefix: str) -> list[tuple[str | None, str, str | None]]:
        """(actor, action, target) of the audit entries since the fixture (not ``cli``)."""
        a = m.audit.c
        async with self.server.db.read() as conn:
            rows = await conn.execute(
                select(a.actor, a.action, a.target)
                .where(a.action.like(prefix + "%"), a.actor != "cli")
                .order_by(a.id)
            )
            return [tuple(r) for r in rows]  # type: ignore[misc]


#: The roles of the table: an admin, the supervisor of alpha, the supervisor of another
#: team, a counsellor of alpha, and nobody.
ROLES = ("root", "sue", "bob", "anna", "anonymous")


@pytest.fixture
async def world(server: Server) -> World:
    """alpha (topics general, school): counsellor anna, supervisor sue; beta: supervisor
    bob; root: admin of no team."""
    ids = {
        "root": await server.staff("root", [], role="admin"),
        "sue": await server.staff("sue", ["alpha"], role="supervisor"),
        "bob": await server.staff("bob", ["beta"], role="supervisor"),
        "anna": await server.staff("anna", ["alpha"]),
    }
    callers = {r: await caller(server, None if r == "anonymous" else r) for r in ROLES}
    return World(server, ids, callers)


def endpoints(ids: dict[str, str]) -> list[tuple[str, str, Any, set[str]]]:
    """(method, path, a valid body, the roles allowed): every admin endpoint."""
    anna = ids["anna"]
    return [
        ("GET", "/api/admin/teams", None, {"root", "sue", "bob"}),
        ("POST", "/api/admin/teams", {"slug": "gamma", "name": "Gamma"}, {"root"}),
        ("PATCH", "/api/admin/teams/alpha", {"name": "Alpha team"}, {"root"}),
        ("GET", "/api/admin/teams/alpha/topics", None, {"root", "sue"}),
        ("POST", "/api/admin/teams/alpha/topics", {"slug": "family", "name": "Family"}, {"root"}),
        ("PATCH", "/api/admin/teams/alpha/topics/school", {"name": "School, work"}, {"root"}),
        ("DELETE", "/api/admin/teams/alpha/topics/general", None, {"root"}),
        ("GET", "/api/admin/teams/alpha/origins", None, {"root", "sue"}),
        ("PUT", "/api/admin/teams/alpha/origins", {"origins": ["https://a.example"]}, {"root"}),
        ("GET", "/api/admin/staff", None, {"root"}),
        ("PATCH", f"/api/admin/staff/{anna}", {"cap": 5, "role": "supervisor"}, {"root"}),
        ("POST", f"/api/admin/staff/{anna}/reset-2fa", None, {"root"}),
        ("POST", f"/api/admin/staff/{anna}/reset-password", {"team": "alpha"}, {"root"}),
    ]


# --------------------------------------------------------------------------- who may
async def test_each_role_on_each_endpoint(world: World) -> None:
    """Each role on each endpoint: allowed, or 401 (nobody; a write without the CSRF
    token) / 403 (wrong role or team), and a refusal changes nothing in the database."""
    table = endpoints(world.ids)
    before = await world.dump()
    for method, path, body, allowed in table:
        write = method != "GET"
        tries = [(r, world.as_[r], True) for r in ROLES if r not in allowed]
        if write:
            tries.append(("root without CSRF token", world.as_["root"], False))
        for who, call, csrf in tries:
            status, answer = await call(method, path, body, csrf=csrf)
            expected = 401 if who == "anonymous" or not csrf else 403
            assert status == expected, (method, path, who, answer)
            assert answer["error"]["message"], answer
            assert await world.dump() == before, f"{method} {path} by {who} changed data"

    # Then everyone allowed, in the table's order (the resets last: they end anna's session).
    for method, path, body, allowed in table:
        for who in sorted(allowed):
            status, answer = await world.as_[who](method, path, body)
            assert status in (200, 201), (method, path, who, answer)
    assert await world.dump() != before


async def test_supervisors_see_only_their_teams(world: World) -> None:
    """The team list: admins every team, a supervisor its own, a counsellor none."""
    status, listed = await world.as_["root"]("GET", "/api/admin/teams")
    assert status == 200
    assert [t["slug"] for t in listed["teams"]] == ["alpha", "beta"]
    alpha = listed["teams"][0]
    assert alpha == {
        "slug": "alpha",
        "name": "Alpha",
        "created_at": alpha["created_at"],
        "archived": False,
        "archived_at": None,
        "topics": [{"slug": "general", "name": "General"}, {"slug": "school", "name": "School"}],
        "origins": [],
        "transcript": False,
    }
    assert [t["slug"] for t in (await world.as_["sue"]("GET", "/api/admin/teams"))[1]["teams"]] == [
        "alpha"
    ]
    assert [t["slug"] for t in (await world.as_["bob"]("GET", "/api/admin/teams"))[1]["teams"]] == [
        "beta"
    ]
    assert (await world.as_["bob"]("GET", "/api/admin/teams/alpha/origins"))[0] == 403
    # A supervisor learns nothing about teams that are not theirs, existing or not.
    assert (await world.as_["bob"]("GET", "/api/admin/teams/nope/topics"))[0] == 403
    assert (await world.as_["root"]("GET", "/api/admin/teams/nope/topics"))[0] == 404


# --------------------------------------------------------------------------- teams
async def test_create_rename_archive_and_restore_a_team(world: World) -> None:
    """A team is created, renamed, archived (no new chats, no widget page; gone from its
    supervisor's list) and restored; bad input is refused naming it; all is audited."""
    root, server = world.as_["root"], world.server
    status, made = await root("POST", "/api/admin/teams", {"slug": "gamma", "name": " Gamma "})
    assert status == 201 and (made["slug"], made["name"]) == ("gamma", "Gamma")
    before = await world.dump()
    for body, code, fragment in [
        ({"slug": "gamma", "name": "Again"}, 409, "team 'gamma' exists already"),
        ({"slug": "Bad Slug", "name": "X"}, 400, "'Bad Slug' is not a slug"),
        ({"slug": "delta", "name": ""}, 400, "name: some text"),
        ({"slug": "delta", "name": "two\nlines"}, 400, "one line"),
        ({"slug": "delta"}, 400, "the body is"),
        ({"slug": "delta", "name": "D", "extra": 1}, 400, "the body is"),
    ]:
        status, answer = await root("POST", "/api/admin/teams", body)
        assert status == code and fragment in answer["error"]["message"], (body, answer)
    for body in ({"archived": "yes"}, {}, {"colour": "red"}, {"name": 5}):
        assert (await root("PATCH", "/api/admin/teams/alpha", body))[0] == 400, body
    assert (await root("PATCH", "/api/admin/teams/nope", {"archived": True}))[0] == 404
    assert await world.dump() == before

    status, renamed = await root("PATCH", "/api/admin/teams/alpha", {"name": "Alpha Youth"})
    assert status == 200 and renamed["name"] == "Alpha Youth"
    status, archived = await root("PATCH", "/api/admin/teams/alpha", {"archived": True})
    assert status == 200 and archived["archived"] and archived["archived_at"] > 0

    with pytest.raises(ChatRefused) as refused:
        await (await server.client()).start("alpha", client_key(1))
    assert refused.value.code == "not_found"
    async with aiohttp.ClientSession() as http, http.get(server.url + "/widget/frame/alpha") as r:
        assert r.status == 404
    assert (await world.as_["sue"]("GET", "/api/admin/teams"))[1]["teams"] == []
    listed = (await root("GET", "/api/admin/teams"))[1]["teams"]
    assert [(t["slug"], t["archived"]) for t in listed] == [
        ("alpha", True),
        ("beta", False),
        ("gamma", False),
    ]

    status, restored = await root("PATCH", "/api/admin/teams/alpha", {"archived": False})
    assert status == 200 and not restored["archived"] and restored["archived_at"] is None
    started = await (await server.client()).start("alpha", client_key(2))
    assert started["type"] == "started"
    root_id = world.ids["root"]
    assert await world.audit("team.") == [
        (root_id, "team.created", "gamma"),
        (root_id, "team.renamed", "alpha"),
        (root_id, "team.archived", "alpha"),
        (root_id, "team.restored", "alpha"),
    ]


async def test_topics_are_added_renamed_and_removed_keeping_conversations(world: World) -> None:
    """Topics change one by one; removing one keeps its conversations, without a topic."""
    root, server = world.as_["root"], world.server
    started = await (await server.client()).start("alpha", client_key(1), topic="school")
    path = "/api/admin/teams/alpha/topics"

    status, added = await root("POST", path, {"slug": "family", "name": "Family"})
    assert (status, added) == (201, {"slug": "family", "name": "Family"})
    status, renamed = await root("PATCH", f"{path}/school", {"name": "School and work"})
    assert (status, renamed) == (200, {"slug": "school", "name": "School and work"})
    before = await world.dump()
    for method, sub, body, code in [
        ("POST", "", {"slug": "family", "name": "Again"}, 409),
        ("POST", "", {"slug": "Fam ily", "name": "F"}, 400),
        ("POST", "", {"slug": "x", "name": "a" * 201}, 400),
        ("PATCH", "/nope", {"name": "N"}, 404),
        ("PATCH", "/school", {"name": "N", "slug": "s"}, 400),
        ("DELETE", "/nope", None, 404),
    ]:
        status, answer = await root(method, path + sub, body)
        assert status == code, (method, sub, body, answer)
    assert await world.dump() == before

    status, gone = await root("DELETE", f"{path}/school")
    assert (status, gone) == (200, {"slug": "school", "deleted": True})
    status, listed = await world.as_["sue"]("GET", path)
    assert listed == {
        "team": "alpha",
        "topics": [{"slug": "family", "name": "Family"}, {"slug": "general", "name": "General"}],
    }
    async with server.db.read() as conn:
        row = (
            await conn.execute(
                select(m.conversations.c.topic_id).where(
                    m.conversations.c.id == started["conversation"]
                )
            )
        ).one()
    assert row.topic_id is None
    assert [a[1:] for a in await world.audit("topic.")] == [
        ("topic.added", "alpha"),
        ("topic.renamed", "alpha"),
        ("topic.removed", "alpha"),
    ]


# --------------------------------------------------------------------------- origins
GOOD_ORIGINS = [
    ("https://Agency.EXAMPLE", "https://agency.example"),
    ("https://agency.example:443/", "https://agency.example"),
    ("https://agency.example:8443", "https://agency.example:8443"),
    ("  https://www.agency.example  ", "https://www.agency.example"),
    ("https://BÜCHER.example", "https://xn--bcher-kva.example"),
    ("https://straße.de", "https://xn--strae-oqa.de"),
    ("http://localhost:3000", "http://localhost:3000"),
    ("http://127.0.0.1:8080/", "http://127.0.0.1:8080"),
    ("https://192.0.2.7", "https://192.0.2.7"),
]
BAD_ORIGINS = [
    ("http://agency.example", "needs https"),
    ("ftp://agency.example", "not an origin"),
    ("agency.example", "not an origin"),
    ("https://agency.example/chat", "no path"),
    ("https://agency.example/?q=1", "no path, query"),
    ("https://agency.example#top", "no fragment"),
    ("https://agency.example?", "query"),
    ("https://user@agency.example", "credentials"),
    ("https://@agency.example", "credentials"),
    ("https://*.agency.example", "no wildcards"),
    ("*", "no wildcards"),
    ("https://agency.example:99999", "host and port"),
    ("https://agency.example:0", "not a valid port"),
    ("https://[::1]", "IPv6"),
    ("https://agency..example", "not a valid host name"),
    ("https://agency.example.", "not a valid host name"),
    ("https://age_ncy.example", "not a valid host name"),
    ("https://ag%65ncy.example", "not a valid host name"),
    ("https://1.2.3", "not a valid IPv4 address"),
    ("https://agency .example", "no spaces"),
    ("https://" + "a" * 300 + ".example", "at most 300"),
    ("", "not an origin"),
    (42, "not an origin"),
]


@pytest.mark.parametrize(("given", "stored"), GOOD_ORIGINS)
def test_origins_are_normalised_as_browsers_send_them(given: str, stored: str) -> None:
    """Lower case, no default port, no trailing slash, international names as punycode."""
    assert widget_origin(given) == stored


@pytest.mark.parametrize(("given", "why"), BAD_ORIGINS)
def test_what_is_not_an_origin_is_refused_naming_it(given: Any, why: str) -> None:
    """Each refusal says what is wrong and quotes the entry."""
    with pytest.raises(Malformed) as refused:
        widget_origin(given)
    assert why in refused.value.message
    assert repr(given.strip() if isinstance(given, str) else given)[:40] in refused.value.message


async def test_origins_are_replaced_checked_and_take_effect(world: World) -> None:
    """PUT replaces the list; a bad entry is named by its index and nothing is stored; the
    widget starts from a new origin and no longer from a removed one."""
    root, server = world.as_["root"], world.server
    path = "/api/admin/teams/alpha/origins"
    status, put = await root(
        "PUT", path, {"origins": ["https://BÜCHER.example", "https://a.example/"]}
    )
    assert (status, put) == (
        200,
        {"team": "alpha", "origins": ["https://a.example", "https://xn--bcher-kva.example"]},
    )
    before = await world.dump()
    status, answer = await root(
        "PUT", path, {"origins": ["https://b.example", "http://agency.example"]}
    )
    assert status == 400
    assert answer["error"]["message"].startswith("origins[1]: a website needs https")
    assert "'http://agency.example'" in answer["error"]["message"]
    for body in ({"origins": "https://b.example"}, {"origins": [], "x": 1}, []):
        assert (await root("PUT", path, body))[0] == 400, body
    many = {"origins": [f"https://s{i}.example" for i in range(101)]}
    assert (await root("PUT", path, many))[0] == 400
    assert await world.dump() == before

    peer = await server.client(origin="https://xn--bcher-kva.example")
    assert (await peer.start("alpha", client_key(1)))["type"] == "started"
    beta = {"origins": ["https://xn--bcher-kva.example"]}
    assert (await root("PUT", "/api/admin/teams/beta/origins", beta))[0] == 200
    status, put = await root("PUT", path, {"origins": ["https://a.example"]})
    assert put["origins"] == ["https://a.example"]
    with pytest.raises(ChatRefused) as refused:
        await (await server.client(origin="https://xn--bcher-kva.example")).start(
            "alpha", client_key(2)
        )
    assert refused.value.code == "origin_not_allowed"
    assert (await world.as_["sue"]("GET", path))[1] == {
        "team": "alpha",
        "origins": ["https://a.example"],
    }
    assert [a[1:] for a in await world.audit("origin.")] == [
        ("origin.added", "alpha"),
        ("origin.added", "alpha"),
        ("origin.added", "beta"),
        ("origin.removed", "alpha"),
    ]


# --------------------------------------------------------------------------- accounts
async def test_staff_list_names_no_secret(world: World) -> None:
    """Each account with role, teams, flags and last sign-in; never a hash or a secret."""
    status, listed = await world.as_["root"]("GET", "/api/admin/staff")
    assert status == 200
    assert [s["username"] for s in listed["staff"]] == ["anna", "bob", "root", "sue"]
    anna = listed["staff"][0]
    assert anna == {
        "id": world.ids["anna"],
        "username": "anna",
        "name": "Anna",
        "role": "counsellor",
        "teams": ["alpha"],
        "disabled": False,
        "totp": False,
        "cap": None,
        "created_at": anna["created_at"],
        "last_login_at": anna["last_login_at"],
    }
    assert anna["last_login_at"] >= anna["created_at"]
    text = str(listed)
    assert "argon2" not in text and "credential" not in text and "secret" not in text


async def test_role_and_cap_change_and_are_checked(world: World) -> None:
    """A counsellor made supervisor reads its team at once; bad values are refused."""
    root, anna = world.as_["root"], world.ids["anna"]
    path = f"/api/admin/staff/{anna}"
    before = await world.dump()
    for body in (
        {"cap": 0},
        {"cap": 21},
        {"cap": "5"},
        {"cap": True},
        {"role": "boss"},
        {"disabled": "yes"},
        {"teams": ["beta"]},
        {},
    ):
        status, answer = await root("PATCH", path, body)
        assert status == 400 and answer["error"]["code"] == "malformed", body
    assert (await root("PATCH", "/api/admin/staff/nobody", {"cap": 2}))[0] == 404
    assert await world.dump() == before

    assert (await world.as_["anna"]("GET", "/api/admin/teams/alpha/topics"))[0] == 403
    status, changed = await root("PATCH", path, {"role": "supervisor", "cap": 5})
    assert (status, changed["role"], changed["cap"]) == (200, "supervisor", 5)
    assert (await world.as_["anna"]("GET", "/api/admin/teams/alpha/topics"))[0] == 200
    status, changed = await root("PATCH", path, {"cap": None})
    assert changed["cap"] is None
    assert [a[1] for a in await world.audit("staff.")] == [
        "staff.role_changed",
        "staff.cap_changed",
        "staff.cap_changed",
    ]


async def test_the_last_enabled_admin_stays(world: World) -> None:
    """The only enabled admin can be neither disabled nor demoted, by itself or anyone;
    with a second admin it can, and then the second is the last."""
    root = world.as_["root"]
    root_path = f"/api/admin/staff/{world.ids['root']}"
    before = await world.dump()
    for body in ({"disabled": True}, {"role": "supervisor"}, {"role": "counsellor", "cap": 2}):
        status, answer = await root("PATCH", root_path, body)
        assert status == 409, answer
        assert "'root' is the last enabled admin" in answer["error"]["message"]
    assert await world.dump() == before

    assert (await root("PATCH", f"/api/admin/staff/{world.ids['sue']}", {"role": "admin"}))[
        0
    ] == 200
    sue = await caller(world.server, "sue")
    status, answer = await sue("PATCH", root_path, {"role": "supervisor"})
    assert (status, answer["role"]) == (200, "supervisor")
    before = await world.dump()
    status, answer = await sue("PATCH", f"/api/admin/staff/{world.ids['sue']}", {"disabled": True})
    assert status == 409 and "'sue' is the last" in answer["error"]["message"]
    assert await world.dump() == before


async def test_disabling_ends_sessions_and_enabling_restores_sign_in(world: World) -> None:
    """A disabled account's session ends and it cannot sign in; enabled, it can again. An
    enrolment waiting for approval is not enabled this way."""
    root, anna_id, server = world.as_["root"], world.ids["anna"], world.server
    assert (await world.as_["anna"]("GET", "/api/me"))[0] == 200
    status, changed = await root("PATCH", f"/api/admin/staff/{anna_id}", {"disabled": True})
    assert status == 200 and changed["disabled"]
    assert (await world.as_["anna"]("GET", "/api/me"))[0] == 401
    with pytest.raises(ChatRefused):
        await caller(server, "anna")
    assert (await root("PATCH", f"/api/admin/staff/{anna_id}", {"disabled": False}))[0] == 200
    assert (await (await caller(server, "anna"))("GET", "/api/me"))[0] == 200

    # An account enrolled through an invitation and not yet approved.
    now = int(time.time() * 1000)
    async with server.db.write() as conn:
        team_id = (
            await conn.execute(select(m.teams.c.id).where(m.teams.c.slug == "alpha"))
        ).scalar_one()
        await conn.execute(update(m.staff).where(m.staff.c.id == anna_id).values(disabled_at=now))
        await conn.execute(
            insert(m.invites).values(
                id="i" * 20,
                team_id=team_id,
                role="counsellor",
                created_at=now,
                expires_at=now + 3_600_000,
                staff_id=anna_id,
                enrolled_at=now,
            )
        )
    before = await world.dump()
    status, answer = await root("PATCH", f"/api/admin/staff/{anna_id}", {"disabled": False})
    assert status == 409 and "signed roster" in answer["error"]["message"]
    assert await world.dump() == before
    assert [a[1] for a in await world.audit("staff.")] == ["staff.disabled", "staff.enabled"]


async def test_reset_2fa_clears_totp_and_ends_sessions(world: World) -> None:
    """After a reset the account signs in without a code and must enrol again."""
    root, anna_id, server = world.as_["root"], world.ids["anna"], world.server
    secret = pyotp.random_base32()
    async with server.db.write() as conn:
        await conn.execute(
            update(m.staff).where(m.staff.c.id == anna_id).values(totp_secret=secret)
        )
    anna = world.as_["anna"]  # signed in before the account had TOTP
    cookie, _ = await login(
        server.url,
        "anna",
        credential=credential("anna"),
        totp=pyotp.TOTP(secret).now(),
        origin=ORIGIN,
    )
    with_code = Caller(server, cookie)
    assert (await with_code("GET", "/api/me"))[1]["totp"] is True

    status, account = await root("POST", f"/api/admin/staff/{anna_id}/reset-2fa")
    assert status == 200 and account["totp"] is False
    for session in (anna, with_code):
        assert (await session("GET", "/api/me"))[0] == 401
    rows = await world.dump()
    staff = next(r for r in rows["staff"] if r[0] == anna_id)
    assert staff[5] is None and staff[6] is None  # totp_secret, totp_pending
    assert not [s for s in rows["sessions"] if s[1] == anna_id]
    me = (await (await caller(server, "anna"))("GET", "/api/me"))[1]
    assert me["totp"] is False
    assert (await root("POST", "/api/admin/staff/nobody/reset-2fa"))[0] == 404
    assert await world.audit("staff.totp") == [(world.ids["root"], "staff.totp_reset", anna_id)]
