"""The admin area's key pages in Debian's Chromium, as an agency sets itself up: the admin
creates a team (its keys made in the browser), allows the agency's website, copies the
embed snippet, invites a counsellor who signs up in their own browser, approves them
(the enrolment MAC checked in the admin's browser), and the new counsellor answers a
client who writes from the widget embedded with that snippet on the agency's website.
The same snippet with a changed integrity value loads nothing."""

from __future__ import annotations

import asyncio
import json
import re
import socket
import time
from collections.abc import AsyncIterator, Callable
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import pytest
from a11y import assert_no_serious, axe_scan, require_axe
from aiohttp import web
from conftest import PASSWORD as PASSWORD_CLI
from conftest import Desk, FakeClock
from sqlalchemy import select
from test_cli import chatserver, ok
from test_console import accept_first, log, reply, said

from chatserver.sdk.peers import ChatRefused, login
from chatserver.staff.accounts import Accounts
from chatserver.storage import models as m
from chatserver.teams.epochs import Epochs
from chatserver.teams.members import Members
from chatserver.web.state import STORE

pytestmark = [
    pytest.mark.browser,
    pytest.mark.parametrize("db_url", ["sqlite"], indirect=True),
]

PASSWORD = "a long and new password"


class Website:
    """The agency's own website on another origin: serves whatever page the test sets."""

    def __init__(self) -> None:
        self.page = "<!doctype html><title>Agency</title>"
        self.origin = ""

    async def handle(self, request: web.Request) -> web.Response:
        return web.Response(text=self.page, content_type="text/html")


@pytest.fixture
async def website() -> AsyncIterator[Website]:
    site = Website()
    app = web.Application()
    app.router.add_get("/", site.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    # "localhost" is another origin than the chat server's 127.0.0.1.
    site.origin = f"http://localhost:{sock.getsockname()[1]}"
    await web.SockSite(runner, sock).start()
    yield site
    await runner.cleanup()


async def admin_signs_in(desk: Desk, chromium: Any) -> Any:
    from playwright.async_api import expect

    context = await chromium.new_context(locale="en-GB")
    page = await context.new_page()
    await page.goto(desk.url + "/admin")
    form = page.locator("#signin")
    await form.get_by_label("Username").fill("admin")
    await form.get_by_label("Password").fill(desk.password("admin"))
    await form.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("navigation")).to_be_visible(timeout=30_000)
    return page


async def go(page: Any, name: str) -> Any:
    from playwright.async_api import expect

    await page.get_by_role("navigation").get_by_role("link", name=name, exact=True).click()
    await expect(page.get_by_role("heading", level=1)).to_have_text(name)
    return page.locator("#page")


