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

from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from chatserver.protocol.blobs import b64_field, whole_field
from chatserver.protocol.errors import Conflict, Forbidden, MalformedFrame, NotFound
from chatserver.staff.accounts import ROLES
from chatserver.staff.auth import hash_credential, normalise_username
from chatserver.storage import models as m
from chatserver.storage.db import Database
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
        raise MalformedFrame(
            "a roster has the fields suite, team, version, issued_at, members, sig, r_pub"
        )
    if wire["suite"] != "cc1" or wire["team"] != team:
        raise MalformedFrame("the roster is not a cc1 roster of this team")
    version = whole_field(wire["version"], "version")
    whole_field(wire["issued_at"], "issued_at")
    b64_field(wire["sig"], "sig", 64)
    b64_field(wire["r_pub"], "r_pub", 65)
    members = wire["members"]
    if not isinstance(members, list) or len(members) > MAX_MEMBERS:
        raise MalformedFrame(f"members is a list of at most {MAX_MEMBERS}")
    found: dict[str, tuple[str, bytes, bytes]] = {}
    for member in members:
        if not isinstance(member, dict) or set(member) != {
            "id",
            "role",
            "dh_pub",
            "sig_pub",
            "since",
        }:
            raise MalformedFrame("a member has the fields id, role, dh_pub, sig_pub, since")
        if not isinstance(member["id"], str) or member["role"] not in ROLES:
            raise MalformedFrame("a member needs a staff id and a known role")
        whole_field(member["since"], "since")
        if member["id"] in found:
            raise MalformedFrame("a member appears twice")
        found[member["id"]] = (
            member["role"],
            b64_field(member["dh_pub"], "dh_pub", 65),
            b64_field(member["sig_pub"], "sig_pub", 65),
        )
    return RosterInfo(version, found, json.dumps(wire, sort_keys=True, separators=(",", ":")))


@dataclass(frozen=True, slots=True)
class Enrolment:
    invite: str
    team: str
    role: str
    staff_id: str
    username: str
    name: str
    dh_pub: bytes
    sig_pub: bytes
    mac: bytes
    enrolled_at: int


