"""``chatserver``: serve, migrate, manage teams and staff, run a demo.

Every command reads the same settings (``--config FILE``, ``CHAT_*`` variables) and talks
to the database directly; changes by the CLI are written to the audit log as actor ``cli``.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import getpass
import json
import logging
import os
import re
import secrets
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from chatserver import e2e
from chatserver.config import ConfigError, Settings, load_settings
from chatserver.e2e.encoding import b64url
from chatserver.e2e.password import MIN_DISTINCT, MIN_LENGTH, MIN_LENGTH_ADMIN, password_problem
from chatserver.ops.demo import DemoInfo, demo_team_keys, state_path
from chatserver.protocol.errors import ChatError
from chatserver.staff.accounts import Accounts, StaffChange, check_cap, check_role
from chatserver.staff.auth import (
    derive_credential,
    hash_credential,
    new_totp_secret,
    normalise_username,
)
from chatserver.storage import members as stored_members
from chatserver.storage import staff as db_staff
from chatserver.storage import teams as stored_teams
from chatserver.storage.audit import audit_tx
from chatserver.storage.db import Database, DatabaseMissing, migrate, schema_is_current
from chatserver.storage.keystore import Keystore
from chatserver.storage.staff import create_account, installation_id
from chatserver.storage.store import requeue_held
from chatserver.teams import hours as oh
from chatserver.teams.epoch_keys import TeamKeys
from chatserver.teams.members import Members
from chatserver.teams.teams import Team, Teams, Topic

__all__ = ["main"]


class CommandError(Exception):
    """A command cannot do what was asked; the message says why."""


def _now() -> int:
    return int(time.time() * 1000)


def _setup_logging(level: str) -> None:
    logging.basicConfig(
        level=level.upper(),
        format="%(asctime)s level=%(levelname)s logger=%(name)s %(message)s",
        stream=sys.stderr,
    )
    # aiohttp's access log would record addresses and user agents: it stays off.
    logging.getLogger("aiohttp.access").disabled = True
    logging.getLogger("alembic").setLevel(max(logging.WARNING, logging.getLogger().level))


async def _with_db(settings: Settings, work: Any) -> Any:
    db = Database(settings.database_url, pool_size=2)
    try:
        if not await schema_is_current(db):
            raise CommandError("the database schema is not current: run `chatserver migrate`")
        return await work(db)
    finally:
        await db.dispose()


async def _team_id(conn: Any, slug: str) -> int:
    team_id = await stored_teams.id_of(conn, slug)
    if team_id is None:
        raise CommandError(f"there is no team '{slug}'")
    return team_id


# --------------------------------------------------------------------------- teams
USERNAME = re.compile(r"[a-z0-9._-]{1,80}")


async def team_add(db: Database, slug: str, name: str, topics: Sequence[str]) -> None:
    """The same as ``POST /api/admin/teams`` (chatserver.teams.teams), with topics."""
    await Teams(db).create(slug, name, [_topic_arg(t) for t in topics], "cli", _now())


def _topic_arg(value: str) -> tuple[str, str]:
    """``slug:Name`` (or just ``slug``, named by its slug)."""
    slug, _, name = value.partition(":")
    return slug, name or slug


async def team_change(
    db: Database,
    slug: str,
    *,
    name: str | None = None,
    archived: bool | None = None,
    transcript: bool | None = None,
) -> Team:
    """``team rename``, ``team archive`` and ``team transcript``: the same as
    ``PATCH /api/admin/teams/SLUG``."""
    return await Teams(db).change(
        slug, "cli", _now(), name=name, archived=archived, transcript=transcript
    )


async def team_topics(
    db: Database, slug: str, add: Sequence[str], rename: Sequence[str], remove: Sequence[str]
) -> list[Topic]:
    """The topic endpoints of ``/api/admin/teams/SLUG/topics``, in one transaction."""
    return await Teams(db).edit_topics(
        slug,
        "cli",
        _now(),
        add=[_topic_arg(t) for t in add],
        rename=[_topic_arg(t) for t in rename],
        remove=remove,
    )


async def team_list(db: Database) -> list[dict[str, Any]]:
    return [
        {
            "slug": t.slug,
            "name": t.name,
            "topics": [topic.slug for topic in t.topics],
            "origins": list(t.origins),
            "archived": t.archived_at is not None,
        }
        for t in await Teams(db).list_teams()
    ]


async def team_origins(
    db: Database, slug: str, add: Sequence[str], remove: Sequence[str]
) -> list[str]:
    """Checked as ``PUT /api/admin/teams/SLUG/origins`` checks them (chatserver.teams.teams)."""
    return await Teams(db).change_origins(slug, add, remove, "cli", _now())


async def destroy_epoch(db: Database, settings: Settings, slug: str, epoch: int) -> list[str]:
    async with db.read() as conn:
        team_id = await _team_id(conn, slug)
    keystore = Keystore(settings.keystore)
    try:
        await keystore.open()
        return await TeamKeys(db, keystore).destroy_epoch(team_id, epoch, "cli", _now())
    finally:
        await keystore.close()


# --------------------------------------------------------------------------- staff
async def user_add(
    db: Database,
    settings: Settings,
    username: str,
    name: str,
    role: str,
    teams: Sequence[str],
    password: str,
    totp: bool,
) -> tuple[str, str | None]:
    """Create a staff account; returns (staff id, TOTP secret or None)."""
    username = check_username(username)
    async with db.read() as conn:
        salt = await installation_id(conn)
    credential = await asyncio.to_thread(derive_credential, password, salt, username)
    credential_hash = await asyncio.to_thread(hash_credential, credential)
    return await add_account(db, username, name, role, teams, credential_hash, totp)


def check_username(username: str) -> str:
    """The username normalised, or ``CommandError`` when it is not one."""
    username = normalise_username(username)
    if not USERNAME.fullmatch(username):
        raise CommandError(
            f"'{username}' is not a valid username (a-z, 0-9, '.', '_' and '-', at most 80)"
        )
    return username


async def add_account(
    db: Database,
    username: str,
    name: str,
    role: str,
    teams: Sequence[str],
    credential_hash: str,
    totp: bool,
) -> tuple[str, str | None]:
    """The account of :func:`user_add` from the hash of its credential, derived with the
    installation id as the salt; audited."""
    secret = new_totp_secret() if totp else None
    async with db.write() as conn:
        if await db_staff.id_by_username(conn, username) is not None:
            raise CommandError(f"user '{username}' exists already")
        team_ids = [await _team_id(conn, t) for t in teams]
        now = _now()
        staff_id = await create_account(
            conn,
            username=username,
            display_name=name,
            role=role,
            credential_hash=credential_hash,
            now=now,
            totp_secret=secret,
        )
        for team_id in team_ids:
            await stored_members.add_member(conn, staff_id, team_id, now)
        await audit_tx(conn, now, "cli", "staff.created", staff_id, role=role, teams=list(teams))
    return staff_id, secret


async def user_list(db: Database) -> list[dict[str, Any]]:
    return [
        {
            "id": a.id,
            "username": a.username,
            "name": a.name,
            "role": a.role,
            "teams": list(a.teams),
            "totp": a.totp,
            "disabled": a.disabled,
        }
        for a in await Accounts(db).list_accounts()
    ]


async def user_disable(db: Database, username: str) -> None:
    """Disable an account and end its sessions; it keeps no open console."""
    await user_change(db, username, StaffChange(disabled=True))


async def user_change(db: Database, username: str, change: StaffChange) -> None:
    """The same as ``PATCH /api/admin/staff/ID`` (chatserver.staff.accounts)."""
    accounts = Accounts(db)
    await accounts.change(await accounts.id_of(username), change, "cli", _now())


@dataclass(frozen=True, slots=True)
class PasswordReset:
    """What ``user reset-password`` made: the one-time link and what went with the keys."""

    link: str
    team: str
    expires_at: int
    requeued: int


async def user_reset_password(
    db: Database, settings: Settings, username: str, team: str | None, hours: int
) -> PasswordReset:
    """The admin area's password reset (``POST /api/admin/staff/ID/reset-password``): the
    account's keys were wrapped under the password and are lost with it; it is signed out
    and disabled, its chats go back to the queue, and it sets a new password and new keys
    through a one-time invitation, which an admin of ``team`` approves in the admin area.
    The invitation's secret is made here and only printed (the server keeps no copy)."""
    accounts = Accounts(db)
    staff_id = await accounts.id_of(username)
    async with db.read() as conn:
        teams = await db_staff.teams_of(conn, staff_id)
        if team is None:
            if len(teams) != 1:
                where = f"is in the teams {', '.join(sorted(teams))}" if teams else "is in no team"
                raise CommandError(
                    f"'{username}' {where}: name with --team the team whose admin approves "
                    "the new keys"
                )
            (team,) = teams
        team_id = teams.get(team) or await _team_id(conn, team)
        latest = await stored_members.latest_roster(conn, team_id)
    if latest is None:
        raise CommandError(
            f"team '{team}' has no signed roster yet: its keys are made in the admin area first"
        )
    pin = e2e.pin(base64.b64decode(json.loads(latest.roster)["r_pub"]))
    now = _now()
    try:
        invite = await Members(db).reset_password(staff_id, team_id, "cli", now, hours)
    except ChatError as exc:
        raise CommandError(str(exc)) from None
    requeued = 0
    for held_team in teams.values():
        async with db.write() as conn:
            requeued += len(await requeue_held(conn, staff_id, held_team, "cli", now))
    secret = b64url(secrets.token_bytes(32))
    query = urlencode({"invite": invite, "secret": secret, "pin": pin})
    return PasswordReset(
        f"{settings.origin}/console#{query}", team, now + hours * 3_600_000, requeued
    )


