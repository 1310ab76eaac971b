"""Staff accounts as admins manage them: the list (without any secret), role, cap, disable
and enable, and resetting two-factor sign-in. The admin API (``chatserver.web.api.admin``)
and the CLI call the same functions, so the two cannot drift.

Two rules hold whoever asks: the last enabled admin can be neither disabled nor demoted
(someone must be able to administer the server), and an account whose enrolment waits for
approval is enabled only by that approval, with a signed roster. Team memberships are not
changed here at all: they follow the signed rosters (:mod:`chatserver.teams.members`).

Disabling an account and resetting its TOTP end its sessions; an open console notices at
its next frame (``chatserver.web.ws.console``). Every change is audited: who, what, when.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from chatserver.protocol import bodies
from chatserver.protocol.errors import Conflict, Malformed, NotFound
from chatserver.staff.auth import normalise_username
from chatserver.storage import staff as db_staff
from chatserver.storage.audit import audit_tx
from chatserver.storage.db import Database
from chatserver.storage.staff import StaffAccount

__all__ = ["MAX_CAP", "ROLES", "Account", "Accounts", "StaffChange", "parse_change"]

#: The roles of a staff account, from the least to the most rights.
ROLES = ("counsellor", "supervisor", "admin")
MAX_CAP = 20
LAST_ADMIN = "is the last enabled admin: make another account admin first"


@dataclass(frozen=True, slots=True)
class Account:
    """What an admin sees of an account: never a hash, a secret or a key."""

    id: str
    username: str
    name: str
    role: str
    teams: tuple[str, ...]
    disabled: bool
    totp: bool
    cap: int | None
    created_at: int
    last_login_at: int | None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "username": self.username,
            "name": self.name,
            "role": self.role,
            "teams": list(self.teams),
            "disabled": self.disabled,
            "totp": self.totp,
            "cap": self.cap,
            "created_at": self.created_at,
            "last_login_at": self.last_login_at,
        }


@dataclass(frozen=True, slots=True)
class StaffChange:
    """A checked change; ``None`` leaves a field as it is (``cap`` only if ``set_cap``)."""

    role: str | None = None
    disabled: bool | None = None
    cap: int | None = None
    set_cap: bool = False


def check_cap(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_CAP:
        raise Malformed(f"cap: a number of chats from 1 to {MAX_CAP}, or null (the default)")
    return value


def check_role(value: Any) -> str:
    if value not in ROLES:
        raise Malformed(f"role: one of {', '.join(ROLES)}")
    return str(value)


def parse_change(body: bodies.StaffChange) -> StaffChange:
    """The body ``{"role"?, "disabled"?, "cap"?}`` (its shape checked by the codec) with
    its values checked, or ``malformed`` naming the field."""
    return StaffChange(
        role=check_role(body.role) if "role" in body.present else None,
        disabled=body.disabled,
        cap=check_cap(body.cap),
        set_cap="cap" in body.present,
    )


class Accounts:
    """Reads and audited changes of staff accounts; ``actor`` is a staff id or ``"cli"``.
    Rights are the caller's to check; every refusal comes before any write."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def list_accounts(self) -> list[Account]:
        async with self.db.read() as conn:
            rows = await db_staff.accounts(conn)
            teams = await db_staff.team_slugs(conn)
        return [_account(r, teams.get(r.id, ())) for r in rows]

    async def get(self, staff_id: str) -> Account:
        async with self.db.read() as conn:
            return await _get(conn, staff_id)

    async def id_of(self, username: str) -> str:
        """The id of the account ``username`` (any case), for the CLI."""
        async with self.db.read() as conn:
            staff_id = await db_staff.id_by_username(conn, normalise_username(username))
        if staff_id is None:
            raise NotFound(f"there is no user '{username}'")
        return staff_id

    async def change(self, staff_id: str, change: StaffChange, actor: str, now: int) -> Account:
        """Apply ``change``; audited per field that changes. Disabling ends the sessions."""
        async with self.db.write() as conn:
            old = await _get(conn, staff_id)
            role = change.role if change.role is not None else old.role
            disabled = change.disabled if change.disabled is not None else old.disabled
            if old.role == "admin" and not old.disabled and (role != "admin" or disabled):
                await _another_admin(conn, old)
            if old.disabled and not disabled:
                await _not_pending(conn, old)
            if role != old.role:
                await db_staff.set_role(conn, staff_id, role)
                await audit_tx(
                    conn, now, actor, "staff.role_changed", staff_id, role=role, was=old.role
                )
            if change.set_cap and change.cap != old.cap:
                await db_staff.set_cap(conn, staff_id, change.cap)
                await audit_tx(conn, now, actor, "staff.cap_changed", staff_id, cap=change.cap)
            if disabled and not old.disabled:
                await db_staff.set_disabled(conn, staff_id, now)
                await db_staff.end_sessions(conn, staff_id)
                await audit_tx(conn, now, actor, "staff.disabled", staff_id)
            if old.disabled and not disabled:
                await db_staff.set_disabled(conn, staff_id, None)
                await audit_tx(conn, now, actor, "staff.enabled", staff_id)
            return await _get(conn, staff_id)

    async def reset_totp(
        self, staff_id: str, actor: str, now: int, secret: str | None = None
    ) -> None:
        """Clear two-factor sign-in (the next sign-in enrols again, ``/api/me/totp``), or
        with ``secret`` replace it (the CLI prints the new one); sessions end; audited."""
        async with self.db.write() as conn:
            await _get(conn, staff_id)
            await db_staff.set_totp(conn, staff_id, secret)
            await db_staff.end_sessions(conn, staff_id)
            await audit_tx(conn, now, actor, "staff.totp_reset", staff_id, enrol=secret is None)


async def _another_admin(conn: AsyncConnection, account: Account) -> None:
    if not await db_staff.another_enabled_admin(conn, account.id):
        raise Conflict(f"'{account.username}' {LAST_ADMIN}")


async def _not_pending(conn: AsyncConnection, account: Account) -> None:
    if await db_staff.awaiting_approval(conn, account.id):
        raise Conflict(
            f"'{account.username}' waits for the approval of their enrolment: "
            "approve it with a signed roster instead"
        )


async def _get(conn: AsyncConnection, staff_id: str) -> Account:
    row = await db_staff.account(conn, staff_id)
    if row is None:
        raise NotFound("there is no such account")
    return _account(row, (await db_staff.team_slugs(conn, staff_id)).get(staff_id, ()))


def _account(row: StaffAccount, teams: tuple[str, ...]) -> Account:
    return Account(
        row.id,
        row.username,
        row.display_name,
        row.role,
        teams,
        row.disabled_at is not None,
        row.totp,
        row.cap,
        row.created_at,
        row.last_login_at,
    )
