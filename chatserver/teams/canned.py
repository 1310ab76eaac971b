"""Canned replies: a team's ready-made answers (a title and a text, German or English)
that counsellors insert in the console and then send like anything they type.

They are the team's own wording, not what a client wrote, so the server keeps them as
plaintext (docs/protocol.md says so); the end-to-end encryption starts when a counsellor
sends one. Every change is audited with who, what and when: the reply's id, team and
language, never its title or text.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncConnection

from chatserver.protocol import bodies
from chatserver.protocol.errors import Malformed, NotFound
from chatserver.storage import canned as stored
from chatserver.storage.canned import CannedReply
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


def _printable(text: str, *, newlines: bool) -> bool:
    allowed = "\n\t" if newlines else ""
    return all(c.isprintable() or c in allowed for c in text)


def parse(data: bodies.CannedDraft) -> Draft:
    """The body ``{"title", "body", "lang"}`` (its shape checked by the codec) with its
    values checked, or ``malformed`` saying what is wrong."""
    title, body, lang = data.title, data.body, data.lang
    if not title.strip() or len(title) > MAX_TITLE:
        raise Malformed(f"title: some text, at most {MAX_TITLE} characters")
    if not _printable(title, newlines=False):
        raise Malformed("title: one line, without control characters")
    if not body.strip() or len(body) > MAX_BODY:
        raise Malformed(f"body: some text, at most {MAX_BODY} characters")
    if not _printable(body, newlines=True):
        raise Malformed("body: no control characters other than line breaks and tabs")
    if lang not in LANGS:
        raise Malformed(f"lang: one of {', '.join(LANGS)}")
    return Draft(title.strip(), body.strip(), lang)


class CannedReplies:
    """Reads and audited writes of canned replies; rights are checked by the caller."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def list(self, team_id: int) -> list[CannedReply]:
        async with self.db.read() as conn:
            return await stored.of_team(conn, team_id)

    async def get(self, reply_id: int) -> CannedReply:
        """The reply, if its team is not archived; else ``not_found``."""
        async with self.db.read() as conn:
            return await self._get(conn, reply_id)

    async def _get(self, conn: AsyncConnection, reply_id: int) -> CannedReply:
        found = await stored.get(conn, reply_id)
        if found is None:
            raise NotFound("there is no such canned reply")
        return found

    async def create(self, team_id: int, draft: Draft, actor: str, now: int) -> CannedReply:
        async with self.db.write() as conn:
            reply_id = await stored.add(
                conn, team_id, draft.title, draft.body, draft.lang, actor, now
            )
            await _audit(conn, now, actor, "canned.created", team_id, reply_id, draft.lang)
            return await self._get(conn, reply_id)

    async def update(self, reply_id: int, draft: Draft, actor: str, now: int) -> CannedReply:
        async with self.db.write() as conn:
            old = await self._get(conn, reply_id)
            await stored.change(conn, reply_id, draft.title, draft.body, draft.lang, actor, now)
            await _audit(conn, now, actor, "canned.changed", old.team_id, reply_id, draft.lang)
            return await self._get(conn, reply_id)

    async def delete(self, reply_id: int, actor: str, now: int) -> None:
        async with self.db.write() as conn:
            old = await self._get(conn, reply_id)
            await stored.remove(conn, reply_id)
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
