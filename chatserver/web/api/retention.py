"""HTTP endpoints of retention for the admin area: a team's rules with a preview of a
change before it is saved, legal holds, and the sweep reports. Admins manage rules and read
reports; supervisors and admins of the conversation's team place and release holds."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import field
from typing import Any, cast

from aiohttp import web

from chatserver.protocol.bodies import Body, HoldChange, NewHold, RulesPreview
from chatserver.protocol.errors import Malformed, NotFound
from chatserver.protocol.frames import spec
from chatserver.records.preview import preview
from chatserver.records.retention import active_holds, change_hold, place_hold, set_rule, team_rules
from chatserver.retention_rules import (
    CATEGORIES,
    OPERATOR_WIDE,
    RuleError,
    format_minutes,
    parse_duration,
)
from chatserver.storage.retention import hold_team
from chatserver.storage.retention import sweep_reports as stored_reports
from chatserver.web.api.teams import team_of
from chatserver.web.guards import check_team_access, now_ms, read_body, staff_in_role
from chatserver.web.state import DB, SERVICE, STORE

MAX_BODY = 16 * 1024
DAY_MS = 86_400_000
MAX_HOLD_DAYS = 3650


#: ``PUT /api/teams/{slug}/retention``: a duration (or null, the default again) for some
#: of the categories, one optional field each.
RuleChanges = cast(
    type[Body],
    dataclasses.make_dataclass(
        "RuleChanges",
        [(name, str | None, spec(max_len=32, optional=True)) for name in CATEGORIES]
        + [("present", frozenset[str], field(default=frozenset(), metadata={"decoder": True}))],
        bases=(Body,),
        frozen=True,
        slots=True,
        namespace={
            "EXAMPLE": '{"messages"?: "48h" or "90d" or null, ...} naming categories among '
            + ", ".join(CATEGORIES),
            "NOT_EMPTY": True,
        },
    ),
)


def _minutes(value: Any, category: str) -> int | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise Malformed(f"{category}: a duration like '48h' or '90d', or null")
    try:
        return parse_duration(value)
    except RuleError as exc:
        raise Malformed(str(exc)) from None


def _rules_json(request: web.Request, own: dict[str, int]) -> list[dict[str, Any]]:
    rules = request.app[SERVICE].rules
    effective = rules.effective(own)
    return [
        {
            "category": name,
            "duration": format_minutes(effective[name]),
            "minutes": effective[name],
            "source": "team" if name in own else "default",
            # Operator-wide categories belong to no team: shown, never set per team.
            "team_rule": name not in OPERATOR_WIDE,
            "default": format_minutes(rules.defaults[name]),
            "min": format_minutes(rules.minimum[name]) if name in rules.minimum else None,
            "max": format_minutes(rules.maximum[name]) if name in rules.maximum else None,
            "counts_from": c.event,
            "deletes": c.what,
        }
        for name, c in CATEGORIES.items()
    ]


# ------------------------------------------------------------------------------ rules
async def show_rules(request: web.Request) -> web.Response:
    staff = await staff_in_role(request, ("admin", "supervisor"), write=False)
    team = await team_of(request)
    await check_team_access(request, staff, team.id)
    async with request.app[DB].read() as conn:
        own = await team_rules(conn, team.id)
    return web.json_response({"team": team.slug, "rules": _rules_json(request, own)})


async def change_rules(request: web.Request) -> web.Response:
    """``{"messages": "24h", "metadata": null}``: set or reset (null) team rules."""
    admin = await staff_in_role(request, ("admin",), write=True)
    team = await team_of(request)
    body = await read_body(request, RuleChanges, MAX_BODY)
    present = cast(frozenset[str], body.present)  # type: ignore[attr-defined]
    changes = {name: _minutes(getattr(body, name), name) for name in sorted(present)}
    rules = request.app[SERVICE].rules
    try:
        async with request.app[DB].write() as conn:
            for category, minutes in changes.items():
                await set_rule(conn, rules, team.id, category, minutes, admin.id, now_ms(request))
            own = await team_rules(conn, team.id)
    except RuleError as exc:
        raise Malformed(str(exc)) from None
    return web.json_response({"team": team.slug, "rules": _rules_json(request, own)})


async def preview_rules(request: web.Request) -> web.Response:
    """What the rules in force, and with ``{"changes": {...}}`` the proposed ones, would
    delete now and within ``days`` (default 7)."""
    staff = await staff_in_role(request, ("admin",), write=True)
    team = await team_of(request)
    await check_team_access(request, staff, team.id)
    body = await read_body(request, RulesPreview, MAX_BODY)
    raw, days = body.changes, body.days
    if not set(raw) <= set(CATEGORIES):
        raise Malformed("changes maps categories to durations")
    proposed = {name: _minutes(value, name) for name, value in raw.items()}
    rules = request.app[SERVICE].rules
    try:
        for name, minutes in proposed.items():
            if minutes is not None:
                rules.check(name, minutes)
    except RuleError as exc:
        raise Malformed(str(exc)) from None
    now = now_ms(request)
    kwargs: dict[str, Any] = {"teams": [team.slug], "days": days}
    current = await preview(request.app[DB], rules, now, **kwargs)
    async with request.app[DB].read() as conn:
        own = await team_rules(conn, team.id)
    for name, minutes in proposed.items():
        if minutes is None:
            own.pop(name, None)
        else:
            own[name] = minutes
    changed = await preview(request.app[DB], rules, now, proposed={team.slug: own}, **kwargs)
    return web.json_response(
        {
            "team": team.slug,
            "days": days,
            "rows": [
                {
                    "category": a.category,
                    "rule": format_minutes(a.rule),
                    "now": a.now,
                    "soon": a.soon,
                    "proposed_rule": format_minutes(b.rule),
                    "proposed_now": b.now,
                    "proposed_soon": b.soon,
                }
                for a, b in zip(current, changed, strict=True)
            ],
        }
    )


# ------------------------------------------------------------------------------ holds
async def list_holds(request: web.Request) -> web.Response:
    staff = await staff_in_role(request, ("admin", "supervisor"), write=False)
    team = await team_of(request)
    await check_team_access(request, staff, team.id)
    async with request.app[DB].read() as conn:
        holds = await active_holds(conn, now_ms(request), [team.id])
    return web.json_response(
        [
            {
                "id": h.id,
                "conversation": h.conversation,
                "reason": h.reason,
                "by": h.created_by,
                "since": h.created_at,
                "until": h.expires_at,
            }
            for h in holds
        ]
    )


def _days(days: int) -> int:
    if not 1 <= days <= MAX_HOLD_DAYS:
        raise Malformed(f"days is a whole number from 1 to {MAX_HOLD_DAYS}")
    return days


async def create_hold(request: web.Request) -> web.Response:
    staff = await staff_in_role(request, ("admin", "supervisor"), write=True)
    conversation = await request.app[STORE].conversation(request.match_info["conversation"])
    if conversation is None:
        raise NotFound("there is no such conversation (any more)")
    await check_team_access(request, staff, conversation.team_id)
    body = await read_body(request, NewHold, MAX_BODY)
    reason = body.reason
    if not reason.strip() or len(reason) > 500:
        raise Malformed("a hold needs a reason (at most 500 characters)")
    now = now_ms(request)
    async with request.app[DB].write() as conn:
        hold_id = await place_hold(
            conn, conversation.id, reason, now + _days(body.days) * DAY_MS, staff.id, now
        )
    return web.json_response({"id": hold_id}, status=201)


async def _hold_team(request: web.Request, hold_id: int) -> int:
    async with request.app[DB].read() as conn:
        team_id = await hold_team(conn, hold_id)
    if team_id is None:
        raise NotFound("there is no such hold")
    return team_id


async def update_hold(request: web.Request) -> web.Response:
    """``PATCH {"days": N}`` extends to N days from now; ``DELETE`` releases."""
    staff = await staff_in_role(request, ("admin", "supervisor"), write=True)
    if not request.match_info["id"].isdigit():
        raise NotFound("there is no such hold")
    hold_id = int(request.match_info["id"])
    await check_team_access(request, staff, await _hold_team(request, hold_id))
    now = now_ms(request)
    if request.method == "DELETE":
        expires = None
    else:
        expires = now + _days((await read_body(request, HoldChange, MAX_BODY)).days) * DAY_MS
    try:
        async with request.app[DB].write() as conn:
            await change_hold(
                conn, hold_id, staff.id, now, expires_at=expires, release=expires is None
            )
    except LookupError as exc:
        raise NotFound(str(exc)) from None
    return web.json_response({"id": hold_id, "until": expires})


# ------------------------------------------------------------------------------ reports
async def sweep_reports(request: web.Request) -> web.Response:
    await staff_in_role(request, ("admin",), write=False)
    async with request.app[DB].read() as conn:
        rows = await stored_reports(conn, limit=100)
    return web.json_response(
        [{"id": r.id, "at": r.at, "hash": r.hash, **json.loads(r.detail)} for r in rows]
    )


def add_retention_routes(app: web.Application) -> None:
    app.router.add_get("/api/teams/{slug}/retention", show_rules)
    app.router.add_put("/api/teams/{slug}/retention", change_rules)
    app.router.add_post("/api/teams/{slug}/retention/preview", preview_rules)
    app.router.add_get("/api/teams/{slug}/holds", list_holds)
    app.router.add_post("/api/conversations/{conversation}/holds", create_hold)
    app.router.add_patch("/api/holds/{id}", update_hold)
    app.router.add_delete("/api/holds/{id}", update_hold)
    app.router.add_get("/api/retention/reports", sweep_reports)
