"""The database seam: one engine, explicit read and write transactions, migrations.

SQLite runs in WAL mode with ``synchronous=FULL`` (a commit is on disk before it returns,
so an ack after commit survives ``kill -9`` and power loss) and ``secure_delete=ON``
(deleted rows are overwritten in the file). Write transactions start with
``BEGIN IMMEDIATE`` and are serialised in the process, so a reader never has to upgrade
its lock and nothing ever sees ``database is locked`` in normal operation.

No commit checkpoints the write-ahead log (``wal_autocheckpoint=0``): SQLite would copy
the log into the database file, with two fsyncs, inside the commit that takes it past
1,000 pages, and a live message would wait for that. A long-running process checkpoints
beside its writers instead (:meth:`Database.checkpoints`, :meth:`Database.checkpoint`);
a short one leaves it to SQLite, which checkpoints when the last connection closes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sys
import threading
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

T = TypeVar("T")

#: Threads (each with its own connection) that run whole read transactions on SQLite.
READERS = 4

#: How often a long-running process looks whether its writers committed since its last
#: checkpoint of the write-ahead log (and checkpoints at least this many times as often,
#: for writers in other processes).
CHECKPOINT_SECONDS = 0.25
IDLE_CHECKPOINTS = 20

__all__ = [
    "Database",
    "DatabaseMissing",
    "Migrated",
    "migrate",
    "readable_by_others",
    "sqlite_path",
    "sqlite_pragmas",
]

MIGRATIONS = Path(__file__).parent / "migrations"

log = logging.getLogger("chatserver.storage")


def sqlite_path(url: str) -> Path | None:
    """The file behind a SQLite URL, or None for other databases (and in-memory ones)."""
    parsed = make_url(url)
    if not parsed.drivername.startswith("sqlite") or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database)


class DatabaseMissing(Exception):
    """A SQLite file that should exist does not: only migrations create databases, so that
    a command run in the wrong folder, or with the wrong settings, says so instead of
    quietly making an empty database there."""

    def __init__(self, path: Path, what: str = "database") -> None:
        if what == "keystore":
            advice = (
                "`chatserver migrate` makes one for a new database; an installation that had "
                "one restores it from its backup (without it no stored conversation can be "
                "read), or point keystore_url (CHAT_KEYSTORE_URL) at it"
            )
        else:
            advice = (
                "run `chatserver migrate` to create it (or `chatserver serve --migrate`), or "
                "point database_url (CHAT_DATABASE_URL) at the database you meant"
            )
        super().__init__(f"there is no {what} at {path.absolute()}: {advice}")
        self.path = path


def _create_private(path: Path) -> None:
    """An empty file only its owner can read (SQLite gives its -wal and -shm files the
    same mode), in a folder only its owner can enter when the folder is new."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
    os.chmod(path, 0o600)


def readable_by_others(url: str) -> list[tuple[Path, int]]:
    """The files of a SQLite database (with its -wal and -shm) that users other than the
    owner may read or write, with their modes; empty for other databases."""
    path = sqlite_path(url)
    if path is None:
        return []
    found = []
    for file in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        with contextlib.suppress(FileNotFoundError):
            mode = file.stat().st_mode & 0o777
            if mode & 0o077:
                found.append((file, mode))
    return found


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
        "wal_autocheckpoint=0",
    ):
        cursor.execute(f"PRAGMA {pragma}")
    cursor.close()


def _sqlite_begin(conn: Any) -> None:
    mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
    conn.exec_driver_sql(f"BEGIN {mode}")


