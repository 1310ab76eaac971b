"""The only module that touches JSON.

:func:`decode` turns raw text from a peer into a validated inbound frame or raises a
:class:`~chatserver.protocol.errors.FrameError`; :func:`decode_body` checks a request
body of the HTTP API the same way (:mod:`chatserver.protocol.bodies`); :func:`encode`
turns any frame into text. Validation is driven by the field types and the ``spec``
metadata in :mod:`chatserver.protocol.frames`: unknown fields, missing fields, wrong
types, out of range numbers and over-long strings are all refused, with a
:class:`~chatserver.protocol.errors.Malformed` naming the field.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import json
import re
import types
import typing
from typing import Any

from chatserver.protocol.bodies import Body
from chatserver.protocol.errors import FrameTooLarge, Malformed, UnknownFrameType
from chatserver.protocol.frames import CLIENT_FRAMES, CONSOLE_FRAMES, Frame

__all__ = ["ROLES", "decode", "decode_body", "encode", "to_jsonable"]

B = typing.TypeVar("B", bound=Body)

ROLES: dict[str, dict[str, type[Frame]]] = {"client": CLIENT_FRAMES, "console": CONSOLE_FRAMES}


@dataclasses.dataclass(frozen=True, slots=True)
class _FieldRule:
    name: str
    kind: type  # str, int, bool, bytes, list (a JSON array), dict (a JSON object) or object
    item: type | None  # list[str]: each item's kind
    optional: bool
    required: bool
    rules: dict[str, Any]
    pattern: re.Pattern[str] | None


def _rules(cls: type) -> tuple[_FieldRule, ...]:
    hints = typing.get_type_hints(cls)
    out = []
    for f in dataclasses.fields(cls):
        if f.metadata.get("decoder"):  # set by the decoder, never read from the peer
            continue
        hint = hints[f.name]
        optional = False
        if isinstance(hint, types.UnionType):
            args = [a for a in typing.get_args(hint) if a is not type(None)]
            optional = len(args) < len(typing.get_args(hint))
            hint = args[0]
        item = None
        if typing.get_origin(hint) is not None:
            item = next((a for a in typing.get_args(hint) if a in (str, int)), None)
            hint = typing.get_origin(hint)
        required = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        pattern = f.metadata.get("pattern")
        out.append(
            _FieldRule(
                f.name,
                object if hint is Any else hint,
                item,
                optional,
                required,
                dict(f.metadata),
                re.compile(pattern) if pattern else None,
            )
        )
    return tuple(out)


#: The validation rules of every inbound frame class, derived once from the dataclasses;
#: those of request bodies are derived on first use.
_RULES: dict[type, tuple[_FieldRule, ...]] = {
    cls: _rules(cls) for table in ROLES.values() for cls in table.values()
}


class _Bad(Exception):
    """What is wrong with one field's value; the caller names the field."""


def _check(rule: _FieldRule, value: Any) -> Any:
    kind = rule.kind
    if value is None:
        if rule.optional and rule.rules.get("null", True):
            return None
        raise _Bad("must not be null")
    if kind is bool:
        if not isinstance(value, bool):
            raise _Bad("must be true or false")
        return value
    if kind is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise _Bad("must be an integer")
        lo, hi = rule.rules.get("min"), rule.rules.get("max")
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            raise _Bad("is out of range" if lo is None or hi is None else f"is from {lo} to {hi}")
        return value
    if kind is dict:
        if not isinstance(value, dict):
            raise _Bad("must be a JSON object")
        return value
    if kind is list:
        if not isinstance(value, list):
            raise _Bad("must be a list")
        if rule.item is not None and not all(_is(rule.item, v) for v in value):
            raise _Bad(f"must be a list of {'strings' if rule.item is str else 'integers'}")
        return value
    if kind is object:
        return value
    if not isinstance(value, str):
        raise _Bad("must be a string")
    if kind is bytes:
        limit = rule.rules.get("max_len")
        # Refuse before decoding: base64 grows by 4/3.
        if limit is not None and len(value) > (limit + 2) // 3 * 4:
            raise _Bad(f"is longer than {limit} bytes")
        try:
            raw = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise _Bad("must be base64") from None
        if not raw:
            raise _Bad("must not be empty")
        if limit is not None and len(raw) > limit:
            raise _Bad(f"is longer than {limit} bytes")
        return raw
    limit = rule.rules.get("max_len")
    if limit is not None and len(value) > limit:
        raise _Bad(f"is longer than {limit} characters")
    if rule.pattern is not None and not rule.pattern.fullmatch(value):
        raise _Bad("has an invalid format")
    choices = rule.rules.get("choices")
    if choices is not None and value not in choices:
        raise _Bad(f"must be one of: {', '.join(choices)}")
    return value


