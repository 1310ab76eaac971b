"""Property-based fuzzing of the codec and the lifecycle with hypothesis."""

from __future__ import annotations

import base64
import dataclasses
import json
import types
import typing
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from chatserver.protocol.codec import ROLES, decode, encode
from chatserver.protocol.errors import InvalidTransition, PeerError
from chatserver.protocol.frames import Frame
from chatserver.protocol.lifecycle import ENDED, TRANSITIONS, Actor, Event, State, transition

MAX = 256 * 1024
FUZZ = settings(max_examples=300, deadline=None)

ROLE_NAMES = sorted(ROLES)
FRAME_NAMES = sorted({name for frames in ROLES.values() for name in frames})
FIELD_NAMES = sorted(
    {
        f.name
        for frames in ROLES.values()
        for cls in frames.values()
        for f in dataclasses.fields(cls)  # type: ignore[arg-type]
    }
)
#: A bytes field is generated up to this size; the 64 KiB boundary is in test_codec.
BYTES_CAP = 300


def _decode_or_peer_error(raw: str | bytes, role: str) -> Frame | PeerError:
    try:
        return decode(raw, role, MAX)
    except PeerError as error:
        return error


# --------------------------------------------------------------------------- (a) raw input

json_ish_text = st.text(alphabet='{}[]":,.-+0123456789eEtrufalsnNI \\typesndacor', max_size=80)


@FUZZ
@given(raw=st.one_of(st.text(), json_ish_text), role=st.sampled_from(ROLE_NAMES))
def test_arbitrary_text_decodes_or_raises_peer_error(raw: str, role: str) -> None:
    """Any text yields a frame or a PeerError, never another exception."""
    _decode_or_peer_error(raw, role)


@FUZZ
@given(raw=st.binary(), role=st.sampled_from(ROLE_NAMES))
def test_arbitrary_bytes_decode_or_raise_peer_error(raw: bytes, role: str) -> None:
    """Any bytes (invalid UTF-8, other encodings) yield a frame or a PeerError."""
    _decode_or_peer_error(raw, role)


# --------------------------------------------------------------------------- (b) JSON objects

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**64), max_value=2**64)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)
json_objects = st.builds(
    lambda type_, fields: {**fields, "type": type_} if type_ is not None else fields,
    st.one_of(st.none(), st.sampled_from(FRAME_NAMES), st.text(max_size=12), json_values),
    st.dictionaries(
        st.one_of(st.sampled_from(FIELD_NAMES), st.text(max_size=10)), json_values, max_size=6
    ),
)


@FUZZ
@given(data=json_objects, role=st.sampled_from(ROLE_NAMES))
def test_arbitrary_json_objects_yield_registered_frame_or_peer_error(
    data: dict[str, Any], role: str
) -> None:
    """A JSON object decodes to exactly the class its type names for the role, or a PeerError."""
    result = _decode_or_peer_error(json.dumps(data), role)
    if isinstance(result, PeerError):
        return
    assert type(result) is ROLES[role][data["type"]]
    assert set(data) - {"type"} <= {f.name for f in dataclasses.fields(result)}  # type: ignore[arg-type]


# --------------------------------------------------------------------------- (c) valid frames


def _value_strategy(kind: type, rules: dict[str, Any]) -> st.SearchStrategy[Any]:
    """Values of one field that satisfy its spec, as Python values (bytes as bytes)."""
    if kind is bool:
        return st.booleans()
    if kind is int:
        return st.integers(min_value=rules["min"], max_value=rules["max"])
    if kind is bytes:
        return st.binary(min_size=1, max_size=min(rules["max_len"], BYTES_CAP))
    if "choices" in rules:
        return st.sampled_from(rules["choices"])
    if "pattern" in rules:
        return st.from_regex(rules["pattern"], fullmatch=True)
    return st.text(max_size=rules["max_len"])


