"""Retention through a real server and a real database file, with an injected clock:
each category goes exactly when due and is hidden before any sweep, holds keep what they
hold, statistics are recorded first, deletion is real in the file, backups cannot bring
anything back, and only one sweep runs at a time."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from conftest import ORIGIN, FakeClock, Server, client_key, credential, dump, until
from sqlalchemy import Engine, event, func, select

from chatserver.protocol.errors import ServerError
from chatserver.sdk.peers import ConsolePeer, login
from chatserver.storage import models as m
from chatserver.storage.db import Database, sqlite_path
from chatserver.storage.keystore import message_place, unseal
from chatserver.web.state import DB, KEYSTORE, SERVICE, SWEEPS
from retention import sweeper as sweeper_module
from retention.locks import sweep_lock
from retention.sweeper import Pace, Report, Sweeper

HOUR = 3600.0
DAY = 24 * HOUR


@pytest.fixture
async def world(make_server: Callable[..., Any]) -> dict[str, Any]:
    clock = FakeClock()
    server: Server = await make_server(
        clock=clock, frame_rate=1000.0, frame_burst=1000, session_hours=24 * 365.0
    )
    await server.team("alpha")
    await server.staff("anna", ["alpha"])
    return {"server": server, "clock": clock, "anna": await server.console("anna")}


def sweeper(server: Server, clock: FakeClock, **kw: Any) -> Sweeper:
    service = server.app[SERVICE]
    return Sweeper(
        server.app[DB],
        server.app[KEYSTORE],
        service.rules,
        clock,
        pause_ms=0,
        on_ended=service.ended_by_retention,
        **kw,
    )


async def closed_chat(server: Server, anna: ConsolePeer, text: bytes = b"ct") -> tuple[str, Any]:
    """A conversation with a message each way, closed by the counsellor."""
    client = await server.client()
    conv = (await client.start("alpha", client_key()))["conversation"]
    await client.send("c1", text)
    await anna.accept(conv)
    await anna.send(conv, "t1", text + b"-reply")
    await anna.close_conversation(conv)
    return conv, client


async def count(server: Server, table: Any, *where: Any) -> int:
    async with server.app[DB].read() as conn:
        return int(
            (await conn.execute(select(func.count()).select_from(table).where(*where))).scalar_one()
        )


async def test_messages_go_exactly_when_due_and_are_hidden_before_the_sweep(
    world: dict[str, Any],
) -> None:
    """Default rules: messages 48 h after the close, the record 90 days after. A second
    before, everything is there after a sweep; at the due time the messages are no longer
    served even before a sweep; the sweep then deletes them and their storage key."""
    server, clock, anna = world["server"], world["clock"], world["anna"]
    conv, _ = await closed_chat(server, anna)
    service = server.app[SERVICE]
    clock.advance(48 * HOUR - 0.001)
    await sweeper(server, clock).run()
    assert len(await service.store.messages_after(conv, 0)) == 2

    clock.advance(0.001)
    assert await service.store.messages_after(conv, 0) == []  # hidden, not yet swept
    assert await count(server, m.messages, m.messages.c.conversation_id == conv) == 2
    report = await sweeper(server, clock).run()
    assert report.counts["messages"] == 2
    assert report.keys_destroyed == 1
    assert await count(server, m.messages, m.messages.c.conversation_id == conv) == 0
    assert await service.store.conversation(conv) is not None  # the record stays

    clock.advance(90 * DAY - 48 * HOUR - 0.001)
    await sweeper(server, clock).run()
    assert await service.store.conversation(conv) is not None
    clock.advance(0.001)
    assert await service.store.conversation(conv) is None  # hidden
    report = await sweeper(server, clock).run()
    assert report.counts["conversations"] == 1
    assert await count(server, m.conversations, m.conversations.c.id == conv) == 0


async def test_abandoned_and_idle_conversations(world: dict[str, Any]) -> None:
    """An open chat idle for 6 h is closed by the sweep (abandoned, as nobody accepted it;
    the client is told), and an abandoned chat goes 24 h after the client's last
    activity."""
    server, clock = world["server"], world["clock"]
    client = await server.client()
    conv = (await client.start("alpha", client_key()))["conversation"]
    clock.advance(6 * HOUR - 0.001)
    await sweeper(server, clock).run()
    assert (await server.app[SERVICE].store.conversation(conv)).state.value == "waiting"  # type: ignore[union-attr]
    clock.advance(0.001)
    report = await sweeper(server, clock).run()
    assert report.counts["idle_closed"] == 1
    state = await until(client, "state", state="abandoned")
    assert state["reason"] == "idle"
    clock.advance(18 * HOUR - 0.001)  # 24 h after the last activity, less a millisecond
    await sweeper(server, clock).run()
    assert await count(server, m.conversations, m.conversations.c.id == conv) == 1
    clock.advance(0.001)
    report = await sweeper(server, clock).run()
    assert report.counts["conversations"] == 1
    facts = (await dump(server.settings.database_url))["stat_facts"]
    assert len(facts) == 1 and "abandoned" in facts[0]


async def test_a_rule_change_retimes_and_is_audited(world: dict[str, Any]) -> None:
    """A team rule set through the admin API applies to records that ended before it."""
    server, clock, anna = world["server"], world["clock"], world["anna"]
    conv, _ = await closed_chat(server, anna)
    await server.staff("root", [], role="admin")
    admin = await admin_http(server)
    status, body = await admin("PUT", "/api/teams/alpha/retention", {"messages": "2h"})
    assert status == 200, body
    messages = next(r for r in body["rules"] if r["category"] == "messages")
    assert (messages["duration"], messages["source"]) == ("2h", "team")
    clock.advance(2 * HOUR)
    assert await server.app[SERVICE].store.messages_after(conv, 0) == []
    audit = (await dump(server.settings.database_url))["audit"]
    assert any("retention.rule_changed" in row for row in audit)
    status, body = await admin("PUT", "/api/teams/alpha/retention", {"messages": "soon"})
    assert status == 400


async def test_a_held_conversation_survives_until_its_hold_expires(world: dict[str, Any]) -> None:
    server, clock, anna = world["server"], world["clock"], world["anna"]
    conv, _ = await closed_chat(server, anna)
    await server.staff("sue", ["alpha"], role="supervisor")
    sue = await staff_http(server, "sue")
    status, body = await sue(
        "POST", f"/api/conversations/{conv}/holds", {"reason": "court order 7", "days": 30}
    )
    assert status == 201, body
    clock.advance(29 * DAY)
    report = await sweeper(server, clock).run()
    assert report.holds_skipped == 1
    assert await count(server, m.messages, m.messages.c.conversation_id == conv) == 2
    clock.advance(1 * DAY)
    report = await sweeper(server, clock).run()
    assert report.counts["holds_expired"] == 1
    assert report.counts["messages"] == 2
    audit = (await dump(server.settings.database_url))["audit"]
    assert any("hold.placed" in row for row in audit) and any(
        "hold.expired" in row for row in audit
    )


async def test_statistics_are_recorded_before_the_purge(world: dict[str, Any]) -> None:
    """The anonymous facts, recorded as each conversation ends, give the same figures
    after the records are gone (tests/server/test_stats.py checks the figures)."""
    server, clock, anna = world["server"], world["clock"], world["anna"]
    for _ in range(3):
        await closed_chat(server, anna)
    recorded = (await dump(server.settings.database_url))["stat_facts"]
    assert len(recorded) == 3
    clock.advance(91 * DAY)
    report = await sweeper(server, clock).run()
    assert "statistics_recorded" not in report.counts  # nothing was missing
    assert report.counts["conversations"] == 3
    facts = (await dump(server.settings.database_url))["stat_facts"]
    assert facts == recorded
    columns = [c.name for c in m.stat_facts.columns]
    rows = [dict(zip(columns, f, strict=True)) for f in facts]
    assert [(r["outcome"], r["accepted"]) for r in rows] == [("closed", 1)] * 3
    assert all(r["waited_ms"] is not None and r["duration_ms"] is not None for r in rows)
    assert await count(server, m.conversations) == 0


async def test_a_backup_taken_before_cannot_be_read_after_the_sweep(world: dict[str, Any]) -> None:
    server, clock, anna = world["server"], world["clock"], world["anna"]
    conv, _ = await closed_chat(server, anna)
    backup = (await dump(server.settings.database_url))["messages"]
    columns = [c.name for c in m.messages.columns]
    sealed = [dict(zip(columns, row, strict=True)) for row in backup]
    clock.advance(3 * DAY)
    await sweeper(server, clock).run()
    for key_id, key in (await server.app[KEYSTORE].all_keys()).items():
        for row in sealed:
            with pytest.raises(ServerError):
                unseal(key, key_id, message_place(row["sender"], row["client_msg_id"]), row["body"])
    assert conv


async def test_deleted_bytes_leave_the_database_file(world: dict[str, Any]) -> None:
    """Canary: the sealed bodies as stored are in the SQLite file or its WAL before the
    sweep and nowhere after it; with secure_delete off the same scan finds them."""
    server, clock, anna = world["server"], world["clock"], world["anna"]
    path = sqlite_path(server.settings.database_url)
    if path is None:  # PostgreSQL: no row left, and the sweep's VACUUM ran without error
        await closed_chat(server, anna)
        clock.advance(3 * DAY)
        report = await sweeper(server, clock).run()
        assert report.counts["messages"] == 2 and report.errors == []
        assert await count(server, m.messages) == 0
        return
    found = await canaries(server, clock, anna, secure_delete=True)
    assert found == 0
    found = await canaries(server, clock, anna, secure_delete=False)
    assert found > 0


async def canaries(
    server: Server, clock: FakeClock, anna: ConsolePeer, *, secure_delete: bool
) -> int:
    path = sqlite_path(server.settings.database_url)
    assert path is not None
    blobs = []
    for i in range(20):
        marker = f"CANARY-{secure_delete}-{i}-".encode() * 40
        conv, _ = await closed_chat(server, anna, marker)
        async with server.app[DB].read() as conn:
            blobs += [
                bytes(b)
                for b in (
                    await conn.execute(
                        select(m.messages.c.body).where(m.messages.c.conversation_id == conv)
                    )
                ).scalars()
            ]

    def files() -> bytes:
        return b"".join(p.read_bytes() for p in (path, Path(f"{path}-wal")) if p.exists())

    assert all(blob[12:60] in files() for blob in blobs)  # the scan finds them before
    db = Database(server.settings.database_url)
    if not secure_delete:

        def off(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.cursor().execute("PRAGMA secure_delete=OFF")

        db.on_connect(off)
    try:
        clock.advance(3 * DAY)
        report = await Sweeper(
            db, server.app[KEYSTORE], server.app[SERVICE].rules, clock, pause_ms=0
        ).run()
        assert report.counts["messages"] == 40
    finally:
        await db.dispose()
    data = files()
    return sum(1 for blob in blobs if blob[12:60] in data)


def test_pace_fits_transactions_to_the_hold_target() -> None:
    """Rows per transaction start small, at most double, settle where a transaction holds
    the write slot about the target, shrink after a slow one, and stay within the batch."""
    pace = Pace(2000, target=0.005)
    assert pace.size == 16
    pace.learn(16, 0.0001)  # fast: may double, no more
    assert pace.size == 32
    for _ in range(10):
        pace.learn(pace.size, pace.size * 0.00001)  # 10 µs a row: 500 rows fit in 5 ms
    assert pace.size == 500
    pace.learn(500, 0.05)  # a slow disk: ten times longer
    assert pace.size == 50
    pace.learn(50, 0.5)  # never below the floor
    assert pace.size == 16
    for _ in range(20):
        pace.learn(pace.size, 0.0)
    assert pace.size == 2000  # never above the batch
    pace.learn(0, 1.0)  # nothing done: nothing learnt
    assert pace.size == 2000
    assert Pace(4, target=0.005).size == 4


async def test_a_batch_goes_in_short_transactions_keys_first(
    world: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """With a pace of one message a transaction, each transaction deletes one message
    (never more than a batch), the storage keys are destroyed before the first message
    row goes, and the pause comes after each batch, not after each transaction."""
    server, clock, anna = world["server"], world["clock"], world["anna"]
    convs = [(await closed_chat(server, anna))[0] for _ in range(3)]
    clock.advance(3 * DAY)
    keystore = server.app[KEYSTORE]
    events: list[tuple[str, int]] = []

    def deleted(_conn: Any, cursor: Any, statement: str, *_args: Any) -> None:
        if statement.startswith("DELETE FROM messages"):
            events.append(("messages", cursor.rowcount))

    engine = Engine  # every engine: the sweep's statements may run on a plain one
    event.listen(engine, "after_cursor_execute", deleted)
    destroy = keystore.destroy

    async def destroy_logged(key_ids: Any) -> list[str]:
        gone = await destroy(key_ids)
        events.append(("keys", len(gone)))
        return gone

    monkeypatch.setattr(keystore, "destroy", destroy_logged)
    try:
        one = sweeper(server, clock, batch=4)
        one._rows = Pace(4, target=0.0, floor=1)
        report = await one.run()
    finally:
        event.remove(engine, "after_cursor_execute", deleted)
    assert events[0] == ("keys", 3)
    rows = [n for kind, n in events if kind == "messages"]
    assert sorted(set(rows)) == [0, 1] and sum(rows) == 6 == report.counts["messages"]
    assert report.counts["conversations_emptied"] == 3
    assert report.batches == 2  # two conversations of two messages, then the third
    assert report.transactions >= len(rows) > report.batches
    assert report.as_detail()["longest_write_ms"] > 0
    c = m.conversations.c
    assert await count(server, m.conversations, c.id.in_(convs), c.messages_due_at.is_(None)) == 3


async def test_one_sweep_at_a_time(world: dict[str, Any]) -> None:
    """While another process holds the sweep lock (a PostgreSQL advisory lock or the lock
    file beside a SQLite database), a sweep does nothing; afterwards it runs."""
    server, clock, anna = world["server"], world["clock"], world["anna"]
    await closed_chat(server, anna)
    clock.advance(3 * DAY)
    other = Database(server.settings.database_url)
    try:
        async with sweep_lock(other) as got:
            assert got
            report = await sweeper(server, clock).run()
            assert report.skipped and not report.counts
    finally:
        await other.dispose()
    report = await sweeper(server, clock).run()
    assert not report.skipped and report.counts["messages"] == 2


async def test_the_sweep_report_is_audited_and_listed(world: dict[str, Any]) -> None:
    server, clock, anna = world["server"], world["clock"], world["anna"]
    await closed_chat(server, anna)
    clock.advance(3 * DAY)
    report: Report = await sweeper(server, clock).run()
    await server.staff("root", [], role="admin")
    admin = await admin_http(server)
    status, reports = await admin("GET", "/api/retention/reports")
    assert status == 200
    assert reports[0]["counts"] == report.as_detail()["counts"]
    assert "CANARY" not in str(reports) and "ct-reply" not in str(reports)


async def test_downtime_is_caught_up_by_one_sweep_at_start(
    make_server: Callable[..., Any], world: dict[str, Any]
) -> None:
    """A server that was down while data became due sweeps it right when it starts."""
    server, clock, anna = world["server"], world["clock"], world["anna"]
    conv, _ = await closed_chat(server, anna)
    clock.advance(5 * DAY)
    again: Server = await make_server(clock=clock, retention_in_process=True)
    report = await again.app[SWEEPS].wait_for(1)
    assert report is not None and report.counts["messages"] == 2
    assert await count(server, m.messages, m.messages.c.conversation_id == conv) == 0


async def test_preview_counts_what_would_go(world: dict[str, Any]) -> None:
    server, clock, anna = world["server"], world["clock"], world["anna"]
    await closed_chat(server, anna)
    await server.staff("root", [], role="admin")
    admin = await admin_http(server)
    clock.advance(24 * HOUR)
    status, body = await admin(
        "POST", "/api/teams/alpha/retention/preview", {"changes": {"messages": "12h"}}
    )
    assert status == 200, body
    row = next(r for r in body["rows"] if r["category"] == "messages")
    assert (row["now"], row["soon"], row["proposed_now"]) == (0, 2, 2)
    assert await count(server, m.messages) == 2  # a preview deletes nothing


async def admin_http(server: Server) -> Any:
    return await staff_http(server, "root")


async def staff_http(server: Server, username: str) -> Any:
    cookie, csrf = await login(server.url, username, credential=credential(username), origin=ORIGIN)

    async def call(method: str, path: str, body: Any = None) -> tuple[int, Any]:
        headers = {"Cookie": cookie, "X-CSRF-Token": csrf, "Origin": ORIGIN}
        async with (
            aiohttp.ClientSession() as http,
            http.request(method, server.url + path, json=body, headers=headers) as r,
        ):
            return r.status, await r.json()

    return call


async def test_a_waiting_writer_is_seen_while_the_slot_is_held(world: dict[str, Any]) -> None:
    """``slot_wanted`` is what the sweep asks between two statements: true exactly while
    another writer of the process waits for the write slot (SQLite)."""
    db: Database = world["server"].app[DB]
    if not db.is_sqlite:  # PostgreSQL has no write slot: nothing ever waits for it
        assert not db.slot_wanted()
        return
    entered = asyncio.Event()

    async def writer() -> None:
        async with db.write():
            entered.set()

    async with db.write_slot():
        assert not db.slot_wanted()  # the holder itself does not count
        waiting = asyncio.create_task(writer())
        while not db.slot_wanted():  # the task runs up to the lock
            await asyncio.sleep(0)
        assert not entered.is_set()
    await waiting
    assert entered.is_set() and not db.slot_wanted()


async def test_a_sweep_transaction_ends_early_for_a_waiting_writer(
    world: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """With a live writer always waiting, every transaction of the sweep deletes one step
    of messages and commits; with none, one transaction takes the whole batch. Nothing
    is lost either way: every message goes, and each conversation is emptied once."""
    server, clock, anna = world["server"], world["clock"], world["anna"]
    for _ in range(2):
        await closed_chat(server, anna)
    clock.advance(3 * DAY)
    monkeypatch.setattr(sweeper_module, "STEP_ROWS", 1)
    db = server.app[DB]
    monkeypatch.setattr(db, "slot_wanted", lambda: True)
    urgent = sweeper(server, clock, batch=4)
    urgent._rows = Pace(4, target=10.0, floor=4)  # the pace alone would take all four
    assert await messages_per_transaction(urgent) == [1, 1, 1, 1, 0]
    monkeypatch.setattr(db, "slot_wanted", lambda: False)
    for _ in range(2):
        await closed_chat(server, anna)
    clock.advance(3 * DAY)
    calm = sweeper(server, clock, batch=4)
    calm._rows = Pace(4, target=10.0, floor=4)
    assert await messages_per_transaction(calm) == [4, 0]
    assert await count(server, m.messages) == 0


async def messages_per_transaction(sweep: Sweeper) -> list[int]:
    """Runs the sweep; the messages each of its message transactions deleted."""
    deleted: list[int] = []
    transaction = sweep._transaction

    async def counted(report: Report, fn: Any) -> Any:
        result = await transaction(report, fn)
        if getattr(fn, "func", None) is not None and fn.func.__name__ == "chunk":
            deleted.append(result[0])
        return result

    sweep._transaction = counted  # type: ignore[method-assign]
    report = await sweep.run()
    assert report.counts["messages"] == 4 and report.counts["conversations_emptied"] == 2
    return deleted