def _is(kind: type, value: Any) -> bool:
    return isinstance(value, kind) and not isinstance(value, bool)


def decode(raw: str | bytes, role: str, max_bytes: int) -> Frame:
    """Parse one inbound frame for ``role`` ("client" or "console")."""
    # A str is measured in UTF-8 bytes (up to 4 per character); skip the encode when the
    # character count alone proves it fits.
    size = (
        len(raw)
        if isinstance(raw, bytes) or len(raw) * 4 <= max_bytes
        else len(raw.encode("utf-8", "surrogatepass"))
    )
    if size > max_bytes:
        raise FrameTooLarge(f"frames are limited to {max_bytes} bytes")
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):
        raise Malformed("the frame is not valid JSON") from None
    if not isinstance(data, dict):
        raise Malformed("a frame must be a JSON object")
    kind = data.get("type")
    if not isinstance(kind, str):
        raise Malformed("a frame needs a string 'type'")
    cls = ROLES[role].get(kind)
    if cls is None:
        raise UnknownFrameType(f"unknown frame type '{kind[:40]}'")
    rules = _RULES[cls]
    known = {r.name for r in rules}
    extra = set(data) - known - {"type"}
    if extra:
        raise Malformed(f"unknown field '{sorted(extra)[0][:40]}' in '{kind}'")
    values: dict[str, Any] = {}
    for rule in rules:
        if rule.name not in data:
            if rule.required:
                raise Malformed(f"'{kind}' needs the field '{rule.name}'")
            continue
        try:
            values[rule.name] = _check(rule, data[rule.name])
        except _Bad as bad:
            raise Malformed(f"field '{rule.name}' {bad}") from None
    return cls(**values)


def decode_body(data: Any, cls: type[B]) -> B:
    """A request body, already parsed from JSON, checked against the body class ``cls``
    (:mod:`chatserver.protocol.bodies`): the same rules as a frame's fields."""
    rules = _RULES.get(cls)
    if rules is None:
        rules = _RULES[cls] = _rules(cls)
    known = {r.name for r in rules}
    if (
        not isinstance(data, dict)
        or not set(data) <= known
        or any(r.required and r.name not in data for r in rules)
        or (cls.NOT_EMPTY and not data)
    ):
        raise Malformed(f"the body is {cls.EXAMPLE}")
    values: dict[str, Any] = {}
    for rule in rules:
        if rule.name in data:
            try:
                values[rule.name] = _check(rule, data[rule.name])
            except _Bad as bad:
                raise Malformed(f"{rule.name}: {bad}") from None
    if any(f.name == "present" for f in dataclasses.fields(cls)):
        values["present"] = frozenset(data)
    return cls(**values)


def to_jsonable(value: Any) -> Any:
    """Frames and nested dataclasses as JSON values; bytes as base64."""
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        out: dict[str, Any] = {}
        if isinstance(value, Frame):
            out["type"] = value.type
        for f in dataclasses.fields(value):
            item = getattr(value, f.name)
            if item is None:
                continue
            out[f.name] = to_jsonable(item)
        return out
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    return value


def encode(frame: Frame) -> str:
    """One frame as compact JSON text."""
    return json.dumps(to_jsonable(frame), separators=(",", ":"), ensure_ascii=False)