async def user_reset_2fa(db: Database, username: str) -> str:
    """A new TOTP secret (``POST /api/admin/staff/ID/reset-2fa`` clears it instead)."""
    secret = new_totp_secret()
    accounts = Accounts(db)
    await accounts.reset_totp(await accounts.id_of(username), "cli", _now(), secret)
    return secret


def _cap(value: str) -> int | None:
    if value == "default":
        return None
    try:
        return check_cap(int(value))
    except ValueError:
        raise CommandError(f"'{value}' is not a number from 1 to 20 or 'default'") from None


def _otpauth(secret: str, username: str, settings: Settings) -> str:
    import pyotp

    return str(pyotp.TOTP(secret).provisioning_uri(name=username, issuer_name=settings.origin))


# --------------------------------------------------------------------------- demo
async def demo(db: Database, settings: Settings) -> DemoInfo:
    """The demo team with topics, two counsellors and an admin, keys included; idempotent
    (a second run keeps the logins and the team key and tops up the epochs)."""
    async with db.read() as conn:
        exists = await stored_teams.id_of(conn, "demo") is not None
    if not exists:
        await team_add(db, "demo", "Demo team", ["general:General", "school:School"])
    async with db.read() as conn:
        team_id = await _team_id(conn, "demo")
    keystore = Keystore(settings.keystore)
    await keystore.open()
    try:
        return await demo_team_keys(
            db, keystore, team_id, state_path(settings.database_url), _now()
        )
    finally:
        await keystore.close()


