"""The chat's decisions without I/O (chatserver.chat.core), synchronously: what each
move of a counsellor or a client does to a conversation, what it writes and who is told,
and every refusal, over every state. ``ConversationPair`` wires a client and counsellors
to one conversation and applies each decision's change as storage would, in the style of
h11's ``ConnectionPair``."""

from __future__ import annotations

import dataclasses
import itertools
from dataclasses import dataclass, field
from typing import Any

import pytest

from chatserver.chat import core
from chatserver.chat.core import (
    AnnouncePositions,
    AnnouncePresence,
    Colleague,
    Decision,
    StaffContext,
    Tell,
)
from chatserver.protocol import frames as f
from chatserver.protocol.errors import (
    AlreadyTaken,
    CapReached,
    ChatError,
    Conflict,
    Forbidden,
    InvalidTransition,
    NotFound,
)
from chatserver.protocol.lifecycle import TRANSITIONS, Actor, Event, State
from chatserver.storage.store import ConversationRow

TEAM, OTHER_TEAM = 7, 8


def counsellor(
    staff_id: str, *, teams: tuple[int, ...] = (TEAM,), role: str = "counsellor", cap: int = 3
) -> StaffContext:
    return StaffContext(staff_id, staff_id.title(), role, {t: f"team{t}" for t in teams}, cap)


@dataclass
class ConversationPair:
    """One conversation of team 7 between a client and whoever holds it, at a clock the
    test moves; each decision's change is applied to the row as storage would apply it."""

    now: int = 1_000
    row: ConversationRow = field(
        default_factory=lambda: ConversationRow(
            id="c1",
            team_id=TEAM,
            team="team7",
            topic=None,
            state=State.WAITING,
            token_hash="t" * 64,
            client_key=b"\x04" + b"k" * 64,
            counsellor_id=None,
            last_seq=0,
            created_at=500,
            queued_at=500,
            last_activity_at=500,
            epoch=3,
        )
    )
    transfers: int = 0
    accepted_at: int | None = None
    blocks: list[int] = field(default_factory=list)
    audit: list[core.Audit] = field(default_factory=list)

    def apply(self, change: core.Change) -> None:
        values: dict[str, Any] = {
            k: v
            for k, v in change.values.items()
            if k in {x.name for x in dataclasses.fields(self.row)}
        }
        if change.state is not None:
            values["state"] = change.state
        self.row = dataclasses.replace(self.row, **values)
        if change.accepted_at is not None and self.accepted_at is None:
            self.accepted_at = change.accepted_at
        self.transfers += change.transfers
        if change.block_hours is not None:
            self.blocks.append(change.block_hours)
        self.audit += change.audit

    def accept(
        self, staff: StaffContext, held: int = 0
    ) -> tuple[f.Assigned, tuple[core.Effect, ...]]:
        before = self.row
        self.apply(core.accept(staff, before, held, self.now))
        return core.accepted(staff, before, None)

    def decide(self, decision: Decision) -> tuple[core.Effect, ...]:
        self.apply(decision.change)
        return decision.effects


def tells(effects: tuple[core.Effect, ...]) -> list[tuple[str, str]]:
    """(topic, frame type) of each Tell, in order; other effects by their class name."""
    return [
        (e.topic, type(e.frame).__name__) if isinstance(e, Tell) else (type(e).__name__, "")
        for e in effects
    ]


# ------------------------------------------------------------------------- accept
def test_an_accept_makes_the_conversation_active_and_tells_everyone() -> None:
    """The counsellor holds it from now; the team hears it left the queue, the client that
    it is active, the counsellor gets ``assigned``, the queue and the shift view move."""
    pair, anna = ConversationPair(), counsellor("anna")
    assigned, effects = pair.accept(anna)
    assert pair.row.state is State.ACTIVE and pair.row.counsellor_id == "anna"
    assert pair.accepted_at == pair.now and pair.row.last_activity_at == pair.now
    assert assigned == f.Assigned("c1", "team7", None, pair.row.client_key, 0, epoch=3)
    assert tells(effects) == [
        ("team:7", "Dequeued"),
        ("conv:c1", "StateChanged"),
        ("AnnouncePositions", ""),
        ("staff:anna", "Assigned"),
        ("AnnouncePresence", ""),
    ]


