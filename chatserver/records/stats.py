"""Anonymous statistics per team and day, from the facts that survive deletion.

Each ended conversation leaves one row in ``stat_facts``
(``chatserver.records.retention.record_stats``, kept by ``chatserver.storage.stats``): the
day it started in its team's time zone, topic, outcome, close category, whether it was
accepted, the waiting time until the first accept and the duration from there to the end.
No id, no exact time. The figures here come from those rows only, so they stay the same
after retention deleted the conversations.

Small counts are suppressed: a count from 1 to 4 is reported as the string ``"< 5"``
(:data:`SUPPRESSED`), and a median or 90th percentile computed from fewer than 5 values is
``None``. A count of 0 is shown as 0.

Everything above the reading section is pure (no clock, no I/O): :func:`figures` turns facts
into a :class:`Report`, which renders itself as JSON, CSV and an SVG bar chart.
"""

from __future__ import annotations

import csv
import io
import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from html import escape
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncConnection

from chatserver.records.retention import team_zone
from chatserver.storage import stats as storage
from chatserver.storage.stats import Fact
from chatserver.storage.teams import id_of as team_by_slug

__all__ = [
    "MAX_DAYS",
    "METRICS",
    "MIN_COUNT",
    "NONE_KEY",
    "SUPPRESSED",
    "Fact",
    "Report",
    "StatsError",
    "command_output",
    "figures",
    "load_facts",
    "parse_range",
    "percentile",
    "shown",
    "team_report",
]

#: Counts below this (and above 0) are not shown; percentiles need this many values.
MIN_COUNT = 5
SUPPRESSED = "< 5"
#: The longest range one request may ask for.
MAX_DAYS = 366
#: Default range when none is given: this many days up to today.
DEFAULT_DAYS = 30
#: The key for conversations without a topic or close category. Topic slugs and
#: categories are ``[a-z0-9_-]``, so it never collides with one.
NONE_KEY = "(none)"
#: What the SVG chart can draw, with its axis label.
METRICS = {
    "started": "Conversations started",
    "accepted": "Conversations accepted",
    "abandoned": "Conversations abandoned (never accepted)",
    "waiting_median_s": "Waiting time until accept, median (seconds)",
    "waiting_p90_s": "Waiting time until accept, 90th percentile (seconds)",
    "duration_median_s": "Duration from accept to end, median (seconds)",
    "duration_p90_s": "Duration from accept to end, 90th percentile (seconds)",
}
COUNTS = ("started", "accepted", "abandoned")
TIMES = ("waiting_median_s", "waiting_p90_s", "duration_median_s", "duration_p90_s")
DATE = re.compile(r"\d{4}-\d{2}-\d{2}")

Shown = int | str  # a count, or SUPPRESSED


class StatsError(ValueError):
    """A request for statistics that cannot be answered as asked (the message says why)."""


# ------------------------------------------------------------------------------ pure core
def shown(count: int) -> Shown:
    """A count as it may be shown: 1 to 4 become ``"< 5"``."""
    return SUPPRESSED if 0 < count < MIN_COUNT else count


def percentile(values: Sequence[int], p: float) -> int | None:
    """The nearest-rank ``p``-th percentile of ``values`` in whole seconds (the smallest
    value with at least ``p`` % of the values at or below it), or ``None`` when there are
    fewer than :data:`MIN_COUNT` values."""
    if len(values) < MIN_COUNT:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return round(ordered[rank - 1] / 1000)


def parse_range(first: str | None, last: str | None, today: date) -> tuple[date, date]:
    """The days asked for (``YYYY-MM-DD``, both included). Without ``last`` it is
    ``today``; without ``first`` the :data:`DEFAULT_DAYS` up to ``last``."""
    end = _date(last, "to") if last is not None else today
    start = _date(first, "from") if first is not None else end - timedelta(DEFAULT_DAYS - 1)
    if start > end:
        raise StatsError("from must not be after to")
    if (end - start).days + 1 > MAX_DAYS:
        raise StatsError(f"ask for at most {MAX_DAYS} days at once")
    return start, end


def _date(value: str, name: str) -> date:
    if not DATE.fullmatch(value):
        raise StatsError(f"{name}: a date like 2026-11-30 (YYYY-MM-DD)")
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise StatsError(f"{name}: {value} is not a date in the calendar") from None


@dataclass(frozen=True, slots=True)
class Row:
    """The figures of one day (or of the whole range), already suppressed."""

    label: str
    values: dict[str, Shown | None]  # COUNTS and TIMES
    topics: dict[str, Shown]
    close_categories: dict[str, Shown]

    def to_json(self, key: str) -> dict[str, Any]:
        return {
            key: self.label,
            **self.values,
            "topics": self.topics,
            "close_categories": self.close_categories,
        }


