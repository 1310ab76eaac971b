"""What ``chatserver demo`` sets up for the end-to-end layer: the demo team as its admin's
browser would set it up (docs/e2e.md): a team root key, signed epoch bundles for the next
:data:`DEMO_DAYS` days, three enrolled accounts (two counsellors and an admin) whose
identity keys are wrapped under their passwords, a signed roster naming them, and each
epoch key sealed to each member. The duty console then signs in and reads the chats.

The keys an admin's browser would keep (the root key, the epoch keys) and the demo
passwords are kept in a file beside the database (:func:`state_path`, mode 0600) so that a
second run keeps the same team key and logins and only tops up the epochs. **This is the
demo's stand-in for the admin's browser.** The server and its database still hold no
private key: the database gets public bundles, a signed roster, wrapped identities and
sealed envelopes, exactly what a real set-up stores. A real team is set up in the admin's
browser (the admin area), and nothing of it lies on the server's disk.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

from chatserver import e2e
from chatserver.e2e.primitives import PrivateKey
from chatserver.protocol.errors import NotFound
from chatserver.staff.auth import hash_credential
from chatserver.storage import members as stored_members
from chatserver.storage import staff as db_staff
from chatserver.storage.audit import audit_tx
from chatserver.storage.db import Database
from chatserver.storage.keystore import Keystore
from chatserver.storage.staff import create_account, installation_id
from chatserver.teams.epoch_keys import TeamKeys
from chatserver.teams.epochs import Epochs
from chatserver.teams.members import Members
from chatserver.teams.root_keys import RootKeys

__all__ = ["DEMO_DAYS", "DemoAccount", "DemoInfo", "demo_team_keys", "state_path"]

DEMO_DAYS = 14
DAY_MS = 86_400_000
TEAM = "demo"

#: username, display name, role
ACCOUNTS = (
    ("demo", "Demo counsellor", "counsellor"),
    ("demo2", "Second counsellor", "counsellor"),
    ("admin", "Demo admin", "admin"),
)


@dataclass(frozen=True)
class DemoAccount:
    username: str
    password: str
    role: str


@dataclass(frozen=True)
class DemoInfo:
    pin: str
    safety_number: str
    accounts: list[DemoAccount]


def state_path(database_url: str) -> Path:
    """Beside a SQLite database file; for PostgreSQL in the working directory."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        db_file = Path(str(url.database))
        return db_file.with_name(db_file.stem + ".demo-admin.json")
    return Path("demo-admin.json")


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _key(text: str) -> PrivateKey:
    return e2e.load_pkcs8(base64.b64decode(text))


def _new_state() -> dict[str, Any]:
    return {
        "root": _b64(e2e.pkcs8(e2e.generate())),
        "epochs": {},
        "accounts": {
            username: {
                "password": secrets.token_urlsafe(9),
                "dh": _b64(e2e.pkcs8(e2e.generate())),
                "sig": _b64(e2e.pkcs8(e2e.generate())),
                "id": None,
            }
            for username, _, _ in ACCOUNTS
        },
    }


def _load(path: Path) -> dict[str, Any] | None:
    try:
        state = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(state, dict) or set(state.get("accounts", {})) != {a for a, _, _ in ACCOUNTS}:
        return None
    return state


