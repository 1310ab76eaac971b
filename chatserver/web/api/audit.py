"""HTTP endpoints of the audit log for the admin area (docs/admin.md, "Audit log").

- ``GET /api/admin/audit?q=&action=&actor=&since=&until=&limit=&before=``: entries newest
  first, ``limit`` (1 to 200, default 50) at a time; ``before`` (an entry id) pages on.
  ``actor`` is a staff id, a username, ``cli`` or ``system``; ``since`` and ``until`` are
  unix milliseconds (``until`` excluded).
- ``GET /api/admin/audit.csv``: the same filter, all matching entries, the columns of
  ``chatserver audit export``.
- ``GET /api/admin/audit/verify``: the chain check of ``chatserver audit verify``.

Admins only. The log holds who, what and when, never content; these answers hold nothing
more.
"""

from __future__ import annotations

import json
import re
from typing import Any

from aiohttp import web

from chatserver.protocol.errors import Malformed
from chatserver.records.audit import AuditFilter, export_csv, search, verify_chain
from chatserver.storage.staff import id_by_username_or_id
from chatserver.web.guards import staff_in_role
from chatserver.web.state import DB

__all__ = ["add_audit_routes"]

MAX_LIMIT = 200
DEFAULT_LIMIT = 50
MAX_TEXT = 200
_DIGITS = re.compile(r"[0-9]{1,16}")


def _whole(request: web.Request, name: str, low: int, high: int) -> int | None:
    raw = request.query.get(name, "")
    if not raw:
        return None
    if not _DIGITS.fullmatch(raw) or not low <= int(raw) <= high:
        raise Malformed(f"{name}: a whole number from {low} to {high}")
    return int(raw)


def _text(request: web.Request, name: str) -> str:
    value = request.query.get(name, "").strip()
    if len(value) > MAX_TEXT:
        raise Malformed(f"{name}: at most {MAX_TEXT} characters")
    return value


async def _filter(request: web.Request) -> AuditFilter:
    """The query's filter, after the admin check; a username as ``actor`` becomes its id."""
    await staff_in_role(request, ("admin",), write=False)
    actor = _text(request, "actor")
    if actor and actor not in ("cli", "system"):
        async with request.app[DB].read() as conn:
            found = await id_by_username_or_id(conn, actor.lower(), actor)
        actor = found if found is not None else actor
    return AuditFilter(
        text=_text(request, "q"),
        action=_text(request, "action"),
        actor=actor,
        since=_whole(request, "since", 0, 2**53),
        until=_whole(request, "until", 0, 2**53),
    )


async def list_entries(request: web.Request) -> web.Response:
    where = await _filter(request)
    limit = _whole(request, "limit", 1, MAX_LIMIT) or DEFAULT_LIMIT
    before = _whole(request, "before", 1, 2**53)
    rows = await search(request.app[DB], where, limit + 1, before)
    entries: list[dict[str, Any]] = [
        {
            "id": r.id,
            "at": r.at,
            "actor": r.actor,
            "actor_name": r.actor_name,
            "action": r.action,
            "target": r.target,
            "detail": json.loads(r.detail or "{}"),
            "hash": r.hash,
        }
        for r in rows[:limit]
    ]
    more = len(rows) > limit
    return web.json_response(
        {"entries": entries, "next_before": entries[-1]["id"] if more else None}
    )


async def entries_csv(request: web.Request) -> web.Response:
    where = await _filter(request)
    return web.Response(
        text=await export_csv(request.app[DB], where),
        content_type="text/csv",
        charset="utf-8",
        headers={"Content-Disposition": 'attachment; filename="audit.csv"'},
    )


async def verify(request: web.Request) -> web.Response:
    await staff_in_role(request, ("admin",), write=False)
    check = await verify_chain(request.app[DB])
    return web.json_response(
        {
            "ok": check.ok,
            "entries": check.entries,
            "broken_at": check.broken_at,
            "reason": check.reason,
        }
    )


def add_audit_routes(app: web.Application) -> None:
    app.router.add_get("/api/admin/audit", list_entries)
    app.router.add_get("/api/admin/audit.csv", entries_csv)
    app.router.add_get("/api/admin/audit/verify", verify)
