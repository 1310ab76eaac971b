"""The conversation lifecycle table, checked over the full (state, event, actor) product."""

from __future__ import annotations

import itertools
import re

import pytest

from chatserver.protocol.errors import InvalidTransition, PeerError, StateError
from chatserver.protocol.lifecycle import (
    ENDED,
    TRANSITIONS,
    Actor,
    Event,
    State,
    allowed,
    mermaid_diagram,
    transition,
)

S, E, A = State, Event, Actor

#: The lifecycle as the product defines it, written out independently of the module so
#: that a change to the table is a deliberate change to this test too.
EXPECTED: dict[tuple[State, Event, Actor], State] = {
    (S.NEW, E.START, A.CLIENT): S.WAITING,
    (S.WAITING, E.SEND, A.CLIENT): S.WAITING,
    (S.WAITING, E.TYPING, A.CLIENT): S.WAITING,
    (S.WAITING, E.RESUME, A.CLIENT): S.WAITING,
    (S.WAITING, E.ACCEPT, A.COUNSELLOR): S.ACTIVE,
    (S.WAITING, E.CLOSE, A.CLIENT): S.ABANDONED,
    (S.WAITING, E.ABANDON, A.SYSTEM): S.ABANDONED,
    (S.WAITING, E.DELETE, A.CLIENT): S.DELETED,
    (S.ACTIVE, E.SEND, A.CLIENT): S.ACTIVE,
    (S.ACTIVE, E.SEND, A.COUNSELLOR): S.ACTIVE,
    (S.ACTIVE, E.TYPING, A.CLIENT): S.ACTIVE,
    (S.ACTIVE, E.TYPING, A.COUNSELLOR): S.ACTIVE,
    (S.ACTIVE, E.RESUME, A.CLIENT): S.ACTIVE,
    (S.ACTIVE, E.NOTE, A.COUNSELLOR): S.ACTIVE,
    (S.ACTIVE, E.TRANSFER_QUEUE, A.COUNSELLOR): S.WAITING,
    (S.ACTIVE, E.TRANSFER_COLLEAGUE, A.COUNSELLOR): S.ACTIVE,
    (S.ACTIVE, E.CLOSE, A.CLIENT): S.CLOSED,
    (S.ACTIVE, E.CLOSE, A.COUNSELLOR): S.CLOSED,
    (S.ACTIVE, E.CLOSE, A.SYSTEM): S.CLOSED,
    (S.ACTIVE, E.BLOCK, A.COUNSELLOR): S.CLOSED,
    (S.ACTIVE, E.DELETE, A.CLIENT): S.DELETED,
    (S.CLOSED, E.RESUME, A.CLIENT): S.CLOSED,
    (S.CLOSED, E.NOTE, A.COUNSELLOR): S.CLOSED,
    (S.CLOSED, E.DELETE, A.CLIENT): S.DELETED,
    (S.CLOSED, E.DELETE, A.SYSTEM): S.DELETED,
    (S.ABANDONED, E.RESUME, A.CLIENT): S.ABANDONED,
    (S.ABANDONED, E.DELETE, A.CLIENT): S.DELETED,
    (S.ABANDONED, E.DELETE, A.SYSTEM): S.DELETED,
}

Move = tuple[State, Event, Actor]

ALL_MOVES: list[Move] = list(itertools.product(State, Event, Actor))
ILLEGAL: list[Move] = [move for move in ALL_MOVES if move not in EXPECTED]


def _move_id(move: Move) -> str:
    state, event, actor = move
    return f"{state.value}-{event.value}-{actor.value}"


def _node(state: State, *, source: bool) -> str:
    """How mermaid_diagram() names a state: NEW is the start node, DELETED the end node."""
    if source and state is S.NEW:
        return "[*]"
    if not source and state is S.DELETED:
        return "[*]"
    return state.value


EDGE_LINE = re.compile(r"^    (\S+) --> (\S+): (.+)$")


def _diagram_edges() -> dict[tuple[str, str], list[str]]:
    edges: dict[tuple[str, str], list[str]] = {}
    for line in mermaid_diagram().splitlines():
        found = EDGE_LINE.match(line)
        if found:
            left, right, labels = found.groups()
            assert (left, right) not in edges, f"duplicate edge line {line!r}"
            edges[(left, right)] = labels.split(", ")
    return edges


def test_table_is_exactly_the_expected_lifecycle() -> None:
    """TRANSITIONS holds exactly the documented moves, no more and no fewer."""
    assert TRANSITIONS == EXPECTED


def test_cross_product_is_split_into_legal_and_illegal() -> None:
    """Every (state, event, actor) combination is either in the table or tested as illegal."""
    assert len(ALL_MOVES) == len(State) * len(Event) * len(Actor)
    assert len(EXPECTED) + len(ILLEGAL) == len(ALL_MOVES)


@pytest.mark.parametrize(
    ("move", "expected"), list(EXPECTED.items()), ids=[_move_id(m) for m in EXPECTED]
)
def test_legal_transition_gives_expected_state(move: Move, expected: State) -> None:
    """A legal move returns the next state from the table and allowed() agrees."""
    state, event, actor = move
    assert allowed(state, event, actor)
    result = transition(state, event, actor)
    assert result is expected
    assert isinstance(result, State)


