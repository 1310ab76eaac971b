"""The duty console as counsellors use it: Debian's Chromium signs in to a real server set
up by ``chatserver demo`` (a team with real keys, two counsellors), clients write from the
widget on the demo start page (or through the Python SDK), and the console decrypts,
answers, transfers, notes, closes and blocks. Synchronised by Playwright's auto-waiting
assertions and by server frames, never by sleeping."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from conftest import Desk

from chatserver.ops import cli

pytestmark = [
    pytest.mark.browser,
    # The server logic runs on both databases elsewhere; the browser runs once.
    pytest.mark.parametrize("db_url", ["sqlite"], indirect=True),
]


BLOCKED = "The counselling team has ended this conversation."


async def console_page(browser: Any, username: str = "") -> Any:
    context = await browser.new_context(locale="en-GB")
    page = await context.new_page()
    page.on("pageerror", lambda e: print(f"{username} pageerror:", e))
    return page


SIGN_IN = {
    "en": ("Username", "Password", "Sign in", "On duty"),
    "de": ("Benutzername", "Passwort", "Anmelden", "Im Dienst"),
}


async def sign_in(
    desk: Desk, browser: Any, username: str, page: Any = None, lang: str = "en"
) -> Any:
    """A console page of its own (own cookies and storage), signed in and unlocked."""
    from playwright.async_api import expect

    user, password, button, heading = SIGN_IN[lang]
    page = page or await console_page(browser, username)
    if not page.url.endswith("/console"):
        await page.goto(desk.url + "/console")
    form = page.locator("#signin")
    await form.get_by_label(user).fill(username)
    await form.get_by_label(password).fill(desk.password(username))
    await form.get_by_role("button", name=button).click()
    await expect(page.get_by_role("heading", name=heading)).to_be_visible(timeout=30_000)
    return page


async def open_widget(
    desk: Desk, browser: Any, text: str, frames: list[str] | None = None, topic: str = ""
) -> Any:
    """A client on the demo start page: opens the widget, agrees, writes ``text``;
    ``frames`` collects every frame its socket receives."""
    from playwright.async_api import expect

    context = await browser.new_context(locale="en-GB")
    page = await context.new_page()
    if frames is not None:
        page.on("websocket", lambda ws: ws.on("framereceived", lambda f: frames.append(f)))
    await page.goto(desk.url + "/")
    await page.get_by_role("button", name="Chat with a counsellor").click()
    frame = page.frame_locator("iframe")
    if topic:
        await frame.get_by_label(topic).check()
    await frame.get_by_role("button", name="I agree, start the chat").click()
    box = frame.get_by_label("Your message")
    await box.fill(text)
    await box.press("Enter")
    await expect(frame.locator("#log li.me .st").last).not_to_have_text("sending")
    return page


def queue(page: Any) -> Any:
    return page.locator("#queue li")


async def accept_first(page: Any) -> None:
    await page.locator("#queue li button").first.click()


def log(page: Any) -> Any:
    return page.locator("#log li")


def said(who: str, text: str) -> re.Pattern[str]:
    """A message (or note) as the console shows it: who (and its state), when, what."""
    return re.compile("^" + re.escape(who) + r"(.*, )?\d\d:\d\d" + re.escape(text) + "$")


async def reply(page: Any, text: str) -> None:
    from playwright.async_api import expect

    box = page.get_by_label("Your reply")
    await box.fill(text)
    await box.press("Enter")
    await expect(page.locator("#log li.team", has_text=text).locator(".meta")).not_to_have_text(
        "You · sending"
    )


async def widget_says(page: Any, text: str) -> None:
    from playwright.async_api import expect

    frame = page.frame_locator("iframe")
    box = frame.get_by_label("Your message")
    await box.fill(text)
    await box.press("Enter")
    await expect(frame.locator("#log li.me .st").last).not_to_have_text("sending")


def database_bytes(desk: Desk) -> bytes:
    path = Path(str(desk.server.settings.database_url).split("///", 1)[1])
    return b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))


# --------------------------------------------------------------------------- tests
async def test_queue_accept_and_chat_end_to_end(desk: Desk, chromium: Any) -> None:
    """Two consoles see two clients queue live; each counsellor accepts one; the other's
    queue loses it at once; messages go both ways in plain text on screen, each chat only
    with its own client, and only as ciphertext into the database."""
    from playwright.async_api import expect

    anna = await sign_in(desk, chromium, "demo")
    ben = await sign_in(desk, chromium, "demo2")
    await expect(anna.locator("#shift li")).to_contain_text(["Second counsellor: Available"])
    client = await open_widget(desk, chromium, "I need to talk to someone")
    await expect(queue(anna)).to_have_count(1)
    await expect(queue(ben)).to_have_count(1)
    other = await open_widget(desk, chromium, "is anyone there")
    await expect(queue(anna)).to_have_count(2)
    await expect(queue(ben)).to_have_count(2)
    await expect(anna).to_have_title("(2) Duty console")
    await accept_first(anna)  # the one who waited longest
    await expect(log(anna).first).to_have_text(said("Client", "I need to talk to someone"))
    await expect(queue(ben)).to_have_count(1)
    await expect(queue(anna)).to_have_count(1)
    await expect(ben).to_have_title("(1) Duty console")
    await accept_first(ben)
    await expect(log(ben).first).to_have_text(said("Client", "is anyone there"))
    await expect(queue(anna)).to_have_count(0)
    await expect(anna).to_have_title("Duty console")
    await reply(anna, "I am here. What happened?")
    await reply(ben, "Yes, Ben here.")
    frame = client.frame_locator("iframe")
    await expect(frame.locator("#log li.team p").last).to_have_text("I am here. What happened?")
    other_frame = other.frame_locator("iframe")
    await expect(other_frame.locator("#log li.team p")).to_have_text(["Yes, Ben here."])
    await widget_says(client, "school was awful today")
    await widget_says(other, "my parents fight")
    await expect(log(anna).last).to_have_text(said("Client", "school was awful today"))
    await expect(log(ben).last).to_have_text(said("Client", "my parents fight"))
    # The client's message acknowledged the reply: it was read.
    await expect(anna.locator("#log li.team .meta").last).to_have_text("You · read")
    await expect(log(anna)).to_have_count(3)
    await expect(log(ben)).to_have_count(3)
    await expect(frame.locator("#log li.team p")).to_have_text(["I am here. What happened?"])
    stored = database_bytes(desk)
    for text in ("I need to talk", "What happened", "school was awful", "Ben here", "parents"):
        assert text.encode() not in stored


async def test_transfer_with_a_handover_note(desk: Desk, chromium: Any) -> None:
    """Anna notes and hands the chat to Ben with a note; Ben's console shows it arriving
    with the history, the note and the handover; the client's chat goes on unbroken; no
    note ever reaches the client's socket."""
    from playwright.async_api import expect

    anna = await sign_in(desk, chromium, "demo")
    ben = await sign_in(desk, chromium, "demo2")
    frames: list[str] = []
    client = await open_widget(desk, chromium, "hello", frames)
    await accept_first(anna)
    await reply(anna, "Hi, I am Anna")
    await anna.get_by_label("New note").fill("NOTE-1 seems scared of home")
    await anna.get_by_role("button", name="Add note").click()
    await expect(anna.locator("#notes li")).to_have_text(
        [said("You", "NOTE-1 seems scared of home")]
    )

    await anna.get_by_role("button", name="Transfer (Alt+T)").click()
    dialog = anna.get_by_role("dialog", name="Hand over this chat")
    await dialog.get_by_label("To").select_option(label="Second counsellor (Available)")
    await dialog.get_by_label("Handover note").fill("HANDOVER-2 talk about school")
    await dialog.get_by_role("button", name="Confirm").click()
    await expect(anna.get_by_role("tab")).to_have_count(0)

    await expect(ben.get_by_role("tab")).to_have_count(1)
    await expect(ben.locator("#handovers")).to_have_text(
        "Handover note from Demo counsellor: HANDOVER-2 talk about school"
    )
    await expect(log(ben)).to_have_text(
        [said("Client", "hello"), said("Demo counsellor · stored", "Hi, I am Anna")]
    )
    await expect(ben.locator("#notes li")).to_have_text(
        [said("Demo counsellor", "NOTE-1 seems scared of home")]
    )
    await reply(ben, "Ben here, Anna told me")
    frame = client.frame_locator("iframe")
    await expect(frame.locator("#log li.team p").last).to_have_text("Ben here, Anna told me")
    await widget_says(client, "ok thanks")
    await expect(log(ben).last).to_have_text(said("Client", "ok thanks"))
    await expect(frame.locator("#log li.problem")).to_have_count(0)
    # The client's socket carried messages, and never a note or a handover.
    kinds = {json.loads(f)["type"] for f in frames}
    assert "message" in kinds and "envelope" not in kinds and "envelopes" not in kinds
    assert not [f for f in frames if "NOTE-1" in f or "HANDOVER" in f]
    assert not [f for f in frames if '"author"' in f]  # no colleague is named to the client
    stored = database_bytes(desk)
    assert b"NOTE-1" not in stored and b"HANDOVER-2" not in stored


