"""The consent text of a team: what a young person reads and agrees to before the first
message (what is stored, for how long, who reads it). The widget always shows its own
short statement about encryption and the quick exit; an agency adds its own paragraph in
German and English here, for example what its data-protection notice says. Every change
is a new version, kept with the others: a conversation records the version its client
agreed to (``conversations.consent_version``), so what somebody agreed to can always be
read again. Nothing in it is personal data.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from chatserver.protocol import bodies
from chatserver.protocol.errors import MalformedFrame
from chatserver.storage import models as m
from chatserver.storage.store import audit_tx

__all__ = [
    "MAX_TEXT",
    "WIDGET_VERSION",
    "ConsentText",
    "consent_history",
    "current_consent",
    "save_consent",
]

#: The version of the widget's own statement (widget/i18n.js ``CONSENT_VERSION``); a
#: conversation records ``w1`` alone, or ``w1.t3`` with the team's version 3.
WIDGET_VERSION = "w1"
MAX_TEXT = 4000
LANGUAGES = ("de", "en")


@dataclass(frozen=True, slots=True)
class ConsentText:
    version: int
    texts: dict[str, str]
    created_at: int
    created_by: str | None

    @property
    def label(self) -> str:
        """What a conversation records: the widget's statement and this text's version."""
        return f"{WIDGET_VERSION}.t{self.version}"

    def to_json(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "label": self.label,
            "texts": self.texts,
            "created_at": self.created_at,
            "created_by": self.created_by,
        }


def parse_texts(body: bodies.ConsentTexts) -> dict[str, str]:
    """``{"de": ..., "en": ...}`` (its shape checked by the codec): both languages, each
    1 to MAX_TEXT characters."""
    texts = {}
    for lang in LANGUAGES:
        value = getattr(body, lang)
        if not value.strip():
            raise MalformedFrame(f"{lang}: the text in this language is missing")
        if len(value) > MAX_TEXT:
            raise MalformedFrame(f"{lang}: at most {MAX_TEXT} characters")
        texts[lang] = value.strip().replace("\r\n", "\n")
    return texts


def _row(r: Any) -> ConsentText:
    return ConsentText(
        int(r.version), {"de": r.notice_de, "en": r.notice_en}, r.created_at, r.created_by
    )


async def current_consent(conn: AsyncConnection, team_id: int) -> ConsentText | None:
    c = m.consent_texts.c
    row = (
        await conn.execute(
            select(m.consent_texts).where(c.team_id == team_id).order_by(c.version.desc()).limit(1)
        )
    ).first()
    return None if row is None else _row(row)


async def consent_history(conn: AsyncConnection, team_id: int) -> list[ConsentText]:
    c = m.consent_texts.c
    rows = await conn.execute(
        select(m.consent_texts).where(c.team_id == team_id).order_by(c.version.desc())
    )
    return [_row(r) for r in rows]


async def save_consent(
    conn: AsyncConnection, team_id: int, texts: dict[str, str], actor: str, now: int
) -> ConsentText:
    """A new version unless the texts are the current ones; audited."""
    current = await current_consent(conn, team_id)
    if current is not None and current.texts == texts:
        return current
    c = m.consent_texts.c
    top = (await conn.execute(select(func.max(c.version)).where(c.team_id == team_id))).scalar()
    version = int(top or 0) + 1
    await conn.execute(
        insert(m.consent_texts).values(
            team_id=team_id,
            version=version,
            notice_de=texts["de"],
            notice_en=texts["en"],
            created_by=actor if actor not in ("cli", "system") else None,
            created_at=now,
        )
    )
    await audit_tx(conn, now, actor, "consent.changed", str(team_id), version=version)
    return ConsentText(version, texts, now, actor)
