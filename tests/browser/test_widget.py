"""The client widget as a person uses it: Debian's Chromium opens an agency's page (another
origin) that embeds the snippet, a real server serves the widget and relays, and a Python
counsellor (chatserver/sdk/e2e.py) answers end to end. Synchronised by Playwright's
auto-waiting assertions and by server frames, never by sleeping."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import socket
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
from conftest import PASSWORD, REPO, Server, until
from test_e2e_flow import Team, make_team

from chatserver import e2e
from chatserver.config import Settings
from chatserver.ops import cli
from chatserver.sdk.e2e import SecureCounsellor
from chatserver.sdk.peers import ConsolePeer, login
from chatserver.web.app import create_app
from chatserver.web.state import DB, STORE

pytestmark = [
    pytest.mark.browser,
    # The server logic runs on both databases elsewhere; the browser runs once.
    pytest.mark.parametrize("db_url", ["sqlite"], indirect=True),
]

TEXTS = {
    "en": {
        "launch": "Chat with a counsellor",
        "agree": "I agree, start the chat",
        "label": "Your message",
        "stored": "sent",
        "read": "received",
        "active": "A counsellor is with you now.",
        "ended": "The chat has ended.",
        "continue": "Continue",
        "exit": "Quick exit",
        "pin": "The team key does not match the key this website pinned.",
        "first": "You are number 1 in the queue.",
        "typing": "The counsellor is typing…",
    },
    "de": {
        "launch": "Chat mit der Beratung",
        "agree": "Einverstanden, Chat starten",
        "label": "Deine Nachricht",
        "stored": "gesendet",
        "read": "angekommen",
        "active": "Jetzt ist jemand aus dem Beratungsteam für Dich da.",
        "ended": "Der Chat ist beendet.",
        "continue": "Weitermachen",
        "exit": "Schnell weg",
        "pin": "Der Teamschlüssel passt nicht zu dem Schlüssel, den diese Website festgelegt hat.",
        "first": "Du bist Nummer 1 in der Warteschlange.",
        "typing": "Das Beratungsteam schreibt…",
    },
}


def integrity(data: bytes) -> str:
    return "sha384-" + base64.b64encode(hashlib.sha384(data).digest()).decode()


@dataclass
class World:
    """A chat server with team alpha (epoch bundles uploaded), an agency site on another
    origin that is allowed for alpha, and Anna, a counsellor of alpha."""

    server: Server
    team: Team
    host: str
    pages: dict[str, str] = field(default_factory=dict)

    def embed(self, path: str = "/", pre: str = "", **attrs: str) -> str:
        """Serve at ``path`` an agency page with the snippet; returns its URL."""
        loader = (REPO / "widget" / "loader.js").read_bytes()
        data = {"team": "alpha", "pin": self.team.pin, "exit": f"{self.host}/weather"}
        data.update(attrs)
        attributes = " ".join(f'data-{k}="{v}"' for k, v in data.items() if v)
        self.pages[path] = (
            "<!doctype html><html lang=en><head><meta charset=utf-8><title>Agency</title>"
            f"</head><body><h1>Youth counselling</h1><p>Talk to us.</p>{pre}"
            f'<script src="{self.server.url}/widget/loader.js" integrity="{integrity(loader)}"'
            f' crossorigin="anonymous" {attributes}></script></body></html>'
        )
        return self.host + path

    async def counsellor(self) -> SecureCounsellor:
        origin = self.server.url
        cookie, _ = await login(origin, "anna", password=PASSWORD, origin=origin)
        peer = await ConsolePeer.connect(origin, cookie, origin=origin)
        self.server.peers.append(peer)
        return SecureCounsellor(peer, self.team.epochs, e2e.generate())


async def _upload(server: Server, wires: list[dict[str, Any]]) -> None:
    origin = server.url
    cookie, csrf = await login(origin, "root", password=PASSWORD, origin=origin)
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            f"{origin}/api/teams/alpha/bundles",
            json={"bundles": wires},
            headers={"Cookie": cookie, "X-CSRF-Token": csrf, "Origin": origin},
        ) as response,
    ):
        assert response.status == 201, await response.text()


async def _serve(app: aiohttp.web.Application, sock: socket.socket) -> aiohttp.web.AppRunner:
    runner = aiohttp.web.AppRunner(app, access_log=None)
    await runner.setup()
    await aiohttp.web.SockSite(runner, sock).start()
    return runner


def _socket() -> socket.socket:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    return sock


@pytest.fixture
async def world(
    request: pytest.FixtureRequest, settings_factory: Callable[..., Settings]
) -> AsyncIterator[World]:
    """The world; ``parametrize("world", [{setting: value}], indirect=True)`` changes
    settings."""
    # The widget's origin must be the server's public origin: bind first, then configure.
    chat_sock, host_sock = _socket(), _socket()
    origin = f"http://127.0.0.1:{chat_sock.getsockname()[1]}"
    # Another origin of the same site, like www.agency.example and chat.agency.example.
    host = f"http://127.0.0.1:{host_sock.getsockname()[1]}"
    settings = settings_factory(public_origin=origin, **getattr(request, "param", {}))
    app = create_app(settings)
    runners = [await _serve(app, chat_sock)]
    server = Server(origin, settings, app, app[DB])
    world = World(server, make_team("alpha", start=int(time.time() * 1000) - 60_000), host)

    async def page(request: aiohttp.web.Request) -> aiohttp.web.Response:
        if request.path not in world.pages:
            raise aiohttp.web.HTTPNotFound()
        return aiohttp.web.Response(text=world.pages[request.path], content_type="text/html")

    async def weather(_request: aiohttp.web.Request) -> aiohttp.web.Response:
        return aiohttp.web.Response(text="<h1>Weather</h1>", content_type="text/html")

    host_app = aiohttp.web.Application()
    host_app.router.add_get("/weather", weather)
    host_app.router.add_get("/{path:.*}", page)
    runners.append(await _serve(host_app, host_sock))
    await server.team("alpha")
    await server.staff("root", [], role="admin")
    await server.staff("anna", ["alpha"])
    await cli.team_origins(server.db, "alpha", [host], [])
    await _upload(server, world.team.wires)
    try:
        yield world
    finally:
        for peer in server.peers:
            await peer.close()
        for runner in runners:
            await runner.cleanup()


async def state_of(world: World, cid: str) -> str | None:
    row = await world.server.app[STORE].conversation(cid)
    return row.state.value if row else None


@pytest.mark.parametrize("lang", ["en", "de"])
async def test_whole_encrypted_conversation(world: World, chromium: Any, lang: str) -> None:
    """Nothing happens before the click; then the visitor chats with Anna end to end."""
    from playwright.async_api import expect

    text = TEXTS[lang]
    desk = await world.counsellor()
    await until(desk.peer, "queue")
    page = await chromium.new_page()
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    page.on("console", lambda m: print("console:", m.text))
    page.on("pageerror", lambda e: print("pageerror:", e))
    url = world.embed(lang=lang)
    await page.goto(url)
    launcher = page.get_by_role("button", name=text["launch"])
    await expect(launcher).to_be_visible()
    assert requests == [url, f"{world.server.url}/widget/loader.js"]
    assert await page.evaluate("[localStorage.length, sessionStorage.length, document.cookie]") == [
        0,
        0,
        "",
    ]
    assert await page.context.cookies() == []

    await launcher.click()
    frame = page.frame_locator("iframe")
    await frame.get_by_role("button", name=text["agree"]).click()
    box = frame.get_by_label(text["label"])
    await box.fill("hello from the widget")
    await box.press("Enter")
    await expect(frame.locator("#log li.me .st")).to_have_text(text["stored"])
    await expect(frame.locator("#status")).to_have_text(text["first"])
    queued = await until(desk.peer, "queued")
    cid = queued["item"]["conversation"]
    assert await desk.accept(cid) == ["hello from the widget"]
    await expect(frame.locator("#status")).to_have_text(text["active"])
    await expect(frame.locator("#log li.me .st")).to_have_text(text["read"])

    await desk.peer.send_frame({"type": "typing", "conversation": cid, "active": True})
    await expect(frame.get_by_text(text["typing"])).to_be_visible()
    await desk.say(cid, "Hallo, ich bin Anna. <b>not bold</b>")
    await expect(frame.get_by_text(text["typing"])).to_be_hidden()
    await expect(frame.locator("#log li.team p")).to_have_text(
        "Hallo, ich bin Anna. <b>not bold</b>"
    )
    await box.fill("thank you")
    await until(desk.peer, "typing", conversation=cid, active=True)
    await box.press("Enter")
    assert await desk.hear(cid) == "thank you"
    await desk.close(cid)
    await expect(frame.locator("#status")).to_have_text(text["ended"])
    origins = {re.match(r"[a-z]+://[^/]+", r).group(0) for r in requests}  # type: ignore[union-attr]
    assert origins == {world.host, world.server.url}  # no third party, ever


async def open_chat(world: World, chromium: Any, lang: str = "en", **attrs: str) -> Any:
    """A new tab on the agency's page, the chat opened and the consent given."""
    from playwright.async_api import expect

    page = await chromium.new_page()
    page.on("console", lambda m: print("console:", m.text))
    await page.goto(world.embed(lang=lang, **attrs))
    await page.get_by_role("button", name=TEXTS[lang]["launch"]).click()
    frame = page.frame_locator("iframe")
    await frame.get_by_role("button", name=TEXTS[lang]["agree"]).click()
    await expect(frame.get_by_label(TEXTS[lang]["label"])).to_be_visible()
    return page


