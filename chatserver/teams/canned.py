"""Canned replies: a team's ready-made answers (a title and a text, German or English)
that counsellors insert in the console and then send like anything they type.

They are the team's own wording, not what a client wrote, so the server keeps them as
plaintext (docs/protocol.md says so); the end-to-end encryption starts when a counsellor
sends one. Every change is audited with who, what and when: the reply's id, team and
language, never its title or text.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from chatserver.protocol import bodies
from chatserver.protocol.errors import MalformedFrame, NotFound
from chatserver.storage import models as m
from chatserver.storage.db import Database
from chatserver.storage.store import audit_tx

__all__ = ["LANGS", "MAX_BODY", "MAX_TITLE", "CannedReplies", "CannedReply", "Draft", "parse"]

MAX_TITLE = 80
MAX_BODY = 2000
LANGS = ("de", "en")


@dataclass(frozen=True, slots=True)
class Draft:
    """A checked title, text and language, as sent by a supervisor or admin."""

    title: str
    body: str
    lang: str


@dataclass(frozen=True, slots=True)
class CannedReply:
    id: int
    team_id: int
    title: str
    body: str
    lang: str
    created_at: int
    updated_at: int
    updated_by: str | None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "body": self.body,
            "lang": self.lang,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "updated_by": self.updated_by,
        }


def _printable(text: str, *, newlines: bool) -> bool:
    allowed = "\n\t" if newlines else ""
    return all(c.isprintable() or c in allowed for c in text)


def parse(data: bodies.CannedDraft) -> Draft:
    """The body ``{"title", "body", "lang"}`` (its shape checked by the codec) with its
    values checked, or ``malformed`` saying what is wrong."""
    title, body, lang = data.title, data.body, data.lang
    if not title.strip() or len(title) > MAX_TITLE:
        raise MalformedFrame(f"title: some text, at most {MAX_TITLE} characters")
    if not _printable(title, newlines=False):
        raise MalformedFrame("title: one line, without control characters")
    if not body.strip() or len(body) > MAX_BODY:
        raise MalformedFrame(f"body: some text, at most {MAX_BODY} characters")
    if not _printable(body, newlines=True):
        raise MalformedFrame("body: no control characters other than line breaks and tabs")
    if lang not in LANGS:
        raise MalformedFrame(f"lang: one of {', '.join(LANGS)}")
    return Draft(title.strip(), body.strip(), lang)


def _reply(row: Any) -> CannedReply:
    return CannedReply(
        row.id,
        row.team_id,
        row.title,
        row.body,
        row.lang,
        row.created_at,
        row.updated_at,
        row.updated_by,
    )


class CannedReplies:
    """Reads and audited writes of canned replies; rights are checked by the caller."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def list(self, team_id: int) -> list[CannedReply]:
        c = m.canned_replies.c
        async with self.db.read() as conn:
            rows = await conn.execute(
                select(m.canned_replies).where(c.team_id == team_id).order_by(c.lang, c.title, c.id)
            )
            return [_reply(r) for r in rows]

    async def get(self, reply_id: int) -> CannedReply:
        """The reply, if its team is not archived; else ``not_found``."""
        async with self.db.read() as conn:
            return await self._get(conn, reply_id)

    async def _get(self, conn: AsyncConnection, reply_id: int) -> CannedReply:
        c, t = m.canned_replies.c, m.teams.c
        row = (
            await conn.execute(
                select(m.canned_replies)
                .join(m.teams, t.id == c.team_id)
                .where(c.id == reply_id, t.archived_at.is_(None))
            )
        ).first()
        if row is None:
            raise NotFound("there is no such canned reply")
        return _reply(row)

    async def create(self, team_id: int, draft: Draft, actor: str, now: int) -> CannedReply:
        async with self.db.write() as conn:
            reply_id = (
                await conn.execute(
                    insert(m.canned_replies)
                    .values(
                        team_id=team_id,
                        title=draft.title,
                        body=draft.body,
                        lang=draft.lang,
                        created_at=now,
                        updated_at=now,
                        updated_by=actor,
                    )
                    .returning(m.canned_replies.c.id)
                )
            ).scalar_one()
            await _audit(conn, now, actor, "canned.created", team_id, reply_id, draft.lang)
            return await self._get(conn, reply_id)

    async def update(self, reply_id: int, draft: Draft, actor: str, now: int) -> CannedReply:
        async with self.db.write() as conn:
            old = await self._get(conn, reply_id)
            await conn.execute(
                update(m.canned_replies)
                .where(m.canned_replies.c.id == reply_id)
                .values(
                    title=draft.title,
                    body=draft.body,
                    lang=draft.lang,
                    updated_at=now,
                    updated_by=actor,
                )
            )
            await _audit(conn, now, actor, "canned.changed", old.team_id, reply_id, draft.lang)
            return await self._get(conn, reply_id)

    async def delete(self, reply_id: int, actor: str, now: int) -> None:
        async with self.db.write() as conn:
            old = await self._get(conn, reply_id)
            await conn.execute(delete(m.canned_replies).where(m.canned_replies.c.id == reply_id))
            await _audit(conn, now, actor, "canned.deleted", old.team_id, reply_id, old.lang)


async def _audit(
    conn: AsyncConnection,
    now: int,
    actor: str,
    action: str,
    team_id: int,
    reply_id: int,
    lang: str,
) -> None:
    # Who, what, when: never the title or the text.
    await audit_tx(conn, now, actor, action, str(reply_id), team=team_id, lang=lang)
