"""Opening hours through a real server on SQLite and PostgreSQL, with an injected clock:
who may read and change them (a refusal changes nothing), the public status the widget
reads, ``start`` refused with ``closed`` outside hours unless the team queues then, and the
``chatserver hours`` commands."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from conftest import ORIGIN, FakeClock, Server, client_key, credential, dump
from test_cli import Run, ok, refused, run  # noqa: F401 (run is a fixture)

from chatserver.sdk.peers import ChatRefused, login

Call = Callable[..., Awaitable[tuple[int, Any]]]


def ms(iso: str) -> int:
    return int(datetime.fromisoformat(iso).timestamp() * 1000)


MONDAY_10 = ms("2026-11-30T10:00:00+01:00")
WORKDAYS = {day: ["09:00-17:00"] for day in ("mon", "tue", "wed", "thu", "fri")}
HOURS: dict[str, Any] = {
    "weekly": WORKDAYS,
    "exceptions": [{"date": "2026-12-24", "hours": [], "label": "Heiligabend"}],
    "closed_message": {"en": "We are closed; come back on a weekday."},
}


@pytest.fixture
async def world(make_server: Callable[..., Any]) -> dict[str, Any]:
    """Teams alpha and beta; an admin, a supervisor of each team, a counsellor of alpha;
    the clock at Monday 30 November 2026, 10:00 in Berlin."""
    clock = FakeClock(MONDAY_10 / 1000)
    server: Server = await make_server(clock=clock, session_hours=24 * 365.0)
    await server.team("alpha")
    await server.team("beta")
    await server.staff("root", [], role="admin")
    await server.staff("sue", ["alpha"], role="supervisor")
    await server.staff("sam", ["beta"], role="supervisor")
    await server.staff("cora", ["alpha"])
    calls = {name: await http_as(server, name) for name in ("root", "sue", "sam", "cora")}
    return {"server": server, "clock": clock, "anonymous": await http_as(server, None), **calls}


async def http_as(server: Server, username: str | None, *, csrf: bool = True) -> Call:
    """A JSON caller with ``username``'s session (None: no session)."""
    headers = {"Origin": ORIGIN}
    if username is not None:
        cookie, token = await login(
            server.url, username, credential=credential(username), origin=ORIGIN
        )
        headers["Cookie"] = cookie
        if csrf:
            headers["X-CSRF-Token"] = token

    async def call(method: str, path: str, body: Any = None) -> tuple[int, Any]:
        async with (
            aiohttp.ClientSession() as http,
            http.request(method, server.url + path, json=body, headers=headers) as r,
        ):
            return r.status, await r.json()

    return call


async def status(server: Server, team: str = "alpha", lang: str = "de") -> tuple[Any, Any]:
    """The public status (no cookie, no Origin) and its response headers."""
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"{server.url}/api/teams/{team}/status?lang={lang}") as r,
    ):
        return await r.json(), r.headers


async def set_hours(world: dict[str, Any], body: dict[str, Any]) -> None:
    code, answer = await world["root"]("PUT", "/api/teams/alpha/hours", body)
    assert code == 200, answer


# --------------------------------------------------------------------------- who may
async def test_each_role_on_reading_and_changing_hours(world: dict[str, Any]) -> None:
    """GET: admin and alpha's supervisor; PUT: admin only; a refused PUT changes nothing."""
    server = world["server"]
    anonymous = world["anonymous"]
    path = "/api/teams/alpha/hours"
    for who, expected in (("root", 200), ("sue", 200), ("sam", 403), ("cora", 403)):
        code, body = await world[who]("GET", path)
        assert code == expected, (who, body)
    assert (await anonymous("GET", path))[0] == 401

    no_csrf = await http_as(server, "root", csrf=False)
    before = await dump(server.settings.database_url)
    for who, call, expected in (
        ("sue", world["sue"], 403),
        ("sam", world["sam"], 403),
        ("cora", world["cora"], 403),
        ("anonymous", anonymous, 401),
        ("root without CSRF token", no_csrf, 401),
    ):
        code, body = await call("PUT", path, HOURS)
        assert code == expected, (who, body)
        assert body["error"]["message"]
    assert await dump(server.settings.database_url) == before

    code, body = await world["root"]("PUT", path, HOURS)
    assert code == 200, body
    assert await dump(server.settings.database_url) != before
    assert (await world["sue"]("GET", path))[1]["hours"] == body["hours"]