async def test_an_agency_sets_itself_up_from_the_admin_area(
    make_desk: Callable[..., Any], chromium: Any, website: Website
) -> None:
    from playwright.async_api import expect

    clock = FakeClock(time.time())  # the server's clock: moved below, never slept on
    desk: Desk = await make_desk(clock=clock)
    page = await admin_signs_in(desk, chromium)
    teams = await go(page, "Teams")
    await teams.get_by_label("Short name (for the widget and addresses)").fill("Youth Line")
    await teams.get_by_label("Name", exact=True).fill("Youth line")
    await teams.get_by_role("button", name="Create team").click()
    await expect(teams.get_by_text("Use 1 to 40 small letters")).to_be_visible()
    await teams.get_by_label("Short name (for the widget and addresses)").fill("youth")
    await teams.get_by_role("button", name="Create team").click()
    await expect(teams.get_by_text("Team Youth line created.")).to_be_visible(timeout=30_000)
    details = teams.locator("section").filter(has=page.get_by_role("heading", name="Keys"))
    await expect(details.get_by_text("Daily keys are ready until")).to_be_visible()
    safety = (await teams.locator(".safety").text_content()) or ""
    assert len(safety.split()) == 6

    origins = teams.get_by_label("Websites, one per line")
    await origins.fill("not a website")
    await teams.get_by_role("button", name="Save websites").click()
    await expect(teams.get_by_text("not a website")).to_have_count(1)
    await expect(origins).to_have_attribute("aria-invalid", "true")
    await origins.fill(website.origin + "/")
    await teams.get_by_role("button", name="Save websites").click()
    await expect(teams.get_by_text("Websites saved.")).to_be_visible()
    await expect(origins).to_have_value(website.origin)

    # The snippet for the agency's website, with the loader's hash and the team's pin.
    snippet_page = await go(page, "Embed snippet")
    await snippet_page.get_by_label("Team").select_option("youth")
    await snippet_page.get_by_label("Language").select_option("en")
    code = snippet_page.get_by_label("Your snippet")
    await expect(code).to_have_value(re.compile(r'data-team="youth" data-pin="'))
    snippet = await code.input_value()
    assert 'integrity="sha384-' in snippet and 'data-lang="en"' in snippet
    preview = page.frame_locator("iframe.preview")
    await expect(preview.get_by_role("heading", name="Youth line")).to_be_visible()
    await expect(preview.get_by_role("button", name="Chat with a counsellor")).to_be_visible()
    assert await code.input_value() == snippet

    # A counsellor invited by a one-time link signs up in their own browser.
    accounts = await go(page, "Accounts")
    await accounts.get_by_label("Team").select_option("youth")
    await accounts.get_by_role("button", name="Make invitation link").click()
    link = await accounts.get_by_label("Invitation link").input_value()
    assert link.startswith(desk.url + "/console#invite=") and "&secret=" in link
    newcomer = await (await chromium.new_context(locale="en-GB")).new_page()
    await newcomer.goto(link)
    form = newcomer.locator("#invite")
    await expect(form).to_contain_text("You are invited to team youth as counsellor.")
    await form.get_by_label("Username").fill("nina")
    await form.get_by_label("Your name as colleagues see it").fill("Nina K.")
    await form.get_by_label("New password").fill(PASSWORD)
    await form.get_by_label("The same password again").fill(PASSWORD)
    await form.get_by_role("button", name="Create my account").click()
    await expect(newcomer.get_by_role("heading", name="Your recovery sheet")).to_be_visible(
        timeout=30_000
    )

    # The admin approves: the MAC is checked in this browser, the roster signed here.
    accounts = await go(page, "Teams")
    accounts = await go(page, "Accounts")
    await accounts.get_by_role("button", name="Check and approve Nina K.").click()
    await expect(
        accounts.get_by_text("Nina K. is approved and has the team's keys.")
    ).to_be_visible(timeout=30_000)
    await expect(accounts.get_by_text("Nobody is waiting for approval.")).to_be_visible()

    await newcomer.get_by_role("link", name="Go to sign-in").click()
    signin = newcomer.locator("#signin")
    await signin.get_by_label("Username").fill("nina")
    await signin.get_by_label("Password").fill(PASSWORD)
    await signin.get_by_role("button", name="Sign in").click()
    await expect(newcomer.get_by_role("heading", name="On duty")).to_be_visible(timeout=30_000)

    # A young person on the agency's website, with exactly the copied snippet.
    website.page = f"<!doctype html><html lang=en><title>Agency</title><h1>Agency</h1>{snippet}"
    client = await (await chromium.new_context(locale="en-GB")).new_page()
    await client.goto(website.origin + "/")
    await client.get_by_role("button", name="Chat with a counsellor").click()
    frame = client.frame_locator("iframe")
    await frame.get_by_role("button", name="I agree, start the chat").click()
    box = frame.get_by_label("Your message")
    await box.fill("hello youth line")
    await box.press("Enter")
    await expect(frame.locator("#log li.me .st").last).not_to_have_text("sending")
    await accept_first(newcomer)
    await expect(log(newcomer).first).to_have_text(said("Client", "hello youth line"))
    await reply(newcomer, "Hi, I am Nina from the youth line")
    await expect(frame.locator("#log li.team p").last).to_have_text(
        "Hi, I am Nina from the youth line"
    )

    # Opening hours 09:00-17:00 every day. The server's clock (injected) moves to the next
    # 03:00 in Berlin: a new visitor gets the closed message with the hours and numbers.
    hours = await go(page, "Opening hours")
    await hours.get_by_label("Team").select_option("youth")
    for day in ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"):
        await hours.get_by_label(day, exact=True).fill("09:00-17:00")
    await hours.get_by_role("button", name="Save the opening hours").click()
    await expect(hours.get_by_text("Saved. The chat uses these hours now.")).to_be_visible()
    berlin = datetime.fromtimestamp(clock.now, ZoneInfo("Europe/Berlin"))
    night = berlin.replace(hour=3, minute=0, second=0, microsecond=0)
    if night <= berlin:
        night += timedelta(days=1)
    clock.now = night.timestamp()
    later = await (await chromium.new_context(locale="en-GB")).new_page()
    await later.goto(website.origin + "/")
    await later.get_by_role("button", name="Chat with a counsellor").click()
    closed = later.frame_locator("iframe")
    await expect(
        closed.get_by_role("heading", name="We are not in the chat right now")
    ).to_be_visible()
    await expect(closed.get_by_text("09:00")).to_be_visible()
    await expect(closed.get_by_text("116 111")).to_be_visible()

    # The same tag with another integrity value: the browser refuses the loader.
    broken = snippet.replace('integrity="sha384-', 'integrity="sha384-AAAA')
    website.page = f"<!doctype html><html lang=en><title>Agency</title><h1>Agency</h1>{broken}"
    refused: list[str] = []
    visitor = await (await chromium.new_context(locale="en-GB")).new_page()
    visitor.on("console", lambda m: refused.append(m.text))
    await visitor.goto(website.origin + "/")
    await expect(visitor.get_by_role("heading", name="Agency")).to_be_visible()
    await visitor.wait_for_load_state("load")
    assert await visitor.get_by_role("button", name="Chat with a counsellor").count() == 0
    assert any("integrity" in text for text in refused), refused