# --------------------------------------------------------------------------- hours
async def hours_command(db: Database, args: argparse.Namespace) -> list[str]:
    """``hours show|set|check``: the same JSON as ``PUT /api/teams/SLUG/hours``."""
    if args.action == "set":
        try:
            new = oh.parse_hours(_json_file(args.file))
        except oh.HoursError as exc:
            raise CommandError(str(exc)) from None
        async with db.write() as conn:
            await oh.save_hours(conn, await _team_id(conn, args.slug), new, "cli", _now())
        return [f"saved the opening hours of {args.slug}"]
    async with db.read() as conn:
        current = await oh.load_hours(conn, await _team_id(conn, args.slug))
    if args.action == "show":
        if current is None:
            return [f"{args.slug} has no opening hours: always open"]
        return [json.dumps(current.to_json(), indent=2, ensure_ascii=False)]
    zone = ZoneInfo(current.timezone if current else oh.DEFAULT_TIMEZONE)
    at = _now() if args.at is None else _iso_ms(args.at, zone)
    if current is None:
        return ["open (no opening hours set: always open)"]
    state = "open" if oh.is_open(current, at) else "closed"
    change = oh.next_change(current, at)
    line = state if change is None else f"{state} until {_local_time(change, zone)}"
    if state == "closed":
        line += "; new chats " + ("wait" if current.queue_outside_hours else "are refused")
    return [line]


