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
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from ..protocol.errors import ChatError, Conflict, Forbidden, NotFound, ServerError
from ..protocol.lifecycle import Actor, Event, State, transition
from . import models as m
from .db import Database

__all__ = ["MessageWriter", "Outcome", "Pending"]

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

    def __init__(self, db: Database, clock: Callable[[], int], batch: int = 512) -> None:
        self.db = db
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
        results: list[Outcome | ChatError] = []
        try:
            async with self.db.write() as conn:
                now = self.clock()
                for item in items:
                    try:
                        results.append(await _store_one(conn, item.pending, now))
                    except ChatError as exc:
                        results.append(exc)
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


async def _store_one(conn: AsyncConnection, p: Pending, now: int) -> Outcome:
    conv = (
        await conn.execute(
            select(
                m.conversations.c.state,
                m.conversations.c.team_id,
                m.conversations.c.counsellor_id,
            )
            .where(m.conversations.c.id == p.conversation_id)
            .with_for_update()
        )
    ).first()
    if conv is None:
        raise NotFound("no such conversation", ref=p.client_msg_id)
    state = State(conv.state)
    existing = (
        await conn.execute(
            select(
                m.messages.c.seq,
                m.messages.c.created_at,
                m.messages.c.body,
                m.messages.c.gen,
                m.messages.c.n,
                m.messages.c.kind,
            ).where(
                m.messages.c.conversation_id == p.conversation_id,
                m.messages.c.sender == p.sender,
                m.messages.c.client_msg_id == p.client_msg_id,
            )
        )
    ).first()
    if existing is not None:
        same = (bytes(existing.body), existing.gen, existing.n, existing.kind) == (
            p.body,
            p.gen,
            p.n,
            p.kind,
        )
        if not same:
            raise Conflict(
                "this message id was already used for different content", ref=p.client_msg_id
            )
        return Outcome(
            existing.seq, existing.created_at, True, state, conv.team_id, conv.counsellor_id
        )
    actor = Actor.CLIENT if p.sender == "client" else Actor.COUNSELLOR
    try:
        transition(state, Event.SEND, actor)
    except ChatError as exc:
        exc.ref = p.client_msg_id
        raise
    if actor is Actor.COUNSELLOR and conv.counsellor_id != p.author_id:
        raise Forbidden("you do not hold this conversation", ref=p.client_msg_id)
    seq = (
        await conn.execute(
            update(m.conversations)
            .where(m.conversations.c.id == p.conversation_id)
            .values(last_seq=m.conversations.c.last_seq + 1, last_activity_at=now)
            .returning(m.conversations.c.last_seq)
        )
    ).scalar_one()
    await conn.execute(
        insert(m.messages).values(
            conversation_id=p.conversation_id,
            seq=seq,
            sender=p.sender,
            author_id=p.author_id,
            client_msg_id=p.client_msg_id,
            kind=p.kind,
            gen=p.gen,
            n=p.n,
            body=p.body,
            created_at=now,
        )
    )
    return Outcome(seq, now, False, state, conv.team_id, conv.counsellor_id)
