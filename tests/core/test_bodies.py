"""The HTTP API's request bodies are checked by the same declarative specs as frames
(chatserver.protocol.bodies, codec.decode_body): every body class refuses what is not an
object, an unknown field, a missing field and a value of the wrong type, with one error
type (``Malformed``, HTTP 400) whose message names the body's shape or the field."""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any

import pytest

from chatserver.protocol import bodies
from chatserver.protocol.codec import decode_body
from chatserver.protocol.errors import Malformed
from chatserver.protocol.frames import spec

BODIES = [
    cls
    for name in bodies.__all__
    if (cls := getattr(bodies, name)) is not bodies.Body and issubclass(cls, bodies.Body)
]

WRONG: dict[Any, Any] = {str: 7, int: "7", bool: "true", list: {"a": 1}, dict: [1]}


def _fields(cls: type[bodies.Body]) -> list[dataclasses.Field[Any]]:
    return [f for f in dataclasses.fields(cls) if not f.metadata.get("decoder")]


def _kind(cls: type[bodies.Body], name: str) -> Any:
    """str, int, bool, list, dict or Any: the field's type without ``| None``."""
    hint = typing.get_type_hints(cls)[name]
    if isinstance(hint, types.UnionType):
        hint = next(a for a in typing.get_args(hint) if a is not type(None))
    return typing.get_origin(hint) or hint


def _good(cls: type[bodies.Body]) -> dict[str, Any]:
    """A body with every field given a well-formed value."""
    values = {str: "x", int: 3, bool: True, list: [], dict: {}}
    return {f.name: values.get(_kind(cls, f.name), "x") for f in _fields(cls)}


def test_every_body_class_is_listed_and_has_an_example() -> None:
    assert len(BODIES) >= 15
    for cls in BODIES:
        assert cls.EXAMPLE.startswith("{"), cls


@pytest.mark.parametrize("cls", BODIES, ids=lambda c: c.__name__)
def test_a_well_formed_body_decodes(cls: type[bodies.Body]) -> None:
    body = decode_body(_good(cls), cls)
    for name, value in _good(cls).items():
        assert getattr(body, name) == value


@pytest.mark.parametrize("cls", BODIES, ids=lambda c: c.__name__)
@pytest.mark.parametrize("data", [None, [], "x", 3, True])
def test_what_is_not_an_object_is_refused(cls: type[bodies.Body], data: Any) -> None:
    with pytest.raises(Malformed, match="the body is"):
        decode_body(data, cls)


@pytest.mark.parametrize("cls", BODIES, ids=lambda c: c.__name__)
def test_an_unknown_field_is_refused(cls: type[bodies.Body]) -> None:
    """Also the decoder's own ``present``: a peer cannot claim which fields it gave."""
    for extra in ("team_id", "present", "__class__"):
        with pytest.raises(Malformed, match="the body is"):
            decode_body({**_good(cls), extra: 1}, cls)


@pytest.mark.parametrize("cls", BODIES, ids=lambda c: c.__name__)
def test_a_missing_required_field_is_refused(cls: type[bodies.Body]) -> None:
    required = [
        f.name
        for f in _fields(cls)
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    ]
    for name in required:
        data = _good(cls)
        del data[name]
        with pytest.raises(Malformed, match="the body is"):
            decode_body(data, cls)


@pytest.mark.parametrize("cls", BODIES, ids=lambda c: c.__name__)
def test_a_value_of_the_wrong_type_is_refused_naming_the_field(cls: type[bodies.Body]) -> None:
    for f in _fields(cls):
        kind = _kind(cls, f.name)
        if kind not in WRONG:  # Any: the domain checks it
            continue
        data = {**_good(cls), f.name: WRONG[kind]}
        with pytest.raises(Malformed, match=f"^{f.name}: "):
            decode_body(data, cls)


def test_a_boolean_is_not_an_integer() -> None:
    with pytest.raises(Malformed, match="hours: must be an integer"):
        decode_body({"role": "counsellor", "hours": True}, bodies.Invite)


def test_null_only_where_the_field_is_optional() -> None:
    """A field that may be left out is not therefore nullable: ``{"transcript": null}``
    is refused, ``{"cap": null}`` (back to the default) is not."""
    with pytest.raises(Malformed, match="role: must not be null"):
        decode_body({"role": None}, bodies.Invite)
    cases: list[tuple[type[bodies.Body], str, dict[str, Any]]] = [
        (bodies.TeamChange, "transcript", {"name": "x"}),
        (bodies.StaffChange, "disabled", {"role": "admin"}),
    ]
    for cls, name, other in cases:
        with pytest.raises(Malformed, match=f"{name}: must not be null"):
            decode_body({name: None}, cls)
        assert getattr(decode_body(other, cls), name) is None  # left out: kept
    assert decode_body({"cap": None}, bodies.StaffChange).cap is None


def test_defaults_and_ranges() -> None:
    assert decode_body({"role": "admin"}, bodies.Invite).hours == 72
    preview = decode_body({}, bodies.RulesPreview)
    assert (preview.changes, preview.days) == ({}, 7)
    for days in (0, 366, -1):
        with pytest.raises(Malformed, match="days: is from 1 to 365"):
            decode_body({"days": days}, bodies.RulesPreview)


def test_present_tells_keep_from_clear() -> None:
    """``{"cap": null}`` clears the cap; leaving ``cap`` out keeps it."""
    assert decode_body({"cap": None}, bodies.StaffChange).present == {"cap"}
    assert decode_body({"role": "admin"}, bodies.StaffChange).present == {"role"}


def test_a_change_that_changes_nothing_is_refused() -> None:
    for cls in (bodies.StaffChange, bodies.TeamChange):
        with pytest.raises(Malformed, match="the body is"):
            decode_body({}, cls)


def test_over_long_strings_are_refused_before_the_domain_sees_them() -> None:
    with pytest.raises(Malformed, match="username: is longer than 1024 characters"):
        decode_body({"username": "u" * 1025}, bodies.LoginSalt)


def test_a_list_of_strings_checks_its_items() -> None:
    @dataclasses.dataclass(frozen=True, slots=True)
    class Names(bodies.Body):
        EXAMPLE = '{"names": [...]}'
        names: list[str] = spec()

    assert decode_body({"names": ["a", "b"]}, Names).names == ["a", "b"]
    with pytest.raises(Malformed, match="names: must be a list of strings"):
        decode_body({"names": ["a", 1]}, Names)