async def say(page: Any, text: str, count: int) -> None:
    """Type a message in the widget and wait until the server stored it."""
    from playwright.async_api import expect

    frame = page.frame_locator("iframe")
    box = frame.get_by_label(TEXTS["en"]["label"])
    await box.fill(text)
    await box.press("Enter")
    await expect(frame.locator("#log li.me .st").nth(count - 1)).not_to_have_text("sending")


async def frame_storage(page: Any) -> str | None:
    element = await page.query_selector("iframe")
    frame = await element.content_frame()
    stored: str | None = await frame.evaluate("sessionStorage.getItem('counselling-chat')")
    return stored


async def test_wrong_pin_is_refused_with_the_reason(world: World, chromium: Any) -> None:
    """A team key that is not the pinned one stops the widget before anything is sent."""
    from playwright.async_api import expect

    other = e2e.pin(e2e.public_bytes(e2e.generate()))
    page = await chromium.new_page()
    await page.goto(world.embed(pin=other))
    await page.get_by_role("button", name=TEXTS["en"]["launch"]).click()
    frame = page.frame_locator("iframe")
    await frame.get_by_role("button", name=TEXTS["en"]["agree"]).click()
    await expect(frame.get_by_role("alert")).to_contain_text(TEXTS["en"]["pin"])
    await expect(frame.get_by_label(TEXTS["en"]["label"])).to_be_hidden()
    team = await world.server.app[STORE].team_by_slug("alpha")
    assert team is not None
    assert await world.server.app[STORE].queued_count(team.id) == 0
    assert await frame_storage(page) is None


