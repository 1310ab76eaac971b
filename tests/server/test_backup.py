"""Backups as an operator takes them: a backup made before retention deleted a
conversation, restored afterwards, brings back rows nobody can read (their storage key
is gone), and a sweep deletes them again once they are due. On SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from conftest import Server, dump
from sqlalchemy import func, select
from test_cli import chatserver, ok, refused
from test_retention import closed_chat

from chatserver.protocol.errors import ServerError
from chatserver.storage import models as m
from chatserver.storage.db import Database, sqlite_path
from chatserver.storage.keystore import Keystore, message_place, unseal
from chatserver.storage.store import Store


async def test_a_restored_backup_cannot_bring_deleted_conversations_back(
    make_server: Any, tmp_path: Path
) -> None:
    server: Server = await make_server()
    url = server.settings.database_url
    await server.team("alpha")
    await server.staff("anna", ["alpha"])
    conv, _ = await closed_chat(server, await server.console("anna"), b"before the backup")

    backup = tmp_path / "backups" / "chat.backup"
    said = ok(chatserver(url, tmp_path, "backup", str(backup)))
    assert "The keystore is not in it" in said
    assert backup.stat().st_mode & 0o777 == 0o600
    refused(chatserver(url, tmp_path, "backup", str(backup)), "never overwrites")
    sealed = (await dump(url))["messages"]
    assert len(sealed) == 2

    ok(chatserver(url, tmp_path, "retention", "rules", "alpha", "--set", "messages=0m"))
    assert "messages: 2" in ok(chatserver(url, tmp_path, "retention", "run"))

    # Restore: on SQLite onto a new machine's file, on PostgreSQL in place.
    target = url
    if sqlite_path(url) is not None:
        target = f"sqlite+aiosqlite:///{tmp_path / 'restored.db'}"
    env = {"CHAT_DATABASE_URL": target, "CHAT_KEYSTORE_URL": server.settings.keystore}
    ok(chatserver(url, tmp_path, "restore", str(backup), **env))
    db = Database(target, pooled=False)
    keystore = Keystore(server.settings.keystore)
    await keystore.open()
    try:
        async with db.read() as conn:
            rows = (
                await conn.execute(
                    select(m.messages.c.sender, m.messages.c.client_msg_id, m.messages.c.body)
                )
            ).all()
        assert len(rows) == 2  # the rows are back ...
        store = Store(db, keystore)
        assert await store.messages_after(conv, 0) == []  # ... but nothing opens them
        for key_id, key in (await keystore.all_keys()).items():
            for sender, msg_id, body in rows:
                with pytest.raises(ServerError):
                    unseal(key, key_id, message_place(sender, msg_id), bytes(body))
        # The backup has the rules of its day; once due under them, the rows go again.
        ok(
            chatserver(
                target, tmp_path, "retention", "rules", "alpha", "--set", "messages=0m", **env
            )
        )
        assert "messages: 2" in ok(chatserver(target, tmp_path, "retention", "run", **env))
        async with db.read() as conn:
            assert (
                await conn.execute(select(func.count()).select_from(m.messages))
            ).scalar_one() == 0
    finally:
        await keystore.close()
        await db.dispose()