def test_an_accept_with_its_first_message_tells_the_client_both() -> None:
    pair, anna = ConversationPair(), counsellor("anna")
    message = f.Message("c1", 1, "team", "m1", b"hi", 0, 0, "accept", pair.now)
    assigned, effects = core.accepted(anna, pair.row, message)
    assert assigned.last_seq == 1
    assert tells(effects)[:3] == [
        ("team:7", "Dequeued"),
        ("conv:c1", "StateChanged"),
        ("conv:c1", "Message"),
    ]


@pytest.mark.parametrize(
    ("staff", "held", "error", "message"),
    [
        (counsellor("tom", teams=(OTHER_TEAM,)), 0, Forbidden, "not a member"),
        (counsellor("anna", cap=2), 2, CapReached, "you already hold 2 chats"),
    ],
)
def test_an_accept_is_refused_outside_the_team_and_beyond_the_cap(
    staff: StaffContext, held: int, error: type[ChatError], message: str
) -> None:
    pair = ConversationPair()
    with pytest.raises(error, match=message):
        core.accept(staff, pair.row, held, pair.now)
    assert pair.row.state is State.WAITING


def test_a_second_accept_loses_to_the_first() -> None:
    pair = ConversationPair()
    pair.accept(counsellor("anna"))
    with pytest.raises(AlreadyTaken):
        core.accept(counsellor("ben"), pair.row, 0, pair.now)
    assert pair.row.counsellor_id == "anna"


def test_the_first_accept_is_kept_after_a_transfer_back_and_a_second_accept() -> None:
    """Waiting time and duration count from the first accept."""
    pair, anna, ben = ConversationPair(), counsellor("anna"), counsellor("ben")
    pair.accept(anna)
    first = pair.now
    pair.now += 60_000
    pair.decide(Decision(core.transfer(anna, pair.row, None, None, None, pair.now)))
    pair.now += 60_000
    pair.accept(ben)
    assert pair.accepted_at == first and pair.transfers == 1


# ------------------------------------------------------------------------- transfer
def test_a_transfer_to_the_queue_requeues_and_audits() -> None:
    pair, anna = ConversationPair(), counsellor("anna")
    pair.accept(anna)
    pair.now = 5_000
    before = pair.row
    change = core.transfer(anna, before, None, None, b"note", pair.now)
    pair.apply(change)
    assert pair.row.state is State.WAITING and pair.row.counsellor_id is None
    assert pair.row.queued_at == 5_000 and pair.transfers == 1
    assert change.handover == b"note" and change.by == "anna"
    assert pair.audit[-1] == core.Audit("anna", "conversation.transferred", "c1", {"to": "queue"})
    effects = core.transferred(anna, before, None, b"note", pair.row)
    assert tells(effects) == [
        ("staff:anna", "Released"),
        ("team:7", "Queued"),
        ("conv:c1", "StateChanged"),
        ("AnnouncePositions", ""),
        ("AnnouncePresence", ""),
    ]


def test_a_transfer_to_a_colleague_hands_it_over_with_the_note() -> None:
    pair, anna = ConversationPair(), counsellor("anna")
    pair.accept(anna)
    before = pair.row
    pair.apply(core.transfer(anna, before, "ben", Colleague("ben", 0, 3), b"n", pair.now))
    assert pair.row.state is State.ACTIVE and pair.row.counsellor_id == "ben"
    effects = core.transferred(anna, before, "ben", b"n", None)
    handed = [e for e in effects if isinstance(e, Tell) and e.topic == "staff:ben"]
    assert [e.frame for e in handed] == [core.assigned_frame(before, by="anna", note=b"n")]