async def test_without_a_pin_the_safety_number_is_shown(world: World, chromium: Any) -> None:
    """No pin in the snippet: the visitor can compare the team key's safety number."""
    from playwright.async_api import expect

    page = await open_chat(world, chromium, pin="")
    r_pub = base64.b64decode(world.team.wires[0]["r_pub"])
    number = page.frame_locator("iframe").locator("#number")
    await expect(number).to_have_text(e2e.safety_number(r_pub))


@pytest.mark.parametrize("how", ["button", "escape", "escape-on-host"])
async def test_quick_exit(world: World, chromium: Any, how: str) -> None:
    """Quick exit replaces the host page, ends the chat with final counts, wipes the tab's
    storage, and the back button does not lead to the chat."""
    from playwright.async_api import expect

    desk = await world.counsellor()
    await until(desk.peer, "queue")
    page = await open_chat(world, chromium)
    host_url = page.url
    await say(page, "hi", 1)
    cid = (await until(desk.peer, "queued"))["item"]["conversation"]
    await desk.accept(cid)
    frame = page.frame_locator("iframe")
    await expect(frame.locator("#status")).to_have_text(TEXTS["en"]["active"])
    assert cid in (await frame_storage(page) or "")

    if how == "button":
        await frame.get_by_role("button", name=TEXTS["en"]["exit"]).click()
    elif how == "escape":
        box = frame.get_by_label(TEXTS["en"]["label"])
        await box.press("Escape")
        await box.press("Escape")
    else:  # the visitor is on the agency's page, the chat still open
        await page.get_by_role("heading", name="Youth counselling").click()
        await page.keyboard.press("Escape")
        await page.keyboard.press("Escape")
    await page.wait_for_url(f"{world.host}/weather")
    # The widget's final counts reached Anna and match; the server closed the chat.
    assert await desk.hear(cid) == ""
    assert desk.held[cid].channel.closed
    await until(desk.peer, "state", conversation=cid, state="closed")
    assert await state_of(world, cid) == "closed"
    await page.go_back()
    assert page.url != host_url
    # The same tab on the agency's page again: nothing is left to continue.
    await page.goto(host_url)
    await page.get_by_role("button", name=TEXTS["en"]["launch"]).click()
    await expect(frame.get_by_role("button", name=TEXTS["en"]["agree"])).to_be_visible()
    assert await frame_storage(page) is None