async def staff_row(desk: Desk, username: str) -> dict[str, Any]:
    accounts = await Accounts(desk.server.db).list_accounts()
    return next(a.to_json() for a in accounts if a.username == username)


async def roster_of(desk: Desk, slug: str) -> dict[str, Any]:
    team = await desk.server.app[STORE].team_by_slug(slug)
    assert team is not None
    return dict(json.loads(await Members(desk.server.db).latest_roster(team.id)))


async def test_the_first_admin_sets_up_a_team_made_on_the_command_line(
    desk: Desk, chromium: Any
) -> None:
    """An admin made with ``chatserver user add`` has no keys yet: the admin area makes
    them in the browser at the first sign-in, then the team's keys."""
    from playwright.async_api import expect

    require_axe()
    await desk.server.staff("boss", [], role="admin", name="Boss")
    await desk.server.team("agency")
    page = await (await chromium.new_context(locale="en-GB")).new_page()
    await page.goto(desk.url + "/admin")
    form = page.locator("#signin")
    await form.get_by_label("Username").fill("boss")
    await form.get_by_label("Password").fill(PASSWORD_CLI)
    await form.get_by_role("button", name="Sign in").click()
    teams = await go(page, "Teams")
    await teams.get_by_role("button", name="Open Agency").click()
    await expect(teams.get_by_text("This team has no keys yet")).to_be_visible()
    assert_no_serious(await axe_scan(page, frames=False), "teams page")
    await teams.get_by_role("button", name="Set up the team's keys").click()
    await expect(teams.get_by_role("table", name="Members (signed list, version 1)")).to_be_visible(
        timeout=30_000
    )
    roster = await roster_of(desk, "agency")
    boss = await staff_row(desk, "boss")
    assert [m["id"] for m in roster["members"]] == [boss["id"]] and boss["teams"] == ["agency"]
    # The next sign-in (a reload) unwraps the same keys: nothing new is made.
    await page.reload()
    await page.locator("#unlock").get_by_label("Password").fill(PASSWORD_CLI)
    await page.locator("#unlock").get_by_role("button", name="Unlock").click()
    teams = await go(page, "Teams")
    await teams.get_by_role("button", name="Open Agency").click()
    await expect(
        teams.get_by_role("table", name="Members (signed list, version 1)")
    ).to_be_visible()
    await expect(
        teams.get_by_role("button", name="Issue daily keys for the next 14 days")
    ).to_be_visible()


