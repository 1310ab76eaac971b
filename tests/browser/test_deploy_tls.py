"""Debian's nginx in front of two server processes, as deploy/nginx/chatserver.conf sets
it up: a widget conversation in Chromium through ``https://`` and ``wss://`` with a
self-signed certificate, a counsellor on the other process, and no client address in any
of nginx's logs.

nginx runs as a child of the test (``daemon off``) with a temporary prefix; its site is
the deployed file with the ports, certificate and log paths of the test put in.
"""

from __future__ import annotations

import asyncio
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from ipaddress import IPv4Address
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from conftest import PASSWORD, REPO, keystore_for, need_service, until
from test_durability import ServerProcess
from test_e2e_flow import Team, make_team
from test_scaleout_faults import REDIS_SERVER, RedisServer, free_port
from test_widget import TEXTS, integrity

from chatserver import e2e
from chatserver.config import load_settings
from chatserver.ops import cli
from chatserver.sdk.e2e import SecureCounsellor
from chatserver.sdk.peers import ConsolePeer, login
from chatserver.storage.db import Database

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
SITE = REPO / "deploy" / "nginx" / "chatserver.conf"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.redis,
    pytest.mark.parametrize("db_url", ["postgres"], indirect=True),
]


def self_signed(directory: Path) -> None:
    """fullchain.pem and privkey.pem for 127.0.0.1, made with ``cryptography``."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=2))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(IPv4Address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    (directory / "fullchain.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (directory / "privkey.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )


def site_config(prefix: Path, http_port: int, https_port: int, upstreams: list[str]) -> str:
    """deploy/nginx/chatserver.conf with this test's ports, certificate and log paths."""
    site = SITE.read_text("utf-8")
    for deployed, test in zip(("127.0.0.1:8081", "127.0.0.1:8082"), upstreams, strict=True):
        assert deployed in site
        site = site.replace(deployed, test)
    replacements = {
        "listen 80;": f"listen 127.0.0.1:{http_port};",
        "listen [::]:80;": "",
        "listen 443 ssl http2;": f"listen 127.0.0.1:{https_port} ssl http2;",
        "listen [::]:443 ssl http2;": "",
        "/etc/ssl/chatserver": str(prefix),
        "/var/log/nginx": str(prefix / "logs"),
    }
    for deployed, test in replacements.items():
        assert deployed in site, deployed
        site = site.replace(deployed, test)
    return site


class Nginx:
    """nginx in the foreground, with Debian's defaults for the main logs (an access log
    and an error log in its log directory): the site must keep addresses out of them."""

    def __init__(self, prefix: Path, upstreams: list[str]) -> None:
        self.prefix = prefix
        self.http_port, self.https_port = free_port(), free_port()
        self.logs = prefix / "logs"
        self.logs.mkdir(parents=True)
        self_signed(prefix)
        (prefix / "site.conf").write_text(
            site_config(prefix, self.http_port, self.https_port, upstreams)
        )
        temp = "".join(
            f" {kind}_temp_path {prefix}/{kind};\n"
            for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
        )
        (prefix / "nginx.conf").write_text(
            "daemon off;\nworker_processes 1;\n"
            f"pid {prefix}/nginx.pid;\nerror_log {self.logs}/error.log;\n"
            "events {}\n"
            f"http {{\n access_log {self.logs}/access.log;\n{temp}"
            f" include {prefix}/site.conf;\n}}\n"
        )
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def origin(self) -> str:
        return f"https://127.0.0.1:{self.https_port}"

    async def start(self) -> None:
        config = str(self.prefix / "nginx.conf")
        self.proc = subprocess.Popen(
            [NGINX, "-p", str(self.prefix), "-e", str(self.logs / "error.log"), "-c", config],
            stdin=subprocess.DEVNULL,
        )
        # nginx says nothing when it is ready: until its port accepts connections.
        async with asyncio.timeout(20):
            while not self._listening():
                assert self.proc.poll() is None, "nginx exited"
                await asyncio.sleep(0.05)

    def _listening(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.https_port), timeout=1):
                return True
        except OSError:
            return False

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=30)

    def log_text(self) -> dict[str, str]:
        return {p.name: p.read_text("utf-8", "replace") for p in self.logs.iterdir()}


@dataclass
class Line:
    """Two replicas behind nginx, an agency page on another origin, team alpha with
    epoch keys, Anna signed in on replica B (directly, as the proxy is for browsers)."""

    nginx: Nginx
    a: ServerProcess
    b: ServerProcess
    team: Team
    host: str
    page: str = ""

    def embed(self) -> str:
        loader = (REPO / "widget" / "loader.js").read_bytes()
        attributes = f'data-team="alpha" data-pin="{self.team.pin}" data-exit="{self.host}/weather"'
        self.page = (
            "<!doctype html><html lang=en><head><meta charset=utf-8><title>Agency</title>"
            "</head><body><h1>Youth counselling</h1>"
            f'<script src="{self.nginx.origin}/widget/loader.js" integrity="{integrity(loader)}"'
            f' crossorigin="anonymous" {attributes}></script></body></html>'
        )
        return self.host + "/"

    async def counsellor(self) -> SecureCounsellor:
        origin = self.nginx.origin
        cookie, _ = await login(self.b.url, "anna", password=PASSWORD, origin=origin)
        peer = await ConsolePeer.connect(self.b.url, cookie, origin=origin)
        return SecureCounsellor(peer, self.team.epochs, e2e.generate())


