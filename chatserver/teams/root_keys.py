"""The team root key in the admins' keeping: the private key ``R`` that signs a team's
rosters and epoch bundles, wrapped in an admin's browser to each admin of the team as a
signed envelope (docs/e2e.md, "Keys" and "Envelopes", purpose ``root_key``). An admin who
signs in on a new device gets it back from here and opens it with their identity key; the
server cannot.

The server stores each envelope sealed under the team's root storage key
(``root:<team>``), so destroying that key (when the team is deleted) makes every copy
unreadable, backups included. It checks who uploads, for whom (admins of the team with an
identity key), and the shape; a new upload for an admin replaces the old one (a rotated
root key).
"""

from __future__ import annotations

import re
from typing import Any

from chatserver.protocol.blobs import b64_field
from chatserver.protocol.errors import Malformed, NotFound
from chatserver.storage import team_keys as store
from chatserver.storage.db import Database
from chatserver.storage.keystore import Keystore, envelope_place, seal, unseal
from chatserver.storage.store import audit_tx
from chatserver.storage.team_keys import NewEnvelope

__all__ = ["RootKeys", "root_key_id"]

ID = re.compile(r"[A-Za-z0-9_-]{1,40}")
MAX_ENVELOPE = 4096
MAX_UPLOAD = 200
PURPOSE = "root_key"


def root_key_id(team_id: int) -> str:
    return f"root:{team_id}"


def _envelope_id(recipient: str) -> str:
    return f"rk-{recipient}"


class RootKeys:
    def __init__(self, db: Database, keystore: Keystore) -> None:
        self.db = db
        self.keystore = keystore

    async def _storage_key(self, team_id: int, now: int) -> bytes:
        key = await self.keystore.get(root_key_id(team_id))
        if key is not None:
            return key
        try:
            return await self.keystore.create(root_key_id(team_id), now)
        except Exception:  # another process created it first
            return await self.keystore.need(root_key_id(team_id))

    async def upload(self, team_id: int, team: str, envelopes: Any, admin: str, now: int) -> int:
        """Store root-key envelopes, one per admin of the team; returns how many."""
        if not isinstance(envelopes, list) or not 0 < len(envelopes) <= MAX_UPLOAD:
            raise Malformed(f"send between 1 and {MAX_UPLOAD} envelopes")
        parsed: dict[str, bytes] = {}
        for item in envelopes:
            if not isinstance(item, dict) or set(item) != {"recipient", "body"}:
                raise Malformed("an envelope is {recipient, body}")
            recipient = item["recipient"]
            if not isinstance(recipient, str) or not ID.fullmatch(recipient):
                raise Malformed("recipient is a staff id")
            if recipient in parsed:
                raise Malformed("one envelope per admin")
            parsed[recipient] = b64_field(item["body"], "body", limit=MAX_ENVELOPE)
        key = await self._storage_key(team_id, now)
        async with self.db.write() as conn:
            admins = await store.admins_with_identity(conn, team_id)
            if set(parsed) - admins:
                raise NotFound("the root key goes to admins of the team with identity keys only")
            await store.delete_envelopes(conn, team_id, PURPOSE, list(parsed))
            await store.add_envelopes(
                conn,
                team_id,
                PURPOSE,
                admin,
                [
                    NewEnvelope(
                        recipient,
                        _envelope_id(recipient),
                        0,
                        seal(
                            key, root_key_id(team_id), envelope_place(_envelope_id(recipient)), raw
                        ),
                    )
                    for recipient, raw in parsed.items()
                ],
                now,
            )
            await audit_tx(conn, now, admin, "root_key.wrapped", team, recipients=sorted(parsed))
        return len(parsed)

    async def for_admin(self, staff_id: str, team_id: int) -> tuple[str | None, bytes]:
        """This admin's envelope of the team's root key: (its author, the envelope)."""
        async with self.db.read() as conn:
            row = await store.envelope_to(conn, team_id, PURPOSE, staff_id)
        key = await self.keystore.get(root_key_id(team_id))
        if row is None or key is None:
            raise NotFound("the team's root key is not wrapped to you")
        author, sealed = row
        body = unseal(key, root_key_id(team_id), envelope_place(_envelope_id(staff_id)), sealed)
        return author, body
