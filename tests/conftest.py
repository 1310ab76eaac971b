"""Shared fixtures: a real database (SQLite file or PostgreSQL), a real server on a free
port, real staff accounts made the way the CLI makes them.

Server tests take ``db_url``, which runs them once on SQLite and once on PostgreSQL.
PostgreSQL comes from ``CHAT_TEST_POSTGRES_URL`` (default: the local server, user
postgres, database test). Without it the PostgreSQL runs are skipped with the reason,
except under ``CI=true``, where they fail.
"""

from __future__ import annotations

import asyncio
import functools
import os
import secrets
import shutil
import socket
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from sqlalchemy import select, text, update
from sqlalchemy.engine import make_url

from chatserver.config import Settings, load_settings
from chatserver.ops import cli
from chatserver.ops.demo import DemoInfo, state_path
from chatserver.sdk.peers import ClientPeer, ConsolePeer, login
from chatserver.staff import auth
from chatserver.storage import models as m
from chatserver.storage.db import Database, migrate, sqlite_path
from chatserver.storage.keystore import Keystore
from chatserver.web.app import create_app

IN_CI = os.environ.get("CI", "").lower() == "true"
PG_URL = os.environ.get(
    "CHAT_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)
ORIGIN = "http://chat.test"
#: The installation id of every test database (made random by migration 0011, set to this
#: in the templates), so that ``credential()`` can salt as the server's accounts are salted.
SALT = "test-installation"
#: Keystores of PostgreSQL test databases: SQLite files here (the keystore's own code runs
#: on PostgreSQL in test_keystore.py). SQLite test databases keep theirs beside the file.
KEYS_DIR = Path(tempfile.mkdtemp(prefix="chat-keys-"))
PASSWORD = "correct horse battery staple"


def _postgres_reachable() -> bool:
    url = make_url(PG_URL)
    try:
        with socket.create_connection((url.host or "127.0.0.1", url.port or 5432), timeout=2):
            return True
    except OSError:
        return False


def need_service(available: bool, reason: str) -> None:
    """Skip with ``reason`` when a service is missing, but fail under CI."""
    if available:
        return
    if IN_CI:
        pytest.fail(f"{reason} (CI=true: this test must run)")
    pytest.skip(reason)


# --------------------------------------------------------------------------- databases
def migrate_for_tests(url: str) -> None:
    """Migrate as ``chatserver migrate`` does, with the installation id set to :data:`SALT`."""
    migrate(url)

    async def fix_id() -> None:
        db = Database(url, pooled=False)
        try:
            async with db.write() as conn:
                await conn.execute(update(m.installation).values(id=SALT))
        finally:
            await db.dispose()

    asyncio.run(fix_id())


def _new_keystore(url: str) -> None:
    async def create() -> None:
        keystore = Keystore(url, create=True)
        try:
            await keystore.open()
        finally:
            await keystore.close()

    asyncio.run(create())


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated database file, with an empty keystore beside it (``template.keys.db``)."""
    path = tmp_path_factory.mktemp("template") / "template.db"
    migrate_for_tests(f"sqlite+aiosqlite:///{path}")
    _new_keystore(f"sqlite+aiosqlite:///{path.with_suffix('')}.keys.db")
    return path


@pytest.fixture(scope="session")
def postgres_template() -> str:
    need_service(_postgres_reachable(), f"PostgreSQL is not reachable at {PG_URL}")
    name = f"chat_tpl_{os.getpid()}"
    asyncio.run(_pg_admin(f'DROP DATABASE IF EXISTS "{name}"', f'CREATE DATABASE "{name}"'))
    migrate_for_tests(make_url(PG_URL).set(database=name).render_as_string(hide_password=False))
    return name


class PostgresDatabases:
    """Fresh copies of the template, each made one test ahead on a thread of its own, and
    dropped there after their test: ``CREATE DATABASE`` waits on the disk for about a third
    of a second, which the test before now overlaps. Every test still gets its own."""

    def __init__(self, template: str) -> None:
        self.template = template
        self.thread = ThreadPoolExecutor(1, thread_name_prefix="pg-databases")
        self.next: Future[str] = self.thread.submit(self._create)

    def _create(self) -> str:
        name = f"chat_t_{secrets.token_hex(6)}"
        asyncio.run(_pg_admin(f'CREATE DATABASE "{name}" TEMPLATE "{self.template}"'))
        return name

    def take(self) -> str:
        name = self.next.result()
        self.next = self.thread.submit(self._create)
        return name

    def drop(self, name: str) -> None:
        self.thread.submit(self._drop, name)

    @staticmethod
    def _drop(name: str) -> None:
        asyncio.run(_pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))

    def close(self) -> None:
        self.drop(self.next.result())
        self.thread.shutdown(wait=True)


@pytest.fixture(scope="session")
def postgres_databases(postgres_template: str) -> Iterator[PostgresDatabases]:
    databases = PostgresDatabases(postgres_template)
    yield databases
    databases.close()


async def _pg_admin(*statements: str) -> None:
    db = Database(PG_URL, pooled=False)
    try:
        async with db.engine.connect() as conn:
            conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
            for statement in statements:
                await conn.execute(text(statement))
    finally:
        await db.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, migrated database for one test: a SQLite file or a PostgreSQL database."""
    template_file: Path = request.getfixturevalue("sqlite_template")
    if request.param == "sqlite":
        path = tmp_path / "chat.db"
        shutil.copy(template_file, path)
        shutil.copy(template_file.with_suffix(".keys.db"), tmp_path / "chat.keys.db")
        yield f"sqlite+aiosqlite:///{path}"
        return
    databases: PostgresDatabases = request.getfixturevalue("postgres_databases")
    name = databases.take()
    shutil.copy(template_file.with_suffix(".keys.db"), KEYS_DIR / f"{name}.keys.db")
    yield make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    databases.drop(name)


def keystore_for(db_url: str) -> str:
    """The keystore setting that goes with a test database ("" = the default beside it)."""
    if db_url.startswith("sqlite"):
        return ""
    return f"sqlite+aiosqlite:///{KEYS_DIR}/{make_url(db_url).database}.keys.db"


async def dump(url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, in a stable order: for before/after comparisons."""
    db = Database(url, pooled=False)
    try:
        async with db.read() as conn:
            out = {}
            for table in m.metadata.sorted_tables:
                rows = await conn.execute(select(table).order_by(*table.primary_key.columns))
                out[table.name] = [tuple(r) for r in rows]
            return out
    finally:
        await db.dispose()


# --------------------------------------------------------------------------- server
@functools.cache
def credential(username: str, password: str = PASSWORD) -> str:
    """The login credential of an account made on a test database (salted with SALT)."""
    return auth.derive_credential(password, SALT, username)


@functools.cache
def credential_hash(username: str) -> str:
    """What the server keeps of :func:`credential` (any Argon2id hash of it will do)."""
    return auth.hash_credential(credential(username))


@dataclass
class Server:
    """A running server and the ways a test reaches it."""

    url: str
    settings: Settings
    app: web.Application
    db: Database
    peers: list[Any] = field(default_factory=list)

    async def client(self, **kw: Any) -> ClientPeer:
        peer = await ClientPeer.connect(self.url, origin=kw.pop("origin", ORIGIN), **kw)
        self.peers.append(peer)
        return peer

    async def staff(
        self, username: str, teams: list[str], *, role: str = "counsellor", name: str = ""
    ) -> str:
        """Create an account the way ``chatserver user add`` does; return its id. (The
        credential's Argon2id hash is made once per username and process: PBKDF2 and
        Argon2id for every account of every test cost minutes.)"""
        staff_id, _ = await cli.add_account(
            self.db,
            cli.check_username(username),
            name or username.title(),
            role,
            teams,
            await asyncio.to_thread(credential_hash, username),
            totp=False,
        )
        return staff_id

    async def console(self, username: str) -> ConsolePeer:
        cookie, _csrf = await login(
            self.url, username, credential=credential(username), origin=ORIGIN
        )
        peer = await ConsolePeer.connect(self.url, cookie, origin=ORIGIN)
        self.peers.append(peer)
        return peer

    async def console_with_cookie(self, cookie: str) -> ConsolePeer:
        peer = await ConsolePeer.connect(self.url, cookie, origin=ORIGIN)
        self.peers.append(peer)
        return peer

    async def team(self, slug: str, topics: list[str] | None = None) -> None:
        await cli.team_add(self.db, slug, slug.title(), topics or [])


@dataclass
class Caller:
    """One signed-in staff member (or nobody) making requests with no cookie jar."""

    server: Server
    cookie: str | None = None
    csrf: str | None = None

    async def __call__(
        self, method: str, path: str, body: Any = None, *, csrf: bool = True, raw: bytes = b""
    ) -> tuple[int, Any]:
        headers = {"Origin": ORIGIN}
        if self.cookie is not None:
            headers["Cookie"] = self.cookie
        if csrf and self.csrf is not None:
            headers["X-CSRF-Token"] = self.csrf
        kw: dict[str, Any] = {"data": raw} if raw else {"json": body}
        async with (
            aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as http,
            http.request(method, self.server.url + path, headers=headers, **kw) as r,
        ):
            if r.content_type != "application/json":  # a CSV or SVG answer
                return r.status, await r.text()
            return r.status, await r.json()


async def caller(server: Server, username: str | None) -> Caller:
    if username is None:
        return Caller(server)
    cookie, csrf = await login(server.url, username, credential=credential(username), origin=ORIGIN)
    return Caller(server, cookie, csrf)


async def until(peer: Any, type_: str, **match: Any) -> dict[str, Any]:
    """The next frame of ``type_`` whose fields equal ``match`` (skipping older ones)."""
    while True:
        frame: dict[str, Any] = await peer.next(type_)
        if all(frame.get(k) == v for k, v in match.items()):
            return frame


class FakeClock:
    """Time as a dependency: tests move it forward instead of sleeping."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def client_key(seed: int = 1) -> bytes:
    """A syntactically valid uncompressed P-256 point header and length (opaque here)."""
    return b"\x04" + seed.to_bytes(2, "big") * 32


@pytest.fixture
def settings_factory(db_url: str) -> Callable[..., Settings]:
    def make(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "host": "127.0.0.1",
            "port": 0,
            "public_origin": ORIGIN,
            "database_url": db_url,
            "keystore_url": keystore_for(db_url),
            "cookie_secure": False,
            "starts_per_minute_free": 1000,
            # Sweeps run where a test asks for them (tests/test_retention*.py), never
            # beside a test that compares database dumps.
            "retention_in_process": False,
            # Staff made by Server.staff have no TOTP; tests/server/test_totp.py turns this on.
            "require_totp": False,
        }
        values.update(overrides)
        return load_settings(environ={}, **values)

    return make


@pytest.fixture
async def make_server(
    settings_factory: Callable[..., Settings],
) -> AsyncIterator[Callable[..., Any]]:
    """Start real servers on free ports; all are stopped at the end of the test."""
    runners: list[tuple[web.AppRunner, Server]] = []

    async def start(clock: Callable[[], float] | None = None, **overrides: Any) -> Server:
        settings = settings_factory(**overrides)
        app = create_app(settings, clock=clock) if clock else create_app(settings)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        from chatserver.web.state import DB

        server = Server(f"http://127.0.0.1:{port}", settings, app, app[DB])
        runners.append((runner, server))
        return server

    yield start
    for runner, server in runners:
        for peer in server.peers:
            await peer.close()
        await runner.cleanup()


@pytest.fixture
async def server(make_server: Callable[..., Any]) -> Server:
    """One server with a team ``alpha`` (topics general, school) and ``beta``."""
    srv: Server = await make_server()
    await srv.team("alpha", ["general:General", "school:School"])
    await srv.team("beta")
    return srv


# --------------------------------------------------------------------------- browsers
CHROMIUM = os.environ.get("CHAT_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
REPO = Path(__file__).parent.parent


@pytest.fixture
async def chromium() -> AsyncIterator[Any]:
    """Debian's Chromium driven by Playwright (never a downloaded browser)."""
    need_service(Path(CHROMIUM).exists(), f"Chromium is not installed at {CHROMIUM}")
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            await browser.close()


@pytest.fixture
async def repo_http() -> AsyncIterator[str]:
    """The repository's widget/ and tests/ folders over HTTP on 127.0.0.1 (a secure context
    for WebCrypto), for browser tests of the shared modules."""
    app = web.Application()
    app.router.add_static("/widget/", REPO / "widget")
    app.router.add_static("/tests/", REPO / "tests")
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    await runner.cleanup()


# --------------------------------------------------------------------------- demo desk
@dataclass
class Desk:
    """A server set up by ``chatserver demo`` (a team with real keys, two counsellors and
    an admin) on its own public origin, for the console's browser tests."""

    server: Server
    demo: DemoInfo

    def password(self, username: str) -> str:
        return next(a.password for a in self.demo.accounts if a.username == username)

    @property
    def url(self) -> str:
        return self.server.url


#: ``chatserver demo`` run once per test process on a SQLite file (its database, keystore
#: and demo state), copied for each desk: it does not depend on the desk's address, and
#: making its keys and accounts anew for every browser test cost seconds each.
_DEMO: dict[str, tuple[Path, DemoInfo]] = {}


def _demo_files(database: Path) -> list[Path]:
    return [database, database.with_suffix(".keys.db"), state_path(f"sqlite:///{database}")]


async def _demo(settings: Settings) -> DemoInfo:
    """What ``chatserver demo`` makes, in the settings' database."""
    target = sqlite_path(settings.database_url)
    if target is None:  # PostgreSQL: made for this database
        info: DemoInfo = await cli._with_db(settings, lambda db: cli.demo(db, settings))
        return info
    if "sqlite" not in _DEMO:
        folder = Path(tempfile.mkdtemp(prefix="chat-demo-"))
        for source, copy in zip(_demo_files(target), _demo_files(folder / "chat.db"), strict=True):
            if source.exists():
                shutil.copy(source, copy)
        made = settings.replace(database_url=f"sqlite+aiosqlite:///{folder / 'chat.db'}")
        info = await cli._with_db(made, lambda db: cli.demo(db, made))
        _DEMO["sqlite"] = (folder / "chat.db", info)
    template, info = _DEMO["sqlite"]
    for source, copy in zip(_demo_files(template), _demo_files(target), strict=True):
        shutil.copy(source, copy)
    return info


@pytest.fixture
async def make_desk(
    settings_factory: Callable[..., Settings],
) -> AsyncIterator[Callable[..., Any]]:
    """Start demo desks; the public origin is the port the server listens on (a console
    derives its credential from it)."""
    runners: list[tuple[web.AppRunner, Desk]] = []

    async def start(clock: Callable[[], float] = time.time, **overrides: Any) -> Desk:
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        origin = f"http://127.0.0.1:{sock.getsockname()[1]}"
        settings = settings_factory(public_origin=origin, **overrides)
        demo = await _demo(settings)
        app = create_app(settings, clock=clock)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.SockSite(runner, sock).start()
        from chatserver.web.state import DB

        world = Desk(Server(origin, settings, app, app[DB]), demo)
        runners.append((runner, world))
        return world

    yield start
    for runner, world in runners:
        for peer in world.server.peers:
            await peer.close()
        await runner.cleanup()


@pytest.fixture
async def desk(make_desk: Callable[..., Any]) -> Desk:
    world: Desk = await make_desk()
    return world
