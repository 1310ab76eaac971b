"""The chat's decisions, without I/O: who may do what to a conversation, what it becomes,
what is written and who is told.

Each function takes what was read (the conversation, the actor, what else the rule
needs: how many chats a counsellor holds, whether a colleague exists), the frame and the
time, and returns a :class:`Decision`: the change to write in one transaction and the
effects to carry out after the commit, in order. It raises a
:class:`~chatserver.protocol.errors.ChatError` for a refusal, before anything is written.
:class:`chatserver.chat.service.ChatService` reads, calls one of these, writes and tells;
it decides nothing itself. No asyncio, no database, no clock: tests call these directly
(tests/core/test_chat_core.py).

The moves themselves are the lifecycle table's (:mod:`chatserver.protocol.lifecycle`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from chatserver.protocol import frames as f
from chatserver.protocol.errors import AlreadyTaken, CapReached, Conflict, Forbidden, NotFound
from chatserver.protocol.lifecycle import Actor, Event, State, transition
from chatserver.storage.store import ConversationRow

__all__ = [
    "AnnouncePositions",
    "AnnouncePresence",
    "Audit",
    "Change",
    "Colleague",
    "Decision",
    "Effect",
    "StaffContext",
    "Tell",
    "accept",
    "accepted",
    "block",
    "client_close",
    "conv_topic",
    "ended_by_retention",
    "envelope",
    "read_envelopes",
    "read_messages",
    "requeued",
    "staff_close",
    "staff_topic",
    "staff_typing",
    "team_topic",
    "transfer",
]


def conv_topic(conversation_id: str) -> str:
    return f"conv:{conversation_id}"


def staff_topic(staff_id: str) -> str:
    return f"staff:{staff_id}"


def team_topic(team_id: int) -> str:
    return f"team:{team_id}"


@dataclass(slots=True)
class StaffContext:
    """An authenticated staff member on a console connection."""

    id: str
    name: str
    role: str
    teams: dict[int, str]  # team id -> slug
    cap: int
    status: str = "available"
    connections: int = 0

    @property
    def oversees(self) -> bool:
        return self.role in ("supervisor", "admin")


@dataclass(frozen=True, slots=True)
class Colleague:
    """A transfer's recipient as read in the transaction: an enabled member of the
    conversation's team, how many chats they hold and may hold."""

    id: str
    held: int
    cap: int


# ---------------------------------------------------------------------------- results
@dataclass(frozen=True, slots=True)
class Audit:
    """An audit entry to write with the change (chatserver.records.audit)."""

    actor: str
    action: str
    target: str | None
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Change:
    """What one transaction writes. ``state``: the conversation's new state (None: it
    stays), with further ``values`` of its row; ``accepted_at``: the time of an accept
    (the first accept stays, waiting time and duration count from it); ``ended``: the
    record now has due times and its statistics (it closed or was abandoned)."""

    state: State | None = None
    values: dict[str, Any] = field(default_factory=dict)
    accepted_at: int | None = None
    ended: bool = False
    transfers: bool = False  # the transfer count goes up by one
    block_hours: int | None = None  # block the client's token for this many hours
    handover: bytes | None = None  # a handover note, sealed and stored as an envelope
    by: str = ""  # the staff member who made the block or wrote the note
    audit: tuple[Audit, ...] = ()


@dataclass(frozen=True, slots=True)
class Tell:
    """Publish ``frame`` to whoever listens on ``topic``."""

    topic: str
    frame: f.Frame


@dataclass(frozen=True, slots=True)
class AnnouncePositions:
    """Every waiting client of the team hears its place and estimate again (the queue
    moved: read it after the commit)."""

    team_id: int


@dataclass(frozen=True, slots=True)
class AnnouncePresence:
    """The staff member's colleagues hear their status and how many chats they hold."""

    staff: StaffContext


Effect = Tell | AnnouncePositions | AnnouncePresence


@dataclass(frozen=True, slots=True)
class Decision:
    """A legal move: what to write, then what to do once it is written."""

    change: Change
    effects: tuple[Effect, ...] = ()


# ---------------------------------------------------------------------------- rights
def _member(staff: StaffContext, row: ConversationRow) -> None:
    if row.team_id not in staff.teams:
        raise Forbidden("this conversation belongs to a team you are not a member of")


def _holder(staff: StaffContext, row: ConversationRow) -> None:
    _member(staff, row)
    if row.counsellor_id != staff.id:
        raise Forbidden("you do not hold this conversation")


def read_messages(staff: StaffContext, row: ConversationRow) -> None:
    """Who may fetch a conversation's messages: its holder, or a supervisor or admin of
    its team (reading along)."""
    if not staff.oversees:
        _holder(staff, row)
    _member(staff, row)


def read_envelopes(staff: StaffContext, row: ConversationRow) -> None:
    """Who may fetch a conversation's envelopes (keys and notes): as for messages."""
    _member(staff, row)
    if not staff.oversees:
        _holder(staff, row)