async def test_reload_asks_first_then_shows_the_history_once(world: World, chromium: Any) -> None:
    """After a reload the tab shows a neutral prompt and no history; on "continue" the
    history is decrypted again, nothing twice, and the chat goes on both ways."""
    from playwright.async_api import expect

    desk = await world.counsellor()
    await until(desk.peer, "queue")
    page = await open_chat(world, chromium)
    await say(page, "first", 1)
    cid = (await until(desk.peer, "queued"))["item"]["conversation"]
    await desk.accept(cid)
    await desk.say(cid, "hello, Anna here")
    frame = page.frame_locator("iframe")
    await expect(frame.locator("#log li.team p")).to_have_text("hello, Anna here")

    await page.reload()
    await page.get_by_role("button", name=TEXTS["en"]["launch"]).click()
    await expect(frame.get_by_role("button", name=TEXTS["en"]["continue"])).to_be_visible()
    await expect(frame.locator("#log li")).to_have_count(0)
    await frame.get_by_role("button", name=TEXTS["en"]["continue"]).click()
    await expect(frame.locator("#log li p")).to_have_text(["first", "hello, Anna here"])
    await expect(frame.locator("#log li.me .st")).to_have_text(TEXTS["en"]["read"])
    await say(page, "second", 2)
    assert await desk.hear(cid) == "second"
    await desk.say(cid, "still here")
    await expect(frame.locator("#log li p")).to_have_text(
        ["first", "hello, Anna here", "second", "still here"]
    )


