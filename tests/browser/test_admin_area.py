"""The admin area as admins and supervisors use it: Debian's Chromium signs in to a real
server set up by ``chatserver demo`` and works each page as a person would (opening
hours, audit log, retention rules with their preview, legal holds, sweep reports,
statistics); axe-core scans every page in English and German, and one pass goes through
the navigation by keyboard only. Synchronised by Playwright's auto-waiting assertions,
never by sleeping."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from a11y import assert_no_serious, axe_scan, require_axe
from conftest import Desk, Server, caller, client_key
from test_cli import chatserver, ok

from chatserver.ops import cli

#: Browser tests run once, on SQLite; the endpoint tests run on both databases.
ONCE = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)

LOGIN = {
    "en": ("Username", "Password", "Sign in"),
    "de": ("Benutzername", "Passwort", "Anmelden"),
}
SUP = "a supervisor's long password"
#: The navigation's pages in order, as an admin sees them.
PAGE_IDS = [
    "teams",
    "accounts",
    "hours",
    "snippet",
    "consent",
    "audit",
    "stats",
    "retention",
    "holds",
    "blocks",
    "reports",
    "privacy",
]


async def nav_names(page: Any) -> list[str]:
    """The navigation's link texts (the pages' titles in the page's language)."""
    from playwright.async_api import expect

    links = page.get_by_role("navigation").get_by_role("link")
    await expect(links).to_have_count(len(PAGE_IDS))
    hrefs = [await link.get_attribute("href") for link in await links.all()]
    assert hrefs == [f"#{p}" for p in PAGE_IDS]
    names: list[str] = await links.all_inner_texts()
    return names


async def admin_page(browser: Any) -> Any:
    """A page of its own (own cookies and storage) that collects script errors."""
    context = await browser.new_context(locale="en-GB")
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.errors = errors
    return page


async def sign_in(desk: Desk, page: Any, username: str = "admin", lang: str = "en") -> None:
    """Fill the admin area's sign-in form and wait until it is gone."""
    from playwright.async_api import expect

    user, password, button = LOGIN[lang]
    await page.goto(desk.url + "/admin")
    form = page.locator("#signin")
    await expect(form).to_be_visible()
    if await page.evaluate("document.documentElement.lang") != lang:
        await page.locator("#lang").click()
        await expect(page.locator("html")).to_have_attribute("lang", lang)
    await form.get_by_label(user).fill(username)
    await form.get_by_label(password).fill(desk.password(username))
    await form.get_by_role("button", name=button).click()
    await expect(form).to_be_hidden(timeout=30_000)


async def open_page(page: Any, name: str) -> Any:
    """Click ``name`` in the navigation; return the page's content area once shown."""
    from playwright.async_api import expect

    await page.get_by_role("navigation").get_by_role("link", name=name, exact=True).click()
    await expect(page.get_by_role("heading", level=1)).to_have_text(name)
    body = page.locator("#page")
    await expect(body).not_to_have_attribute("aria-busy", "true")  # render() has finished
    return body


async def confirm(page: Any) -> None:
    from playwright.async_api import expect

    dialog = page.get_by_role("dialog", name="Please confirm")
    await dialog.get_by_role("button").first.click()
    await expect(dialog).to_have_count(0)