class Members:
    def __init__(self, db: Database) -> None:
        self.db = db

    # ------------------------------------------------------------------ invites
    async def invite(self, team_id: int, role: str, admin: str, now: int, hours: int) -> str:
        if role not in ROLES:
            raise MalformedFrame(f"role is one of {', '.join(ROLES)}")
        if not 1 <= hours <= 24 * 14:
            raise MalformedFrame("an invite lasts between 1 hour and 14 days")
        invite_id = "i" + secrets.token_urlsafe(18)
        async with self.db.write() as conn:
            await conn.execute(
                insert(m.invites).values(
                    id=invite_id,
                    team_id=team_id,
                    role=role,
                    created_by=admin,
                    created_at=now,
                    expires_at=now + hours * 3_600_000,
                )
            )
            await audit_tx(conn, now, admin, "invite.created", invite_id, role=role)
        return invite_id

    async def invite_state(self, invite_id: str, now: int) -> dict[str, Any]:
        async with self.db.read() as conn:
            row = (
                await conn.execute(
                    select(m.invites, m.teams.c.slug)
                    .join(m.teams, m.teams.c.id == m.invites.c.team_id)
                    .where(m.invites.c.id == invite_id)
                )
            ).first()
            salt = await installation_id(conn)
        if row is None:
            raise NotFound("this invitation does not exist")
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
            "team": row.slug,
            "role": row.role,
            "expires_at": row.expires_at,
            "state": state,
            "salt": salt,  # what the new password's derivation is salted with
        }
        if row.staff_id is not None and row.enrolled_at is None:  # a password reset
            async with self.db.read() as conn:
                answer["username"] = (
                    await conn.execute(
                        select(m.staff.c.username).where(m.staff.c.id == row.staff_id)
                    )
                ).scalar()
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
            raise MalformedFrame(
                "enrolment needs username, name, credential, dh_pub, sig_pub, wrapped, mac"
            )
        username = normalise_username(str(body["username"]))
        if not USERNAME.fullmatch(username):
            raise MalformedFrame("a username is a-z, 0-9, '.', '_' and '-', at most 80")
        name = body["name"]
        if not isinstance(name, str) or not 0 < len(name.strip()) <= 200:
            raise MalformedFrame("a display name has 1 to 200 characters")
        credential = body["credential"]
        if not isinstance(credential, str) or not 20 <= len(credential) <= 100:
            raise MalformedFrame("credential is the derived login credential")
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
            invite = (
                await conn.execute(
                    select(m.invites).where(m.invites.c.id == invite_id).with_for_update()
                )
            ).first()
            if invite is None:
                raise NotFound("this invitation does not exist")
            if invite.enrolled_at is not None:
                raise Conflict("this invitation was used already")
            if invite.expires_at <= now:
                raise Forbidden("this invitation has expired; ask for a new one")
            if invite.staff_id is not None:  # a password reset: the same account, new keys
                staff_id = str(invite.staff_id)
                account = (
                    await conn.execute(select(m.staff.c.username).where(m.staff.c.id == staff_id))
                ).first()
                if account is None or account.username != username:
                    raise MalformedFrame("this invitation renews the account of another username")
                await conn.execute(
                    update(m.staff)
                    .where(m.staff.c.id == staff_id)
                    .values(
                        display_name=name.strip(),
                        credential_hash=credential_hash,
                        kdf_salt=await installation_id(conn),
                    )
                )
            else:
                taken = (
                    await conn.execute(select(m.staff.c.id).where(m.staff.c.username == username))
                ).first()
                if taken:
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
            await conn.execute(
                insert(m.identities).values(
                    staff_id=staff_id,
                    dh_pub=dh_pub,
                    sig_pub=sig_pub,
                    wrapped=wrapped,
                    created_at=now,
                )
            )
            await conn.execute(
                update(m.invites)
                .where(m.invites.c.id == invite_id)
                .values(
                    staff_id=staff_id,
                    mac=mac,
                    enrolled_at=now,
                )
            )
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
            raise MalformedFrame("an invite lasts between 1 hour and 14 days")
        invite_id = "i" + secrets.token_urlsafe(18)
        unusable = await asyncio.to_thread(hash_credential, secrets.token_urlsafe(32))
        async with self.db.write() as conn:
            row = (
                await conn.execute(select(m.staff.c.role).where(m.staff.c.id == staff_id))
            ).first()
            if row is None:
                raise NotFound("there is no such account")
            await conn.execute(
                update(m.staff)
                .where(m.staff.c.id == staff_id)
                .values(credential_hash=unusable, disabled_at=now)
            )
            await conn.execute(delete(m.identities).where(m.identities.c.staff_id == staff_id))
            await conn.execute(delete(m.sessions).where(m.sessions.c.staff_id == staff_id))
            gone = await conn.execute(
                delete(m.key_envelopes).where(
                    m.key_envelopes.c.recipient_id == staff_id,
                    m.key_envelopes.c.conversation_id.is_(None),
                )
            )
            await conn.execute(
                insert(m.invites).values(
                    id=invite_id,
                    team_id=team_id,
                    role=row.role,
                    created_by=None if admin == "cli" else admin,
                    created_at=now,
                    expires_at=now + hours * 3_600_000,
                    staff_id=staff_id,
                )
            )
            await audit_tx(
                conn,
                now,
                admin,
                "staff.password_reset",
                staff_id,
                invite=invite_id,
                team_keys_deleted=gone.rowcount,
            )
        return invite_id

    async def pending(self, team_id: int) -> list[Enrolment]:
        i, s, idn = m.invites.c, m.staff.c, m.identities.c
        async with self.db.read() as conn:
            rows = await conn.execute(
                select(
                    i.id,
                    m.teams.c.slug,
                    i.role,
                    s.id.label("staff"),
                    s.username,
                    s.display_name,
                    idn.dh_pub,
                    idn.sig_pub,
                    i.mac,
                    i.enrolled_at,
                )
                .join(m.teams, m.teams.c.id == i.team_id)
                .join(m.staff, s.id == i.staff_id)
                .join(m.identities, idn.staff_id == s.id)
                .where(i.team_id == team_id, i.enrolled_at.is_not(None), i.approved_at.is_(None))
                .order_by(i.enrolled_at)
            )
            return [
                Enrolment(
                    r[0], r[1], r[2], r[3], r[4], r[5], bytes(r[6]), bytes(r[7]), bytes(r[8]), r[9]
                )
                for r in rows
            ]

    # ------------------------------------------------------------------ rosters
    async def _next_roster(
        self, conn: AsyncConnection, team_id: int, info: RosterInfo, admin: str, now: int
    ) -> list[str]:
        """Store the next roster. A member the previous roster named and this one does not
        is removed from the team: membership and team-key envelopes go (the keys they held
        stay with them: the admin re-issues the epochs, docs/e2e.md "Removing a member").
        Returns the removed staff ids."""
        latest = (
            await conn.execute(
                select(m.rosters.c.version, m.rosters.c.roster)
                .where(m.rosters.c.team_id == team_id)
                .order_by(m.rosters.c.version.desc())
                .limit(1)
            )
        ).first()
        expected = 1 if latest is None else int(latest.version) + 1
        if info.version != expected:
            raise Conflict(f"the next roster of this team has version {expected}")
        before = (
            set() if latest is None else {x["id"] for x in json.loads(latest.roster)["members"]}
        )
        removed = sorted(before - set(info.members))
        await self._add_named(conn, team_id, info, admin, now)
        await conn.execute(
            insert(m.rosters).values(
                team_id=team_id,
                version=info.version,
                roster=info.canonical,
                created_by=admin,
                created_at=now,
            )
        )
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
            await conn.execute(
                delete(m.memberships).where(
                    m.memberships.c.staff_id == staff_id, m.memberships.c.team_id == team_id
                )
            )
            gone = await conn.execute(
                delete(m.key_envelopes).where(
                    m.key_envelopes.c.recipient_id == staff_id,
                    m.key_envelopes.c.team_id == team_id,
                )
            )
            await audit_tx(
                conn,
                now,
                admin,
                "member.removed",
                staff_id,
                team=team_id,
                roster_version=info.version,
                team_keys_deleted=gone.rowcount,
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
        members = set(
            (
                await conn.execute(
                    select(m.memberships.c.staff_id).where(m.memberships.c.team_id == team_id)
                )
            ).scalars()
        )
        newcomers = [staff_id for staff_id in info.members if staff_id not in members]
        if not newcomers:
            return
        rows = {
            r.id: r
            for r in await conn.execute(
                select(
                    m.staff.c.id,
                    m.staff.c.disabled_at,
                    m.identities.c.dh_pub,
                    m.identities.c.sig_pub,
                )
                .outerjoin(m.identities, m.identities.c.staff_id == m.staff.c.id)
                .where(m.staff.c.id.in_(newcomers))
            )
        }
        for staff_id in newcomers:
            row = rows.get(staff_id)
            if row is None:
                raise MalformedFrame(f"the roster names {staff_id}, whom this server does not know")
            if row.dh_pub is None:
                continue
            if info.members[staff_id][1:] != (bytes(row.dh_pub), bytes(row.sig_pub)):
                raise MalformedFrame(f"the roster names {staff_id} with keys that are not theirs")
            if row.disabled_at is not None:
                continue
            await conn.execute(
                insert(m.memberships).values(staff_id=staff_id, team_id=team_id, since=now)
            )
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
            row = (
                await conn.execute(
                    select(m.invites, m.identities.c.dh_pub, m.identities.c.sig_pub)
                    .join(m.identities, m.identities.c.staff_id == m.invites.c.staff_id)
                    .where(m.invites.c.id == invite_id, m.invites.c.team_id == team_id)
                    .with_for_update(of=m.invites)
                )
            ).first()
            if row is None or row.enrolled_at is None:
                raise NotFound("there is no enrolment under this invitation")
            if row.approved_at is not None:
                raise Conflict("this enrolment is approved already")
            named = info.members.get(row.staff_id)
            if named != (row.role, bytes(row.dh_pub), bytes(row.sig_pub)):
                raise MalformedFrame("the roster must name the new member with its keys and role")
            if await self._next_roster(conn, team_id, info, admin, now):
                raise MalformedFrame("approve one member at a time; remove members separately")
            await conn.execute(
                update(m.staff).where(m.staff.c.id == row.staff_id).values(disabled_at=None)
            )
            member = await conn.execute(
                select(m.memberships.c.staff_id).where(
                    m.memberships.c.staff_id == row.staff_id, m.memberships.c.team_id == team_id
                )
            )
            if member.first() is None:
                await conn.execute(
                    insert(m.memberships).values(staff_id=row.staff_id, team_id=team_id, since=now)
                )
            await conn.execute(
                update(m.invites).where(m.invites.c.id == invite_id).values(approved_at=now)
            )
            await audit_tx(conn, now, admin, "invite.approved", invite_id, staff=row.staff_id)
        return info.version

    async def latest_roster(self, team_id: int) -> str:
        async with self.db.read() as conn:
            roster = (
                await conn.execute(
                    select(m.rosters.c.roster)
                    .where(m.rosters.c.team_id == team_id)
                    .order_by(m.rosters.c.version.desc())
                    .limit(1)
                )
            ).scalar()
        if roster is None:
            raise NotFound("this team has no signed roster yet")
        return str(roster)

    async def set_identity(self, staff_id: str, body: Any, now: int) -> None:
        """First keys of an account made without them (``chatserver user add``: the first
        admin): public keys and the identity wrapped under the password in the browser.
        Never replaces keys: a colleague's console trusts them through the signed roster."""
        if not isinstance(body, dict) or set(body) != {"dh_pub", "sig_pub", "wrapped"}:
            raise MalformedFrame('the body is {"dh_pub", "sig_pub", "wrapped"}')
        dh_pub = b64_field(body["dh_pub"], "dh_pub", 65)
        sig_pub = b64_field(body["sig_pub"], "sig_pub", 65)
        wrapped = b64_field(body["wrapped"], "wrapped", limit=MAX_WRAPPED)
        async with self.db.write() as conn:
            exists = (
                await conn.execute(
                    select(m.identities.c.staff_id).where(m.identities.c.staff_id == staff_id)
                )
            ).first()
            if exists is not None:
                raise Conflict("this account has identity keys already")
            await conn.execute(
                insert(m.identities).values(
                    staff_id=staff_id,
                    dh_pub=dh_pub,
                    sig_pub=sig_pub,
                    wrapped=wrapped,
                    created_at=now,
                )
            )
            await audit_tx(conn, now, staff_id, "identity.created", staff_id)

    async def identity(self, staff_id: str) -> dict[str, str]:
        async with self.db.read() as conn:
            row = (
                await conn.execute(select(m.identities).where(m.identities.c.staff_id == staff_id))
            ).first()
        if row is None:
            raise NotFound("this account has no identity keys yet")
        return {
            k: base64.b64encode(bytes(getattr(row, k))).decode()
            for k in ("dh_pub", "sig_pub", "wrapped")
        }
