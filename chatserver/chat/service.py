"""What each inbound frame means: check, store, and tell whom it concerns.

The WebSocket handlers decode a frame and call one method here; the method checks the
actor's rights and the lifecycle table, writes in one transaction (messages through the
group-commit writer), publishes frames to the hub and returns the answer for the sender.
A refusal raises a :class:`~chatserver.protocol.errors.ChatError` before anything is
written.
"""

from __future__ import annotations

import logging
import secrets
import statistics
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncConnection

from chatserver.chat import core
from chatserver.chat.core import StaffContext, conv_topic, staff_topic, team_topic
from chatserver.chat.hub import Hub, Seen
from chatserver.config import Settings
from chatserver.metrics import Metrics
from chatserver.protocol import frames as f
from chatserver.protocol.codec import encode
from chatserver.protocol.errors import (
    Blocked,
    ChatError,
    Closed,
    LegalHold,
    Malformed,
    NotFound,
    OriginNotAllowed,
    Overloaded,
    ProofOfWorkRequired,
)
from chatserver.protocol.lifecycle import Actor, Event, State, allowed, transition
from chatserver.protocol.limits import PowGate
from chatserver.records.retention import (
    EndedConversation,
    due_values,
    effective_rules,
    record_stats,
)
from chatserver.retention_rules import Rules
from chatserver.staff.auth import hash_token
from chatserver.storage import conversations
from chatserver.storage.keystore import conversation_key_id, envelope_place, seal, unseal
from chatserver.storage.store import (
    ConversationRow,
    MessageRow,
    Store,
    audit_tx,
    conversation_tx,
    requeue_held,
)
from chatserver.storage.writer import MessageWriter, Outcome, Pending, storage_keys, store_messages
from chatserver.teams.hours import accepts_new_chats, load_hours

__all__ = ["ChatService", "StaffContext"]

log = logging.getLogger("chatserver.chat.service")


def new_conversation_id() -> str:
    """A random conversation id (128 bits, base64url) that never begins with "-": operators
    type ids as command-line arguments, where a leading dash would read as an option."""
    while True:
        candidate = secrets.token_urlsafe(16)
        if not candidate.startswith("-"):
            return candidate


def message_frame(row: MessageRow, *, for_staff: bool = False) -> f.Message:
    """A stored message as a peer reads it; a console also learns which colleague sent a
    team message (a client never does)."""
    return f.Message(
        conversation=row.conversation_id,
        seq=row.seq,
        sender=row.sender,
        id=row.client_msg_id,
        body=row.body,
        gen=row.gen,
        n=row.n,
        kind=row.kind,
        at=row.created_at,
        author=row.author_id if for_staff else None,
    )


def stored_frame(p: Pending, outcome: Outcome) -> f.Message:
    """The ``message`` frame for a message the writer has just stored."""
    return f.Message(
        p.conversation_id,
        outcome.seq,
        p.sender,
        p.client_msg_id,
        p.body,
        p.gen,
        p.n,
        p.kind,
        outcome.created_at,
    )


#: The waiting estimate looks at the team's last accepted conversations, within a week,
#: and gives none with fewer than ESTIMATE_MIN_SAMPLES of them (docs/widget.md).
ESTIMATE_SAMPLES = 20
ESTIMATE_MIN_SAMPLES = 5
ESTIMATE_WINDOW_MS = 7 * 86_400_000
#: How long a team's recent waits are reused by a single server process (an accept
#: renews them at once): a surge of starts or a storm of resumes reads them once, not once
#: per client. With several processes (Redis) they are read every time: an accept on
#: another process would not renew them here.
ESTIMATE_REUSE_MS = 10_000


def waiting_estimate(waits_ms: Sequence[int], position: int, on_duty: int) -> int | None:
    """Seconds a client at ``position`` may expect to wait, or None when we cannot say.

    The median of the team's recent waits (start to first accept) is one client's turn;
    ``position`` turns are shared by the counsellors available now. Nobody on duty, or
    too few recent waits to go by: no number rather than a made-up one.
    """
    if on_duty < 1 or position < 1 or len(waits_ms) < ESTIMATE_MIN_SAMPLES:
        return None
    return round(statistics.median(waits_ms) * position / on_duty / 1000)


