"""The privacy report (``chatserver privacy-report``, ``GET /api/admin/privacy-report``)
says what the running installation does: it follows changes of the configuration, and its
claims are checked against the running system (the CSP served, the sweeper's rules, the
cookies a real Chromium receives). Also: the example notices in docs/gdpr/ are current and
the GDPR documents name files that exist."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from conftest import ORIGIN, Caller, Desk, Server, caller
from sqlalchemy import insert, select
from test_cli import Run, chatserver, ok, refused, run  # noqa: F401 (run: fixture)

from chatserver.records import privacy
from chatserver.records.privacy_render import html_csp
from chatserver.storage import models as m
from chatserver.web.state import KEYSTORE, SERVICE
from retention.cli import run_sweep
from retention.sweeper import Sweeper

REPO = Path(__file__).parents[2]
GDPR = REPO / "docs" / "gdpr"


async def fetch(who: Caller, path: str) -> tuple[int, dict[str, str], str]:
    """A GET with the caller's cookie: status, headers, body as text."""
    headers = {"Origin": ORIGIN}
    if who.cookie is not None:
        headers["Cookie"] = who.cookie
    async with (
        aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as http,
        http.get(who.server.url + path, headers=headers) as r,
    ):
        return r.status, dict(r.headers), await r.text()


async def report(who: Caller) -> dict[str, Any]:
    status, _, body = await fetch(who, "/api/admin/privacy-report")
    assert status == 200, body
    data: dict[str, Any] = json.loads(body)
    return data


def team_rules(data: dict[str, Any], slug: str) -> dict[str, dict[str, Any]]:
    team = next(t for t in data["teams"] if t["slug"] == slug)
    return {r["category"]: r for r in team["rules"]}


@pytest.fixture
async def admin(server: Server) -> Caller:
    await server.staff("root", [], role="admin")
    return await caller(server, "root")


# --------------------------------------------------------------------------- follows changes
async def test_report_follows_a_rule_an_origin_and_the_log_level(
    server: Server, admin: Caller, make_server: Callable[..., Any]
) -> None:
    """A changed retention rule, allowed origin and log level show in every rendering."""
    before = await report(admin)
    assert team_rules(before, "alpha")["messages"]["duration"] == "2d"
    assert next(t for t in before["teams"] if t["slug"] == "alpha")["origins"] == []
    assert before["logging"]["level"] == "info"

    assert (await admin("PUT", "/api/teams/alpha/retention", {"messages": "12h"}))[0] == 200
    body = {"origins": ["https://www.agency.example"]}
    assert (await admin("PUT", "/api/admin/teams/alpha/origins", body))[0] == 200
    # Settings are read at start: the same database served with another log level.
    restarted = await make_server(log_level="warning")
    after = await report(await caller(restarted, "root"))

    rule = team_rules(after, "alpha")["messages"]
    assert (rule["duration"], rule["source"]) == ("12h", "team")
    assert next(t for t in after["teams"] if t["slug"] == "alpha")["origins"] == [
        "https://www.agency.example"
    ]
    assert after["logging"]["level"] == "warning"
    assert after["logging"]["written"] == ["warning", "error"]
    assert (
        "frame-ancestors 'self' https://www.agency.example" in after["csp"]["widget_frame"]["alpha"]
    )
    _, _, text = await fetch(await caller(restarted, "root"), "/api/admin/privacy-report?format=md")
    assert "| `messages` | 12 hours (12h) | team |" in text
    assert "`https://www.agency.example`" in text
    assert "Level `warning`: written are warning, error" in text
    assert "This is not legal advice." in text


async def test_report_shows_the_latest_sweep_reports(server: Server, admin: Caller) -> None:
    """The newest sweep reports of the audit log, newest first, with their counts."""
    assert (await report(admin))["sweep_reports"] == []
    assert "No retention sweep report" in " ".join((await report(admin))["findings"])
    for _ in range(2):
        done = await run_sweep(server.db, server.settings)
    a = m.audit.c
    async with server.db.read() as conn:
        ids = (
            await conn.execute(
                select(a.id).where(a.action == "retention.sweep").order_by(a.id.desc())
            )
        ).scalars()
        expected = list(ids)
    data = await report(admin)
    assert [r["id"] for r in data["sweep_reports"]] == expected
    latest = data["sweep_reports"][0]
    assert latest["at"] == done.finished_at
    assert {k: latest[k] for k in done.as_detail()} == done.as_detail()
    _, _, text = await fetch(admin, "/api/admin/privacy-report?format=md")
    assert f"| {expected[0]} | {privacy.iso(done.finished_at)} |" in text


