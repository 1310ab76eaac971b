"""Reading along: a team's supervisors and admins see its chats in progress and read one
in the console, end to end, without taking it over; every reading is audited, and the
counsellor's chat goes on untouched."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from conftest import Desk, Server, caller, client_key, until


async def audit_reads(server: Server) -> list[tuple[str | None, str | None, dict[str, Any]]]:
    from sqlalchemy import select

    from chatserver.storage import models as m

    a = m.audit.c
    async with server.db.read() as conn:
        rows = await conn.execute(
            select(a.actor, a.target, a.detail).where(a.action == "conversation.read")
        )
        return [(r.actor, r.target, json.loads(r.detail)) for r in rows]


async def test_team_chats_are_listed_for_supervisors_and_reading_is_audited(
    server: Server,
) -> None:
    anna = await server.staff("anna", ["alpha"], name="Anna A.")
    sue = await server.staff("sue", ["alpha"], role="supervisor", name="Sue")
    await server.staff("bob", ["beta"], role="supervisor")
    console = await server.console("anna")
    client = await server.client()
    cid = (await client.start("alpha", client_key(1), topic="school"))["conversation"]
    await client.send("c1", b"queued")
    waiting = await (await server.client()).start("alpha", client_key(2))
    await console.accept(cid, id="acc", key=b"K" * 65, body=b"accept")
    await console.fetch(cid)  # the holder's own reading is not audited
    await until(console, "message", id="acc")

    status, listed = await (await caller(server, "sue"))("GET", "/api/teams/alpha/chats")
    assert status == 200
    assert [c["conversation"] for c in listed["chats"]] == [cid]  # not the waiting one
    chat = listed["chats"][0]
    assert (chat["topic"], chat["counsellor"], chat["transfers"]) == (
        "school",
        {"id": anna, "name": "Anna A."},
        0,
    )
    assert waiting["conversation"] not in json.dumps(listed)
    for who in ("anna", "bob"):
        assert (await (await caller(server, who))("GET", "/api/teams/alpha/chats"))[0] == 403
    assert await audit_reads(server) == []

    supervisor = await server.console("sue")
    await supervisor.envelope_list(cid)
    await supervisor.fetch(cid)
    assert (await until(supervisor, "message", id="acc"))["author"] == anna
    assert await audit_reads(server) == [
        (sue, cid, {"what": "keys"}),
        (sue, cid, {"what": "messages"}),
    ]
    # Reading took nothing over: the chat is still anna's and goes on.
    assert (await console.send(cid, "t1", b"still mine", gen=1, n=0))["seq"] == 3
    assert (await until(client, "message", id="t1"))["sender"] == "team"
    assert supervisor.pending("assigned") == []


@pytest.mark.browser
@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_a_supervisor_reads_along_in_the_console(desk: Desk, chromium: Any) -> None:
    """The admin's console lists the chat a counsellor holds and shows it, decrypted in
    the browser with its note, read only; a refresh brings what was written since; the
    counsellor and the client notice nothing; a counsellor has no such list."""
    from a11y import assert_no_serious, axe_scan, require_axe
    from playwright.async_api import expect
    from test_console import accept_first, log, open_widget, reply, said, sign_in, widget_says

    require_axe()
    anna = await sign_in(desk, chromium, "demo")
    await expect(anna.get_by_role("heading", name="Team chats")).to_be_hidden()
    client = await open_widget(desk, chromium, "I need help", topic="School")
    await accept_first(anna)
    await reply(anna, "I am here")
    await anna.get_by_label("New note").fill("NOTE-9 call back tomorrow")
    await anna.get_by_role("button", name="Add note").click()
    await expect(anna.locator("#notes li")).to_have_count(1)

    admin = await sign_in(desk, chromium, "admin")
    chats = admin.locator("#team-chats li")
    await expect(chats).to_have_count(1)
    await expect(chats.first).to_contain_text("School")
    await expect(chats.first).to_contain_text("Demo counsellor")
    await chats.first.get_by_role("button", name=re.compile("^Read")).click()
    dialog = admin.get_by_role("dialog", name="Reading along")
    await expect(dialog.locator(".log li")).to_have_text(
        [said("Client", "I need help"), said("Demo counsellor · stored", "I am here")]
    )
    await expect(dialog.locator(".note-list li")).to_have_text(
        [said("Demo counsellor", "NOTE-9 call back tomorrow")]
    )
    await expect(dialog.get_by_role("textbox")).to_have_count(0)  # read only
    assert_no_serious(await axe_scan(admin, frames=False), "reading along")

    await widget_says(client, "thank you")
    await expect(log(anna).last).to_have_text(said("Client", "thank you"))
    await dialog.get_by_role("button", name="Refresh").click()
    await expect(dialog.locator(".log li").last).to_have_text(said("Client", "thank you"))
    await dialog.get_by_role("button", name="Close").click()
    await expect(dialog).to_be_hidden()

    # The counsellor's chat goes on as before.
    await reply(anna, "you are welcome")
    frame = client.frame_locator("iframe")
    await expect(frame.locator("#log li.team p").last).to_have_text("you are welcome")
    await expect(frame.locator("#log li.problem")).to_have_count(0)
    await expect(anna.locator("#chat-status")).to_have_text("")
