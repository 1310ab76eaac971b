"""How long a team's uploaded epochs still take new chats (docs/operations.md, "Keys
ahead"), as the widget, the consoles and monitoring read it: each team's public status has
its ``keys`` (``covered_until``, ``level``) and ``paused``; ``/healthz`` and ``/metrics``
have the worst level, the shortest horizon and how many teams are at each level, naming no
team. The server's clock is moved across the thresholds (48, 24 and 8 hours, then none);
nothing waits."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any

import aiohttp
import pytest
from conftest import Desk

from chatserver.teams.teams import Teams

pytestmark = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)

HOUR = 3600.0


async def read(desk: Desk, *teams: str) -> tuple[list[dict[str, Any]], dict[str, Any], str]:
    """The teams' statuses, /healthz and /metrics."""
    async with aiohttp.ClientSession() as http:
        found = []
        for path in [f"/api/teams/{team}/status" for team in teams] + ["/healthz"]:
            async with http.get(desk.url + path) as answer:
                assert answer.status == 200
                found.append(await answer.json())
        async with http.get(desk.url + "/metrics") as answer:
            metrics = await answer.text()
    return found[:-1], found[-1], metrics


def metric(metrics: str, line: str) -> float:
    found = re.search(rf"^{re.escape(line)} (\S+)$", metrics, re.M)
    assert found, metrics
    return float(found.group(1))


async def test_each_level_of_the_horizon_per_team_and_for_monitoring(
    make_desk: Callable[..., Any],
) -> None:
    now = [time.time()]
    desk: Desk = await make_desk(clock=lambda: now[0])
    teams = Teams(desk.server.db)
    await teams.create("night", "Night line", [], "cli", int(now[0] * 1000))  # no epochs
    await teams.create("old", "Old line", [], "cli", int(now[0] * 1000))
    await teams.change("old", "cli", int(now[0] * 1000), archived=True)

    (demo, night), health, metrics = await read(desk, "demo", "night")
    assert night["paused"] is True and night["keys"] == {"covered_until": None, "level": "paused"}
    assert demo["paused"] is False and demo["keys"]["level"] == "ok"
    assert health["status"] == "ok"
    # An archived team takes no chats and is not counted; no team is named.
    assert health["keys"] == {
        "level": "paused",
        "hours_left": 0,
        "teams": {"paused": 1, "urgent": 0, "warning": 0, "top_up": 0, "ok": 1},
    }
    for text in (str(health), metrics):
        assert "night" not in text and "demo" not in text
    assert metric(metrics, 'chat_teams_by_key_level{level="paused"}') == 1
    until = demo["keys"]["covered_until"] / 1000
    assert until - now[0] > 48 * HOUR

    await teams.change("night", "cli", int(now[0] * 1000), archived=True)  # demo alone now
    for hours_left, level in ((47.5, "top_up"), (23.5, "warning"), (7.5, "urgent"), (0, "paused")):
        now[0] = until - hours_left * HOUR
        (demo,), health, metrics = await read(desk, "demo")
        assert demo["keys"]["level"] == level, (hours_left, demo)
        assert demo["paused"] is (level == "paused")
        assert health["status"] == "ok"  # the agency's to fix, not a reason to restart
        assert health["keys"]["level"] == level
        assert health["keys"]["hours_left"] == pytest.approx(hours_left, abs=0.01)
        assert health["keys"]["teams"][level] == 1
        assert metric(metrics, "chat_key_horizon_seconds") == pytest.approx(
            hours_left * HOUR, abs=1
        )
        assert metric(metrics, f'chat_teams_by_key_level{{level="{level}"}}') == 1
