"""Opening hours as pure logic: parsing with messages that name the field, open or closed at
an instant, and the next change, across midnight, exceptions and both DST transitions of
Europe/Berlin (2026: 29 March 02:00 → 03:00, 25 October 03:00 → 02:00)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from chatserver.teams.hours import (
    DEFAULT_EMERGENCY,
    Hours,
    HoursError,
    accepts_new_chats,
    hours_text,
    is_open,
    next_change,
    parse_hours,
    public_status,
)


def ms(iso: str) -> int:
    """Unix ms of an ISO time with its offset."""
    return int(datetime.fromisoformat(iso).timestamp() * 1000)


def hours(weekly: dict[str, list[str]], **more: Any) -> Hours:
    return parse_hours({"weekly": weekly, **more})


WORKDAYS = {day: ["09:00-17:00"] for day in ("mon", "tue", "wed", "thu", "fri")}


# --------------------------------------------------------------------------- plain weeks
def test_open_from_the_start_until_before_the_end_of_an_interval() -> None:
    """An interval includes its start and excludes its end."""
    h = hours(WORKDAYS)
    assert not is_open(h, ms("2026-12-01T08:59:59+01:00"))
    assert is_open(h, ms("2026-12-01T09:00:00+01:00"))
    assert is_open(h, ms("2026-12-01T16:59:59+01:00"))
    assert not is_open(h, ms("2026-12-01T17:00:00+01:00"))
    assert not is_open(h, ms("2026-12-05T12:00:00+01:00"))  # a Saturday


def test_next_change_is_the_closing_when_open_and_the_opening_when_closed() -> None:
    """Open: the end of the period; closed: the next start, over a weekend."""
    h = hours(WORKDAYS)
    assert next_change(h, ms("2026-12-01T10:00:00+01:00")) == ms("2026-12-01T17:00:00+01:00")
    assert next_change(h, ms("2026-12-01T17:00:00+01:00")) == ms("2026-12-02T09:00:00+01:00")
    assert next_change(h, ms("2026-12-04T18:00:00+01:00")) == ms("2026-12-07T09:00:00+01:00")


def test_a_team_without_hours_is_always_open() -> None:
    """No hours set: open, nothing changes, new chats are accepted."""
    assert is_open(None, 0)
    assert next_change(None, 0) is None
    assert accepts_new_chats(None, 0)


def test_an_empty_week_is_always_closed_and_a_full_week_always_open() -> None:
    """No interval: closed for good; 00:00-24:00 every day: open with no change ahead."""
    at = ms("2026-12-01T12:00:00+01:00")
    closed = hours({})
    assert not is_open(closed, at) and next_change(closed, at) is None
    always = hours({day: ["00:00-24:00"] for day in WORKDAYS | {"sat": [], "sun": []}})
    assert is_open(always, at) and next_change(always, at) is None


def test_other_time_zones_count_in_their_own_wall_time() -> None:
    """09:00 in New York is 15:00 in Berlin."""
    h = hours(WORKDAYS, timezone="America/New_York")
    assert not is_open(h, ms("2026-12-01T09:00:00+01:00"))
    assert is_open(h, ms("2026-12-01T09:00:00-05:00"))


# --------------------------------------------------------------------------- midnight
def test_an_evening_until_24_00_and_a_night_from_00_00_are_one_period() -> None:
    """Mon 22:00-24:00 + Tue 00:00-02:00: open over midnight, the change is Tue 02:00."""
    h = hours({"mon": ["22:00-24:00"], "tue": ["00:00-02:00"]})
    assert next_change(h, ms("2026-11-30T21:00:00+01:00")) == ms("2026-11-30T22:00:00+01:00")
    for at in ("2026-11-30T23:30:00+01:00", "2026-12-01T00:00:00+01:00"):
        assert is_open(h, ms(at))
        assert next_change(h, ms(at)) == ms("2026-12-01T02:00:00+01:00")
    assert not is_open(h, ms("2026-12-01T02:00:00+01:00"))
    assert next_change(h, ms("2026-12-01T02:00:00+01:00")) == ms("2026-12-07T22:00:00+01:00")


def test_an_evening_until_24_00_alone_closes_at_midnight() -> None:
    """Without a Tuesday 00:00 interval the team closes at midnight."""
    h = hours({"mon": ["20:00-24:00"]})
    assert next_change(h, ms("2026-11-30T23:00:00+01:00")) == ms("2026-12-01T00:00:00+01:00")
    assert not is_open(h, ms("2026-12-01T00:00:00+01:00"))


# --------------------------------------------------------------------------- DST
def test_spring_forward_an_interval_over_the_jump_is_an_hour_shorter() -> None:
    """Sun 29 March 01:00-05:00 is open 3 real hours and closes at 05:00 summer time."""
    h = hours({"sun": ["01:00-05:00"]})
    assert is_open(h, ms("2026-03-29T01:30:00+01:00"))
    assert is_open(h, ms("2026-03-29T03:30:00+02:00"))
    end = next_change(h, ms("2026-03-29T01:30:00+01:00"))
    assert end == ms("2026-03-29T05:00:00+02:00")
    assert end - ms("2026-03-29T01:00:00+01:00") == 3 * 3_600_000


def test_spring_forward_a_start_in_the_skipped_hour_opens_at_the_jump() -> None:
    """02:30 does not exist that night: 02:30-04:00 opens at 03:00 summer time; an
    interval wholly inside the skipped hour never opens."""
    h = hours({"sun": ["02:30-04:00"]})
    assert not is_open(h, ms("2026-03-29T01:59:59+01:00"))
    assert next_change(h, ms("2026-03-29T01:00:00+01:00")) == ms("2026-03-29T03:00:00+02:00")
    assert is_open(h, ms("2026-03-29T03:00:00+02:00"))
    gap = hours({"sun": ["02:15-02:45", "10:00-11:00"]})
    before = ms("2026-03-29T01:00:00+01:00")
    assert next_change(gap, before) == ms("2026-03-29T10:00:00+02:00")


def test_fall_back_a_whole_day_is_25_hours_and_repeated_times_count_once() -> None:
    """Sun 25 October 00:00-24:00 is 25 hours; 02:30-05:00 opens at the first 02:30 and
    01:00-02:30 closes at it, staying closed through the second 02:00-02:30."""
    day = hours({"sun": ["00:00-24:00"]})
    start = ms("2026-10-25T00:00:00+02:00")
    assert next_change(day, start - 1) == start
    assert next_change(day, start) == start + 25 * 3_600_000
    assert is_open(day, ms("2026-10-25T02:30:00+01:00"))  # the second 02:30

    late = hours({"sun": ["02:30-05:00"]})
    assert next_change(late, ms("2026-10-25T01:00:00+02:00")) == ms("2026-10-25T02:30:00+02:00")
    assert is_open(late, ms("2026-10-25T02:10:00+01:00"))
    assert next_change(late, ms("2026-10-25T02:30:00+02:00")) == ms("2026-10-25T05:00:00+01:00")

    early = hours({"sun": ["01:00-02:30"]})
    assert is_open(early, ms("2026-10-25T02:15:00+02:00"))
    assert not is_open(early, ms("2026-10-25T02:15:00+01:00"))
    assert next_change(early, ms("2026-10-25T02:15:00+02:00")) == ms("2026-10-25T02:30:00+02:00")


def test_the_same_wall_time_moves_in_utc_over_a_dst_change() -> None:
    """Friday before fall-back to Monday after: 09:00 is 07:00 UTC, then 08:00 UTC."""
    h = hours(WORKDAYS)
    assert next_change(h, ms("2026-10-22T18:00:00+02:00")) == ms("2026-10-23T07:00:00+00:00")
    assert next_change(h, ms("2026-10-23T18:00:00+02:00")) == ms("2026-10-26T08:00:00+00:00")
    assert next_change(h, ms("2026-03-27T18:00:00+01:00")) == ms("2026-03-30T07:00:00+00:00")


# --------------------------------------------------------------------------- exceptions
def test_exceptions_close_a_day_or_give_it_other_hours() -> None:
    """24 December closed (a Thursday), 31 December 10:00-13:00, then the week again."""
    h = hours(
        WORKDAYS,
        exceptions=[
            {"date": "2026-12-24", "hours": [], "label": "Heiligabend"},
            {"date": "2026-12-31", "hours": ["10:00-13:00"]},
        ],
    )
    assert not is_open(h, ms("2026-12-24T12:00:00+01:00"))
    assert next_change(h, ms("2026-12-23T17:00:00+01:00")) == ms("2026-12-25T09:00:00+01:00")
    assert not is_open(h, ms("2026-12-31T09:30:00+01:00"))
    assert is_open(h, ms("2026-12-31T12:59:00+01:00"))
    assert next_change(h, ms("2026-12-31T12:00:00+01:00")) == ms("2026-12-31T13:00:00+01:00")


def test_an_exception_months_ahead_is_the_next_change_of_an_always_open_team() -> None:
    """Open around the clock except one holiday in spring: the change is that midnight."""
    week = {day: ["00:00-24:00"] for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
    h = hours(week, exceptions=[{"date": "2027-04-02", "hours": []}])
    at = ms("2026-12-01T12:00:00+01:00")
    assert next_change(h, at) == ms("2027-04-02T00:00:00+02:00")
    assert next_change(h, ms("2027-04-02T12:00:00+02:00")) == ms("2027-04-03T00:00:00+02:00")


# --------------------------------------------------------------------------- parsing
def test_defaults_and_the_canonical_form_round_trip() -> None:
    """Left-out fields take the German defaults; to_json parses back to the same hours."""
    h = hours({"mon": ["14:00-18:00", "09:00-12:00"]})
    assert h.timezone == "Europe/Berlin"
    assert not h.queue_outside_hours
    assert "Du " in h.closed_message["de"]
    assert [c.number for c in DEFAULT_EMERGENCY] == ["112", "0800 111 0 111", "116 111"]
    assert h.to_json()["weekly"]["mon"] == ["09:00-12:00", "14:00-18:00"]
    assert h.to_json()["weekly"]["sun"] == []
    assert parse_hours(h.to_json()) == h
    custom = hours(
        {},
        emergency=[{"name": "Krisendienst", "link": "https://example.org/hilfe"}],
        closed_message={"en": "We are closed."},
        queue_outside_hours=True,
    )
    assert custom.closed_message["en"] == "We are closed."
    assert custom.closed_message["de"] == h.closed_message["de"]
    assert parse_hours(custom.to_json()) == custom
    assert accepts_new_chats(custom, 0) and not is_open(custom, 0)


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ([], "hours: an object"),
        ({}, "weekly: an object"),
        ({"weekly": {}, "colour": 1}, "unknown field 'colour'"),
        ({"weekly": {"monday": []}}, "weekly: unknown field 'monday'"),
        ({"weekly": {"mon": "09:00-17:00"}}, "weekly.mon: a list"),
        ({"weekly": {"mon": ["9-17"]}}, "weekly.mon[0]: '9-17' is not an interval"),
        ({"weekly": {"tue": ["25:00-26:00"]}}, "weekly.tue[0]: '25:00-26:00' is not a time"),
        ({"weekly": {"tue": ["24:00-24:00"]}}, "is not a time of day"),
        ({"weekly": {"tue": ["10:00-24:30"]}}, "is not a time of day"),
        ({"weekly": {"wed": ["22:00-02:00"]}}, "weekly.wed[0]: '22:00-02:00' must end after"),
        ({"weekly": {"thu": ["09:00-12:00", "11:00-13:00"]}}, "09:00-12:00 and 11:00-13:00"),
        ({"weekly": {}, "timezone": "Mars/Olympus"}, "timezone: 'Mars/Olympus' is not"),
        ({"weekly": {}, "timezone": "/etc/passwd"}, "timezone: an IANA time zone"),
        ({"weekly": {}, "timezone": "../etc"}, "timezone: an IANA time zone"),
        ({"weekly": {}, "exceptions": {}}, "exceptions: a list"),
        ({"weekly": {}, "exceptions": [{"date": "2026-02-30", "hours": []}]}, "[0].date"),
        ({"weekly": {}, "exceptions": [{"date": "2026-12-24"}]}, "exceptions[0].hours"),
        (
            {"weekly": {}, "exceptions": [{"date": "2026-12-24", "hours": ["x"]}]},
            "exceptions[0].hours[0]",
        ),
        (
            {"weekly": {}, "exceptions": [{"date": "2026-12-24", "hours": []}] * 2},
            "exceptions[1].date: 2026-12-24 is given twice",
        ),
        ({"weekly": {}, "closed_message": {"fr": "x"}}, "closed_message: unknown field 'fr'"),
        ({"weekly": {}, "closed_message": {"de": " "}}, "closed_message.de: a non-empty"),
        ({"weekly": {}, "closed_message": {"en": "x" * 1001}}, "closed_message.en: at most"),
        ({"weekly": {}, "emergency": [{"name": "A"}]}, "emergency[0]: give a number, a link"),
        ({"weekly": {}, "emergency": [{"number": "112"}]}, "emergency[0].name"),
        ({"weekly": {}, "emergency": [{"name": "A", "number": "call me"}]}, "[0].number"),
        (
            {"weekly": {}, "emergency": [{"name": "A", "link": "http://x.example"}]},
            "emergency[0].link: an https://",
        ),
        ({"weekly": {}, "queue_outside_hours": "yes"}, "queue_outside_hours: true or false"),
    ],
)
def test_invalid_hours_are_refused_naming_the_field(body: Any, fragment: str) -> None:
    """Each mistake gets a message that says which field and what is expected."""
    with pytest.raises(HoursError) as caught:
        parse_hours(body)
    assert fragment in str(caught.value)


# --------------------------------------------------------------------------- the widget
def test_hours_text_groups_days_with_the_same_hours() -> None:
    """Monday to Friday the same, Saturday other, Sunday closed: two groups, in both languages."""
    h = hours(WORKDAYS | {"sat": ["10:00-12:00", "13:00-15:00"]})
    de, en = (
        "Mo-Fr 09:00-17:00; Sa 10:00-12:00, 13:00-15:00",
        "Mon-Fri 09:00-17:00; Sat 10:00-12:00, 13:00-15:00",
    )
    assert hours_text(h, "de") == de.replace("-", "\N{EN DASH}")
    assert hours_text(h, "en") == en.replace("-", "\N{EN DASH}")
    assert hours_text(hours({}), "de") is None


def test_public_status_of_a_team_without_hours_shows_the_defaults() -> None:
    """Open, no change ahead, the default closed message and emergency numbers."""
    status = public_status(None, 0, "en")
    assert status["open"] is True and status["next_change"] is None
    assert status["hours_text"] is None
    assert status["closed_message"].startswith("Nobody")
    assert [c["number"] for c in status["emergency"]] == ["112", "0800 111 0 111", "116 111"]
