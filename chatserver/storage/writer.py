"""Group commit: many messages, one transaction, every sender acked after the commit.

Senders call :meth:`MessageWriter.submit` and wait. One task takes everything that is
waiting (up to ``batch``), writes it in one transaction and resolves every waiter once
the commit has returned. While that commit is on disk the next batch gathers, so the
number of fsyncs per second stays flat while the number of messages grows.

A message whose conversation is not in a state that accepts it, or whose client message
id is already taken by different bytes, fails alone; the rest of the batch commits. A team
message also carries its author's session: the batch checks that the session is live and
the account enabled in the same transaction that stores it, so a console need not read
the session again for every message it sends.

On a SQLite file the writer has a connection of its own on a thread of its own, and a
whole batch (read, decide, write, commit) is one call to that thread with statements
sqlite3 keeps prepared: the event loop hands over the batch once and gets the outcomes
back once, instead of a round trip per statement. It still takes the database's write
slot (:meth:`Database.write_slot`), so it never meets another writer of this process
inside SQLite. Other databases take the same decisions through SQLAlchemy.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from chatserver.protocol.errors import (
    ChatError,
    Conflict,
    Forbidden,
    NotFound,
    ServerError,
    SessionExpired,
)
from chatserver.protocol.lifecycle import Actor, Event, State, transition
from chatserver.storage import models as m
from chatserver.storage.db import Database, sqlite_path, sqlite_pragmas
from chatserver.storage.keystore import Keystore, conversation_key_id, message_place, seal, unseal

__all__ = [
    "MessageWriter",
    "Outcome",
    "Pending",
    "message_place",
    "storage_keys",
    "store_messages",
]

log = logging.getLogger("chatserver.storage")


@dataclass(frozen=True, slots=True)
class Pending:
    """One message to store. ``author_id`` is set for team messages and must hold the chat."""

    conversation_id: str
    sender: str  # "client" or "team"
    client_msg_id: str
    kind: str
    gen: int
    n: int
    body: bytes
    author_id: str | None = None
    #: For a team message from a console: the hash of the author's session token, checked
    #: live (not expired, account enabled) in the batch's transaction, and the teams the
    #: author was a member of at the console's last full check.
    session: str | None = None
    teams: frozenset[int] | None = None


GONE = "this conversation does not exist (any more)"
SESSION_ENDED = "your session has ended; please sign in again"


@dataclass(frozen=True, slots=True)
class Outcome:
    seq: int
    created_at: int
    duplicate: bool  # the same bytes were stored before under this id: nothing new written
    state: State
    team_id: int
    counsellor_id: str | None


@dataclass(slots=True)
class _Item:
    pending: Pending
    future: asyncio.Future[Outcome] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


class MessageWriter:
    """The single writer of message rows in this process."""

    def __init__(
        self, db: Database, keystore: Keystore, clock: Callable[[], int], batch: int = 512
    ) -> None:
        self.db = db
        self.keystore = keystore
        self.clock = clock
        self.batch = batch
        self._queue: asyncio.Queue[_Item] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        path = sqlite_path(db.url) if db.is_sqlite else None
        self._sqlite = _SqliteBatches(path) if path is not None else None
        #: Figures for /metrics.
        self.commits = 0
        self.messages = 0

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="message-writer")

    async def stop(self) -> None:
        """Finish what is queued, then stop."""
        if self._task is None:
            return
        await self._queue.join()
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None
        if self._sqlite is not None:
            await self._sqlite.close()

    async def submit(self, pending: Pending) -> Outcome:
        """Store one message; returns after its transaction has committed."""
        if self._task is None:
            raise ServerError("the message writer is not running")
        item = _Item(pending)
        self._queue.put_nowait(item)
        return await item.future

    async def _run(self) -> None:
        while True:
            first = await self._queue.get()
            items = [first]
            while len(items) < self.batch and not self._queue.empty():
                items.append(self._queue.get_nowait())
            try:
                await self._commit(items)
            finally:
                for _ in items:
                    self._queue.task_done()

    async def _commit(self, items: list[_Item]) -> None:
        # A consistent lock order across processes (PostgreSQL row locks).
        items.sort(key=lambda i: i.pending.conversation_id)
        try:
            keys = await storage_keys(self.keystore, {i.pending.conversation_id for i in items})
            batch = [i.pending for i in items]
            if self._sqlite is not None:
                async with self.db.write_slot():
                    results = await self._sqlite.store(batch, self.clock(), keys)
            else:
                async with self.db.write() as conn:
                    results = await store_messages(conn, batch, self.clock(), keys)
        except Exception:
            log.exception("event=group_commit_failed size=%d", len(items))
            for item in items:
                if not item.future.done():
                    item.future.set_exception(ServerError("storage is unavailable; resend"))
            return
        self.commits += 1
        if self._sqlite is not None:
            self.db.wrote()
        for item, result in zip(items, results, strict=True):
            if item.future.done():  # the sender went away
                continue
            if isinstance(result, ChatError):
                item.future.set_exception(result)
            else:
                if not result.duplicate:
                    self.messages += 1
                item.future.set_result(result)


async def storage_keys(keystore: Keystore, conversation_ids: Iterable[str]) -> dict[str, bytes]:
    """The storage keys of these conversations (absent once destroyed)."""
    keys = {}
    for cid in conversation_ids:
        key = await keystore.get(conversation_key_id(cid))
        if key is not None:
            keys[cid] = key
    return keys


async def store_messages(
    conn: AsyncConnection, batch: Sequence[Pending], now: int, keys: Mapping[str, bytes]
) -> list[Outcome | ChatError]:
    """Write a batch in the open transaction with a fixed number of statements: lock and
    read the conversations, read the ids already used and the authors' sessions, then one
    UPDATE and one INSERT (executemany). Returns one outcome or refusal per message, in
    order; refused messages write nothing."""
    # Conversations without a storage key are being deleted: they are refused below.
    conv_ids = sorted({p.conversation_id for p in batch} & keys.keys())
    c = m.conversations.c
    convs = {
        row.id: _Conv(State(row.state), row.team_id, row.counsellor_id, row.last_seq)
        for row in await conn.execute(
            select(c.id, c.state, c.team_id, c.counsellor_id, c.last_seq)
            .where(c.id.in_(conv_ids))
            .order_by(c.id)
            .with_for_update()
        )
    }
    mc = m.messages.c
    stored = await conn.execute(
        select(
            mc.conversation_id,
            mc.sender,
            mc.client_msg_id,
            mc.seq,
            mc.created_at,
            mc.body,
            mc.gen,
            mc.n,
            mc.kind,
        ).where(
            mc.conversation_id.in_(conv_ids),
            mc.client_msg_id.in_(sorted({p.client_msg_id for p in batch})),
        )
    )
    sessions = {p.session for p in batch if p.session is not None}
    live: set[tuple[str, str]] = set()
    if sessions:
        sc = m.sessions.c
        live = {
            (r.token_hash, r.staff_id)
            for r in await conn.execute(
                select(sc.token_hash, sc.staff_id)
                .join(m.staff, m.staff.c.id == sc.staff_id)
                .where(
                    sc.token_hash.in_(sorted(sessions)),
                    sc.expires_at > now,
                    m.staff.c.disabled_at.is_(None),
                )
            )
        }
    plan = _plan(batch, now, keys, convs, live, stored)
    if plan.rows:
        await conn.execute(
            update(m.conversations)
            .where(c.id == bindparam("cid"))
            .values(last_seq=bindparam("seq"), last_activity_at=now),
            [{"cid": cid, "seq": seq} for cid, seq in plan.last_seqs],
        )
        await conn.execute(insert(m.messages), plan.rows)
    return plan.results


class _SqliteBatches:
    """The writer's own connection to a SQLite file, used from one thread only: a batch
    is one call (read, decide, write, commit) with prepared statements."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._conn: sqlite3.Connection | None = None
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="message-writer")

    async def store(
        self, batch: Sequence[Pending], now: int, keys: Mapping[str, bytes]
    ) -> list[Outcome | ChatError]:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._thread, self._store, batch, now, keys)

    async def close(self) -> None:
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._thread, self._close)
        self._thread.shutdown()

    def _close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            conn = sqlite3.connect(self.path, check_same_thread=False, cached_statements=64)
            sqlite_pragmas(conn, None)  # the same as every pooled connection: FULL, WAL, ...
            self._conn = conn
        return self._conn

    def _store(
        self, batch: Sequence[Pending], now: int, keys: Mapping[str, bytes]
    ) -> list[Outcome | ChatError]:
        conn = self._connection()
        conv_ids = sorted({p.conversation_id for p in batch} & keys.keys())
        msg_ids = sorted({p.client_msg_id for p in batch})
        sessions = sorted({p.session for p in batch if p.session is not None})
        conn.execute("BEGIN IMMEDIATE")
        try:
            convs = {
                cid: _Conv(State(state), team_id, counsellor_id, last_seq)
                for cid, state, team_id, counsellor_id, last_seq in conn.execute(
                    "SELECT id, state, team_id, counsellor_id, last_seq FROM conversations"
                    f" WHERE id IN ({_marks(conv_ids)})",
                    conv_ids,
                )
            }
            stored = conn.execute(
                "SELECT conversation_id, sender, client_msg_id, seq, created_at, body, gen, n,"
                f" kind FROM messages WHERE conversation_id IN ({_marks(conv_ids)})"
                f" AND client_msg_id IN ({_marks(msg_ids)})",
                [*conv_ids, *msg_ids],
            ).fetchall()
            live: set[tuple[str, str]] = set()
            if sessions:
                live = set(
                    conn.execute(
                        "SELECT sessions.token_hash, sessions.staff_id FROM sessions"
                        " JOIN staff ON staff.id = sessions.staff_id"
                        f" WHERE sessions.token_hash IN ({_marks(sessions)})"
                        " AND sessions.expires_at > ? AND staff.disabled_at IS NULL",
                        [*sessions, now],
                    )
                )
            plan = _plan(batch, now, keys, convs, live, _rows(stored))
            if plan.rows:
                conn.executemany(
                    "UPDATE conversations SET last_seq = ?, last_activity_at = ? WHERE id = ?",
                    [(seq, now, cid) for cid, seq in plan.last_seqs],
                )
                conn.executemany(
                    f"INSERT INTO messages ({', '.join(_COLUMNS)})"
                    f" VALUES ({', '.join(':' + c for c in _COLUMNS)})",
                    plan.rows,
                )
            conn.execute("COMMIT")
        except BaseException:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
            raise
        return plan.results


