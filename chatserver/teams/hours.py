"""Opening hours of a team: the schedule, whether the team is open at an instant, and when
that changes next.

Everything above the storage section is pure: the time is an argument (unix ms), there is
no clock and no I/O. The storage section loads and saves a team's hours in the caller's
transaction, through :mod:`chatserver.storage.hours`.

Semantics. Each date has open intervals in local wall time: the exception for that date if
there is one, else its weekday's. An interval ``[a, b)`` of date ``d`` is the real time
from the instant the local clock first shows ``a`` on ``d`` to the instant it first shows
``b`` (``24:00`` is ``00:00`` of the next day). So on the spring-forward night a time in
the skipped hour means the moment of the jump (``02:30`` opens at ``03:00`` summer time),
and on the fall-back night a repeated time means its first occurrence (``00:00-24:00`` is
25 hours long). Touching intervals (Monday ``22:00-24:00`` and Tuesday ``00:00-02:00``)
are one open period: nothing changes at midnight. A team without hours is always open.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy.ext.asyncio import AsyncConnection

from chatserver.storage import hours as stored
from chatserver.storage.store import audit_tx

__all__ = [
    "DEFAULT_CLOSED_MESSAGE",
    "DEFAULT_EMERGENCY",
    "DEFAULT_TIMEZONE",
    "LANGUAGES",
    "WEEKDAYS",
    "Contact",
    "Hours",
    "HoursError",
    "SpecialDay",
    "accepts_new_chats",
    "hours_text",
    "is_open",
    "load_hours",
    "next_change",
    "parse_hours",
    "public_status",
    "save_hours",
]

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
LANGUAGES = ("de", "en")
DEFAULT_TIMEZONE = "Europe/Berlin"
DEFAULT_CLOSED_MESSAGE = {
    "de": (
        "Gerade ist niemand von uns im Chat. Schau gern zu unseren Öffnungszeiten wieder "
        "vorbei. Wenn Du jetzt sofort Hilfe brauchst, erreichst Du diese Stellen rund um "
        "die Uhr, kostenlos und ohne Deinen Namen zu sagen:"
    ),
    "en": (
        "Nobody from our team is in the chat right now. Come back during our opening hours. "
        "If you need help right now, you can reach these services day and night, for free "
        "and without giving your name:"
    ),
}

MAX_INTERVALS_PER_DAY = 12
MAX_EXCEPTIONS = 500
MAX_CONTACTS = 10
MAX_MESSAGE = 1000
MAX_LABEL = 80
#: How far ahead ``next_change`` looks (exceptions may lie up to a year ahead).
HORIZON_DAYS = 400

Interval = tuple[int, int]  # minutes after local midnight, 0 <= start < end <= 1440
DAY_MINUTES = 1440


class HoursError(ValueError):
    """The hours as given are not valid; the message names the field."""


@dataclass(frozen=True, slots=True)
class Contact:
    """An emergency contact shown when the team is closed: a number, a link or both."""

    name: str
    number: str | None = None
    link: str | None = None

    def to_json(self) -> dict[str, str]:
        out = {"name": self.name}
        if self.number is not None:
            out["number"] = self.number
        if self.link is not None:
            out["link"] = self.link
        return out


DEFAULT_EMERGENCY: tuple[Contact, ...] = (
    Contact("Notruf", "112"),
    Contact("TelefonSeelsorge", "0800 111 0 111", "https://www.telefonseelsorge.de"),
    Contact("Nummer gegen Kummer", "116 111", "https://www.nummergegenkummer.de"),
)


@dataclass(frozen=True, slots=True)
class SpecialDay:
    """A holiday or exception: other intervals on one date (none: closed all day)."""

    day: date
    intervals: tuple[Interval, ...]
    label: str | None = None


@dataclass(frozen=True, slots=True)
class Hours:
    """A team's opening hours as validated by :func:`parse_hours`."""

    #: Seven tuples of intervals, Monday first; an empty tuple is a closed day.
    weekly: tuple[tuple[Interval, ...], ...]
    exceptions: Mapping[date, SpecialDay] = field(default_factory=dict)
    timezone: str = DEFAULT_TIMEZONE
    closed_message: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_CLOSED_MESSAGE))
    emergency: tuple[Contact, ...] = DEFAULT_EMERGENCY
    #: Outside hours new chats wait in the queue instead of being refused.
    queue_outside_hours: bool = False

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def intervals_on(self, day: date) -> tuple[Interval, ...]:
        special = self.exceptions.get(day)
        return special.intervals if special else self.weekly[day.weekday()]

    def to_json(self) -> dict[str, Any]:
        """The canonical JSON form: what ``PUT .../hours`` and ``hours set`` take."""
        exceptions: list[dict[str, Any]] = []
        for special in sorted(self.exceptions.values(), key=lambda s: s.day):
            entry: dict[str, Any] = {
                "date": special.day.isoformat(),
                "hours": [_format(i) for i in special.intervals],
            }
            if special.label is not None:
                entry["label"] = special.label
            exceptions.append(entry)
        return {
            "timezone": self.timezone,
            "weekly": {
                name: [_format(i) for i in self.weekly[n]] for n, name in enumerate(WEEKDAYS)
            },
            "exceptions": exceptions,
            "closed_message": {lang: self.closed_message[lang] for lang in LANGUAGES},
            "emergency": [c.to_json() for c in self.emergency],
            "queue_outside_hours": self.queue_outside_hours,
        }