def _row(label: str, facts: Sequence[Fact], topics: Sequence[str], cats: Sequence[str]) -> Row:
    accepted = [f for f in facts if f.accepted]
    waits = [f.waited_ms for f in accepted if f.waited_ms is not None]
    durations = [f.duration_ms for f in accepted if f.duration_ms is not None]
    by_topic = Counter(f.topic or NONE_KEY for f in facts)
    by_category = Counter(f.close_category or NONE_KEY for f in accepted)
    values: dict[str, Shown | None] = {
        "started": shown(len(facts)),
        "accepted": shown(len(accepted)),
        "abandoned": shown(len(facts) - len(accepted)),
        "waiting_median_s": percentile(waits, 50),
        "waiting_p90_s": percentile(waits, 90),
        "duration_median_s": percentile(durations, 50),
        "duration_p90_s": percentile(durations, 90),
    }
    return Row(
        label,
        values,
        {t: shown(by_topic[t]) for t in topics},
        {c: shown(by_category[c]) for c in cats},
    )


def _keys(values: Iterable[str | None]) -> list[str]:
    """Sorted, with :data:`NONE_KEY` last."""
    present = {v or NONE_KEY for v in values}
    return sorted(present - {NONE_KEY}) + ([NONE_KEY] if NONE_KEY in present else [])


@dataclass(frozen=True, slots=True)
class Report:
    """Figures for a team over a range of days: one row per day and one for the range."""

    team: str
    timezone: str
    first: date
    last: date
    days: tuple[Row, ...]
    total: Row

    def to_json(self) -> dict[str, Any]:
        return {
            "team": self.team,
            "from": self.first.isoformat(),
            "to": self.last.isoformat(),
            "timezone": self.timezone,
            "suppressed": SUPPRESSED,
            "days": [row.to_json("day") for row in self.days],
            "total": self.total.to_json("range"),
        }

    def columns(self) -> list[str]:
        return [
            "day",
            *COUNTS,
            *TIMES,
            *(f"topic:{t}" for t in self.total.topics),
            *(f"close:{c}" for c in self.total.close_categories),
        ]

    def to_csv(self) -> str:
        """One line per day and a last line ``total``; suppressed counts as ``< 5``,
        suppressed or missing times empty. Cells never start with ``=+-@`` (only keys
        carry slugs, and they come after a prefix), so spreadsheets compute nothing."""
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow(self.columns())
        for row in (*self.days, self.total):
            label = "total" if row is self.total else row.label
            cells = [row.values[k] for k in (*COUNTS, *TIMES)]
            cells += list(row.topics.values()) + list(row.close_categories.values())
            writer.writerow([label, *("" if c is None else c for c in cells)])
        return out.getvalue()

    def to_svg(self, metric: str) -> str:
        """A bar chart of ``metric`` per day: no script, no external reference, every
        text escaped; ``role="img"`` with a title and a description that lists the
        numbers for screen readers."""
        label = METRICS[metric]
        title = f"{label} per day, team {self.team}, {self.first} to {self.last}"
        points = [(row.label, row.values[metric]) for row in self.days]
        desc = "; ".join(f"{day}: {_said(v)}" for day, v in points)
        numbers = [v for _, v in points if isinstance(v, int)]
        top = max([*numbers, 1])
        bar, gap, left, height, base = 14, 4, 56, 200, 230
        width = left + len(points) * (bar + gap) + 20
        parts = [
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="300" '
            f'viewBox="0 0 {width} 300" role="img" aria-labelledby="stats-title" '
            'aria-describedby="stats-desc" font-family="sans-serif" font-size="10">',
            f'<title id="stats-title">{escape(title)}</title>',
            f'<desc id="stats-desc">{escape(desc)}</desc>',
            f'<text x="{left}" y="14" font-size="12">{escape(label)}</text>',
            f'<line x1="{left}" y1="{base}" x2="{width - 10}" y2="{base}" stroke="#333"/>',
            f'<text x="{left - 4}" y="{base - height + 4}" text-anchor="end">{top}</text>',
            f'<text x="{left - 4}" y="{base + 4}" text-anchor="end">0</text>',
        ]
        for i, (day, value) in enumerate(points):
            x = left + gap + i * (bar + gap)
            if isinstance(value, int):
                h = round(value / top * height)
                parts.append(
                    f'<rect x="{x}" y="{base - h}" width="{bar}" height="{h}" fill="#1f5fa8">'
                    f"<title>{escape(day)}: {value}</title></rect>"
                )
            else:  # suppressed or no value: a grey stub, said in words
                parts.append(
                    f'<rect x="{x}" y="{base - 3}" width="{bar}" height="3" fill="#999">'
                    f"<title>{escape(day)}: {escape(_said(value))}</title></rect>"
                )
            parts.append(
                f'<text x="{x + bar / 2}" y="{base + 14}" text-anchor="end" '
                f'transform="rotate(-60 {x + bar / 2} {base + 14})">{escape(day[5:])}</text>'
            )
        if any(not isinstance(v, int) for _, v in points):
            parts.append(
                f'<text x="{left}" y="292" fill="#555">Grey: fewer than 5, not shown.</text>'
            )
        parts.append("</svg>")
        return "\n".join(parts) + "\n"

    def to_text(self) -> str:
        """For the terminal: one line per day, the total, then topics and close
        categories over the range; times as minutes:seconds, ``-`` when not shown."""
        head = [
            "day",
            "started",
            "accepted",
            "abandoned",
            "wait-med",
            "wait-p90",
            "dur-med",
            "dur-p90",
        ]
        lines = [head]
        for row in (*self.days, self.total):
            label = "total" if row is self.total else row.label
            lines.append(
                [label, *(str(row.values[k]) for k in COUNTS)]
                + [_clock(row.values[k]) for k in TIMES]
            )
        widths = [max(len(line[i]) for line in lines) for i in range(len(head))]
        out = [
            "  ".join(
                c.rjust(w) if i else c.ljust(w)
                for i, (c, w) in enumerate(zip(line, widths, strict=True))
            )
            for line in lines
        ]
        out.append(
            f"time zone: {self.timezone}; med = median, p90 = 90th percentile (minutes:seconds)"
        )
        for name, counts in (
            ("topics", self.total.topics),
            ("close categories", self.total.close_categories),
        ):
            listed = ", ".join(f"{k} {v}" for k, v in counts.items()) or "none"
            out.append(f"{name}: {listed}")
        return "\n".join(out)


