"""The audit log in storage: a hash chain of who, what and when, never content.

:func:`audit_tx` appends an entry in the caller's transaction; each entry's ``hash`` is
:func:`audit_hash` of the previous entry's hash and its own fields. The reads give the
entries in order for a chain check (:func:`after`), filtered for the admin area
(:func:`search`, :func:`entries`) and the newest of one action (:func:`latest`). Checking
the chain is :mod:`chatserver.records.audit`'s.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, func, insert, or_, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from chatserver.storage import models as m

__all__ = [
    "AUDIT_LOCK",
    "AuditEntry",
    "AuditFilter",
    "after",
    "audit_hash",
    "audit_tx",
    "entries",
    "latest",
    "search",
]

a = m.audit.c

#: The advisory lock key of audit appends on PostgreSQL ("audit" in ASCII).
AUDIT_LOCK = 0x6175646974


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """An entry as stored; ``detail`` is its JSON text. ``actor_name``: the username of
    the staff member who acted, where a read asks for it (:func:`search`) and the actor
    is one."""

    id: int
    at: int
    actor: str | None
    action: str
    target: str | None
    detail: str
    prev_hash: str
    hash: str
    actor_name: str | None = None


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


async def audit_tx(
    conn: AsyncConnection,
    now: int,
    actor: str | None,
    action: str,
    target: str | None = None,
    **detail: Any,
) -> None:
    """Append an audit entry: who, what, when; never content. Entries form a hash chain
    (:func:`audit_hash`); on PostgreSQL a transaction-scoped advisory lock makes appends
    one at a time so the chain never forks (SQLite writers are serialised anyway)."""
    if conn.dialect.name == "postgresql":
        await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": AUDIT_LOCK})
    prev = (await conn.execute(select(a.hash).order_by(a.id.desc()).limit(1))).scalar() or ""
    encoded = json.dumps(detail, sort_keys=True, separators=(",", ":"))
    digest = audit_hash(prev, at=now, actor=actor, action=action, target=target, detail=encoded)
    await conn.execute(
        insert(m.audit).values(
            at=now,
            actor=actor,
            action=action,
            target=target,
            detail=encoded,
            prev_hash=prev,
            hash=digest,
        )
    )


def audit_hash(
    prev_hash: str, *, at: int, actor: str | None, action: str, target: str | None, detail: str
) -> str:
    """``sha256`` of the JSON array ``[prev_hash, at, actor, action, target, detail]``."""
    fields = [prev_hash, at, actor, action, target, detail]
    encoded = json.dumps(fields, separators=(",", ":"), ensure_ascii=False).encode()
    return hashlib.sha256(encoded).hexdigest()


def _entry(row: Any, actor_name: str | None = None) -> AuditEntry:
    return AuditEntry(
        row.id,
        row.at,
        row.actor,
        row.action,
        row.target,
        row.detail,
        row.prev_hash,
        row.hash,
        actor_name,
    )


async def after(conn: AsyncConnection, entry_id: int, limit: int) -> list[AuditEntry]:
    """Up to ``limit`` entries with ids above ``entry_id``, oldest first."""
    rows = await conn.execute(select(m.audit).where(a.id > entry_id).order_by(a.id).limit(limit))
    return [_entry(r) for r in rows]


async def search(
    conn: AsyncConnection, where: AuditFilter, limit: int, before: int | None = None
) -> list[AuditEntry]:
    """Up to ``limit`` entries ``where`` finds, newest first, with ids below ``before``;
    each with its ``actor_name``."""
    query: Select[Any] = (
        select(m.audit, m.staff.c.username.label("actor_name"))
        .outerjoin(m.staff, m.staff.c.id == a.actor)
        .where(where.where())
        .order_by(a.id.desc())
        .limit(limit)
    )
    if before is not None:
        query = query.where(a.id < before)
    return [_entry(r, r.actor_name) for r in await conn.execute(query)]


async def entries(conn: AsyncConnection, where: AuditFilter | None = None) -> list[AuditEntry]:
    """Every entry (or those ``where`` finds), oldest first."""
    query = select(m.audit).order_by(a.id)
    if where is not None:
        query = query.where(where.where())
    return [_entry(r) for r in await conn.execute(query)]


async def latest(conn: AsyncConnection, action: str, limit: int) -> list[AuditEntry]:
    """The newest ``limit`` entries of ``action``, newest first."""
    rows = await conn.execute(
        select(m.audit).where(a.action == action).order_by(a.id.desc()).limit(limit)
    )
    return [_entry(r) for r in rows]
