"""Team keys per member: the epoch private keys, wrapped in the admin's browser to each
member's identity key as signed envelopes (docs/e2e.md, "Envelopes", purpose team_key).

The server stores them sealed under a per-epoch storage key (``epoch:<team>:<n>``) so that
destroying an epoch's storage key at the end of its retention makes every copy of its
team-key envelopes unreadable, backups included. It checks who uploads them, for whom and
for which epoch; it cannot open them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from chatserver.protocol.blobs import b64_field, whole_field
from chatserver.protocol.errors import Conflict, Malformed, NotFound
from chatserver.storage import team_keys as store
from chatserver.storage.db import Database
from chatserver.storage.keystore import Keystore, envelope_place, seal, unseal
from chatserver.storage.store import audit_tx
from chatserver.storage.team_keys import NewEnvelope

__all__ = ["TeamKey", "TeamKeys", "epoch_key_id"]

ID = re.compile(r"[A-Za-z0-9_-]{1,40}")
MAX_ENVELOPE = 4096
MAX_UPLOAD = 2000
PURPOSE = "team_key"


def epoch_key_id(team_id: int, epoch: int) -> str:
    return f"epoch:{team_id}:{epoch}"


def _envelope_id(epoch: int, recipient: str) -> str:
    return f"tk-{epoch}-{recipient}"


@dataclass(frozen=True, slots=True)
class TeamKey:
    epoch: int
    author: str | None
    body: bytes


class TeamKeys:
    def __init__(self, db: Database, keystore: Keystore) -> None:
        self.db = db
        self.keystore = keystore

    async def _epoch_key(self, team_id: int, epoch: int, now: int) -> bytes:
        key_id = epoch_key_id(team_id, epoch)
        key = await self.keystore.get(key_id)
        if key is not None:
            return key
        try:
            return await self.keystore.create(key_id, now)
        except Exception:  # another process created it first
            return await self.keystore.need(key_id)

    async def upload(self, team_id: int, team: str, envelopes: Any, admin: str, now: int) -> int:
        """Store team-key envelopes for members of the team; returns how many are new."""
        if not isinstance(envelopes, list) or not 0 < len(envelopes) <= MAX_UPLOAD:
            raise Malformed(f"send between 1 and {MAX_UPLOAD} envelopes")
        parsed: list[tuple[str, int, bytes]] = []
        for item in envelopes:
            if not isinstance(item, dict) or set(item) != {"recipient", "epoch", "body"}:
                raise Malformed("an envelope is {recipient, epoch, body}")
            recipient, epoch, body = item["recipient"], item["epoch"], item["body"]
            if not isinstance(recipient, str) or not ID.fullmatch(recipient):
                raise Malformed("recipient is a staff id")
            parsed.append(
                (
                    recipient,
                    whole_field(epoch, "epoch"),
                    b64_field(body, "body", limit=MAX_ENVELOPE),
                )
            )
        if len({(r, e) for r, e, _ in parsed}) != len(parsed):
            raise Malformed("one envelope per member and epoch")
        keys = {e: await self._epoch_key(team_id, e, now) for e in {e for _, e, _ in parsed}}
        async with self.db.write() as conn:
            if await store.known_epochs(conn, team_id, list(keys)) != set(keys):
                raise NotFound("upload the epochs' bundles before their keys")
            members = await store.members_with_identity(conn, team_id)
            strangers = {r for r, _, _ in parsed} - members
            if strangers:
                raise NotFound("team keys go to members of the team with identity keys only")
            stored = await store.stored_envelopes(conn, team_id, PURPOSE)
            new = []
            for recipient, epoch, raw in parsed:
                key_id, place = (
                    epoch_key_id(team_id, epoch),
                    envelope_place(_envelope_id(epoch, recipient)),
                )
                if (recipient, epoch) in stored:
                    if unseal(keys[epoch], key_id, place, stored[(recipient, epoch)]) != raw:
                        raise Conflict(f"epoch {epoch} is wrapped to {recipient} already")
                    continue
                new.append(
                    NewEnvelope(
                        recipient,
                        _envelope_id(epoch, recipient),
                        epoch,
                        seal(keys[epoch], key_id, place, raw),
                    )
                )
            if new:
                await store.add_envelopes(conn, team_id, PURPOSE, admin, new, now)
                await audit_tx(conn, now, admin, "team_keys.uploaded", team, count=len(new))
        return len(new)

    async def destroy_epoch(self, team_id: int, epoch: int, actor: str, now: int) -> list[str]:
        """Crypto-shred an epoch's team keys: the storage key first (every copy of the sealed
        envelopes, backups included, is unreadable from then on), then the rows. Returns the
        destroyed storage key ids for the deletion report; the audit entry lists them."""
        destroyed = await self.keystore.destroy([epoch_key_id(team_id, epoch)])
        async with self.db.write() as conn:
            envelopes = await store.delete_epoch_envelopes(conn, team_id, epoch, PURPOSE)
            await audit_tx(
                conn,
                now,
                actor,
                "epoch.keys_destroyed",
                str(team_id),
                epoch=epoch,
                key_ids=destroyed,
                envelopes=envelopes,
            )
        return destroyed

    async def for_member(self, staff_id: str, team_id: int, now: int) -> list[TeamKey]:
        """The member's team keys whose epochs' storage keys still exist: every epoch that
        has not ended, and ended ones until retention destroys them (``epoch_keys`` after the
        end), so a chat that began in the previous epoch can still be read and taken over."""
        async with self.db.read() as conn:
            rows = await store.epoch_envelopes(conn, team_id, PURPOSE, staff_id)
        out = []
        for row in rows:
            key = await self.keystore.get(epoch_key_id(team_id, row.epoch))
            if key is None:  # destroyed: the epoch's retention ended
                continue
            body = unseal(
                key,
                epoch_key_id(team_id, row.epoch),
                envelope_place(_envelope_id(row.epoch, staff_id)),
                row.body,
            )
            out.append(TeamKey(row.epoch, row.author, body))
        return out