def _clock(value: Shown | None) -> str:
    if not isinstance(value, int):
        return "-"
    return f"{value // 60}:{value % 60:02d}"


def _said(value: Shown | None) -> str:
    if value is None:
        return "not shown (fewer than 5 values)"
    if value == SUPPRESSED:
        return "fewer than 5"
    return str(value)


def figures(team: str, timezone: str, first: date, last: date, facts: Iterable[Fact]) -> Report:
    """The report over the days ``first`` to ``last`` (each day listed, zero or not)."""
    days = [(first + timedelta(i)).isoformat() for i in range((last - first).days + 1)]
    wanted = set(days)
    kept = [f for f in facts if f.day in wanted]
    topics = _keys(f.topic for f in kept)
    cats = _keys(f.close_category for f in kept if f.accepted)
    by_day: dict[str, list[Fact]] = {d: [] for d in days}
    for fact in kept:
        by_day[fact.day].append(fact)
    return Report(
        team,
        timezone,
        first,
        last,
        tuple(_row(d, by_day[d], topics, cats) for d in days),
        _row(f"{first}/{last}", kept, topics, cats),
    )


# ------------------------------------------------------------------------------ reading
async def load_facts(conn: AsyncConnection, team_id: int, first: date, last: date) -> list[Fact]:
    """The team's facts of the days ``first`` to ``last``."""
    return await storage.facts(conn, team_id, first.isoformat(), last.isoformat())


async def team_report(
    conn: AsyncConnection,
    team_id: int,
    slug: str,
    first: str | None,
    last: str | None,
    now_ms: int,
) -> Report:
    """The report of a team for a range given as text (today in the team's time zone
    when left out); :class:`StatsError` for a range that is not valid."""
    zone: ZoneInfo = await team_zone(conn, team_id)
    today = datetime.fromtimestamp(now_ms / 1000, zone).date()
    start, end = parse_range(first, last, today)
    return figures(slug, zone.key, start, end, await load_facts(conn, team_id, start, end))


async def command_output(
    conn: AsyncConnection, slug: str, first: str | None, last: str | None, csv_: bool, now_ms: int
) -> str:
    """``chatserver stats``: the report as text or CSV; :class:`StatsError` for an unknown
    team or a range that is not valid."""
    team_id = await team_by_slug(conn, slug)
    if team_id is None:
        raise StatsError(f"there is no team '{slug}'")
    report = await team_report(conn, team_id, slug, first, last, now_ms)
    return report.to_csv() if csv_ else report.to_text() + "\n"
