"""The duty console as counsellors use it: Debian's Chromium signs in to a real server set
up by ``chatserver demo`` (a team with real keys, two counsellors), clients write from the
widget on the demo start page (or through the Python SDK), and the console decrypts,
answers, transfers, notes, closes and blocks. Synchronised by Playwright's auto-waiting
assertions and by server frames, never by sleeping."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from conftest import REPO, Server, until

from chatserver import cli, e2e
from chatserver.config import Settings
from chatserver.demo import DemoInfo
from chatserver.sdk import ClientPeer
from chatserver.sdk_e2e import SecureClient
from chatserver.web.app import create_app
from chatserver.web.keys import DB, STORE

pytestmark = [
    pytest.mark.browser,
    # The server logic runs on both databases elsewhere; the browser runs once.
    pytest.mark.parametrize("db_url", ["sqlite"], indirect=True),
]


@dataclass
class Desk:
    """A server set up by ``chatserver demo`` on its public origin."""

    server: Server
    demo: DemoInfo
    sockets: list[Any] = field(default_factory=list)

    def password(self, username: str) -> str:
        return next(a.password for a in self.demo.accounts if a.username == username)

    @property
    def url(self) -> str:
        return self.server.url

    async def secure_client(self) -> SecureClient:
        """A client through the Python SDK, as the widget is (docs/e2e.md)."""
        now = int(asyncio.get_running_loop().time() * 0) or _now_ms()
        client = await SecureClient.connect(self.url, "demo", self.demo.pin, now)
        self.server.peers.append(client.peer)
        return client


def _now_ms() -> int:
    import time

    return int(time.time() * 1000)


def _socket() -> socket.socket:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    return sock


@pytest.fixture
async def desk(settings_factory: Callable[..., Settings]) -> AsyncIterator[Desk]:
    sock = _socket()
    origin = f"http://127.0.0.1:{sock.getsockname()[1]}"
    settings = settings_factory(public_origin=origin)
    demo = await _demo(settings)
    app = create_app(settings)
    runner = aiohttp.web.AppRunner(app, access_log=None)
    await runner.setup()
    await aiohttp.web.SockSite(runner, sock).start()
    world = Desk(Server(origin, settings, app, app[DB]), demo)
    try:
        yield world
    finally:
        for peer in world.server.peers:
            await peer.close()
        await runner.cleanup()


async def _demo(settings: Settings) -> DemoInfo:
    from chatserver.cli import _with_db

    info: DemoInfo = await _with_db(settings, lambda db: cli.demo(db, settings))
    return info


async def sign_in(desk: Desk, browser: Any, username: str) -> Any:
    """A console page of its own (own cookies and storage), signed in and unlocked."""
    from playwright.async_api import expect

    context = await browser.new_context(locale="en-GB")
    page = await context.new_page()
    page.on("pageerror", lambda e: print(f"{username} pageerror:", e))
    page.on("console", lambda m: print(f"{username} console:", m.text))
    await page.goto(desk.url + "/console")
    form = page.locator("#signin")
    await form.get_by_label("Username").fill(username)
    await form.get_by_label("Password").fill(desk.password(username))
    await form.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("heading", name="On duty")).to_be_visible(timeout=30_000)
    return page


async def open_widget(desk: Desk, browser: Any, text: str) -> Any:
    """A client on the demo start page: opens the widget, agrees, writes ``text``."""
    from playwright.async_api import expect

    context = await browser.new_context(locale="en-GB")
    page = await context.new_page()
    await page.goto(desk.url + "/")
    await page.get_by_role("button", name="Chat with a counsellor").click()
    frame = page.frame_locator("iframe")
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
    """Two consoles see the queue live; one accepts; the other's queue empties; messages go
    both ways in plain text on screen and only as ciphertext into the database."""
    from playwright.async_api import expect

    anna = await sign_in(desk, chromium, "demo")
    ben = await sign_in(desk, chromium, "demo2")
    await expect(anna.locator("#shift li")).to_contain_text(["Second counsellor – Available"])
    client = await open_widget(desk, chromium, "I need to talk to someone")
    await expect(queue(anna)).to_have_count(1)
    await expect(queue(ben)).to_have_count(1)
    await expect(anna).to_have_title("(1) Duty console")
    await accept_first(anna)
    await expect(log(anna).first).to_have_text("ClientI need to talk to someone")
    await expect(queue(ben)).to_have_count(0)
    await expect(queue(anna)).to_have_count(0)
    await reply(anna, "I am here. What happened?")
    frame = client.frame_locator("iframe")
    await expect(frame.locator("#log li.team p").last).to_have_text("I am here. What happened?")
    await widget_says(client, "school was awful today")
    await expect(log(anna).last).to_have_text("Clientschool was awful today")
    # The client's message acknowledged the reply: it was read.
    await expect(anna.locator("#log li.team .meta").last).to_have_text("You · read")
    stored = database_bytes(desk)
    for text in ("I need to talk", "What happened", "school was awful"):
        assert text.encode() not in stored