async def test_reload_brings_back_history_and_draft(desk: Desk, chromium: Any) -> None:
    """A reload asks for the password again, then shows the history, the unsent draft and
    what the client wrote meanwhile; the chat goes on (the console rekeys)."""
    from playwright.async_api import expect

    anna = await sign_in(desk, chromium, "demo")
    client = await open_widget(desk, chromium, "first")
    await accept_first(anna)
    await reply(anna, "answer one")
    await anna.get_by_label("Your reply").fill("half a sentence")
    await expect(anna.get_by_label("Your reply")).to_have_value("half a sentence")
    stored = await anna.evaluate("sessionStorage.getItem('cc-console-drafts')")
    assert stored and "half" not in stored  # sealed under a key from the password
    await anna.reload()
    await widget_says(client, "are you still there?")
    unlock = anna.locator("#unlock")
    await unlock.get_by_label("Password").fill(desk.password("demo"))
    await unlock.get_by_role("button", name="Unlock").click()
    await expect(log(anna)).to_have_text(
        [
            said("Client", "first"),
            said("You · read", "answer one"),
            said("Client", "are you still there?"),
        ]
    )
    await expect(anna.get_by_label("Your reply")).to_have_value("half a sentence")
    await anna.get_by_label("Your reply").fill("yes, I am here")
    await anna.get_by_label("Your reply").press("Enter")
    frame = client.frame_locator("iframe")
    await expect(frame.locator("#log li.team p").last).to_have_text("yes, I am here")
    await expect(frame.locator("#log li.problem")).to_have_count(0)