async def test_hours_are_null_until_set_and_the_change_is_audited(world: dict[str, Any]) -> None:
    """GET gives null first, then the canonical form; the audit entry has no texts."""
    server = world["server"]
    code, body = await world["root"]("GET", "/api/teams/alpha/hours")
    assert (code, body) == (200, {"team": "alpha", "hours": None})
    await set_hours(world, HOURS)
    hours = (await world["root"]("GET", "/api/teams/alpha/hours"))[1]["hours"]
    assert hours["weekly"]["mon"] == ["09:00-17:00"] and hours["weekly"]["sat"] == []
    assert hours["timezone"] == "Europe/Berlin" and hours["queue_outside_hours"] is False
    assert hours["exceptions"] == HOURS["exceptions"]
    assert [c["number"] for c in hours["emergency"]] == ["112", "0800 111 0 111", "116 111"]

    rows = await dump(server.settings.database_url)
    (entry,) = [r for r in rows["audit"] if r[3] == "hours.changed"]
    assert entry[2] == (await world["root"]("GET", "/api/me"))[1]["staff"]["id"]
    detail = json.loads(entry[5])
    assert detail["open_days"] == 5 and detail["exceptions"] == 1
    assert "closed" not in entry[5] and "Heiligabend" not in entry[5]


async def test_invalid_hours_are_refused_naming_the_field(world: dict[str, Any]) -> None:
    """A bad interval, an unknown time zone, a body that is no object: 400, unchanged."""
    server = world["server"]
    await set_hours(world, HOURS)
    before = await dump(server.settings.database_url)
    for body, fragment in (
        ({"weekly": {"mon": ["17:00-09:00"]}}, "weekly.mon[0]"),
        ({"weekly": {}, "timezone": "Europe/Atlantis"}, "timezone"),
        ({"weekly": {"mon": ["09:00-12:00", "10:00-11:00"]}}, "overlap"),
        ([1, 2], "hours: an object"),
    ):
        code, answer = await world["root"]("PUT", "/api/teams/alpha/hours", body)
        assert code == 400 and answer["error"]["code"] == "malformed"
        assert fragment in answer["error"]["message"]
    assert (await world["root"]("PUT", "/api/teams/nope/hours", HOURS))[0] == 404
    assert await dump(server.settings.database_url) == before


# --------------------------------------------------------------------------- the widget
async def test_public_status_follows_the_server_clock(world: dict[str, Any]) -> None:
    """Open with the closing time; then closed with the message and the emergency
    contacts; without a session, naming nobody, never cached."""
    server, clock = world["server"], world["clock"]
    body, headers = await status(server)
    assert body["open"] is True and body["next_change"] is None and body["hours_text"] is None

    await set_hours(world, HOURS)
    body, headers = await status(server, lang="en")
    assert body["open"] is True
    assert body["next_change"] == ms("2026-11-30T17:00:00+01:00")
    assert body["hours_text"] == "Mon-Fri 09:00-17:00".replace("-", "\N{EN DASH}")
    assert headers["Cache-Control"] == "no-store"
    assert "Set-Cookie" not in headers
    assert set(body) == {
        "open",
        "next_change",
        "queue_outside_hours",
        "timezone",
        "hours_text",
        "closed_message",
        "emergency",
        "topics",
        "transcript",
        "consent",
        "paused",  # no epoch uploaded here: tests/server/test_key_horizon.py has the levels
        "keys",
    }
    assert body["paused"] is True and body["keys"] == {"covered_until": None, "level": "paused"}

    clock.now = ms("2026-11-30T17:00:00+01:00") / 1000
    body, headers = await status(server, lang="en")
    assert body["open"] is False
    assert body["next_change"] == ms("2026-12-01T09:00:00+01:00")
    assert body["closed_message"] == "We are closed; come back on a weekday."
    assert body["emergency"][0] == {"name": "Notruf", "number": "112"}
    assert "Du " in (await status(server, lang="de"))[0]["closed_message"]

    clock.now = ms("2026-12-24T12:00:00+01:00") / 1000  # a Thursday, the exception
    assert (await status(server))[0]["open"] is False
    text = json.dumps((await status(server))[0])
    for name in ("root", "sue", "Root", "Sue"):
        assert name not in text