def _save(path: Path, state: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(state, f, indent=1)
    tmp.replace(path)


async def demo_team_keys(
    db: Database, keystore: Keystore, team_id: int, path: Path, now: int
) -> DemoInfo:
    """Accounts, roster, bundles and team keys of the demo team; idempotent."""
    state = _load(path) or _new_state()
    root = _key(state["root"])
    accounts = state["accounts"]
    for username, name, role in ACCOUNTS:
        accounts[username]["id"] = await _account(
            db, team_id, username, name, role, accounts[username], now
        )
    _save(path, state)
    admin_id = accounts["admin"]["id"]
    members = [
        e2e.Member(
            accounts[username]["id"],
            role,
            e2e.public_bytes(_key(accounts[username]["dh"])),
            e2e.public_bytes(_key(accounts[username]["sig"])),
            now,
        )
        for username, _, role in ACCOUNTS
    ]
    await _roster(db, team_id, root, members, admin_id, now)
    await _epochs(db, keystore, team_id, state, members, admin_id, now)
    await _root_key(db, keystore, team_id, root, state["accounts"]["admin"], members, now)
    _save(path, state)
    r_pub = e2e.public_bytes(root)
    return DemoInfo(
        e2e.pin(r_pub),
        e2e.safety_number(r_pub),
        [DemoAccount(u, accounts[u]["password"], role) for u, _, role in ACCOUNTS],
    )


async def _account(
    db: Database,
    team_id: int,
    username: str,
    name: str,
    role: str,
    account: dict[str, Any],
    now: int,
) -> str:
    """The account with its wrapped identity (made anew when missing or changed)."""
    dh, sig = _key(account["dh"]), _key(account["sig"])
    async with db.read() as conn:
        row = await db_staff.identity_key(conn, username)
        salt = await installation_id(conn)
    if row is not None and row[0] == account["id"] and row[1] is not None:  # noqa: SIM102
        if row[1] == e2e.public_bytes(dh):
            return row[0]
    master = e2e.derive_master(account["password"], salt, username)
    wrapped = e2e.wrap_identity(e2e.wrap_key(master), salt, username, dh, sig)
    credential_hash = hash_credential(e2e.auth_credential(master))
    async with db.write() as conn:
        if row is not None:  # an account of an earlier demo: its keys are gone
            old = f"{username}-old-{secrets.token_hex(3)}"
            await db_staff.rename_and_disable(conn, row[0], old, now)
        staff_id = await create_account(
            conn,
            username=username,
            display_name=name,
            role=role,
            credential_hash=credential_hash,
            now=now,
        )
        await stored_members.add_identity(
            conn, staff_id, e2e.public_bytes(dh), e2e.public_bytes(sig), wrapped, now
        )
        await stored_members.add_member(conn, staff_id, team_id, now)
        await audit_tx(conn, now, "cli", "staff.created", staff_id, role=role, teams=[TEAM])
    return staff_id


async def _roster(
    db: Database,
    team_id: int,
    root: PrivateKey,
    members: list[e2e.Member],
    admin_id: str,
    now: int,
) -> None:
    """A new signed roster unless the latest one names these members under this root."""
    store = Members(db)
    version = 0
    with contextlib.suppress(NotFound):
        latest = json.loads(await store.latest_roster(team_id))
        version = int(latest["version"])
        named = {(x["id"], x["role"], x["dh_pub"], x["sig_pub"]) for x in latest["members"]}
        wanted = {(x.id, x.role, _b64(x.dh_pub), _b64(x.sig_pub)) for x in members}
        if latest["r_pub"] == _b64(e2e.public_bytes(root)) and named == wanted:
            return
    wire = e2e.sign_roster(root, TEAM, version + 1, now, members)
    await store.upload_roster(team_id, TEAM, wire, admin_id, now)


async def _epochs(
    db: Database,
    keystore: Keystore,
    team_id: int,
    state: dict[str, Any],
    members: list[e2e.Member],
    admin_id: str,
    now: int,
) -> None:
    """Bundles for the next :data:`DEMO_DAYS` days when fewer than half of them are left
    (numbered above every epoch the team has), and every live epoch key sealed to every
    member."""
    root = _key(state["root"])
    epochs: dict[str, Any] = state["epochs"]
    live = {int(n): v for n, v in epochs.items() if v["not_after"] > now}
    state["epochs"] = epochs = {str(n): v for n, v in live.items()}
    covered = max((v["not_after"] for v in live.values()), default=now)
    store = Epochs(db)
    if covered - now < DEMO_DAYS * DAY_MS // 2:
        top = await store.top(team_id)
        start = max(covered, now - 60_000)
        wires = []
        for day in range(DEMO_DAYS):
            key = e2e.generate()
            nb, na = start + day * DAY_MS, start + (day + 1) * DAY_MS
            wires.append(e2e.sign_bundle(root, TEAM, top + 1 + day, e2e.public_bytes(key), nb, na))
            epochs[str(top + 1 + day)] = {"key": _b64(e2e.pkcs8(key)), "not_after": na}
        await store.upload(team_id, TEAM, wires, admin_id, now)
    admin_sig = _key(state["accounts"]["admin"]["sig"])
    envelopes = [
        {
            "recipient": member.id,
            "epoch": int(n),
            "body": _b64(
                e2e.seal_envelope(
                    admin_sig, member.dh_pub, "team_key", "", int(n), base64.b64decode(v["key"])
                )
            ),
        }
        for n, v in sorted(epochs.items())
        for member in members
    ]
    keys = TeamKeys(db, keystore)
    have = set()
    for member in members:
        have |= {(member.id, item.epoch) for item in await keys.for_member(member.id, team_id, now)}
    missing = [e for e in envelopes if (e["recipient"], e["epoch"]) not in have]
    if missing:
        await keys.upload(team_id, TEAM, missing, admin_id, now)


async def _root_key(
    db: Database,
    keystore: Keystore,
    team_id: int,
    root: PrivateKey,
    admin: dict[str, Any],
    members: list[e2e.Member],
    now: int,
) -> None:
    """The root key wrapped to the demo admin, as the admin area keeps it, so the admin
    area (``/admin``) opens the demo team in the browser like any other."""
    store = RootKeys(db, keystore)
    sig_pub = next(x.sig_pub for x in members if x.id == admin["id"])
    with contextlib.suppress(NotFound, e2e.E2EError):
        _, body = await store.for_admin(admin["id"], team_id)
        env, payload = e2e.open_envelope(_key(admin["dh"]), body, sig_pub)
        if env.purpose == "root_key" and e2e.public_bytes(e2e.load_pkcs8(payload)) == (
            e2e.public_bytes(root)
        ):
            return
    sealed = e2e.seal_envelope(
        _key(admin["sig"]),
        e2e.public_bytes(_key(admin["dh"])),
        "root_key",
        "",
        0,
        e2e.pkcs8(root),
    )
    await store.upload(
        team_id, TEAM, [{"recipient": admin["id"], "body": _b64(sealed)}], admin["id"], now
    )