def _json_file(name: str) -> Any:
    try:
        raw = sys.stdin.read() if name == "-" else Path(name).read_text("utf-8")
        return json.loads(raw)
    except OSError as exc:
        raise CommandError(f"cannot read {name}: {exc.strerror}") from None
    except ValueError as exc:
        raise CommandError(f"{name} is not JSON: {exc}") from None


def _iso_ms(value: str, zone: ZoneInfo) -> int:
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise CommandError(f"--at: {value!r} is not an ISO time like 2026-12-24T15:00") from None
    return int(moment.replace(tzinfo=moment.tzinfo or zone).timestamp() * 1000)


def _utc(at_ms: int) -> str:
    return f"{datetime.fromtimestamp(at_ms / 1000, UTC):%Y-%m-%d %H:%M} UTC"


def _local_time(at_ms: int, zone: ZoneInfo) -> str:
    return f"{datetime.fromtimestamp(at_ms / 1000, zone):%Y-%m-%d %H:%M %Z} ({zone.key})"


# --------------------------------------------------------------------------- parsing
def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="chatserver", description=__doc__.splitlines()[0])
    p.add_argument("--config", help="TOML settings file (default: $CHAT_CONFIG)")
    sub = p.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the server")
    serve.add_argument("--migrate", action="store_true", help="migrate the database first")
    sub.add_parser("migrate", help="bring the database schema up to date")
    d = sub.add_parser("demo", help="create demo data (and --serve it)")
    d.add_argument("--serve", action="store_true", help="then run the server")

    user = sub.add_parser("user", help="staff accounts").add_subparsers(
        dest="action", required=True
    )
    add = user.add_parser("add", help="create a staff account")
    add.add_argument("username")
    add.add_argument("--name", required=True, help="display name")
    add.add_argument("--role", choices=("counsellor", "supervisor", "admin"), default="counsellor")
    add.add_argument("--team", action="append", default=[], help="team slug (repeatable)")
    add.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    add.add_argument("--no-totp", action="store_true", help="no second factor (not recommended)")
    user.add_parser("list", help="list staff accounts")
    dis = user.add_parser("disable", help="disable an account and end its sessions")
    dis.add_argument("username")
    rp = user.add_parser(
        "reset-password",
        help="a forgotten password: the keys are lost; prints a one-time link for new ones",
    )
    rp.add_argument("username")
    rp.add_argument("--team", help="whose admin approves the new keys (default: the only team)")
    rp.add_argument("--hours", type=int, default=72, help="how long the link works (1-336)")
    r2 = user.add_parser("reset-2fa", help="new TOTP secret; ends the account's sessions")
    r2.add_argument("username")
    role = user.add_parser("set-role", help="change an account's role")
    role.add_argument("username")
    role.add_argument("role", choices=("counsellor", "supervisor", "admin"))
    cap = user.add_parser("set-cap", help="how many chats an account may hold at once")
    cap.add_argument("username")
    cap.add_argument("cap", help="1 to 20, or 'default' (the setting counsellor_cap)")

    team = sub.add_parser("team", help="teams").add_subparsers(dest="action", required=True)
    tadd = team.add_parser("add", help="create a team")
    tadd.add_argument("slug")
    tadd.add_argument("--name", required=True)
    tadd.add_argument("--topic", action="append", default=[], help="slug:Name (repeatable)")
    team.add_parser("list", help="list teams")
    shred = team.add_parser(
        "destroy-epoch", help="destroy an epoch's team keys (crypto-shredding; irreversible)"
    )
    shred.add_argument("slug")
    shred.add_argument("epoch", type=int)
    org = team.add_parser("origins", help="show or change a team's allowed website origins")
    org.add_argument("slug")
    org.add_argument("--add", action="append", default=[], metavar="ORIGIN")
    org.add_argument("--remove", action="append", default=[], metavar="ORIGIN")
    ren = team.add_parser("rename", help="change a team's display name")
    ren.add_argument("slug")
    ren.add_argument("name")
    arc = team.add_parser("archive", help="archive a team: it starts no new chats")
    arc.add_argument("slug")
    arc.add_argument("--undo", action="store_true", help="restore an archived team")
    tra = team.add_parser(
        "transcript", help="offer clients to save the conversation on their device (or not)"
    )
    tra.add_argument("slug")
    tra.add_argument("switch", choices=["on", "off"])
    top = team.add_parser("topics", help="show or change a team's topics")
    top.add_argument("slug")
    top.add_argument("--add", action="append", default=[], metavar="SLUG:NAME")
    top.add_argument("--rename", action="append", default=[], metavar="SLUG:NAME")
    top.add_argument("--remove", action="append", default=[], metavar="SLUG")

    ret = sub.add_parser("retention", help="retention rules and sweeps").add_subparsers(
        dest="action", required=True
    )
    ret.add_parser("run", help="run one sweep now and print its report")
    pre = ret.add_parser("preview", help="what the rules (or proposed ones) would delete")
    pre.add_argument("--team", help="only this team")
    pre.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="TEAM:CATEGORY=DURATION",
        help="a proposed change (repeatable), e.g. youth:messages=24h",
    )
    pre.add_argument("--days", type=int, default=7, help="look ahead this many days")
    rul = ret.add_parser("rules", help="show or change a team's retention rules")
    rul.add_argument("slug")
    rul.add_argument("--set", action="append", default=[], metavar="CATEGORY=DURATION")
    rul.add_argument("--reset", action="append", default=[], metavar="CATEGORY")
    ret.add_parser("worker", help="sweep on the schedule (for installs with several processes)")

    hold = sub.add_parser("hold", help="legal holds").add_subparsers(dest="action", required=True)
    hp = hold.add_parser("place", help="hold a conversation: never deleted while it lasts")
    hp.add_argument(
        "conversation", help='its id (write "--" before an id from older data that begins with "-")'
    )
    hp.add_argument("--reason", required=True)
    hp.add_argument("--days", type=int, required=True)
    he = hold.add_parser("extend", help="let a hold last DAYS from now")
    he.add_argument("id", type=int)
    he.add_argument("--days", type=int, required=True)
    hr = hold.add_parser("release", help="release a hold")
    hr.add_argument("id", type=int)
    hl = hold.add_parser("list", help="holds in force")
    hl.add_argument("--team")

    bak = sub.add_parser("backup", help="back up the database (or with --keystore the keystore)")
    bak.add_argument("file", help="where to write it (never overwritten)")
    bak.add_argument("--keystore", action="store_true", help="the keystore instead")
    res = sub.add_parser("restore", help="put a backup back (stop the server first)")
    res.add_argument("file")
    res.add_argument("--keystore", action="store_true", help="a keystore backup")

    hrs = sub.add_parser("hours", help="opening hours of a team").add_subparsers(
        dest="action", required=True
    )
    hrs.add_parser("show", help="print a team's opening hours as JSON").add_argument("slug")
    hset = hrs.add_parser("set", help="replace a team's opening hours from a JSON file")
    hset.add_argument("slug")
    hset.add_argument(
        "--file", required=True, help="the JSON of PUT /api/teams/SLUG/hours ('-': stdin)"
    )
    hcheck = hrs.add_parser("check", help="open or closed now (or --at), and the next change")
    hcheck.add_argument("slug")
    hcheck.add_argument(
        "--at", help="an ISO time like 2026-12-24T15:00 (the team's time zone without offset)"
    )

    aud = sub.add_parser("audit", help="the audit log").add_subparsers(dest="action", required=True)
    aud.add_parser("verify", help="check the hash chain of the audit log")
    aud.add_parser("export", help="print the audit log as CSV")

    st = sub.add_parser("stats", help="a team's anonymous statistics per day")
    st.add_argument("slug")
    st.add_argument("--from", dest="first", metavar="YYYY-MM-DD", help="first day")
    st.add_argument("--to", dest="last", metavar="YYYY-MM-DD", help="last day (default today)")
    st.add_argument("--csv", action="store_true", help="print CSV instead of a table")

    pr = sub.add_parser("privacy-report", help="what this installation does with data")
    pr.add_argument("--format", choices=("md", "html", "json"), default="md")
    pr.add_argument("--notice", choices=("de", "en"), help="the privacy notice texts instead")
    pr.add_argument("--team", help="the team whose retention periods the notice states")
    return p


