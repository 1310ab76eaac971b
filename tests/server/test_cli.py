"""The operator CLI used as a person uses it: ``chatserver`` in a subprocess, with its
settings in the environment or a TOML file, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import pyotp
import pytest
from conftest import ORIGIN, PASSWORD, Server, credential, dump, keystore_for
from sqlalchemy import text

from chatserver import e2e
from chatserver.sdk.peers import login_salt
from chatserver.staff import auth
from chatserver.storage.db import Database, head_revision

_SCRIPT = Path(sys.executable).with_name("chatserver")
COMMAND = [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-m", "chatserver.ops.cli"]

Result = subprocess.CompletedProcess[str]
Run = Callable[..., Result]


def environment(url: str | None, **extra: str) -> dict[str, str]:
    """The caller's environment without any ``CHAT_*`` setting, plus the given ones."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHAT_")}
    env["CHAT_PUBLIC_ORIGIN"] = ORIGIN
    if url is not None:
        env["CHAT_DATABASE_URL"] = url
        if keystore_for(url):
            env["CHAT_KEYSTORE_URL"] = keystore_for(url)
    env.update(extra)
    return env


def chatserver(url: str | None, cwd: Path, *args: str, stdin: str = "", **env: str) -> Result:
    """Run ``chatserver ARGS`` to completion, as an operator would in a shell."""
    return subprocess.run(
        [*COMMAND, *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=environment(url, **env),
        cwd=cwd,
        timeout=90,
        check=False,
    )


@pytest.fixture
def run(db_url: str, tmp_path: Path) -> Run:
    """``chatserver`` against the test's fresh, migrated database."""

    def run_(*args: str, stdin: str = "", **env: str) -> Result:
        return chatserver(db_url, tmp_path, *args, stdin=stdin, **env)

    return run_


def ok(result: Result) -> str:
    """The standard output of a command that must have succeeded."""
    assert result.returncode == 0, f"exit {result.returncode}: {result.stderr}"
    assert "Traceback" not in result.stderr
    return result.stdout


def refused(result: Result, *fragments: str) -> str:
    """The message of a command that must have exited 2 with a one-line explanation."""
    assert result.returncode == 2, f"exit {result.returncode}: {result.stdout}{result.stderr}"
    assert "Traceback" not in result.stderr, result.stderr
    # Log lines (at the default level, info) may come first; the explanation is last.
    message = result.stderr.strip().splitlines()[-1]
    assert message.startswith("chatserver: "), result.stderr
    for fragment in fragments:
        assert fragment in message, message
    return message


def cli_audit(rows: dict[str, list[tuple[Any, ...]]]) -> list[tuple[str, str, dict[str, Any]]]:
    """(action, target, detail) of every audit entry written by the CLI."""
    return [(r[3], r[4], json.loads(r[5])) for r in rows["audit"] if r[2] == "cli"]


def add_user(run: Run, username: str, *flags: str, password: str = PASSWORD) -> str:
    out = ok(
        run(
            "user",
            "add",
            username,
            "--name",
            username.title(),
            "--password-stdin",
            *flags,
            stdin=password + "\n",
        )
    )
    match = re.search(r"^created (s[0-9a-f]{16})$", out, re.M)
    assert match, out
    return match.group(1)


async def in_thread(run: Run, *args: str, stdin: str = "") -> Result:
    """Run a command without blocking the event loop a test server lives on."""
    return await asyncio.to_thread(run, *args, stdin=stdin)


async def post_login(
    url: str, username: str, cred: str, totp: str = ""
) -> tuple[int, dict[str, Any], str]:
    """(status, JSON body, cookie header) of one login."""
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            url + "/api/login",
            json={"username": username, "credential": cred, "totp": totp},
            headers={"Origin": ORIGIN},
        ) as response,
    ):
        cookie = "; ".join(f"{k}={v.value}" for k, v in response.cookies.items())
        return response.status, await response.json(), cookie


async def me_status(url: str, cookie: str) -> int:
    async with (
        aiohttp.ClientSession() as http,
        http.get(url + "/api/me", headers={"Cookie": cookie}) as response,
    ):
        return response.status


# --------------------------------------------------------------------------- migrate
def mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