# --------------------------------------------------------------------------- checked claims
async def test_the_csp_named_is_the_csp_served(server: Server, admin: Caller) -> None:
    """Console, chat page and every other response carry exactly the policies the report
    names, and none of them lets a page reach another origin."""
    body = {"origins": ["https://www.agency.example", "https://beta.example:8443"]}
    assert (await admin("PUT", "/api/admin/teams/alpha/origins", body))[0] == 200
    data = await report(admin)
    served = {
        "console": (await fetch(admin, "/console"))[1],
        "alpha": (await fetch(admin, "/widget/frame/alpha"))[1],
        "beta": (await fetch(admin, "/widget/frame/beta"))[1],
        "default": (await fetch(admin, "/healthz"))[1],
    }
    assert served["console"]["Content-Security-Policy"] == data["csp"]["console"]
    assert (await fetch(admin, "/admin"))[1]["Content-Security-Policy"] == data["csp"]["admin"]
    preview = (await fetch(admin, "/admin/preview?team=alpha"))[1]
    assert preview["Content-Security-Policy"] == data["csp"]["snippet_preview"]
    assert served["alpha"]["Content-Security-Policy"] == data["csp"]["widget_frame"]["alpha"]
    assert served["beta"]["Content-Security-Policy"] == data["csp"]["widget_frame"]["beta"]
    assert served["default"]["Content-Security-Policy"] == data["csp"]["default"]
    assert data["third_party_sources"] == []
    # The check would see one: a policy that allows another origin is named.
    assert privacy.outside_sources("img-src 'self' https://cdn.example", ORIGIN) == [
        "https://cdn.example"
    ]


async def test_retention_periods_are_the_rules_the_sweeper_uses(
    server: Server, admin: Caller, make_server: Callable[..., Any]
) -> None:
    """Per team and category the report's minutes are the sweeper's: team rules, operator
    clamps, and operator-wide categories where a team's own rule has no effect."""
    rules = {"messages": "12h", "epoch_keys": "3d"}
    assert (await admin("PUT", "/api/teams/alpha/retention", rules))[0] == 200
    # A team rule for an operator-wide category is refused now; one stored before that
    # (an older installation) has no effect, and the report says so.
    assert (await admin("PUT", "/api/teams/alpha/retention", {"audit": "30d"}))[0] == 400
    async with server.db.write() as conn:
        team_id = (
            await conn.execute(select(m.teams.c.id).where(m.teams.c.slug == "alpha"))
        ).scalar_one()
        await conn.execute(
            insert(m.retention_rules).values(
                team_id=team_id, category="audit", minutes=30 * 1440, updated_at=0
            )
        )
    restarted = await make_server(retention_min="messages=1d", retention_max="metadata=30d")
    data = await report(await caller(restarted, "root"))
    sweeper = Sweeper(restarted.db, restarted.app[KEYSTORE], restarted.app[SERVICE].rules)
    per_team = await sweeper._team_rules()
    operator_wide = sweeper.rules.effective({})
    async with restarted.db.read() as conn:
        slugs = dict((await conn.execute(select(m.teams.c.id, m.teams.c.slug))).all())
    for team_id, effective in per_team.items():
        reported = team_rules(data, slugs[team_id])
        for category, minutes in effective.items():
            wide = category in privacy.OPERATOR_WIDE
            assert reported[category]["minutes"] == (
                operator_wide[category] if wide else minutes
            ), (slugs[team_id], category)
    alpha = team_rules(data, "alpha")
    assert (alpha["messages"]["minutes"], alpha["messages"]["source"]) == (1440, "team, clamped")
    assert alpha["metadata"]["minutes"] == 30 * 1440
    assert alpha["audit"]["team_rule_ignored"] is True
    assert any("alpha set a rule for audit" in f for f in data["findings"])


async def test_only_admins_get_the_report(server: Server, admin: Caller) -> None:
    """Nobody signed in: 401; counsellors and supervisors: 403; admins: JSON, Markdown and
    a self-contained HTML page under a policy that allows only its own inline style."""
    await server.staff("anna", ["alpha"])
    await server.staff("sue", ["alpha"], role="supervisor")
    path = "/api/admin/privacy-report"
    assert (await fetch(await caller(server, None), path))[0] == 401
    for username in ("anna", "sue"):
        status, _, body = await fetch(await caller(server, username), path + "?format=md")
        assert status == 403 and "legal" not in body
    status, headers, md = await fetch(admin, path + "?format=md")
    assert status == 200 and headers["Content-Type"].startswith("text/markdown")
    status, headers, page = await fetch(admin, path + "?format=html")
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    assert headers["Content-Security-Policy"] == html_csp()
    assert not re.search(r"<(script|img|link|iframe)|\b(src|href)=|url\(", page)
    assert "This is not legal advice." in md and "This is not legal advice." in page
    assert (await fetch(admin, path + "?format=pdf"))[0] == 400
    status, _, notice = await fetch(admin, path + "?format=md&notice=de")
    assert status == 200 and "gelöscht 2 Tage nach dem Ende des Chats" in notice