_COLUMNS = (
    "conversation_id",
    "seq",
    "sender",
    "author_id",
    "client_msg_id",
    "kind",
    "gen",
    "n",
    "body",
    "created_at",
)


def _marks(values: Sequence[Any]) -> str:
    return ", ".join("?" * len(values)) or "NULL"


@dataclass(frozen=True, slots=True)
class _Stored:
    conversation_id: str
    sender: str
    client_msg_id: str
    seq: int
    created_at: int
    body: bytes
    gen: int
    n: int
    kind: str


def _rows(rows: Iterable[tuple[Any, ...]]) -> list[_Stored]:
    return [_Stored(*r) for r in rows]


@dataclass(slots=True)
class _Plan:
    results: list[Outcome | ChatError]
    rows: list[dict[str, Any]]
    last_seqs: list[tuple[str, int]]


def _plan(
    batch: Sequence[Pending],
    now: int,
    keys: Mapping[str, bytes],
    convs: dict[str, _Conv],
    live: set[tuple[str, str]],
    stored: Iterable[Any],
) -> _Plan:
    """Decide every message of a batch against what the database holds: the same for
    every database."""
    seen: dict[tuple[str, str, str], tuple[int, int, bytes, int, int, str]] = {
        (r.conversation_id, r.sender, r.client_msg_id): (
            r.seq,
            r.created_at,
            unseal(
                keys[r.conversation_id],
                conversation_key_id(r.conversation_id),
                message_place(r.sender, r.client_msg_id),
                bytes(r.body),
            ),
            r.gen,
            r.n,
            r.kind,
        )
        for r in stored
    }
    results: list[Outcome | ChatError] = []
    rows: list[dict[str, Any]] = []
    for p in batch:
        try:
            if p.session is not None and (p.session, p.author_id) not in live:
                raise SessionExpired(SESSION_ENDED)
            if p.conversation_id not in keys:  # its key is destroyed: it is being deleted
                raise NotFound(GONE)
            results.append(_admit(p, convs, seen, rows, now, keys[p.conversation_id]))
        except ChatError as exc:
            exc.ref = p.client_msg_id
            results.append(exc)
    touched = sorted({r["conversation_id"] for r in rows})
    return _Plan(results, rows, [(cid, convs[cid].last_seq) for cid in touched])


