"""The JSON bodies of the HTTP API, one frozen dataclass each, checked like frames.

A body declares its fields with the same :func:`~chatserver.protocol.frames.spec` metadata
as an inbound frame, and :func:`chatserver.protocol.codec.decode_body` checks it the same
way: a body that is not a JSON object, that lacks a required field or names an unknown
one is refused with "the body is ``EXAMPLE``"; a field of the wrong type or out of range
with "``field``: what it must be". Either way it is a
:class:`~chatserver.protocol.errors.Malformed` (HTTP 400), raised before anything is read
or written.

A body checks the shape. What a value means (a valid slug, an origin, a role, a week of
opening hours, a signed roster) is the domain's to check, as it is for frames: those
fields are plain strings, or JSON objects and arrays passed on as they are (``dict`` and
``list`` fields).

``present`` names the fields the body gave, for the changes where leaving a field out
("keep") differs from giving it as ``null`` ("clear").
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from chatserver.protocol.frames import spec

__all__ = [
    "Body",
    "CannedDraft",
    "ConsentTexts",
    "Envelopes",
    "EpochBundles",
    "HoldChange",
    "Invite",
    "Login",
    "LoginSalt",
    "NewHold",
    "NewTeam",
    "NewTopic",
    "Origins",
    "PasswordReset",
    "Roster",
    "RulesPreview",
    "StaffChange",
    "TeamChange",
    "TopicRename",
    "TotpConfirm",
]

NAME = 200  # longer names are refused by the domain with its own message; this is the cap
TEXT = 64 * 1024


def _present() -> Any:
    return field(default=frozenset(), compare=False, metadata={"decoder": True})


@dataclass(frozen=True, slots=True)
class Body:
    """Base of every request body: ``EXAMPLE`` is what a refusal shows."""

    EXAMPLE: ClassVar[str] = "a JSON object"
    #: At least one field must be given (a change that changes nothing is refused).
    NOT_EMPTY: ClassVar[bool] = False


# --------------------------------------------------------------------------- sign-in
@dataclass(frozen=True, slots=True)
class LoginSalt(Body):
    EXAMPLE = '{"username": ...}'
    username: str = spec(max_len=1024)


@dataclass(frozen=True, slots=True)
class Login(Body):
    EXAMPLE = '{"username": ..., "credential": ..., "totp": ...}'
    username: str = spec(max_len=1024)
    credential: str = spec(max_len=1024)
    totp: str = spec(max_len=64)


@dataclass(frozen=True, slots=True)
class TotpConfirm(Body):
    EXAMPLE = '{"code": "123456"}'
    code: str = spec(max_len=64)


# --------------------------------------------------------------------------- teams
@dataclass(frozen=True, slots=True)
class NewTeam(Body):
    EXAMPLE = '{"slug": ..., "name": ...}'
    slug: str = spec(max_len=NAME)
    name: str = spec(max_len=NAME * 4)


@dataclass(frozen=True, slots=True)
class TeamChange(Body):
    EXAMPLE = '{"name"?: ..., "archived"?: true|false, "transcript"?: true|false}'
    NOT_EMPTY = True
    name: str | None = spec(max_len=NAME * 4, omissible=True)
    archived: bool | None = spec(omissible=True)
    transcript: bool | None = spec(omissible=True)


@dataclass(frozen=True, slots=True)
class NewTopic(Body):
    EXAMPLE = '{"slug": ..., "name": ...}'
    slug: str = spec(max_len=NAME)
    name: str = spec(max_len=NAME * 4)


@dataclass(frozen=True, slots=True)
class TopicRename(Body):
    EXAMPLE = '{"name": ...}'
    name: str = spec(max_len=NAME * 4)


@dataclass(frozen=True, slots=True)
class Origins(Body):
    EXAMPLE = '{"origins": ["https://agency.example", ...]}'
    origins: list[Any] = spec()


@dataclass(frozen=True, slots=True)
class EpochBundles(Body):
    EXAMPLE = '{"bundles": [...]}'
    bundles: list[Any] = spec()


@dataclass(frozen=True, slots=True)
class Roster(Body):
    EXAMPLE = '{"roster": {...}}'
    roster: Any = spec()  # a signed roster: checked and verified by the domain


@dataclass(frozen=True, slots=True)
class Envelopes(Body):
    EXAMPLE = '{"envelopes": [...]}'
    envelopes: list[Any] = spec()


@dataclass(frozen=True, slots=True)
class ConsentTexts(Body):
    EXAMPLE = '{"de": "…", "en": "…"}'
    de: str = spec(max_len=TEXT)
    en: str = spec(max_len=TEXT)


@dataclass(frozen=True, slots=True)
class CannedDraft(Body):
    EXAMPLE = '{"title": ..., "body": ..., "lang": "de" or "en"}'
    title: str = spec(max_len=TEXT)
    body: str = spec(max_len=TEXT)
    lang: str = spec(max_len=8)


# --------------------------------------------------------------------------- accounts
@dataclass(frozen=True, slots=True)
class StaffChange(Body):
    EXAMPLE = '{"role"?: ..., "disabled"?: true|false, "cap"?: 1-20|null}'
    NOT_EMPTY = True
    role: str | None = spec(max_len=40, omissible=True)
    disabled: bool | None = spec(omissible=True)
    cap: int | None = spec(optional=True)  # null: back to the default
    present: frozenset[str] = _present()


@dataclass(frozen=True, slots=True)
class Invite(Body):
    EXAMPLE = '{"role": ..., "hours": ...}'
    role: str = spec(max_len=40)
    hours: int = spec(default=72)


@dataclass(frozen=True, slots=True)
class PasswordReset(Body):
    EXAMPLE = '{"team": ..., "hours"?: 1-336}'
    team: str = spec(max_len=NAME)
    hours: int = spec(default=72)


# --------------------------------------------------------------------------- retention
@dataclass(frozen=True, slots=True)
class RulesPreview(Body):
    EXAMPLE = '{"changes"?: {"messages": "24h", ...}, "days"?: 1-365}'
    changes: dict[str, Any] = spec(default_factory=dict)
    days: int = spec(default=7, min=1, max=365)


@dataclass(frozen=True, slots=True)
class NewHold(Body):
    EXAMPLE = '{"reason": ..., "days": ...}'
    reason: str = spec(max_len=TEXT)
    days: int = spec()


@dataclass(frozen=True, slots=True)
class HoldChange(Body):
    EXAMPLE = '{"days": ...}'
    days: int = spec()