@st.composite
def frame_with_json(draw: st.DrawFn, cls: type[Frame]) -> tuple[Frame, dict[str, Any]]:
    """A valid frame of ``cls`` and a JSON object for it, built from the field specs."""
    hints = typing.get_type_hints(cls)
    values: dict[str, Any] = {}
    wire: dict[str, Any] = {"type": cls.type}
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        hint = hints[f.name]
        nullable = isinstance(hint, types.UnionType)
        kind = next(a for a in typing.get_args(hint) if a is not type(None)) if nullable else hint
        has_default = f.default is not dataclasses.MISSING
        if has_default and draw(st.booleans()):
            continue  # leave it out: the default applies
        if nullable and draw(st.booleans()):
            values[f.name] = None
            wire[f.name] = None
            continue
        value = draw(_value_strategy(kind, dict(f.metadata)))
        values[f.name] = value
        wire[f.name] = base64.b64encode(value).decode() if isinstance(value, bytes) else value
    return cls(**values), wire


def _role_frames(role: str) -> st.SearchStrategy[tuple[Frame, dict[str, Any]]]:
    return st.sampled_from(sorted(ROLES[role].values(), key=lambda c: c.__name__)).flatmap(
        frame_with_json
    )


@settings(max_examples=400, deadline=None)
@given(pair=st.one_of(_role_frames("client"), _role_frames("console")))
def test_valid_frames_from_specs_decode_and_reencode(pair: tuple[Frame, dict[str, Any]]) -> None:
    """A frame built from its field specs decodes from its JSON and survives encode()."""
    frame, wire = pair
    role = "client" if ROLES["client"].get(frame.type) is type(frame) else "console"
    decoded = decode(json.dumps(wire), role, MAX)
    assert decoded == frame
    assert decode(encode(frame), role, MAX) == frame
    assert decode(encode(frame).encode(), role, MAX) == frame


@st.composite
def mutated_frame_json(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    """A valid frame's JSON with one field replaced, removed or added."""
    role = draw(st.sampled_from(ROLE_NAMES))
    _frame, wire = draw(_role_frames(role))
    key = draw(st.one_of(st.sampled_from(sorted(wire)), st.sampled_from(FIELD_NAMES)))
    if draw(st.booleans()):
        wire.pop(key, None)
    else:
        wire[key] = draw(json_values)
    return role, wire


@FUZZ
@given(case=mutated_frame_json())
def test_mutated_valid_frames_yield_registered_frame_or_peer_error(
    case: tuple[str, dict[str, Any]],
) -> None:
    """A valid frame with one field broken still only yields its class or a PeerError."""
    role, wire = case
    result = _decode_or_peer_error(json.dumps(wire), role)
    if not isinstance(result, PeerError):
        assert type(result) is ROLES[role][wire["type"]]


# --------------------------------------------------------------------------- (d) lifecycle

moves = st.lists(st.tuples(st.sampled_from(list(Event)), st.sampled_from(list(Actor))), max_size=40)


@settings(max_examples=500, deadline=None)
@given(start=st.sampled_from(list(State)), steps=moves)
def test_random_event_sequences_follow_the_table(
    start: State, steps: list[tuple[Event, Actor]]
) -> None:
    """Random moves follow the table; illegal ones raise and leave the state as it was."""
    state = start
    for event, actor in steps:
        before = state
        try:
            state = transition(state, event, actor)
        except InvalidTransition:
            assert (before, event, actor) not in TRANSITIONS
            assert state is before
        else:
            assert state is TRANSITIONS[(before, event, actor)]
        assert isinstance(state, State)
        if before is State.DELETED:
            assert state is State.DELETED
        if before in ENDED:
            assert state in ENDED
        if before is not State.NEW:
            assert state is not State.NEW


@settings(max_examples=300, deadline=None)
@given(steps=moves)
def test_legal_walks_from_new_never_leave_deleted(steps: list[tuple[Event, Actor]]) -> None:
    """Starting a conversation and applying only legal moves, DELETED is never left."""
    state = transition(State.NEW, Event.START, Actor.CLIENT)
    deleted = False
    for event, actor in steps:
        if (state, event, actor) in TRANSITIONS:
            state = transition(state, event, actor)
        deleted = deleted or state is State.DELETED
        assert state is not State.NEW
        if deleted:
            assert state is State.DELETED