@pytest.mark.parametrize(
    ("to", "colleague", "error"),
    [
        ("anna", None, Conflict),  # to oneself
        ("ghost", None, NotFound),  # no enabled member of the team
        ("ben", Colleague("ben", 3, 3), CapReached),  # the colleague is full
    ],
)
def test_a_transfer_is_refused_to_whom_it_cannot_go(
    to: str, colleague: Colleague | None, error: type[ChatError]
) -> None:
    pair, anna = ConversationPair(), counsellor("anna")
    pair.accept(anna)
    with pytest.raises(error):
        core.transfer(anna, pair.row, to, colleague, None, pair.now)
    assert pair.row.counsellor_id == "anna"


def test_only_the_holder_transfers_closes_blocks_and_types() -> None:
    pair = ConversationPair()
    pair.accept(counsellor("anna"))
    ben, boss = counsellor("ben"), counsellor("boss", role="admin")
    for staff in (ben, boss):
        with pytest.raises(Forbidden, match="you do not hold"):
            core.transfer(staff, pair.row, None, None, None, pair.now)
        with pytest.raises(Forbidden):
            core.staff_close(staff, pair.row, None, pair.now)
        with pytest.raises(Forbidden):
            core.block(staff, pair.row, 24, pair.now)
        with pytest.raises(Forbidden):
            core.staff_typing(staff, pair.row, True)


# ------------------------------------------------------------------------- endings
def test_the_counsellor_closes_with_a_category() -> None:
    pair, anna = ConversationPair(), counsellor("anna")
    pair.accept(anna)
    decision = core.staff_close(anna, pair.row, "advice", pair.now)
    effects = pair.decide(decision)
    assert pair.row.state is State.CLOSED and decision.change.ended
    assert decision.change.values == {"closed_at": pair.now, "close_category": "advice"}
    assert tells(effects) == [
        ("conv:c1", "StateChanged"),
        ("staff:anna", "StateChanged"),
        ("staff:anna", "Released"),
        ("AnnouncePresence", ""),
    ]


def test_a_block_ends_the_chat_and_blocks_the_token() -> None:
    pair, anna = ConversationPair(), counsellor("anna")
    pair.accept(anna)
    decision = core.block(anna, pair.row, 48, pair.now)
    pair.decide(decision)
    assert pair.row.state is State.CLOSED and pair.blocks == [48]
    assert decision.change.values["close_category"] == "blocked"
    assert pair.audit[-1] == core.Audit("anna", "client.blocked", "c1", {"hours": 48})


def test_a_client_leaving_the_queue_abandons_and_the_queue_moves() -> None:
    pair = ConversationPair()
    effects = pair.decide(core.client_close(pair.row, pair.now))
    assert pair.row.state is State.ABANDONED
    assert tells(effects) == [
        ("team:7", "Dequeued"),
        ("AnnouncePositions", ""),
        ("conv:c1", "StateChanged"),
    ]


def test_a_client_leaving_an_active_chat_closes_it_and_frees_the_counsellor() -> None:
    pair = ConversationPair()
    pair.accept(counsellor("anna"))
    effects = pair.decide(core.client_close(pair.row, pair.now))
    assert pair.row.state is State.CLOSED
    assert ("staff:anna", "Released") in tells(effects)


def test_retention_ending_an_idle_chat_tells_whom_it_concerns() -> None:
    effects = core.ended_by_retention("c1", TEAM, "team7", State.ACTIVE, State.CLOSED, "anna")
    assert tells(effects) == [
        ("conv:c1", "StateChanged"),
        ("staff:anna", "StateChanged"),
        ("staff:anna", "Released"),
    ]


# ------------------------------------------------------------------------- envelopes
def envelope(purpose: str = "note", body: bytes = b"sealed") -> f.Envelope:
    return f.Envelope("c1", "e1", purpose, body, 3)


