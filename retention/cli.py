"""The operator's retention commands: ``chatserver retention run|preview|rules|worker`` and
``chatserver hold place|extend|release|list`` (wired into ``chatserver.ops.cli``)."""

from __future__ import annotations

import asyncio
import json
import signal
import time
from typing import Any

from chatserver.config import Settings
from chatserver.records.preview import preview
from chatserver.records.retention import (
    active_holds,
    change_hold,
    effective_rules,
    place_hold,
    set_rule,
    team_rules,
)
from chatserver.retention_rules import CATEGORIES, RuleError, Rules, format_minutes, parse_rules
from chatserver.storage import retention as storage
from chatserver.storage import teams as stored_teams
from chatserver.storage.db import Database
from chatserver.storage.keystore import Keystore
from retention.scheduler import SweepScheduler
from retention.sweeper import Report, Sweeper

__all__ = [
    "hold_command",
    "preview_lines",
    "report_lines",
    "rules_lines",
    "run_sweep",
    "worker",
]

DAY_MS = 86_400_000


def _now() -> int:
    return int(time.time() * 1000)


def _utc(ms: int) -> str:
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(ms / 1000))


def rules_of(settings: Settings) -> Rules:
    return Rules.from_settings(
        settings.retention_defaults, settings.retention_min, settings.retention_max
    )


def _sweeper(db: Database, keystore: Keystore, settings: Settings) -> Sweeper:
    return Sweeper(
        db,
        keystore,
        rules_of(settings),
        batch=settings.retention_batch,
        pause_ms=settings.retention_pause_ms,
    )


async def run_sweep(db: Database, settings: Settings) -> Report:
    keystore = Keystore(settings.keystore)
    await keystore.open()
    try:
        return await _sweeper(db, keystore, settings).run()
    finally:
        await keystore.close()


def report_lines(report: Report) -> list[str]:
    if report.skipped:
        return ["another sweep is running; nothing done"]
    lines = [f"sweep finished in {report.finished_at - report.started_at} ms"]
    for category, count in sorted(report.counts.items()):
        lines.append(f"  {category}: {count}")
    if not report.counts:
        lines.append("  nothing was due")
    lines.append(f"  storage keys destroyed: {report.keys_destroyed}")
    lines.append(f"  held conversations kept: {report.holds_skipped}")
    lines.append(f"  batches: {report.batches}")
    lines.extend(f"  error: {e}" for e in report.errors)
    return lines


async def _team_id(db: Database, slug: str) -> int:
    async with db.read() as conn:
        team_id = await stored_teams.id_of(conn, slug)
    if team_id is None:
        raise RuleError(f"there is no team {slug!r}")
    return team_id


async def preview_lines(
    db: Database, settings: Settings, team: str | None, changes: list[str], days: int
) -> list[str]:
    proposed: dict[str, dict[str, int]] = {}
    for change in changes:
        slug, sep, rule = change.partition(":")
        if not sep:
            raise RuleError(f"a proposed change is TEAM:CATEGORY=DURATION, not {change!r}")
        await _team_id(db, slug)
        proposed.setdefault(slug, {}).update(parse_rules(rule))
    rows = await preview(
        db,
        rules_of(settings),
        _now(),
        teams=[team] if team else None,
        proposed=proposed,
        days=days,
    )
    lines = [f"team\tcategory\trule\tdue now\tdue within {days} days"]
    lines += [f"{r.team}\t{r.category}\t{format_minutes(r.rule)}\t{r.now}\t{r.soon}" for r in rows]
    return lines


async def rules_lines(
    db: Database, settings: Settings, slug: str, set_rules: list[str], reset: list[str], actor: str
) -> list[str]:
    rules = rules_of(settings)
    team_id = await _team_id(db, slug)
    changes: list[tuple[str, int | None]] = []
    for text in set_rules:
        changes += list(parse_rules(text).items())
    for category in reset:
        if category not in CATEGORIES:
            raise RuleError(f"unknown category {category!r}")
        changes.append((category, None))
    async with db.write() as conn:
        for category, minutes in changes:
            await set_rule(conn, rules, team_id, category, minutes, actor, _now())
        own = await team_rules(conn, team_id)
        effective = await effective_rules(conn, rules, team_id)
    return [
        f"{name}\t{format_minutes(effective[name])}\t"
        f"{'team rule' if name in own else 'default'}\t{CATEGORIES[name].event}"
        for name in CATEGORIES
    ]


async def hold_command(db: Database, args: Any, actor: str = "cli") -> list[str]:
    now = _now()
    if args.action == "list":
        async with db.read() as conn:
            team_ids = [
                i
                for i, _ in await stored_teams.with_slugs(conn, [args.team] if args.team else None)
            ]
            holds = await active_holds(conn, now, team_ids)
        return [
            f"{h.id}\t{h.conversation}\tuntil {_utc(h.expires_at)}\t{h.reason}" for h in holds
        ] or ["no holds in force"]
    try:
        async with db.write() as conn:
            if args.action == "place":
                if not await storage.conversation_exists(conn, args.conversation):
                    raise LookupError("there is no such conversation (any more)")
                hold_id = await place_hold(
                    conn, args.conversation, args.reason, now + args.days * DAY_MS, actor, now
                )
                return [f"hold {hold_id} placed on {args.conversation}"]
            if args.action == "extend":
                cid = await change_hold(
                    conn, args.id, actor, now, expires_at=now + args.days * DAY_MS
                )
                return [f"hold {args.id} on {cid} extended by {args.days} days from now"]
            cid = await change_hold(conn, args.id, actor, now, release=True)
            return [f"hold {args.id} on {cid} released"]
    except (LookupError, ValueError) as exc:
        raise RuleError(str(exc)) from None


async def worker(db: Database, settings: Settings) -> None:
    """Sweep on the schedule until SIGTERM or SIGINT (one sweep at once across processes)."""
    keystore = Keystore(settings.keystore)
    await keystore.open()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    scheduler = SweepScheduler(
        _sweeper(db, keystore, settings), settings.retention_interval_minutes
    )
    scheduler.start()
    print(
        json.dumps({"event": "retention_worker_started", "every_minutes": scheduler.interval}),
        flush=True,
    )
    try:
        await stop.wait()
    finally:
        await scheduler.stop()
        await keystore.close()