def _in_the_background() -> None:
    """Linux: the calling thread gets the lowest CPU priority (it holds no lock a live
    writer waits for: the checkpoint). Elsewhere nothing changes."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError):
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)


class Database:
    """Owns the engine. Use :meth:`read` and :meth:`write`; nothing else opens transactions."""

    def __init__(
        self,
        url: str,
        *,
        pool_size: int = 10,
        pooled: bool = True,
        create: bool = False,
        what: str = "database",
    ) -> None:
        """``create``: make a missing SQLite file (mode 0600); without it a missing file is
        :class:`DatabaseMissing` (only migrations and the keystore's set-up create)."""
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        options: dict[str, Any] = (
            {"pool_size": pool_size, "max_overflow": 0 if self.is_sqlite else pool_size}
            if pooled
            else {"poolclass": NullPool}
        )
        path = sqlite_path(url) if self.is_sqlite else None
        if path is not None and not path.exists():
            if not create:
                raise DatabaseMissing(path, what)
            _create_private(path)
        self.engine: AsyncEngine = create_async_engine(url, **options)
        if self.is_sqlite:
            event.listen(self.engine.sync_engine, "connect", sqlite_pragmas)
            event.listen(self.engine.sync_engine, "begin", _sqlite_begin)
        self._write_lock = asyncio.Lock() if self.is_sqlite else None
        self._wanting = 0  # writers waiting for the write slot
        # A SQLite file's frequent reads run whole on a reader thread (see read_sync).
        self._sync_path = sqlite_path(url) if self.is_sqlite else None
        self._sync: Engine | None = None
        self._readers: ThreadPoolExecutor | None = None
        self._writer: ThreadPoolExecutor | None = None
        self._on_connect: list[Callable[[Any, Any], None]] = [sqlite_pragmas]
        self._checkpointer: ThreadPoolExecutor | None = None
        self._checkpointing = asyncio.Lock()
        self._wrote = False  # a commit since the last checkpoint
        #: Checkpoints of the write-ahead log made by this process (for /metrics).
        self.checkpoints_made = 0

    async def ping(self) -> None:
        """A round trip to the database (the readiness check); raises when it fails."""
        async with self.read() as conn:
            await conn.exec_driver_sql("SELECT 1")

    async def secure_delete_on(self) -> bool:
        """SQLite: whether deleted rows are overwritten in the file (``secure_delete``)."""
        async with self.read() as conn:
            return bool((await conn.exec_driver_sql("PRAGMA secure_delete")).scalar())

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
        engine = self._sync_engine()

        def run() -> T:
            with engine.connect() as conn, conn.begin():
                return fn(conn)

        return await asyncio.get_running_loop().run_in_executor(self._readers, run)

    def on_connect(self, hook: Callable[[Any, Any], None]) -> None:
        """Also run ``hook(dbapi_connection, record)`` on every new connection of this
        database (its async pool's and, on SQLite, its plain engine's), after the
        pragmas."""
        event.listen(self.engine.sync_engine, "connect", hook)
        self._on_connect.append(hook)
        if self._sync is not None:
            event.listen(self._sync, "connect", hook)

    async def run_write(self, fn: Callable[[Connection], T]) -> T:
        """Run ``fn`` in a write transaction and return what it returns; committed when
        ``fn`` returns. The caller holds :meth:`write_slot`.

        For a writer whose transactions must hold the write slot as briefly as possible
        (the retention sweep): on a SQLite file the whole transaction, from its
        ``BEGIN IMMEDIATE`` to its commit, is one call to a thread of its own, so no
        hand-over to the event loop (which may be busy) lies inside it. Elsewhere ``fn``
        runs on an async connection (``run_sync``)."""
        if self._sync_path is None:
            async with self.engine.connect() as conn:
                if self.is_sqlite:  # SQLite without a file: BEGIN IMMEDIATE, as every writer
                    conn = await conn.execution_options(sqlite_begin="IMMEDIATE")
                async with conn.begin():
                    return await conn.run_sync(fn)
        engine = self._sync_engine()

        def run() -> T:
            with engine.connect() as plain:
                conn = plain.execution_options(sqlite_begin="IMMEDIATE")
                with conn.begin():
                    return fn(conn)

        try:
            return await asyncio.get_running_loop().run_in_executor(self._writer, run)
        finally:
            self._wrote = True

    def wrote(self) -> None:
        """A writer with a connection of its own committed (the next checkpoint is due)."""
        self._wrote = True

    async def checkpoint(self) -> int | None:
        """SQLite file: copy the write-ahead log into the database file, beside readers
        and writers (``PRAGMA wal_checkpoint(PASSIVE)``), on a thread of its own. Returns
        how many pages the log held; None when a checkpoint was already running (here or
        in another process) or on other databases."""
        if self._sync_path is None or self._checkpointing.locked():
            return None
        async with self._checkpointing:
            engine = self._sync_engine()
            self._wrote = False

            def run() -> tuple[int, int]:
                with engine.connect() as conn:
                    driver = conn.connection.driver_connection
                    assert driver is not None
                    busy, pages, _ = driver.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                    return int(busy), int(pages)

            busy, pages = await asyncio.get_running_loop().run_in_executor(self._checkpointer, run)
            if busy:
                return None
            self.checkpoints_made += 1
            return pages

    async def checkpoints(self) -> None:
        """Run until cancelled: a checkpoint soon after this process's writers committed,
        and now and then in any case (a command-line tool may have written). Failures
        are logged and tried again."""
        idle = 0
        while True:
            await asyncio.sleep(CHECKPOINT_SECONDS)
            idle += 1
            if not self._wrote and idle < IDLE_CHECKPOINTS:
                continue
            idle = 0
            try:
                await self.checkpoint()
            except Exception:
                log.warning("event=checkpoint_failed", exc_info=True)

    def _sync_engine(self) -> Engine:
        """The plain engine of a SQLite file, its reader threads and its writer thread."""
        if self._sync is None:
            self._sync = create_engine(
                f"sqlite:///{self._sync_path}", pool_size=READERS + 2, max_overflow=0
            )
            for hook in self._on_connect:
                event.listen(self._sync, "connect", hook)
            event.listen(self._sync, "begin", _sqlite_begin)
            self._readers = ThreadPoolExecutor(READERS, thread_name_prefix="db-reader")
            self._writer = ThreadPoolExecutor(1, thread_name_prefix="db-writer")
            self._checkpointer = ThreadPoolExecutor(
                1, thread_name_prefix="db-checkpoint", initializer=_in_the_background
            )
        return self._sync

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncConnection]:
        """A write transaction; committed when the block exits without an exception."""
        if self._write_lock is None:
            async with self.engine.begin() as conn:
                yield conn
            return
        async with self._slot(), self.engine.connect() as conn:
            conn = await conn.execution_options(sqlite_begin="IMMEDIATE")
            try:
                async with conn.begin():
                    yield conn
            finally:
                self._wrote = True

    @asynccontextmanager
    async def write_slot(self) -> AsyncIterator[None]:
        """This process's turn to write, for a writer with a connection of its own (the
        message writer on SQLite): it then never meets another of our writers inside
        SQLite. Other databases lock rows instead; there this is a no-op."""
        if self._write_lock is None:
            yield
            return
        async with self._slot():
            yield

    @asynccontextmanager
    async def _slot(self) -> AsyncIterator[None]:
        assert self._write_lock is not None
        self._wanting += 1
        try:
            await self._write_lock.acquire()
        finally:
            self._wanting -= 1
        try:
            yield
        finally:
            self._write_lock.release()

    def slot_wanted(self) -> bool:
        """Whether another writer of this process waits for the write slot: a long writer
        (the retention sweep) then ends its transaction early. Safe to ask from the
        thread that runs :meth:`run_write`."""
        return self._wanting > 0

    async def dispose(self) -> None:
        for pool in (self._readers, self._writer, self._checkpointer):
            if pool is not None:
                pool.shutdown()
        self._readers = self._writer = self._checkpointer = None
        if self._sync is not None:
            self._sync.dispose()
            self._sync = None
        await self.engine.dispose()


