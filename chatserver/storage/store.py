"""Queries: every read and write of the chat server goes through :class:`Store`.

The same SQLAlchemy Core statements run on SQLite and PostgreSQL. Methods that change
several rows take an open write connection so that callers decide the transaction; the
``*_tx`` free functions are the building blocks, the :class:`Store` methods open their own
transactions.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, and_, delete, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from chatserver.protocol.frames import PAGE
from chatserver.protocol.lifecycle import State
from chatserver.storage import models as m
from chatserver.storage.audit import audit_tx
from chatserver.storage.db import Database
from chatserver.storage.keystore import Keystore, conversation_key_id, message_place, unseal

__all__ = [
    "ConversationRow",
    "MessageRow",
    "StaffRow",
    "Store",
    "TeamRow",
    "audit_tx",  # chatserver.storage.audit's, still importable from here
    "requeue_held",
]


@dataclass(frozen=True, slots=True)
class ResumeView:
    """:meth:`Store.resume_view`: ``place`` is the place in the queue (0: not waiting)."""

    row: ConversationRow
    blocked: bool
    messages: list[MessageRow]
    place: int


@dataclass(frozen=True, slots=True)
class TeamRow:
    id: int
    slug: str
    name: str
    archived_at: int | None


@dataclass(frozen=True, slots=True)
class StaffRow:
    id: str
    username: str
    display_name: str
    role: str
    credential_hash: str
    totp_secret: str | None
    cap: int | None
    disabled_at: int | None
    kdf_salt: str


def _staff_row(row: Any) -> StaffRow:
    return StaffRow(
        row.id,
        row.username,
        row.display_name,
        row.role,
        row.credential_hash,
        row.totp_secret,
        row.cap,
        row.disabled_at,
        row.kdf_salt,
    )


@dataclass(frozen=True, slots=True)
class ConversationRow:
    id: str
    team_id: int
    team: str
    topic: str | None
    state: State
    token_hash: str
    client_key: bytes
    counsellor_id: str | None
    last_seq: int
    created_at: int
    queued_at: int | None
    last_activity_at: int
    epoch: int | None


@dataclass(frozen=True, slots=True)
class MessageRow:
    conversation_id: str
    seq: int
    sender: str
    client_msg_id: str
    kind: str
    gen: int
    n: int
    body: bytes
    created_at: int
    #: The staff member who sent a team message (None for the client's, or once the
    #: account is gone); shown to consoles only.
    author_id: str | None = None


_CONV_COLUMNS = (
    m.conversations.c.id,
    m.conversations.c.team_id,
    m.teams.c.slug,
    m.topics.c.slug,
    m.conversations.c.state,
    m.conversations.c.token_hash,
    m.conversations.c.client_key,
    m.conversations.c.counsellor_id,
    m.conversations.c.last_seq,
    m.conversations.c.created_at,
    m.conversations.c.queued_at,
    m.conversations.c.last_activity_at,
    m.conversations.c.epoch,
)
_CONV_FROM = m.conversations.join(m.teams, m.teams.c.id == m.conversations.c.team_id).outerjoin(
    m.topics, m.topics.c.id == m.conversations.c.topic_id
)
_MSG_COLUMNS = (
    m.messages.c.conversation_id,
    m.messages.c.seq,
    m.messages.c.sender,
    m.messages.c.client_msg_id,
    m.messages.c.kind,
    m.messages.c.gen,
    m.messages.c.n,
    m.messages.c.body,
    m.messages.c.created_at,
    m.messages.c.author_id,
)


def _conversation(row: Any) -> ConversationRow:
    return ConversationRow(
        row[0],
        row[1],
        row[2],
        row[3],
        State(row[4]),
        row[5],
        bytes(row[6]),
        row[7],
        row[8],
        row[9],
        row[10],
        row[11],
        row[12],
    )


def _message(row: Any) -> MessageRow:
    return MessageRow(
        row[0], row[1], row[2], row[3], row[4], row[5], row[6], bytes(row[7]), row[8], row[9]
    )


def visible(now: int) -> Any:
    """Conversations not past their retention due time: the rest is never served, even
    before a sweep purges it."""
    due = m.conversations.c.due_at
    return or_(due.is_(None), due > now)


def content_visible(now: int) -> Any:
    """Conversations whose messages and notes are not past their due time."""
    due = m.conversations.c.messages_due_at
    return and_(visible(now), or_(due.is_(None), due > now))


async def conversation_tx(
    conn: AsyncConnection, conversation_id: str, now: int
) -> ConversationRow | None:
    return await conn.run_sync(conversation_sync, conversation_id, now)


def conversation_sync(conn: Connection, conversation_id: str, now: int) -> ConversationRow | None:
    """A conversation not past due, in an open transaction (:meth:`Database.read_sync`,
    or :func:`conversation_tx` in an async one)."""
    row = conn.execute(
        select(*_CONV_COLUMNS)
        .select_from(_CONV_FROM)
        .where(m.conversations.c.id == conversation_id, visible(now))
    ).first()
    return _conversation(row) if row else None


def _place(conn: Connection, row: ConversationRow) -> tuple[int, list[str]]:
    """:meth:`Store.queue_place` in an open transaction: a count on the queue's index, not
    a read of the whole queue."""
    c = m.conversations.c
    waiting = and_(c.team_id == row.team_id, c.state == State.WAITING.value)
    q = row.queued_at
    if q is None or not conn.execute(select(c.id).where(c.id == row.id, waiting)).first():
        return 0, []
    ahead = conn.execute(
        select(func.count()).where(
            waiting, or_(c.queued_at < q, and_(c.queued_at == q, c.id < row.id))
        )
    ).scalar_one()
    behind = conn.execute(
        select(c.id).where(waiting, c.queued_at == q, c.id > row.id).order_by(c.id)
    ).scalars()
    return int(ahead) + 1, list(behind)


def messages_sync(
    conn: Connection, conversation_id: str, key: bytes | None, after: int, limit: int, now: int
) -> list[MessageRow]:
    """Stored messages after ``after``, their storage seal removed with ``key`` (none once
    the key is destroyed or the messages are past due)."""
    if key is None:
        return []
    if not readable_sync(conn, conversation_id, now):
        return []
    key_id = conversation_key_id(conversation_id)
    out = []
    for r in conn.execute(
        select(*_MSG_COLUMNS)
        .where(m.messages.c.conversation_id == conversation_id, m.messages.c.seq > after)
        .order_by(m.messages.c.seq)
        .limit(limit)
    ):
        msg = _message(r)
        body = unseal(key, key_id, message_place(msg.sender, msg.client_msg_id), msg.body)
        out.append(dataclasses.replace(msg, body=body))
    return out


def readable_sync(conn: Connection, conversation_id: str, now: int) -> bool:
    """Whether a conversation's messages and notes may be served (not past due)."""
    found = conn.execute(
        select(m.conversations.c.id).where(
            m.conversations.c.id == conversation_id, content_visible(now)
        )
    )
    return found.first() is not None


