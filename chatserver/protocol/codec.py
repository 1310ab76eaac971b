"""The only module that touches JSON.

:func:`decode` turns raw text from a peer into a validated inbound frame or raises a
:class:`~chatserver.protocol.errors.FrameError`; :func:`encode` turns any frame into text.
Validation is driven by the field types and the ``spec`` metadata in
:mod:`chatserver.protocol.frames`: unknown fields, missing fields, wrong types, out of range
numbers and over-long strings are all refused.
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

from chatserver.protocol.errors import FrameTooLarge, MalformedFrame, UnknownFrameType
from chatserver.protocol.frames import CLIENT_FRAMES, CONSOLE_FRAMES, Frame

__all__ = ["ROLES", "decode", "encode", "to_jsonable"]

ROLES: dict[str, dict[str, type[Frame]]] = {"client": CLIENT_FRAMES, "console": CONSOLE_FRAMES}


@dataclasses.dataclass(frozen=True, slots=True)
class _FieldRule:
    name: str
    kind: type  # str, int, bool or bytes
    optional: bool
    required: bool
    rules: dict[str, Any]
    pattern: re.Pattern[str] | None


def _rules(cls: type[Frame]) -> tuple[_FieldRule, ...]:
    hints = typing.get_type_hints(cls)
    out = []
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]  # a Frame dataclass
        hint = hints[f.name]
        optional = False
        if isinstance(hint, types.UnionType):
            args = [a for a in typing.get_args(hint) if a is not type(None)]
            optional = len(args) < len(typing.get_args(hint))
            hint = args[0]
        required = f.default is dataclasses.MISSING
        pattern = f.metadata.get("pattern")
        out.append(
            _FieldRule(
                f.name,
                hint,
                optional,
                required,
                dict(f.metadata),
                re.compile(pattern) if pattern else None,
            )
        )
    return tuple(out)


#: The validation rules of every inbound frame class, derived once from the dataclasses.
_RULES: dict[type[Frame], tuple[_FieldRule, ...]] = {
    cls: _rules(cls) for table in ROLES.values() for cls in table.values()
}


def _check(rule: _FieldRule, value: Any) -> Any:
    name, kind = rule.name, rule.kind
    if value is None:
        if rule.optional:
            return None
        raise MalformedFrame(f"field '{name}' must not be null")
    if kind is bool:
        if not isinstance(value, bool):
            raise MalformedFrame(f"field '{name}' must be true or false")
        return value
    if kind is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise MalformedFrame(f"field '{name}' must be an integer")
        lo, hi = rule.rules.get("min"), rule.rules.get("max")
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            raise MalformedFrame(f"field '{name}' is out of range")
        return value
    if not isinstance(value, str):
        raise MalformedFrame(f"field '{name}' must be a string")
    if kind is bytes:
        limit = rule.rules.get("max_len")
        # Refuse before decoding: base64 grows by 4/3.
        if limit is not None and len(value) > (limit + 2) // 3 * 4:
            raise MalformedFrame(f"field '{name}' is longer than {limit} bytes")
        try:
            raw = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise MalformedFrame(f"field '{name}' must be base64") from None
        if not raw:
            raise MalformedFrame(f"field '{name}' must not be empty")
        if limit is not None and len(raw) > limit:
            raise MalformedFrame(f"field '{name}' is longer than {limit} bytes")
        return raw
    limit = rule.rules.get("max_len")
    if limit is not None and len(value) > limit:
        raise MalformedFrame(f"field '{name}' is longer than {limit} characters")
    if rule.pattern is not None and not rule.pattern.fullmatch(value):
        raise MalformedFrame(f"field '{name}' has an invalid format")
    choices = rule.rules.get("choices")
    if choices is not None and value not in choices:
        raise MalformedFrame(f"field '{name}' must be one of: {', '.join(choices)}")
    return value


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
        raise MalformedFrame("the frame is not valid JSON") from None
    if not isinstance(data, dict):
        raise MalformedFrame("a frame must be a JSON object")
    kind = data.get("type")
    if not isinstance(kind, str):
        raise MalformedFrame("a frame needs a string 'type'")
    cls = ROLES[role].get(kind)
    if cls is None:
        raise UnknownFrameType(f"unknown frame type '{kind[:40]}'")
    rules = _RULES[cls]
    known = {r.name for r in rules}
    extra = set(data) - known - {"type"}
    if extra:
        raise MalformedFrame(f"unknown field '{sorted(extra)[0][:40]}' in '{kind}'")
    values: dict[str, Any] = {}
    for rule in rules:
        if rule.name not in data:
            if rule.required:
                raise MalformedFrame(f"'{kind}' needs the field '{rule.name}'")
            continue
        values[rule.name] = _check(rule, data[rule.name])
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