async def test_block_ends_the_chat_and_refuses_the_client(desk: Desk, chromium: Any) -> None:
    """Block: the chat ends with a clear message in the widget, and the client's tab cannot
    continue it; the block is audited with no address."""
    from playwright.async_api import expect

    anna = await sign_in(desk, chromium, "demo")
    client = await open_widget(desk, chromium, "abuse")
    await accept_first(anna)
    await anna.get_by_role("button", name="Block (Alt+B)").click()
    dialog = anna.get_by_role("dialog", name="Block this client")
    await dialog.get_by_label("Block for").select_option("168")
    await dialog.get_by_role("button", name="Confirm").click()
    await expect(anna.locator("#chat-status")).to_have_text("This chat has ended.")
    frame = client.frame_locator("iframe")
    await expect(
        frame.get_by_text("The counselling team has ended this conversation.")
    ).to_be_visible()
    await client.reload()
    await client.get_by_role("button", name="Chat with a counsellor").click()
    await frame.get_by_role("button", name="Continue").click()
    await expect(
        frame.get_by_text("The counselling team has ended this conversation.")
    ).to_be_visible()
    async with desk.server.db.read() as conn:
        from sqlalchemy import select

        from chatserver.storage import models as m

        rows = (await conn.execute(select(m.audit.c.action, m.audit.c.detail))).all()
    blocks = [r for r in rows if r.action == "client.blocked"]
    assert len(blocks) == 1 and json.loads(blocks[0].detail) == {"hours": 168}


async def test_accept_beyond_the_cap_is_refused(desk: Desk, chromium: Any) -> None:
    from playwright.async_api import expect
    from sqlalchemy import update

    from chatserver.storage import models as m

    async with desk.server.db.write() as conn:
        await conn.execute(update(m.staff).where(m.staff.c.username == "demo").values(cap=1))
    anna = await sign_in(desk, chromium, "demo")
    await open_widget(desk, chromium, "one")
    await accept_first(anna)
    await expect(anna.get_by_role("tab")).to_have_count(1)
    await open_widget(desk, chromium, "two")
    await expect(queue(anna)).to_have_count(1)
    await accept_first(anna)
    await expect(anna.locator("#connection")).to_have_text(
        "You have as many chats as you may hold at once (1). Close or hand over one first."
    )
    await expect(queue(anna)).to_have_count(1)


async def test_an_accept_lost_to_a_colleague_is_said_plainly(desk: Desk, chromium: Any) -> None:
    """Ben's console still shows the chat (its frames are held back) when Anna takes it;
    Ben's accept is refused and the console says so."""
    from playwright.async_api import expect

    anna = await sign_in(desk, chromium, "demo")
    ben = await console_page(chromium, "demo2")
    held: list[Any] = []
    state: dict[str, Any] = {"paused": False, "route": None}
    refused = asyncio.Event()

    def route(ws: Any) -> None:
        server = ws.connect_to_server()
        state["route"] = ws

        def from_server(message: Any) -> None:
            if state["paused"]:
                held.append(message)
                if "already_taken" in str(message):
                    refused.set()
            else:
                ws.send(message)

        server.on_message(from_server)

    await ben.route_web_socket(re.compile(r"/ws/console$"), route)
    await sign_in(desk, chromium, "demo2", ben)
    await open_widget(desk, chromium, "who takes me?")
    await expect(queue(ben)).to_have_count(1)
    state["paused"] = True
    await accept_first(anna)
    await expect(log(anna).first).to_have_text(said("Client", "who takes me?"))
    await accept_first(ben)
    await asyncio.wait_for(refused.wait(), 10)
    state["paused"] = False
    for message in held:
        state["route"].send(message)
    await expect(ben.locator("#connection")).to_have_text(
        "A colleague has accepted this chat already."
    )
    await expect(queue(ben)).to_have_count(0)


async def test_wrong_password_or_code_is_refused_and_throttled(desk: Desk, chromium: Any) -> None:
    from playwright.async_api import expect

    await cli.user_add(
        desk.server.db,
        desk.server.settings,
        "tessa",
        "Tessa",
        "counsellor",
        ["demo"],
        "a-good-password",
        totp=True,
    )
    page = await console_page(chromium)
    await page.goto(desk.url + "/console")
    form = page.locator("#signin")
    status = form.get_by_role("alert")
    await form.get_by_label("Username").fill("tessa")
    await form.get_by_label("Password").fill("a-good-password")
    await form.get_by_label("Code from your authenticator app").fill("000000")
    await form.get_by_role("button", name="Sign in").click()
    await expect(status).to_have_text("Wrong username, password or code.")
    await form.get_by_label("Username").fill("demo")
    for attempt in range(5):
        await form.get_by_label("Password").fill(f"wrong {attempt}")
        await form.get_by_role("button", name="Sign in").click()
        await expect(form.get_by_role("button", name="Sign in")).to_be_enabled()
        await expect(status).to_have_text("Wrong username, password or code.")
        await status.evaluate("e => e.textContent = ''")
    await form.get_by_label("Password").fill(desk.password("demo"))
    await form.get_by_role("button", name="Sign in").click()
    await expect(status).to_have_text("Too many attempts. Wait a few minutes, then try again.")