def _read_password(from_stdin: bool, *, admin: bool = False, personal: Sequence[str] = ()) -> str:
    if from_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = getpass.getpass("Password: ")
        if password != getpass.getpass("Again: "):
            raise CommandError("the passwords differ")
    problem = password_problem(password, admin=admin, personal=personal)
    if problem == "short" and admin:
        raise CommandError(f"an admin's password needs at least {MIN_LENGTH_ADMIN} characters")
    if problem == "short":
        raise CommandError(f"a password needs at least {MIN_LENGTH} characters")
    if problem == "personal":
        raise CommandError("a password must not contain the username, the name or a team")
    if problem == "repetitive":
        raise CommandError(f"a password needs at least {MIN_DISTINCT} different characters")
    return password


def _migrate(settings: Settings) -> str:
    """The database schema, and the keystore's table in its own database; says what it did.
    Accounts made before migration 0011 keep the origin of these settings as their salt."""
    done = migrate(settings.database_url, legacy_origin=settings.origin)

    async def keystore() -> None:
        store = Keystore(settings.keystore, create=True)
        try:
            await store.open()
        finally:
            await store.close()

    asyncio.run(keystore())
    return done.describe(settings.database_url)


def _serve(settings: Settings, migrate_first: bool) -> None:
    from chatserver.web.app import SchemaOutdated, run

    if migrate_first:
        print(_migrate(settings), file=sys.stderr, flush=True)

    def ready(port: int) -> None:
        print(f"listening on http://{settings.host}:{port}", flush=True)

    try:
        asyncio.run(run(settings, ready))
    except SchemaOutdated as exc:
        raise CommandError(str(exc)) from None


