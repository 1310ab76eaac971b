"""Anonymous statistics: a scripted set of conversations, placed on days by a fake clock
and run through the public WebSocket interface, gives exactly the expected figures (small
counts suppressed, days in the team's time zone); the figures stay after retention deleted
the conversations; each role on each endpoint; CSV, SVG and the CLI say the same."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import xml.etree.ElementTree as ET
from collections.abc import Callable
from datetime import date
from typing import Any

import aiohttp
import pytest
from conftest import ORIGIN, FakeClock, Server, client_key, credential, until
from sqlalchemy import func, select

from chatserver.ops import cli
from chatserver.records.stats import (
    SUPPRESSED,
    Fact,
    StatsError,
    figures,
    parse_range,
    percentile,
    shown,
)
from chatserver.sdk.peers import ConsolePeer, login
from chatserver.storage import models as m
from chatserver.teams.hours import parse_hours, save_hours
from chatserver.web.state import DB, KEYSTORE, SERVICE
from retention.sweeper import Sweeper

DAY = 86_400.0
#: The fake clock's start: 2027-01-15 08:00 UTC, 09:00 in Berlin.
BASE = 1_800_000_000.0
RANGE = "from=2027-01-15&to=2027-01-18"
S = SUPPRESSED


# ------------------------------------------------------------------------------ pure
def test_small_counts_are_suppressed_and_zero_is_shown() -> None:
    """1 to 4 become "< 5"; 0 and 5 are shown as they are."""
    assert [shown(n) for n in range(7)] == [0, S, S, S, S, 5, 6]


def test_percentiles_need_five_values_and_use_the_nearest_rank() -> None:
    """Fewer than 5 values give no percentile; otherwise the nearest rank, in seconds."""
    assert percentile([1000, 2000, 3000, 4000], 50) is None
    values = [5000, 1000, 4000, 2000, 3000, 6000]
    assert (percentile(values, 50), percentile(values, 90)) == (3, 6)


def test_ranges_are_checked() -> None:
    """Dates are YYYY-MM-DD in the calendar, in order, at most 366 days; the default is
    the last 30 days up to today."""
    today = date(2027, 1, 31)
    assert parse_range(None, None, today) == (date(2027, 1, 2), today)
    assert parse_range("2026-01-31", "2027-01-31", today)[0] == date(2026, 1, 31)
    for first, last, message in [
        ("2027-1-5", None, "from: a date like"),
        ("20270105", None, "from: a date like"),
        ("2027-02-30", None, "not a date in the calendar"),
        ("2027-01-20", "2027-01-19", "must not be after"),
        ("2026-01-30", "2027-01-31", "at most 366 days"),
    ]:
        with pytest.raises(StatsError, match=message):
            parse_range(first, last, today)


def test_every_day_of_the_range_is_listed_and_other_days_are_left_out() -> None:
    """Days without conversations show zeros; facts outside the range count nowhere."""
    facts = [Fact("2027-01-14", None, None, False, None, None)] + [
        Fact("2027-01-15", "school", "advice", True, 1000 * i, 2000 * i) for i in range(1, 6)
    ]
    report = figures("alpha", "Europe/Berlin", date(2027, 1, 15), date(2027, 1, 16), facts)
    day, empty = report.to_json()["days"]
    assert (day["started"], day["abandoned"], day["waiting_median_s"]) == (5, 0, 3)
    assert empty == {
        "day": "2027-01-16",
        "started": 0,
        "accepted": 0,
        "abandoned": 0,
        "waiting_median_s": None,
        "waiting_p90_s": None,
        "duration_median_s": None,
        "duration_p90_s": None,
        "topics": {"school": 0},
        "close_categories": {"advice": 0},
    }


# ------------------------------------------------------------------------------ world
@pytest.fixture
async def world(make_server: Callable[..., Any]) -> dict[str, Any]:
    clock = FakeClock(BASE)
    server: Server = await make_server(
        clock=clock, frame_rate=1000.0, frame_burst=1000, session_hours=24 * 365.0
    )
    await server.team("alpha", ["general:General", "school:School"])
    await server.team("beta")
    await server.staff("anna", ["alpha"])
    await server.staff("sue", ["alpha"], role="supervisor")
    await server.staff("bob", ["beta"], role="supervisor")
    await server.staff("root", [], role="admin")
    return {"server": server, "clock": clock, "anna": await server.console("anna")}


async def chat(
    server: Server,
    anna: ConsolePeer,
    clock: FakeClock,
    *,
    topic: str | None = None,
    wait: float,
    duration: float = 0,
    end: str = "staff",
    category: str | None = None,
) -> str:
    """One conversation: started, accepted after ``wait`` seconds (unless ended while
    waiting), ended ``duration`` seconds later by ``end`` (staff, block, client, delete)."""
    client = await server.client()
    conv: str = (await client.start("alpha", client_key(), topic=topic))["conversation"]
    clock.advance(wait)
    if end in ("client", "delete") and duration == 0:  # never accepted
        await (client.delete() if end == "delete" else client.close_conversation())
        return conv
    await anna.accept(conv)
    clock.advance(duration)
    if end == "client":
        await client.close_conversation()
    elif end == "block":
        await anna.send_frame({"type": "block", "conversation": conv, "hours": 24})
    else:
        frame: dict[str, Any] = {"type": "close", "conversation": conv}
        if category is not None:
            frame["category"] = category
        await anna.send_frame(frame)
    await until(anna, "released", conversation=conv)
    return conv


async def script(server: Server, anna: ConsolePeer, clock: FakeClock) -> None:
    """Four days in Berlin: a busy one, a quiet one, an empty one, and a chat started at
    23:30 UTC, which is already the next day in Berlin."""
    for i in range(1, 6):  # 2027-01-15
        await chat(
            server,
            anna,
            clock,
            topic="school",
            wait=60 * i,
            duration=600 * i,
            category="advice",
        )
    await chat(server, anna, clock, topic="general", wait=30, duration=60, category="referral")
    await chat(server, anna, clock, wait=10, end="client")
    clock.now = BASE + DAY  # 2027-01-16
    await chat(server, anna, clock, topic="school", wait=10, duration=100, end="client")
    await chat(server, anna, clock, topic="general", wait=20, duration=50, end="block")
    await chat(server, anna, clock, wait=5, end="delete")
    clock.now = BASE + 2 * DAY + 15.5 * 3600  # 2027-01-17 23:30 UTC = 2027-01-18 00:30 CET
    await chat(server, anna, clock, topic="school", wait=5, duration=10, category="advice")


def day(name: str, counts: tuple[Any, Any, Any], times: tuple[Any, ...], **rest: Any) -> Any:
    return {
        "day": name,
        "started": counts[0],
        "accepted": counts[1],
        "abandoned": counts[2],
        "waiting_median_s": times[0],
        "waiting_p90_s": times[1],
        "duration_median_s": times[2],
        "duration_p90_s": times[3],
        **rest,
    }


NONE = (None, None, None, None)
EXPECTED = {
    "team": "alpha",
    "from": "2027-01-15",
    "to": "2027-01-18",
    "timezone": "Europe/Berlin",
    "suppressed": S,
    "days": [
        day(
            "2027-01-15",
            (7, 6, S),
            (120, 300, 1200, 3000),
            topics={"general": S, "school": 5, "(none)": S},
            close_categories={"advice": 5, "blocked": 0, "referral": S, "(none)": 0},
        ),
        day(
            "2027-01-16",
            (S, S, S),
            NONE,
            topics={"general": S, "school": S, "(none)": S},
            close_categories={"advice": 0, "blocked": S, "referral": 0, "(none)": S},
        ),
        day(
            "2027-01-17",
            (0, 0, 0),
            NONE,
            topics={"general": 0, "school": 0, "(none)": 0},
            close_categories={"advice": 0, "blocked": 0, "referral": 0, "(none)": 0},
        ),
        day(
            "2027-01-18",
            (S, S, 0),
            NONE,
            topics={"general": 0, "school": S, "(none)": 0},
            close_categories={"advice": S, "blocked": 0, "referral": 0, "(none)": 0},
        ),
    ],
    "total": {
        "range": "2027-01-15/2027-01-18",
        **{k: v for k, v in day("", (11, 9, S), (60, 300, 600, 3000)).items() if k != "day"},
        "topics": {"general": S, "school": 7, "(none)": S},
        "close_categories": {"advice": 6, "blocked": S, "referral": S, "(none)": S},
    },
}


#: Session cookies by (database, username): each test has its own database.
_COOKIES: dict[tuple[str, str], str] = {}


async def staff_get(server: Server, username: str | None, path: str) -> tuple[int, str, Any]:
    """GET as ``username`` (None: signed out): status, body text and headers. Each
    account signs in once per server."""
    headers = {"Origin": ORIGIN}
    if username is not None:
        key = (server.settings.database_url, username)
        if key not in _COOKIES:
            _COOKIES[key], _csrf = await login(
                server.url, username, credential=credential(username), origin=ORIGIN
            )
        headers["Cookie"] = _COOKIES[key]
    async with aiohttp.ClientSession() as http, http.get(server.url + path, headers=headers) as r:
        return r.status, await r.text(), r.headers


async def stats_json(server: Server, query: str = RANGE) -> Any:
    status, body, _ = await staff_get(server, "sue", f"/api/teams/alpha/stats?{query}")
    assert status == 200, body
    return json.loads(body)


# ------------------------------------------------------------------------------ server
async def test_scripted_conversations_give_the_expected_figures(world: dict[str, Any]) -> None:
    """Started, accepted, abandoned, waiting times, durations, topics and close categories
    per Berlin day, with counts from 1 to 4 and percentiles of fewer than 5 values
    suppressed; the whole body carries no conversation id and no staff id."""
    server, clock, anna = world["server"], world["clock"], world["anna"]
    await script(server, anna, clock)
    body = await stats_json(server)
    assert body == EXPECTED
    _, text, _ = await staff_get(server, "sue", f"/api/teams/alpha/stats?{RANGE}")
    async with server.app[DB].read() as conn:
        ids = (await conn.execute(select(m.conversations.c.id))).scalars().all()
        staff = (await conn.execute(select(m.staff.c.id))).scalars().all()
    assert ids and not any(i in text for i in [*ids, *staff])


async def test_figures_survive_the_retention_sweep(world: dict[str, Any]) -> None:
    """After every conversation is deleted by the sweep the figures are the same."""
    server, clock, anna = world["server"], world["clock"], world["anna"]
    await script(server, anna, clock)
    before = await stats_json(server)
    clock.advance(91 * DAY)
    service = server.app[SERVICE]
    report = await Sweeper(
        server.app[DB], server.app[KEYSTORE], service.rules, clock, pause_ms=0
    ).run()
    assert report.counts["conversations"] == 10
    assert report.counts.get("statistics_recorded", 0) == 0  # recorded as each ended
    async with server.app[DB].read() as conn:
        left = (await conn.execute(select(func.count()).select_from(m.conversations))).scalar()
    assert left == 0
    assert await stats_json(server) == before == EXPECTED


async def test_days_are_counted_in_the_teams_time_zone(world: dict[str, Any]) -> None:
    """With opening hours in New York, a chat at 03:00 UTC counts on the day before."""
    server, clock = world["server"], world["clock"]
    await server.staff("nina", ["beta"])
    nina = await server.console("nina")
    async with server.app[DB].write() as conn:
        beta = (
            await conn.execute(select(m.teams.c.id).where(m.teams.c.slug == "beta"))
        ).scalar_one()
        always = {d: ["00:00-24:00"] for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
        hours = parse_hours({"timezone": "America/New_York", "weekly": always})
        await save_hours(conn, beta, hours, "cli", int(clock.now * 1000))
    clock.now = BASE + 19 * 3600  # 2027-01-16 03:00 UTC = 2027-01-15 22:00 in New York
    client = await server.client()
    conv = (await client.start("beta", client_key()))["conversation"]
    await nina.accept(conv)
    await client.close_conversation()
    query = "/api/teams/beta/stats?from=2027-01-15&to=2027-01-16"
    status, text, _ = await staff_get(server, "bob", query)
    assert status == 200, text
    body = json.loads(text)
    assert body["timezone"] == "America/New_York"
    assert [(d["day"], d["started"]) for d in body["days"]] == [
        ("2027-01-15", S),
        ("2027-01-16", 0),
    ]


ENDPOINTS = ["stats", "stats.csv", "stats.svg"]
ROLES = [("root", 200), ("sue", 200), ("bob", 403), ("anna", 403), (None, 401)]


async def test_each_role_on_each_endpoint(server: Server) -> None:
    """Admins and the team's supervisors read; counsellors and other teams' supervisors
    get 403, nobody signed in 401, an unknown team 404."""
    await server.staff("root", [], role="admin")
    await server.staff("sue", ["alpha"], role="supervisor")
    await server.staff("bob", ["beta"], role="supervisor")
    await server.staff("anna", ["alpha"])
    for endpoint in ENDPOINTS:
        for username, expected in ROLES:
            status, text, _ = await staff_get(server, username, f"/api/teams/alpha/{endpoint}")
            assert status == expected, (endpoint, username, text)
            if expected != 200:
                assert '"error"' in text
        status, _, _ = await staff_get(server, "root", f"/api/teams/nope/{endpoint}")
        assert status == 404


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("from=2027-1-15", "from: a date like 2026-11-30"),
        ("to=tomorrow", "to: a date like 2026-11-30"),
        ("from=2027-02-30&to=2027-03-01", "not a date in the calendar"),
        ("from=2027-01-20&to=2027-01-19", "from must not be after to"),
        ("from=2026-01-01&to=2027-01-02", "at most 366 days"),
    ],
)
async def test_bad_ranges_are_malformed(server: Server, query: str, message: str) -> None:
    """A date that is not YYYY-MM-DD, a reversed or too long range: 400 malformed."""
    await server.staff("root", [], role="admin")
    for endpoint in ENDPOINTS:
        status, text, _ = await staff_get(server, "root", f"/api/teams/alpha/{endpoint}?{query}")
        assert status == 400 and '"malformed"' in text and message in text, text


async def test_csv_parses_and_equals_the_json(world: dict[str, Any]) -> None:
    """The CSV download has a row per day and a total, with the JSON's values."""
    server, clock, anna = world["server"], world["clock"], world["anna"]
    await script(server, anna, clock)
    status, text, headers = await staff_get(server, "sue", f"/api/teams/alpha/stats.csv?{RANGE}")
    assert status == 200
    assert headers["Content-Type"].startswith("text/csv")
    assert headers["Content-Disposition"] == (
        'attachment; filename="stats-alpha-2027-01-15-2027-01-18.csv"'
    )
    rows = list(csv.DictReader(io.StringIO(text)))
    body = await stats_json(server)
    assert [r["day"] for r in rows] == [d["day"] for d in body["days"]] + ["total"]
    for row, figures_ in zip(rows, [*body["days"], body["total"]], strict=True):
        expected = {
            k: ("" if v is None else str(v))
            for k, v in figures_.items()
            if k not in ("day", "range", "topics", "close_categories")
        }
        expected |= {f"topic:{k}": str(v) for k, v in figures_["topics"].items()}
        expected |= {f"close:{k}": str(v) for k, v in figures_["close_categories"].items()}
        assert {k: v for k, v in row.items() if k != "day"} == expected


