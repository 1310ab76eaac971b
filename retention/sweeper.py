"""The sweep: one pass that deletes what the rules say is due, and proves it.

Order matters: expired holds are released; idle open conversations are ended; anonymous
statistics are recorded for every conversation before it may go; then message content
(its storage key first: crypto-shredding), whole conversations, retired epochs' team keys,
sessions, invitations, blocks, deactivated accounts and old audit entries. Deletes go in
bounded batches on indexed due-time columns with a pause between them, each batch in
transactions that hold the write slot a few milliseconds (:class:`Pace`) and end early
for a live writer, with the WAL checkpointed beside them: a live message waits for one
statement of such a transaction and its commit at most.
Afterwards the storage is compacted (SQLite: WAL checkpoint with truncate, incremental
vacuum; PostgreSQL: VACUUM of the swept tables), and a content-free report is appended to
the hash-chained audit log.

Only one sweep runs at a time across processes (:mod:`retention.locks`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from functools import partial
from typing import Any, TypeVar

from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import AsyncConnection

from chatserver.protocol.lifecycle import Actor, Event, State, transition
from chatserver.records.retention import (
    MINUTE,
    EndedConversation,
    due_values,
    effective_rules,
    record_stats,
)
from chatserver.retention_rules import Rules
from chatserver.storage import retention as storage
from chatserver.storage import teams as stored_teams
from chatserver.storage.db import Database
from chatserver.storage.keystore import Keystore, conversation_key_id
from chatserver.storage.store import audit_tx
from chatserver.teams.epoch_keys import TeamKeys
from retention.locks import sweep_lock

__all__ = ["Report", "Sweeper"]

log = logging.getLogger("retention.sweeper")

T = TypeVar("T")

#: Told of each conversation the sweep ended for idleness, after the commit.
Ended = Callable[["EndedConversation"], Awaitable[None]]


#: Free pages handed back to the file system between two pauses (8 MiB of 4 KiB pages).
VACUUM_PAGES = 2048

#: About how long one write transaction of the sweep holds the write slot: SQLite has one,
#: and a live message that arrives meanwhile waits for the transaction to end. Rows and
#: pages per transaction adapt to it (:class:`Pace`), never more than ``retention_batch``.
HOLD_S = 0.004

#: Messages one statement of a sweep transaction deletes; between two, the transaction
#: commits early when a live writer waits for the write slot.
STEP_ROWS = 64

#: The sweep has the write-ahead log checkpointed about every this many pages it wrote,
#: beside its own next transactions (no commit checkpoints: :mod:`chatserver.storage.db`);
#: the log stays short, and so does each checkpoint's fsync.
CHECKPOINT_PAGES = 400

SWEPT_TABLES = (
    "messages",
    "key_envelopes",
    "conversations",
    "holds",
    "sessions",
    "invites",
    "blocks",
    "staff",
    "audit",
)


@dataclass
class Report:
    """What one sweep did, in counts only: never an id of a client, never content."""

    started_at: int
    finished_at: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    batches: int = 0
    holds_skipped: int = 0
    keys_destroyed: int = 0
    transactions: int = 0
    longest_write_ms: float = 0.0  # the longest hold of the write slot by one transaction
    errors: list[str] = field(default_factory=list)
    skipped: bool = False  # another sweep held the lock

    def add(self, category: str, n: int) -> None:
        if n:
            self.counts[category] = self.counts.get(category, 0) + n

    def as_detail(self) -> dict[str, Any]:
        return {
            "counts": dict(sorted(self.counts.items())),
            "batches": self.batches,
            "holds_skipped": self.holds_skipped,
            "keys_destroyed": self.keys_destroyed,
            "transactions": self.transactions,
            "longest_write_ms": round(self.longest_write_ms, 1),
            "errors": self.errors,
            "duration_ms": self.finished_at - self.started_at,
        }


class Pace:
    """How many rows (or pages) the next transaction takes, so that it holds the write
    slot about ``target`` seconds: learnt from the time per row of the one before, at
    most ``limit``, at least ``floor``, and at most twice the last size (a cold start or
    a slow disk must not make one transaction long)."""

    def __init__(self, limit: int, target: float, floor: int = 16) -> None:
        self.limit, self.target = limit, target
        self.floor = min(floor, limit)
        self.size = self.floor

    def learn(self, done: int, held: float) -> None:
        if done <= 0:
            return
        fit = round(done * self.target / held) if held > 0 else self.limit
        self.size = max(self.floor, min(self.limit, 2 * self.size, fit))


class Sweeper:
    def __init__(
        self,
        db: Database,
        keystore: Keystore,
        rules: Rules,
        clock: Callable[[], float] = time.time,
        *,
        batch: int = 500,
        pause_ms: int = 20,
        on_ended: Ended | None = None,
    ) -> None:
        self.db, self.keystore, self.rules, self.clock = db, keystore, rules, clock
        self.batch, self.pause = batch, pause_ms / 1000
        self.on_ended = on_ended
        self._rows = Pace(batch, HOLD_S)  # messages
        self._pages = Pace(VACUUM_PAGES, HOLD_S)
        self._paces: dict[str, Pace] = {}  # other steps' rows
        self._held = 0.0  # how long the last transaction held the write slot
        self._unchecked = 0  # transactions since the last checkpoint
        self._checkpoint_every = 1  # transactions, learnt from the pages they wrote
        self._checkpointing: asyncio.Task[None] | None = None

    def now_ms(self) -> int:
        return int(self.clock() * 1000)

    async def run(self) -> Report:
        """One sweep, under the cross-process lock; a sweep already running elsewhere
        makes this one return at once with ``skipped``."""
        report = Report(self.now_ms())
        async with sweep_lock(self.db) as acquired:
            if not acquired:
                report.skipped = True
                return report
            # The report's interval lies inside the lock: reports never overlap.
            report.started_at = self.now_ms()
            steps = (
                self._release_expired_holds,
                self._close_idle,
                self._record_statistics,
                self._purge_content,
                self._purge_conversations,
                self._retire_epochs,
                self._purge_simple,
            )
            for step in steps:
                try:
                    await step(report)
                except Exception as exc:  # a failed step must not stop the others
                    log.exception("retention step %s failed", step.__name__)
                    report.errors.append(f"{step.__name__.strip('_')}: {type(exc).__name__}")
            await self._checkpoint_done()
            await self._compact(report)
            report.finished_at = self.now_ms()
            async with self.db.write() as conn:
                await audit_tx(
                    conn,
                    report.finished_at,
                    "system",
                    "retention.sweep",
                    None,
                    **report.as_detail(),
                )
        return report

    # ------------------------------------------------------------------ helpers
    def _held_for(self, report: Report, held: float) -> None:
        self._held = held
        self._unchecked += 1
        report.transactions += 1
        report.longest_write_ms = max(report.longest_write_ms, held * 1000)

    async def _transaction(self, report: Report, fn: Callable[[Connection], T]) -> T:
        """A write transaction of the sweep: ``fn`` with a plain connection, on SQLite one
        call to the database's writer thread from ``BEGIN`` to commit. How long it held
        the write slot goes into ``_held`` and the report."""
        async with self.db.write_slot():
            started = time.perf_counter()
            result = await self.db.run_write(fn)
            held = time.perf_counter() - started
        self._held_for(report, held)
        return result

    @asynccontextmanager
    async def _write(self, report: Report) -> AsyncIterator[AsyncConnection]:
        """A write transaction with an async connection, for the steps whose statements are
        shared with the server's own async code (statistics); timed like the others."""
        async with self.db.write() as conn:
            started = time.perf_counter()
            yield conn
        self._held_for(report, time.perf_counter() - started)

    async def _paced(
        self,
        report: Report,
        step: str,
        ids: list[Any],
        work: Callable[[list[Any]], Awaitable[None]],
    ) -> None:
        """One batch: ``work`` (one transaction) on parts of ``ids`` sized by the step's
        ``Pace``, with the checkpoint between them and the pause after the batch."""
        pace = self._paces.setdefault(step, Pace(self.batch, HOLD_S))
        done = 0
        while done < len(ids):
            part = ids[done : done + pace.size]
            await work(part)
            pace.learn(len(part), self._held)
            done += len(part)
            if done < len(ids):
                await self._between()
        await self._pause(report)

    async def _pause(self, report: Report) -> None:
        """Between two batches."""
        report.batches += 1
        await self._rest()

    async def _rest(self) -> None:
        """Give the write slot to live chats for ``pause``; the WAL checkpoint, which
        needs no write slot, runs in that time."""
        self._checkpoint()
        await asyncio.sleep(self.pause)

    async def _between(self) -> None:
        """Between two transactions of one batch: live writers waiting for the write slot
        take it (first come, first served); a checkpoint starts when one is due."""
        if self._unchecked >= self._checkpoint_every:
            self._checkpoint()
        await asyncio.sleep(0)

    def _checkpoint(self) -> None:
        """SQLite: start copying what the last transactions wrote out of the write-ahead
        log (about every ``CHECKPOINT_PAGES``), beside live writers and beside the sweep's
        next transactions: a checkpoint needs no write slot. At most one runs at a time."""
        if not self.db.is_sqlite or not self._unchecked:
            return
        if self._checkpointing is not None and not self._checkpointing.done():
            return
        transactions, self._unchecked = self._unchecked, 0
        self._checkpointing = asyncio.create_task(self._copy_log(transactions))

    async def _copy_log(self, transactions: int) -> None:
        """One passive checkpoint. A failure is only logged: the checkpoint at the end of
        the sweep does it again, and reports."""
        try:
            pages = await self.db.checkpoint()
        except Exception:
            log.warning("retention checkpoint failed", exc_info=True)
            return
        if pages is None:  # the server's own checkpoint was running
            self._unchecked += transactions
            return
        # The log restarts after a complete checkpoint, so its length now is about what
        # the transactions since the last one wrote.
        self._checkpoint_every = max(1, CHECKPOINT_PAGES * transactions // max(1, pages))

    async def _checkpoint_done(self) -> None:
        if self._checkpointing is not None:
            await self._checkpointing
            self._checkpointing = None

    async def _team_rules(self) -> dict[int, dict[str, int]]:
        async with self.db.read() as conn:
            teams = await stored_teams.ids(conn)
            return {t: await effective_rules(conn, self.rules, t) for t in teams}

    async def _ids(self, find: Callable[..., Awaitable[list[T]]]) -> list[T]:
        """Up to a batch of what ``find`` (a storage query taking ``batch``) finds, in a
        read transaction of its own."""
        async with self.db.read() as conn:
            return await find(conn, batch=self.batch)

    # ------------------------------------------------------------------ steps
    async def _release_expired_holds(self, report: Report) -> None:
        now = self.now_ms()
        async with self.db.write() as conn:
            holds = await storage.expired_holds(conn, now)
            for hold in holds:
                await storage.mark_hold_expired(conn, hold)
                await audit_tx(conn, now, "system", "hold.expired", hold.conversation)
        report.add("holds_expired", len(holds))

    async def _close_idle(self, report: Report) -> None:
        for team_id, effective in (await self._team_rules()).items():
            while True:
                now = self.now_ms()
                limit = now - effective["idle_close"] * MINUTE
                ids = await self._ids(partial(storage.idle_ids, team_id=team_id, limit=limit))
                if not ids:
                    break
                ended: list[EndedConversation] = []
                async with self.db.write() as conn:
                    for row in await storage.idle_rows(conn, ids, limit):
                        event = Event.ABANDON if row.state == State.WAITING.value else Event.CLOSE
                        new = transition(State(row.state), event, Actor.SYSTEM)
                        dues = due_values(new, now, row.last_activity_at, effective)
                        category = "idle" if new is State.CLOSED else None
                        await storage.end_idle(conn, row.id, new, now, category, dues)
                        ended.append(
                            EndedConversation(
                                row.id, team_id, row.team, State(row.state), row.counsellor_id, new
                            )
                        )
                    if ended:
                        await record_stats(conn, [e.id for e in ended], now)
                        await audit_tx(
                            conn,
                            now,
                            "system",
                            "retention.idle_closed",
                            str(team_id),
                            count=len(ended),
                        )
                report.add("idle_closed", len(ended))
                for conversation in ended:
                    if self.on_ended is not None:
                        await self.on_ended(conversation)
                await self._pause(report)

    async def _record_statistics(self, report: Report) -> None:
        while True:
            now = self.now_ms()
            ids = await self._ids(partial(storage.statistics_due, now=now))
            if not ids:
                return

            async def record(part: list[str], now: int = now) -> None:
                async with self._write(report) as conn:
                    report.add("statistics_recorded", await record_stats(conn, part, now))

            await self._paced(report, "statistics", ids, record)

    async def _skip_held(self, report: Report, what: str) -> None:
        """Count the conversations a hold keeps from this step (``content`` or whole
        ``conversation``)."""
        now = self.now_ms()
        async with self.db.read() as conn:
            count = await storage.held_due(conn, what, now)
        report.holds_skipped = max(report.holds_skipped, count)

    async def _purge_content(self, report: Report) -> None:
        """Messages and notes of conversations past ``messages_due_at``: the storage keys
        go first, then the rows, in batches of about ``batch`` messages (whole
        conversations while they fit: a conversation's ``last_seq`` is its number of
        messages); ``messages_due_at`` is cleared once done."""
        await self._skip_held(report, "content")
        while True:
            now = self.now_ms()
            due = await self._ids(partial(storage.content_due, now=now))
            if not due:
                return
            destroyed = await self.keystore.destroy([conversation_key_id(i) for i, _ in due])
            report.keys_destroyed += len(destroyed)
            group: list[str] = []
            size = 0
            for conversation_id, messages in due:
                if group and size + messages > self.batch:
                    await self._empty(report, group)
                    group, size = [], 0
                group.append(conversation_id)
                size += messages
            await self._empty(report, group)

    async def _empty(self, report: Report, conversation_ids: list[str]) -> None:
        """One batch: the messages of these conversations (``batch`` at most, unless one
        conversation is longer: then a pause after each ``batch``), in transactions of
        ``Pace`` rows; the last one also deletes their notes and clears
        ``messages_due_at``.

        A transaction deletes ``STEP_ROWS`` at a time and commits early when a live
        writer waits for the write slot: that writer then waits for one step and the
        commit, not for the rest of the transaction."""
        since_pause = 0

        def chunk(conn: Connection, rows: int) -> tuple[int, int, bool]:
            """(messages deleted, notes deleted, whether these conversations are done)"""
            gone = 0
            while gone < rows:
                step = min(STEP_ROWS, rows - gone)
                done = storage.delete_messages(conn, conversation_ids, step)
                gone += done
                if done < step:
                    break  # the last of them
                if self.db.slot_wanted():
                    return gone, 0, False
            else:
                return gone, 0, False
            return gone, storage.finish_content(conn, conversation_ids), True

        while True:
            rows = self._rows.size
            gone, envelopes, finished = await self._transaction(report, partial(chunk, rows=rows))
            if finished or gone >= rows:  # one that ended early says little about the pace
                self._rows.learn(gone, self._held)
            report.add("messages", gone)
            since_pause += gone
            if finished:
                report.add("envelopes", envelopes)
                report.add("conversations_emptied", len(conversation_ids))
                if since_pause:  # else the pause came just before this last transaction
                    await self._pause(report)
                else:
                    await self._between()
                return
            if since_pause >= self.batch:
                await self._pause(report)
                since_pause = 0
            else:
                await self._between()

    async def _purge_conversations(self, report: Report) -> None:
        await self._skip_held(report, "conversation")
        while True:
            now = self.now_ms()
            ids = await self._ids(partial(storage.conversations_due, now=now))
            if not ids:
                return
            destroyed = await self.keystore.destroy([conversation_key_id(i) for i in ids])
            report.keys_destroyed += len(destroyed)

            async def purge(part: list[str]) -> None:
                drop = partial(storage.delete_conversations, ids=part)
                report.add("conversations", await self._transaction(report, drop))

            await self._paced(report, "conversations", ids, purge)

    async def _retire_epochs(self, report: Report) -> None:
        teamkeys = TeamKeys(self.db, self.keystore)
        for team_id, effective in (await self._team_rules()).items():
            now = self.now_ms()
            limit = now - effective["epoch_keys"] * MINUTE
            async with self.db.read() as conn:
                epochs = await storage.epochs_due(conn, team_id, limit, now)
            for epoch in epochs:
                destroyed = await teamkeys.destroy_epoch(team_id, epoch, "system", now)
                report.keys_destroyed += len(destroyed)
                async with self.db.write() as conn:
                    await storage.retire_epoch(conn, team_id, epoch, now)
                report.add("epochs_retired", 1)

    async def _purge_simple(self, report: Report) -> None:
        """Records with one timestamp each: sessions, invitations, blocks, deactivated
        accounts, audit entries (operator-wide rules: these are not a team's)."""
        rules = self.rules.effective({})
        for category in ("sessions", "invites", "blocks", "staff", "audit"):
            while True:
                limit = self.now_ms() - rules[category] * MINUTE
                ids = await self._ids(
                    partial(storage.operator_due_ids, category=category, limit=limit)
                )
                if not ids:
                    break

                async def purge(part: list[Any], category: str = category) -> None:
                    drop = partial(storage.delete_operator_rows, category=category, ids=part)
                    report.add(category, await self._transaction(report, drop))

                await self._paced(report, category, ids, purge)

    async def _incremental_vacuum(self, report: Report) -> None:
        """Hand free pages back to the file system, in transactions of ``Pace`` pages,
        with the pause after each ``VACUUM_PAGES`` (between two writers, never during
        one)."""

        def vacuum(conn: Connection, pages: int) -> int:
            free = storage.free_pages(conn)
            if free:
                storage.incremental_vacuum(conn, pages)
            return free

        since_pause = 0
        while True:
            pages = self._pages.size
            free = await self._transaction(report, partial(vacuum, pages=pages))
            if not free:
                return
            self._pages.learn(min(pages, free), self._held)
            since_pause += pages
            if since_pause >= VACUUM_PAGES:
                await self._rest()
                since_pause = 0
            else:
                await self._between()

    async def _compact(self, report: Report) -> None:
        """Give deleted pages back and leave no copy in the write-ahead log."""
        try:
            if self.db.is_sqlite:
                started = time.perf_counter()
                await self._incremental_vacuum(report)
                await self._checkpoint_done()
                vacuumed = time.perf_counter()
                async with self.db.engine.connect() as conn:
                    # PASSIVE copies the log beside live writers; TRUNCATE, which makes
                    # them wait, then has little left to copy.
                    log_pages = await storage.wal_checkpoint(conn, "PASSIVE")
                    passive = time.perf_counter()
                    await storage.wal_checkpoint(conn, "TRUNCATE")
                log.info(
                    "event=retention_compacted vacuum_ms=%d passive_ms=%d truncate_ms=%d "
                    "log_pages=%d",
                    (vacuumed - started) * 1000,
                    (passive - vacuumed) * 1000,
                    (time.perf_counter() - passive) * 1000,
                    log_pages,
                )
            else:
                async with self.db.engine.connect() as conn:
                    await storage.vacuum(conn, SWEPT_TABLES)
        except Exception as exc:
            log.exception("retention compaction failed")
            report.errors.append(f"compact: {type(exc).__name__}")
