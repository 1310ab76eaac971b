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

from sqlalchemy.ext.asyncio import AsyncConnection

from chatserver.protocol import bodies
from chatserver.protocol.errors import Malformed
from chatserver.storage import consent as stored
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
            raise Malformed(f"{lang}: the text in this language is missing")
        if len(value) > MAX_TEXT:
            raise Malformed(f"{lang}: at most {MAX_TEXT} characters")
        texts[lang] = value.strip().replace("\r\n", "\n")
    return texts


def _text(v: stored.ConsentVersion) -> ConsentText:
    return ConsentText(v.version, {"de": v.de, "en": v.en}, v.created_at, v.created_by)


async def current_consent(conn: AsyncConnection, team_id: int) -> ConsentText | None:
    found = await stored.latest(conn, team_id)
    return None if found is None else _text(found)


async def consent_history(conn: AsyncConnection, team_id: int) -> list[ConsentText]:
    return [_text(v) for v in await stored.history(conn, team_id)]


async def save_consent(
    conn: AsyncConnection, team_id: int, texts: dict[str, str], actor: str, now: int
) -> ConsentText:
    """A new version unless the texts are the current ones; audited."""
    current = await current_consent(conn, team_id)
    if current is not None and current.texts == texts:
        return current
    created_by = actor if actor not in ("cli", "system") else None
    version = await stored.add(conn, team_id, texts["de"], texts["en"], created_by, now)
    await audit_tx(conn, now, actor, "consent.changed", str(team_id), version=version)
    return ConsentText(version, texts, now, actor)