def run_command(args: argparse.Namespace, settings: Settings) -> None:
    out = print
    match args.command, getattr(args, "action", None):
        case "serve", _:
            _serve(settings, args.migrate)
        case "migrate", _:
            out(_migrate(settings))
        case "demo", _:
            _migrate(settings)
            info = asyncio.run(_with_db(settings, lambda db: demo(db, settings)))
            out("Demo team:     demo (topics: general, school)")
            out(f"Start page:    {settings.origin}/  (with the widget embedded)")
            out(f"Duty console:  {settings.origin}/console")
            out(f"Team key pin:  {info.pin}")
            out(f"Safety number: {info.safety_number}")
            for account in info.accounts:
                out(f"Login ({account.role}): {account.username} / {account.password}")
            out(
                "No second factor for the demo logins. The demo admin's keys are kept in "
                f"{state_path(settings.database_url)} (demo only; docs/operations.md)."
            )
            if args.serve:
                # The demo logins have no TOTP; with require_totp on they could only enrol.
                out("The demo server runs with require_totp off (CHAT_REQUIRE_TOTP=false).")
                _serve(settings.replace(require_totp=False), False)
            elif settings.require_totp:
                out("Serve the demo with CHAT_REQUIRE_TOTP=false, or the logins must set up TOTP.")
        case "user", "add":
            password = _read_password(
                args.password_stdin,
                admin=args.role == "admin",
                personal=[args.username, args.name, *args.team],
            )
            staff_id, secret = asyncio.run(
                _with_db(
                    settings,
                    lambda db: user_add(
                        db,
                        settings,
                        args.username,
                        args.name,
                        args.role,
                        args.team,
                        password,
                        not args.no_totp,
                    ),
                )
            )
            out(f"created {staff_id}")
            if secret:
                out(f"TOTP secret: {secret}")
                out(f"TOTP URI:    {_otpauth(secret, args.username, settings)}")
        case "user", "list":
            for u in asyncio.run(_with_db(settings, user_list)):
                flags = ("disabled " if u["disabled"] else "") + ("" if u["totp"] else "no-2fa")
                out(
                    f"{u['username']}\t{u['role']}\t{','.join(u['teams'])}\t{u['name']}"
                    f"\t{flags}".rstrip()
                )
        case "user", "disable":
            asyncio.run(_with_db(settings, lambda db: user_disable(db, args.username)))
            out(f"disabled {args.username}")
        case "user", "reset-password":
            reset = asyncio.run(
                _with_db(
                    settings,
                    lambda db: user_reset_password(
                        db, settings, args.username, args.team, args.hours
                    ),
                )
            )
            out(f"{args.username}: signed out, the keys made with the old password are gone.")
            if reset.requeued:
                out(
                    f"{reset.requeued} chats they held went back to the queue (open consoles "
                    "and widgets show it when they next connect)."
                )
            out("Hand over this link in person or on the phone; it works once, until")
            out(f"{_utc(reset.expires_at)}, and shows nowhere else:")
            out(reset.link)
            out(
                f"Then an admin of {reset.team} approves the new keys in the admin area "
                "(Accounts), pasting this link when asked."
            )
        case "user", "reset-2fa":
            secret = asyncio.run(_with_db(settings, lambda db: user_reset_2fa(db, args.username)))
            out(f"TOTP secret: {secret}")
            out(f"TOTP URI:    {_otpauth(secret, args.username, settings)}")
        case "user", "set-role":
            change = StaffChange(role=check_role(args.role))
            asyncio.run(_with_db(settings, lambda db: user_change(db, args.username, change)))
            out(f"{args.username} is now {args.role}")
        case "user", "set-cap":
            change = StaffChange(cap=_cap(args.cap), set_cap=True)
            asyncio.run(_with_db(settings, lambda db: user_change(db, args.username, change)))
            held = change.cap or f"{settings.counsellor_cap} (the default)"
            out(f"{args.username} may hold {held} chats at once")
        case "team", "rename":
            asyncio.run(_with_db(settings, lambda db: team_change(db, args.slug, name=args.name)))
            out(f"renamed {args.slug}: {args.name}")
        case "team", "archive":
            archived = not args.undo
            asyncio.run(
                _with_db(settings, lambda db: team_change(db, args.slug, archived=archived))
            )
            out(f"archived {args.slug}: no new chats" if archived else f"restored {args.slug}")
        case "team", "transcript":
            on = args.switch == "on"
            asyncio.run(_with_db(settings, lambda db: team_change(db, args.slug, transcript=on)))
            out(f"{args.slug}: the widget {'offers' if on else 'does not offer'} a transcript")
        case "team", "topics":
            topics = asyncio.run(
                _with_db(
                    settings,
                    lambda db: team_topics(db, args.slug, args.add, args.rename, args.remove),
                )
            )
            for topic in topics:
                out(f"{topic.slug}\t{topic.name}")
        case "team", "add":
            asyncio.run(
                _with_db(settings, lambda db: team_add(db, args.slug, args.name, args.topic))
            )
            out(f"created team {args.slug}")
        case "team", "list":
            for t in asyncio.run(_with_db(settings, team_list)):
                out(
                    f"{t['slug']}\t{t['name']}\ttopics={','.join(t['topics']) or '-'}"
                    f"\torigins={','.join(t['origins']) or '-'}"
                    + ("\tarchived" if t["archived"] else "")
                )
        case "team", "destroy-epoch":
            destroyed = asyncio.run(
                _with_db(settings, lambda db: destroy_epoch(db, settings, args.slug, args.epoch))
            )
            out(f"destroyed {', '.join(destroyed) or 'nothing (no such key)'}")
        case "team", "origins":
            for origin in asyncio.run(
                _with_db(settings, lambda db: team_origins(db, args.slug, args.add, args.remove))
            ):
                out(origin)
        case "hours", _:
            for line in asyncio.run(_with_db(settings, lambda db: hours_command(db, args))):
                out(line)
        case (("backup" | "restore"), _):
            out(asyncio.run(_backup(settings, args)))
        case (("retention" | "hold" | "audit"), _):
            for line in asyncio.run(_with_db(settings, lambda db: _records(db, settings, args))):
                out(line)
        case "stats", _:
            sys.stdout.write(asyncio.run(_with_db(settings, lambda db: _stats(db, args))))
        case "privacy-report", _:
            sys.stdout.write(
                asyncio.run(_with_db(settings, lambda db: _privacy(db, settings, args)))
            )