async def test_first_sign_in_enrols_totp(make_desk: Callable[..., Any], chromium: Any) -> None:
    """With two-factor sign-in required, the first sign-in shows a QR code drawn in the
    page (no request for it) and the key; the code from an authenticator enables it."""
    import pyotp
    from playwright.async_api import expect

    desk: Desk = await make_desk(require_totp=True)
    page = await console_page(chromium, "demo")
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    await page.goto(desk.url + "/console")
    form = page.locator("#signin")
    await form.get_by_label("Username").fill("demo")
    await form.get_by_label("Password").fill(desk.password("demo"))
    await form.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("heading", name="Set up two-factor sign-in")).to_be_visible()
    await expect(page.locator("#totp-qr svg path")).to_have_count(1)
    await expect(page.get_by_role("img", name="Set up two-factor sign-in")).to_be_visible()
    # Trusted Types are required and no policy is allowed: no string becomes markup here,
    # not even one this page's own code would write (chatserver/policy.py).
    sinks = await page.evaluate(
        """() => ['innerHTML', 'insertAdjacentHTML', 'DOMParser'].map((sink) => {
          try {
            if (sink === 'innerHTML') document.body.innerHTML = '<img src=x onerror=alert(1)>';
            else if (sink === 'DOMParser') new DOMParser().parseFromString('<b>x</b>', 'text/html');
            else document.body.insertAdjacentHTML('beforeend', '<b>x</b>');
            return 'accepted';
          } catch (e) { return e.name; }
        })"""
    )
    assert sinks == ["TypeError", "TypeError", "TypeError"]
    secret = (await page.locator("#totp-secret").text_content() or "").replace(" ", "")
    code = pyotp.TOTP(secret).now()
    await page.locator("#totp").get_by_label("Code").fill(code)
    await page.get_by_role("button", name="Confirm").click()
    await expect(page.get_by_role("heading", name="On duty")).to_be_visible(timeout=30_000)
    assert all(url.startswith(desk.url) for url in requests)
    assert not [
        url
        for url in requests
        if "otpauth" in url or ("qr" in url.lower()[-12:] and not url.endswith("qr.js"))
    ]


async def test_an_ended_session_is_said_clearly(desk: Desk, chromium: Any) -> None:
    """The server ends the session (expiry, an admin, sign-out elsewhere): at the console's
        next frame it says so and shows the sign-in form, its keys gone with the page (sealed
    drafts stay for after the next sign-in)."""
    from playwright.async_api import expect
    from sqlalchemy import delete

    from chatserver.storage import models as m

    page = await sign_in(desk, chromium, "demo")
    async with desk.server.db.write() as conn:
        await conn.execute(delete(m.sessions))
    await page.get_by_label("My status").select_option("busy")
    form = page.locator("#signin")
    await expect(form.get_by_role("alert")).to_have_text(
        "Your session has ended. Please sign in again."
    )
    await expect(page.locator("#desk")).to_be_hidden()


NOTICE_PROBE = """
window.__notices = [];
window.__tones = 0;
// Headless Chromium shows no system notification: record what the console asks for.
window.Notification = class {
  constructor(title, options) { window.__notices.push([title, options.body]); }
  static get permission() { return 'granted'; }
  static requestPermission() { return Promise.resolve('granted'); }
};
const create = AudioContext.prototype.createOscillator;
AudioContext.prototype.createOscillator = function () {
  window.__tones += 1;
  return create.call(this);
};
document.hasFocus = () => false;  // the counsellor is in another window
"""


async def test_a_new_client_is_announced(desk: Desk, chromium: Any) -> None:
    """A tone, a desktop notice without any content (only the topic), and the count in
    the title."""
    from playwright.async_api import expect

    page = await console_page(chromium, "demo")
    await page.add_init_script(NOTICE_PROBE)
    await sign_in(desk, chromium, "demo", page)
    await page.get_by_role("button", name="Desktop notices").click()
    await expect(page.locator("#announce")).to_have_text("Desktop notices are on.")
    await open_widget(desk, chromium, "please help, this must not show")
    await expect(page).to_have_title("(1) Duty console")
    notices = await page.evaluate("window.__notices")
    assert notices == [["Duty console", "Someone is waiting in the queue (No topic)."]]
    assert await page.evaluate("window.__tones") == 1


async def test_a_message_while_the_counsellor_looks_elsewhere_is_announced(
    desk: Desk, chromium: Any
) -> None:
    """A client writes while the console's window has no focus: a tone, a desktop notice
    naming only the chat, and the count in the title and on the tab until the counsellor
    comes back to the window."""
    from playwright.async_api import expect

    page = await console_page(chromium, "demo")
    await page.add_init_script(NOTICE_PROBE)
    await sign_in(desk, chromium, "demo", page)
    await page.get_by_role("button", name="Desktop notices").click()
    client = await open_widget(desk, chromium, "hello")
    await accept_first(page)
    await expect(log(page)).to_have_text([said("Client", "hello")])
    await widget_says(client, "SECRET-7 this must not show")
    await expect(page).to_have_title("1 new · Duty console")
    await expect(page.get_by_role("tab")).to_contain_text("1 new")
    await expect(log(page).last).to_have_text(said("Client", "SECRET-7 this must not show"))
    notices = await page.evaluate("window.__notices")
    assert notices[-1] == ["Duty console", "New message in Chat 1: No topic."]
    assert not [n for n in notices if "SECRET" in str(n)]
    assert await page.evaluate("window.__tones") == 2  # the queue's and the message's
    await page.evaluate("document.hasFocus = () => true; window.dispatchEvent(new Event('focus'))")
    await expect(page).to_have_title("Duty console")
    await expect(page.get_by_role("tab")).not_to_contain_text("new")


