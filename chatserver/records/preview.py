"""What the rules in force, or a proposed change to them, would delete now and within the
next days: counts per team and category, computed from the lifecycle timestamps (the same
arithmetic as :func:`chatserver.records.retention.due_values`), holds excluded."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import partial

from chatserver.records.retention import MINUTE, team_rules
from chatserver.retention_rules import Rules
from chatserver.storage import retention as storage
from chatserver.storage import teams as stored_teams
from chatserver.storage.db import Database

__all__ = ["PreviewRow", "preview"]

DAY_MS = 86_400_000


@dataclass(frozen=True, slots=True)
class PreviewRow:
    team: str  # "*" for the operator-wide categories
    category: str
    rule: int  # minutes in force (or proposed)
    now: int  # records that would go in a sweep now
    soon: int  # ... within the next ``days`` days (including now)


async def preview(
    db: Database,
    rules: Rules,
    now: int,
    *,
    teams: list[str] | None = None,
    proposed: Mapping[str, Mapping[str, int]] | None = None,
    days: int = 7,
) -> list[PreviewRow]:
    """Counts per team and category; ``proposed`` maps a team slug to rule changes
    (minutes per category) to preview before they are saved."""
    later = now + days * DAY_MS
    out: list[PreviewRow] = []
    async with db.read() as conn:
        for team_id, slug in await stored_teams.with_slugs(conn, teams):
            own = await team_rules(conn, team_id)
            own.update((proposed or {}).get(slug, {}))
            rule = rules.effective(own)
            keep_meta = max(rule["metadata"], rule["messages"]) * MINUTE
            counts = {
                "messages": partial(
                    storage.count_content_due, conn, team_id, rule["messages"] * MINUTE, now=now
                ),
                "abandoned": partial(
                    storage.count_abandoned_due, conn, team_id, rule["abandoned"] * MINUTE, now=now
                ),
                "idle_close": partial(
                    storage.count_idle, conn, team_id, rule["idle_close"] * MINUTE
                ),
                "metadata": partial(storage.count_metadata_due, conn, team_id, keep_meta, now=now),
                "epoch_keys": partial(
                    storage.count_epochs_due, conn, team_id, rule["epoch_keys"] * MINUTE
                ),
            }
            for category, count in counts.items():
                out.append(
                    PreviewRow(slug, category, rule[category], await count(now), await count(later))
                )
        if teams is None:
            general = rules.effective({})
            for category in ("sessions", "invites", "blocks", "staff", "audit"):
                keep = general[category] * MINUTE
                due_now, due_later = [
                    await storage.count_operator_due(conn, category, keep, at)
                    for at in (now, later)
                ]
                out.append(PreviewRow("*", category, general[category], due_now, due_later))
    return out