async def content_readable(conn: AsyncConnection, conversation_id: str, now: int) -> bool:
    return await conn.run_sync(readable_sync, conversation_id, now)


async def requeue_held(
    conn: AsyncConnection, staff_id: str, team_id: int, actor: str, now: int
) -> list[ConversationRow]:
    """The active conversations of ``team_id`` that ``staff_id`` holds go back to the queue
    (a member removed, a password reset), each audited ``conversation.requeued``; returns
    them as they were. Telling anyone is the caller's part."""
    c = m.conversations.c
    held = (
        await conn.execute(
            select(c.id)
            .where(c.counsellor_id == staff_id, c.team_id == team_id, c.state == State.ACTIVE.value)
            .with_for_update()
        )
    ).scalars()
    moved = []
    for conversation_id in list(held):
        row = await conversation_tx(conn, conversation_id, now)
        if row is None:  # hidden by retention: nobody can take it over any more
            continue
        await conn.execute(
            update(m.conversations)
            .where(c.id == row.id)
            .values(
                state=State.WAITING.value,
                counsellor_id=None,
                queued_at=now,
                transfers=c.transfers + 1,
                last_activity_at=now,
            )
        )
        await audit_tx(conn, now, actor, "conversation.requeued", row.id, reason="member_removed")
        moved.append(row)
    return moved


