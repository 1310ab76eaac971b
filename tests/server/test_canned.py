"""Canned replies through the real server, on SQLite and PostgreSQL: members of a team
and admins read them; admins and the team's supervisors write them with the CSRF token;
every refusal changes nothing; every change is audited without the text."""

from __future__ import annotations

import json
from typing import Any

import aiohttp
import pytest
from conftest import Caller, Server, caller, dump
from sqlalchemy import delete, select

from chatserver.records.audit import verify_chain
from chatserver.storage import models as m

DU = "Hallo, schön, dass Du schreibst. Magst Du erzählen, was Dich beschäftigt?"


@pytest.fixture
async def team(server: Server) -> dict[str, Caller]:
    """alpha: counsellor anna and supervisor sue; beta: supervisor bob; admin root."""
    await server.staff("anna", ["alpha"])
    await server.staff("sue", ["alpha"], role="supervisor")
    await server.staff("bob", ["beta"], role="supervisor")
    await server.staff("root", [], role="admin")
    names = ("anna", "sue", "bob", "root", None)
    return {str(n): await caller(server, n) for n in names}


def reply(title: str = "Begrüßung", body: str = DU, lang: str = "de") -> dict[str, str]:
    return {"title": title, "body": body, "lang": lang}


async def audit_rows(server: Server) -> list[Any]:
    async with server.db.read() as conn:
        return list(
            await conn.execute(
                select(m.audit).where(m.audit.c.action.like("canned.%")).order_by(m.audit.c.id)
            )
        )


# --------------------------------------------------------------------------- CRUD
async def test_create_list_change_delete(server: Server, team: dict[str, Caller]) -> None:
    """A supervisor's reply is listed for the team's counsellor, changed and deleted."""
    sue, anna = team["sue"], team["anna"]
    status, made = await sue("POST", "/api/teams/alpha/canned", reply())
    assert status == 201, made
    assert made["title"] == "Begrüßung" and made["body"] == DU and made["lang"] == "de"
    assert made["created_at"] == made["updated_at"] > 0
    status, en = await sue(
        "POST", "/api/teams/alpha/canned", reply("Hello", "Hi, good to see you.", "en")
    )
    assert status == 201, en

    status, listed = await anna("GET", "/api/teams/alpha/canned")
    assert status == 200
    assert listed["team"] == "alpha"
    assert [r["id"] for r in listed["replies"]] == [made["id"], en["id"]]  # by lang, title
    assert listed["replies"][0] == made

    status, changed = await team["root"](
        "PUT",
        f"/api/canned/{made['id']}",
        reply("Begrüßung (kurz)", "Hallo, schön, dass Du da bist."),
    )
    assert status == 200, changed
    assert changed["title"] == "Begrüßung (kurz)" and changed["updated_by"] != made["updated_by"]

    status, gone = await sue("DELETE", f"/api/canned/{made['id']}")
    assert (status, gone) == (200, {"id": made["id"], "deleted": True})
    status, listed = await anna("GET", "/api/teams/alpha/canned")
    assert [r["id"] for r in listed["replies"]] == [en["id"]]
    assert (await sue("DELETE", f"/api/canned/{made['id']}"))[0] == 404

    status, other = await team["bob"]("GET", "/api/teams/beta/canned")
    assert (status, other["replies"]) == (200, [])


async def test_limits_are_exact(server: Server, team: dict[str, Caller]) -> None:
    """A title of 80 and a text of 2000 characters (umlauts, emoji, lines) are kept whole."""
    title = "Ä" * 80
    body = ("Du 😊\n" * 500)[:2000]
    status, made = await team["sue"]("POST", "/api/teams/alpha/canned", reply(title, body))
    assert status == 201, made
    assert (made["title"], made["body"]) == (title, body.strip())


# --------------------------------------------------------------------------- rights
ALLOWED = {
    # endpoint: who may (the rest get 403, nobody signed in 401)
    "list": {"anna", "sue", "root"},
    "create": {"sue", "root"},
    "change": {"sue", "root"},
    "delete": {"sue", "root"},
}


