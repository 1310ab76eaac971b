"""Team keys in storage: the signed epoch bundles, and the envelopes of a team that no
conversation holds (the root key wrapped to each admin, the epoch keys wrapped to each
member), stored already sealed under their storage keys. Which members may hold them is
read here too: enabled admins with identity keys, members with identity keys.

An epoch's window is not an expiry: an ended epoch's bundle and envelopes stay readable
until retention destroys its storage key, and the bundle valid at a time is chosen by
that window (:func:`current_bundle`)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import and_, delete, func, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from chatserver.storage import models as m

__all__ = [
    "EpochInfo",
    "NewEnvelope",
    "SealedEnvelope",
    "add_bundles",
    "add_envelopes",
    "admins_with_identity",
    "bundle",
    "covered_until",
    "current_bundle",
    "delete_envelopes",
    "delete_epoch_envelopes",
    "envelope_to",
    "epoch_envelopes",
    "known_epochs",
    "members_with_identity",
    "stored_bundles",
    "stored_envelopes",
    "top_epoch",
]

e, k, ms = m.team_epochs.c, m.key_envelopes.c, m.memberships.c


@dataclass(frozen=True, slots=True)
class EpochInfo:
    epoch: int
    not_before: int
    not_after: int
    canonical: str  # the bundle as stored and served


@dataclass(frozen=True, slots=True)
class NewEnvelope:
    """A team envelope to store: its recipient, id and epoch (0 for the root key) and its
    body, sealed already."""

    recipient: str
    envelope_id: str
    epoch: int
    body: bytes


@dataclass(frozen=True, slots=True)
class SealedEnvelope:
    epoch: int
    author: str | None  # None once the account is gone
    body: bytes  # sealed


# ---------------------------------------------------------------------- bundles
async def stored_bundles(conn: AsyncConnection, team_id: int, epochs: list[int]) -> dict[int, str]:
    """The bundles stored for those of ``epochs`` the team has, by epoch."""
    rows = await conn.execute(
        select(e.epoch, e.bundle).where(e.team_id == team_id, e.epoch.in_(epochs))
    )
    return {row.epoch: row.bundle for row in rows}


async def add_bundles(
    conn: AsyncConnection, team_id: int, infos: list[EpochInfo], created_by: str | None, now: int
) -> None:
    await conn.execute(
        insert(m.team_epochs),
        [
            {
                "team_id": team_id,
                "epoch": i.epoch,
                "not_before": i.not_before,
                "not_after": i.not_after,
                "bundle": i.canonical,
                "created_by": created_by,
                "created_at": now,
            }
            for i in infos
        ],
    )


async def current_bundle(conn: AsyncConnection, team_id: int, now: int) -> EpochInfo | None:
    """The bundle valid at ``now`` with the highest epoch; None when none is."""
    row = (
        await conn.execute(
            select(e.epoch, e.not_before, e.not_after, e.bundle)
            .where(e.team_id == team_id, e.not_before <= now, e.not_after > now)
            .order_by(e.epoch.desc())
            .limit(1)
        )
    ).first()
    return None if row is None else EpochInfo(row.epoch, row.not_before, row.not_after, row.bundle)


async def bundle(conn: AsyncConnection, team_id: int, epoch: int) -> EpochInfo | None:
    """One epoch's bundle, whatever its window; None when the team has none."""
    row = (
        await conn.execute(
            select(e.epoch, e.not_before, e.not_after, e.bundle).where(
                e.team_id == team_id, e.epoch == epoch
            )
        )
    ).first()
    return None if row is None else EpochInfo(row.epoch, row.not_before, row.not_after, row.bundle)


async def top_epoch(conn: AsyncConnection, team_id: int) -> int:
    """The team's highest epoch number, 0 without any."""
    value = (await conn.execute(select(func.max(e.epoch)).where(e.team_id == team_id))).scalar()
    return int(value or 0)


async def covered_until(conn: AsyncConnection, team_id: int, now: int) -> int | None:
    """The end of the team's last epoch still in the future, or None."""
    value = (
        await conn.execute(
            select(func.max(e.not_after)).where(e.team_id == team_id, e.not_after > now)
        )
    ).scalar()
    return int(value) if value is not None else None


async def horizons(conn: AsyncConnection, now: int) -> list[tuple[str, int | None]]:
    """(slug, the end of its last epoch still in the future, or None) of every team that is
    not archived, by slug."""
    t = m.teams.c
    until = (
        select(func.max(e.not_after)).where(e.team_id == t.id, e.not_after > now).scalar_subquery()
    )
    rows = await conn.execute(select(t.slug, until).where(t.archived_at.is_(None)).order_by(t.slug))
    return [(str(slug), None if end is None else int(end)) for slug, end in rows]


