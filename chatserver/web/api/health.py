"""For the operator's monitoring: ``/healthz`` (ready: the database and Redis answer),
``/healthz/live`` (the process serves) and ``/metrics`` (Prometheus text, no labels that
identify anyone)."""

from __future__ import annotations

import logging

from aiohttp import web

from chatserver.chat.redis_hub import RedisHub
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
    return web.json_response({"status": "ok"})


async def alive(_request: web.Request) -> web.Response:
    """Alive: the process serves requests (restart it when this fails)."""
    return web.json_response({"status": "alive"})


async def metrics(request: web.Request) -> web.Response:
    return web.Response(text=request.app[METRICS].render(), content_type="text/plain")


def add_health_routes(app: web.Application) -> None:
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/healthz/live", alive)
    app.router.add_get("/metrics", metrics)
