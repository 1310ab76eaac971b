"""Who may use each endpoint of the admin area beyond ``/api/admin`` (test_admin_http.py has
those): opening hours, canned replies, statistics, retention rules and preview, holds,
sweep reports, the audit log, the privacy report, epochs, invitations, rosters, the
team's keys and client blocks. Each role tries each endpoint: allowed, or 401 (nobody, or
a write without the CSRF token) / 403, and a refusal leaves the database exactly as it
was. A last test makes sure every ``/api`` route of the server is in one of the tables,
so an endpoint added later cannot miss its check."""

from __future__ import annotations

from typing import Any, NamedTuple

from conftest import Server, client_key
from test_admin_http import ROLES, World, endpoints, world  # noqa: F401 (the fixture)

HOURS = {"timezone": "Europe/Berlin", "weekly": {"mon": ["09:00-17:00"]}}
DAYS = "from=2026-01-01&to=2026-01-31"


class Entry(NamedTuple):
    method: str
    route: str  # the route as registered
    path: str  # the route with this test's values
    body: Any
    allowed: set[str]
    ok: set[int]  # what the allowed roles get (400: shape refused after the role check)


def table(conversation: str, block: int) -> list[Entry]:
    a = "/api/teams/alpha"
    t = "/api/teams/{slug}"
    hold = {"reason": "court order", "days": 3}
    return [
        Entry("GET", t + "/hours", a + "/hours", None, {"root", "sue"}, {200}),
        Entry("PUT", t + "/hours", a + "/hours", HOURS, {"root"}, {200}),
        Entry("GET", t + "/consent", a + "/consent", None, {"root", "sue"}, {200}),
        Entry("PUT", t + "/consent", a + "/consent", {"de": "Text", "en": "Text"}, {"root"}, {200}),
        Entry("GET", t + "/consent/suggestion", a + "/consent/suggestion", None, {"root"}, {200}),
        Entry("GET", t + "/canned", a + "/canned", None, {"root", "sue", "anna"}, {200}),
        Entry("GET", t + "/people", a + "/people", None, {"root", "sue", "anna"}, {200}),
        Entry("GET", t + "/chats", a + "/chats", None, {"root", "sue"}, {200}),
        Entry(
            "POST",
            t + "/canned",
            a + "/canned",
            {"title": "Hi", "body": "Hallo", "lang": "de"},
            {"root", "sue"},
            {201},
        ),
        Entry("GET", t + "/stats", f"{a}/stats?{DAYS}", None, {"root", "sue"}, {200}),
        Entry("GET", t + "/stats.csv", f"{a}/stats.csv?{DAYS}", None, {"root", "sue"}, {200}),
        Entry("GET", t + "/stats.svg", f"{a}/stats.svg?{DAYS}", None, {"root", "sue"}, {200}),
        Entry("GET", t + "/retention", a + "/retention", None, {"root", "sue"}, {200}),
        Entry("PUT", t + "/retention", a + "/retention", {"messages": "3d"}, {"root"}, {200}),
        Entry(
            "POST",
            t + "/retention/preview",
            a + "/retention/preview",
            {"changes": {"messages": "2d"}},
            {"root"},
            {200},
        ),
        Entry("GET", t + "/holds", a + "/holds", None, {"root", "sue"}, {200}),
        Entry(
            "POST",
            "/api/conversations/{conversation}/holds",
            f"/api/conversations/{conversation}/holds",
            hold,
            {"root", "sue"},
            {201, 409},
        ),
        Entry("GET", t + "/blocks", a + "/blocks", None, {"root", "sue"}, {200}),
        # The first allowed role lifts it; the next finds it gone.
        Entry(
            "DELETE", "/api/blocks/{id}", f"/api/blocks/{block}", None, {"root", "sue"}, {200, 404}
        ),
        Entry("GET", "/api/retention/reports", "/api/retention/reports", None, {"root"}, {200}),
        Entry("GET", "/api/admin/audit", "/api/admin/audit", None, {"root"}, {200}),
        Entry("GET", "/api/admin/audit.csv", "/api/admin/audit.csv", None, {"root"}, {200}),
        Entry("GET", "/api/admin/audit/verify", "/api/admin/audit/verify", None, {"root"}, {200}),
        Entry(
            "GET", "/api/admin/privacy-report", "/api/admin/privacy-report", None, {"root"}, {200}
        ),
        Entry("GET", t + "/epochs", a + "/epochs", None, {"root", "sue"}, {200}),
        Entry("POST", t + "/bundles", a + "/bundles", {"bundles": []}, {"root"}, {400}),
        Entry("POST", t + "/invites", a + "/invites", {"role": "counsellor"}, {"root"}, {201}),
        Entry("GET", t + "/enrolments", a + "/enrolments", None, {"root"}, {200}),
        Entry(
            "POST",
            t + "/enrolments/{invite}/approve",
            a + "/enrolments/nosuchinvite/approve",
            {"roster": {}},
            {"root"},
            {400},
        ),
        Entry("POST", t + "/roster", a + "/roster", {"roster": {}}, {"root"}, {400}),
        Entry("GET", t + "/roster", a + "/roster", None, {"root", "sue", "anna"}, {404}),
        Entry("POST", t + "/team-keys", a + "/team-keys", {"envelopes": []}, {"root"}, {400}),
        Entry("GET", t + "/team-keys/mine", a + "/team-keys/mine", None, {"sue", "anna"}, {200}),
        Entry("POST", t + "/root-keys", a + "/root-keys", {"envelopes": []}, {"root"}, {400}),
        # Only admins who are members of the team: root is an admin of no team.
        Entry("GET", t + "/root-key/mine", a + "/root-key/mine", None, set(), set()),
    ]


