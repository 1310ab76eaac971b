"""The audit log's hash chain: verify it, export it.

Each entry's ``hash`` is :func:`chatserver.storage.store.audit_hash` of the previous
entry's hash and its own fields. Verifying walks the entries in order: a changed entry no
longer matches its hash, a removed one breaks the link to the next. Retention removes the
oldest entries on purpose; the chain then starts at the oldest kept entry, whose
``prev_hash`` the sweep report that removed its predecessors names.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass

from sqlalchemy import select

from .storage import models as m
from .storage.db import Database
from .storage.store import audit_hash

__all__ = ["ChainCheck", "export_csv", "verify_chain"]


@dataclass(frozen=True, slots=True)
class ChainCheck:
    entries: int
    broken_at: int | None  # the id of the first entry that does not check out
    reason: str = ""

    @property
    def ok(self) -> bool:
        return self.broken_at is None


async def verify_chain(db: Database, batch: int = 1000) -> ChainCheck:
    a = m.audit.c
    checked, prev, after = 0, None, -1
    while True:
        async with db.read() as conn:
            rows = (
                await conn.execute(select(m.audit).where(a.id > after).order_by(a.id).limit(batch))
            ).all()
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


async def export_csv(db: Database) -> str:
    """Every entry as CSV (id, at, actor, action, target, detail, hash): no content."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["id", "at", "actor", "action", "target", "detail", "hash"])
    async with db.read() as conn:
        for row in await conn.execute(select(m.audit).order_by(m.audit.c.id)):
            writer.writerow(
                [row.id, row.at, row.actor, row.action, row.target, row.detail, row.hash]
            )
    return out.getvalue()
