"""``chatserver backup`` and ``chatserver restore``: the database and the keystore, each on
its own and never together (docs/operations.md, "Storage keys and backups").

SQLite: ``VACUUM INTO`` writes a consistent copy while the server runs (free pages and the
WAL are not copied); restoring puts the file in place while the server is stopped.
PostgreSQL: ``pg_dump --format=custom`` and ``pg_restore --clean``.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import sqlite3
from pathlib import Path

from sqlalchemy.engine import make_url

from chatserver.storage.db import sqlite_path

__all__ = ["BackupError", "backup", "restore"]


class BackupError(Exception):
    """A backup or restore that cannot be done; the message says why."""


def _libpq_url(url: str) -> str:
    """The SQLAlchemy URL as pg_dump and pg_restore take it."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def _run(*command: str) -> None:
    if shutil.which(command[0]) is None:
        raise BackupError(f"{command[0]} is not installed (Debian: postgresql-client)")
    proc = await asyncio.create_subprocess_exec(
        *command, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE
    )
    _, err = await proc.communicate()
    if proc.returncode != 0:
        last = err.decode(errors="replace").strip().splitlines()[-1:] or ["failed"]
        raise BackupError(f"{command[0]}: {last[0]}")


async def backup(url: str, target: Path) -> Path:
    """A consistent copy of the database at ``url`` in ``target`` (which must not exist)."""
    if target.exists():
        raise BackupError(f"{target} exists; a backup never overwrites a file")
    target.parent.mkdir(parents=True, exist_ok=True)
    path = sqlite_path(url)
    if path is not None:
        if not path.is_file():
            raise BackupError(f"there is no database at {path}")
        await asyncio.to_thread(_vacuum_into, path, target)
    else:
        await _run("pg_dump", "--format=custom", f"--file={target}", _libpq_url(url))
    os.chmod(target, 0o600)
    return target


def _vacuum_into(path: Path, target: Path) -> None:
    """A transaction-consistent copy, readers and the server's writers go on meanwhile."""
    conn = sqlite3.connect(path, timeout=30, isolation_level=None)
    try:
        conn.execute("VACUUM INTO ?", (str(target),))
    finally:
        conn.close()


async def restore(url: str, source: Path) -> None:
    """Put a backup made by :func:`backup` back (stop the server first)."""
    if not source.is_file():
        raise BackupError(f"there is no backup at {source}")
    path = sqlite_path(url)
    if path is not None:
        for leftover in (Path(f"{path}-wal"), Path(f"{path}-shm")):
            leftover.unlink(missing_ok=True)
        shutil.copyfile(source, path)
        os.chmod(path, 0o600)
        return
    await _run(
        "pg_restore",
        "--clean",
        "--if-exists",
        "--no-owner",
        f"--dbname={_libpq_url(url)}",
        str(source),
    )