@dataclass(slots=True)
class ChatService:
    settings: Settings
    store: Store
    writer: MessageWriter
    hub: Hub
    metrics: Metrics
    clock: Callable[[], float]
    pow: PowGate = field(init=False)
    rules: Rules = field(init=False)
    #: Staff present on this process's consoles (presence across processes: the hub).
    present: dict[str, StaffContext] = field(default_factory=dict)
    #: Recent waits per team, with the time they were read (:meth:`_recent_waits`).
    _waits: dict[int, tuple[int, list[int]]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.hub.presence.watch(self._colleague_gone)
        self.rules = Rules.from_settings(
            self.settings.retention_defaults,
            self.settings.retention_min,
            self.settings.retention_max,
        )
        self.pow = PowGate(
            free_per_minute=self.settings.starts_per_minute_free,
            max_difficulty=self.settings.pow_max_difficulty,
        )

    def now_ms(self) -> int:
        return int(self.clock() * 1000)

    async def _tell(self, topic: str, frame: f.Frame) -> None:
        await self.hub.publish(topic, encode(frame))

    # ================================================================== client side
    def start_challenge(self, queued: int) -> f.Challenge | None:
        """The puzzle a new connection must solve before ``start``, if any."""
        now = self.clock()
        needed = self.pow.difficulty(now, queued, self.settings.max_queued)
        return self.pow.issue(now, needed) if needed else None

    async def start(
        self, frame: f.Start, origin: str | None
    ) -> tuple[ConversationRow, str, f.Position]:
        """Open a conversation in the team's queue: (row, resume token, its place)."""
        team = await self.store.team_by_slug(frame.team)
        if team is None or team.archived_at is not None:
            raise NotFound(f"there is no team '{frame.team}'")
        if origin != self.settings.origin and origin not in await self.store.team_origins(team.id):
            raise OriginNotAllowed("this website may not open chats with this team")
        if len(frame.client_key) != 65 or frame.client_key[0] != 4:
            raise Malformed("client_key must be an uncompressed P-256 point (65 bytes)")
        topic_id = None
        if frame.topic is not None:
            topic_id = await self.store.topic_id(team.id, frame.topic)
            if topic_id is None:
                raise NotFound(f"there is no topic '{frame.topic}' in this team")
        async with self.store.db.read() as conn:
            if not accepts_new_chats(await load_hours(conn, team.id), self.now_ms()):
                raise Closed("the team is not in the chat now (outside its opening hours)")
        queued = await self.store.queued_count(team.id)
        if queued >= self.settings.max_queued:
            raise Overloaded("the queue is full right now; please try again in a few minutes")
        now = self.clock()
        needed = self.pow.difficulty(now, queued, self.settings.max_queued)
        if not self.pow.check(now, frame.pow_challenge, frame.pow_nonce, needed):
            raise ProofOfWorkRequired(
                "solve the new puzzle, then start again", self.pow.issue(now, needed)
            )
        transition(State.NEW, Event.START, Actor.CLIENT)
        conversation_id, token, now_ms = (
            new_conversation_id(),
            secrets.token_urlsafe(32),
            int(now * 1000),
        )
        await self.store.keystore.create(conversation_key_id(conversation_id), now_ms)
        async with self.store.db.write() as conn:
            await conversations.create(
                conn,
                id=conversation_id,
                team_id=team.id,
                topic_id=topic_id,
                state=State.WAITING.value,
                token_hash=hash_token(token),
                client_key=frame.client_key,
                consent_version=frame.consent,
                epoch=frame.epoch,
                last_seq=0,
                created_at=now_ms,
                queued_at=now_ms,
                last_activity_at=now_ms,
                transfers=0,
            )
            row = await conversation_tx(conn, conversation_id, self.now_ms())
        assert row is not None
        self.pow.record_start(now)
        self.metrics.inc("chat_conversations_started_total", "Conversations started.")
        await self._tell(team_topic(team.id), f.Queued(core.queue_item(row)))
        # A newcomer joins at the end: nobody ahead of it moves, so only those behind it
        # (started in the same millisecond) are told; a surge costs no frame per waiter,
        # and its place is a count on the queue's index, not a read of the whole queue.
        index, behind = await self.store.queue_place(row)
        place = await self._placer(team.id)
        for later, conversation in enumerate(behind, start=index + 1):
            await self._tell(conv_topic(conversation), place(later))
        return row, token, place(index)

    async def resume(
        self, frame: f.Resume
    ) -> tuple[ConversationRow, list[MessageRow], f.Position | None]:
        """The conversation, the messages after the client's ``last_seq`` and, while it
        waits, its place and estimate (later changes come when the queue moves ahead of
        the client or who is on duty changes)."""
        view = await self.store.resume_view(
            hash_token(frame.token), frame.conversation, frame.last_seq
        )
        if view is None:
            raise NotFound("this conversation does not exist (any more)")
        if view.blocked:
            raise Blocked("this conversation was ended by the counselling team")
        transition(view.row.state, Event.RESUME, Actor.CLIENT)
        waiting = None
        if view.place:
            waiting = (await self._placer(view.row.team_id))(view.place)
        return view.row, view.messages, waiting

    async def client_send(self, conversation_id: str, frame: f.Send) -> f.Ack:
        pending = Pending(
            conversation_id, "client", frame.id, frame.kind, frame.gen, frame.n, frame.body
        )
        outcome = await self.writer.submit(pending)
        if not outcome.duplicate and outcome.counsellor_id is not None:
            await self._tell(staff_topic(outcome.counsellor_id), stored_frame(pending, outcome))
        self.metrics.inc("chat_messages_total", "Messages stored.", role="client")
        return f.Ack(frame.id, outcome.seq)

    async def catch_up(
        self, conversation_id: str, after: int, limit: int
    ) -> tuple[State, int, list[MessageRow]]:
        """What changed since a resume's first read: state, last seq, messages."""
        now = await self.store.catch_up(conversation_id, after, limit)
        if now is None:
            raise NotFound("this conversation does not exist (any more)")
        return now

    async def client_fetch(self, conversation_id: str, after: int) -> list[MessageRow]:
        return await self.store.messages_after(conversation_id, after)

    async def client_typing(self, conversation_id: str, active: bool) -> None:
        row = await self._conversation(conversation_id)
        await self._carry_out(core.client_typing(row, active).effects)

    async def client_close(self, conversation_id: str) -> State:
        async with self.store.db.write() as conn:
            row = await self._locked(conn, conversation_id)
            decision = core.client_close(row, self.now_ms())
            await self._write(conn, row, decision.change)
        await self._carry_out(decision.effects)
        assert decision.change.state is not None
        return decision.change.state

    async def client_delete(self, conversation_id: str) -> None:
        """The client's right to erasure: the conversation and everything in it, now.

        The storage key goes first: from that moment every copy of the rows (WAL, free
        pages, backups) is ciphertext under a key that no longer exists. Then the rows.
        """
        row = await self._conversation(conversation_id)
        transition(row.state, Event.DELETE, Actor.CLIENT)
        # As for resume: while the block lasts, the record that led to it stays with the
        # team; retention deletes it (docs/widget.md, "Deleting the chat").
        if await self.store.is_blocked(row.token_hash, self.now_ms()):
            raise Blocked("this conversation was ended by the counselling team")
        async with self.store.db.write() as conn:  # the anonymous statistics come first
            # A legal hold wins over the right to erasure (GDPR Art. 17(3)): checked
            # with the row locked, before anything is written or destroyed.
            await self._locked(conn, conversation_id)
            if await conversations.under_hold(conn, conversation_id, self.now_ms()):
                raise LegalHold(
                    "this conversation must be kept for a legal reason and cannot be deleted"
                    " now; the counselling team can explain"
                )
            await record_stats(conn, [conversation_id], self.now_ms(), outcome="deleted")
        destroyed = await self.store.keystore.destroy([conversation_key_id(conversation_id)])
        async with self.store.db.write() as conn:
            row = await self._locked(conn, conversation_id)
            await conversations.remove(conn, conversation_id)
            await audit_tx(
                conn,
                self.now_ms(),
                "client",
                "conversation.deleted_by_client",
                None,
                team=row.team,
                keys_destroyed=len(destroyed),
            )
        self.metrics.inc("chat_conversations_deleted_total", "Conversations deleted by clients.")
        await self._carry_out(core.ended(row, State.DELETED, "client_deleted"))

    # ================================================================== console side
    async def queue_snapshot(self, staff: StaffContext) -> f.QueueSnapshot:
        rows = await self.store.queue(list(staff.teams))
        return f.QueueSnapshot(tuple(core.queue_item(r) for r in rows))

    async def held(self, staff: StaffContext) -> list[f.Assigned]:
        return [core.assigned_frame(r) for r in await self.store.held_by(staff.id)]

    async def set_availability(self, staff: StaffContext, status: str) -> None:
        changed = status != staff.status
        staff.status = status
        await self.record_presence(staff)
        await self.announce_presence(staff)
        if changed:
            await self._on_duty_changed(staff.teams)

    async def arrive(self, staff: StaffContext) -> None:
        """A console of ``staff`` opened on this process: count it and record the presence
        (in the hub's book, which every process reads)."""
        staff.connections += 1
        self.present[staff.id] = staff
        await self.record_presence(staff)
        if staff.connections == 1:
            await self._on_duty_changed(staff.teams)

    async def opened(self, staff: StaffContext, connection: str) -> None:
        """Tell every console of ``staff`` (in any process) that ``connection`` is theirs
        now: the others stop (docs/protocol.md, ``console_opened``)."""
        await self._tell(staff_topic(staff.id), f.ConsoleOpened(connection))

    async def depart(self, staff: StaffContext) -> None:
        """A console of ``staff`` closed: with their last one anywhere, they go offline;
        with consoles left on other processes, colleagues see the status those have."""
        staff.connections -= 1
        if staff.connections:
            return
        self.present.pop(staff.id, None)
        elsewhere = await self.hub.presence.leave(staff.id)
        if elsewhere is not None:
            staff.status = elsewhere.status
        await self.announce_presence(staff, offline=elsewhere is None)
        await self._on_duty_changed(staff.teams)

    async def record_presence(self, staff: StaffContext) -> None:
        """Name, status and teams of a staff member present here, for every process."""
        await self.hub.presence.update(staff.id, staff.name, staff.status, staff.teams)

    async def colleagues(self, staff: StaffContext) -> list[f.Presence]:
        """Colleagues with a console open in one of the staff member's teams, on any
        process: the shift view of a console that has just connected."""
        return [
            f.Presence(seen.staff, seen.name, seen.status, 0)
            for seen in await self.hub.presence.in_teams(staff.teams)
            if seen.staff != staff.id
        ]

    async def _colleague_gone(self, seen: Seen, team_id: int) -> None:
        """A colleague's process died with their last console (the hub noticed)."""
        await self._tell(team_topic(team_id), f.Presence(seen.staff, seen.name, "offline", 0))
        await self._on_duty_changed([team_id])

    async def _on_duty_changed(self, team_ids: Iterable[int]) -> None:
        """Who is on duty changed: every waiting client of these teams hears its estimate
        again (a start does not re-announce: it moves nobody ahead of it)."""
        for team_id in team_ids:
            await self._announce_positions(team_id)

    async def announce_presence(self, staff: StaffContext, *, offline: bool = False) -> None:
        held = len(await self.store.held_by(staff.id))
        frame = f.Presence(staff.id, staff.name, "offline" if offline else staff.status, held)
        for team_id in staff.teams:
            await self._tell(team_topic(team_id), frame)

    async def accept(self, staff: StaffContext, frame: f.Accept) -> f.Assigned:
        if frame.body is not None and frame.id is None:
            raise Malformed("an accept with a body needs an id")
        now = self.now_ms()
        async with self.store.db.write() as conn:
            row = await self._locked(conn, frame.conversation)
            change = core.accept(staff, row, await self._held(conn, staff, row), now)
            await self._write(conn, row, change)
            message: f.Message | None = None
            if frame.body is not None and frame.id is not None:
                pending = Pending(row.id, "team", frame.id, "accept", 0, 0, frame.body, staff.id)
                keys = await storage_keys(self.store.keystore, [row.id])
                stored = (await store_messages(conn, [pending], now, keys))[0]
                if isinstance(stored, ChatError):
                    raise stored
                message = stored_frame(pending, stored)
        self.metrics.inc("chat_conversations_accepted_total", "Conversations accepted.")
        self._waits.pop(row.team_id, None)  # one more wait to learn from
        assigned, effects = core.accepted(staff, row, message)
        await self._carry_out(effects)
        return assigned

    async def staff_send(
        self, staff: StaffContext, frame: f.StaffSend, session: str | None = None
    ) -> f.Ack:
        """Store a counsellor's message. The writer checks, in the transaction that stores
        it, that the conversation is the team's and held by this counsellor and (given the
        hash of the console's ``session`` token) that the session is live and the account
        enabled: no read of its own before the message joins a batch."""
        pending = Pending(
            frame.conversation,
            "team",
            frame.id,
            frame.kind,
            frame.gen,
            frame.n,
            frame.body,
            staff.id,
            session,
            frozenset(staff.teams),
        )
        outcome = await self.writer.submit(pending)
        if not outcome.duplicate:
            await self._tell(conv_topic(frame.conversation), stored_frame(pending, outcome))
        self.metrics.inc("chat_messages_total", "Messages stored.", role="team")
        return f.Ack(frame.id, outcome.seq, frame.conversation)

    async def staff_fetch(self, staff: StaffContext, frame: f.StaffFetch) -> list[MessageRow]:
        row = await self._conversation(frame.conversation)
        core.read_messages(staff, row)
        if frame.after == 0:
            await self._audit_reading(staff, row, "messages")
        return await self.store.messages_after(row.id, frame.after)

    async def _audit_reading(self, staff: StaffContext, row: ConversationRow, what: str) -> None:
        """A supervisor or admin reads a conversation they do not hold (reading along, a
        legal hold): the audit log says who and when, never anything of its content."""
        if row.counsellor_id == staff.id:
            return
        async with self.store.db.write() as conn:
            await audit_tx(conn, self.now_ms(), staff.id, "conversation.read", row.id, what=what)

    async def staff_typing(self, staff: StaffContext, frame: f.StaffTyping) -> None:
        row = await self._conversation(frame.conversation)
        await self._carry_out(core.staff_typing(staff, row, frame.active).effects)

    async def transfer(self, staff: StaffContext, frame: f.Transfer) -> None:
        now = self.now_ms()
        key = await self._storage_key(frame.conversation)
        async with self.store.db.write() as conn:
            row = await self._locked(conn, frame.conversation)
            colleague = None
            if frame.to is not None and frame.to != staff.id and row.counsellor_id == staff.id:
                colleague = await self._colleague(conn, frame.to, row.team_id)
            change = core.transfer(staff, row, frame.to, colleague, frame.note, now)
            await self._write(conn, row, change, key)
        moved = await self._conversation(row.id) if frame.to is None else None
        await self._carry_out(core.transferred(staff, row, frame.to, frame.note, moved))

    async def staff_close(self, staff: StaffContext, frame: f.StaffClose) -> None:
        async with self.store.db.write() as conn:
            row = await self._locked(conn, frame.conversation)
            decision = core.staff_close(staff, row, frame.category, self.now_ms())
            await self._write(conn, row, decision.change)
        await self._carry_out(decision.effects)

    async def block(self, staff: StaffContext, frame: f.Block) -> None:
        async with self.store.db.write() as conn:
            row = await self._locked(conn, frame.conversation)
            decision = core.block(staff, row, frame.hours, self.now_ms())
            await self._write(conn, row, decision.change)
        await self._carry_out(decision.effects)

    async def envelope(self, staff: StaffContext, frame: f.Envelope) -> f.Ack:
        now = self.now_ms()
        key = await self._storage_key(frame.conversation)
        place = envelope_place(frame.id)
        async with self.store.db.write() as conn:
            row = await self._locked(conn, frame.conversation)
            existing = await conversations.envelope_body(conn, row.id, frame.id)
            stored = None
            if existing is not None:
                body, purpose = existing
                stored = (unseal(key, conversation_key_id(row.id), place, body), purpose)
            decision = core.envelope(staff, row, frame, stored)
            if decision is None:
                return f.Ack(frame.id, 0, row.id)
            sealed = seal(key, conversation_key_id(row.id), place, frame.body)
            await conversations.insert_envelope(
                conn, row, frame.id, frame.purpose, frame.epoch, staff.id, sealed, now
            )
        await self._carry_out(decision.effects)
        return f.Ack(frame.id, 0, row.id)

    async def ended_by_retention(self, ended: EndedConversation) -> None:
        """Tell everyone concerned that the sweep closed an idle conversation."""
        await self._carry_out(
            core.ended_by_retention(
                ended.id, ended.team_id, ended.team, ended.was, ended.now, ended.counsellor_id
            )
        )

    async def member_removed(self, staff_id: str, team_id: int, admin: str) -> None:
        """A member left the team (a signed roster without them): the conversations of the
        team they held go back to the queue, where a colleague takes them over and rekeys
        (docs/e2e.md, "Removing a member")."""
        async with self.store.db.write() as conn:
            moved = await requeue_held(conn, staff_id, team_id, admin, self.now_ms())
        now = [await self._conversation(row.id) for row in moved]
        await self._carry_out(core.requeued(staff_id, now, team_id))

    async def staff_envelopes(
        self, staff: StaffContext, frame: f.EnvelopesRequest
    ) -> f.EnvelopeList:
        """Every envelope of a conversation, for its holder (another device, a new holder
        after a transfer) or a supervisor: the keys of each generation and the notes."""
        row = await self._conversation(frame.conversation)
        core.read_envelopes(staff, row)
        key = await self._storage_key(row.id)
        await self._audit_reading(staff, row, "keys")
        items = tuple(
            f.EnvelopeItem(
                e.envelope_id,
                e.purpose,
                unseal(key, conversation_key_id(row.id), envelope_place(e.envelope_id), e.body),
                e.epoch,
                e.author,
                e.created_at,
            )
            for e in await self.store.envelopes(row.id)
        )
        return f.EnvelopeList(row.id, items, row.client_key, row.epoch, row.last_seq)

    # ================================================================== shared steps
    async def _storage_key(self, conversation_id: str) -> bytes:
        key = await self.store.keystore.get(conversation_key_id(conversation_id))
        if key is None:
            raise NotFound("this conversation does not exist (any more)")
        return key

    async def _conversation(self, conversation_id: str) -> ConversationRow:
        row = await self.store.conversation(conversation_id)
        if row is None:
            raise NotFound("this conversation does not exist (any more)")
        return row

    async def _locked(self, conn: AsyncConnection, conversation_id: str) -> ConversationRow:
        """The conversation row, locked for this transaction."""
        row = await conversations.lock(conn, conversation_id, self.now_ms())
        if row is None:
            raise NotFound("this conversation does not exist (any more)")
        return row

    async def _held(self, conn: AsyncConnection, staff: StaffContext, row: ConversationRow) -> int:
        """How many chats ``staff`` holds, counted only for an accept that is otherwise
        legal (the count locks their account's row)."""
        legal = allowed(row.state, Event.ACCEPT, Actor.COUNSELLOR)
        if row.team_id not in staff.teams or not legal:
            return 0
        return await conversations.held_count(conn, staff.id)

    async def _colleague(
        self, conn: AsyncConnection, staff_id: str, team_id: int
    ) -> core.Colleague | None:
        member, cap = await conversations.colleague(conn, staff_id, team_id)
        if not member:
            return None
        held = await conversations.held_count(conn, staff_id)
        return core.Colleague(staff_id, held, cap or self.settings.counsellor_cap)

    async def _write(
        self, conn: AsyncConnection, row: ConversationRow, change: core.Change, key: bytes = b""
    ) -> None:
        """Carry out a decision's change in the caller's transaction."""
        now = self.now_ms()
        if change.state is not None:
            values = dict(change.values)
            if change.ended:
                # Retention: from now on the record has its due times (hidden once past them).
                effective = await effective_rules(conn, self.rules, row.team_id)
                values.update(due_values(change.state, now, now, effective))
            await conversations.set_state(
                conn,
                row.id,
                change.state,
                values,
                accepted_at=change.accepted_at,
                transfers=change.transfers,
            )
            if change.ended:
                # The anonymous statistics as it ends, in the same transaction
                # (chatserver.records.stats).
                await record_stats(conn, [row.id], now)
        if change.block_hours is not None:
            await conversations.insert_block(conn, row, change.by, now, change.block_hours)
        if change.handover is not None:
            handover = f"handover-{now}-{secrets.token_hex(4)}"
            sealed = seal(
                key, conversation_key_id(row.id), envelope_place(handover), change.handover
            )
            await conversations.insert_envelope(
                conn, row, handover, "handover", 0, change.by, sealed, now
            )
        for entry in change.audit:
            await audit_tx(conn, now, entry.actor, entry.action, entry.target, **entry.detail)

    async def _carry_out(self, effects: Iterable[core.Effect]) -> None:
        """A decision's effects after its commit, in order."""
        for effect in effects:
            if isinstance(effect, core.Tell):
                await self._tell(effect.topic, effect.frame)
            elif isinstance(effect, core.AnnouncePositions):
                await self._announce_positions(effect.team_id)
            else:
                await self.announce_presence(effect.staff)

    async def _announce_positions(self, team_id: int) -> None:
        """Send every waiting client of the team its place and estimate."""
        queue = await self.store.queue([team_id])
        if not queue:
            return
        place = await self._placer(team_id)
        for index, row in enumerate(queue, start=1):
            await self._tell(conv_topic(row.id), place(index))

    async def _placer(self, team_id: int) -> Callable[[int], f.Position]:
        """The ``position`` frame of a place in the team's queue, with the estimate from
        the team's recent waits and who is on duty now."""
        waits = await self._recent_waits(team_id)
        on_duty = await self._on_duty(team_id)
        return lambda index: f.Position(index, waiting_estimate(waits, index, on_duty))

    async def _recent_waits(self, team_id: int) -> list[int]:
        """Start-to-first-accept times (ms) of the team's last accepted conversations."""
        now = self.now_ms()
        read_at, waits = self._waits.get(team_id, (0, []))
        if read_at and 0 <= now - read_at < ESTIMATE_REUSE_MS and not self.hub.shared:
            return waits
        async with self.store.db.read() as conn:
            waits = await conversations.recent_waits(
                conn, team_id, now - ESTIMATE_WINDOW_MS, ESTIMATE_SAMPLES
            )
        self._waits[team_id] = (now, waits)
        return waits

    async def _on_duty(self, team_id: int) -> int:
        """Counsellors of the team available now, on the consoles of any process."""
        present = await self.hub.presence.in_teams([team_id])
        return sum(1 for seen in present if seen.status == "available")
