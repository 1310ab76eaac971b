"""The client widget for people who use a keyboard, a screen reader or a small touch
screen: axe-core finds no serious or critical violation in any state a visitor sees, in
English and German, at 360 by 640 CSS pixels; every control is at least 44 by 44 pixels; the
whole chat works from the keyboard alone with a visible focus, and the counsellor's
replies land in a live region. Same world as tests/browser/test_widget.py: Debian's Chromium, an
agency page on another origin, a real server and a Python counsellor."""

from __future__ import annotations

from typing import Any

import pytest
from a11y import assert_no_serious, axe_scan, focus_indicator, require_axe, small_targets
from conftest import until
from test_widget import TEXTS, World, world

from chatserver import e2e

__all__ = ["world"]  # the fixture, shared with tests/browser/test_widget.py

pytestmark = [
    pytest.mark.browser,
    pytest.mark.parametrize("db_url", ["sqlite"], indirect=True),
]

PHONE = {"width": 360, "height": 640}


@pytest.fixture
def axe() -> None:
    """axe-core is installed (else skip, or fail under CI) before the world is built."""
    require_axe()


async def phone(chromium: Any) -> Any:
    """A new page in a phone-sized window."""
    context = await chromium.new_context(viewport=PHONE)
    page = await context.new_page()
    page.on("console", lambda m: print("console:", m.text))
    page.on("pageerror", lambda e: print("pageerror:", e))
    return page


async def inner(page: Any) -> Any:
    """The chat page's frame (a Playwright ``Frame``, for evaluating inside it)."""
    element = await page.wait_for_selector("iframe")
    return await element.content_frame()


async def check(page: Any, state: str) -> None:
    """No serious axe violation on the host page and in the chat, no small control."""
    assert_no_serious(await axe_scan(page), state)
    assert await small_targets(page) == [], state


@pytest.mark.parametrize("lang", ["en", "de"])
async def test_every_state_passes_axe(axe: None, world: World, chromium: Any, lang: str) -> None:
    """Launcher, consent, queue, a chat both ways, the continue prompt and the end: no
    serious or critical violation and no control under 44 by 44 pixels."""
    from playwright.async_api import expect

    text = TEXTS[lang]
    desk = await world.counsellor()
    await until(desk.peer, "queue")
    page = await phone(chromium)
    await page.goto(world.embed(lang=lang))
    launcher = page.get_by_role("button", name=text["launch"])
    await expect(launcher).to_be_visible()
    await check(page, "launcher closed")

    await launcher.click()
    frame = page.frame_locator("iframe")
    await expect(frame.get_by_role("button", name=text["agree"])).to_be_focused()
    await check(page, "consent")

    await frame.get_by_role("button", name=text["agree"]).click()
    box = frame.get_by_label(text["label"])
    await box.fill("hello")
    await box.press("Enter")
    await expect(frame.locator("#status")).to_have_text(text["first"])
    await expect(frame.locator("#log li.me .st")).to_have_text(text["stored"])
    await check(page, "waiting in the queue")

    cid = (await until(desk.peer, "queued"))["item"]["conversation"]
    await desk.accept(cid)
    await desk.say(cid, "Hello, I am Anna. " * 30)
    await box.fill("thanks")
    await box.press("Enter")
    assert await desk.hear(cid) == "thanks"
    await desk.say(cid, "You are welcome.")
    await expect(frame.locator("#log li")).to_have_count(4)
    await expect(frame.locator("#log li.me .st").first).to_have_text(text["read"])
    await desk.peer.send_frame({"type": "typing", "conversation": cid, "active": True})
    await expect(frame.get_by_text(text["typing"])).to_be_visible()
    await check(page, "active chat")

    await page.reload()
    await page.get_by_role("button", name=text["launch"]).click()
    await expect(frame.get_by_role("button", name=text["continue"])).to_be_focused()
    await check(page, "continue prompt")
    await frame.get_by_role("button", name=text["continue"]).click()
    await expect(frame.locator("#log li")).to_have_count(4)

    await expect(box).to_be_focused()
    await desk.close(cid)
    await expect(frame.locator("#status")).to_have_text(text["ended"])
    await expect(frame.locator("#again")).to_be_focused()  # not lost with the hidden form
    await check(page, "ended")


