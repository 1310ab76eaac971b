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
from typing import Any

from sqlalchemy import ColumnElement, Row, and_, func, or_, select

from chatserver.storage import models as m
from chatserver.storage.db import Database
from chatserver.storage.store import audit_hash

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


@dataclass(frozen=True, slots=True)
class AuditFilter:
    """Which entries to find: ``text`` in action, target or detail (any case), an exact
    ``action`` and ``actor`` (a staff id, ``cli`` or ``system``), ``at`` from ``since`` to
    before ``until`` (unix ms). Empty fields do not filter."""

    text: str = ""
    action: str = ""
    actor: str = ""
    since: int | None = None
    until: int | None = None

    def where(self) -> ColumnElement[bool]:
        a = m.audit.c
        parts: list[ColumnElement[bool]] = []
        if self.text:
            escaped = self.text.lower()
            for special in ("\\", "%", "_"):
                escaped = escaped.replace(special, "\\" + special)
            like = f"%{escaped}%"
            parts.append(
                or_(
                    *(
                        func.lower(func.coalesce(col, "")).like(like, escape="\\")
                        for col in (a.action, a.target, a.detail)
                    )
                )
            )
        if self.action:
            parts.append(a.action == self.action)
        if self.actor:
            parts.append(a.actor == self.actor)
        if self.since is not None:
            parts.append(a.at >= self.since)
        if self.until is not None:
            parts.append(a.at < self.until)
        return and_(True, *parts)


async def search(
    db: Database, where: AuditFilter, limit: int, before: int | None = None
) -> list[Row[Any]]:
    """Up to ``limit`` matching entries, newest first, with ids below ``before``; each
    row also carries ``actor_name`` (the staff member's username, when the actor is one)."""
    a = m.audit.c
    query = (
        select(m.audit, m.staff.c.username.label("actor_name"))
        .outerjoin(m.staff, m.staff.c.id == a.actor)
        .where(where.where())
        .order_by(a.id.desc())
        .limit(limit)
    )
    if before is not None:
        query = query.where(a.id < before)
    async with db.read() as conn:
        return list((await conn.execute(query)).all())


async def export_csv(db: Database, where: AuditFilter | None = None) -> str:
    """Every entry (or those ``where`` finds) as CSV (id, at, actor, action, target,
    detail, hash): no content."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["id", "at", "actor", "action", "target", "detail", "hash"])
    query = select(m.audit).order_by(m.audit.c.id)
    if where is not None:
        query = query.where(where.where())
    async with db.read() as conn:
        for row in await conn.execute(query):
            writer.writerow(
                [row.id, row.at, row.actor, row.action, row.target, row.detail, row.hash]
            )
    return out.getvalue()
