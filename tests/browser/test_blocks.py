"""Client blocks after the duty console set them: a team's blocks in force are listed for
its supervisors and for admins (with the blocked chat while it exists, never the token's
hash), lifted early with the CSRF token (audited, the client may resume again), and
they end by the server's clock. Counsellors and other teams' supervisors are refused and
change nothing. The admin area's Blocks page shows and lifts them in Chromium, with
axe-core in English and German."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import aiohttp
import pytest
from a11y import assert_no_serious, axe_scan, require_axe
from conftest import Desk, FakeClock, Server, caller, client_key, dump, until
from sqlalchemy import select
from test_admin_area import admin_page, open_page, sign_in

from chatserver.sdk.peers import ChatRefused, ConsolePeer, login
from chatserver.staff.auth import hash_token
from chatserver.storage import models as m

ONCE = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # browser tests
HOUR = 3600
FIELDS = {"id", "created_at", "expires_at", "created_by", "conversation"}


async def staff(server: Server) -> dict[str, str]:
    """alpha: counsellor anna, supervisor sue; beta: supervisor bob; root: admin."""
    return {
        "anna": await server.staff("anna", ["alpha"]),
        "sue": await server.staff("sue", ["alpha"], role="supervisor"),
        "bob": await server.staff("bob", ["beta"], role="supervisor"),
        "root": await server.staff("root", [], role="admin"),
    }


async def blocked_chat(server: Server, hours: int) -> dict[str, Any]:
    """A client of alpha whose chat anna accepts and then blocks for ``hours``; the
    ``started`` frame (conversation and token)."""
    anna = await server.console("anna")
    client = await server.client()
    started = await client.start("alpha", client_key())
    await anna.accept(started["conversation"])
    await anna.block(started["conversation"], hours=hours)
    await until(client, "state", state="closed", reason="blocked")
    return started


async def resume(server: Server, started: dict[str, Any]) -> dict[str, Any]:
    """The client comes back with its token: the ``resumed`` frame, or ChatRefused."""
    again = await server.client()
    return await again.resume(started["conversation"], started["token"])


async def audit(server: Server, action: str) -> list[tuple[Any, ...]]:
    a = m.audit.c
    async with server.db.read() as conn:
        rows = await conn.execute(
            select(a.actor, a.target, a.detail).where(a.action == action).order_by(a.id)
        )
        return [tuple(r) for r in rows]


async def test_a_supervisor_sees_and_lifts_a_block(server: Server) -> None:
    """Listed for the team's supervisor and admins (conversation, who, when; no token
    hash); refused to counsellors and other teams' supervisors; lifting it lets the client
    resume its closed chat, is audited, and a second lift finds nothing."""
    ids = await staff(server)
    started = await blocked_chat(server, hours=2)
    cid = started["conversation"]
    with pytest.raises(ChatRefused) as refused:
        await resume(server, started)
    assert refused.value.code == "blocked"

    sue, root = await caller(server, "sue"), await caller(server, "root")
    status, listed = await sue("GET", "/api/teams/alpha/blocks")
    assert status == 200, listed
    assert listed["team"] == "alpha" and len(listed["blocks"]) == 1
    block = listed["blocks"][0]
    assert set(block) == FIELDS
    assert block["conversation"] == cid
    assert block["created_by"] == {"id": ids["anna"], "name": "Anna"}
    assert block["expires_at"] - block["created_at"] == 2 * HOUR * 1000
    assert hash_token(started["token"]) not in json.dumps(listed)
    assert (await root("GET", "/api/teams/alpha/blocks")) == (200, listed)
    status, answer = await sue("GET", "/api/teams/beta/blocks")  # not sue's team
    assert (status, answer["error"]["code"]) == (403, "forbidden")

    anna, bob = await caller(server, "anna"), await caller(server, "bob")
    before = await dump(server.settings.database_url)
    path = f"/api/blocks/{block['id']}"
    for who, method, where in (
        (anna, "GET", "/api/teams/alpha/blocks"),
        (anna, "DELETE", path),
        (bob, "GET", "/api/teams/alpha/blocks"),
        (bob, "DELETE", path),
    ):
        status, answer = await who(method, where)
        assert (status, answer["error"]["code"]) == (403, "forbidden"), (method, where)
    assert (await sue("DELETE", path, csrf=False))[0] == 401
    for bad in ("abc", "-1", "1.5", "99999", "1" * 40):
        status, answer = await sue("DELETE", f"/api/blocks/{bad}")
        assert (status, answer["error"]["code"]) == (404, "not_found"), bad
    assert await _foreign_origin(server, sue, path) == 403
    assert await dump(server.settings.database_url) == before

    assert await sue("DELETE", path) == (200, {"id": block["id"], "lifted": True})
    assert (await sue("GET", "/api/teams/alpha/blocks"))[1]["blocks"] == []
    resumed = await resume(server, started)
    assert resumed["conversation"] == cid and resumed["state"] == "closed"
    [(actor, target, detail)] = await audit(server, "client.unblocked")
    assert (actor, target) == (ids["sue"], cid)
    assert json.loads(detail)["block"] == block["id"]
    assert set(json.loads(detail)) == {"block", "team"}
    status, answer = await root("DELETE", path)
    assert (status, answer["error"]["code"]) == (404, "not_found")
    assert len(await audit(server, "client.unblocked")) == 1


async def _foreign_origin(server: Server, who: Any, path: str) -> int:
    """The same lift, sent from another website's page (cookie and token included)."""
    headers = {"Origin": "https://evil.example", "Cookie": who.cookie, "X-CSRF-Token": who.csrf}
    async with (
        aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as http,
        http.delete(server.url + path, headers=headers) as r,
    ):
        return r.status