async def test_a_second_device_takes_the_chats_and_the_first_says_so(
    desk: Desk, chromium: Any
) -> None:
    """The counsellor opens the console on a second device mid-chat: it shows the whole
    history and answers; the first device stops and says where the chats are; unlocking
    there takes them back, with everything written meanwhile; the client's chat never
    breaks."""
    from playwright.async_api import expect

    first = await sign_in(desk, chromium, "demo")
    client = await open_widget(desk, chromium, "hello")
    await accept_first(first)
    await reply(first, "from the office")
    second = await sign_in(desk, chromium, "demo")  # another browser: its own storage
    await expect(log(second)).to_have_text(
        [said("Client", "hello"), said("You · stored", "from the office")]
    )
    notice = (
        "Your console was opened in another window or on another device; your chats are"
        " there now. To work here instead, unlock again."
    )
    unlock = first.locator("#unlock")
    await expect(unlock.get_by_role("alert")).to_have_text(notice)
    await reply(second, "from the laptop")
    frame = client.frame_locator("iframe")
    await expect(frame.locator("#log li.team p").last).to_have_text("from the laptop")
    await widget_says(client, "which one of you?")
    await expect(log(second).last).to_have_text(said("Client", "which one of you?"))

    await unlock.get_by_label("Password").fill(desk.password("demo"))
    await unlock.get_by_role("button", name="Unlock").click()
    await expect(log(first).locator(".text")).to_have_text(
        ["hello", "from the office", "from the laptop", "which one of you?"]
    )
    await expect(second.locator("#unlock").get_by_role("alert")).to_have_text(notice)
    await reply(first, "back at the desk")
    await expect(frame.locator("#log li.team p").last).to_have_text("back at the desk")
    await expect(frame.locator("#log li.problem")).to_have_count(0)


async def test_several_chats_with_unread_counts_typing_and_drafts(
    desk: Desk, chromium: Any
) -> None:
    """Two chats at once: the other tab counts new messages, the typing indicator shows
    in its own chat, and each chat keeps its draft while switching (Alt+1, Alt+2)."""
    from playwright.async_api import expect

    anna = await sign_in(desk, chromium, "demo")
    first = await open_widget(desk, chromium, "first client")
    await accept_first(anna)
    second = await open_widget(desk, chromium, "second client")
    await accept_first(anna)
    tabs = anna.get_by_role("tab")
    await expect(tabs).to_have_count(2)
    await expect(tabs.nth(1)).to_have_attribute("aria-selected", "true")
    await anna.get_by_label("Your reply").fill("draft for the second")
    await anna.keyboard.press("Alt+1")
    await expect(log(anna)).to_have_text([said("Client", "first client")])
    await expect(anna.get_by_label("Your reply")).to_have_value("")
    await anna.get_by_label("Your reply").fill("draft for the first")
    await widget_says(second, "are you there?")
    await expect(tabs.nth(1)).to_contain_text("1 new")
    await first.frame_locator("iframe").get_by_label("Your message").press_sequentially("typ")
    await expect(anna.locator("#typing")).to_have_text("The client is typing…")
    await anna.keyboard.press("Alt+2")
    await expect(log(anna)).to_have_text(
        [said("Client", "second client"), said("Client", "are you there?")]
    )
    await expect(tabs.nth(1)).not_to_contain_text("new")
    await expect(anna.get_by_label("Your reply")).to_have_value("draft for the second")
    await anna.keyboard.press("Alt+1")
    await expect(anna.get_by_label("Your reply")).to_have_value("draft for the first")


async def test_canned_reply_inserted_with_the_shortcut(desk: Desk, chromium: Any) -> None:
    """The team's canned replies (made by its admin) are found and inserted with Alt+R."""
    import aiohttp
    from playwright.async_api import expect

    from chatserver import e2e
    from chatserver.sdk.peers import login, login_salt

    salt = await login_salt(desk.url, "admin")
    master = await asyncio.to_thread(e2e.derive_master, desk.password("admin"), salt, "admin")
    cookie, csrf = await login(desk.url, "admin", credential=e2e.auth_credential(master))
    headers = {"Cookie": cookie, "X-CSRF-Token": csrf, "Origin": desk.url}
    async with aiohttp.ClientSession(headers=headers) as http:
        for title, body, lang in (
            ("Begrüßung", "Hallo, schön, dass Du schreibst. Was beschäftigt Dich?", "de"),
            ("Safety", "Are you safe right now?", "en"),
        ):
            reply_ = {"title": title, "body": body, "lang": lang}
            async with http.post(f"{desk.url}/api/teams/demo/canned", json=reply_) as response:
                assert response.status == 201, await response.text()
    anna = await sign_in(desk, chromium, "demo")
    await open_widget(desk, chromium, "hi")
    await accept_first(anna)
    await anna.get_by_label("Your reply").fill("Hi! ")
    await anna.get_by_label("Your reply").press("Alt+R")
    dialog = anna.get_by_role("dialog", name="Canned replies")
    await expect(dialog.get_by_role("button")).to_have_count(3)  # two replies and Cancel
    await dialog.get_by_label("Search").fill("safe")
    await dialog.get_by_role("button", name="Safety Are you safe right now?").click()
    await expect(dialog).to_be_hidden()
    await expect(anna.get_by_label("Your reply")).to_have_value("Hi! Are you safe right now?")
    await expect(anna.get_by_label("Your reply")).to_be_focused()