async def test_svg_is_a_chart_with_the_numbers_in_its_description(world: dict[str, Any]) -> None:
    """The chart is XML with role="img", a title and a description listing each day's
    figure; it has no script and no external reference; a wrong metric is malformed."""
    server, clock, anna = world["server"], world["clock"], world["anna"]
    await script(server, anna, clock)
    path = f"/api/teams/alpha/stats.svg?{RANGE}&metric=started"
    status, text, headers = await staff_get(server, "sue", path)
    assert status == 200 and headers["Content-Type"].startswith("image/svg+xml")
    root = ET.fromstring(text)
    ns = "{http://www.w3.org/2000/svg}"
    assert root.tag == f"{ns}svg" and root.get("role") == "img"
    assert "Conversations started" in (root.findtext(f"{ns}title") or "")
    desc = root.findtext(f"{ns}desc") or ""
    assert desc == (
        "2027-01-15: 7; 2027-01-16: fewer than 5; 2027-01-17: 0; 2027-01-18: fewer than 5"
    )
    assert not any(e.tag.endswith("script") or e.tag.endswith("foreignObject") for e in root.iter())
    assert not any("href" in a or "url(" in v for e in root.iter() for a, v in e.attrib.items())
    status, text, _ = await staff_get(
        server, "sue", f"/api/teams/alpha/stats.svg?{RANGE}&metric=waiting_median_s"
    )
    assert "2027-01-15: 120; 2027-01-16: not shown" in text
    status, text, _ = await staff_get(server, "sue", "/api/teams/alpha/stats.svg?metric=x")
    assert status == 400 and '"malformed"' in text