async def test_rekey_to_a_reissued_epoch_and_after_a_reload(world: World, chromium: Any) -> None:
    """The counsellor moves the chat to an epoch the admin re-issued: the widget fetches and
    checks that epoch's bundle, acknowledges with its final counts (checked by the
    counsellor's next read) and chats on; after a reload the history replays the rekey
    once and the chat still goes on both ways."""
    from playwright.async_api import expect

    now = int(time.time() * 1000)
    key = e2e.generate()
    wire = e2e.sign_bundle(
        world.team.root, "alpha", 10, e2e.public_bytes(key), now - 1000, now + 3_600_000
    )
    await _upload(world.server, [wire])
    desk = await world.counsellor()
    desk.epochs = {
        **desk.epochs,
        10: (key, e2e.check_bundle(wire, pin_value=None, team="alpha", now=now)),
    }
    await until(desk.peer, "queue")
    page = await open_chat(world, chromium)
    await say(page, "before", 1)
    cid = (await until(desk.peer, "queued"))["item"]["conversation"]
    await desk.accept(cid)
    assert await desk.rekey(cid, epoch=10) == 2
    await desk.say(cid, "new keys")
    frame = page.frame_locator("iframe")
    await expect(frame.locator("#log li p")).to_have_text(["before", "new keys"])
    await say(page, "after the rekey", 2)
    assert await desk.hear(cid) == "after the rekey"  # the acknowledgement came first
    assert desk.held[cid].unacknowledged == set()

    await page.reload()
    await page.get_by_role("button", name=TEXTS["en"]["launch"]).click()
    await frame.get_by_role("button", name=TEXTS["en"]["continue"]).click()
    await expect(frame.locator("#log li p")).to_have_text(["before", "new keys", "after the rekey"])
    await say(page, "after the reload", 3)
    assert await desk.hear(cid) == "after the reload"
    await desk.say(cid, "still here")
    await expect(frame.locator("#log li p").last).to_have_text("still here")
    await expect(frame.locator("#log li.problem")).to_have_count(0)


async def test_the_demo_start_page_embeds_a_working_widget(world: World, chromium: Any) -> None:
    """`chatserver demo` signs the demo team's bundles; the start page shows the snippet
    with its pin and SRI hash and embeds it, and a chat started there waits in the queue."""
    from playwright.async_api import expect

    info = await cli.demo(world.server.db, world.server.settings)
    page = await chromium.new_page()
    await page.goto(world.server.url + "/")
    snippet = await page.locator("pre code").text_content()
    assert snippet is not None and f'data-pin="{info.pin}"' in snippet
    assert 'integrity="sha384-' in snippet
    await page.get_by_role("button", name=TEXTS["en"]["launch"]).click()
    frame = page.frame_locator("iframe")
    await frame.get_by_role("button", name=TEXTS["en"]["agree"]).click()
    await say(page, "hello demo", 1)
    await expect(frame.locator("#status")).to_have_text(TEXTS["en"]["first"])
    queue = await world.server.app[STORE].queue([await team_id(world, "demo")])
    assert len(queue) == 1 and queue[0].epoch == 1


async def team_id(world: World, slug: str) -> int:
    team = await world.server.app[STORE].team_by_slug(slug)
    assert team is not None
    return team.id


async def test_host_commands_before_the_loader(world: World, chromium: Any) -> None:
    """The host page queues setLanguage and open before the script loads; they run."""
    from playwright.async_api import expect

    pre = (
        "<script>window.CounsellingChat = window.CounsellingChat || [];"
        "CounsellingChat.push(['setLanguage', 'de'], ['open']);</script>"
    )
    page = await chromium.new_page()
    await page.goto(world.embed(lang="en", pre=pre))
    frame = page.frame_locator("iframe")
    await expect(frame.get_by_role("button", name=TEXTS["de"]["agree"])).to_be_visible()
    await expect(page.get_by_role("button", name=TEXTS["de"]["launch"])).to_be_visible()
    await page.evaluate("CounsellingChat.setLanguage('en')")
    await expect(frame.get_by_role("button", name=TEXTS["en"]["agree"])).to_be_visible()


