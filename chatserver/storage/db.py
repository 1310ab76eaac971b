"""The database seam: one engine, explicit read and write transactions, migrations.

SQLite runs in WAL mode with ``synchronous=FULL`` (a commit is on disk before it returns,
so an ack after commit survives ``kill -9`` and power loss) and ``secure_delete=ON``
(deleted rows are overwritten in the file). Write transactions start with
``BEGIN IMMEDIATE`` and are serialised in the process, so a reader never has to upgrade
its lock and nothing ever sees ``database is locked`` in normal operation.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

T = TypeVar("T")

#: Threads (each with its own connection) that run whole read transactions on SQLite.
READERS = 4

__all__ = ["Database", "migrate", "sqlite_path", "sqlite_pragmas"]

MIGRATIONS = Path(__file__).parent / "migrations"


def sqlite_path(url: str) -> Path | None:
    """The file behind a SQLite URL, or None for other databases."""
    parsed = make_url(url)
    if not parsed.drivername.startswith("sqlite") or not parsed.database:
        return None
    return Path(parsed.database)


def sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    """What every connection to a SQLite file runs first (the pool's and the writer's own)."""
    # Take over BEGIN from the driver so we can say IMMEDIATE for writers.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    for pragma in (
        "journal_mode=WAL",
        "synchronous=FULL",
        "foreign_keys=ON",
        "secure_delete=ON",
        "busy_timeout=10000",
    ):
        cursor.execute(f"PRAGMA {pragma}")
    cursor.close()


def _sqlite_begin(conn: Any) -> None:
    mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
    conn.exec_driver_sql(f"BEGIN {mode}")


class Database:
    """Owns the engine. Use :meth:`read` and :meth:`write`; nothing else opens transactions."""

    def __init__(self, url: str, *, pool_size: int = 10, pooled: bool = True) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        options: dict[str, Any] = (
            {"pool_size": pool_size, "max_overflow": 0 if self.is_sqlite else pool_size}
            if pooled
            else {"poolclass": NullPool}
        )
        if self.is_sqlite:
            path = sqlite_path(url)
            if path is not None:
                path.parent.mkdir(parents=True, exist_ok=True)
        self.engine: AsyncEngine = create_async_engine(url, **options)
        if self.is_sqlite:
            event.listen(self.engine.sync_engine, "connect", sqlite_pragmas)
            event.listen(self.engine.sync_engine, "begin", _sqlite_begin)
        self._write_lock = asyncio.Lock() if self.is_sqlite else None
        # A SQLite file's frequent reads run whole on a reader thread (see read_sync).
        self._sync_path = sqlite_path(url) if self.is_sqlite else None
        self._sync: Engine | None = None
        self._readers: ThreadPoolExecutor | None = None

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        async with self.engine.connect() as conn, conn.begin():
            yield conn

    async def read_sync(self, fn: Callable[[Connection], T]) -> T:
        """Run ``fn`` in a read transaction and return what it returns.

        For the reads that come with every frame or connection. On a SQLite file the whole
        transaction runs on a reader thread with a plain connection: the event loop hands
        it over once and gets the answer once, where an async connection makes a round
        trip to its thread for every statement, fetch, begin and end. Elsewhere ``fn``
        runs on an async connection (``run_sync``): the same statements either way."""
        if self._sync_path is None:
            async with self.read() as conn:
                return await conn.run_sync(fn)
        if self._sync is None or self._readers is None:
            self._sync = create_engine(
                f"sqlite:///{self._sync_path}", pool_size=READERS, max_overflow=0
            )
            event.listen(self._sync, "connect", sqlite_pragmas)
            event.listen(self._sync, "begin", _sqlite_begin)
            self._readers = ThreadPoolExecutor(READERS, thread_name_prefix="db-reader")
        engine = self._sync

        def run() -> T:
            with engine.connect() as conn, conn.begin():
                return fn(conn)

        return await asyncio.get_running_loop().run_in_executor(self._readers, run)

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncConnection]:
        """A write transaction; committed when the block exits without an exception."""
        if self._write_lock is None:
            async with self.engine.begin() as conn:
                yield conn
            return
        async with self._write_lock, self.engine.connect() as conn:
            conn = await conn.execution_options(sqlite_begin="IMMEDIATE")
            async with conn.begin():
                yield conn

    @asynccontextmanager
    async def write_slot(self) -> AsyncIterator[None]:
        """This process's turn to write, for a writer with a connection of its own (the
        message writer on SQLite): it then never meets another of our writers inside
        SQLite. Other databases lock rows instead; there this is a no-op."""
        if self._write_lock is None:
            yield
            return
        async with self._write_lock:
            yield

    async def dispose(self) -> None:
        if self._readers is not None:
            self._readers.shutdown()
            self._readers = None
        if self._sync is not None:
            self._sync.dispose()
            self._sync = None
        await self.engine.dispose()


def _alembic_config(url: str) -> Any:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def migrate(url: str, revision: str = "head") -> None:
    """Bring the schema at ``url`` to ``revision`` (blocking; call from a thread in async code)."""
    from alembic import command

    path = sqlite_path(url)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists() or path.stat().st_size == 0:
            _new_sqlite_file(path)
    command.upgrade(_alembic_config(url), revision)


def _new_sqlite_file(path: Path) -> None:
    """A new database file with incremental auto-vacuum (it can only be chosen before the
    first table): the retention sweep then hands freed pages back to the file system."""
    import sqlite3

    conn = sqlite3.connect(path)
    try:
        conn.execute("PRAGMA auto_vacuum=INCREMENTAL")
        conn.execute("VACUUM")
    finally:
        conn.close()


async def schema_is_current(db: Database) -> bool:
    """Whether the database is migrated to :func:`head_revision`."""
    from sqlalchemy import text

    try:
        async with db.read() as conn:
            revision = (
                await conn.execute(text("SELECT version_num FROM alembic_version"))
            ).scalar()
    except Exception:  # no table: never migrated
        return False
    return revision == head_revision()


def head_revision() -> str:
    """The newest migration this code ships."""
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(_alembic_config("sqlite://")).get_current_head()
    assert head is not None
    return head