@dataclass(slots=True)
class _Conv:
    state: State
    team_id: int
    counsellor_id: str | None
    last_seq: int


def _admit(
    p: Pending,
    convs: dict[str, _Conv],
    seen: dict[tuple[str, str, str], tuple[int, int, bytes, int, int, str]],
    rows: list[dict[str, Any]],
    now: int,
    key: bytes,
) -> Outcome:
    """Decide one message against the batch's view: duplicate, refusal or a new row."""
    conv = convs.get(p.conversation_id)
    if conv is None:
        raise NotFound(GONE)
    if p.teams is not None and conv.team_id not in p.teams:
        raise Forbidden("this conversation belongs to a team you are not a member of")
    actor = Actor.CLIENT if p.sender == "client" else Actor.COUNSELLOR
    if actor is Actor.COUNSELLOR and (p.author_id is None or conv.counsellor_id != p.author_id):
        raise Forbidden("you do not hold this conversation")
    existing = seen.get((p.conversation_id, p.sender, p.client_msg_id))
    if existing is not None:
        seq, created_at, *content = existing
        if tuple(content) != (p.body, p.gen, p.n, p.kind):
            raise Conflict("this message id was already used for different content")
        return Outcome(seq, created_at, True, conv.state, conv.team_id, conv.counsellor_id)
    transition(conv.state, Event.SEND, actor)
    conv.last_seq += 1
    seen[(p.conversation_id, p.sender, p.client_msg_id)] = (
        conv.last_seq,
        now,
        p.body,
        p.gen,
        p.n,
        p.kind,
    )
    rows.append(
        {
            "conversation_id": p.conversation_id,
            "seq": conv.last_seq,
            "sender": p.sender,
            "author_id": p.author_id,
            "client_msg_id": p.client_msg_id,
            "kind": p.kind,
            "gen": p.gen,
            "n": p.n,
            "body": seal(
                key,
                conversation_key_id(p.conversation_id),
                message_place(p.sender, p.client_msg_id),
                p.body,
            ),
            "created_at": now,
        }
    )
    return Outcome(conv.last_seq, now, False, conv.state, conv.team_id, conv.counsellor_id)
