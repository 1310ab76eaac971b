"""Self-delete from the widget: "Delete this chat", a confirmation that says what happens,
then the server deletes the conversation now (rows and storage key), the tab forgets it
(storage, keys, texts) and shows only that it is gone, and the counsellor's console hears
of it. By keyboard, with an axe scan of the confirmation, in German and English; while
waiting, while active and after the end. A blocked client cannot delete while the block
lasts. Same world as tests/browser/test_widget.py: Debian's Chromium, an agency page on another
origin, a real server and a Python counsellor."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from a11y import assert_no_serious, axe_scan, require_axe
from conftest import Server, client_key, dump, until
from test_widget import TEXTS, World, frame_storage, open_chat, world

from chatserver.sdk.peers import ChatRefused
from chatserver.storage.keystore import conversation_key_id
from chatserver.web.state import STORE

__all__ = ["world"]  # the fixture, shared with tests/browser/test_widget.py

BROWSER = pytest.mark.browser
ONCE = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # the server test: both

WORDS = {
    "en": {
        "delete": "Delete this chat",
        "title": "Delete this chat?",
        "text": "The conversation is deleted on the server now: all messages, the"
        " team\N{RIGHT SINGLE QUOTATION MARK}s notes and the keys. Nobody can restore it,"
        " not even the team.",
        "yes": "Yes, delete it",
        "no": "No, keep it",
        "deleted": "The conversation has been deleted.",
        "again": "Start a new chat",
    },
    "de": {
        "delete": "Diesen Chat löschen",
        "title": "Diesen Chat löschen?",
        "text": "Das Gespräch wird jetzt auf dem Server gelöscht: alle Nachrichten, die Notizen"
        " des Teams und die Schlüssel. Niemand kann es wiederherstellen, auch das Team nicht.",
        "yes": "Ja, löschen",
        "no": "Nein, behalten",
        "deleted": "Das Gespräch wurde gelöscht.",
        "again": "Neuen Chat starten",
    },
}


async def chat_page(world: World, chromium: Any, lang: str) -> Any:
    """The agency's page, the chat opened, the consent given and a first message stored."""
    from playwright.async_api import expect

    page = await open_chat(world, chromium, lang)
    frame = page.frame_locator("iframe")
    box = frame.get_by_label(TEXTS[lang]["label"])
    await box.fill("please help")
    await box.press("Enter")
    await expect(frame.locator("#log li.me .st")).to_have_text(TEXTS[lang]["stored"])
    return page


def rows_of(tables: dict[str, list[tuple[Any, ...]]], cid: str) -> dict[str, int]:
    """How many rows of the conversation each table holds."""
    return {
        name: sum(cid in row for row in tables[name])
        for name in ("conversations", "messages", "key_envelopes")
    }


async def key_of(world: World, cid: str) -> bytes | None:
    key: bytes | None = await world.server.app[STORE].keystore.get(conversation_key_id(cid))
    return key


@BROWSER
@ONCE
@pytest.mark.parametrize(("when", "lang"), [("waiting", "de"), ("active", "en"), ("ended", "en")])
async def test_delete_this_chat_by_keyboard(
    world: World, chromium: Any, when: str, lang: str
) -> None:
    """Tab to "Delete this chat", read the confirmation (no serious axe finding), keep the
    chat once, then delete it: the rows and the storage key are gone, the counsellor is
    told, the tab holds nothing, and a reload asks nothing."""
    from playwright.async_api import expect

    require_axe()
    words, text = WORDS[lang], TEXTS[lang]
    desk = await world.counsellor()
    await until(desk.peer, "queue")
    page = await chat_page(world, chromium, lang)
    frame = page.frame_locator("iframe")
    cid = (await until(desk.peer, "queued"))["item"]["conversation"]
    if when != "waiting":
        await desk.accept(cid)
        await desk.say(cid, "Hello, Anna here.")
        await desk.note(cid, "note-1", "first contact")
        await expect(frame.locator("#log li.team p")).to_have_text("Hello, Anna here.")
    if when == "ended":
        await desk.close(cid)
        await expect(frame.locator("#status")).to_have_text(text["ended"])
    before = rows_of(await dump(world.server.settings.database_url), cid)
    assert before["conversations"] == 1 and before["messages"] >= 1
    assert before["key_envelopes"] >= (0 if when == "waiting" else 2)  # key escrow, note
    assert await key_of(world, cid) is not None

    # The control is reached by Tab (after the message box and the end button).
    delete = frame.get_by_role("button", name=words["delete"])
    start = frame.locator("#again") if when == "ended" else frame.get_by_label(text["label"])
    await start.focus()
    for _ in range(8):
        await page.keyboard.press("Tab")
        if await delete.evaluate("(e) => e === document.activeElement"):
            break
    await expect(delete).to_be_focused()
    await page.keyboard.press("Enter")
    dialog = frame.get_by_role("alertdialog", name=words["title"])
    await expect(dialog).to_be_visible()
    await expect(dialog).to_contain_text(words["text"])
    keep = frame.get_by_role("button", name=words["no"])
    await expect(keep).to_be_focused()  # the safe choice first
    assert_no_serious(await axe_scan(page), "delete confirmation")
    await page.keyboard.press("Enter")
    await expect(delete).to_be_focused()  # kept: back where the visitor was
    assert await state_of_row(world, cid) is not None

    await page.keyboard.press("Enter")
    await expect(keep).to_be_focused()
    await page.keyboard.press("Tab")
    await expect(frame.get_by_role("button", name=words["yes"])).to_be_focused()
    await page.keyboard.press("Enter")
    await expect(frame.get_by_role("heading", name=words["deleted"])).to_be_visible()
    await expect(frame.locator("#v-deleted")).to_be_focused()
    await expect(frame.get_by_role("button", name=words["again"])).to_be_visible()

    # The console hears of it: a waiting chat leaves the queue, a held one is released.
    if when == "waiting":
        await until(desk.peer, "dequeued", conversation=cid)
    else:
        await until(desk.peer, "state", conversation=cid, state="deleted", reason="client_deleted")
        if when == "active":
            await until(desk.peer, "released", conversation=cid, reason="client_deleted")
    after = rows_of(await dump(world.server.settings.database_url), cid)
    assert after == {"conversations": 0, "messages": 0, "key_envelopes": 0}
    assert await key_of(world, cid) is None
    # Nothing of it left in the tab: no storage, no message text on the page.
    assert await frame_storage(page) is None
    inner = await (await page.query_selector("iframe")).content_frame()  # type: ignore[union-attr]
    assert await inner.evaluate("sessionStorage.length") == 0
    assert "please help" not in await inner.content()
    assert "Anna" not in await inner.content()

    await page.reload()
    await page.get_by_role("button", name=text["launch"]).click()
    await expect(frame.get_by_role("button", name=text["agree"])).to_be_visible()
    await expect(frame.get_by_role("button", name=text["continue"])).to_be_hidden()
    assert await frame_storage(page) is None