async def test_dropped_connection_resumes_without_loss(world: World, chromium: Any) -> None:
    """The connection drops; what the counsellor wrote meanwhile arrives after the widget
    resumes, nothing twice, and the widget's next message goes through."""
    from playwright.async_api import expect

    from chatserver.web.state import CONNECTIONS

    desk = await world.counsellor()
    await until(desk.peer, "queue")
    page = await open_chat(world, chromium)
    await say(page, "before", 1)
    cid = (await until(desk.peer, "queued"))["item"]["conversation"]
    await desk.accept(cid)
    frame = page.frame_locator("iframe")
    await expect(frame.locator("#status")).to_have_text(TEXTS["en"]["active"])
    for connection in list(world.server.app[CONNECTIONS]):
        if connection.role == "client":
            await connection.close(1001, "going away")
    await expect(frame.locator("#status")).to_have_text("Connection lost. Reconnecting…")
    await desk.say(cid, "while you were away")
    await expect(frame.locator("#status")).to_have_text(TEXTS["en"]["active"])
    await expect(frame.locator("#log li p")).to_have_text(["before", "while you were away"])
    await say(page, "after", 2)
    assert await desk.hear(cid) == "after"
    await expect(frame.locator("#log li p")).to_have_text(
        ["before", "while you were away", "after"]
    )


async def test_declining_to_continue_ends_the_chat(world: World, chromium: Any) -> None:
    """Saying no on the continue prompt wipes the tab and ends the waiting chat."""
    from playwright.async_api import expect

    desk = await world.counsellor()
    await until(desk.peer, "queue")
    page = await open_chat(world, chromium)
    await say(page, "hello?", 1)
    cid = (await until(desk.peer, "queued"))["item"]["conversation"]
    await page.reload()
    await page.get_by_role("button", name=TEXTS["en"]["launch"]).click()
    frame = page.frame_locator("iframe")
    await frame.get_by_role("button", name="No, leave it").click()
    await expect(frame.get_by_role("button", name=TEXTS["en"]["agree"])).to_be_visible()
    await until(desk.peer, "dequeued", conversation=cid)
    assert await state_of(world, cid) == "abandoned"
    assert await frame_storage(page) is None


async def test_third_party_frame_without_storage_still_chats(world: World, chromium: Any) -> None:
    """On another site a browser may refuse storage to the chat's frame (blocked third-party
    cookies): the chat still works with its key in memory, and a reload starts afresh
    instead of failing. Where the browser allows it, the tab resumes as usual."""
    from playwright.async_api import expect

    other_site = world.host.replace("127.0.0.1", "localhost")
    await cli.team_origins(world.server.db, "alpha", [other_site], [])
    url = world.embed("/elsewhere").replace(world.host, other_site)
    desk = await world.counsellor()
    await until(desk.peer, "queue")
    page = await chromium.new_page()
    await page.goto(url)
    await page.get_by_role("button", name=TEXTS["en"]["launch"]).click()
    frame = page.frame_locator("iframe")
    await frame.get_by_role("button", name=TEXTS["en"]["agree"]).click()
    await say(page, "from another site", 1)
    cid = (await until(desk.peer, "queued"))["item"]["conversation"]
    assert await desk.accept(cid) == ["from another site"]
    await desk.say(cid, "hello there")
    await expect(frame.locator("#log li.team p")).to_have_text("hello there")
    element = await page.query_selector("iframe")
    inner = await element.content_frame()
    refused = await inner.evaluate(
        "(() => { try { sessionStorage.length; return false; } catch { return true; } })()"
    )
    await page.reload()
    await page.get_by_role("button", name=TEXTS["en"]["launch"]).click()
    expected = TEXTS["en"]["agree"] if refused else TEXTS["en"]["continue"]
    await expect(frame.get_by_role("button", name=expected)).to_be_visible()


async def _put_hours(world: World, hours: dict[str, Any]) -> None:
    origin = world.server.url
    cookie, csrf = await login(origin, "root", password=PASSWORD, origin=origin)
    async with (
        aiohttp.ClientSession() as http,
        http.put(
            f"{origin}/api/teams/alpha/hours",
            json=hours,
            headers={"Cookie": cookie, "X-CSRF-Token": csrf, "Origin": origin},
        ) as response,
    ):
        assert response.status == 200, await response.text()


NEVER_OPEN = {
    "weekly": {},
    "closed_message": {"de": "Heute nicht, komm morgen wieder.", "en": "Not today, come back."},
}