def staff_typing(staff: StaffContext, row: ConversationRow, active: bool) -> Decision:
    _holder(staff, row)
    transition(row.state, Event.TYPING, Actor.COUNSELLOR)
    return Decision(Change(), (Tell(conv_topic(row.id), f.TypingNotice(row.id, "team", active)),))


def client_typing(row: ConversationRow, active: bool) -> Decision:
    transition(row.state, Event.TYPING, Actor.CLIENT)
    effects: tuple[Effect, ...] = ()
    if row.counsellor_id is not None:
        notice = f.TypingNotice(row.id, "client", active)
        effects = (Tell(staff_topic(row.counsellor_id), notice),)
    return Decision(Change(), effects)


# ---------------------------------------------------------------------------- the moves
def assigned_frame(
    row: ConversationRow,
    last_seq: int | None = None,
    by: str | None = None,
    note: bytes | None = None,
) -> f.Assigned:
    """What a console is told about a conversation it now holds."""
    return f.Assigned(
        row.id,
        row.team,
        row.topic,
        row.client_key,
        row.last_seq if last_seq is None else last_seq,
        by=by,
        note=note,
        epoch=row.epoch,
    )


def queue_item(row: ConversationRow) -> f.QueueItem:
    return f.QueueItem(
        row.id, row.team, row.topic, row.queued_at or row.created_at, epoch=row.epoch
    )


def accept(staff: StaffContext, row: ConversationRow, held: int, now: int) -> Change:
    """A counsellor takes a waiting conversation of their team; ``held``: how many they
    hold already (read with their account locked, so two accepts cannot both pass)."""
    _member(staff, row)
    if row.state is State.ACTIVE:
        raise AlreadyTaken("a colleague has already accepted this conversation")
    transition(row.state, Event.ACCEPT, Actor.COUNSELLOR)
    _within_cap(held, staff.cap)
    return Change(
        State.ACTIVE, {"counsellor_id": staff.id, "last_activity_at": now}, accepted_at=now
    )


def accepted(
    staff: StaffContext, row: ConversationRow, message: f.Message | None
) -> tuple[f.Assigned, tuple[Effect, ...]]:
    """After an accept's commit: the console's ``assigned`` and who else is told (the
    team, that it left the queue; the client, that it is active, with the accept's first
    message if it came with one)."""
    assigned = assigned_frame(row, message.seq if message else row.last_seq)
    effects: list[Effect] = [
        Tell(team_topic(row.team_id), f.Dequeued(row.id, row.team)),
        Tell(conv_topic(row.id), f.StateChanged(row.id, State.ACTIVE.value)),
    ]
    if message is not None:
        effects.append(Tell(conv_topic(row.id), message))
    effects += [
        AnnouncePositions(row.team_id),
        Tell(staff_topic(staff.id), assigned),
        AnnouncePresence(staff),
    ]
    return assigned, tuple(effects)


def _within_cap(held: int, cap: int) -> None:
    if held >= cap:
        raise CapReached(f"you already hold {held} chats, the most allowed at once")


def transfer(
    staff: StaffContext,
    row: ConversationRow,
    to: str | None,
    colleague: Colleague | None,
    note: bytes | None,
    now: int,
) -> Change:
    """The holder hands the conversation back to the queue (``to`` None) or to a colleague
    of its team (``colleague``: as read, None when there is no such enabled member)."""
    _holder(staff, row)
    values: dict[str, Any]
    if to is None:
        new = transition(row.state, Event.TRANSFER_QUEUE, Actor.COUNSELLOR)
        values = {"counsellor_id": None, "queued_at": now}
    else:
        new = transition(row.state, Event.TRANSFER_COLLEAGUE, Actor.COUNSELLOR)
        if to == staff.id:
            raise Conflict("you already hold this conversation")
        if colleague is None:
            raise NotFound("there is no such colleague in this conversation's team")
        _within_cap(colleague.held, colleague.cap)
        values = {"counsellor_id": to}
    return Change(
        new,
        {"last_activity_at": now, **values},
        transfers=True,
        handover=note,
        by=staff.id,
        audit=(Audit(staff.id, "conversation.transferred", row.id, {"to": to or "queue"}),),
    )


def transferred(
    staff: StaffContext,
    row: ConversationRow,
    to: str | None,
    note: bytes | None,
    moved: ConversationRow | None,
) -> tuple[Effect, ...]:
    """After a transfer's commit; ``moved``: the conversation as it is now (for the queue)."""
    effects: list[Effect] = [Tell(staff_topic(staff.id), f.Released(row.id, "transferred"))]
    if to is None:
        assert moved is not None
        effects += [
            Tell(team_topic(row.team_id), f.Queued(queue_item(moved))),
            Tell(conv_topic(row.id), f.StateChanged(row.id, State.WAITING.value, "transferred")),
            AnnouncePositions(row.team_id),
        ]
    else:
        effects += [
            Tell(staff_topic(to), assigned_frame(row, by=staff.id, note=note)),
            Tell(conv_topic(row.id), f.StateChanged(row.id, State.ACTIVE.value, "transferred")),
        ]
    effects.append(AnnouncePresence(staff))
    return tuple(effects)