async def test_members_are_added_changed_and_removed_with_new_keys(
    desk: Desk, chromium: Any
) -> None:
    """A colleague from another team is added (their keys as a roster this browser checked
    names them), made supervisor (the roster signed again), and removed: the next roster
    leaves them out and new daily keys start now, which they do not get."""
    from playwright.async_api import expect

    require_axe()
    page = await admin_signs_in(desk, chromium)
    teams = await go(page, "Teams")
    await teams.get_by_label("Short name (for the widget and addresses)").fill("night")
    await teams.get_by_label("Name", exact=True).fill("Night line")
    await teams.get_by_role("button", name="Create team").click()
    await expect(teams.get_by_text("Team Night line created.")).to_be_visible(timeout=30_000)
    night = await desk.server.app[STORE].team_by_slug("night")
    assert night is not None
    first_top = await Epochs(desk.server.db).top(night.id)

    accounts = await go(page, "Accounts")
    assert_no_serious(await axe_scan(page, frames=False), "accounts page")
    await accounts.get_by_role("button", name="Change Demo counsellor").click()
    editor = accounts.get_by_role("region", name="Change Demo counsellor")
    await editor.get_by_label("Add to team").select_option("night")
    await editor.get_by_role("button", name="Add to team").click()
    editor = accounts.get_by_role("region", name="Change Demo counsellor")
    await expect(editor.get_by_role("button", name="Remove from Night line")).to_be_visible(
        timeout=30_000
    )
    demo = await staff_row(desk, "demo")
    assert sorted(demo["teams"]) == ["demo", "night"]
    assert {m["id"]: m["role"] for m in (await roster_of(desk, "night"))["members"]}[
        demo["id"]
    ] == "counsellor"

    await editor.get_by_label("Role").select_option("supervisor")
    await editor.get_by_role("button", name="Save").click()
    await expect(page.locator("#announce")).to_have_text(
        "Role changed; the member lists of the teams you hold were signed again.", timeout=30_000
    )
    assert await roster_role(desk, "night", demo["id"]) == "supervisor"
    assert await roster_role(desk, "demo", demo["id"]) == "supervisor"

    await editor.get_by_role("button", name="Remove from Night line").click()
    await page.get_by_role("dialog").get_by_role("button", name="Remove from Night line").click()
    await expect(editor.get_by_role("button", name="Remove from Night line")).to_have_count(
        0, timeout=30_000
    )
    assert (await staff_row(desk, "demo"))["teams"] == ["demo"]
    assert demo["id"] not in {m["id"] for m in (await roster_of(desk, "night"))["members"]}
    current = await Epochs(desk.server.db).current(night.id, int(time.time() * 1000))
    assert current.epoch > first_top  # re-issued above every epoch the member held


async def roster_role(desk: Desk, slug: str, staff_id: str) -> str:
    return str({m["id"]: m["role"] for m in (await roster_of(desk, slug))["members"]}[staff_id])


async def test_snippet_page_checks_its_settings(desk: Desk, chromium: Any) -> None:
    from playwright.async_api import expect

    require_axe()
    page = await admin_signs_in(desk, chromium)
    snippet = await go(page, "Embed snippet")
    await snippet.get_by_label("Quick exit goes to").fill("javascript:alert(1)")
    await expect(snippet.get_by_text("Enter a full address starting with https://")).to_be_visible()
    await expect(snippet.get_by_role("button", name="Copy snippet")).to_be_disabled()
    await snippet.get_by_label("Quick exit goes to").fill("https://www.wetter.de/")
    await snippet.get_by_label("Button text colour").fill("#1155aa")
    await expect(snippet.get_by_text("too little contrast")).to_be_visible()
    await snippet.get_by_label("Button text colour").fill("#ffffff")
    await snippet.get_by_label("Position of the button").select_option("left")
    await expect(snippet.get_by_label("Your snippet")).to_have_value(
        re.compile(r'data-position="left" data-exit="https://www.wetter.de/"')
    )
    await expect(snippet.get_by_role("button", name="Copy snippet")).to_be_enabled()
    assert_no_serious(await axe_scan(page, frames=False), "snippet page")
    # The preview is exactly that tag, served by this server.
    preview = page.frame_locator("iframe.preview")
    await expect(preview.get_by_role("button", name="Chat with a counsellor")).to_be_visible()
    async with aiohttp.ClientSession() as http:
        bad = desk.url + "/admin/preview?team=demo&exit=javascript:alert(1)"
        async with http.get(bad) as response:
            assert response.status == 400