@pytest.mark.browser
@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_cookies_are_what_chromium_receives(desk: Desk, chromium: Any) -> None:
    """A client who chats gets no cookie and one sessionStorage entry; staff who sign in
    get exactly the session cookie the report describes."""
    from test_console import open_widget, sign_in

    data = await privacy.collect(desk.server.db, desk.server.settings, int(time.time() * 1000))
    client = await open_widget(desk, chromium, "hello")
    assert await client.context.cookies() == data["cookies"]["client"] == []
    frame = next(f for f in client.frames if "/widget/frame/" in f.url)
    keys = await frame.evaluate("Object.keys(sessionStorage)")
    assert keys == [data["browser"]["client_session_storage_key"]]

    staff = await sign_in(desk, chromium, "admin")
    received = await staff.context.cookies()
    assert [
        {
            "name": c["name"],
            "http_only": c["httpOnly"],
            "same_site": c["sameSite"],
            "secure": c["secure"],
            "path": c["path"],
        }
        for c in received
    ] == [
        {k: c[k] for k in ("name", "http_only", "same_site", "secure", "path")}
        for c in data["cookies"]["staff"]
    ]
    # With that cookie the admin opens the printable report: its style applies under its
    # policy, and it asks for nothing else.
    # (A page of its own: the admin area's page may still be fetching as it is left.)
    report = await staff.context.new_page()
    requests: list[str] = []
    report.on("request", lambda r: requests.append(r.url))
    await report.goto(desk.url + "/api/admin/privacy-report?format=html")
    assert (
        await report.locator("table").first.evaluate("t => getComputedStyle(t).borderCollapse")
        == "collapse"
    )
    assert requests == [desk.url + "/api/admin/privacy-report?format=html"]


# --------------------------------------------------------------------------- the command
def test_cli_report_and_notices(run: Run) -> None:  # noqa: F811
    """`chatserver privacy-report` prints the report (md, html, json) and the notices with
    the periods in force; differing teams need --team."""
    ok(run("team", "add", "youth", "--name", "Youth"))
    text = ok(run("privacy-report"))
    assert text.startswith("# Privacy report: http://chat.test")
    assert "This is not legal advice." in text
    assert ok(run("privacy-report", "--format", "html")).startswith("<!doctype html>")
    data = json.loads(ok(run("privacy-report", "--format", "json")))
    assert team_rules(data, "youth")["messages"]["duration"] == "2d"
    assert "gelöscht 2 Tage nach dem Ende" in ok(run("privacy-report", "--notice", "de"))
    shorter = ok(run("privacy-report", "--notice", "en", CHAT_RETENTION_DEFAULTS="messages=12h"))
    assert "deleted 12 hours after the chat ended" in shorter
    ok(run("team", "add", "adults", "--name", "Adults"))
    ok(run("retention", "rules", "adults", "--set", "messages=1d"))
    refused(run("privacy-report", "--notice", "de"), "--team")
    assert "gelöscht 1 Tag nach" in ok(run("privacy-report", "--notice", "de", "--team", "adults"))


# --------------------------------------------------------------------------- the documents
@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("lang", ["de", "en"])
def test_example_notices_are_what_the_code_makes(db_url: str, tmp_path: Path, lang: str) -> None:
    """docs/gdpr/examples/ holds the notices of an installation with the built-in rules."""
    made = ok(chatserver(db_url, tmp_path, "privacy-report", "--notice", lang))
    assert (GDPR / "examples" / f"notice.{lang}.md").read_text("utf-8") == made, (
        f"regenerate docs/gdpr/examples/notice.{lang}.md: chatserver privacy-report --notice {lang}"
    )


_LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")
_PATH = re.compile(r"`((?:chatserver|retention|widget|deploy|docs|tests|scripts)/[\w./-]+)`")


def test_gdpr_documents_link_and_name_what_exists() -> None:
    """Every relative link of docs/gdpr/ resolves and every file path they name exists."""
    files = sorted(GDPR.rglob("*.md"))
    assert {p.relative_to(GDPR).as_posix() for p in files} >= {
        "README.md",
        "en/README.md",
        "de/README.md",
    }
    for doc in files:
        text = doc.read_text("utf-8")
        if doc.parent.name != "examples":  # the notices are for clients
            assert "legal advice" in text or "Rechtsberatung" in text, doc
        for target in _LINK.findall(text):
            if not target.startswith(("http://", "https://", "mailto:")):
                assert (doc.parent / target).exists(), f"{doc}: {target}"
        for path in _PATH.findall(text):
            assert (REPO / path.rstrip(".")).exists(), f"{doc}: {path}"


def test_no_password_of_a_database_or_redis_url_is_shown() -> None:
    """URLs in the report name host and database, never a password."""
    for url in ("postgresql+asyncpg://chat:s3cret@db/chat", "redis://:s3cret@127.0.0.1:6379/0"):
        shown = privacy._safe_url(url)
        assert "s3cret" not in shown and "***" in shown
