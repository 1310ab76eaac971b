"""The duty console's accessibility: axe-core finds nothing serious or critical in any
state a counsellor sees (English and German), and one keyboard-only pass goes through
sign-in, accept, reply, transfer and close. Also takes the README's screenshot."""

from __future__ import annotations

from typing import Any

import pytest
from a11y import assert_no_serious, axe_scan, require_axe
from conftest import REPO, Desk
from test_console import (
    accept_first,
    console_page,
    log,
    open_widget,
    reply,
    said,
    sign_in,
    widget_says,
)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.parametrize("db_url", ["sqlite"], indirect=True),
]


async def scan(page: Any, what: str) -> None:
    assert_no_serious(await axe_scan(page, frames=False), what)


@pytest.mark.parametrize("lang", ["en", "de"])
async def test_every_console_state_passes_axe(desk: Desk, chromium: Any, lang: str) -> None:
    from playwright.async_api import expect

    require_axe()
    page = await console_page(chromium, "demo")
    await page.goto(desk.url + "/console")
    if lang == "de":
        await page.get_by_role("button", name="Deutsch").click()
        await expect(page.get_by_role("heading", name="Anmelden")).to_be_visible()
    await scan(page, f"sign-in ({lang})")
    await sign_in(desk, chromium, "demo", page, lang=lang)
    await scan(page, f"empty desk ({lang})")
    client = await open_widget(desk, chromium, "hello")
    await expect(page.locator("#queue li")).to_have_count(1)
    await scan(page, f"queue ({lang})")
    await accept_first(page)
    await expect(log(page)).to_have_count(1)
    await page.locator("#draft").fill("Hi, how can I help?")  # labels differ by language
    await page.locator("#draft").press("Enter")
    await expect(page.locator("#log li.team")).to_have_count(1)
    await widget_says(client, "I do not know where to start")
    await expect(log(page)).to_have_count(3)
    await page.locator("#note-text").fill("first contact")
    await page.locator("#note-form button").click()
    await expect(page.locator("#notes li")).to_have_count(1)
    await scan(page, f"chat ({lang})")
    for button, dialog in (
        ("#act-transfer", "#transfer-dialog"),
        ("#act-close", "#close-dialog"),
        ("#act-block", "#block-dialog"),
        ("#canned-open", "#canned-dialog"),
    ):
        await page.locator(button).click()
        await expect(page.locator(dialog)).to_be_visible()
        await scan(page, f"{dialog} ({lang})")
        await page.keyboard.press("Escape")
        await expect(page.locator(dialog)).to_be_hidden()
    await page.reload()
    await expect(page.locator("#unlock")).to_be_visible()
    await scan(page, f"unlock ({lang})")


async def test_keyboard_only_shift(desk: Desk, chromium: Any) -> None:
    """Sign in, accept, reply, transfer and close without a mouse; the focus is always
    visible."""
    from playwright.async_api import expect

    page = await console_page(chromium, "demo")
    await page.goto(desk.url + "/console")
    keys = page.keyboard
    await expect(page.locator("#si-user")).to_be_focused()  # the sign-in starts there
    await keys.type("demo")
    await keys.press("Tab")
    await keys.type(desk.password("demo"))
    await keys.press("Enter")
    await expect(page.get_by_role("heading", name="On duty")).to_be_visible(timeout=30_000)
    ben = await sign_in(desk, chromium, "demo2")
    client = await open_widget(desk, chromium, "keyboard test")
    await expect(page.locator("#queue li")).to_have_count(1)
    await keys.press("Alt+A")
    await expect(log(page).first).to_have_text(said("Client", "keyboard test"))
    await keys.press("Alt+1")
    await expect(page.locator("#draft")).to_be_focused()
    await keys.type("typed without a mouse")
    await keys.press("Enter")
    frame = client.frame_locator("iframe")
    await expect(frame.locator("#log li.team p").last).to_have_text("typed without a mouse")
    outline = await page.evaluate(
        "getComputedStyle(document.activeElement).outlineStyle + ' ' + "
        "getComputedStyle(document.activeElement).outlineWidth"
    )
    assert outline.startswith("solid 3px"), outline
    # Transfer to Ben with a note, keyboard only.
    await keys.press("Alt+T")
    await expect(page.locator("#transfer-to")).to_be_focused()
    await page.locator("#transfer-to").press("ArrowDown")  # the first colleague
    await keys.press("Tab")
    await keys.type("over to you")
    await keys.press("Tab")
    await keys.press("Enter")
    await expect(page.get_by_role("tab")).to_have_count(0)
    await expect(ben.locator("#handovers")).to_contain_text("over to you")
    # Ben closes it with a category, keyboard only.
    await ben.locator("#draft").focus()
    await ben.keyboard.press("Alt+C")
    await expect(ben.locator("#close-category")).to_be_focused()
    await ben.locator("#close-category").select_option("advice")
    await ben.keyboard.press("Tab")
    await ben.keyboard.press("Enter")
    await expect(ben.locator("#chat-status")).to_have_text("This chat has ended.")
    await expect(frame.get_by_text("The chat has ended.")).to_be_visible()


async def test_readme_screenshot(desk: Desk, chromium: Any, tmp_path: Any) -> None:
    """docs/console.png: a chat with a note and someone waiting (written only when it
    changed in size, so the test also runs on a read-only checkout)."""
    from playwright.async_api import expect

    context = await chromium.new_context(locale="en-GB", viewport={"width": 1280, "height": 800})
    page = await context.new_page()
    await sign_in(desk, chromium, "demo", page)
    client = await open_widget(
        desk, chromium, "Hi. I can't sleep, my parents are fighting again.", topic="General"
    )
    await accept_first(page)
    await reply(page, "Hi, I'm glad you wrote. Do you feel safe right now?")
    await widget_says(client, "yes, I'm in my room. it's just loud")
    await expect(log(page)).to_have_count(3)
    await page.locator("#note-text").fill("13-15 y? Check safety again before closing.")
    await page.locator("#note-form button").click()
    await expect(page.locator("#notes li")).to_have_count(1)
    await open_widget(desk, chromium, "hello?", topic="School")
    await expect(page.locator("#queue li")).to_have_count(1)
    await page.evaluate("window.scrollTo(0, 0)")  # clicking "Add note" scrolled down
    shot = tmp_path / "console.png"
    await page.screenshot(path=str(shot))
    target = REPO / "docs" / "console.png"
    assert shot.stat().st_size > 10_000
    if not target.exists():
        target.write_bytes(shot.read_bytes())