@pytest.mark.parametrize("lang", ["en", "de"])
async def test_outside_the_hours_the_closed_message_and_emergency_numbers(
    world: World, chromium: Any, lang: str
) -> None:
    """Outside the team's hours the widget shows the admin's closed message and the
    emergency contacts (Germany's by default) instead of a queue; nothing is started."""
    from playwright.async_api import expect

    await _put_hours(world, NEVER_OPEN)
    page = await chromium.new_page()
    await page.goto(world.embed(lang=lang))
    await page.get_by_role("button", name=TEXTS[lang]["launch"]).click()
    frame = page.frame_locator("iframe")
    title = {"en": "We are not in the chat right now", "de": "Gerade ist niemand von uns im Chat"}
    await expect(frame.get_by_role("heading", name=title[lang])).to_be_visible()
    message = NEVER_OPEN["closed_message"][lang]  # type: ignore[index]
    await expect(frame.get_by_text(message)).to_be_visible()
    await expect(frame.get_by_role("link", name="116 111")).to_have_attribute("href", "tel:116111")
    await expect(frame.get_by_role("link", name="112", exact=True)).to_have_attribute(
        "href", "tel:112"
    )
    await expect(frame.get_by_role("button", name=TEXTS[lang]["agree"])).to_be_hidden()
    assert await world.server.app[STORE].queue([await team_id(world, "alpha")]) == []


@pytest.mark.parametrize("lang", ["en", "de"])
async def test_a_team_without_current_keys_shows_the_emergency_numbers(
    world: World, chromium: Any, lang: str
) -> None:
    """When no daily key of the team takes new chats (its admins issued none in time), the
    widget says the chat is paused and shows the emergency contacts at once, instead of a
    consent the visitor could not act on; nothing is started (docs/operations.md, "Keys
    ahead")."""
    from playwright.async_api import expect

    await world.server.team("night")  # no epochs uploaded: paused
    await cli.team_origins(world.server.db, "night", [world.host], [])
    page = await chromium.new_page()
    await page.goto(world.embed(lang=lang, team="night"))
    await page.get_by_role("button", name=TEXTS[lang]["launch"]).click()
    frame = page.frame_locator("iframe")
    paused = {
        "en": "The chat is paused for a technical reason. If you need someone to talk to now:",
        "de": "Der Chat ist gerade aus technischen Gründen pausiert. Wenn Du jetzt mit jemandem "
        "sprechen möchtest:",
    }
    await expect(frame.get_by_text(paused[lang])).to_be_visible()
    await expect(frame.get_by_role("link", name="116 111")).to_have_attribute("href", "tel:116111")
    await expect(frame.get_by_role("button", name=TEXTS[lang]["agree"])).to_be_hidden()
    assert await world.server.app[STORE].queue([await team_id(world, "night")]) == []


async def test_hours_that_close_meanwhile_refuse_the_start_clearly(
    world: World, chromium: Any
) -> None:
    """The page was opened while open; the hours end before the visitor agrees: `start` is
    refused with `closed`, and the widget shows the closed message, not an error."""
    from playwright.async_api import expect

    page = await chromium.new_page()
    await page.goto(world.embed())
    await page.get_by_role("button", name=TEXTS["en"]["launch"]).click()
    frame = page.frame_locator("iframe")
    agree = frame.get_by_role("button", name=TEXTS["en"]["agree"])
    await expect(agree).to_be_visible()
    await _put_hours(world, NEVER_OPEN)
    await agree.click()
    await expect(frame.get_by_text("Not today, come back.")).to_be_visible()
    assert await world.server.app[STORE].queue([await team_id(world, "alpha")]) == []
    assert await frame_storage(page) is None