@pytest.mark.parametrize("lang", ["en", "de"])
async def test_pin_mismatch_warning_passes_axe(
    axe: None, world: World, chromium: Any, lang: str
) -> None:
    """The refusal when the team key does not match the pin is accessible too."""
    from playwright.async_api import expect

    text = TEXTS[lang]
    page = await phone(chromium)
    await page.goto(world.embed(lang=lang, pin=e2e.pin(e2e.public_bytes(e2e.generate()))))
    await page.get_by_role("button", name=text["launch"]).click()
    frame = page.frame_locator("iframe")
    await frame.get_by_role("button", name=text["agree"]).click()
    await expect(frame.get_by_role("alert")).to_contain_text(text["pin"])
    await expect(frame.get_by_role("alert")).to_be_focused()  # read out, not lost
    await check(page, "pin mismatch")


async def test_keyboard_only(world: World, chromium: Any) -> None:
    """Tab to the launcher, Enter opens the chat with the focus in it, the consent and a
    message go by keyboard, the reply reaches a live region, every focused control shows a
    focus ring, and Escape twice leaves for the neutral page."""
    from playwright.async_api import expect

    text = TEXTS["en"]
    desk = await world.counsellor()
    await until(desk.peer, "queue")
    page = await phone(chromium)
    await page.goto(world.embed())
    await page.keyboard.press("Tab")
    assert await page.evaluate("document.activeElement.textContent") == text["launch"]
    ring = await focus_indicator(page)
    assert ring and ring["visible"], ring
    await page.keyboard.press("Enter")
    frame = await inner(page)
    chat = page.frame_locator("iframe")
    await expect(chat.get_by_role("button", name=text["agree"])).to_be_focused()
    # Back through the header's controls and forward again: each shows its focus.
    seen = []
    for key in ["Shift+Tab", "Shift+Tab", "Tab", "Tab"]:
        await page.keyboard.press(key)
        ring = await focus_indicator(frame)
        assert ring and ring["visible"] and ring["contrast"] >= 3, ring
        seen.append(ring["element"])
    assert seen == ["button#exit", "button#min", "button#exit", "button#agree"]
    await page.keyboard.press("Enter")

    box = chat.get_by_label(text["label"])
    await expect(box).to_be_focused()
    await page.keyboard.type("hello, typed")
    await page.keyboard.press("Enter")
    await expect(chat.locator("#log li.me p")).to_have_text("hello, typed")
    await expect(chat.locator("#log li.me .st")).to_have_text(text["stored"])
    cid = (await until(desk.peer, "queued"))["item"]["conversation"]
    assert await desk.accept(cid) == ["hello, typed"]
    await desk.say(cid, "Hi, Anna here.")
    reply = chat.locator("#log li.team")
    await expect(reply.locator("p")).to_have_text("Hi, Anna here.")
    live = await reply.evaluate(
        "(li) => { const r = li.closest('[aria-live]');"
        " return r && [r.getAttribute('role'), r.getAttribute('aria-live'),"
        " r.getAttribute('aria-relevant'), r.getAttribute('aria-label')]; }"
    )
    assert live == ["log", "polite", "additions", "Messages"]
    await expect(box).to_be_focused()  # a reply does not move the focus
    for key in ["Tab", "Tab", "Shift+Tab", "Shift+Tab"]:
        await page.keyboard.press(key)
        ring = await focus_indicator(frame)
        assert ring and ring["visible"] and ring["contrast"] >= 3, ring
        seen.append(ring["element"])
    assert seen[4:] == ['button "Send"', "button#end", 'button "Send"', "textarea#text"]
    await expect(box).to_be_focused()

    await page.keyboard.press("Escape")
    await page.keyboard.press("Escape")
    await page.wait_for_url(f"{world.host}/weather")
    await until(desk.peer, "state", conversation=cid, state="closed")
