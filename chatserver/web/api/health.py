"""For the operator's monitoring: ``/healthz`` (ready: the database and Redis answer; with
each team's key horizon), ``/healthz/live`` (the process serves) and ``/metrics``
(Prometheus text, no labels that identify anyone)."""

from __future__ import annotations

import logging

from aiohttp import web

from chatserver.chat.redis_hub import RedisHub
from chatserver.teams.epochs import Epochs
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
    # How long each team's keys still take new chats: a lapsed horizon is the agency's to
    # fix (an admin signs in), not a reason to restart, so the status stays "ok".
    now = now_ms(request)
    keys = {h.team: h.to_json(now) for h in await Epochs(request.app[DB]).horizons(now)}
    return web.json_response({"status": "ok", "keys": keys})


async def alive(_request: web.Request) -> web.Response:
    """Alive: the process serves requests (restart it when this fails)."""
    return web.json_response({"status": "alive"})


async def metrics(request: web.Request) -> web.Response:
    now = now_ms(request)
    horizons = await Epochs(request.app[DB]).horizons(now)
    request.app[METRICS].set_series(
        "chat_key_horizon_seconds",
        "Seconds the uploaded epochs of a team still cover new chats (0: paused).",
        {(("team", h.team),): round(h.hours_left(now) * 3600, 1) for h in horizons},
    )
    return web.Response(text=request.app[METRICS].render(), content_type="text/plain")


def add_health_routes(app: web.Application) -> None:
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/healthz/live", alive)
    app.router.add_get("/metrics", metrics)
