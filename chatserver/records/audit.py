"""The audit log's hash chain: verify it, export it.

Each entry's ``hash`` is :func:`chatserver.storage.audit.audit_hash` of the previous
entry's hash and its own fields. Verifying walks the entries in order: a changed entry no
longer matches its hash, a removed one breaks the link to the next. Retention removes the
oldest entries on purpose; the chain then starts at the oldest kept entry, whose
``prev_hash`` the sweep report that removed its predecessors names.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass

from chatserver.storage import audit
from chatserver.storage.audit import AuditEntry, AuditFilter, audit_hash
from chatserver.storage.db import Database

__all__ = ["AuditFilter", "ChainCheck", "export_csv", "search", "verify_chain"]


@dataclass(frozen=True, slots=True)
class ChainCheck:
    entries: int
    broken_at: int | None  # the id of the first entry that does not check out
    reason: str = ""

    @property
    def ok(self) -> bool:
        return self.broken_at is None


async def verify_chain(db: Database, batch: int = 1000) -> ChainCheck:
    checked, prev, after = 0, None, -1
    while True:
        async with db.read() as conn:
            rows = await audit.after(conn, after, batch)
        if not rows:
            return ChainCheck(checked, None)
        for row in rows:
            if prev is not None and row.prev_hash != prev:
                return ChainCheck(checked, row.id, "an entry before it was removed or changed")
            expected = audit_hash(
                row.prev_hash,
                at=row.at,
                actor=row.actor,
                action=row.action,
                target=row.target,
                detail=row.detail,
            )
            if row.hash != expected:
                return ChainCheck(checked, row.id, "this entry was changed")
            prev, after, checked = row.hash, row.id, checked + 1


async def search(
    db: Database, where: AuditFilter, limit: int, before: int | None = None
) -> list[AuditEntry]:
    """Up to ``limit`` matching entries, newest first, with ids below ``before``; each
    also carries ``actor_name`` (the staff member's username, when the actor is one)."""
    async with db.read() as conn:
        return await audit.search(conn, where, limit, before)


async def export_csv(db: Database, where: AuditFilter | None = None) -> str:
    """Every entry (or those ``where`` finds) as CSV (id, at, actor, action, target,
    detail, hash): no content."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["id", "at", "actor", "action", "target", "detail", "hash"])
    async with db.read() as conn:
        for row in await audit.entries(conn, where):
            writer.writerow(
                [row.id, row.at, row.actor, row.action, row.target, row.detail, row.hash]
            )
    return out.getvalue()