async def test_back_to_the_queue_and_taken_over_by_a_colleague(desk: Desk, chromium: Any) -> None:
    """Anna puts the chat back in the queue; Ben accepts it, reads the whole history in his
    browser and answers; the client's chat goes on; the close category is stored."""
    from playwright.async_api import expect
    from sqlalchemy import select

    from chatserver.storage import models as m

    anna = await sign_in(desk, chromium, "demo")
    ben = await sign_in(desk, chromium, "demo2")
    client = await open_widget(desk, chromium, "hello")
    await accept_first(anna)
    await reply(anna, "one moment please")
    await anna.get_by_role("button", name="Transfer (Alt+T)").click()
    dialog = anna.get_by_role("dialog", name="Hand over this chat")
    await dialog.get_by_label("To").select_option(label="Back to the queue")
    await dialog.get_by_role("button", name="Confirm").click()
    await expect(anna.get_by_role("tab")).to_have_count(0)
    await expect(queue(ben)).to_have_count(1)
    await accept_first(ben)
    await expect(log(ben)).to_have_text(
        [said("Client", "hello"), said("Demo counsellor · stored", "one moment please")]
    )
    await reply(ben, "I am Ben, I can help")
    frame = client.frame_locator("iframe")
    await expect(frame.locator("#log li.team p").last).to_have_text("I am Ben, I can help")
    await ben.get_by_role("button", name="Close chat (Alt+C)").click()
    closing = ben.get_by_role("dialog", name="Close this chat")
    await closing.get_by_label("Category").select_option(label="Referral")
    await closing.get_by_role("button", name="Confirm").click()
    await expect(ben.locator("#chat-status")).to_have_text("This chat has ended.")
    await expect(frame.get_by_text("The chat has ended.")).to_be_visible()
    async with desk.server.db.read() as conn:
        category = (await conn.execute(select(m.conversations.c.close_category))).scalar()
    assert category == "referral"


async def test_supervisors_and_admins_manage_canned_replies(desk: Desk, chromium: Any) -> None:
    """An admin adds, edits and deletes a canned reply in the console; a counsellor has no
    such section (and the server refuses counsellors anyway, tests/server/test_canned.py)."""
    from a11y import assert_no_serious, axe_scan, require_axe
    from playwright.async_api import expect

    require_axe()
    counsellor = await sign_in(desk, chromium, "demo")
    await expect(counsellor.get_by_role("button", name="Manage canned replies")).to_be_hidden()
    admin = await sign_in(desk, chromium, "admin")
    await admin.get_by_role("button", name="Manage canned replies").click()
    dialog = admin.get_by_role("dialog", name="Manage canned replies")
    await expect(dialog.get_by_label("Title")).to_be_focused()
    await dialog.get_by_label("Title").fill("Begrüßung")
    await dialog.get_by_label("Text").fill("Hallo, schön, dass Du schreibst.")
    await dialog.get_by_label("Language").select_option("de")
    await dialog.get_by_role("button", name="Save").click()
    await expect(dialog.get_by_role("alert")).to_have_text("Saved.")
    await expect(dialog.locator("#mc-list li")).to_have_count(1)
    assert_no_serious(await axe_scan(admin, frames=False), "manage canned replies")
    await dialog.get_by_role("button", name="Edit: Begrüßung").click()
    await dialog.get_by_label("Text").fill("Hallo, schön, dass Du da bist.")
    await dialog.get_by_role("button", name="Save").click()
    await expect(dialog.locator("#mc-list li")).to_contain_text(["Hallo, schön, dass Du da bist."])
    # The counsellor's console finds the reply at once.
    await open_widget(desk, chromium, "hi")
    await accept_first(counsellor)
    await expect(log(counsellor)).to_have_count(1)
    await counsellor.get_by_label("Your reply").press("Alt+R")
    picker = counsellor.get_by_role("dialog", name="Canned replies")
    await expect(picker.locator("#canned-list li")).to_have_text(
        ["BegrüßungHallo, schön, dass Du da bist."]
    )
    await picker.get_by_role("button", name="Cancel").click()
    await dialog.get_by_role("button", name="Delete: Begrüßung").click()
    await expect(dialog.get_by_role("alert")).to_have_text("Deleted.")
    await expect(dialog.locator("#mc-list li")).to_have_count(0)


async def test_status_for_colleagues_and_sign_out(desk: Desk, chromium: Any) -> None:
    """Ben's status reaches Anna's shift view; signing out ends the session on the server
    and wipes the page and its sealed drafts."""
    from playwright.async_api import expect

    anna = await sign_in(desk, chromium, "demo")
    ben = await sign_in(desk, chromium, "demo2")
    await expect(anna.locator("#shift li")).to_have_text(["Second counsellor: Available"])
    await ben.get_by_label("My status").select_option("away")
    await expect(anna.locator("#shift li")).to_have_text(["Second counsellor: Away"])
    await ben.get_by_role("button", name="Sign out").click()
    await expect(anna.locator("#shift li")).to_have_count(0)
    await expect(ben.locator("#signin")).to_be_visible()
    assert await ben.evaluate("sessionStorage.length") == 0
    status = await ben.evaluate("fetch('/api/me').then((r) => r.status)")
    assert status == 401


