"""The client's transcript, on the device only: a team switch (off by default) that admins
set by `PATCH /api/admin/teams/SLUG` or `chatserver team transcript`, audited, shown in
the public status and in the privacy report; and in Chromium, "Save this chat on this
device" with a plain warning about shared devices, a file built in the browser from the
decrypted messages, and no request to the server for it. Same world as
tests/browser/test_widget.py: Debian's Chromium, an agency page on another origin, a real server
and a Python counsellor."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from a11y import assert_no_serious, axe_scan, require_axe
from conftest import Server, caller, until
from sqlalchemy import select
from test_cli import Run, ok, run  # noqa: F401 (run: fixture)
from test_widget import TEXTS, World, open_chat, world

from chatserver.ops import cli
from chatserver.records import privacy
from chatserver.storage import models as m

__all__ = ["world"]  # the fixture, shared with tests/browser/test_widget.py

BROWSER = pytest.mark.browser
ONCE = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # the server test: both

WORDS = {
    "en": {
        "save": "Save this chat",
        "title": "Save this chat as a file?",
        "warning": "anyone who uses this device after you can find and read it.",
        "yes": "Save the file",
        "no": "No, don\N{RIGHT SINGLE QUOTATION MARK}t save",
        "saved": "Saved on this device.",
        "me": "You",
        "team": "Counsellor",
    },
    "de": {
        "save": "Diesen Chat speichern",
        "title": "Diesen Chat als Datei speichern?",
        "warning": "Wer das Gerät nach Dir benutzt, kann sie finden und lesen.",
        "yes": "Datei speichern",
        "no": "Nein, nicht speichern",
        "saved": "Auf diesem Gerät gespeichert.",
        "me": "Du",
        "team": "Beratung",
    },
}


async def status_of(server: Server, slug: str = "alpha") -> dict[str, Any]:
    who = await caller(server, None)
    code, body = await who("GET", f"/api/teams/{slug}/status?lang=en")
    assert code == 200, body
    return body  # type: ignore[no-any-return]


async def test_the_switch_is_off_by_default_and_set_by_admins(server: Server) -> None:
    """A new team offers no transcript; an admin switches it on and off (audited), a bad
    value is refused and changes nothing, a supervisor may not, and the public status and
    the privacy report say what is in force."""
    await server.staff("root", [], role="admin")
    await server.staff("sue", ["alpha"], role="supervisor")
    root, sue = await caller(server, "root"), await caller(server, "sue")
    assert (await status_of(server))["transcript"] is False
    for body in ({"transcript": "yes"}, {"transcript": 1}, {"transcript": None}):
        code, _ = await root("PATCH", "/api/admin/teams/alpha", body)
        assert code == 400, body
    assert (await sue("PATCH", "/api/admin/teams/alpha", {"transcript": True}))[0] == 403
    assert (await status_of(server))["transcript"] is False

    code, team = await root("PATCH", "/api/admin/teams/alpha", {"transcript": True})
    assert code == 200 and team["transcript"] is True
    assert (await status_of(server))["transcript"] is True
    assert (await status_of(server, "beta"))["transcript"] is False
    data = await privacy.collect(server.db, server.settings, 0)
    assert {t["slug"]: t["transcript"] for t in data["teams"]} == {"alpha": True, "beta": False}
    code, team = await root("PATCH", "/api/admin/teams/alpha", {"transcript": True})
    assert code == 200  # no change: not audited again
    code, team = await root("PATCH", "/api/admin/teams/alpha", {"transcript": False})
    assert code == 200 and team["transcript"] is False
    assert (await status_of(server))["transcript"] is False
    async with server.db.read() as conn:
        a = m.audit.c
        actions = (
            await conn.execute(
                select(a.action, a.target).where(a.action.like("team.transcript%")).order_by(a.id)
            )
        ).all()
    assert [tuple(r) for r in actions] == [
        ("team.transcript_on", "alpha"),
        ("team.transcript_off", "alpha"),
    ]


def test_cli_switches_the_transcript(run: Run) -> None:  # noqa: F811
    """`chatserver team transcript SLUG on|off`, and the privacy report names the switch."""
    ok(run("team", "add", "alpha", "--name", "Alpha"))
    assert "offers a transcript" in ok(run("team", "transcript", "alpha", "on"))
    data = json.loads(ok(run("privacy-report", "--format", "json")))
    assert next(t for t in data["teams"] if t["slug"] == "alpha")["transcript"] is True
    assert "On-device transcript for clients: offered" in ok(run("privacy-report"))
    assert "does not offer" in ok(run("team", "transcript", "alpha", "off"))
    assert run("team", "transcript", "alpha", "maybe").returncode == 2


@BROWSER
@ONCE
@pytest.mark.parametrize("lang", ["en", "de"])
async def test_the_transcript_is_made_on_the_device(
    world: World, chromium: Any, lang: str, tmp_path: Path
) -> None:
    """With the team's switch on: "Save this chat" warns about shared devices (the safe
    choice focused, no serious axe finding), and on "save" the browser downloads a text
    file with the conversation's plaintext, while no request and no frame went to the
    server."""
    from playwright.async_api import expect

    require_axe()
    await cli.team_change(world.server.db, "alpha", transcript=True)
    words = WORDS[lang]
    desk = await world.counsellor()
    await until(desk.peer, "queue")
    page = await open_chat(world, chromium, lang)
    frame = page.frame_locator("iframe")
    box = frame.get_by_label(TEXTS[lang]["label"])
    await box.fill("I need someone to talk to\nabout school")
    await box.press("Enter")
    cid = (await until(desk.peer, "queued"))["item"]["conversation"]
    await desk.accept(cid)
    await desk.say(cid, "Hello, Anna here. <b>Tell me</b>")
    await expect(frame.locator("#log li.team p")).to_have_text("Hello, Anna here. <b>Tell me</b>")

    # From now on: every request, every new socket, every frame on the widget's socket.
    requests: list[str] = []
    sockets: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    page.on("websocket", lambda ws: sockets.append(ws.url))
    inner = await (await page.query_selector("iframe")).content_frame()
    await inner.evaluate(
        """() => {
          window.__sent = 0;
          const send = WebSocket.prototype.send;
          WebSocket.prototype.send = function (data) {
            window.__sent++;
            return send.call(this, data);
          };
        }"""
    )
    save = frame.get_by_role("button", name=words["save"])
    await save.click()
    dialog = frame.get_by_role("alertdialog", name=words["title"])
    await expect(dialog).to_contain_text(words["warning"])
    await expect(frame.get_by_role("button", name=words["no"])).to_be_focused()
    assert_no_serious(await axe_scan(page), "save confirmation")
    await page.keyboard.press("Enter")  # "no": back to the button, nothing saved
    await expect(save).to_be_focused()
    await save.press("Enter")
    async with page.expect_download() as info:
        await frame.get_by_role("button", name=words["yes"]).click()
    download = await info.value
    assert download.suggested_filename.startswith("chat-")
    assert download.suggested_filename.endswith(".txt")
    path = tmp_path / "transcript.txt"
    await download.save_as(path)
    text = path.read_text("utf-8")
    assert f"{words['me']}: I need someone to talk to\nabout school" in text
    assert f"{words['team']}: Hello, Anna here. <b>Tell me</b>" in text
    await expect(frame.get_by_role("status").filter(has_text=words["saved"])).to_be_visible()
    await expect(save).to_be_focused()
    assert_no_serious(await axe_scan(page), "chat with the transcript saved")
    assert [u for u in requests if not u.startswith("blob:")] == []
    assert sockets == [] and await inner.evaluate("window.__sent") == 0


@BROWSER
@ONCE
async def test_with_the_switch_off_no_transcript_is_offered(world: World, chromium: Any) -> None:
    """By default the widget offers no way to save the conversation, in a chat or after a
    reload."""
    from playwright.async_api import expect

    desk = await world.counsellor()
    await until(desk.peer, "queue")
    page = await open_chat(world, chromium)
    frame = page.frame_locator("iframe")
    box = frame.get_by_label(TEXTS["en"]["label"])
    await box.fill("hello")
    await box.press("Enter")
    cid = (await until(desk.peer, "queued"))["item"]["conversation"]
    await desk.accept(cid)
    await expect(frame.locator("#status")).to_have_text(TEXTS["en"]["active"])
    await expect(frame.get_by_role("button", name="Delete this chat")).to_be_visible()
    await expect(frame.get_by_role("button", name=WORDS["en"]["save"])).to_have_count(0)
    await page.reload()
    await page.get_by_role("button", name=TEXTS["en"]["launch"]).click()
    await frame.get_by_role("button", name=TEXTS["en"]["continue"]).click()
    await expect(frame.locator("#status")).to_have_text(TEXTS["en"]["active"])
    await expect(frame.get_by_role("button", name=WORDS["en"]["save"])).to_have_count(0)