class Store:
    """Reads and writes for the chat server, on top of :class:`Database`."""

    def __init__(
        self, db: Database, keystore: Keystore, clock: Callable[[], float] = time.time
    ) -> None:
        self.db = db
        self.keystore = keystore
        self.clock = clock

    def now_ms(self) -> int:
        return int(self.clock() * 1000)

    # ------------------------------------------------------------------ teams and staff
    async def team_by_slug(self, slug: str) -> TeamRow | None:
        async with self.db.read() as conn:
            row = (await conn.execute(select(m.teams).where(m.teams.c.slug == slug))).first()
        return TeamRow(row.id, row.slug, row.name, row.archived_at) if row else None

    async def topic_id(self, team_id: int, slug: str) -> int | None:
        async with self.db.read() as conn:
            return (
                await conn.execute(
                    select(m.topics.c.id).where(
                        m.topics.c.team_id == team_id, m.topics.c.slug == slug
                    )
                )
            ).scalar()

    async def team_origins(self, team_id: int) -> set[str]:
        async with self.db.read() as conn:
            rows = await conn.execute(
                select(m.origins.c.origin).where(m.origins.c.team_id == team_id)
            )
            return {r[0] for r in rows}

    async def all_origins(self) -> set[str]:
        async with self.db.read() as conn:
            return {r[0] for r in await conn.execute(select(m.origins.c.origin))}

    async def staff_by_username(self, username: str) -> StaffRow | None:
        return await self._staff(m.staff.c.username == username)

    async def staff_by_id(self, staff_id: str) -> StaffRow | None:
        return await self._staff(m.staff.c.id == staff_id)

    async def _staff(self, where: Any) -> StaffRow | None:
        async with self.db.read() as conn:
            row = (await conn.execute(select(m.staff).where(where))).first()
        return None if row is None else _staff_row(row)

    async def staff_teams(self, staff_id: str) -> dict[int, str]:
        """Team id -> slug for the teams a staff member belongs to (archived ones excluded)."""
        query = (
            select(m.teams.c.id, m.teams.c.slug)
            .join(m.memberships, m.memberships.c.team_id == m.teams.c.id)
            .where(m.memberships.c.staff_id == staff_id, m.teams.c.archived_at.is_(None))
        )
        return await self.db.read_sync(lambda conn: {r[0]: r[1] for r in conn.execute(query)})

    async def is_member(self, staff_id: str, team_id: int) -> bool:
        async with self.db.read() as conn:
            row = (
                await conn.execute(
                    select(m.memberships.c.staff_id).where(
                        m.memberships.c.staff_id == staff_id, m.memberships.c.team_id == team_id
                    )
                )
            ).first()
        return row is not None

    # ------------------------------------------------------------------ sessions
    async def create_session(self, token_hash: str, staff_id: str, now: int, ttl_ms: int) -> None:
        async with self.db.write() as conn:
            await conn.execute(
                insert(m.sessions).values(
                    token_hash=token_hash,
                    staff_id=staff_id,
                    created_at=now,
                    expires_at=now + ttl_ms,
                )
            )
            await conn.execute(
                update(m.staff).where(m.staff.c.id == staff_id).values(last_login_at=now)
            )

    async def session_staff(
        self, token_hash: str, now: int, ttl_ms: int, *, slide: bool = True
    ) -> StaffRow | None:
        """The staff member of a live session (expired sessions and disabled accounts: None).

        The session's expiry slides with activity: it is pushed to ``now + ttl_ms`` when
        more than five minutes of it were used, so an active console writes at most one
        row every five minutes. The server's own checks of an idle console pass
        ``slide=False``: they must not keep a forgotten session alive.
        """
        # One read for the session and its account: every staff request comes this way.
        row = await self.db.read_sync(
            lambda conn: conn.execute(
                select(m.staff, m.sessions.c.expires_at)
                .join(m.sessions, m.sessions.c.staff_id == m.staff.c.id)
                .where(m.sessions.c.token_hash == token_hash, m.sessions.c.expires_at > now)
            ).first()
        )
        if row is None or row.disabled_at is not None:
            return None
        found = _staff_row(row)
        if slide and row.expires_at < now + ttl_ms - 300_000:
            async with self.db.write() as conn:
                await conn.execute(
                    update(m.sessions)
                    .where(m.sessions.c.token_hash == token_hash)
                    .values(expires_at=now + ttl_ms)
                )
        return found

    async def delete_session(self, token_hash: str) -> None:
        async with self.db.write() as conn:
            await conn.execute(delete(m.sessions).where(m.sessions.c.token_hash == token_hash))

    # ------------------------------------------------------------------ conversations
    async def conversation(self, conversation_id: str) -> ConversationRow | None:
        now = self.now_ms()
        return await self.db.read_sync(lambda conn: conversation_sync(conn, conversation_id, now))

    async def queued_count(self, team_id: int) -> int:
        async with self.db.read() as conn:
            return int(
                (
                    await conn.execute(
                        select(func.count()).where(
                            m.conversations.c.team_id == team_id,
                            m.conversations.c.state == State.WAITING.value,
                        )
                    )
                ).scalar_one()
            )

    async def queue_place(self, row: ConversationRow) -> tuple[int, list[str]]:
        """A waiting conversation's place in its team's queue (1 for the first; 0 when it
        waits no more) and the ids of those right behind it that were queued in the same
        millisecond (a newcomer moves nobody else)."""
        return await self.db.read_sync(lambda conn: _place(conn, row))

    async def resume_view(
        self, token_hash: str, conversation_id: str, after: int, limit: int = PAGE
    ) -> ResumeView | None:
        """What a client's ``resume`` needs, in one transaction: the conversation of this
        token (None unless it is ``conversation_id``), whether the token is blocked, the
        messages after ``after`` and, while it waits, its place in the queue."""
        now = self.now_ms()
        key = await self.keystore.get(conversation_key_id(conversation_id))

        def view(conn: Connection) -> ResumeView | None:
            found = conn.execute(
                select(*_CONV_COLUMNS)
                .select_from(_CONV_FROM)
                .where(
                    m.conversations.c.token_hash == token_hash,
                    m.conversations.c.id == conversation_id,
                    visible(now),
                )
            ).first()
            if found is None:
                return None
            blocked = conn.execute(
                select(m.blocks.c.id).where(
                    m.blocks.c.token_hash == token_hash, m.blocks.c.expires_at > now
                )
            ).first()
            row = _conversation(found)
            if blocked is not None:
                return ResumeView(row, True, [], 0)
            messages = messages_sync(conn, conversation_id, key, after, limit, now)
            place = _place(conn, row)[0] if row.state is State.WAITING else 0
            return ResumeView(row, False, messages, place)

        return await self.db.read_sync(view)

    async def queue(self, team_ids: Sequence[int]) -> list[ConversationRow]:
        """Waiting conversations of these teams, oldest first."""
        if not team_ids:
            return []
        async with self.db.read() as conn:
            rows = await conn.execute(
                select(*_CONV_COLUMNS)
                .select_from(_CONV_FROM)
                .where(
                    m.conversations.c.team_id.in_(team_ids),
                    m.conversations.c.state == State.WAITING.value,
                )
                .order_by(m.conversations.c.queued_at, m.conversations.c.id)
            )
            return [_conversation(r) for r in rows]

    async def held_by(self, staff_id: str) -> list[ConversationRow]:
        async with self.db.read() as conn:
            rows = await conn.execute(
                select(*_CONV_COLUMNS)
                .select_from(_CONV_FROM)
                .where(
                    m.conversations.c.counsellor_id == staff_id,
                    m.conversations.c.state == State.ACTIVE.value,
                )
                .order_by(m.conversations.c.accepted_at)
            )
            return [_conversation(r) for r in rows]

    async def catch_up(
        self, conversation_id: str, after: int, limit: int
    ) -> tuple[State, int, list[MessageRow]] | None:
        """A conversation's state and last seq now, and up to ``limit`` messages after
        ``after``, in one transaction (None once it is gone)."""
        key = await self.keystore.get(conversation_key_id(conversation_id))
        now = self.now_ms()
        c = m.conversations.c

        def read(conn: Connection) -> tuple[State, int, list[MessageRow]] | None:
            found = conn.execute(
                select(c.state, c.last_seq).where(c.id == conversation_id, visible(now))
            ).first()
            if found is None:
                return None
            messages = messages_sync(conn, conversation_id, key, after, limit, now)
            return State(found.state), int(found.last_seq), messages

        return await self.db.read_sync(read)

    async def messages_after(
        self, conversation_id: str, after: int, limit: int = PAGE
    ) -> list[MessageRow]:
        """Stored messages after ``after``, their storage seal removed (E2E ciphertext)."""
        key = await self.keystore.get(conversation_key_id(conversation_id))
        now = self.now_ms()
        return await self.db.read_sync(
            lambda conn: messages_sync(conn, conversation_id, key, after, limit, now)
        )

    async def envelopes(self, conversation_id: str) -> list[Any]:
        async with self.db.read() as conn:
            if not await content_readable(conn, conversation_id, self.now_ms()):
                return []
            rows = await conn.execute(
                select(m.key_envelopes, m.staff.c.id.label("author"))
                .outerjoin(m.staff, m.staff.c.id == m.key_envelopes.c.author_id)
                .where(m.key_envelopes.c.conversation_id == conversation_id)
                .order_by(m.key_envelopes.c.id)
            )
            return list(rows)

    async def is_blocked(self, token_hash: str, now: int) -> bool:
        async with self.db.read() as conn:
            row = (
                await conn.execute(
                    select(m.blocks.c.id).where(
                        and_(m.blocks.c.token_hash == token_hash, m.blocks.c.expires_at > now)
                    )
                )
            ).first()
        return row is not None
