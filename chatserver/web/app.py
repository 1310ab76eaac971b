"""The application factory: explicit dependencies, resources as ``cleanup_ctx``."""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from collections.abc import AsyncIterator, Callable

from aiohttp import web

from chatserver.chat.hub import Hub, LocalHub
from chatserver.chat.redis_hub import RedisHub
from chatserver.chat.service import ChatService
from chatserver.config import Settings
from chatserver.metrics import Metrics
from chatserver.staff.auth import LoginThrottle, verify_credential
from chatserver.storage.db import Database, readable_by_others, schema_is_current
from chatserver.storage.keystore import Keystore
from chatserver.storage.store import Store
from chatserver.storage.writer import MessageWriter
from chatserver.web.api.admin import add_admin_routes
from chatserver.web.api.audit import add_audit_routes
from chatserver.web.api.blocks import add_block_routes
from chatserver.web.api.canned import add_canned_routes
from chatserver.web.api.consent import add_consent_routes
from chatserver.web.api.health import add_health_routes
from chatserver.web.api.hours import add_hours_routes
from chatserver.web.api.members import add_member_routes
from chatserver.web.api.privacy import add_privacy_routes
from chatserver.web.api.retention import add_retention_routes
from chatserver.web.api.session import add_session_routes
from chatserver.web.api.stats import add_stats_routes
from chatserver.web.api.teams import add_team_routes
from chatserver.web.api.totp import add_totp_routes
from chatserver.web.pages.admin import add_admin_page_routes
from chatserver.web.pages.console import add_console_routes
from chatserver.web.pages.snippet import add_snippet_routes
from chatserver.web.pages.start import add_start_routes
from chatserver.web.pages.widget import add_widget_routes
from chatserver.web.security import guard
from chatserver.web.state import (
    CLOCK,
    CONNECTIONS,
    DB,
    HUB,
    KEYSTORE,
    METRICS,
    SERVICE,
    SETTINGS,
    STORE,
    SWEEPS,
    THROTTLE,
)
from chatserver.web.ws.client import client_socket
from chatserver.web.ws.connection import CLOSE_GOING_AWAY, Connection
from chatserver.web.ws.console import console_socket
from retention.scheduler import SweepScheduler
from retention.sweeper import Sweeper

__all__ = ["SchemaOutdated", "create_app", "run"]

log = logging.getLogger("chatserver.web")


class SchemaOutdated(RuntimeError):
    """The database is not migrated to this version's schema."""