#: Endpoints that are not the admin area's: a client's or anybody's (the public team
#: status and bundle, an invitation's own link), or the signed-in person's own.
NOT_ADMIN = {
    ("POST", "/api/login"),
    ("POST", "/api/login/salt"),
    ("POST", "/api/logout"),
    ("GET", "/api/me"),
    ("GET", "/api/me/identity"),
    ("POST", "/api/me/identity"),
    ("POST", "/api/me/totp"),
    ("POST", "/api/me/totp/confirm"),
    ("GET", "/api/invites/{invite}"),
    ("POST", "/api/invites/{invite}/enrol"),
    ("GET", "/api/teams/{slug}/status"),
    ("GET", "/api/teams/{slug}/bundle"),
}

#: Covered by the tests named, with data this table's world has not got (a hold's id, a
#: canned reply's id).
ELSEWHERE = {
    ("PATCH", "/api/holds/{id}"): "test_retention.py, test_admin_area.py",
    ("DELETE", "/api/holds/{id}"): "test_retention.py, test_admin_area.py",
    ("PUT", "/api/canned/{id}"): "test_canned.py",
    ("DELETE", "/api/canned/{id}"): "test_canned.py",
}


async def a_conversation(server: Server) -> str:
    client = await server.client()
    return str((await client.start("alpha", client_key()))["conversation"])


async def a_block(w: World) -> int:
    """A client of alpha blocked by anna in the duty console; the block's id."""
    anna = await w.server.console("anna")
    conversation = await a_conversation(w.server)
    await anna.accept(conversation)
    await anna.block(conversation, hours=2)
    status, listed = await w.as_["root"]("GET", "/api/teams/alpha/blocks")
    assert status == 200, listed
    return int(listed["blocks"][0]["id"])


async def test_each_role_on_each_endpoint_of_the_admin_area(world: World) -> None:  # noqa: F811
    rows = table(await a_conversation(world.server), await a_block(world))
    before = await world.dump()
    for e in rows:
        tries = [(r, world.as_[r], True) for r in ROLES if r not in e.allowed]
        if e.method != "GET":
            tries.append(("root without CSRF token", world.as_["root"], False))
        for who, call, csrf in tries:
            status, answer = await call(e.method, e.path, e.body, csrf=csrf)
            expected = 401 if who == "anonymous" or not csrf else 403
            assert status == expected, (e.method, e.path, who, answer)
            assert await world.dump() == before, f"{e.method} {e.path} by {who} changed data"
    for e in rows:
        for who in sorted(e.allowed):
            status, answer = await world.as_[who](e.method, e.path, e.body)
            assert status in e.ok, (e.method, e.path, who, status, answer)


def test_every_api_route_has_its_check(server: Server) -> None:
    """A new endpoint must join a table: this one, test_admin_http's, or the short lists
    above of what is not the admin area's."""
    covered = {(e.method, e.route) for e in table("c", 0)}
    ids = {"root": "x", "sue": "x", "bob": "x", "anna": "x"}
    covered |= {(method, _route(path)) for method, path, _, _ in endpoints(ids)}
    routes = {
        (route.method, route.resource.canonical)
        for route in server.app.router.routes()
        if route.resource is not None
        and route.resource.canonical.startswith("/api/")
        and route.method != "HEAD"
    }
    missing = routes - covered - NOT_ADMIN - set(ELSEWHERE)
    assert not missing, f"endpoints without a role check in a test table: {sorted(missing)}"


def _route(path: str) -> str:
    """test_admin_http's concrete paths as their routes."""
    parts = path.split("/")
    if path.startswith("/api/admin/teams/") and len(parts) > 4:
        parts[4] = "{slug}"
        if len(parts) > 6:
            parts[6] = "{topic}"
    if path.startswith("/api/admin/staff/") and len(parts) > 4:
        parts[4] = "{id}"
    return "/".join(parts)