async def clocked(make_server: Callable[..., Any], **settings: Any) -> tuple[Server, FakeClock]:
    """A server on a fake clock (sessions outlive the test's days) with alpha and beta."""
    clock = FakeClock()
    server: Server = await make_server(clock=clock, session_hours=24 * 365.0, **settings)
    await server.team("alpha")
    await server.team("beta")
    return server, clock


async def test_a_block_ends_by_the_servers_clock(make_server: Callable[..., Any]) -> None:
    """A 24-hour block refuses the resume at +23 h and admits it after +24 h; then it is
    no longer listed and cannot be lifted."""
    server, clock = await clocked(make_server)
    await staff(server)
    started = await blocked_chat(server, hours=24)
    sue = await caller(server, "sue")
    clock.advance(23 * HOUR)
    with pytest.raises(ChatRefused) as refused:
        await resume(server, started)
    assert refused.value.code == "blocked"
    [block] = (await sue("GET", "/api/teams/alpha/blocks"))[1]["blocks"]

    clock.advance(HOUR + 1)
    assert (await resume(server, started))["state"] == "closed"
    assert (await sue("GET", "/api/teams/alpha/blocks"))[1]["blocks"] == []
    status, answer = await sue("DELETE", f"/api/blocks/{block['id']}")
    assert (status, answer["error"]["code"]) == (404, "not_found")
    assert await audit(server, "client.unblocked") == []


async def test_a_block_outlives_its_conversation(make_server: Callable[..., Any]) -> None:
    """Once retention has removed the blocked chat (here after 1 day), the block is still
    listed, without a conversation, and can be lifted; the audit entry names none."""
    server, clock = await clocked(make_server, retention_defaults="messages=1d, metadata=1d")
    ids = await staff(server)
    await blocked_chat(server, hours=72)
    clock.advance(25 * HOUR)  # the conversation is past due: hidden before any sweep
    root = await caller(server, "root")
    [block] = (await root("GET", "/api/teams/alpha/blocks"))[1]["blocks"]
    assert block["conversation"] is None
    assert block["created_by"] == {"id": ids["anna"], "name": "Anna"}
    assert (await root("DELETE", f"/api/blocks/{block['id']}"))[0] == 200
    [(actor, target, _)] = await audit(server, "client.unblocked")
    assert (actor, target) == (ids["root"], None)


# --------------------------------------------------------------------------- browser
async def demo_block(desk: Desk) -> str:
    """The demo counsellor accepts a chat and blocks it for 24 hours; its id."""
    cookie, _ = await login(desk.url, "demo", password=desk.password("demo"), origin=desk.url)
    console = await ConsolePeer.connect(desk.url, cookie, origin=desk.url)
    desk.server.peers.append(console)
    client = await desk.server.client(origin=desk.url)
    cid = str((await client.start("demo", client_key()))["conversation"])
    await console.accept(cid)
    await console.block(cid, hours=24)
    return cid


@pytest.mark.browser
@ONCE
async def test_an_admin_lifts_a_block_in_the_admin_area(desk: Desk, chromium: Any) -> None:
    """The Blocks page lists the block (when, until, by whom, the chat), passes axe in
    English and German, and lifts it after a confirmation: the row is gone."""
    from playwright.async_api import expect

    require_axe()
    cid = await demo_block(desk)
    page = await admin_page(chromium)
    await sign_in(desk, page)
    body = await open_page(page, "Blocks")
    blocks = body.get_by_role("table", name="Blocks in force, newest first")
    row = blocks.locator("tbody tr")
    await expect(row).to_have_count(1)
    await expect(row.get_by_role("cell").nth(2)).to_have_text("Demo counsellor")
    await expect(row.get_by_role("cell").nth(3)).to_have_text(cid)
    assert_no_serious(await axe_scan(page, frames=False), "Blocks (en)")

    await page.get_by_role("button", name="Deutsch").click()
    body = await open_page(page, "Chat-Sperren")
    lift = body.get_by_role("button", name=f"Sperre aufheben für Gespräch {cid}")
    await expect(lift).to_be_visible()
    assert_no_serious(await axe_scan(page, frames=False), "Chat-Sperren (de)")
    await lift.click()
    dialog = page.get_by_role("dialog", name="Bitte bestätigen")
    await expect(dialog).to_contain_text(f"Die Sperre für Gespräch {cid} jetzt aufheben?")
    assert_no_serious(await axe_scan(page, frames=False), "confirmation (de)")
    await dialog.get_by_role("button", name="Abbrechen").click()
    await expect(dialog).to_have_count(0)
    await expect(lift).to_be_focused()

    await page.get_by_role("button", name="English").click()
    body = await open_page(page, "Blocks")
    await body.get_by_role("button", name=f"Lift block on conversation {cid}").click()
    dialog = page.get_by_role("dialog", name="Please confirm")
    assert_no_serious(await axe_scan(page, frames=False), "confirmation (en)")
    await dialog.get_by_role("button", name="Lift block").click()
    await expect(dialog).to_have_count(0)
    await expect(body.get_by_text("The block is lifted.")).to_be_visible()
    await expect(body.get_by_role("table")).to_have_count(0)
    await expect(body.get_by_text("No client of this team is blocked right now.")).to_be_visible()
    await expect(body.get_by_role("heading", name="Blocks in force")).to_be_focused()
    assert_no_serious(await axe_scan(page, frames=False), "Blocks, none (en)")
    answer = await page.request.get(desk.url + "/api/teams/demo/blocks")
    assert (await answer.json())["blocks"] == []
    assert not page.errors