@pytest.mark.parametrize("move", ILLEGAL, ids=[_move_id(m) for m in ILLEGAL])
def test_illegal_transition_raises_naming_the_move(move: Move) -> None:
    """An illegal move raises InvalidTransition naming the actor, the event and the state."""
    state, event, actor = move
    assert not allowed(state, event, actor)
    with pytest.raises(InvalidTransition) as caught:
        transition(state, event, actor)
    message = str(caught.value)
    assert caught.value.message == message
    assert actor.value in message
    assert event.value.replace("_", " ") in message
    assert state.value in message


def test_invalid_transition_is_a_non_fatal_peer_state_error() -> None:
    """InvalidTransition blames the peer, keeps the connection and maps to 409."""
    with pytest.raises(InvalidTransition) as caught:
        transition(S.DELETED, E.SEND, A.CLIENT)
    error = caught.value
    assert isinstance(error, StateError)
    assert isinstance(error, PeerError)
    assert error.code == "invalid_transition"
    assert error.http_status == 409
    assert not error.fatal


def test_new_allows_only_start_by_the_client() -> None:
    """Before start exists nothing but the client's start is possible."""
    legal = [(e, a) for (s, e, a) in EXPECTED if s is S.NEW]
    assert legal == [(E.START, A.CLIENT)]


def test_ended_states_are_closed_abandoned_and_deleted() -> None:
    """ENDED names exactly the three terminal-ish states."""
    assert frozenset({S.CLOSED, S.ABANDONED, S.DELETED}) == ENDED


@pytest.mark.parametrize("state", sorted(ENDED), ids=str)
@pytest.mark.parametrize(
    "event",
    [E.SEND, E.TYPING, E.ACCEPT, E.TRANSFER_QUEUE, E.TRANSFER_COLLEAGUE, E.BLOCK, E.START],
    ids=str,
)
@pytest.mark.parametrize("actor", list(Actor), ids=str)
def test_ended_states_refuse_new_conversation_content(
    state: State, event: Event, actor: Actor
) -> None:
    """An ended conversation takes no message, typing, accept, transfer, block or start."""
    assert not allowed(state, event, actor)
    with pytest.raises(InvalidTransition):
        transition(state, event, actor)


def test_ended_states_only_lead_to_ended_states() -> None:
    """No move brings an ended conversation back to the queue or to active."""
    for (state, _event, _actor), target in EXPECTED.items():
        if state in ENDED:
            assert target in ENDED


def test_deleted_has_no_moves_at_all() -> None:
    """DELETED is absorbing: the table has no move out of it, not even a self-loop."""
    assert [move for move in TRANSITIONS if move[0] is S.DELETED] == []


def test_every_state_is_reachable_from_new() -> None:
    """Each state can be reached from NEW by following the table."""
    seen = {S.NEW}
    frontier = [S.NEW]
    while frontier:
        current = frontier.pop()
        for (state, _event, _actor), target in TRANSITIONS.items():
            if state is current and target not in seen:
                seen.add(target)
                frontier.append(target)
    assert seen == set(State)


def test_deleted_is_reachable_from_every_state() -> None:
    """From every state there is a path to DELETED (nothing is kept forever)."""
    can_delete = {S.DELETED}
    changed = True
    while changed:
        changed = False
        for (state, _event, _actor), target in TRANSITIONS.items():
            if target in can_delete and state not in can_delete:
                can_delete.add(state)
                changed = True
    assert can_delete == set(State)


def test_mermaid_diagram_is_a_fenced_state_diagram() -> None:
    """The diagram is a fenced mermaid stateDiagram-v2 block."""
    lines = mermaid_diagram().splitlines()
    assert lines[0] == "```mermaid"
    assert lines[1] == "stateDiagram-v2"
    assert lines[-1] == "```"
    assert all(EDGE_LINE.match(line) for line in lines[2:-1])


STATE_CHANGING = [(move, target) for move, target in EXPECTED.items() if move[0] is not target]


@pytest.mark.parametrize(
    ("move", "target"), STATE_CHANGING, ids=[_move_id(m) for m, _ in STATE_CHANGING]
)
def test_mermaid_diagram_has_an_edge_for_each_state_change(move: Move, target: State) -> None:
    """Each state-changing move appears as a labelled edge between its two states."""
    state, event, actor = move
    edges = _diagram_edges()
    key = (_node(state, source=True), _node(target, source=False))
    assert key in edges
    assert f"{event.value} ({actor.value})" in edges[key]


def test_mermaid_diagram_has_no_other_edges() -> None:
    """The diagram has one label per state change and nothing for self-loops."""
    edges = _diagram_edges()
    labels = sorted(label for group in edges.values() for label in group)
    expected = sorted(f"{e.value} ({a.value})" for (_s, e, a), _t in STATE_CHANGING)
    assert labels == expected
    pairs = {(_node(s, source=True), _node(t, source=False)) for (s, _e, _a), t in STATE_CHANGING}
    assert set(edges) == pairs