def test_migrate_creates_a_new_sqlite_file_and_is_idempotent(tmp_path: Path) -> None:
    """``migrate`` creates the file (and its folder) on first run, only its owner may read
    them, it says what it did, and changes nothing after."""
    path = tmp_path / "var" / "new.db"
    url = f"sqlite+aiosqlite:///{path}"
    head = head_revision()
    assert ok(chatserver(url, tmp_path, "migrate")).strip() == (
        f"created the database {path} (schema {head})"
    )
    assert path.is_file()
    assert mode(path.parent) == 0o700
    assert mode(path) == mode(tmp_path / "var" / "new.keys.db") == 0o600
    before = asyncio.run(dump(url))
    assert len(before.pop("installation")) == 1
    assert all(rows == [] for rows in before.values())
    assert (
        ok(chatserver(url, tmp_path, "migrate")).strip() == f"{path} is up to date (schema {head})"
    )
    after = asyncio.run(dump(url))
    after.pop("installation")
    assert after == before
    assert ok(chatserver(url, tmp_path, "team", "list")) == ""


def test_a_running_server_keeps_its_files_private(tmp_path: Path) -> None:
    """The write-ahead log and shared-memory files SQLite makes beside a database the CLI
    created are owner-only too (SQLite copies the database file's mode)."""
    path = tmp_path / "chat.db"
    url = f"sqlite+aiosqlite:///{path}"
    ok(chatserver(url, tmp_path, "migrate"))
    ok(chatserver(url, tmp_path, "team", "add", "alpha", "--name", "Alpha"))

    async def write() -> list[int]:
        db = Database(url)
        try:
            async with db.write() as conn:
                await conn.execute(text("UPDATE teams SET name = 'A' WHERE slug = 'alpha'"))
            return [mode(Path(f"{path}{suffix}")) for suffix in ("", "-wal", "-shm")]
        finally:
            await db.dispose()

    assert asyncio.run(write()) == [0o600, 0o600, 0o600]


def test_commands_other_than_migrate_never_create_a_database(tmp_path: Path) -> None:
    """Run in the wrong folder (the default database_url is relative), a command says
    where it looked and creates nothing; ``serve`` without ``--migrate`` too."""
    env = {"CHAT_PORT": "0"}
    for args in (("user", "list"), ("team", "add", "x", "--name", "X"), ("serve",)):
        message = refused(chatserver(None, tmp_path, *args, **env), "there is no database at")
        assert str(tmp_path / "var" / "chat.db") in message
        assert "chatserver migrate" in message
    assert list(tmp_path.iterdir()) == []


def test_serve_refuses_a_database_without_its_keystore(tmp_path: Path) -> None:
    """A database whose keystore file is missing is not served with a new, empty one (it
    would open no stored conversation): the message names the keystore's path."""
    path = tmp_path / "chat.db"
    url = f"sqlite+aiosqlite:///{path}"
    ok(chatserver(url, tmp_path, "migrate"))
    (tmp_path / "chat.keys.db").unlink()
    message = refused(chatserver(url, tmp_path, "serve", CHAT_PORT="0"), "there is no keystore")
    assert str(tmp_path / "chat.keys.db") in message
    assert not (tmp_path / "chat.keys.db").exists()


