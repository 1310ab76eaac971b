"""Storage keys kept apart from the database: crypto-shredding for backups.

Every stored message body and envelope is wrapped once more by the server with AES-256-GCM
under a per-conversation storage key (``conv:<id>``). The keys live in a separate
database (by default a SQLite file beside the main one, ``*.keys.db``) that database
backups never include. Deleting a conversation destroys its key first; from then on no
copy of the main database, however old, can be read for that conversation, whatever
end-to-end keys survive. The keystore's own backups, if any, must be kept for a bounded
number of days (docs/operations.md).

This layer protects against stolen backups and disks; the end-to-end layer protects
against the server itself. The server can read these keys, never the plaintext.
"""

from __future__ import annotations

import os
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import (
    BigInteger,
    Column,
    LargeBinary,
    MetaData,
    String,
    Table,
    delete,
    insert,
    select,
    text,
)

from chatserver.e2e.encoding import seq
from chatserver.protocol.errors import ServerError
from chatserver.storage.db import Database

__all__ = [
    "Keystore",
    "conversation_key_id",
    "envelope_place",
    "message_place",
    "seal",
    "unseal",
]

metadata = MetaData()
storage_keys = Table(
    "storage_keys",
    metadata,
    Column("id", String(80), primary_key=True),
    Column("key", LargeBinary, nullable=False),
    Column("created_at", BigInteger, nullable=False),
)

FORMAT = b"\x01"  # AES-256-GCM, 12-byte nonce
CACHE = 10_000
#: How long a process keeps a key it read in memory. A key destroyed by another process
#: (the sweeper, a second server) is forgotten here within this window at the latest.
CACHE_SECONDS = 60.0


def conversation_key_id(conversation_id: str) -> str:
    return f"conv:{conversation_id}"


def message_place(sender: str, client_msg_id: str) -> str:
    """What a message row's storage seal is bound to, besides its conversation."""
    return f"msg:{sender}:{client_msg_id}"


def envelope_place(envelope_id: str) -> str:
    return f"env:{envelope_id}"


class Keystore:
    """Create, read and destroy storage keys; seal and open what the server stores."""

    def __init__(
        self, url: str, *, create: bool = False, clock: Callable[[], float] = time.monotonic
    ) -> None:
        """``create``: make a missing SQLite keystore (``chatserver migrate`` does);
        without it a missing file is :class:`~chatserver.storage.db.DatabaseMissing`:
        an empty keystore beside a database with conversations would open none of them.
        ``clock`` (seconds) times the cache (CACHE_SECONDS)."""
        self.db = Database(url, pool_size=2, create=create, what="keystore")
        self.clock = clock
        self._cache: OrderedDict[str, tuple[bytes, float]] = OrderedDict()

    async def open(self) -> None:
        async with self.db.engine.begin() as conn:
            await conn.run_sync(metadata.create_all)

    async def close(self) -> None:
        await self.db.dispose()

    def _remember(self, key_id: str, key: bytes) -> None:
        self._cache[key_id] = (key, self.clock() + CACHE_SECONDS)
        self._cache.move_to_end(key_id)
        while len(self._cache) > CACHE:
            self._cache.popitem(last=False)

    async def create(self, key_id: str, now: int) -> bytes:
        """A new random key under ``key_id`` (committed before this returns)."""
        key = os.urandom(32)
        async with self.db.write() as conn:
            await conn.execute(insert(storage_keys).values(id=key_id, key=key, created_at=now))
        self._remember(key_id, key)
        return key

    async def get(self, key_id: str) -> bytes | None:
        """The key, or None once destroyed."""
        cached = self._cache.get(key_id)
        if cached is not None:
            if self.clock() < cached[1]:
                return cached[0]
            del self._cache[key_id]  # read again: another process may have destroyed it
        async with self.db.read() as conn:
            key = (
                await conn.execute(select(storage_keys.c.key).where(storage_keys.c.id == key_id))
            ).scalar()
        if key is not None:
            self._remember(key_id, bytes(key))
        return bytes(key) if key is not None else None

    async def need(self, key_id: str) -> bytes:
        key = await self.get(key_id)
        if key is None:
            raise ServerError("a storage key is missing")
        return key

    async def destroy(self, key_ids: Iterable[str]) -> list[str]:
        """Delete keys and make the deletion real in the keystore's files; returns the ids
        that existed (for the deletion report)."""
        ids = sorted(set(key_ids))
        for key_id in ids:
            self._cache.pop(key_id, None)
        if not ids:
            return []
        async with self.db.write() as conn:
            found = list(
                (
                    await conn.execute(select(storage_keys.c.id).where(storage_keys.c.id.in_(ids)))
                ).scalars()
            )
            await conn.execute(delete(storage_keys).where(storage_keys.c.id.in_(ids)))
        await self._scrub()
        return found

    async def _scrub(self) -> None:
        """Push deleted key bytes out of the WAL (SQLite; secure_delete overwrote the
        pages) or out of dead tuples (PostgreSQL)."""
        async with self.db.engine.connect() as conn:
            if self.db.is_sqlite:
                await conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
            else:
                conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
                await conn.execute(text("VACUUM storage_keys"))

    async def all_keys(self) -> dict[str, bytes]:
        """Every key that still exists (for tests and the deletion proof)."""
        async with self.db.read() as conn:
            rows = await conn.execute(select(storage_keys.c.id, storage_keys.c.key))
            return {r[0]: bytes(r[1]) for r in rows}


def seal(key: bytes, key_id: str, place: str, data: bytes) -> bytes:
    """Wrap ``data`` for storage; ``place`` names the row so rows cannot be swapped."""
    nonce = os.urandom(12)
    return FORMAT + nonce + AESGCM(key).encrypt(nonce, data, seq("cc storage", key_id, place))


def unseal(key: bytes, key_id: str, place: str, blob: bytes) -> bytes:
    if blob[:1] != FORMAT or len(blob) < 29:
        raise ServerError("a stored blob has an unknown format")
    try:
        return AESGCM(key).decrypt(blob[1:13], blob[13:], seq("cc storage", key_id, place))
    except InvalidTag:
        raise ServerError("a stored blob does not open with its storage key") from None
