"""Sign-in does not depend on the address the server is reached by: passwords are salted
with the installation id (made once, kept by backups), accounts made before it keep the
origin they were made under, and asking for a username's salt does not tell whether the
account exists. On SQLite and PostgreSQL, through real servers."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from typing import Any

import aiohttp
import pytest
from conftest import ORIGIN, PASSWORD, SALT, Server, caller, dump, keystore_for
from sqlalchemy import select, update
from test_cli import chatserver, ok

from chatserver.config import load_settings
from chatserver.sdk.peers import ChatRefused, login, login_salt
from chatserver.staff import auth
from chatserver.storage import models as m
from chatserver.storage.db import Database, migrate


async def salt_answer(server: Server, body: Any) -> tuple[int, Any]:
    async with (
        aiohttp.ClientSession() as http,
        http.post(server.url + "/api/login/salt", json=body, headers={"Origin": ORIGIN}) as r,
    ):
        return r.status, await r.json()


async def test_the_salt_does_not_tell_which_accounts_exist(server: Server) -> None:
    """An account made now, any spelling of its name, and a name nobody has get the same
    answer (the installation id); asking changes nothing; a bad body is refused."""
    await server.staff("anna", ["alpha"])
    before = await dump(server.settings.database_url)
    answers = [await salt_answer(server, {"username": u}) for u in ("anna", " ANNA ", "nobody")]
    assert answers == [(200, {"salt": SALT})] * 3
    assert await dump(server.settings.database_url) == before
    for bad in ({}, {"username": 7}, ["anna"]):
        status, body = await salt_answer(server, bad)
        assert status == 400 and body["error"]["code"] == "malformed", body


async def test_an_account_signs_in_under_any_address(make_server: Callable[..., Any]) -> None:
    """An account made while the server had one public origin signs in, with its password,
    at a server with another origin on the same database: the TLS proxy, the real domain
    or another port change nothing."""
    old: Server = await make_server(public_origin="http://127.0.0.1:8080")
    await old.team("alpha")
    await old.staff("anna", ["alpha"])
    new: Server = await make_server(public_origin="https://chat.agency.example")
    cookie, csrf = await login(
        new.url, "anna", password=PASSWORD, origin="https://chat.agency.example"
    )
    assert cookie and csrf
    # The wrong password still fails there, with the same message as before.
    with pytest.raises(ChatRefused, match="wrong username, password or code"):
        await login(new.url, "anna", password="not the password at all", origin=new.settings.origin)


async def test_an_account_from_before_keeps_its_origin_salt(server: Server) -> None:
    """An account made before installation ids (its salt is the origin it was made under)
    is told that origin and signs in with it wherever the server now runs."""
    staff_id = await server.staff("olga", ["alpha"])
    legacy = "http://old-address.example:8080"
    credential = auth.derive_credential(PASSWORD, legacy, "olga")
    async with server.db.write() as conn:
        await conn.execute(
            update(m.staff)
            .where(m.staff.c.id == staff_id)
            .values(kdf_salt=legacy, credential_hash=auth.hash_credential(credential))
        )
    assert await login_salt(server.url, "olga", origin=ORIGIN) == legacy
    cookie, _ = await login(server.url, "olga", password=PASSWORD, origin=ORIGIN)
    me = await caller(server, None)
    me.cookie = cookie
    status, body = await me("GET", "/api/me")
    assert status == 200 and body["staff"]["salt"] == legacy


def test_migration_keeps_older_accounts_signing_in(tmp_path: Any) -> None:
    """``chatserver migrate`` from the schema before installation ids records the origin of
    its settings as the salt of the accounts that exist, and makes a random installation
    id that new accounts get; both sign in afterwards at another address."""
    path = tmp_path / "chat.db"
    url = f"sqlite+aiosqlite:///{path}"
    migrate(url, "0010")
    origin = "https://chat.agency.example"

    async def old_account() -> None:
        db = Database(url)
        try:
            async with db.write() as conn:
                await conn.execute(
                    m.staff.insert().values(
                        id="sold",
                        username="olga",
                        display_name="Olga",
                        role="counsellor",
                        credential_hash=auth.hash_credential(
                            auth.derive_credential(PASSWORD, origin, "olga")
                        ),
                        created_at=1,
                    )
                )
        finally:
            await db.dispose()

    asyncio.run(old_account())  # the insert names only columns the old table has
    out = ok(chatserver(url, tmp_path, "migrate", CHAT_PUBLIC_ORIGIN=origin))
    assert out.strip() == f"migrated {path} from schema 0010 to 0011"
    ok(
        chatserver(
            url,
            tmp_path,
            "user",
            "add",
            "nina",
            "--name",
            "Nina",
            "--password-stdin",
            "--no-totp",
            stdin=PASSWORD + "\n",
            CHAT_PUBLIC_ORIGIN=origin,
        )
    )

    async def salts() -> tuple[str, dict[str, str]]:
        db = Database(url)
        try:
            async with db.read() as conn:
                installation = (await conn.execute(select(m.installation.c.id))).scalar_one()
                rows = await conn.execute(select(m.staff.c.username, m.staff.c.kdf_salt))
                return str(installation), {r.username: r.kdf_salt for r in rows}
        finally:
            await db.dispose()

    installation, by_user = asyncio.run(salts())
    assert re.fullmatch(r"[0-9a-f]{32}", installation)
    assert by_user == {"olga": origin, "nina": installation}
    # Another database gets another id: it is random, not derived from anything.
    other = tmp_path / "other.db"
    migrate(f"sqlite+aiosqlite:///{other}")
    assert asyncio.run(_installation(f"sqlite+aiosqlite:///{other}")) != installation

    async def sign_in_elsewhere() -> None:
        settings = load_settings(
            environ={},
            host="127.0.0.1",
            port=0,
            public_origin="http://127.0.0.1:9999",
            database_url=url,
            keystore_url=keystore_for(url),
            cookie_secure=False,
            require_totp=False,
        )
        from aiohttp import web

        from chatserver.web.app import create_app

        runner = web.AppRunner(create_app(settings))
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        base = f"http://127.0.0.1:{runner.addresses[0][1]}"
        try:
            for username in ("olga", "nina"):
                await login(base, username, password=PASSWORD, origin=settings.origin)
        finally:
            await runner.cleanup()

    asyncio.run(sign_in_elsewhere())


async def _installation(url: str) -> str:
    db = Database(url)
    try:
        async with db.read() as conn:
            return str((await conn.execute(select(m.installation.c.id))).scalar_one())
    finally:
        await db.dispose()


async def test_the_privacy_report_names_the_installation_id(server: Server) -> None:
    """Admins find the installation id (public) in the privacy report."""
    await server.staff("root", [], role="admin")
    admin = await caller(server, "root")
    status, data = await admin("GET", "/api/admin/privacy-report")
    assert status == 200 and data["installation"]["id"] == SALT
    status, text = await admin("GET", "/api/admin/privacy-report?format=md")
    assert status == 200 and f"Installation id: `{SALT}`" in text