async def known_epochs(conn: AsyncConnection, team_id: int, epochs: list[int]) -> set[int]:
    """Those of ``epochs`` the team has a bundle for."""
    found = await conn.execute(select(e.epoch).where(e.team_id == team_id, e.epoch.in_(epochs)))
    return set(found.scalars())


# ---------------------------------------------------------------------- recipients
async def admins_with_identity(conn: AsyncConnection, team_id: int) -> set[str]:
    """The team's enabled admins who have identity keys."""
    found = await conn.execute(
        select(ms.staff_id)
        .join(m.staff, m.staff.c.id == ms.staff_id)
        .join(m.identities, m.identities.c.staff_id == ms.staff_id)
        .where(
            ms.team_id == team_id,
            m.staff.c.role == "admin",
            m.staff.c.disabled_at.is_(None),
        )
    )
    return set(found.scalars())


async def members_with_identity(conn: AsyncConnection, team_id: int) -> set[str]:
    """The team's members who have identity keys (disabled ones too)."""
    found = await conn.execute(
        select(ms.staff_id)
        .join(m.identities, m.identities.c.staff_id == ms.staff_id)
        .where(ms.team_id == team_id)
    )
    return set(found.scalars())


# ---------------------------------------------------------------------- envelopes
async def add_envelopes(
    conn: AsyncConnection,
    team_id: int,
    purpose: str,
    author: str,
    envelopes: list[NewEnvelope],
    now: int,
) -> None:
    """Team envelopes of ``purpose`` (no conversation holds them), in one statement."""
    await conn.execute(
        insert(m.key_envelopes),
        [
            {
                "team_id": team_id,
                "conversation_id": None,
                "recipient_id": x.recipient,
                "envelope_id": x.envelope_id,
                "purpose": purpose,
                "epoch": x.epoch,
                "author_id": author,
                "body": x.body,
                "created_at": now,
            }
            for x in envelopes
        ],
    )


async def delete_envelopes(
    conn: AsyncConnection, team_id: int, purpose: str, recipients: list[str]
) -> None:
    """The team's envelopes of ``purpose`` to ``recipients``."""
    await conn.execute(
        delete(m.key_envelopes).where(
            k.team_id == team_id,
            k.purpose == purpose,
            k.recipient_id.in_(recipients),
        )
    )


async def envelope_to(
    conn: AsyncConnection, team_id: int, purpose: str, recipient: str
) -> tuple[str | None, bytes] | None:
    """The author and the sealed body of the team's envelope of ``purpose`` to
    ``recipient``; None when there is none."""
    row = (
        await conn.execute(
            select(k.author_id, k.body).where(
                and_(
                    k.team_id == team_id,
                    k.purpose == purpose,
                    k.recipient_id == recipient,
                )
            )
        )
    ).first()
    return None if row is None else (row.author_id, bytes(row.body))


async def stored_envelopes(
    conn: AsyncConnection, team_id: int, purpose: str
) -> dict[tuple[str, int], bytes]:
    """The team's envelopes of ``purpose`` outside conversations, by recipient and epoch."""
    rows = await conn.execute(
        select(k.recipient_id, k.epoch, k.body).where(
            k.team_id == team_id,
            k.purpose == purpose,
            k.conversation_id.is_(None),
        )
    )
    return {(row.recipient_id, row.epoch): bytes(row.body) for row in rows}


async def delete_epoch_envelopes(
    conn: AsyncConnection, team_id: int, epoch: int, purpose: str
) -> int:
    """The team's envelopes of ``purpose`` and ``epoch`` outside conversations; returns
    how many went."""
    result = await conn.execute(
        delete(m.key_envelopes).where(
            k.team_id == team_id,
            k.epoch == epoch,
            k.purpose == purpose,
            k.conversation_id.is_(None),
        )
    )
    return int(result.rowcount)


async def epoch_envelopes(
    conn: AsyncConnection, team_id: int, purpose: str, recipient: str
) -> list[SealedEnvelope]:
    """The team's envelopes of ``purpose`` to ``recipient`` whose epoch has a bundle,
    by epoch."""
    rows = await conn.execute(
        select(k.epoch, k.author_id, k.body)
        .join(m.team_epochs, and_(e.team_id == k.team_id, e.epoch == k.epoch))
        .where(
            k.team_id == team_id,
            k.recipient_id == recipient,
            k.purpose == purpose,
        )
        .order_by(k.epoch)
    )
    return [SealedEnvelope(row.epoch, row.author_id, bytes(row.body)) for row in rows.all()]