async def state_of_row(world: World, cid: str) -> str | None:
    row = await world.server.app[STORE].conversation(cid)
    return row.state.value if row else None


@BROWSER
@ONCE
async def test_a_blocked_chat_offers_no_delete(world: World, chromium: Any) -> None:
    """A block while the visitor reads the delete confirmation: the dialog closes and the
    widget offers no delete any more (the team keeps the record while the block lasts)."""
    from playwright.async_api import expect

    desk = await world.counsellor()
    await until(desk.peer, "queue")
    page = await chat_page(world, chromium, "en")
    frame = page.frame_locator("iframe")
    cid = (await until(desk.peer, "queued"))["item"]["conversation"]
    await desk.accept(cid)
    delete = frame.get_by_role("button", name=WORDS["en"]["delete"])
    await delete.click()
    dialog = frame.get_by_role("alertdialog", name=WORDS["en"]["title"])
    await expect(dialog).to_be_visible()
    await desk.peer.block(cid, hours=2)
    await expect(dialog).to_be_hidden()
    await expect(frame.locator("#status")).to_have_text(
        "The counselling team has ended this conversation."
    )
    await expect(delete).to_be_hidden()
    assert await state_of_row(world, cid) == "closed"


async def test_the_server_refuses_delete_while_blocked(server: Server) -> None:
    """A blocked client's delete is refused like its resume, and nothing is deleted; once
    the block is lifted the client may delete."""
    from sqlalchemy import delete

    from chatserver.storage import models as m

    await server.staff("anna", ["alpha"])
    console = await server.console("anna")
    client = await server.client()
    started = await client.start("alpha", client_key())
    await console.accept(started["conversation"])
    await console.block(started["conversation"], hours=2)
    await until(client, "state", state="closed", reason="blocked")
    await client.send_frame({"type": "delete"})
    with pytest.raises(ChatRefused) as refused:
        await client.next("state")
    assert refused.value.code == "blocked"
    assert len((await dump(server.settings.database_url))["conversations"]) == 1

    async with server.db.write() as conn:  # the block expires (or an admin lifts it)
        await conn.execute(delete(m.blocks))
    assert (await client.delete())["state"] == "deleted"
    assert (await dump(server.settings.database_url))["conversations"] == []


