"""SQLite's write-ahead log is checkpointed beside the writers, never inside a commit: a
live message must not wait for the log to be copied into the database file."""

from __future__ import annotations

import asyncio
import sqlite3

import aiohttp
import pytest
from conftest import Server, client_key
from sqlalchemy import text

from chatserver.storage.db import Database, sqlite_path, sqlite_pragmas

pytestmark = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)

PAGE = 4096


async def fill(db: Database, pages: int, per_transaction: int = 100) -> None:
    """About ``pages`` pages of new rows, in transactions of ``per_transaction`` pages."""
    async with db.write() as conn:
        await conn.execute(text("CREATE TABLE IF NOT EXISTS filler (b BLOB)"))
    for _ in range(pages // per_transaction):
        async with db.write() as conn:
            await conn.execute(
                text(
                    "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < :n)"
                    " INSERT INTO filler SELECT randomblob(:size) FROM n"
                ),
                {"size": PAGE - 200, "n": per_transaction},
            )


async def test_no_commit_checkpoints_the_log(db_url: str) -> None:
    """SQLite would checkpoint in the commit that takes the log past 1,000 pages; here
    the log keeps every page until the process checkpoints it, and restarts after."""
    db = Database(db_url)
    try:
        await fill(db, 1500)
        pages = await db.checkpoint()
        assert pages is not None and pages > 1500  # no commit on the way checkpointed
        assert db.checkpoints_made == 1
        await fill(db, 100)  # the log restarts at the first commit after the checkpoint
        pages = await db.checkpoint()
        assert pages is not None and 100 <= pages < 200
    finally:
        await db.dispose()


async def test_every_connection_leaves_the_log_alone(db_url: str) -> None:
    """The pooled connections and a writer's own (``sqlite_pragmas``) alike."""
    path = sqlite_path(db_url)
    assert path is not None
    raw = sqlite3.connect(path)
    try:
        assert raw.execute("PRAGMA wal_autocheckpoint").fetchone() == (1000,)  # SQLite's own
        sqlite_pragmas(raw, None)
        assert raw.execute("PRAGMA wal_autocheckpoint").fetchone() == (0,)
    finally:
        raw.close()
    db = Database(db_url)
    try:
        async with db.read() as conn:
            assert (await conn.exec_driver_sql("PRAGMA wal_autocheckpoint")).scalar() == 0
        assert (
            await db.read_sync(
                lambda conn: conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar()
            )
            == 0
        )
    finally:
        await db.dispose()


async def test_the_server_checkpoints_after_messages(server: Server) -> None:
    """Messages make the server checkpoint soon after, beside its writers; /metrics
    counts the checkpoints."""
    await server.staff("anna", ["alpha"])
    console = await server.console("anna")
    client = await server.client()
    started = await client.start("alpha", client_key())
    await console.accept(started["conversation"])
    before = server.db.checkpoints_made
    for n in range(5):
        await client.send(f"m{n}", b"ciphertext" * 50)
    async with asyncio.timeout(10):
        while server.db.checkpoints_made == before:
            await asyncio.sleep(0.05)  # the checkpointer's own pace: a condition, not a guess
    async with aiohttp.ClientSession() as http, http.get(f"{server.url}/metrics") as reply:
        lines = (await reply.text()).splitlines()
    made = next(line for line in lines if line.startswith("chat_wal_checkpoints "))
    assert int(made.split()[1]) >= before + 1
