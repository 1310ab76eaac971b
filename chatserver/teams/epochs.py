"""Team epochs as the server knows them: signed bundles it stores and serves, never opens.

An admin's console makes the team's epoch keys ahead of time (say 30 daily epochs), signs
each epoch's public key with the team root key and uploads the bundles. The server checks
their *shape* (suite, team, sizes, times, one bundle per epoch) and who uploads them; the
signature is for the widget to check against the pin. The widget asks for the current
bundle; admins are warned before the uploaded epochs run out.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from chatserver.protocol.blobs import b64_field, whole_field
from chatserver.protocol.errors import Conflict, Malformed, NotFound
from chatserver.storage import team_keys as store
from chatserver.storage.db import Database
from chatserver.storage.store import audit_tx
from chatserver.storage.team_keys import EpochInfo

__all__ = [
    "MAX_WINDOW_MS",
    "EpochInfo",
    "Epochs",
    "KeyHorizon",
    "bundle_shape",
    "horizon_level",
    "horizon_summary",
]

HOUR_MS = 3_600_000
#: How far ahead the epochs reach, and who must hear of it (docs/operations.md, "Keys
#: ahead"): below TOP_UP an admin's page makes more by itself; below WARNING the admin area
#: warns; below URGENT every console of the team does; at none, new chats are paused.
TOP_UP_HOURS = 48
WARNING_HOURS = 24
URGENT_HOURS = 8


@dataclass(frozen=True, slots=True)
class KeyHorizon:
    """How long a team's uploaded epochs still cover new chats."""

    team: str
    covered_until: int | None  # unix ms; None: no epoch covers now or later
    level: str  # ok, top_up, warning, urgent, paused

    def hours_left(self, now: int) -> float:
        return 0.0 if self.covered_until is None else max(0, self.covered_until - now) / HOUR_MS


LEVELS = ("paused", "urgent", "warning", "top_up", "ok")  # the worst first


def horizon_summary(horizons: list[KeyHorizon], now: int) -> dict[str, Any]:
    """What monitoring may see without naming a team: the worst level, the shortest
    horizon, and how many teams are at each level."""
    counts = {level: sum(h.level == level for h in horizons) for level in LEVELS}
    worst = next((level for level in LEVELS if counts[level]), "ok")
    shortest = min((h.hours_left(now) for h in horizons), default=None)
    return {
        "level": worst,
        "hours_left": None if shortest is None else round(shortest, 2),
        "teams": counts,
    }


def horizon_level(covered_until: int | None, now: int) -> str:
    """``paused`` without a current epoch, else by the hours left (the *_HOURS above)."""
    if covered_until is None or covered_until <= now:
        return "paused"
    left = covered_until - now
    levels = (("urgent", URGENT_HOURS), ("warning", WARNING_HOURS), ("top_up", TOP_UP_HOURS))
    for level, hours in levels:
        if left < hours * HOUR_MS:
            return level
    return "ok"


MAX_WINDOW_MS = 2 * 24 * 3600 * 1000
MAX_BUNDLES_PER_UPLOAD = 400


def bundle_shape(wire: Any, team: str) -> EpochInfo:
    """Check what the server can check of a bundle (docs/e2e.md, "The team bundle")."""
    if not isinstance(wire, dict):
        raise Malformed("a bundle is a JSON object")
    expected = {"suite", "team", "epoch", "t_pub", "not_before", "not_after", "sig", "r_pub"}
    if set(wire) != expected:
        raise Malformed(f"a bundle has exactly the fields {', '.join(sorted(expected))}")
    if wire["suite"] != "cc1":
        raise Malformed("unsupported suite")
    if wire["team"] != team:
        raise Malformed("the bundle names another team")
    epoch, not_before, not_after = (
        whole_field(wire[k], k) for k in ("epoch", "not_before", "not_after")
    )
    if not not_before < not_after <= not_before + MAX_WINDOW_MS:
        raise Malformed("a bundle is valid for a positive time of at most two days")
    b64_field(wire["t_pub"], "t_pub", 65)
    b64_field(wire["r_pub"], "r_pub", 65)
    b64_field(wire["sig"], "sig", 64)
    canonical = json.dumps(wire, sort_keys=True, separators=(",", ":"))
    return EpochInfo(epoch, not_before, not_after, canonical)


class Epochs:
    """Stored bundles of every team."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def upload(
        self, team_id: int, team: str, bundles: Any, staff_id: str | None, now: int
    ) -> int:
        """Store new bundles; an epoch already stored with the same bundle is fine, with
        another is a conflict (a transcript hashes its bundle). Returns how many are new."""
        if not isinstance(bundles, list) or not 0 < len(bundles) <= MAX_BUNDLES_PER_UPLOAD:
            raise Malformed(f"send between 1 and {MAX_BUNDLES_PER_UPLOAD} bundles")
        infos = [bundle_shape(b, team) for b in bundles]
        if len({i.epoch for i in infos}) != len(infos):
            raise Malformed("an epoch appears twice")
        async with self.db.write() as conn:
            stored = await store.stored_bundles(conn, team_id, [i.epoch for i in infos])
            new = [i for i in infos if i.epoch not in stored]
            for info in infos:
                if info.epoch in stored and stored[info.epoch] != info.canonical:
                    raise Conflict(f"epoch {info.epoch} is stored with another bundle")
            if new:
                await store.add_bundles(conn, team_id, new, staff_id, now)
                await audit_tx(
                    conn,
                    now,
                    staff_id or "cli",
                    "epochs.uploaded",
                    team,
                    epochs=[i.epoch for i in new],
                )
        return len(new)

    async def current(self, team_id: int, now: int) -> EpochInfo:
        """The bundle valid now with the highest epoch."""
        async with self.db.read() as conn:
            info = await store.current_bundle(conn, team_id, now)
        if info is None:
            raise NotFound("this team has no key for now; the chat cannot start")
        return info

    async def get(self, team_id: int, epoch: int) -> EpochInfo:
        """One epoch's bundle, whatever its time window (the reader checks the window)."""
        async with self.db.read() as conn:
            info = await store.bundle(conn, team_id, epoch)
        if info is None:
            raise NotFound("this team has no bundle for that epoch")
        return info

    async def top(self, team_id: int) -> int:
        """The highest epoch number the team has (0 without any): new epochs go above it."""
        async with self.db.read() as conn:
            return await store.top_epoch(conn, team_id)

    async def horizons(self, now: int) -> list[KeyHorizon]:
        """Every team's key horizon (archived teams take no chats), by slug."""
        async with self.db.read() as conn:
            found = await store.horizons(conn, now)
        return [KeyHorizon(slug, until, horizon_level(until, now)) for slug, until in found]

    async def covered_until(self, team_id: int, now: int) -> int | None:
        """The end of the last uploaded epoch still in the future, or None."""
        async with self.db.read() as conn:
            return await store.covered_until(conn, team_id, now)