def test_server_warns_when_its_files_are_readable_by_others(tmp_path: Path) -> None:
    """A database file others may read (copied in with the wrong mode, say) is served, with
    a warning naming the file at start; the warning names no secret."""
    path = tmp_path / "chat.db"
    url = f"sqlite+aiosqlite:///{path}"
    ok(chatserver(url, tmp_path, "migrate"))
    path.chmod(0o644)
    server = subprocess.Popen(
        [*COMMAND, "serve"],
        env=environment(url, CHAT_PORT="0"),
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None and server.stderr is not None
        assert server.stdout.readline().startswith("listening on ")
    finally:
        server.send_signal(signal.SIGTERM)
        _, err = server.communicate(timeout=30)
    assert server.returncode == 0, err
    warnings = [line for line in err.splitlines() if "file_readable_by_others" in line]
    # SQLite gave the write-ahead log and shared memory the database file's mode.
    named = {re.search(r"path=(\S+) mode=644 ", line).group(1) for line in warnings}  # type: ignore[union-attr]
    assert named == {str(path), f"{path}-wal", f"{path}-shm"}, err


def test_migrate_on_a_current_database_changes_nothing(run: Run, db_url: str) -> None:
    """``migrate`` on an up-to-date database (with data) is a no-op on both backends."""
    ok(run("team", "add", "alpha", "--name", "Alpha", "--topic", "general:General"))
    before = asyncio.run(dump(db_url))
    assert ok(run("migrate")).strip().endswith(f" is up to date (schema {head_revision()})")
    assert asyncio.run(dump(db_url)) == before


def test_commands_on_an_unmigrated_database_say_to_migrate(tmp_path: Path) -> None:
    """A management command on an empty database exits 2 and says to run ``migrate``."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}"
    refused(chatserver(url, tmp_path, "team", "list"), "chatserver migrate")


# --------------------------------------------------------------------------- teams
def test_team_add_and_list(run: Run, db_url: str) -> None:
    """A team with topics is created, listed, refused twice, audited as actor ``cli``."""
    out = ok(
        run(
            "team",
            "add",
            "alpha",
            "--name",
            "Alpha",
            "--topic",
            "general:General",
            "--topic",
            "school",
        )
    )
    assert out.strip() == "created team alpha"
    ok(run("team", "add", "beta", "--name", "Beta Team"))
    assert ok(run("team", "list")).splitlines() == [
        "alpha\tAlpha\ttopics=general,school\torigins=-",
        "beta\tBeta Team\ttopics=-\torigins=-",
    ]
    refused(run("team", "add", "alpha", "--name", "Again"), "team 'alpha' exists already")
    refused(run("team", "add", "Bad Slug", "--name", "X"), "'Bad Slug' is not a slug")
    refused(run("team", "add", "gamma", "--name", "G", "--topic", "No Way:x"), "not a slug")

    rows = asyncio.run(dump(db_url))
    assert sorted((r[1], r[2]) for r in rows["teams"]) == [
        ("alpha", "Alpha"),
        ("beta", "Beta Team"),
    ]
    topics = {(r[2], r[3]) for r in rows["topics"]}
    assert {("general", "General"), ("school", "school")} <= topics
    assert cli_audit(rows) == [
        ("team.created", "alpha", {"topics": 2}),
        ("team.created", "beta", {"topics": 0}),
    ]


def test_team_origins_are_normalised_added_and_removed(run: Run, db_url: str) -> None:
    """Origins are stored as scheme://host[:port], without duplicates, and can be removed."""
    ok(run("team", "add", "alpha", "--name", "Alpha"))
    out = ok(
        run(
            "team",
            "origins",
            "alpha",
            "--add",
            "https://Agency.EXAMPLE",
            "--add",
            "http://localhost:3000/",
            "--add",
            "https://agency.example:443/",
        )
    )
    assert out.splitlines() == ["http://localhost:3000", "https://agency.example"]
    assert ok(run("team", "origins", "alpha")).splitlines() == out.splitlines()
    assert "origins=http://localhost:3000,https://agency.example" in ok(run("team", "list"))

    out = ok(run("team", "origins", "alpha", "--remove", "https://agency.example/"))
    assert out.splitlines() == ["http://localhost:3000"]
    rows = asyncio.run(dump(db_url))
    assert [r[2] for r in rows["origins"]] == ["http://localhost:3000"]
    assert cli_audit(rows)[1:] == [
        ("origin.added", "alpha", {"origin": "https://agency.example"}),
        ("origin.added", "alpha", {"origin": "http://localhost:3000"}),
        ("origin.removed", "alpha", {"origin": "https://agency.example"}),
    ]


def test_team_origins_refuses_what_is_not_an_origin(run: Run, db_url: str) -> None:
    """``ftp://``, paths, credentials and bare hosts exit 2 with a message; nothing is kept."""
    ok(run("team", "add", "alpha", "--name", "Alpha"))
    before = asyncio.run(dump(db_url))
    for bad, why in [
        ("ftp://x", "not an origin: 'ftp://x'"),
        ("agency.example", "not an origin"),
        ("https://x/path", "an origin has no path"),
        ("https://x/?q=1", "an origin has no path"),
        ("https://user@x", "an origin has no path, query or credentials"),
    ]:
        refused(run("team", "origins", "alpha", "--add", bad), why)
    # All or nothing: the valid origin given alongside an invalid one is not stored.
    refused(run("team", "origins", "alpha", "--add", "https://ok.example", "--add", "ftp://x"))
    assert asyncio.run(dump(db_url)) == before
    refused(run("team", "origins", "nope", "--add", "https://ok.example"), "no team 'nope'")


# --------------------------------------------------------------------------- staff
def test_user_add_prints_the_totp_secret_and_uri(run: Run, db_url: str) -> None:
    """The password comes on stdin; the output has a TOTP secret and a matching otpauth URI."""
    ok(run("team", "add", "alpha", "--name", "Alpha"))
    result = run(
        "user",
        "add",
        "anna",
        "--name",
        "Anna",
        "--team",
        "alpha",
        "--password-stdin",
        stdin=PASSWORD + "\n",
    )
    lines = ok(result).splitlines()
    assert re.fullmatch(r"created s[0-9a-f]{16}", lines[0])
    staff_id = lines[0].removeprefix("created ")
    secret = re.fullmatch(r"TOTP secret: ([A-Z2-7]{32})", lines[1])
    assert secret, lines
    uri = re.fullmatch(r"TOTP URI:\s+(otpauth://totp/\S+)", lines[2])
    assert uri, lines
    parsed = pyotp.parse_uri(uri.group(1))
    assert parsed.secret == secret.group(1) and parsed.name == "anna"
    assert PASSWORD not in result.stdout + result.stderr

    rows = asyncio.run(dump(db_url))
    [staff] = rows["staff"]
    assert (staff[0], staff[1], staff[2], staff[5]) == (staff_id, "anna", "Anna", secret.group(1))
    stored_hash = staff[4]
    assert stored_hash.startswith("$argon2id$")
    # The credential is derived with the server's origin, as a console derives it.
    assert auth.verify_credential(stored_hash, credential("anna"))
    assert ok(run("user", "list")).splitlines() == ["anna\tcounsellor\talpha\tAnna"]
    assert cli_audit(rows)[-1] == (
        "staff.created",
        staff_id,
        {"role": "counsellor", "teams": ["alpha"]},
    )


def test_user_add_without_totp_and_list(run: Run) -> None:
    """``--no-totp`` prints no secret and the list flags the account ``no-2fa``."""
    ok(run("team", "add", "alpha", "--name", "Alpha"))
    ok(run("team", "add", "beta", "--name", "Beta"))
    out = ok(
        run(
            "user",
            "add",
            "ben",
            "--name",
            "Ben B",
            "--role",
            "supervisor",
            "--team",
            "alpha",
            "--team",
            "beta",
            "--password-stdin",
            "--no-totp",
            stdin=PASSWORD + "\n",
        )
    )
    assert "TOTP" not in out and "otpauth" not in out
    add_user(run, "anna")
    assert ok(run("user", "list")).splitlines() == [
        "anna\tcounsellor\t\tAnna",
        "ben\tsupervisor\talpha,beta\tBen B\tno-2fa",
    ]


def test_user_add_refusals_change_nothing(run: Run, db_url: str) -> None:
    """Short password (16 for an admin), one with the username or a team in it, duplicate
    (any case), unknown team, a username outside ASCII letters, digits and ._-: exit 2 and
    no new row."""
    ok(run("team", "add", "alpha", "--name", "Alpha"))
    add_user(run, "anna", "--team", "alpha")
    before = asyncio.run(dump(db_url))
    args = ("user", "add", "bob", "--name", "Bob", "--password-stdin")
    refused(run(*args, stdin="11 characte\n"), "at least 12 characters")
    refused(run(*args, stdin=""), "at least 12 characters")
    refused(run(*args, stdin="abababababababab\n"), "at least 5 different characters")
    admin = ("user", "add", "root", "--name", "Root", "--role", "admin", "--password-stdin")
    refused(run(*admin, stdin="fifteen chars!!\n"), "an admin's password needs at least 16")
    refused(run(*args, stdin="hello bob, hello\n"), "must not contain the username")
    refused(run(*args, "--team", "alpha", stdin="my ALPHA password\n"), "or a team")
    refused(
        run("user", "add", "Anna", "--name", "A", "--password-stdin", stdin=PASSWORD),
        "user 'anna' exists already",
    )
    refused(run(*args, "--team", "alpha", "--team", "nope", stdin=PASSWORD), "no team 'nope'")
    for bad in ("jörg", "anna smith", "x" * 81):
        refused(
            run("user", "add", bad, "--name", "X", "--password-stdin", stdin=PASSWORD),
            "not a valid username",
        )
    assert asyncio.run(dump(db_url)) == before


def test_unknown_user_exits_2(run: Run) -> None:
    """``disable`` and ``reset-2fa`` of an account that does not exist exit 2."""
    refused(run("user", "disable", "ghost"), "there is no user 'ghost'")
    refused(run("user", "reset-2fa", "ghost"), "there is no user 'ghost'")
    refused(run("user", "reset-password", "ghost"), "there is no user 'ghost'")


def test_reset_password_refusals_change_nothing(run: Run, db_url: str) -> None:
    """A reset needs a team whose admin can approve the new keys: an account in no team,
    in several without ``--team``, or a team without keys yet is refused as it stands.
    (The whole reset, link and approval, is tested in the browser: test_admin_keys.py.)"""
    ok(run("team", "add", "alpha", "--name", "Alpha"))
    ok(run("team", "add", "beta", "--name", "Beta"))
    add_user(run, "nobody")
    add_user(run, "anna", "--team", "alpha", "--team", "beta")
    before = asyncio.run(dump(db_url))
    refused(run("user", "reset-password", "nobody"), "'nobody' is in no team", "--team")
    refused(run("user", "reset-password", "anna"), "in the teams alpha, beta", "--team")
    refused(
        run("user", "reset-password", "anna", "--team", "alpha"),
        "team 'alpha' has no signed roster yet",
    )
    refused(run("user", "reset-password", "anna", "--team", "gamma"), "no team 'gamma'")
    assert asyncio.run(dump(db_url)) == before


async def test_user_disable_ends_sessions_and_logins(
    make_server: Callable[..., Any], run: Run, db_url: str
) -> None:
    """A disabled account loses its session and cannot sign in again (401)."""
    server: Server = await make_server()
    ok(await in_thread(run, "team", "add", "alpha", "--name", "Alpha"))
    ok(
        await in_thread(
            run,
            "user",
            "add",
            "anna",
            "--name",
            "Anna",
            "--team",
            "alpha",
            "--password-stdin",
            "--no-totp",
            stdin=PASSWORD,
        )
    )
    status, _, cookie = await post_login(server.url, "anna", credential("anna"))
    assert status == 200 and await me_status(server.url, cookie) == 200

    assert ok(await in_thread(run, "user", "disable", "anna")).strip() == "disabled anna"
    assert await me_status(server.url, cookie) == 401
    status, body, _ = await post_login(server.url, "anna", credential("anna"))
    assert status == 401 and body["error"]["code"] == "unauthorized"
    assert ok(await in_thread(run, "user", "list")).splitlines() == [
        "anna\tcounsellor\talpha\tAnna\tdisabled no-2fa"
    ]
    rows = await dump(db_url)
    assert rows["sessions"] == []
    assert cli_audit(rows)[-1][0] == "staff.disabled"


async def test_user_reset_2fa_requires_the_new_code(
    make_server: Callable[..., Any], run: Run, db_url: str
) -> None:
    """``reset-2fa`` prints a new secret, ends sessions, and login then needs its code."""
    server: Server = await make_server()
    ok(
        await in_thread(
            run,
            "user",
            "add",
            "anna",
            "--name",
            "Anna",
            "--password-stdin",
            "--no-totp",
            stdin=PASSWORD,
        )
    )
    status, _, cookie = await post_login(server.url, "anna", credential("anna"))
    assert status == 200

    out = ok(await in_thread(run, "user", "reset-2fa", "anna"))
    secret = re.search(r"^TOTP secret: ([A-Z2-7]{32})$", out, re.M)
    assert secret, out
    uri = re.search(r"^TOTP URI:\s+(\S+)$", out, re.M)
    assert uri and pyotp.parse_uri(uri.group(1)).secret == secret.group(1)
    assert await me_status(server.url, cookie) == 401
    status, _, _ = await post_login(server.url, "anna", credential("anna"))
    assert status == 401
    code = pyotp.TOTP(secret.group(1)).now()
    status, _, _ = await post_login(server.url, "anna", credential("anna"), code)
    assert status == 200
    assert "no-2fa" not in ok(await in_thread(run, "user", "list"))
    assert cli_audit(await dump(db_url))[-1][0] == "staff.totp_reset"


# --------------------------------------------------------------------------- settings
def test_bad_setting_value_exits_2(run: Run) -> None:
    """An environment setting that does not parse exits 2 and names the setting."""
    refused(run("team", "list", CHAT_PORT="abc"), "setting port: invalid value 'abc'")
    refused(run("team", "list", CHAT_COOKIE_SECURE="maybe"), "setting cookie_secure")
    refused(run("team", "list", CHAT_LOG_LEVEL="loud"), "setting log_level")
    refused(run("team", "list", CHAT_PUBLIC_ORIGIN="chat.example"), "not an origin")


def test_config_file(db_url: str, tmp_path: Path) -> None:
    """``--config`` and ``CHAT_CONFIG`` are read; an unknown key exits 2 and names it."""
    config = tmp_path / "chat.toml"
    keys = f'keystore_url = "{keystore_for(db_url)}"\n' if keystore_for(db_url) else ""
    config.write_text(f'database_url = "{db_url}"\nport = 9000\n{keys}', "utf-8")
    ok(chatserver(None, tmp_path, "--config", str(config), "team", "add", "alpha", "--name", "A"))
    assert ok(chatserver(None, tmp_path, "team", "list", CHAT_CONFIG=str(config))).startswith(
        "alpha\t"
    )
    config.write_text(f'database_url = "{db_url}"\ncolour = "blue"\n{keys}', "utf-8")
    refused(
        chatserver(None, tmp_path, "--config", str(config), "team", "list"),
        "unknown setting 'colour'",
        str(config),
    )
    config.write_text('port = "abc"\n', "utf-8")
    refused(chatserver(db_url, tmp_path, "--config", str(config), "team", "list"), "port")


def test_missing_config_file_exits_2(tmp_path: Path) -> None:
    """A ``--config`` path that does not exist exits 2 with a message."""
    missing = tmp_path / "nope.toml"
    refused(chatserver(None, tmp_path, "--config", str(missing), "team", "list"), str(missing))


def test_config_file_with_a_syntax_error_exits_2(tmp_path: Path) -> None:
    """A TOML file that does not parse exits 2 with a message naming the file."""
    config = tmp_path / "chat.toml"
    config.write_text("port = \n", "utf-8")
    refused(chatserver(None, tmp_path, "--config", str(config), "team", "list"), str(config))


# --------------------------------------------------------------------------- demo
async def test_demo_login_works_over_http(
    make_server: Callable[..., Any], run: Run, db_url: str
) -> None:
    """``demo`` prints logins that sign in over HTTP, each with its identity keys wrapped
    under its password and named by the signed roster; a second run keeps logins and team
    key."""
    out = ok(await in_thread(run, "demo"))
    logins = dict(re.findall(r"^Login \((?:counsellor|admin)\): (\S+) / (\S+)$", out, re.M))
    assert set(logins) == {"demo", "demo2", "admin"}, out
    assert "Demo team:     demo" in out and f"Start page:    {ORIGIN}/" in out
    assert f"Duty console:  {ORIGIN}/console" in out
    pin = re.search(r"^Team key pin:\s+([A-Za-z0-9_-]{43})$", out, re.M)
    assert pin

    server: Server = await make_server()
    password = logins["demo"]
    salt = await login_salt(server.url, "demo", origin=ORIGIN)
    master = await asyncio.to_thread(e2e.derive_master, password, salt, "demo")
    status, body, cookie = await post_login(server.url, "demo", e2e.auth_credential(master))
    assert status == 200, body
    assert body["staff"]["username"] == "demo"
    async with aiohttp.ClientSession(headers={"Cookie": cookie}) as http:
        async with http.get(server.url + "/api/me") as response:
            assert (await response.json())["teams"] == ["demo"]
        async with http.get(server.url + "/api/me/identity") as response:
            identity = await response.json()
        async with http.get(server.url + "/api/teams/demo/roster") as response:
            roster = e2e.check_roster(await response.json(), pin_value=pin.group(1), team="demo")
        async with http.get(server.url + "/api/teams/demo/team-keys/mine") as response:
            team_keys = await response.json()
    me = roster.members[body["staff"]["id"]]
    dh, _ = e2e.unwrap_identity(
        e2e.wrap_key(master),
        salt,
        "demo",
        me.dh_pub,
        me.sig_pub,
        base64.b64decode(identity["wrapped"]),
    )
    admin = next(x for x in roster.members.values() if x.role == "admin")
    assert len(team_keys) >= 14
    for item in team_keys:
        env, _ = e2e.open_envelope(dh, base64.b64decode(item["body"]), admin.sig_pub)
        assert (env.purpose, env.epoch) == ("team_key", item["epoch"])

    again = ok(await in_thread(run, "demo"))
    assert dict(re.findall(r"^Login \(\w+\): (\S+) / (\S+)$", again, re.M)) == logins
    assert f"Team key pin:  {pin.group(1)}" in again
    assert (await post_login(server.url, "demo", e2e.auth_credential(master)))[0] == 200
    rows = await dump(db_url)
    assert [r[1] for r in rows["teams"]] == ["demo"]
    assert len(rows["rosters"]) == 1  # the second run had nothing to change


# --------------------------------------------------------------------------- serve
async def serve_until_sigterm(url: str, cwd: Path, *serve_args: str) -> tuple[int, str]:
    """Start ``chatserver serve`` on port 0, check /healthz, stop it with SIGTERM;
    returns (exit code, standard error)."""
    proc = await asyncio.create_subprocess_exec(
        *COMMAND,
        "serve",
        *serve_args,
        env=environment(url, CHAT_PORT="0", CHAT_HOST="127.0.0.1"),
        cwd=cwd,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert proc.stdout is not None
    try:
        async with asyncio.timeout(60):
            line = (await proc.stdout.readline()).decode()
        match = re.fullmatch(r"listening on (http://127\.0\.0\.1:(\d+))\n", line)
        assert match, line
        assert int(match.group(2)) > 0
        # An answered request also means the server's signal handlers are in place.
        async with (
            aiohttp.ClientSession() as http,
            http.get(match.group(1) + "/healthz") as response,
        ):
            assert response.status == 200
            assert (await response.json())["status"] == "ok"
        proc.send_signal(signal.SIGTERM)
        async with asyncio.timeout(30):
            _, stderr = await proc.communicate()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode is not None
    return proc.returncode, stderr.decode()


async def test_serve_listens_answers_and_stops_on_sigterm(db_url: str, tmp_path: Path) -> None:
    """``serve`` on port 0 prints its address, answers /healthz and exits 0 on SIGTERM."""
    code, stderr = await serve_until_sigterm(db_url, tmp_path)
    assert code == 0, stderr
    assert "Traceback" not in stderr
    assert "event=listening" in stderr and "event=stopping" in stderr


async def test_serve_with_migrate_on_a_new_file(tmp_path: Path) -> None:
    """``serve --migrate`` on a database that does not exist yet creates it and serves."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'fresh.db'}"
    code, stderr = await serve_until_sigterm(url, tmp_path, "--migrate")
    assert code == 0, stderr
    assert (tmp_path / "fresh.db").is_file()


# The readiness callback of ``chatserver serve`` is where a supervisor learns the server is
# up; this one sends SIGTERM at that very moment, as an impatient supervisor may.
_SIGTERM_WHEN_READY = """
import asyncio, os, signal
from chatserver.config import load_settings
from chatserver.web.app import run
asyncio.run(run(load_settings(), lambda port: os.kill(os.getpid(), signal.SIGTERM)))
"""


def test_sigterm_as_soon_as_listening_is_a_clean_stop(db_url: str, tmp_path: Path) -> None:
    """SIGTERM that arrives the moment the server reports it listens still exits 0."""
    result = subprocess.run(
        [sys.executable, "-c", _SIGTERM_WHEN_READY],
        capture_output=True,
        text=True,
        env=environment(db_url, CHAT_PORT="0"),
        cwd=tmp_path,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def test_serve_on_an_unmigrated_database_exits_2(tmp_path: Path) -> None:
    """``serve`` without a schema exits 2 and tells the operator to run ``migrate``."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}"
    result = chatserver(url, tmp_path, "serve", CHAT_PORT="0")
    refused(result, "run `chatserver migrate`")
    assert "listening" not in result.stdout


def test_postgres_without_a_keystore_exits_2(tmp_path: Path) -> None:
    """With PostgreSQL the storage keys need their own database: refusing is the default."""
    url = "postgresql+asyncpg://chat@127.0.0.1:5432/chat"
    refused(
        chatserver(url, tmp_path, "team", "list", CHAT_KEYSTORE_URL=""), "keystore_url is required"
    )
    refused(
        chatserver(url, tmp_path, "team", "list", CHAT_KEYSTORE_URL=url),
        "must not be the database itself",
    )