async def _stats(db: Database, args: argparse.Namespace) -> str:
    from chatserver.records.stats import StatsError, command_output

    try:
        async with db.read() as conn:
            return await command_output(conn, args.slug, args.first, args.last, args.csv, _now())
    except StatsError as exc:
        raise CommandError(str(exc)) from None


async def _privacy(db: Database, settings: Settings, args: argparse.Namespace) -> str:
    from chatserver.records.privacy import PrivacyError
    from chatserver.records.privacy_render import command_output

    try:
        return await command_output(db, settings, _now(), args.format, args.notice, args.team)
    except PrivacyError as exc:
        raise CommandError(str(exc)) from None


async def _backup(settings: Settings, args: argparse.Namespace) -> str:
    from pathlib import Path

    from chatserver.ops.backup import BackupError, backup, restore

    url = settings.keystore if args.keystore else settings.database_url
    what = "keystore" if args.keystore else "database"
    try:
        if args.command == "restore":
            await restore(url, Path(args.file))
            return f"{what} restored from {args.file}"
        await backup(url, Path(args.file))
    except BackupError as exc:
        raise CommandError(str(exc)) from None
    if args.keystore:
        return f"keystore backed up to {args.file}"
    return (
        f"database backed up to {args.file}\n"
        "The keystore is not in it: keep keystore backups apart and short-lived."
    )


