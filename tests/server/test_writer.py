"""The group-commit writer on a real database: one transaction per batch, per-message
refusals that write nothing, duplicates inside one batch recognised."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from conftest import client_key, dump
from sqlalchemy import insert

from chatserver.ops import cli
from chatserver.protocol.errors import Conflict, Forbidden, InvalidTransition, NotFound
from chatserver.storage import models as m
from chatserver.storage.db import Database
from chatserver.storage.keystore import Keystore, conversation_key_id
from chatserver.storage.writer import MessageWriter, Pending


@pytest.fixture
async def keystore(tmp_path: Path) -> AsyncIterator[Keystore]:
    store = Keystore(f"sqlite+aiosqlite:///{tmp_path}/writer.keys.db", create=True)
    await store.open()
    for cid in ("c1", "c2", "c3"):
        await store.create(conversation_key_id(cid), 1)
    yield store
    await store.close()


@pytest.fixture
async def db(db_url: str) -> AsyncIterator[Database]:
    database = Database(db_url)
    await cli.team_add(database, "alpha", "Alpha", [])
    async with database.write() as conn:
        for cid, state in (("c1", "active"), ("c2", "waiting"), ("c3", "closed")):
            await conn.execute(
                insert(m.conversations).values(
                    id=cid,
                    team_id=1,
                    state=state,
                    token_hash=cid * 8,
                    client_key=client_key(),
                    consent_version="v1",
                    counsellor_id=None,
                    last_seq=0,
                    created_at=1,
                    last_activity_at=1,
                    transfers=0,
                )
            )
    yield database
    await database.dispose()


def msg(conv: str, mid: str, body: bytes = b"x", sender: str = "client") -> Pending:
    return Pending(conv, sender, mid, "msg", 0, 0, body, None)


async def test_one_batch_mixed_outcomes(db: Database, keystore: Keystore) -> None:
    """A batch commits its good messages once and refuses the others, each alone."""
    writer = MessageWriter(db, keystore, lambda: 1000, batch=64)
    writer.start()
    try:
        results = await asyncio.gather(
            writer.submit(msg("c1", "a")),
            writer.submit(msg("c1", "a")),  # the same bytes again in the same batch
            writer.submit(msg("c1", "a", b"other")),  # the same id, other bytes
            writer.submit(msg("c2", "b")),
            writer.submit(msg("zz", "c")),  # no such conversation
            writer.submit(msg("c3", "d")),  # closed
            writer.submit(msg("c1", "e", sender="team")),  # team message, nobody holds it
            writer.submit(msg("c1", "f")),
            return_exceptions=True,
        )
    finally:
        await writer.stop()
    a, a_again, a_other, b, missing, closed, team, f = results
    assert (a.seq, a.duplicate) == (1, False)  # type: ignore[union-attr]
    assert (a_again.seq, a_again.duplicate) == (1, True)  # type: ignore[union-attr]
    assert isinstance(a_other, Conflict)
    assert b.seq == 1  # type: ignore[union-attr]
    assert isinstance(missing, NotFound)
    assert isinstance(closed, InvalidTransition)
    assert isinstance(team, Forbidden)
    assert f.seq == 2  # type: ignore[union-attr]
    assert writer.commits == 1
    rows = (await dump(db.url))["messages"]
    assert sorted((r[1], r[2], r[5]) for r in rows) == [
        ("c1", 1, "a"),
        ("c1", 2, "f"),
        ("c2", 1, "b"),
    ]
    seq = [c.name for c in m.conversations.columns].index("last_seq")
    convs = {r[0]: r[seq] for r in (await dump(db.url))["conversations"]}
    assert convs == {"c1": 2, "c2": 1, "c3": 0}


async def test_acks_wait_for_the_commit(db: Database, keystore: Keystore) -> None:
    """submit() returns only once the row is readable from another connection."""
    writer = MessageWriter(db, keystore, lambda: 1000)
    writer.start()
    try:
        outcome = await writer.submit(msg("c1", "x"))
        other = Database(db.url, pooled=False)
        rows = (await dump(other.url))["messages"]
        await other.dispose()
        assert [(r[1], r[2]) for r in rows] == [("c1", outcome.seq)]
    finally:
        await writer.stop()
