"""Crypto-shredding: storage keys apart from the database, destroyed with the data, so a
backup of the database taken before a deletion cannot bring the conversation back."""

from __future__ import annotations

import secrets
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from conftest import PG_URL, Server, _pg_admin, _postgres_reachable, client_key, dump, need_service
from sqlalchemy import select
from sqlalchemy.engine import make_url

from chatserver.protocol.errors import ServerError
from chatserver.sdk.peers import ChatRefused
from chatserver.storage import models as m
from chatserver.storage.db import Database, sqlite_path
from chatserver.storage.keystore import (
    CACHE_SECONDS,
    Keystore,
    conversation_key_id,
    message_place,
    seal,
    unseal,
)
from chatserver.web.state import SERVICE


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def keystore(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Keystore]:
    """A keystore in its own SQLite file or its own PostgreSQL database."""
    if request.param == "sqlite":
        store = Keystore(f"sqlite+aiosqlite:///{tmp_path}/k.keys.db", create=True)
        name = None
    else:
        need_service(_postgres_reachable(), f"PostgreSQL is not reachable at {PG_URL}")
        name = f"chat_k_{secrets.token_hex(6)}"
        await _pg_admin(f'CREATE DATABASE "{name}"')
        store = Keystore(make_url(PG_URL).set(database=name).render_as_string(False))
    await store.open()
    yield store
    await store.close()
    if name:
        await _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def test_create_get_destroy(keystore: Keystore) -> None:
    """A destroyed key is gone for good and reported once."""
    key = await keystore.create("conv:a", 1)
    await keystore.create("conv:b", 1)
    assert await keystore.get("conv:a") == key
    assert await keystore.destroy(["conv:a", "conv:zz"]) == ["conv:a"]
    assert await keystore.get("conv:a") is None
    assert set(await keystore.all_keys()) == {"conv:b"}
    assert await keystore.destroy(["conv:a"]) == []
    path = sqlite_path(str(keystore.db.url))
    if path is not None:  # the key's bytes are in neither the file nor its WAL
        data = b"".join(p.read_bytes() for p in (path, Path(f"{path}-wal")) if p.exists())
        assert key not in data


async def test_another_process_forgets_a_destroyed_key_within_the_window(
    keystore: Keystore,
) -> None:
    """A second process (here: a second Keystore on the same store, with its own clock)
    that read a key keeps it at most CACHE_SECONDS after a deletion elsewhere; then it reads
    again and finds nothing (docs/operations.md, "Storage keys and backups")."""
    now = [1000.0]
    other = Keystore(keystore.db.url, clock=lambda: now[0])
    await other.open()
    try:
        key = await keystore.create("conv:a", 1)
        assert await other.get("conv:a") == key
        assert await keystore.destroy(["conv:a"]) == ["conv:a"]
        now[0] += CACHE_SECONDS - 1
        assert await other.get("conv:a") == key  # the stated window, no longer
        now[0] += 1
        assert await other.get("conv:a") is None
        assert "conv:a" not in other._cache
    finally:
        await other.close()


def test_seal_binds_key_and_place() -> None:
    """A sealed body opens only with its key, its conversation and its row."""
    key = bytes(32)
    blob = seal(key, "conv:a", message_place("client", "m1"), b"ciphertext")
    assert unseal(key, "conv:a", message_place("client", "m1"), blob) == b"ciphertext"
    for args in (("conv:b", message_place("client", "m1")), ("conv:a", "msg:team:m1")):
        with pytest.raises(ServerError):
            unseal(key, *args, blob)
    with pytest.raises(ServerError):
        unseal(bytes([1]) * 32, "conv:a", message_place("client", "m1"), blob)


async def test_backup_taken_before_a_deletion_cannot_bring_it_back(server: Server) -> None:
    """After a client deletes, a copy of the database made before holds only sealed rows
    that no surviving key opens, and no plain body bytes."""
    marker = b"MARKER-" + secrets.token_hex(8).encode()
    await server.staff("anna", ["alpha"])
    console = await server.console("anna")
    client = await server.client()
    started = await client.start("alpha", client_key())
    await console.accept(started["conversation"])
    for i in range(3):
        await client.send(f"m{i}", marker + bytes([i]))
    await console.envelope(started["conversation"], "n1", "note", marker + b"note")
    db_path = sqlite_path(server.settings.database_url)

    # The "backup": a copy of the database (a file copy on SQLite, a row dump on PostgreSQL).
    backup = await dump(server.settings.database_url)
    if db_path is not None:
        files = [p for p in (db_path, Path(f"{db_path}-wal")) if p.exists()]
        raw = b"".join(Path(shutil.copy(p, f"{p}.bak")).read_bytes() for p in files)
        assert marker not in raw  # stored bodies are sealed even before deletion
    assert marker not in repr(backup).encode()
    columns = [c.name for c in m.messages.columns]
    sender, msg_id, body = (columns.index(n) for n in ("sender", "client_msg_id", "body"))
    sealed = [(r[sender], r[msg_id], bytes(r[body])) for r in backup["messages"]]
    assert len(sealed) == 3
    # Before the deletion the conversation's key opens the backup's rows: the check below
    # that no surviving key does is a real one.
    key_id = conversation_key_id(started["conversation"])
    key = await server.app[SERVICE].store.keystore.need(key_id)
    opened = {unseal(key, key_id, message_place(s, i), b) for s, i, b in sealed}
    assert opened == {marker + bytes([i]) for i in range(3)}

    await client.delete()
    keystore = server.app[SERVICE].store.keystore
    survivors = await keystore.all_keys()
    assert conversation_key_id(started["conversation"]) not in survivors
    for sender, msg_id, body in sealed:
        for key_id, key in survivors.items():
            with pytest.raises(ServerError):
                unseal(key, key_id, message_place(sender, msg_id), body)
    after = await dump(server.settings.database_url)
    assert after["messages"] == [] and after["key_envelopes"] == []


async def test_rows_of_a_conversation_without_key_are_refused(server: Server) -> None:
    """A message to a conversation whose key is destroyed is refused, not stored."""
    client = await server.client()
    started = await client.start("alpha", client_key())
    await server.app[SERVICE].store.keystore.destroy([conversation_key_id(started["conversation"])])
    with pytest.raises(ChatRefused) as refused:
        await client.send("m1", b"x")
    assert refused.value.code == "not_found"
    db = Database(server.settings.database_url, pooled=False)
    async with db.read() as conn:
        assert (await conn.execute(select(m.messages.c.id))).all() == []
    await db.dispose()