# ------------------------------------------------------------------------------ parsing
FIELDS = ("timezone", "weekly", "exceptions", "closed_message", "emergency", "queue_outside_hours")
_INTERVAL = re.compile(r"([0-9]{2}):([0-9]{2})-([0-9]{2}):([0-9]{2})")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_ZONE = re.compile(r"[A-Za-z][A-Za-z0-9_+\-]*(/[A-Za-z0-9_+\-]+)*")
_NUMBER = re.compile(r"\+?[0-9][0-9 ()/\-]{0,28}[0-9]|[0-9]")
_LINK = re.compile(r"https://[^\s<>\"']{4,292}")


def _format(interval: Interval) -> str:
    (a, b) = interval
    return f"{a // 60:02}:{a % 60:02}-{b // 60:02}:{b % 60:02}"


def _text(value: Any, where: str, limit: int) -> str:
    if not isinstance(value, str) or not value.strip():
        raise HoursError(f"{where}: a non-empty text")
    if len(value) > limit:
        raise HoursError(f"{where}: at most {limit} characters")
    return value.strip()


def _object(value: Any, where: str, allowed: tuple[str, ...]) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise HoursError(f"{where}: an object with the fields {', '.join(allowed)}")
    unknown = sorted(set(value) - set(allowed))
    if unknown:
        raise HoursError(
            f"{where}: unknown field {', '.join(map(repr, unknown))} "
            f"(the fields are {', '.join(allowed)})"
        )
    return value


def _list(value: Any, where: str, limit: int) -> list[Any]:
    if not isinstance(value, list):
        raise HoursError(f"{where}: a list")
    if len(value) > limit:
        raise HoursError(f"{where}: at most {limit} entries")
    return value


def _interval(value: Any, where: str) -> Interval:
    match = _INTERVAL.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        raise HoursError(f"{where}: {value!r} is not an interval like '09:00-17:30'")
    h1, m1, h2, m2 = (int(g) for g in match.groups())
    if h1 > 23 or m1 > 59 or h2 > 24 or m2 > 59 or (h2 == 24 and m2 != 0):
        raise HoursError(f"{where}: {value!r} is not a time of day (00:00 to 24:00)")
    start, end = h1 * 60 + m1, h2 * 60 + m2
    if start >= end:
        raise HoursError(
            f"{where}: {value!r} must end after it starts; over midnight, write two "
            "intervals: '22:00-24:00' and on the next day '00:00-02:00'"
        )
    return start, end


def _intervals(value: Any, where: str) -> tuple[Interval, ...]:
    items = _list(value, where, MAX_INTERVALS_PER_DAY)
    found = sorted(_interval(v, f"{where}[{n}]") for n, v in enumerate(items))
    for before, after in pairwise(found):
        if before[1] > after[0]:
            raise HoursError(f"{where}: {_format(before)} and {_format(after)} overlap")
    return tuple(found)


def _timezone(value: Any) -> str:
    if not isinstance(value, str) or not _ZONE.fullmatch(value) or len(value) > 64:
        raise HoursError("timezone: an IANA time zone name like 'Europe/Berlin'")
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise HoursError(f"timezone: {value!r} is not a known time zone") from None
    return value