async def test_public_status_refuses_unknown_languages_and_teams(world: dict[str, Any]) -> None:
    """?lang=fr is malformed; an unknown team is not_found."""
    body, _ = await status(world["server"], lang="fr")
    assert body["error"]["code"] == "malformed"
    body, _ = await status(world["server"], team="nope")
    assert body["error"]["code"] == "not_found"


# --------------------------------------------------------------------------- start
async def test_start_is_refused_outside_hours_and_accepted_inside(world: dict[str, Any]) -> None:
    """At 18:00 ``start`` gets ``closed`` and nothing is stored; at 09:00 it works."""
    server, clock = world["server"], world["clock"]
    await set_hours(world, HOURS)
    clock.now = ms("2026-11-30T18:00:00+01:00") / 1000
    client = await server.client()
    before = await dump(server.settings.database_url)
    with pytest.raises(ChatRefused) as caught:
        await client.start("alpha", client_key())
    assert caught.value.code == "closed"
    assert await dump(server.settings.database_url) == before

    clock.now = ms("2026-12-01T09:00:00+01:00") / 1000
    started = await client.start("alpha", client_key())
    assert started["position"] == 1
    # Another team without hours is always open.
    clock.now = ms("2026-12-01T03:00:00+01:00") / 1000
    assert (await (await server.client()).start("beta", client_key(2)))["position"] == 1


async def test_with_queueing_outside_hours_start_is_accepted(world: dict[str, Any]) -> None:
    """``queue_outside_hours``: closed in the status, but new chats wait in the queue."""
    server, clock = world["server"], world["clock"]
    await set_hours(world, HOURS | {"queue_outside_hours": True})
    clock.now = ms("2026-12-05T12:00:00+01:00") / 1000  # a Saturday
    body, _ = await status(server)
    assert body["open"] is False and body["queue_outside_hours"] is True
    started = await (await server.client()).start("alpha", client_key())
    assert started["position"] == 1


# --------------------------------------------------------------------------- CLI
def test_hours_commands(run: Run, db_url: str, tmp_path: Path) -> None:  # noqa: F811
    """``hours set`` validates and audits, ``show`` prints the same JSON as the API,
    ``check`` answers open or closed and until when, in the team's time zone."""
    ok(run("team", "add", "alpha", "--name", "Alpha"))
    bad, good = tmp_path / "bad.json", tmp_path / "hours.json"
    bad.write_text(json.dumps({"weekly": {"mon": ["9:00-17:00"]}}))
    good.write_text(json.dumps(HOURS))
    before = asyncio.run(dump(db_url))
    refused(run("hours", "set", "alpha", "--file", str(bad)), "weekly.mon[0]")
    assert asyncio.run(dump(db_url)) == before

    assert ok(run("hours", "set", "alpha", "--file", str(good))).strip() == (
        "saved the opening hours of alpha"
    )
    shown = json.loads(ok(run("hours", "show", "alpha")))
    assert shown["weekly"] == WORKDAYS | {"sat": [], "sun": []}
    assert ok(run("hours", "check", "alpha", "--at", "2026-11-30T10:00")).strip() == (
        "open until 2026-11-30 17:00 CET (Europe/Berlin)"
    )
    assert ok(run("hours", "check", "alpha", "--at", "2026-12-24T11:00:00+00:00")).strip() == (
        "closed until 2026-12-25 09:00 CET (Europe/Berlin); new chats are refused"
    )
    rows = asyncio.run(dump(db_url))
    assert [r[2] for r in rows["audit"] if r[3] == "hours.changed"] == ["cli"]
