"""Membership as the server knows it: invites, enrolment, identities and signed rosters.

The server cannot add anyone to a team in the cryptographic sense: consoles trust only
the roster the team root key signed (docs/e2e.md, "The roster"). What the server does
here is bookkeeping and authorisation: it hands out invites to admins, takes a new
member's public keys, wrapped private keys and login credential hash, keeps the account
pending until an admin's browser has checked the enrolment MAC and uploaded a roster that
names the new keys, and then enables the account. Every blob is stored as given and
checked for shape only.
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
import secrets
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from chatserver.protocol.blobs import b64_field, whole_field
from chatserver.protocol.errors import Conflict, Forbidden, Malformed, NotFound
from chatserver.staff.accounts import ROLES
from chatserver.staff.auth import hash_credential, normalise_username
from chatserver.storage import members as store
from chatserver.storage.db import Database
from chatserver.storage.members import Enrolment
from chatserver.storage.staff import create_account, installation_id
from chatserver.storage.store import audit_tx

__all__ = ["Enrolment", "Members", "RosterInfo", "roster_shape"]

USERNAME = re.compile(r"[a-z0-9._-]{1,80}")
MAX_WRAPPED = 4096
MAX_MEMBERS = 2000


@dataclass(frozen=True, slots=True)
class RosterInfo:
    version: int
    members: dict[str, tuple[str, bytes, bytes]]  # id -> (role, dh_pub, sig_pub)
    canonical: str


def roster_shape(wire: Any, team: str) -> RosterInfo:
    """What the server can check of a signed roster (never its signature)."""
    if not isinstance(wire, dict) or set(wire) != {
        "suite",
        "team",
        "version",
        "issued_at",
        "members",
        "sig",
        "r_pub",
    }:
        raise Malformed(
            "a roster has the fields suite, team, version, issued_at, members, sig, r_pub"
        )
    if wire["suite"] != "cc1" or wire["team"] != team:
        raise Malformed("the roster is not a cc1 roster of this team")
    version = whole_field(wire["version"], "version")
    whole_field(wire["issued_at"], "issued_at")
    b64_field(wire["sig"], "sig", 64)
    b64_field(wire["r_pub"], "r_pub", 65)
    members = wire["members"]
    if not isinstance(members, list) or len(members) > MAX_MEMBERS:
        raise Malformed(f"members is a list of at most {MAX_MEMBERS}")
    found: dict[str, tuple[str, bytes, bytes]] = {}
    for member in members:
        if not isinstance(member, dict) or set(member) != {
            "id",
            "role",
            "dh_pub",
            "sig_pub",
            "since",
        }:
            raise Malformed("a member has the fields id, role, dh_pub, sig_pub, since")
        if not isinstance(member["id"], str) or member["role"] not in ROLES:
            raise Malformed("a member needs a staff id and a known role")
        whole_field(member["since"], "since")
        if member["id"] in found:
            raise Malformed("a member appears twice")
        found[member["id"]] = (
            member["role"],
            b64_field(member["dh_pub"], "dh_pub", 65),
            b64_field(member["sig_pub"], "sig_pub", 65),
        )
    return RosterInfo(version, found, json.dumps(wire, sort_keys=True, separators=(",", ":")))


class Members:
    def __init__(self, db: Database) -> None:
        self.db = db

    # ------------------------------------------------------------------ invites
    async def invite(self, team_id: int, role: str, admin: str, now: int, hours: int) -> str:
        if role not in ROLES:
            raise Malformed(f"role is one of {', '.join(ROLES)}")
        if not 1 <= hours <= 24 * 14:
            raise Malformed("an invite lasts between 1 hour and 14 days")
        invite_id = "i" + secrets.token_urlsafe(18)
        async with self.db.write() as conn:
            await store.create_invite(
                conn, invite_id, team_id, role, admin, now, now + hours * 3_600_000
            )
            await audit_tx(conn, now, admin, "invite.created", invite_id, role=role)
        return invite_id

    async def invite_state(self, invite_id: str, now: int) -> dict[str, Any]:
        async with self.db.read() as conn:
            view = await store.invite_view(conn, invite_id)
            salt = await installation_id(conn)
        if view is None:
            raise NotFound("this invitation does not exist")
        row = view.invite
        state = (
            "approved"
            if row.approved_at
            else "enrolled"
            if row.enrolled_at
            else "expired"
            if row.expires_at <= now
            else "open"
        )
        answer = {
            "invite": invite_id,
            "team": view.team,
            "role": row.role,
            "expires_at": row.expires_at,
            "state": state,
            "salt": salt,  # what the new password's derivation is salted with
        }
        if row.staff_id is not None and row.enrolled_at is None:  # a password reset
            async with self.db.read() as conn:
                answer["username"] = await store.username_of(conn, row.staff_id)
        return answer

    async def enrol(self, invite_id: str, body: Any, now: int) -> str:
        """The new member's account (pending approval), identity and MAC; returns staff id."""
        if not isinstance(body, dict) or set(body) != {
            "username",
            "name",
            "credential",
            "dh_pub",
            "sig_pub",
            "wrapped",
            "mac",
        }:
            raise Malformed(
                "enrolment needs username, name, credential, dh_pub, sig_pub, wrapped, mac"
            )
        username = normalise_username(str(body["username"]))
        if not USERNAME.fullmatch(username):
            raise Malformed("a username is a-z, 0-9, '.', '_' and '-', at most 80")
        name = body["name"]
        if not isinstance(name, str) or not 0 < len(name.strip()) <= 200:
            raise Malformed("a display name has 1 to 200 characters")
        credential = body["credential"]
        if not isinstance(credential, str) or not 20 <= len(credential) <= 100:
            raise Malformed("credential is the derived login credential")
        dh_pub = b64_field(body["dh_pub"], "dh_pub", 65)
        sig_pub = b64_field(body["sig_pub"], "sig_pub", 65)
        wrapped = b64_field(body["wrapped"], "wrapped", limit=MAX_WRAPPED)
        mac = b64_field(body["mac"], "mac", 32)
        # Cheap refusals first: Argon2id costs CPU, and the invite id is the only capability.
        state = (await self.invite_state(invite_id, now))["state"]
        if state == "expired":
            raise Forbidden("this invitation has expired; ask for a new one")
        if state != "open":
            raise Conflict("this invitation was used already")
        credential_hash = await asyncio.to_thread(hash_credential, credential)
        async with self.db.write() as conn:
            invite = await store.lock_invite(conn, invite_id)
            if invite is None:
                raise NotFound("this invitation does not exist")
            if invite.enrolled_at is not None:
                raise Conflict("this invitation was used already")
            if invite.expires_at <= now:
                raise Forbidden("this invitation has expired; ask for a new one")
            if invite.staff_id is not None:  # a password reset: the same account, new keys
                staff_id = str(invite.staff_id)
                if await store.username_of(conn, staff_id) != username:
                    raise Malformed("this invitation renews the account of another username")
                await store.renew_account(conn, staff_id, name.strip(), credential_hash)
            else:
                if await store.username_taken(conn, username):
                    raise Conflict("this username is taken; choose another")
                staff_id = await create_account(
                    conn,
                    username=username,
                    display_name=name.strip(),
                    role=invite.role,
                    credential_hash=credential_hash,
                    now=now,
                    disabled_at=now,
                )
            await store.add_identity(conn, staff_id, dh_pub, sig_pub, wrapped, now)
            await store.mark_enrolled(conn, invite_id, staff_id, mac, now)
            await audit_tx(conn, now, staff_id, "invite.enrolled", invite_id)
        return staff_id

    async def reset_password(
        self, staff_id: str, team_id: int, admin: str, now: int, hours: int
    ) -> str:
        """A forgotten password: the account's identity keys were wrapped under it and are
        lost with it (docs/admin.md, "Reset a password"). The old credential, identity,
        sessions and the key envelopes sealed to the old keys go; the account waits, like
        a new one, for an enrolment through the returned invitation (same username, new
        password and keys) and an admin's approval in ``team``."""
        if staff_id == admin:
            raise Forbidden("another admin resets your password")
        if not 1 <= hours <= 24 * 14:
            raise Malformed("an invite lasts between 1 hour and 14 days")
        invite_id = "i" + secrets.token_urlsafe(18)
        unusable = await asyncio.to_thread(hash_credential, secrets.token_urlsafe(32))
        async with self.db.write() as conn:
            role = await store.role_of(conn, staff_id)
            if role is None:
                raise NotFound("there is no such account")
            gone = await store.revoke_account(conn, staff_id, unusable, now)
            await store.create_invite(
                conn,
                invite_id,
                team_id,
                role,
                None if admin == "cli" else admin,
                now,
                now + hours * 3_600_000,
                staff_id=staff_id,
            )
            await audit_tx(
                conn,
                now,
                admin,
                "staff.password_reset",
                staff_id,
                invite=invite_id,
                team_keys_deleted=gone,
            )
        return invite_id

    async def pending(self, team_id: int) -> list[Enrolment]:
        async with self.db.read() as conn:
            return await store.pending(conn, team_id)

    # ------------------------------------------------------------------ rosters
    async def _next_roster(
        self, conn: AsyncConnection, team_id: int, info: RosterInfo, admin: str, now: int
    ) -> list[str]:
        """Store the next roster. A member the previous roster named and this one does not
        is removed from the team: membership and team-key envelopes go (the keys they held
        stay with them: the admin re-issues the epochs, docs/e2e.md "Removing a member").
        Returns the removed staff ids."""
        latest = await store.latest_roster(conn, team_id)
        expected = 1 if latest is None else latest.version + 1
        if info.version != expected:
            raise Conflict(f"the next roster of this team has version {expected}")
        before = (
            set() if latest is None else {x["id"] for x in json.loads(latest.roster)["members"]}
        )
        removed = sorted(before - set(info.members))
        await self._add_named(conn, team_id, info, admin, now)
        await store.add_roster(conn, team_id, info.version, info.canonical, admin, now)
        await audit_tx(
            conn,
            now,
            admin,
            "roster.signed",
            str(team_id),
            version=info.version,
            members=len(info.members),
        )
        for staff_id in removed:
            gone = await store.remove_member(conn, staff_id, team_id)
            await audit_tx(
                conn,
                now,
                admin,
                "member.removed",
                staff_id,
                team=team_id,
                roster_version=info.version,
                team_keys_deleted=gone,
            )
        return removed

    async def _add_named(
        self, conn: AsyncConnection, team_id: int, info: RosterInfo, admin: str, now: int
    ) -> None:
        """Staff the roster names who are not members yet become members (an admin added
        an existing colleague to this team in the browser, which signed this roster) when
        the server knows them with exactly these keys. An id the server does not know, or
        knows with other keys, is refused; an account without identity keys yet, a
        disabled one and a pending enrolment (left to :meth:`approve`) are not added."""
        members = await store.member_ids(conn, team_id)
        newcomers = [staff_id for staff_id in info.members if staff_id not in members]
        if not newcomers:
            return
        rows = await store.candidates(conn, newcomers)
        for staff_id in newcomers:
            row = rows.get(staff_id)
            if row is None:
                raise Malformed(f"the roster names {staff_id}, whom this server does not know")
            if row.dh_pub is None:
                continue
            if info.members[staff_id][1:] != (row.dh_pub, row.sig_pub):
                raise Malformed(f"the roster names {staff_id} with keys that are not theirs")
            if row.disabled_at is not None:
                continue
            await store.add_member(conn, staff_id, team_id, now)
            await audit_tx(
                conn,
                now,
                admin,
                "member.added",
                staff_id,
                team=team_id,
                roster_version=info.version,
            )

    async def upload_roster(
        self, team_id: int, team: str, wire: Any, admin: str, now: int
    ) -> tuple[int, list[str]]:
        """Store the next roster; returns its version and the staff ids it removed."""
        info = roster_shape(wire, team)
        async with self.db.write() as conn:
            removed = await self._next_roster(conn, team_id, info, admin, now)
        return info.version, removed

    async def approve(
        self, invite_id: str, team_id: int, team: str, wire: Any, admin: str, now: int
    ) -> int:
        """Enable the enrolled account once the new roster names its keys."""
        info = roster_shape(wire, team)
        async with self.db.write() as conn:
            row = await store.lock_enrolment(conn, invite_id, team_id)
            if row is None or row.invite.enrolled_at is None:
                raise NotFound("there is no enrolment under this invitation")
            if row.invite.approved_at is not None:
                raise Conflict("this enrolment is approved already")
            named = info.members.get(row.staff_id)
            if named != (row.invite.role, row.dh_pub, row.sig_pub):
                raise Malformed("the roster must name the new member with its keys and role")
            if await self._next_roster(conn, team_id, info, admin, now):
                raise Malformed("approve one member at a time; remove members separately")
            await store.enable_account(conn, row.staff_id)
            if not await store.is_member(conn, row.staff_id, team_id):
                await store.add_member(conn, row.staff_id, team_id, now)
            await store.mark_approved(conn, invite_id, now)
            await audit_tx(conn, now, admin, "invite.approved", invite_id, staff=row.staff_id)
        return info.version

    async def latest_roster(self, team_id: int) -> str:
        async with self.db.read() as conn:
            roster = await store.latest_roster(conn, team_id)
        if roster is None:
            raise NotFound("this team has no signed roster yet")
        return roster.roster

    async def set_identity(self, staff_id: str, body: Any, now: int) -> None:
        """First keys of an account made without them (``chatserver user add``: the first
        admin): public keys and the identity wrapped under the password in the browser.
        Never replaces keys: a colleague's console trusts them through the signed roster."""
        if not isinstance(body, dict) or set(body) != {"dh_pub", "sig_pub", "wrapped"}:
            raise Malformed('the body is {"dh_pub", "sig_pub", "wrapped"}')
        dh_pub = b64_field(body["dh_pub"], "dh_pub", 65)
        sig_pub = b64_field(body["sig_pub"], "sig_pub", 65)
        wrapped = b64_field(body["wrapped"], "wrapped", limit=MAX_WRAPPED)
        async with self.db.write() as conn:
            if await store.has_identity(conn, staff_id):
                raise Conflict("this account has identity keys already")
            await store.add_identity(conn, staff_id, dh_pub, sig_pub, wrapped, now)
            await audit_tx(conn, now, staff_id, "identity.created", staff_id)

    async def identity(self, staff_id: str) -> dict[str, str]:
        async with self.db.read() as conn:
            keys = await store.identity(conn, staff_id)
        if keys is None:
            raise NotFound("this account has no identity keys yet")
        return {
            k: base64.b64encode(getattr(keys, k)).decode() for k in ("dh_pub", "sig_pub", "wrapped")
        }