# --------------------------------------------------------------------------- tests
@pytest.mark.browser
@ONCE
async def test_admin_signs_in_and_a_counsellor_is_turned_away(desk: Desk, chromium: Any) -> None:
    """The admin reaches every page; a counsellor is told the area is not theirs; a
    reload asks for the password again."""
    from playwright.async_api import expect

    page = await admin_page(chromium)
    await sign_in(desk, page)
    nav = page.get_by_role("navigation", name="Admin pages")
    await nav_names(page)
    await expect(page.get_by_role("heading", level=1)).to_have_text("Teams")
    await open_page(page, "Audit log")
    await expect(page.get_by_role("heading", level=1)).to_be_focused()
    current = nav.locator("[aria-current=page]")
    await expect(current).to_have_text("Audit log")
    await page.reload()
    await expect(page.get_by_role("heading", name="Unlock the admin area")).to_be_visible()
    unlock = page.locator("#unlock")
    await unlock.get_by_label("Password").fill(desk.password("admin"))
    await unlock.get_by_role("button", name="Unlock").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Audit log")
    await page.get_by_role("button", name="Sign out").click()
    await expect(page.get_by_role("heading", name="Sign in to the admin area")).to_be_visible()
    assert (await page.request.get(desk.url + "/api/me")).status == 401
    # A session that ends while a page is open takes it back to the sign-in.
    await sign_in(desk, page)
    await page.context.clear_cookies()
    await page.get_by_role("navigation").get_by_role("link", name="Statistics").click()
    await expect(page.locator("#signin-status")).to_have_text(
        "Your session has ended. Please sign in again."
    )
    assert not page.errors

    other = await admin_page(chromium)
    await sign_in(desk, other, "demo")
    await expect(other.get_by_text("This area is for admins and supervisors.")).to_be_visible()
    await expect(other.get_by_role("navigation")).to_be_hidden()
    # A supervisor sees only the pages of that role, and only their own teams.
    await cli.team_add(desk.server.db, "other", "Other team", [])
    await cli.user_add(
        desk.server.db, desk.server.settings, "sup", "Sue", "supervisor", ["demo"], SUP, False
    )
    sup = await admin_page(chromium)
    await sup.goto(desk.url + "/admin")
    form = sup.locator("#signin")
    await form.get_by_label("Username").fill("sup")
    await form.get_by_label("Password").fill(SUP)
    await form.get_by_role("button", name="Sign in").click()
    nav = sup.get_by_role("navigation")
    await expect(nav.get_by_role("link")).to_have_text(
        ["Statistics", "Legal holds", "Blocks"], timeout=30_000
    )
    body = await open_page(sup, "Legal holds")
    await expect(body.get_by_label("Team").locator("option")).to_have_text(["Demo team"])
    assert not sup.errors

    wrong = await admin_page(chromium)
    await wrong.goto(desk.url + "/admin")
    form = wrong.locator("#signin")
    await form.get_by_label("Username").fill("admin")
    await form.get_by_label("Password").fill("not the password")
    await form.get_by_role("button", name="Sign in").click()
    await expect(wrong.get_by_role("alert")).to_have_text("Wrong username, password or code.")