async def _records(db: Database, settings: Settings, args: argparse.Namespace) -> list[str]:
    """The retention, hold and audit commands (their work lives in retention/ and audit)."""
    from chatserver.records.audit import export_csv, verify_chain
    from chatserver.retention_rules import RuleError
    from retention import cli as rcli

    try:
        match args.command, args.action:
            case "retention", "run":
                return rcli.report_lines(await rcli.run_sweep(db, settings))
            case "retention", "preview":
                return await rcli.preview_lines(db, settings, args.team, args.set, args.days)
            case "retention", "rules":
                return await rcli.rules_lines(db, settings, args.slug, args.set, args.reset, "cli")
            case "retention", "worker":
                await rcli.worker(db, settings)
                return []
            case "hold", _:
                return await rcli.hold_command(db, args)
            case "audit", "verify":
                check = await verify_chain(db)
                if not check.ok:
                    raise CommandError(
                        f"audit log broken at entry {check.broken_at}: {check.reason} "
                        f"({check.entries} entries before it check out)"
                    )
                return [f"audit log intact: {check.entries} entries"]
            case _:
                return [(await export_csv(db)).rstrip("\n")]
    except RuleError as exc:
        raise CommandError(str(exc)) from None


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    # Whatever this command creates (databases with their -wal and -shm, backups, the
    # demo's keys) is for the account that runs the server only.
    umask = os.umask(0o077)
    try:
        settings = load_settings(args.config)
        _setup_logging(settings.log_level)
        run_command(args, settings)
    except (CommandError, ConfigError, ChatError, DatabaseMissing) as exc:
        print(f"chatserver: {exc}", file=sys.stderr)
        return 2
    finally:
        os.umask(umask)
    return 0


if __name__ == "__main__":
    sys.exit(main())