async def test_a_forgotten_password_is_reset_with_new_keys(desk: Desk, chromium: Any) -> None:
    """The old keys were locked with the old password: the account is signed out, enrols
    again through a new link (same username, new password and keys), and is approved;
    the old password no longer opens anything."""
    from playwright.async_api import expect

    before = await roster_of(desk, "demo")
    demo2 = await staff_row(desk, "demo2")
    old_keys = next(m for m in before["members"] if m["id"] == demo2["id"])
    page = await admin_signs_in(desk, chromium)
    accounts = await go(page, "Accounts")
    await accounts.get_by_role("button", name="Change Second counsellor").click()
    editor = accounts.get_by_role("region", name="Change Second counsellor")
    await editor.get_by_role("button", name="Reset password").click()
    await page.get_by_role("dialog").get_by_role("button", name="Reset password").click()
    link = await editor.get_by_label("Invitation link").input_value()
    assert "#invite=" in link

    person = await (await chromium.new_context(locale="en-GB")).new_page()
    await person.goto(link)
    form = person.locator("#invite")
    await expect(form).to_contain_text("Your password was reset.")
    await expect(form.get_by_label("Username")).to_have_value("demo2")
    await form.get_by_label("Your name as colleagues see it").fill("Second counsellor")
    await form.get_by_label("New password").fill(PASSWORD)
    await form.get_by_label("The same password again").fill(PASSWORD)
    await form.get_by_role("button", name="Create my account").click()
    await expect(person.get_by_role("heading", name="Your recovery sheet")).to_be_visible(
        timeout=30_000
    )

    accounts = await go(page, "Teams")
    accounts = await go(page, "Accounts")
    await accounts.get_by_role("button", name="Check and approve Second counsellor").click()
    await expect(accounts.get_by_text("Second counsellor is approved")).to_be_visible(
        timeout=30_000
    )
    after = await roster_of(desk, "demo")
    new_keys = next(m for m in after["members"] if m["id"] == demo2["id"])
    assert new_keys["dh_pub"] != old_keys["dh_pub"] and after["version"] > before["version"]

    await person.get_by_role("link", name="Go to sign-in").click()
    signin = person.locator("#signin")
    await signin.get_by_label("Username").fill("demo2")
    await signin.get_by_label("Password").fill(desk.password("demo2"))
    await signin.get_by_role("button", name="Sign in").click()
    await expect(signin.get_by_role("alert")).to_have_text("Wrong username, password or code.")
    await signin.get_by_label("Password").fill(PASSWORD)
    await signin.get_by_role("button", name="Sign in").click()
    await expect(person.get_by_role("heading", name="On duty")).to_be_visible(timeout=30_000)


