"""Retention rules: one duration per data category after its lifecycle event.

Each team may set its own duration per category; the operator's minimum and maximum
(settings ``retention_min`` and ``retention_max``) clamp every team rule, and the operator's
defaults (``retention_defaults``) replace the built-in ones. Pure: no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

__all__ = [
    "CATEGORIES",
    "OPERATOR_WIDE",
    "Category",
    "RuleError",
    "Rules",
    "format_minutes",
    "parse_duration",
    "parse_rules",
]

HOUR = 60
DAY = 24 * HOUR


class RuleError(ValueError):
    """A retention rule or duration that cannot be used."""


@dataclass(frozen=True, slots=True)
class Category:
    name: str
    default: int  # minutes
    event: str  # what the duration counts from
    what: str  # what goes


CATEGORIES: dict[str, Category] = {
    c.name: c
    for c in (
        Category(
            "messages",
            48 * HOUR,
            "the conversation ended",
            "message ciphertext, internal and handover notes, and the conversation's storage key",
        ),
        Category(
            "abandoned",
            24 * HOUR,
            "the client's last activity, for conversations nobody accepted",
            "the whole conversation",
        ),
        Category(
            "idle_close",
            6 * HOUR,
            "the last message or action in an open conversation",
            "nothing: the conversation is closed (abandoned if nobody had accepted it)",
        ),
        Category(
            "metadata",
            90 * DAY,
            "the conversation ended",
            "the conversation record (times, team, topic, close category), after its "
            "anonymous statistics are recorded",
        ),
        Category(
            "epoch_keys",
            7 * DAY,
            "the end of a team epoch",
            "the epoch's team-key envelopes and its storage key",
        ),
        Category("audit", 365 * DAY, "the audit entry was written", "the audit entry"),
        Category("staff", 30 * DAY, "the account was deactivated", "the staff account"),
        Category("invites", 7 * DAY, "the invitation expired", "the invitation"),
        Category("sessions", 1 * DAY, "the staff session expired", "the session record"),
        Category("blocks", 1 * DAY, "the block expired", "the block record"),
    )
}

#: Categories whose records belong to no team: the operator sets them for the whole
#: installation (``retention_defaults``); a team cannot have its own rule for them.
OPERATOR_WIDE = ("audit", "staff", "invites", "sessions", "blocks")

_UNITS = {"m": 1, "h": HOUR, "d": DAY}
_DURATION = re.compile(r"^\s*(\d{1,7})\s*([mhd])\s*$")


def parse_duration(text: str) -> int:
    """``"48h"``, ``"90d"``, ``"30m"`` as minutes."""
    match = _DURATION.match(text)
    if match is None:
        raise RuleError(f"not a duration: {text!r} (use minutes, hours or days: 30m, 48h, 90d)")
    return int(match.group(1)) * _UNITS[match.group(2)]


def format_minutes(minutes: int) -> str:
    """The shortest exact form: ``2880`` → ``"2d"``, ``90`` → ``"90m"``."""
    if minutes and minutes % DAY == 0:
        return f"{minutes // DAY}d"
    if minutes and minutes % HOUR == 0:
        return f"{minutes // HOUR}h"
    return f"{minutes}m"


def parse_rules(text: str) -> dict[str, int]:
    """``"messages=48h, metadata=90d"`` → minutes per category."""
    rules: dict[str, int] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, sep, value = part.partition("=")
        name = name.strip()
        if not sep or name not in CATEGORIES:
            raise RuleError(
                f"not a rule: {part!r} (use CATEGORY=DURATION; categories: {', '.join(CATEGORIES)})"
            )
        rules[name] = parse_duration(value)
    return rules


@dataclass(frozen=True, slots=True)
class Rules:
    """The operator's defaults and clamps; :meth:`effective` applies them to a team."""

    defaults: Mapping[str, int]
    minimum: Mapping[str, int]
    maximum: Mapping[str, int]

    @classmethod
    def from_settings(cls, defaults: str, minimum: str, maximum: str) -> Rules:
        rules = cls(
            {**{c.name: c.default for c in CATEGORIES.values()}, **parse_rules(defaults)},
            parse_rules(minimum),
            parse_rules(maximum),
        )
        for name in CATEGORIES:
            low, high = rules.minimum.get(name), rules.maximum.get(name)
            if low is not None and high is not None and low > high:
                raise RuleError(f"retention of {name}: the minimum is above the maximum")
        return rules

    def clamp(self, category: str, minutes: int) -> int:
        low = self.minimum.get(category, 0)
        high = self.maximum.get(category)
        value = max(minutes, low)
        return value if high is None else min(value, high)

    def effective(self, team_rules: Mapping[str, int]) -> dict[str, int]:
        """Minutes per category for a team: its own rule or the default, clamped."""
        return {
            name: self.clamp(name, team_rules.get(name, self.defaults[name])) for name in CATEGORIES
        }

    def check(self, category: str, minutes: int) -> None:
        """Refuse a team rule outside the operator's range (admins are told, not clamped)."""
        if category not in CATEGORIES:
            raise RuleError(f"unknown category {category!r}")
        if minutes < 0:
            raise RuleError("a duration is not negative")
        if self.clamp(category, minutes) != minutes:
            low = format_minutes(self.minimum.get(category, 0))
            high = self.maximum.get(category)
            bound = f" and at most {format_minutes(high)}" if high is not None else ""
            raise RuleError(f"retention of {category} must be at least {low}{bound}")
