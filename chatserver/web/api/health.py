"""For the operator's monitoring: ``/healthz`` (ready: the database and Redis answer; with
each team's key horizon), ``/healthz/live`` (the process serves) and ``/metrics``
(Prometheus text, no labels that identify anyone)."""

from __future__ import annotations

import logging

from aiohttp import web

from chatserver.chat.redis_hub import RedisHub
from chatserver.teams.epochs import Epochs, horizon_summary
from chatserver.web.guards import now_ms
from chatserver.web.state import DB, HUB, METRICS

log = logging.getLogger("chatserver.web")


async def healthz(request: web.Request) -> web.Response:
    """Ready: the database answers, and Redis when several processes share it."""
    try:
        await request.app[DB].ping()
    except Exception:
        log.exception("event=health_failed part=database")
        return web.json_response({"status": "unavailable", "database": False}, status=503)
    hub = request.app[HUB]
    if isinstance(hub, RedisHub) and not await hub.ping():
        log.warning("event=health_failed part=redis")
        return web.json_response({"status": "unavailable", "redis": False}, status=503)
    # How long the teams' keys still take new chats, naming no team (this answer is
    # public; each team's own is in its status). A lapsed horizon is the agency's to fix
    # (an admin signs in), not a reason to restart, so the status stays "ok".
    now = now_ms(request)
    keys = horizon_summary(await Epochs(request.app[DB]).horizons(now), now)
    return web.json_response({"status": "ok", "keys": keys})


async def alive(_request: web.Request) -> web.Response:
    """Alive: the process serves requests (restart it when this fails)."""
    return web.json_response({"status": "alive"})


async def metrics(request: web.Request) -> web.Response:
    now = now_ms(request)
    summary = horizon_summary(await Epochs(request.app[DB]).horizons(now), now)
    metrics = request.app[METRICS]
    shortest = summary["hours_left"]
    metrics.set_series(
        "chat_key_horizon_seconds",
        "Seconds the shortest-covered team's epochs still take new chats (0: paused).",
        {(): 0.0 if shortest is None else round(shortest * 3600, 1)},
    )
    metrics.set_series(
        "chat_teams_by_key_level",
        "Active teams by how long their keys still take new chats (docs/operations.md).",
        {(("level", level),): float(n) for level, n in summary["teams"].items()},
    )
    return web.Response(text=request.app[METRICS].render(), content_type="text/plain")


def add_health_routes(app: web.Application) -> None:
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/healthz/live", alive)
    app.router.add_get("/metrics", metrics)