async def test_the_visitor_may_choose_a_topic(world: World, chromium: Any) -> None:
    """With several topics and none set by the snippet, the consent view offers them
    (optional); the chosen one reaches the queue."""
    from playwright.async_api import expect
    from sqlalchemy import insert

    from chatserver.storage import models as m

    alpha = await team_id(world, "alpha")
    async with world.server.db.write() as conn:
        for slug, name in (("school", "School"), ("family", "Family")):
            await conn.execute(
                insert(m.topics).values(team_id=alpha, slug=slug, name=name, created_at=0)
            )
    desk = await world.counsellor()
    await until(desk.peer, "queue")
    page = await chromium.new_page()
    await page.goto(world.embed())
    await page.get_by_role("button", name=TEXTS["en"]["launch"]).click()
    frame = page.frame_locator("iframe")
    group = frame.get_by_role("group", name="What is it about? (optional)")
    await group.get_by_label("Family").check()
    await frame.get_by_role("button", name=TEXTS["en"]["agree"]).click()
    queued = await until(desk.peer, "queued")
    assert queued["item"]["topic"] == "family"
    await expect(frame.locator("#status")).to_have_text(TEXTS["en"]["first"])


FAST = pytest.mark.parametrize(
    "world", [{"frame_rate": 10_000.0, "frame_burst": 10_000}], indirect=True
)


async def pour(desk: SecureCounsellor, cid: str, texts: list[str]) -> None:
    """The counsellor sends every text at once (no waiting in between), then waits for
    every ack: the messages are stored."""
    channel = desk.held[cid].channel
    for text in texts:
        msg_id, gen, n, body = channel.seal(text)
        await desk.peer.send_frame(
            {
                "type": "send",
                "conversation": cid,
                "id": msg_id,
                "body": base64.b64encode(body).decode(),
                "gen": gen,
                "n": n,
                "kind": "msg",
            }
        )
    for _ in texts:
        await desk.peer.next("ack")


@FAST
@pytest.mark.parametrize("how", ["reload", "offline"])
async def test_a_backlog_of_many_pages_arrives_in_order_once(
    world: World, chromium: Any, how: str
) -> None:
    """The counsellor writes 1 234 messages (more than two pages of 500) while the tab is
    reloaded or offline: on "continue", or when the device is back online, the widget
    fetches them page by page and shows every one once, in order, and the chat goes on."""
    from playwright.async_api import expect

    from chatserver.web.state import CONNECTIONS

    desk = await world.counsellor()
    await until(desk.peer, "queue")
    page = await open_chat(world, chromium)
    await say(page, "before", 1)
    cid = (await until(desk.peer, "queued"))["item"]["conversation"]
    await desk.accept(cid)
    frame = page.frame_locator("iframe")
    await expect(frame.locator("#status")).to_have_text(TEXTS["en"]["active"])
    sent: list[str] = []
    page.on("websocket", lambda ws: ws.on("framesent", lambda data: sent.append(str(data))))
    texts = [f"note {i}" for i in range(1234)]
    if how == "reload":
        await page.reload()
        await page.get_by_role("button", name=TEXTS["en"]["launch"]).click()
        await expect(frame.get_by_role("button", name=TEXTS["en"]["continue"])).to_be_visible()
        await pour(desk, cid, texts)
        await frame.get_by_role("button", name=TEXTS["en"]["continue"]).click()
    else:
        await page.context.set_offline(True)
        for connection in list(world.server.app[CONNECTIONS]):
            if connection.role == "client":
                await connection.close(1001, "going away")
        await expect(frame.locator("#status")).to_have_text("Connection lost. Reconnecting…")
        await pour(desk, cid, texts)
        await page.context.set_offline(False)  # the browser says "online": reconnect now
    items = frame.locator("#log li p")
    await expect(items).to_have_count(1 + len(texts), timeout=30_000)
    assert await items.all_text_contents() == ["before", *texts]
    fetches = [json.loads(f)["after"] for f in sent if '"fetch"' in f]
    assert fetches == ([500, 1000] if how == "reload" else [502, 1002]), fetches
    await say(page, "caught up", 2)
    assert await desk.hear(cid) == "caught up"
    await expect(frame.locator("#log li.problem")).to_have_count(0)