def _alembic_config(url: str, legacy_origin: str = "") -> Any:
    from alembic.config import Config

    cfg = Config(attributes={"legacy_origin": legacy_origin})
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


@dataclass(frozen=True, slots=True)
class Migrated:
    """What :func:`migrate` did: the schema revision before (None: no schema yet) and
    after, and whether it created the SQLite file."""

    before: str | None
    after: str
    created_file: bool = False

    def describe(self, url: str) -> str:
        """One line for a person (``chatserver migrate``)."""
        path = sqlite_path(url)
        where = str(path.absolute()) if path else make_url(url).render_as_string()
        if self.created_file:
            return f"created the database {where} (schema {self.after})"
        if self.before is None:
            return f"created the schema in {where} (schema {self.after})"
        if self.before != self.after:
            return f"migrated {where} from schema {self.before} to {self.after}"
        return f"{where} is up to date (schema {self.after})"


def migrate(url: str, revision: str = "head", *, legacy_origin: str = "") -> Migrated:
    """Bring the schema at ``url`` to ``revision``, creating a SQLite file (mode 0600) if
    there is none (blocking; call from a thread in async code). ``legacy_origin``: the
    origin existing staff accounts were made under (migration 0011)."""
    from alembic import command

    path = sqlite_path(url)
    created = False
    if path is not None and (not path.exists() or path.stat().st_size == 0):
        _new_sqlite_file(path)
        created = True
    config = _alembic_config(url, legacy_origin)
    command.upgrade(config, revision)
    return Migrated(config.attributes.get("before"), config.attributes["after"], created)


def _new_sqlite_file(path: Path) -> None:
    """A new database file with incremental auto-vacuum (it can only be chosen before the
    first table): the retention sweep then hands freed pages back to the file system."""
    import sqlite3

    _create_private(path)
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
