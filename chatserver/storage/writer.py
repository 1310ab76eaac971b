"""Group commit: many messages, one transaction, every sender acked after the commit.

Senders call :meth:`MessageWriter.submit` and wait. One task takes everything that is
waiting (up to ``batch``), writes it in one transaction and resolves every waiter once
the commit has returned. While that commit is on disk the next batch gathers, so the
number of fsyncs per second stays flat while the number of messages grows.

A message whose conversation is not in a state that accepts it, or whose client message
id is already taken by different bytes, fails alone; the rest of the batch commits.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from ..protocol.errors import ChatError, Conflict, Forbidden, NotFound, ServerError
from ..protocol.lifecycle import Actor, Event, State, transition
from . import models as m
from .db import Database
from .keystore import Keystore, conversation_key_id, message_place, seal, unseal

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
            async with self.db.write() as conn:
                batch = [i.pending for i in items]
                results = await store_messages(conn, batch, self.clock(), keys)
        except Exception:
            log.exception("event=group_commit_failed size=%d", len(items))
            for item in items:
                if not item.future.done():
                    item.future.set_exception(ServerError("storage is unavailable; resend"))
            return
        self.commits += 1
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
    read the conversations, read the ids already used, then one UPDATE and one INSERT
    (executemany). Returns one outcome or refusal per message, in order; refused messages
    write nothing."""
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
        for r in await conn.execute(
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
    }
    results: list[Outcome | ChatError] = []
    rows: list[dict[str, Any]] = []
    for p in batch:
        try:
            if p.conversation_id not in keys:  # its key is destroyed: it is being deleted
                raise NotFound("no such conversation")
            results.append(_admit(p, convs, seen, rows, now, keys[p.conversation_id]))
        except ChatError as exc:
            exc.ref = p.client_msg_id
            results.append(exc)
    if rows:
        touched = {r["conversation_id"] for r in rows}
        await conn.execute(
            update(m.conversations)
            .where(c.id == bindparam("cid"))
            .values(last_seq=bindparam("seq"), last_activity_at=now),
            [{"cid": cid, "seq": convs[cid].last_seq} for cid in sorted(touched)],
        )
        await conn.execute(insert(m.messages), rows)
    return results


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
        raise NotFound("no such conversation")
    existing = seen.get((p.conversation_id, p.sender, p.client_msg_id))
    if existing is not None:
        seq, created_at, *content = existing
        if tuple(content) != (p.body, p.gen, p.n, p.kind):
            raise Conflict("this message id was already used for different content")
        return Outcome(seq, created_at, True, conv.state, conv.team_id, conv.counsellor_id)
    actor = Actor.CLIENT if p.sender == "client" else Actor.COUNSELLOR
    transition(conv.state, Event.SEND, actor)
    if actor is Actor.COUNSELLOR and (p.author_id is None or conv.counsellor_id != p.author_id):
        raise Forbidden("you do not hold this conversation")
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