def test_a_supervisor_places_a_hold_and_the_holder_hears_of_it() -> None:
    pair = ConversationPair()
    pair.accept(counsellor("anna"))
    sue = counsellor("sue", role="supervisor")
    decision = core.envelope(sue, pair.row, envelope("hold"), None)
    assert decision is not None
    assert tells(decision.effects) == [("staff:anna", "EnvelopeNotice")]
    with pytest.raises(Forbidden, match="only supervisors and admins"):
        core.envelope(counsellor("anna"), pair.row, envelope("hold"), None)


def test_an_envelope_id_holds_one_content() -> None:
    """The same envelope again is a no-op (a resend); other content under its id is a
    conflict."""
    pair, anna = ConversationPair(), counsellor("anna")
    pair.accept(anna)
    assert core.envelope(anna, pair.row, envelope(), (b"sealed", "note")) is None
    with pytest.raises(Conflict):
        core.envelope(anna, pair.row, envelope(), (b"other", "note"))


# ------------------------------------------------------------------------- every state
STAFF_MOVES = {
    Event.ACCEPT: lambda s, row: core.accept(s, row, 0, 1),
    Event.TRANSFER_QUEUE: lambda s, row: core.transfer(s, row, None, None, None, 1),
    Event.TRANSFER_COLLEAGUE: lambda s, row: core.transfer(
        s, row, "ben", Colleague("ben", 0, 3), None, 1
    ),
    Event.CLOSE: lambda s, row: core.staff_close(s, row, None, 1).change,
    Event.BLOCK: lambda s, row: core.block(s, row, 1, 1).change,
    Event.TYPING: lambda s, row: core.staff_typing(s, row, True).change,
    Event.NOTE: lambda s, row: core.envelope(s, row, envelope(), None).change,  # type: ignore[union-attr]
}
STATES = [s for s in State if s not in (State.NEW, State.DELETED)]


@pytest.mark.parametrize(("state", "event"), list(itertools.product(STATES, STAFF_MOVES)))
def test_every_staff_move_in_every_state_follows_the_lifecycle_table(
    state: State, event: Event
) -> None:
    """Whoever holds (or, for an accept, may take) the conversation: a move the table has
    gives the table's state, any other is refused as an invalid transition."""
    anna = counsellor("anna")
    row = dataclasses.replace(
        ConversationPair().row,
        state=state,
        counsellor_id=None if state is State.WAITING or event is Event.ACCEPT else "anna",
    )
    legal = (state, event, Actor.COUNSELLOR) in TRANSITIONS
    if event is Event.ACCEPT and state is State.ACTIVE:
        with pytest.raises(AlreadyTaken):
            STAFF_MOVES[event](anna, row)
        return
    if event is not Event.ACCEPT and row.counsellor_id != "anna":
        with pytest.raises(Forbidden):  # nobody holds a waiting conversation
            STAFF_MOVES[event](anna, row)
        return
    if not legal:
        with pytest.raises(InvalidTransition):
            STAFF_MOVES[event](anna, row)
        return
    change = STAFF_MOVES[event](anna, row)
    assert (change.state or state) is TRANSITIONS[(state, event, Actor.COUNSELLOR)]


@pytest.mark.parametrize("state", STATES)
def test_a_client_close_in_every_state_follows_the_table(state: State) -> None:
    row = dataclasses.replace(ConversationPair().row, state=state)
    if (state, Event.CLOSE, Actor.CLIENT) not in TRANSITIONS:
        with pytest.raises(InvalidTransition):
            core.client_close(row, 1)
        return
    decision = core.client_close(row, 1)
    assert decision.change.state is TRANSITIONS[(state, Event.CLOSE, Actor.CLIENT)]
    assert decision.change.ended


def test_effects_are_data_the_service_carries_out() -> None:
    """Every effect is one of three kinds (the service's _carry_out handles each)."""
    pair, anna = ConversationPair(), counsellor("anna")
    _, effects = pair.accept(anna)
    assert {type(e) for e in effects} <= {Tell, AnnouncePositions, AnnouncePresence}
