"""How long a team's uploaded epochs still take new chats (docs/operations.md, "Keys
ahead"), as monitoring and the consoles read it: ``/healthz`` names each team's horizon and
level, ``/metrics`` has ``chat_key_horizon_seconds{team=...}``. The server's clock is moved
across the thresholds (48, 24 and 8 hours, then none); nothing waits."""

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


async def read(desk: Desk) -> tuple[dict[str, Any], str]:
    async with aiohttp.ClientSession() as http:
        async with http.get(desk.url + "/healthz") as answer:
            assert answer.status == 200
            health = await answer.json()
        async with http.get(desk.url + "/metrics") as answer:
            metrics = await answer.text()
    return health, metrics


def horizon_metric(metrics: str, team: str) -> float:
    found = re.search(rf'^chat_key_horizon_seconds{{team="{team}"}} (\S+)$', metrics, re.M)
    assert found, metrics
    return float(found.group(1))


async def test_each_level_of_the_horizon_in_healthz_and_metrics(
    make_desk: Callable[..., Any],
) -> None:
    now = [time.time()]
    desk: Desk = await make_desk(clock=lambda: now[0])
    teams = Teams(desk.server.db)
    await teams.create("night", "Night line", [], "cli", int(now[0] * 1000))  # no epochs
    await teams.create("old", "Old line", [], "cli", int(now[0] * 1000))
    await teams.change("old", "cli", int(now[0] * 1000), archived=True)

    health, metrics = await read(desk)
    assert health["status"] == "ok"
    assert set(health["keys"]) == {"demo", "night"}  # an archived team takes no chats
    assert health["keys"]["night"] == {"covered_until": None, "hours_left": 0, "level": "paused"}
    assert horizon_metric(metrics, "night") == 0
    demo = health["keys"]["demo"]
    assert demo["level"] == "ok" and demo["hours_left"] > 48
    until = demo["covered_until"] / 1000

    for hours_left, level in ((47.5, "top_up"), (23.5, "warning"), (7.5, "urgent"), (0, "paused")):
        now[0] = until - hours_left * HOUR
        health, metrics = await read(desk)
        assert health["status"] == "ok"  # the agency's to fix, not a reason to restart
        assert health["keys"]["demo"]["level"] == level, (hours_left, health)
        assert health["keys"]["demo"]["hours_left"] == pytest.approx(hours_left, abs=0.01)
        assert horizon_metric(metrics, "demo") == pytest.approx(hours_left * HOUR, abs=1)
    assert "old" not in metrics