@pytest.mark.browser
@ONCE
async def test_each_page_does_its_job(desk: Desk, chromium: Any, tmp_path: Path) -> None:
    """One admin session: a retention rule changed after a preview with counts (and
    audited, the chain intact), opening hours saved, a hold placed and released on a real
    conversation, a sweep report listed, the statistics chart and CSV shown."""
    from playwright.async_api import expect

    client = await desk.server.client(origin=desk.url)
    conversation = (await client.start("demo", client_key()))["conversation"]
    await client.close_conversation()  # never accepted: abandoned, due in 24 hours

    page = await admin_page(chromium)
    await sign_in(desk, page)

    # Retention: a wrong duration is refused at its field; a change is previewed, then saved.
    body = await open_page(page, "Retention rules")
    rule = body.locator("fieldset", has_text="Conversations nobody accepted")
    box = rule.get_by_label("Keep for")
    await expect(box).to_have_value("1d")
    await box.fill("soon")
    await body.get_by_role("button", name="Preview the change").click()
    await expect(box).to_have_attribute("aria-invalid", "true")
    await expect(box).to_have_accessible_description(
        "A number and a unit: 30m (minutes), 48h (hours) or 90d (days). "
        "Write a number and a unit: 30m, 48h or 90d."
    )
    await box.fill("1h")
    await body.get_by_role("button", name="Preview the change").click()
    preview = body.get_by_role("table", name="Records deleted, per category")
    row = preview.get_by_role("row", name="Conversations nobody accepted")
    await expect(row.get_by_role("cell")).to_have_text(["1d", "0", "1", "1h", "0", "1"])
    await body.get_by_role("button", name="Save the change").click()
    await expect(body.get_by_text("Saved. The new rules apply now.")).to_be_visible()
    await expect(rule.get_by_text("In force: 1h (this team's rule).")).to_be_visible()

    # Audit: the change is there, and the chain checks out.
    body = await open_page(page, "Audit log")
    await body.get_by_label("Action").fill("retention.rule_changed")
    await body.get_by_role("button", name="Search", exact=True).click()
    entries = body.get_by_role("table", name="Entries, newest first").locator("tbody tr")
    await expect(entries).to_have_count(1)
    await expect(entries.first.get_by_role("cell")).to_contain_text(
        ["admin", "retention.rule_changed", "after: 1h; before: default; category: abandoned"]
    )
    csv = body.get_by_role("link", name="Download these entries as CSV")
    assert "action=retention.rule_changed" in (await csv.get_attribute("href") or "")
    await body.get_by_role("button", name="Verify the chain").click()
    await expect(body.locator("#audit-verify-result")).to_contain_text("The audit log is intact:")

    # Opening hours: saved, then the server has them.
    body = await open_page(page, "Opening hours")
    await body.get_by_label("Monday").fill("9-17")
    await body.get_by_role("button", name="Save the opening hours").click()
    await expect(body.get_by_label("Monday")).to_be_focused()
    await expect(body.get_by_label("Monday")).to_have_attribute("aria-invalid", "true")
    await body.get_by_label("Monday").fill("09:00-12:00, 13:00-17:00")
    await body.get_by_label("Saturday").fill("10:00-14:00")
    await body.get_by_role("button", name="Add a holiday or exception").click()
    await body.get_by_label("Date").fill("2026-12-24")
    await body.get_by_label("Name (optional)").fill("Christmas Eve")
    await body.get_by_role("button", name="Save the opening hours").click()
    await expect(body.get_by_text("Saved. The chat uses these hours now.")).to_be_visible()
    saved = (await (await page.request.get(desk.url + "/api/teams/demo/hours")).json())["hours"]
    assert saved["weekly"]["mon"] == ["09:00-12:00", "13:00-17:00"]
    assert saved["weekly"]["sat"] == ["10:00-14:00"]
    assert saved["exceptions"] == [{"date": "2026-12-24", "hours": [], "label": "Christmas Eve"}]
    assert saved["timezone"] == "Europe/Berlin" and saved["emergency"]

    # Legal hold: placed on the real conversation, then released, each confirmed.
    body = await open_page(page, "Legal holds")
    await expect(body.get_by_text("No conversation of this team is on hold.")).to_be_visible()
    await body.get_by_label("Conversation id").fill(conversation)
    await body.get_by_label("Reason").fill("Court request 12 AB 34/26")
    await body.get_by_label("Days", exact=True).fill("14")
    await body.get_by_role("button", name="Place the hold").click()
    await confirm(page)
    held = body.locator("li[data-hold]")
    await expect(held).to_have_count(1)
    await expect(held).to_contain_text(f"Conversation {conversation}")
    await expect(held).to_contain_text("Reason: Court request 12 AB 34/26")
    await body.get_by_role(
        "button", name=f"Release the hold on conversation {conversation}"
    ).click()
    await confirm(page)
    await expect(held).to_have_count(0)
    await expect(
        body.get_by_text(f"The hold on conversation {conversation} is released.")
    ).to_be_visible()

    # Sweep reports: one sweep run by hand appears.
    body = await open_page(page, "Sweep reports")
    await expect(body.get_by_text("No sweep has run yet.")).to_be_visible()
    ok(chatserver(desk.server.settings.database_url, tmp_path, "retention", "run"))
    await page.get_by_role("navigation").get_by_role("link", name="Statistics").click()
    body = await open_page(page, "Sweep reports")
    reports = body.get_by_role("table", name="Sweeps, newest first").locator("tbody tr")
    await expect(reports).to_have_count(1)

    # Statistics: the server's chart as an image, the table and the CSV link.
    body = await open_page(page, "Statistics")
    chart = body.get_by_role("img", name="Bar chart: Conversations started per day")
    await expect(chart).to_be_visible()
    assert await chart.evaluate("img => img.complete && img.naturalWidth > 0")
    csv = body.get_by_role("link", name="Download as CSV")
    assert "/api/teams/demo/stats.csv?from=" in (await csv.get_attribute("href") or "")
    await expect(body.get_by_role("row", name="Whole range")).to_be_visible()

    # Privacy report: linked when the server offers it, "not available" when it does not.
    body = await open_page(page, "Privacy report")
    offered = body.get_by_role("link", name="Open the privacy report (web page)")
    missing = body.get_by_text("The privacy report is not available on this server.")
    await expect(offered.or_(missing)).to_be_visible()
    assert not page.errors