async def _attempt(who: Caller, endpoint: str, reply_id: int) -> tuple[int, Any]:
    match endpoint:
        case "list":
            return await who("GET", "/api/teams/alpha/canned")
        case "create":
            return await who("POST", "/api/teams/alpha/canned", reply("Neu"))
        case "change":
            return await who("PUT", f"/api/canned/{reply_id}", reply("Geändert"))
        case _:
            return await who("DELETE", f"/api/canned/{reply_id}")


async def test_who_may_do_what(server: Server, team: dict[str, Caller]) -> None:
    """Role by endpoint: allowed, or 403 (signed in) / 401 (not), and a refusal changes
    nothing in the database."""
    url = server.settings.database_url
    outcomes = {}
    for endpoint, allowed in ALLOWED.items():
        for name, who in team.items():
            _, target = await team["root"]("POST", "/api/teams/alpha/canned", reply())
            before = await dump(url)
            status, body = await _attempt(who, endpoint, target["id"])
            outcomes[endpoint, name] = status
            if name == "None":
                assert status == 401 and body["error"]["code"] == "unauthorized", body
            elif name not in allowed:
                assert status == 403 and body["error"]["code"] == "forbidden", body
                assert body["error"]["message"]
            else:
                assert status in (200, 201), (endpoint, name, body)
            if status >= 400:
                assert await dump(url) == before, (endpoint, name)
    refused = sorted(k for k, v in outcomes.items() if v == 403)
    assert ("create", "anna") in refused and ("list", "bob") in refused


async def test_another_teams_reply_cannot_be_touched(
    server: Server, team: dict[str, Caller]
) -> None:
    """bob supervises beta: alpha's replies are not his, by team path or by id."""
    _, made = await team["sue"]("POST", "/api/teams/alpha/canned", reply())
    before = await dump(server.settings.database_url)
    bob = team["bob"]
    assert (await bob("POST", "/api/teams/alpha/canned", reply()))[0] == 403
    assert (await bob("PUT", f"/api/canned/{made['id']}", reply("x")))[0] == 403
    assert (await bob("DELETE", f"/api/canned/{made['id']}"))[0] == 403
    assert await dump(server.settings.database_url) == before


# --------------------------------------------------------------------------- refusals
MALFORMED: list[tuple[Any, str]] = [
    ({"title": "x", "body": "y"}, "the body is"),
    ({**reply(), "team": "beta"}, "the body is"),
    (["x"], "the body is"),
    (reply(title=""), "title"),
    (reply(title="   "), "title"),
    (reply(title="x" * 81), "at most 80"),
    (reply(title="two\nlines"), "one line"),
    ({**reply(), "title": 3}, "title"),
    (reply(body=""), "body"),
    (reply(body="x" * 2001), "at most 2000"),
    (reply(body="bell\x07"), "control"),
    ({**reply(), "body": None}, "body"),
    (reply(lang="fr"), "lang: one of de, en"),
    (reply(lang="DE"), "lang"),
]


async def test_malformed_is_refused_and_says_why(server: Server, team: dict[str, Caller]) -> None:
    """A bad reply is `malformed` with a message naming the problem; nothing is stored."""
    _, made = await team["sue"]("POST", "/api/teams/alpha/canned", reply())
    before = await dump(server.settings.database_url)
    for body, says in MALFORMED:
        for method, path in (
            ("POST", "/api/teams/alpha/canned"),
            ("PUT", f"/api/canned/{made['id']}"),
        ):
            status, answer = await team["sue"](method, path, body)
            assert status == 400, (body, answer)
            assert answer["error"]["code"] == "malformed"
            assert says in answer["error"]["message"], (body, answer)
    assert await dump(server.settings.database_url) == before