async def test_the_operator_resets_a_password_from_the_command_line(
    desk: Desk, chromium: Any, tmp_path: Any
) -> None:
    """``chatserver user reset-password`` does what the admin area's reset does: the old
    keys and password stop working at once, the printed link enrols new ones, and an admin
    who did not make the link approves them by pasting it (a wrong link is refused)."""
    from playwright.async_api import expect

    demo2 = await staff_row(desk, "demo2")
    settings = desk.server.settings
    result = await asyncio.to_thread(
        chatserver,
        settings.database_url,
        tmp_path,
        "user",
        "reset-password",
        "demo2",
        CHAT_PUBLIC_ORIGIN=desk.url,
    )
    out = ok(result)
    (link,) = re.findall(r"^(\S+/console#invite=\S+)$", out, re.M)
    assert "approves the new keys" in out
    with pytest.raises(ChatRefused, match="wrong username, password or code"):
        await login(desk.url, "demo2", password=desk.password("demo2"))
    async with desk.server.db.read() as conn:
        identity = await conn.execute(
            select(m.identities.c.staff_id).where(m.identities.c.staff_id == demo2["id"])
        )
        assert identity.first() is None

    person = await (await chromium.new_context(locale="en-GB")).new_page()
    await person.goto(link)
    form = person.locator("#invite")
    await expect(form).to_contain_text("Your password was reset.")
    await form.get_by_label("Your name as colleagues see it").fill("Second counsellor")
    await form.get_by_label("New password").fill(PASSWORD)
    await form.get_by_label("The same password again").fill(PASSWORD)
    await form.get_by_role("button", name="Create my account").click()
    await expect(person.get_by_role("heading", name="Your recovery sheet")).to_be_visible(
        timeout=30_000
    )

    page = await admin_signs_in(desk, chromium)
    accounts = await go(page, "Accounts")
    pasted = accounts.get_by_label("Invitation link of Second counsellor")
    approve = accounts.get_by_role("button", name="Check and approve Second counsellor")
    await pasted.fill(link.replace("invite=", "invite=x"))
    await approve.click()
    await expect(accounts.get_by_text("This is not the link of this invitation.")).to_be_visible()
    await pasted.fill(link)
    await approve.click()
    await expect(accounts.get_by_text("Second counsellor is approved")).to_be_visible(
        timeout=30_000
    )
    await person.get_by_role("link", name="Go to sign-in").click()
    signin = person.locator("#signin")
    await signin.get_by_label("Username").fill("demo2")
    await signin.get_by_label("Password").fill(PASSWORD)
    await signin.get_by_role("button", name="Sign in").click()
    await expect(person.get_by_role("heading", name="On duty")).to_be_visible(timeout=30_000)


async def test_consent_text_is_written_from_a_suggestion_and_versioned(
    desk: Desk, chromium: Any
) -> None:
    from playwright.async_api import expect

    require_axe()
    page = await admin_signs_in(desk, chromium)
    consent = await go(page, "Consent text")
    await expect(consent.get_by_text("This team has no text of its own yet")).to_be_visible()
    await consent.get_by_label("Text in English").fill("We keep it short.")
    await consent.get_by_role("button", name="Save as a new version").click()
    await expect(consent.get_by_label("Text in German")).to_have_attribute("aria-invalid", "true")
    await consent.get_by_role("button", name="Start from a suggestion").click()
    await expect(consent.get_by_label("Text in English")).to_have_value(
        re.compile("Messages are deleted 2 days after the chat ends")
    )
    await consent.get_by_role("button", name="Save as a new version").click()
    await expect(consent.get_by_role("status").first).to_have_text(
        "Saved: version 1 is shown from now on."
    )
    assert_no_serious(await axe_scan(page, frames=False), "consent page")
    await consent.get_by_label("Text in German").fill(
        "Dein Chat wird 2 Tage nach dem Ende gelöscht."
    )
    await consent.get_by_role("button", name="Save as a new version").click()
    await expect(consent.get_by_text("Version 2 is shown, since")).to_be_visible()
    await expect(consent.get_by_role("table", name="Versions").get_by_role("row")).to_have_count(3)

    # A young person reads the team's text before the first message; the conversation
    # records the version agreed to.
    client = await (await chromium.new_context(locale="de-DE")).new_page()
    await client.goto(desk.url + "/")
    await client.get_by_role("button", name="Chat with a counsellor").click()
    frame = client.frame_locator("iframe")
    # (the demo page embeds the widget in English)
    await expect(frame.locator("#team-consent")).to_contain_text(
        "Messages are deleted 2 days after the chat ends"
    )
    await frame.get_by_role("button", name="I agree, start the chat").click()
    box = frame.get_by_label("Your message")
    await box.fill("hello")
    await box.press("Enter")
    await expect(frame.locator("#log li.me .st").last).not_to_have_text("sending")
    async with desk.server.db.read() as conn:
        agreed = (
            await conn.execute(
                select(m.conversations.c.consent_version)
                .order_by(m.conversations.c.created_at.desc())
                .limit(1)
            )
        ).scalar_one()
    assert agreed == "w1.t2"