def staff_close(
    staff: StaffContext, row: ConversationRow, category: str | None, now: int
) -> Decision:
    """The holder ends the conversation, with an optional category for the statistics."""
    _holder(staff, row)
    new = transition(row.state, Event.CLOSE, Actor.COUNSELLOR)
    change = Change(new, {"closed_at": now, "close_category": category}, ended=True)
    return Decision(change, (*ended(row, new, "counsellor_closed"), AnnouncePresence(staff)))


def block(staff: StaffContext, row: ConversationRow, hours: int, now: int) -> Decision:
    """The holder ends the conversation and blocks the client's token for ``hours``."""
    _holder(staff, row)
    new = transition(row.state, Event.BLOCK, Actor.COUNSELLOR)
    change = Change(
        new,
        {"closed_at": now, "close_category": "blocked"},
        ended=True,
        block_hours=hours,
        by=staff.id,
        audit=(Audit(staff.id, "client.blocked", row.id, {"hours": hours}),),
    )
    return Decision(change, (*ended(row, new, "blocked"), AnnouncePresence(staff)))


def client_close(row: ConversationRow, now: int) -> Decision:
    """The client leaves: a waiting conversation is abandoned, an active one closed."""
    new = transition(row.state, Event.CLOSE, Actor.CLIENT)
    change = Change(new, {"closed_at": now}, ended=True)
    return Decision(change, ended(row, new, "client_closed"))


def ended(row: ConversationRow, new: State, reason: str) -> tuple[Effect, ...]:
    """Who is told that a conversation ended or went away (``row`` as it was before)."""
    effects: list[Effect] = []
    if row.state is State.WAITING:
        effects += [
            Tell(team_topic(row.team_id), f.Dequeued(row.id, row.team)),
            AnnouncePositions(row.team_id),
        ]
    effects.append(Tell(conv_topic(row.id), f.StateChanged(row.id, new.value, reason)))
    if row.counsellor_id is not None:
        effects += [
            Tell(staff_topic(row.counsellor_id), f.StateChanged(row.id, new.value, reason)),
            Tell(staff_topic(row.counsellor_id), f.Released(row.id, reason)),
        ]
    return tuple(effects)


def ended_by_retention(
    conversation: str, team_id: int, team: str, was: State, now: State, counsellor: str | None
) -> tuple[Effect, ...]:
    """Who is told that the sweep ended an idle conversation."""
    effects: list[Effect] = [
        Tell(conv_topic(conversation), f.StateChanged(conversation, now.value, "idle"))
    ]
    if was is State.WAITING:
        effects += [
            Tell(team_topic(team_id), f.Dequeued(conversation, team)),
            AnnouncePositions(team_id),
        ]
    if counsellor is not None:
        effects += [
            Tell(staff_topic(counsellor), f.StateChanged(conversation, now.value, "idle")),
            Tell(staff_topic(counsellor), f.Released(conversation, "idle")),
        ]
    return tuple(effects)


def requeued(staff_id: str, moved: list[ConversationRow], team_id: int) -> tuple[Effect, ...]:
    """Who is told that a member's conversations went back to the queue (``moved``: each
    as it is now)."""
    effects: list[Effect] = []
    for row in moved:
        effects += [
            Tell(staff_topic(staff_id), f.Released(row.id, "member_removed")),
            Tell(team_topic(row.team_id), f.Queued(queue_item(row))),
            Tell(conv_topic(row.id), f.StateChanged(row.id, State.WAITING.value, "transferred")),
        ]
    if moved:
        effects.append(AnnouncePositions(team_id))
    return tuple(effects)


def envelope(
    staff: StaffContext,
    row: ConversationRow,
    frame: f.Envelope,
    existing: tuple[bytes, str] | None,
) -> Decision | None:
    """A key or note envelope for a conversation: by its holder, or by a supervisor or
    admin of its team (a legal hold's re-wrap only by them). ``existing``: the body and
    purpose already stored under this id, if any: the same again is a no-op (None), other
    content under the same id a conflict. The holder hears of an envelope someone else
    stored."""
    _member(staff, row)
    if frame.purpose == "hold" and not staff.oversees:
        raise Forbidden("only supervisors and admins place a legal hold")
    if not staff.oversees:
        _holder(staff, row)
    transition(row.state, Event.NOTE, Actor.COUNSELLOR)
    if existing is not None:
        if existing != (frame.body, frame.purpose):
            raise Conflict("this envelope id was already used for other content", ref=frame.id)
        return None
    effects: tuple[Effect, ...] = ()
    if row.counsellor_id is not None and row.counsellor_id != staff.id:
        notice = f.EnvelopeNotice(
            row.id, frame.id, frame.purpose, frame.body, frame.epoch, staff.id
        )
        effects = (Tell(staff_topic(row.counsellor_id), notice),)
    return Decision(Change(), effects)