async def _upload(url: str, origin: str, wires: list[dict[str, Any]]) -> None:
    cookie, csrf = await login(url, "root", password=PASSWORD, origin=origin)
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            f"{url}/api/teams/alpha/bundles",
            json={"bundles": wires},
            headers={"Cookie": cookie, "X-CSRF-Token": csrf, "Origin": origin},
        ) as response,
    ):
        assert response.status == 201, await response.text()


@pytest.fixture
async def line(db_url: str, tmp_path: Path) -> AsyncIterator[Line]:
    need_service(Path(NGINX).exists(), f"nginx is not installed at {NGINX} (nginx-light)")
    need_service(Path(REDIS_SERVER).exists(), f"redis-server is not installed at {REDIS_SERVER}")
    redis_server = RedisServer(tmp_path)
    await redis_server.start()
    a_port, b_port = free_port(), free_port()
    nginx = Nginx(tmp_path / "nginx", [f"127.0.0.1:{a_port}", f"127.0.0.1:{b_port}"])

    async def page(_request: web.Request) -> web.Response:
        return web.Response(text=world.page, content_type="text/html")

    async def weather(_request: web.Request) -> web.Response:
        return web.Response(text="<h1>Weather</h1>", content_type="text/html")

    host_app = web.Application()
    host_app.router.add_get("/weather", weather)
    host_app.router.add_get("/", page)
    runner = web.AppRunner(host_app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host = f"http://127.0.0.1:{runner.addresses[0][1]}"

    settings = load_settings(
        environ={},
        database_url=db_url,
        keystore_url=keystore_for(db_url),
        public_origin=nginx.origin,
    )
    db = Database(db_url, pooled=False)
    try:
        await cli.team_add(db, "alpha", "Alpha", [])
        await cli.team_origins(db, "alpha", [host], [])
        await cli.user_add(db, settings, "root", "Root", "admin", [], PASSWORD, totp=False)
        await cli.user_add(
            db, settings, "anna", "Anna", "counsellor", ["alpha"], PASSWORD, totp=False
        )
    finally:
        await db.dispose()
    env = {
        "CHAT_REDIS_URL": redis_server.url,
        "CHAT_RETENTION_IN_PROCESS": "false",
        "CHAT_REQUIRE_TOTP": "false",
        "CHAT_PUBLIC_ORIGIN": nginx.origin,
        "CHAT_COOKIE_SECURE": "true",
    }
    a = ServerProcess(db_url, tmp_path / "a.log", **env, CHAT_PORT=str(a_port))
    b = ServerProcess(db_url, tmp_path / "b.log", **env, CHAT_PORT=str(b_port))
    world = Line(nginx, a, b, make_team("alpha", start=int(time.time() * 1000) - 60_000), host)
    try:
        await a.start()
        await b.start()
        await _upload(b.url, nginx.origin, world.team.wires)
        await nginx.start()
        yield world
    finally:
        nginx.stop()
        for proc in (a, b):
            if proc.proc is not None and proc.proc.poll() is None:
                proc.signal(signal.SIGTERM)
        await runner.cleanup()
        redis_server.stop()


async def test_widget_conversation_through_nginx_tls(line: Line, chromium: Any) -> None:
    """The widget, served and connected through nginx (https, wss) to either replica,
    talks end to end with Anna on replica B; nginx logs no client address."""
    from playwright.async_api import expect

    text = TEXTS["en"]
    desk = await line.counsellor()
    try:
        await until(desk.peer, "queue")
        context = await chromium.new_context(ignore_https_errors=True)  # self-signed
        page = await context.new_page()
        sockets: list[str] = []
        page.on("websocket", lambda ws: sockets.append(ws.url))
        await page.goto(line.embed())
        await page.get_by_role("button", name=text["launch"]).click()
        frame = page.frame_locator("iframe")
        await frame.get_by_role("button", name=text["agree"]).click()
        box = frame.get_by_label(text["label"])
        await box.fill("hello through nginx")
        await box.press("Enter")
        await expect(frame.locator("#log li.me .st")).to_have_text(text["stored"])
        cid = (await until(desk.peer, "queued"))["item"]["conversation"]
        assert await desk.accept(cid) == ["hello through nginx"]
        await expect(frame.locator("#status")).to_have_text(text["active"])
        await desk.say(cid, "Hallo, hier ist Anna.")
        await expect(frame.locator("#log li.team p")).to_have_text("Hallo, hier ist Anna.")
        await box.fill("thanks")
        await box.press("Enter")
        assert await desk.hear(cid) == "thanks"
        await desk.close(cid)
        await expect(frame.locator("#status")).to_have_text(text["ended"])
        assert sockets and all(
            url.startswith(f"wss://127.0.0.1:{line.nginx.https_port}/ws/") for url in sockets
        )
        await context.close()
    finally:
        await desk.peer.close()
    line.nginx.stop()
    logs = line.nginx.log_text()
    assert logs.get("access.log", "") == ""
    for name, content in logs.items():
        assert "127.0.0.1" not in content and "client:" not in content, (name, content)