@pytest.mark.browser
@ONCE
@pytest.mark.parametrize("lang", ["en", "de"])
async def test_every_admin_page_passes_axe(desk: Desk, chromium: Any, lang: str) -> None:
    """axe-core finds nothing serious or critical on the sign-in, on every page and in
    the confirmation dialog, in English and German."""
    from playwright.async_api import expect

    require_axe()
    page = await admin_page(chromium)
    await page.goto(desk.url + "/admin")
    if lang == "de":
        await page.get_by_role("button", name="Deutsch").click()
        await expect(page.get_by_role("heading", name="Anmeldung zur Verwaltung")).to_be_visible()
    assert_no_serious(await axe_scan(page, frames=False), f"sign-in ({lang})")
    await sign_in(desk, page, lang=lang)
    for name in await nav_names(page):
        body = await open_page(page, name)
        await expect(body.locator(".page-body > *").first).to_be_visible()
        assert_no_serious(await axe_scan(page, frames=False), f"{name} ({lang})")
    body = await open_page(page, {"en": "Legal holds", "de": "Aufbewahrungssperren"}[lang])
    await body.locator("form button[type=submit]").last.click()  # empty: errors at fields
    await expect(body.locator("[aria-invalid=true]")).to_have_count(2)
    assert_no_serious(await axe_scan(page, frames=False), f"hold errors ({lang})")
    await body.locator("textarea").fill("AZ 1")
    cid = {"en": "Conversation id", "de": "Gesprächs-ID"}[lang]
    await body.get_by_label(cid).fill("no-such-conversation")
    await body.locator("form button[type=submit]").last.click()
    dialog = page.get_by_role("dialog")
    await expect(dialog).to_be_visible()
    assert_no_serious(await axe_scan(page, frames=False), f"confirmation ({lang})")
    await page.keyboard.press("Escape")
    await expect(dialog).to_have_count(0)
    assert not page.errors


@pytest.mark.browser
@ONCE
async def test_keyboard_only_through_the_navigation(desk: Desk, chromium: Any) -> None:
    """Sign in and go through every page with the keyboard alone: each link moves the
    focus to the page's heading and marks the link current; the focus ring shows."""
    from playwright.async_api import expect

    page = await admin_page(chromium)
    await page.goto(desk.url + "/admin")
    keys = page.keyboard
    await expect(page.locator("#si-user")).to_be_focused()
    await keys.type("admin")
    await keys.press("Tab")
    await keys.type(desk.password("admin"))
    await keys.press("Enter")
    heading = page.get_by_role("heading", level=1)
    await expect(heading).to_have_text("Teams", timeout=30_000)
    await expect(heading).to_be_focused()
    links = page.get_by_role("navigation").get_by_role("link")
    names = await nav_names(page)
    last = len(names) - 1
    for n, name in reversed(list(enumerate(names))):
        # From the page's heading, Shift+Tab goes back into the navigation (its last link
        # first), then up link by link.
        for _ in range(last - n + 1):
            await keys.press("Shift+Tab")
        await expect(links.nth(n)).to_be_focused()
        ring = await page.evaluate(
            "getComputedStyle(document.activeElement).outlineStyle + ' ' + "
            "getComputedStyle(document.activeElement).outlineWidth"
        )
        assert ring == "solid 3px", ring
        await keys.press("Enter")
        await expect(heading).to_have_text(name)
        await expect(heading).to_be_focused()
        await expect(links.nth(n)).to_have_attribute("aria-current", "page")
    # The skip link jumps to the page's heading and stays on the page.
    await page.locator(".skip").focus()
    await keys.press("Enter")
    await expect(heading).to_be_focused()
    await expect(heading).to_have_text(names[0])
    assert not page.errors