def _special(value: Any, where: str) -> SpecialDay:
    entry = _object(value, where, ("date", "hours", "label"))
    raw = entry.get("date")
    try:
        if not isinstance(raw, str) or not _DATE.fullmatch(raw):
            raise ValueError
        day = date.fromisoformat(raw)
    except ValueError:
        raise HoursError(f"{where}.date: a date like '2026-12-24'") from None
    if "hours" not in entry:
        raise HoursError(f"{where}.hours: the intervals of that day ([] for closed all day)")
    label = entry.get("label")
    return SpecialDay(
        day,
        _intervals(entry["hours"], f"{where}.hours"),
        None if label is None else _text(label, f"{where}.label", MAX_LABEL),
    )


def _contact(value: Any, where: str) -> Contact:
    entry = _object(value, where, ("name", "number", "link"))
    number, link = entry.get("number"), entry.get("link")
    if number is not None and (not isinstance(number, str) or not _NUMBER.fullmatch(number)):
        raise HoursError(f"{where}.number: a phone number like '0800 111 0 111'")
    if link is not None and (not isinstance(link, str) or not _LINK.fullmatch(link)):
        raise HoursError(f"{where}.link: an https:// address of at most 300 characters")
    if number is None and link is None:
        raise HoursError(f"{where}: give a number, a link or both")
    return Contact(_text(entry.get("name"), f"{where}.name", MAX_LABEL), number, link)


def parse_hours(data: Any) -> Hours:
    """Validate the JSON form (see :meth:`Hours.to_json`). ``weekly`` is required (a day
    left out is closed); the other fields take their defaults when left out."""
    body = _object(data, "hours", FIELDS)
    weekly = _object(body.get("weekly"), "weekly", WEEKDAYS)
    exceptions: dict[date, SpecialDay] = {}
    for n, raw in enumerate(_list(body.get("exceptions", []), "exceptions", MAX_EXCEPTIONS)):
        special = _special(raw, f"exceptions[{n}]")
        if special.day in exceptions:
            raise HoursError(f"exceptions[{n}].date: {special.day} is given twice")
        exceptions[special.day] = special
    messages = dict(DEFAULT_CLOSED_MESSAGE)
    given = _object(body.get("closed_message", {}), "closed_message", LANGUAGES)
    for lang, text in given.items():
        messages[lang] = _text(text, f"closed_message.{lang}", MAX_MESSAGE)
    emergency = DEFAULT_EMERGENCY
    if "emergency" in body:
        contacts = _list(body["emergency"], "emergency", MAX_CONTACTS)
        emergency = tuple(_contact(c, f"emergency[{n}]") for n, c in enumerate(contacts))
    queue = body.get("queue_outside_hours", False)
    if not isinstance(queue, bool):
        raise HoursError("queue_outside_hours: true or false")
    return Hours(
        weekly=tuple(_intervals(weekly.get(day, []), f"weekly.{day}") for day in WEEKDAYS),
        exceptions=exceptions,
        timezone=_timezone(body.get("timezone", DEFAULT_TIMEZONE)),
        closed_message=messages,
        emergency=emergency,
        queue_outside_hours=queue,
    )


# ------------------------------------------------------------------------------ time
def _ms(moment: datetime) -> int:
    return round(moment.timestamp() * 1000)


def _local(zone: ZoneInfo, at_ms: int) -> datetime:
    return datetime.fromtimestamp(at_ms / 1000, zone)