async def test_a_team_joined_meanwhile_says_how_to_take_its_chats(
    desk: Desk, chromium: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An admin adds the counsellor to another team while the console is open: its queue
    shows up (the server rechecks idle consoles), and accepting says to unlock again
    instead of failing as if something were wrong."""
    from playwright.async_api import expect
    from sqlalchemy import insert, select

    from chatserver.storage import models as m
    from chatserver.web.ws import console as console_ws

    monkeypatch.setattr(console_ws, "SESSION_CHECK_SECONDS", 0.05)
    anna = await sign_in(desk, chromium, "demo")
    await cli.team_add(desk.server.db, "night", "Night line", [])
    async with desk.server.db.write() as conn:
        team = (await conn.execute(select(m.teams.c.id).where(m.teams.c.slug == "night"))).scalar()
        staff = (
            await conn.execute(select(m.staff.c.id).where(m.staff.c.username == "demo"))
        ).scalar()
        await conn.execute(insert(m.memberships).values(staff_id=staff, team_id=team, since=0))
    await (await desk.server.client(origin=desk.url)).start("night", b"\x04" + b"\x01" * 64)
    await expect(queue(anna)).to_have_count(1)
    await accept_first(anna)
    await expect(anna.locator("#connection")).to_have_text(
        "You have been added to the team night. Reload the page and unlock again to take its chats."
    )
    await expect(queue(anna)).to_have_count(1)
    await expect(anna.get_by_role("tab")).to_have_count(0)


async def test_the_queue_names_topics_as_the_team_does(desk: Desk, chromium: Any) -> None:
    """A topic shows with the name its team gave it (the widget's label), not its slug."""
    from playwright.async_api import expect
    from sqlalchemy import update

    from chatserver.storage import models as m

    async with desk.server.db.write() as conn:
        await conn.execute(
            update(m.topics).where(m.topics.c.slug == "school").values(name="School & training")
        )
    anna = await sign_in(desk, chromium, "demo")
    await open_widget(desk, chromium, "hi", topic="School & training")
    await expect(queue(anna).locator("strong")).to_have_text(["School & training"])
    await accept_first(anna)
    await expect(anna.get_by_role("tab")).to_have_text(["Chat 1: School & training"])


async def test_a_long_chat_comes_back_whole(make_desk: Callable[..., Any], chromium: Any) -> None:
    """A fetch answers with at most 500 messages: the console pages through a longer
    history when it accepts a chat and again after a reload."""
    import time

    from playwright.async_api import expect

    from chatserver.sdk.e2e import SecureClient

    desk: Desk = await make_desk(frame_rate=10_000.0, frame_burst=10_000)
    client = await SecureClient.connect(
        desk.url, "demo", desk.demo.pin, int(time.time() * 1000), origin=desk.url
    )
    desk.server.peers.append(client.peer)
    await client.start()
    for k in range(505):
        await client.say(f"line {k}")
    anna = await sign_in(desk, chromium, "demo")
    await accept_first(anna)
    await expect(log(anna)).to_have_count(505, timeout=30_000)
    await expect(log(anna).last).to_have_text(said("Client", "line 504"))
    await reply(anna, "I read all of it")
    assert await client.hear() == "I read all of it"

    await anna.reload()
    unlock = anna.locator("#unlock")
    await unlock.get_by_label("Password").fill(desk.password("demo"))
    await unlock.get_by_role("button", name="Unlock").click()
    await expect(log(anna)).to_have_count(506, timeout=30_000)
    await expect(log(anna).nth(0)).to_have_text(said("Client", "line 0"))
    await expect(log(anna).last).to_have_text(said("You · stored", "I read all of it"))


async def test_a_session_of_another_team_cannot_open_a_chat_by_id(
    desk: Desk, chromium: Any
) -> None:
    """A counsellor of another team, signed in in the browser, names a conversation of
    this team on the console's socket: every way to open it is refused as forbidden, and
    the chat goes on untouched."""
    from playwright.async_api import expect
    from sqlalchemy import select

    from chatserver.sdk.peers import login
    from chatserver.storage import models as m

    anna = await sign_in(desk, chromium, "demo")
    client = await open_widget(desk, chromium, "only for my counsellor")
    await accept_first(anna)
    async with desk.server.db.read() as conn:
        cid = (await conn.execute(select(m.conversations.c.id))).scalar_one()
    await cli.team_add(desk.server.db, "night", "Night line", [])
    await cli.user_add(
        desk.server.db,
        desk.server.settings,
        "nora",
        "Nora",
        "supervisor",
        ["night"],
        "a-good-password",
        totp=False,
    )
    cookie, _ = await login(desk.url, "nora", password="a-good-password", origin=desk.url)
    name, value = cookie.split(";")[0].split("=", 1)
    context = await chromium.new_context()
    await context.add_cookies([{"name": name, "value": value, "url": desk.url}])
    page = await context.new_page()
    await page.goto(desk.url + "/console")
    answers = await page.evaluate(
        """(cid) => new Promise((resolve) => {
          const ws = new WebSocket(`ws://${location.host}/ws/console`);
          const frames = [
            {type: 'accept', conversation: cid},
            {type: 'fetch', conversation: cid, after: 0},
            {type: 'envelopes', conversation: cid},
            {type: 'transfer', conversation: cid},
          ];
          const errors = [];
          ws.onmessage = (event) => {
            const f = JSON.parse(event.data);
            if (f.type === 'hello') for (const frame of frames) ws.send(JSON.stringify(frame));
            if (['message', 'envelopes', 'assigned'].includes(f.type)) errors.push(f.type);
            if (f.type === 'error') errors.push(`${f.answers}:${f.code}`);
            if (errors.length === frames.length) resolve(errors);
          };
        })""",
        cid,
    )
    assert answers == [
        "accept:forbidden",
        "fetch:forbidden",
        "envelopes:forbidden",
        "transfer:forbidden",
    ]
    await reply(anna, "still here, only for you")
    frame = client.frame_locator("iframe")
    await expect(frame.locator("#log li.team p").last).to_have_text("still here, only for you")


@pytest.mark.parametrize("counts", ["matching", "withheld"])
async def test_a_client_close_without_final_counts_is_said_plainly(
    desk: Desk, chromium: Any, counts: str
) -> None:
    """The console checks the client's final counts (docs/e2e.md, "Closing with final
    counts"). A close with matching counts reads "The client closed the chat."; a close
    without them (a client that never sent them, or a server that withheld that message)
    says that the last messages may be missing, instead of saying nothing."""
    import time

    from playwright.async_api import expect

    from chatserver.sdk.e2e import SecureClient

    client = await SecureClient.connect(
        desk.url, "demo", desk.demo.pin, int(time.time() * 1000), origin=desk.url
    )
    desk.server.peers.append(client.peer)
    await client.start()
    await client.say("can I ask something")
    anna = await sign_in(desk, chromium, "demo")
    await accept_first(anna)
    await expect(log(anna).last).to_have_text(said("Client", "can I ask something"))
    await reply(anna, "of course")
    assert await client.hear() == "of course"
    if counts == "matching":
        assert client.channel is not None
        msg_id, gen, n, body = client.channel.seal_close()
        await client.peer.send(msg_id, body, gen=gen, n=n, kind="close")
    await client.peer.close_conversation()
    status = anna.locator("#chat-status")
    if counts == "matching":
        await expect(status).to_have_text("The client closed the chat.")
    else:
        await expect(status).to_have_text(
            "The client closed the chat without confirming how many messages it received "
            "and sent: the last messages may be missing on either side."
        )
    await expect(anna.get_by_label("Your reply")).to_be_disabled()


async def test_late_acks_are_said_until_they_come(desk: Desk, chromium: Any) -> None:
    """The server acks a message once it is stored. When its ack does not come (a server
    that withholds it, a stuck connection), the console says so after ten seconds instead
    of showing "sending" for ever; when the ack comes, the warning goes. The page's clock
    is Playwright's: nothing here waits ten real seconds."""
    import time

    from playwright.async_api import expect

    from chatserver.sdk.e2e import SecureClient

    page = await console_page(chromium, "demo")
    await page.clock.install()
    held: list[str | bytes] = []
    withhold = {"acks": False}
    sockets: list[Any] = []

    def route(ws: Any) -> None:
        sockets.append(ws)
        server = ws.connect_to_server()

        def to_page(message: str | bytes) -> None:
            if withhold["acks"] and json.loads(message).get("type") == "ack":
                held.append(message)
            else:
                ws.send(message)

        server.on_message(to_page)
        ws.on_message(lambda message: server.send(message))

    await page.route_web_socket(re.compile(r"/ws/console"), route)
    client = await SecureClient.connect(
        desk.url, "demo", desk.demo.pin, int(time.time() * 1000), origin=desk.url
    )
    desk.server.peers.append(client.peer)
    await client.start()
    await client.say("hello?")
    anna = await sign_in(desk, chromium, "demo", page=page)
    await accept_first(anna)
    await expect(log(anna).last).to_have_text(said("Client", "hello?"))
    banner = anna.locator("#connection")
    await expect(banner).to_have_text("")

    withhold["acks"] = True
    box = anna.get_by_label("Your reply")
    await box.fill("I am here")
    await box.press("Enter")
    assert await client.hear() == "I am here"  # stored and relayed; only the ack is held
    meta = anna.locator("#log li.team .meta").last
    await expect(meta).to_have_text("You · sending")
    await expect(banner).to_have_text("")
    await anna.clock.run_for(10_500)
    await expect(banner).to_have_text(
        "The server has not confirmed your last message for 10 seconds: it may not have "
        "been stored or reached the client. Check the connection before you rely on it."
    )

    # The ack comes after all, as from a slow server: the warning goes, the message is
    # shown as stored.
    withhold["acks"] = False
    assert len(held) == 1
    sockets[-1].send(held.pop())
    await expect(meta).to_have_text("You · stored")
    await expect(banner).to_have_text("")


async def test_keys_running_out_are_said_on_every_console(
    make_desk: Callable[..., Any], chromium: Any
) -> None:
    """Below eight hours of keys ahead every console of the team says when they run out and
    that an admin must sign in; with none left, that new chats are paused (the server's
    clock is moved; docs/operations.md, "Keys ahead")."""
    import time

    from playwright.async_api import expect

    now = [time.time()]
    desk: Desk = await make_desk(clock=lambda: now[0])
    anna = await sign_in(desk, chromium, "demo")
    await expect(anna.locator("#keys-banner")).to_be_hidden()
    async with (
        aiohttp.ClientSession() as http,
        http.get(desk.url + "/api/teams/demo/status") as answer,
    ):
        until = (await answer.json())["keys"]["covered_until"] / 1000

    now[0] = until - 7 * 3600
    ben = await sign_in(desk, chromium, "demo2")
    banner = ben.locator("#keys-banner")
    await expect(banner).to_contain_text("Team demo: the keys for new chats run out on")
    await expect(banner).to_contain_text("An admin must sign in to the admin area before then.")

    now[0] = until + 60
    cleo = await sign_in(desk, chromium, "demo")
    await expect(cleo.locator("#keys-banner")).to_have_text(
        "Team demo: new chats are paused because the team's keys have run out. An admin "
        "must sign in to the admin area to make new ones."
    )
