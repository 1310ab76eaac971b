"""One sweep at a time across processes: a PostgreSQL advisory lock, or on SQLite an
exclusive lock on a file beside the database (both released when the holder dies)."""

from __future__ import annotations

import fcntl
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from chatserver.storage.db import Database, sqlite_path
from chatserver.storage.retention import try_advisory_xact_lock

__all__ = ["SWEEP_LOCK", "sweep_lock"]

#: The advisory lock key of the retention sweep ("sweep" in ASCII).
SWEEP_LOCK = 0x7377656570


@asynccontextmanager
async def sweep_lock(db: Database) -> AsyncIterator[bool]:
    """Yields whether this process got the lock; never waits for it."""
    if not db.is_sqlite:
        # A transaction-level lock on a connection kept in its transaction for the sweep:
        # it ends with that transaction however the sweep ends (the rollback below, the
        # pool's reset of a connection given back on an error or a cancellation, or the
        # connection's loss). A session-level lock could outlive a sweep that never reached
        # its unlock, on a pooled connection, and keep every other process from sweeping.
        async with db.engine.connect() as conn:
            got = await try_advisory_xact_lock(conn, SWEEP_LOCK)
            try:
                yield got
            finally:
                await conn.rollback()
        return
    path = sqlite_path(db.url)
    if path is None:  # an in-memory database lives in one process
        yield True
        return
    fd = os.open(f"{path}.sweep.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