def _instant(zone: ZoneInfo, day: date, minute: int) -> int:
    """The first instant (unix ms) at which the local clock shows ``minute`` on ``day``:
    for a repeated time its first occurrence, for a skipped time the moment of the jump."""
    day, minute = (day + timedelta(days=1), 0) if minute == DAY_MINUTES else (day, minute)
    wall = datetime.combine(day, time(minute // 60, minute % 60))
    first = wall.replace(tzinfo=zone)  # fold=0: the earlier of a repeated time
    if _local(zone, _ms(first)).replace(tzinfo=None) == wall:
        return _ms(first)
    # Skipped: before the jump the clock shows less than ``wall``, after it more.
    low = int(wall.replace(tzinfo=zone, fold=1).timestamp())
    high = int(first.timestamp())
    while high - low > 1:
        middle = (low + high) // 2
        if datetime.fromtimestamp(middle, zone).replace(tzinfo=None) >= wall:
            high = middle
        else:
            low = middle
    return high * 1000


def _spans(hours: Hours, zone: ZoneInfo, day: date) -> Iterator[tuple[int, int]]:
    for start, end in hours.intervals_on(day):
        a, b = _instant(zone, day, start), _instant(zone, day, end)
        if a < b:  # an interval inside a skipped hour never opens
            yield a, b


def _periods(hours: Hours, zone: ZoneInfo, first: date) -> Iterator[tuple[int, int]]:
    """Open periods from ``first`` on, touching spans merged, for ``HORIZON_DAYS``; a
    period still open at the horizon ends there."""
    current: tuple[int, int] | None = None
    for n in range(HORIZON_DAYS):
        for a, b in _spans(hours, zone, first + timedelta(days=n)):
            if current is not None and a <= current[1]:
                current = (current[0], max(current[1], b))
                continue
            if current is not None:
                yield current
            current = (a, b)
    if current is not None:
        yield current


def is_open(hours: Hours | None, at_ms: int) -> bool:
    """Whether the team is open at ``at_ms``; a team without hours always is."""
    if hours is None:
        return True
    zone = hours.zone
    today = _local(zone, at_ms).date()
    return any(
        a <= at_ms < b
        for day in (today - timedelta(days=1), today, today + timedelta(days=1))
        for a, b in _spans(hours, zone, day)
    )


def next_change(hours: Hours | None, at_ms: int) -> int | None:
    """The next instant after ``at_ms`` at which the team opens (when closed now) or
    closes (when open now); None when nothing changes within about a year."""
    if hours is None:
        return None
    zone = hours.zone
    first = _local(zone, at_ms).date() - timedelta(days=1)
    horizon = _instant(zone, first + timedelta(days=HORIZON_DAYS), 0)
    is_open_now = is_open(hours, at_ms)
    for a, b in _periods(hours, zone, first):
        if is_open_now and a <= at_ms < b:
            return b if b < horizon else None
        if not is_open_now and a > at_ms:
            return a
    return None


def accepts_new_chats(hours: Hours | None, at_ms: int) -> bool:
    """Whether ``start`` is allowed now: within hours, or always when the team queues."""
    return hours is None or hours.queue_outside_hours or is_open(hours, at_ms)


# ------------------------------------------------------------------------------ the widget
DASH = "\N{EN DASH}"
_DAY_NAMES = {
    "de": ("Mo", "Di", "Mi", "Do", "Fr", "Sa", "So"),
    "en": ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"),
}


def hours_text(hours: Hours, lang: str) -> str | None:
    """The weekly hours in a line, e.g. ``Mo-Fr 14:00-18:00; Sa 10:00-12:00`` with en
    dashes; consecutive days with the same hours are grouped. None when no day is open."""
    names = _DAY_NAMES[lang]
    parts: list[str] = []
    n = 0
    while n < 7:
        last = n
        while last + 1 < 7 and hours.weekly[last + 1] == hours.weekly[n]:
            last += 1
        if hours.weekly[n]:
            days = names[n] if last == n else f"{names[n]}{DASH}{names[last]}"
            times = ", ".join(_format(i).replace("-", DASH) for i in hours.weekly[n])
            parts.append(f"{days} {times}")
        n = last + 1
    return "; ".join(parts) or None


def public_status(hours: Hours | None, at_ms: int, lang: str) -> dict[str, Any]:
    """What the widget shows: open or not, until when, and the closed message with the
    emergency contacts. Nothing in it names a person."""
    shown = hours or Hours(weekly=((),) * 7)
    return {
        "open": is_open(hours, at_ms),
        "next_change": next_change(hours, at_ms),
        "queue_outside_hours": shown.queue_outside_hours,
        "timezone": shown.timezone,
        "hours_text": hours_text(hours, lang) if hours else None,
        "closed_message": shown.closed_message[lang],
        "emergency": [c.to_json() for c in shown.emergency],
    }


# ------------------------------------------------------------------------------ storage
async def load_hours(conn: AsyncConnection, team_id: int) -> Hours | None:
    """The team's hours, or None when none were set (always open)."""
    config = await stored.config(conn, team_id)
    return None if config is None else parse_hours(json.loads(config))


async def save_hours(
    conn: AsyncConnection, team_id: int, hours: Hours, actor: str, now: int
) -> None:
    """Replace the team's hours, audited: the shape and a digest, never the texts."""
    config = json.dumps(hours.to_json(), ensure_ascii=False, sort_keys=True)
    updated_by = actor if actor not in ("cli", "system") else None
    await stored.replace(conn, team_id, config, updated_by, now)
    await audit_tx(
        conn,
        now,
        actor,
        "hours.changed",
        str(team_id),
        timezone=hours.timezone,
        open_days=sum(1 for day in hours.weekly if day),
        exceptions=len(hours.exceptions),
        queue_outside_hours=hours.queue_outside_hours,
        digest=hashlib.sha256(config.encode()).hexdigest()[:16],
    )