async def test_not_json_and_unknown_ids(server: Server, team: dict[str, Caller]) -> None:
    """A body that is not JSON is malformed; an unknown or non-numeric id is 404."""
    sue = team["sue"]
    status, answer = await sue("POST", "/api/teams/alpha/canned", raw=b"{nope")
    assert (status, answer["error"]["code"]) == (400, "malformed")
    for path in ("/api/canned/999999", "/api/canned/abc", "/api/canned/-1"):
        status, answer = await sue("PUT", path, reply())
        assert (status, answer["error"]["code"]) == (404, "not_found"), path
    assert (await sue("GET", "/api/teams/nosuch/canned"))[0] == 404


async def test_writes_need_the_csrf_token(server: Server, team: dict[str, Caller]) -> None:
    """Without the X-CSRF-Token header every write is 401 and changes nothing; a foreign
    Origin is 403."""
    sue = team["sue"]
    _, made = await sue("POST", "/api/teams/alpha/canned", reply())
    before = await dump(server.settings.database_url)
    for method, path, body in (
        ("POST", "/api/teams/alpha/canned", reply()),
        ("PUT", f"/api/canned/{made['id']}", reply("x")),
        ("DELETE", f"/api/canned/{made['id']}", None),
    ):
        status, answer = await sue(method, path, body, csrf=False)
        assert (status, answer["error"]["code"]) == (401, "unauthorized"), (method, answer)
        async with (
            aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as http,
            http.request(
                method,
                server.url + path,
                json=body,
                headers={
                    "Cookie": sue.cookie or "",
                    "X-CSRF-Token": sue.csrf or "",
                    "Origin": "https://evil.example",
                },
            ) as r,
        ):
            assert r.status == 403
    assert await dump(server.settings.database_url) == before


# --------------------------------------------------------------------------- audit
async def test_every_change_is_audited_without_the_text(
    server: Server, team: dict[str, Caller]
) -> None:
    """Create, change and delete each write who/what/when to the hash chain; no title or
    text reaches the audit log."""
    sue, root = team["sue"], team["root"]
    secret_title, secret_body = "Titel-Kanarie", "Text-Kanarie, Du"
    _, made = await sue("POST", "/api/teams/alpha/canned", reply(secret_title, secret_body))
    await root(
        "PUT", f"/api/canned/{made['id']}", reply(secret_title + "2", secret_body + "2", "en")
    )
    await sue("DELETE", f"/api/canned/{made['id']}")
    rows = await audit_rows(server)
    assert [r.action for r in rows] == ["canned.created", "canned.changed", "canned.deleted"]
    sue_id = (await sue("GET", "/api/me"))[1]["staff"]["id"]
    root_id = (await root("GET", "/api/me"))[1]["staff"]["id"]
    assert [r.actor for r in rows] == [sue_id, root_id, sue_id]
    assert {r.target for r in rows} == {str(made["id"])}
    assert [json.loads(r.detail)["lang"] for r in rows] == ["de", "en", "en"]
    assert all(r.at > 0 for r in rows)
    everything = json.dumps((await dump(server.settings.database_url))["audit"], default=str)
    assert "Kanarie" not in everything
    assert (await verify_chain(server.db)).ok


async def test_refusals_write_no_audit(server: Server, team: dict[str, Caller]) -> None:
    """A counsellor's refused write leaves no audit entry."""
    assert (await team["anna"]("POST", "/api/teams/alpha/canned", reply()))[0] == 403
    assert await audit_rows(server) == []


# --------------------------------------------------------------------------- teams
async def test_deleting_a_team_deletes_its_replies(server: Server, team: dict[str, Caller]) -> None:
    """Replies go with their team (cascade); another team's stay."""
    await team["bob"]("POST", "/api/teams/beta/canned", reply())
    await team["sue"]("POST", "/api/teams/alpha/canned", reply())
    async with server.db.write() as conn:
        await conn.execute(delete(m.teams).where(m.teams.c.slug == "beta"))
    rows = (await dump(server.settings.database_url))["canned_replies"]
    assert len(rows) == 1
    assert (await team["anna"]("GET", "/api/teams/alpha/canned"))[0] == 200
