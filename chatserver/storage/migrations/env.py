"""Alembic environment: runs migrations through the same engine setup as the server."""

from __future__ import annotations

import asyncio
from typing import Any

from alembic import context

from chatserver.storage.db import Database
from chatserver.storage.models import metadata

config = context.config


def _run(connection: Any) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    migration = context.get_context()
    with context.begin_transaction():
        config.attributes["before"] = migration.get_current_revision()
        context.run_migrations()
        config.attributes["after"] = migration.get_current_revision()


async def _main() -> None:
    url = config.get_main_option("sqlalchemy.url")
    assert url is not None
    db = Database(url, pooled=False, create=True)
    try:
        async with db.engine.connect() as conn:
            await conn.run_sync(_run)
            await conn.commit()
    finally:
        await db.dispose()


if context.is_offline_mode():
    raise SystemExit("offline migrations are not supported; run `chatserver migrate`")
asyncio.run(_main())