async def test_audit_endpoints(server: Server) -> None:
    """The audit log over HTTP: admins only (401 without a session, 403 for others),
    newest first and paged, filtered by text, action and actor, the same filter as CSV
    with the columns of ``chatserver audit export``, and the chain check naming the
    first changed entry."""
    from sqlalchemy import update

    from chatserver.storage import models as m

    await server.staff("root", [], role="admin")
    await server.staff("sup", ["alpha"], role="supervisor")
    await server.staff("anna", ["alpha"])
    nobody = await caller(server, None)
    assert (await nobody("GET", "/api/admin/audit"))[0] == 401
    for username in ("anna", "sup"):
        who = await caller(server, username)
        for path in ("/api/admin/audit", "/api/admin/audit.csv", "/api/admin/audit/verify"):
            assert (await who("GET", path))[0] == 403, (username, path)
    admin = await caller(server, "root")

    status, first = await admin("GET", "/api/admin/audit?limit=2")
    assert status == 200 and len(first["entries"]) == 2
    ids = [e["id"] for e in first["entries"]]
    assert ids == sorted(ids, reverse=True) and first["next_before"] == ids[-1]
    _, rest = await admin("GET", f"/api/admin/audit?before={ids[-1]}&limit=200")
    assert all(e["id"] < ids[-1] for e in rest["entries"]) and rest["next_before"] is None

    _, teams = await admin("GET", "/api/admin/audit?action=team.created&actor=cli")
    assert [e["target"] for e in teams["entries"]] == ["beta", "alpha"]
    assert {e["actor"] for e in teams["entries"]} == {"cli"}
    _, found = await admin("GET", "/api/admin/audit?q=ALPHA&action=team.created")
    assert [e["target"] for e in found["entries"]] == ["alpha"]
    _, none = await admin("GET", "/api/admin/audit?q=100%25")  # LIKE wildcards are literal
    assert none["entries"] == []
    assert (await admin("GET", "/api/admin/audit?limit=0"))[0] == 400
    assert (await admin("GET", "/api/admin/audit?since=yesterday"))[0] == 400
    assert (await admin("GET", "/api/admin/audit?before=%C2%B2"))[0] == 400

    import aiohttp

    headers = {"Cookie": admin.cookie or "", "Origin": server.url}
    async with (
        aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as http,
        http.get(server.url + "/api/admin/audit.csv?action=team.created", headers=headers) as r,
    ):
        assert r.status == 200 and r.content_type == "text/csv"
        lines = (await r.text()).splitlines()
    assert lines[0] == "id,at,actor,action,target,detail,hash"
    assert [line.split(",")[4] for line in lines[1:]] == ["alpha", "beta"]

    assert (await admin("GET", "/api/admin/audit/verify"))[1]["ok"] is True
    victim = teams["entries"][1]["id"]
    async with server.db.write() as conn:
        await conn.execute(update(m.audit).where(m.audit.c.id == victim).values(actor="x"))
    _, check = await admin("GET", "/api/admin/audit/verify")
    assert check["ok"] is False and check["broken_at"] == victim
    assert check["reason"] == "this entry was changed"


@pytest.mark.browser
@ONCE
async def test_every_text_in_both_languages(desk: Desk, chromium: Any) -> None:
    """The shell's and each page's texts have the same keys in English and German."""
    page = await admin_page(chromium)
    await page.goto(desk.url + "/admin")
    missing = await page.evaluate(
        """async (names) => {
          const out = [];
          for (const name of names) {
            const mod = await import(`/admin/${name}.js`);
            const table = mod.strings ?? mod.TEXTS;
            const en = Object.keys(table.en), de = Object.keys(table.de);
            for (const k of en) if (!de.includes(k)) out.push(`${name}: de lacks ${k}`);
            for (const k of de) if (!en.includes(k)) out.push(`${name}: en lacks ${k}`);
          }
          return out;
        }""",
        [
            "i18n",
            "hours",
            "audit",
            "stats",
            "retention",
            "holds",
            "blocks",
            "reports",
            "privacy",
            "teams",
            "accounts",
            "snippet",
            "consent",
        ],
    )
    assert missing == []


async def test_admin_page_is_served_like_the_console(server: Server) -> None:
    """/admin and its modules: the console's strict policy, never cached, never framed;
    only plain module and stylesheet names are served."""
    import aiohttp

    async with aiohttp.ClientSession() as http:
        for path in ("/admin", "/admin/"):
            async with http.get(server.url + path) as r:
                assert r.status == 200 and "<title>Admin area</title>" in await r.text()
                csp = r.headers["Content-Security-Policy"]
                assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
                assert r.headers["X-Frame-Options"] == "DENY"
                assert r.headers["Cache-Control"] == "no-store"
        async with http.get(server.url + "/admin/app.js") as r:
            assert r.status == 200 and r.content_type == "text/javascript"
            assert r.headers["Cache-Control"] == "no-store"
        for path in ("/admin/nothing.js", "/admin/index.html", "/admin/%2e%2e%2fapp.py"):
            async with http.get(server.url + path) as r:
                assert r.status == 404, path