@BROWSER
@ONCE
async def test_an_unconfirmed_delete_wipes_nothing(world: World, chromium: Any) -> None:
    """When the server does not confirm the delete (here a proxy answers it with an
    error), the dialog says the chat could not be deleted and nothing is wiped; the next
    try goes through."""
    from playwright.async_api import WebSocketRoute, expect

    refusing = True

    def proxy(ws: WebSocketRoute) -> None:
        server = ws.connect_to_server()

        def upstream(message: str | bytes) -> None:
            if refusing and json.loads(message).get("type") == "delete":
                ws.send(json.dumps({"type": "error", "code": "server_error", "answers": "delete"}))
            else:
                server.send(message)

        ws.on_message(upstream)

    desk = await world.counsellor()
    await until(desk.peer, "queue")
    page = await chromium.new_page()
    await page.route_web_socket(re.compile(r"/ws/client$"), proxy)
    await page.goto(world.embed(lang="en"))
    await page.get_by_role("button", name=TEXTS["en"]["launch"]).click()
    frame = page.frame_locator("iframe")
    await frame.get_by_role("button", name=TEXTS["en"]["agree"]).click()
    cid = (await until(desk.peer, "queued"))["item"]["conversation"]
    await frame.get_by_role("button", name=WORDS["en"]["delete"]).click()
    await frame.get_by_role("button", name=WORDS["en"]["yes"]).click()
    failed = frame.get_by_role("alert")
    await expect(failed).to_have_text(
        "The chat could not be deleted. Check your connection and try again."
    )
    await expect(frame.get_by_role("button", name=WORDS["en"]["yes"])).to_be_focused()
    assert cid in (await frame_storage(page) or "")
    assert await key_of(world, cid) is not None

    refusing = False
    await frame.get_by_role("button", name=WORDS["en"]["yes"]).click()
    await expect(frame.get_by_role("heading", name=WORDS["en"]["deleted"])).to_be_visible()
    assert await frame_storage(page) is None
    assert await state_of_row(world, cid) is None


async def test_the_server_refuses_delete_under_a_legal_hold(server: Server) -> None:
    """A legal hold wins over self-delete: the client's `delete` is refused with
    `legal_hold` and nothing changes (rows, storage key, statistics, audit log); once the
    hold is released the client may delete."""
    from conftest import caller

    from chatserver.web.state import STORE

    await server.staff("anna", ["alpha"])
    await server.staff("root", [], role="admin")
    console = await server.console("anna")
    client = await server.client()
    started = await client.start("alpha", client_key())
    cid = started["conversation"]
    await console.accept(cid)
    await client.send_frame({"type": "send", "id": "m1", "body": "AAAA", "gen": 1, "n": 0})
    await until(client, "ack", id="m1")
    admin = await caller(server, "root")
    status, hold = await admin(
        "POST", f"/api/conversations/{cid}/holds", {"reason": "court order", "days": 30}
    )
    assert status == 201, hold
    before = await dump(server.settings.database_url)

    await client.send_frame({"type": "delete"})
    error = await until(client, "error")
    assert (error["code"], error["answers"]) == ("legal_hold", "delete")
    assert "legal reason" in error["message"]
    assert await dump(server.settings.database_url) == before  # nothing written at all
    assert await server.app[STORE].keystore.get(conversation_key_id(cid)) is not None
    await console.send_frame({"type": "fetch", "conversation": cid, "after": 0})
    assert (await until(console, "message"))["id"] == "m1"  # the team still reads it

    status, _ = await admin("DELETE", f"/api/holds/{hold['id']}")
    assert status == 200
    assert (await client.delete())["state"] == "deleted"
    assert (await dump(server.settings.database_url))["conversations"] == []


HELD = {
    "en": "This chat cannot be deleted now: it must be kept for a legal reason."
    " The counselling team can explain why.",
    "de": "Dieser Chat kann jetzt nicht gelöscht werden: Er muss aus rechtlichen Gründen"
    " aufbewahrt werden. Das Beratungsteam kann Dir sagen, warum.",
}


@BROWSER
@ONCE
@pytest.mark.parametrize("lang", ["en", "de"])
async def test_a_held_chat_says_why_it_cannot_be_deleted(
    world: World, chromium: Any, lang: str
) -> None:
    """Under a legal hold the confirmed delete is refused: the dialog says plainly that the
    chat must be kept for a legal reason and that the team can explain, with the safe
    choice focused; nothing is deleted or wiped, and the chat goes on."""
    from playwright.async_api import expect

    from chatserver.records.retention import place_hold

    require_axe()
    words = WORDS[lang]
    desk = await world.counsellor()
    await until(desk.peer, "queue")
    page = await chat_page(world, chromium, lang)
    frame = page.frame_locator("iframe")
    cid = (await until(desk.peer, "queued"))["item"]["conversation"]
    await desk.accept(cid)
    async with world.server.db.write() as conn:
        await place_hold(conn, cid, "court order", 2**62, "cli", 0)
    before = rows_of(await dump(world.server.settings.database_url), cid)

    await frame.get_by_role("button", name=words["delete"]).click()
    await frame.get_by_role("button", name=words["yes"]).click()
    alert = frame.get_by_role("alert")
    await expect(alert).to_have_text(HELD[lang])
    await expect(frame.get_by_role("button", name=words["no"])).to_be_focused()
    assert_no_serious(await axe_scan(page), "delete refused under a hold")
    assert rows_of(await dump(world.server.settings.database_url), cid) == before
    assert await key_of(world, cid) is not None
    assert cid in (await frame_storage(page) or "")
    await expect(frame.get_by_role("heading", name=words["deleted"])).to_be_hidden()

    await page.keyboard.press("Enter")  # "No, keep it": back to the chat, which goes on
    await expect(frame.get_by_role("button", name=words["delete"])).to_be_focused()
    await desk.say(cid, "still here")
    await expect(frame.locator("#log li.team p")).to_have_text("still here")