async def _storage(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    db = Database(settings.database_url)
    if not await schema_is_current(db):
        await db.dispose()
        raise SchemaOutdated("the database schema is not current: run `chatserver migrate`")
    if db.is_sqlite and not await db.secure_delete_on():
        await db.dispose()
        raise SchemaOutdated("SQLite secure_delete is off: deleted data would stay in the file")
    keystore = Keystore(settings.keystore)
    await keystore.open()
    # The Argon2id hash an unknown username is checked against, made before the first
    # sign-in (which would otherwise take longer than the next: a timing tell).
    await asyncio.to_thread(verify_credential, None, "")
    for url in (settings.database_url, settings.keystore):
        for path, mode in readable_by_others(url):
            log.warning(
                "event=file_readable_by_others path=%s mode=%o hint='chmod 600 it'", path, mode
            )
    writer = MessageWriter(db, keystore, lambda: int(app[CLOCK]() * 1000), settings.commit_batch)
    writer.start()
    # SQLite: the write-ahead logs are checkpointed beside the writers, never in a commit.
    checkpoints = [
        asyncio.create_task(d.checkpoints(), name="checkpoints")
        for d in (db, keystore.db)
        if d.is_sqlite
    ]
    store = Store(db, keystore, app[CLOCK])
    metrics = app[METRICS]
    app[DB], app[STORE], app[KEYSTORE] = db, store, keystore
    app[SERVICE] = ChatService(settings, store, writer, app[HUB], metrics, app[CLOCK])
    metrics.gauge(
        "chat_open_connections", "Open WebSocket connections.", lambda: len(app[CONNECTIONS])
    )
    metrics.gauge("chat_group_commits", "Message transactions committed.", lambda: writer.commits)
    if db.is_sqlite:
        metrics.gauge(
            "chat_wal_checkpoints",
            "Checkpoints of the SQLite write-ahead log made beside the writers.",
            lambda: db.checkpoints_made,
        )
    yield
    await writer.stop()
    for task in checkpoints:
        task.cancel()
    await asyncio.gather(*checkpoints, return_exceptions=True)
    await keystore.close()
    await db.dispose()


async def _close_sockets(app: web.Application) -> None:
    """On shutdown every peer gets GOING_AWAY and resumes elsewhere or after restart."""
    live: set[Connection] = app[CONNECTIONS]
    connections = tuple(live)
    await asyncio.gather(
        *(c.close(CLOSE_GOING_AWAY, "server restarting; resume") for c in connections),
        return_exceptions=True,
    )


async def _redis(app: web.Application) -> AsyncIterator[None]:
    """Fan-out between processes: connected before anything else starts."""
    hub = app[HUB]
    assert isinstance(hub, RedisHub)
    await hub.start()
    yield
    await hub.close()


async def _retention(app: web.Application) -> AsyncIterator[None]:
    """The sweeper in this process (setting retention_in_process), on a schedule."""
    settings = app[SETTINGS]
    if not settings.retention_in_process:
        yield
        return
    service = app[SERVICE]
    sweeper = Sweeper(
        app[DB],
        app[KEYSTORE],
        service.rules,
        app[CLOCK],
        batch=settings.retention_batch,
        pause_ms=settings.retention_pause_ms,
        on_ended=service.ended_by_retention,
    )
    app[SWEEPS] = SweepScheduler(sweeper, settings.retention_interval_minutes)
    app[SWEEPS].start()
    yield
    await app[SWEEPS].stop()


async def _server_header(_request: web.Request, response: web.StreamResponse) -> None:
    # No software versions for scanners.
    response.headers["Server"] = "chatserver"


def create_app(
    settings: Settings,
    *,
    clock: Callable[[], float] = time.time,
    hub: Hub | None = None,
) -> web.Application:
    app = web.Application(middlewares=[guard], client_max_size=64 * 1024)
    app[SETTINGS] = settings
    app[CLOCK] = clock
    if hub is None and settings.redis_url:
        hub = RedisHub(settings.redis_url, on_resync=lambda: _close_sockets(app))
        app.cleanup_ctx.append(_redis)
    app[HUB] = hub or LocalHub()
    app[METRICS] = Metrics()
    app[THROTTLE] = LoginThrottle(attempts=settings.login_attempts)
    app[CONNECTIONS] = set()
    app.cleanup_ctx.append(_storage)
    app.cleanup_ctx.append(_retention)
    app.on_response_prepare.append(_server_header)
    app.on_shutdown.append(_close_sockets)
    add_start_routes(app)
    add_session_routes(app)
    add_health_routes(app)
    add_team_routes(app)
    add_member_routes(app)
    add_retention_routes(app)
    add_block_routes(app)
    add_stats_routes(app)
    add_widget_routes(app)
    add_console_routes(app)
    add_hours_routes(app)
    add_consent_routes(app)
    add_canned_routes(app)
    add_totp_routes(app)
    add_admin_routes(app)
    add_privacy_routes(app)
    add_snippet_routes(app)  # /admin/preview before /admin/{file}
    add_admin_page_routes(app)
    add_audit_routes(app)
    app.router.add_get("/ws/client", client_socket)
    app.router.add_get("/ws/console", console_socket)
    return app


async def run(settings: Settings, ready: Callable[[int], None] | None = None) -> None:
    """Serve until SIGTERM or SIGINT; no access log (it would record addresses)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    app = create_app(settings)
    runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=10)
    await runner.setup()
    site = web.TCPSite(runner, settings.host, settings.port)
    await site.start()
    port = runner.addresses[0][1] if runner.addresses else settings.port
    log.info("event=listening port=%s", port)
    if ready is not None:
        ready(port)
    await stop.wait()
    log.info("event=stopping")
    await runner.cleanup()