async def test_the_cli_prints_the_same_csv(
    world: dict[str, Any], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``chatserver stats SLUG --from --to --csv`` prints the download's CSV; the table
    form names the figures; an unknown team exits 2."""
    server, clock, anna = world["server"], world["clock"], world["anna"]
    await script(server, anna, clock)
    _, download, _ = await staff_get(server, "sue", f"/api/teams/alpha/stats.csv?{RANGE}")
    for key, value in (
        ("CHAT_DATABASE_URL", server.settings.database_url),
        ("CHAT_KEYSTORE_URL", server.settings.keystore_url),
        ("CHAT_PUBLIC_ORIGIN", ORIGIN),
    ):
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("CHAT_CONFIG", raising=False)
    capsys.readouterr()
    dates = ["--from", "2027-01-15", "--to", "2027-01-18"]
    assert await asyncio.to_thread(cli.main, ["stats", "alpha", *dates, "--csv"]) == 0
    assert capsys.readouterr().out == download
    assert await asyncio.to_thread(cli.main, ["stats", "alpha", *dates]) == 0
    table = capsys.readouterr().out
    assert "2027-01-15" in table and "topics: general < 5, school 7, (none) < 5" in table
    assert await asyncio.to_thread(cli.main, ["stats", "nope"]) == 2
    assert "there is no team 'nope'" in capsys.readouterr().err


async def test_waiting_and_duration_count_from_the_first_accept(world: dict[str, Any]) -> None:
    """A chat sent back to the queue and accepted again waited once (start to first
    accept) and lasted from the first accept to the end."""
    server, clock, anna = world["server"], world["clock"], world["anna"]
    client = await server.client()
    conv = (await client.start("alpha", client_key()))["conversation"]
    clock.advance(60)
    await anna.accept(conv)
    clock.advance(100)
    await anna.send_frame({"type": "transfer", "conversation": conv})
    await until(anna, "released", conversation=conv)
    clock.advance(30)
    await anna.accept(conv)
    clock.advance(200)
    await client.close_conversation()
    s = m.stat_facts.c
    async with server.app[DB].read() as conn:
        fact = (await conn.execute(select(s.waited_ms, s.duration_ms, s.transfers))).one()
    assert tuple(fact) == (60_000, 330_000, 1)


async def test_the_sweep_records_missing_facts_before_it_purges(world: dict[str, Any]) -> None:
    """A conversation that ended without its facts (recorded before this was done at the
    end) gets them from the sweep before it is deleted, and is counted."""
    server, clock, anna = world["server"], world["clock"], world["anna"]
    await chat(server, anna, clock, topic="school", wait=60, duration=60, category="advice")
    async with server.app[DB].write() as conn:
        await conn.execute(m.stat_facts.delete())
        await conn.execute(m.conversations.update().values(stats_at=None))
    assert (await stats_json(server))["total"]["started"] == 0
    clock.advance(91 * DAY)
    service = server.app[SERVICE]
    report = await Sweeper(
        server.app[DB], server.app[KEYSTORE], service.rules, clock, pause_ms=0
    ).run()
    assert report.counts["statistics_recorded"] == 1
    assert report.counts["conversations"] == 1
    total = (await stats_json(server))["total"]
    assert (total["started"], total["topics"], total["close_categories"]) == (
        S,
        {"school": S},
        {"advice": S},
    )
