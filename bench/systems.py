"""The systems under test and how the load reaches each: the chat server (``chatserver
serve``, SQLite) and the null relay (``bench/null_relay.py``), each started on the server
core in a temporary folder, each with the same socket layout: N client sockets, and one
counsellor socket per ``CHATS`` clients (a counsellor holds up to 20 chats at once).

A *pair* is one client and the counsellor socket that holds its chat. The load sends
``send`` frames both ways and records, per message, the time from its scheduled send to
its arrival at the other side (and, from the chat server, to its ack after commit).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import re
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.typing import Subprotocol

from bench.harness import PYTHON, REPO, Latency, Proc, free_port, start_process
from chatserver.config import load_settings
from chatserver.ops import cli
from chatserver.sdk.peers import ClientPeer, ConsolePeer, login
from chatserver.staff import auth
from chatserver.storage.db import Database
from chatserver.storage.staff import installation_id

ORIGIN = "http://bench.test"
PASSWORD = "bench password, never used anywhere else"
TEAM = "bench"
CHATS = 20  # chats per counsellor socket (the most an account may hold)
KEY = b"\x04" + bytes(64)

Frame = dict[str, Any]
OnFrame = Callable[[Frame], bool]


# --------------------------------------------------------------------------- recording
@dataclass
class Recorder:
    """Due times of messages in flight; latency of deliveries and acks."""

    acks_expected: bool
    delivered: Latency = field(default_factory=Latency)
    acked: Latency = field(default_factory=Latency)
    in_flight: dict[str, int] = field(default_factory=dict)
    unacked: dict[str, int] = field(default_factory=dict)
    serial: int = 0
    done: bool = False
    sent: int = 0
    strays: int = 0
    errors: list[str] = field(default_factory=list)
    settled: asyncio.Event = field(default_factory=asyncio.Event)

    def sending(self, id: str, due_ns: int) -> None:
        self.sent += 1
        self.in_flight[id] = due_ns
        if self.acks_expected:
            self.unacked[id] = due_ns

    def arrived(self, id: str) -> None:
        due = self.in_flight.pop(id, None)
        if due is None:
            self.strays += 1
            return
        self.delivered.record_ns(time.perf_counter_ns() - due)
        self._check()

    def ack(self, id: str) -> None:
        due = self.unacked.pop(id, None)
        if due is not None:
            self.acked.record_ns(time.perf_counter_ns() - due)
            self._check()

    def all_sent(self) -> None:
        """Nothing more will be sent: ``settled`` is set once the last has arrived."""
        self.done = True
        self._check()

    def _check(self) -> None:
        if self.done and not self.in_flight and not self.unacked:
            self.settled.set()

    def on_frame(self, frame: Frame) -> bool:
        kind = frame.get("type")
        if kind == "message" or kind == "send":
            self.arrived(frame["id"])
        elif kind == "ack":
            self.ack(frame["id"])
        elif kind == "error":
            self.errors.append(str(frame.get("code")))
        else:
            return False
        return True


class Hooked:
    """An SDK peer whose frames go to ``on_frame`` first (when set and it takes them)."""

    on_frame: OnFrame | None = None
    ws: ClientConnection
    _inbox: asyncio.Queue[Frame | None]

    async def _read(self) -> None:
        try:
            async for raw in self.ws:
                frame = json.loads(raw)
                hook = self.on_frame
                if hook is not None and hook(frame):
                    continue
                self._inbox.put_nowait(frame)
        except Exception:  # the connection went away
            pass
        finally:
            self._inbox.put_nowait(None)


class BenchClient(Hooked, ClientPeer):
    pass


class BenchConsole(Hooked, ConsolePeer):
    pass


class RawPeer:
    """A bare WebSocket whose every frame goes to ``on_frame`` (for the null relay)."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.on_frame: OnFrame | None = None
        self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        try:
            async for raw in self.ws:
                hook = self.on_frame
                if hook is not None:
                    hook(json.loads(raw))
        except Exception:
            pass

    async def close(self) -> None:
        await self.ws.close()
        await asyncio.gather(self.reader, return_exceptions=True)


# --------------------------------------------------------------------------- pairs
_SENDS: set[asyncio.Task[None]] = set()


def _send(ws: ClientConnection, text: str) -> None:
    task = asyncio.get_running_loop().create_task(ws.send(text))
    _SENDS.add(task)
    task.add_done_callback(_SENDS.discard)


@dataclass
class Pair:
    """One chat: the client's socket, the counsellor's and how frames name each other."""

    client: ClientConnection
    team: ClientConnection
    conversation: str
    client_name: str = ""
    team_name: str = ""

    def send(self, rec: Recorder, k: int, due_ns: int, body: str, from_client: bool) -> None:
        id = f"m{rec.serial}x{k}"
        rec.sending(id, due_ns)
        frame: Frame = {"type": "send", "id": id, "body": body, "gen": 0, "n": k, "kind": "msg"}
        if self.client_name:  # the null relay: address the other side
            frame["to"] = self.team_name if from_client else self.client_name
        elif not from_client:
            frame["conversation"] = self.conversation
        _send(self.client if from_client else self.team, json.dumps(frame))


def b64_body(size: int) -> str:
    return base64.b64encode(bytes((i * 7) % 256 for i in range(size))).decode()


# --------------------------------------------------------------------------- chat server
class ChatServer:
    """``chatserver serve`` on a fresh copy of a SQLite database with a team and accounts."""

    name = "chatserver"
    stores = True

    origin = ORIGIN

    def __init__(
        self, workdir: Path, counsellors: int, *, teams: int = 1, code: Path | None = None
    ) -> None:
        #: Another checkout whose ``chatserver`` package runs instead of this one's.
        self.code = code
        if code is not None:
            self.name = "chatserver-before"
        self.workdir = workdir
        self.counsellors = counsellors
        self.teams = teams
        self.template = workdir / "template"
        self.proc: Proc | None = None
        self.base = ""
        self.clients: list[BenchClient] = []
        self.consoles: list[BenchConsole] = []
        self.credentials: dict[str, str] = {}
        self.runs = 0
        self.profile: Path | None = None

    def settings_env(self, db: Path) -> dict[str, str]:
        code = {"PYTHONPATH": str(self.code)} if self.code is not None else {}
        return {
            **code,
            "CHAT_DATABASE_URL": f"sqlite+aiosqlite:///{db}",
            "CHAT_HOST": "127.0.0.1",
            "CHAT_PORT": "0",
            "CHAT_PUBLIC_ORIGIN": ORIGIN,
            "CHAT_REQUIRE_TOTP": "false",
            "CHAT_COOKIE_SECURE": "false",
            # Limits that protect a public server would refuse the load itself.
            "CHAT_FRAME_RATE": "1000000",
            "CHAT_FRAME_BURST": "1000000",
            "CHAT_STARTS_PER_MINUTE_FREE": "100000000",
            "CHAT_MAX_QUEUED": "1000000",
            "CHAT_MAX_CONNECTIONS": "100000",
            "CHAT_COUNSELLOR_CAP": str(CHATS),
            "CHAT_LOG_LEVEL": "warning",
        }

    async def prepare(self) -> None:
        """Migrate a template database once, with the team and the counsellor accounts."""
        self.template.mkdir(parents=True, exist_ok=True)
        db_path = self.template / "chat.db"
        url = f"sqlite+aiosqlite:///{db_path}"
        settings = load_settings(environ=self.settings_env(db_path))
        await asyncio.to_thread(cli._migrate, settings)  # the schema and the keystore
        db = Database(url)
        try:
            for i in range(self.teams):
                await cli.team_add(db, self.team_slug(i), f"Bench {i}", [])
            async with db.read() as conn:
                salt = await installation_id(conn)  # what the accounts are salted with
            for j in range(self.counsellors):
                name = f"c{j}"
                await cli.user_add(db, settings, name, name, "counsellor", [TEAM], PASSWORD, False)
                self.credentials[name] = await asyncio.to_thread(
                    auth.derive_credential, PASSWORD, salt, name
                )
        finally:
            await db.dispose()

    @staticmethod
    def team_slug(i: int) -> str:
        return TEAM if i == 0 else f"{TEAM}-{i}"

    async def start(self) -> Proc:
        self.runs += 1
        run = self.workdir / f"run{self.runs}"
        shutil.copytree(self.template, run)
        db = run / "chat.db"
        exe = str(Path(PYTHON).parent / "chatserver")
        # --migrate: the template may be older than the code (a migration added since).
        argv = [exe, "serve", "--migrate"]
        if self.profile is not None:  # pyinstrument around the whole server process
            out = self.profile.with_name(f"{self.profile.stem}-{self.runs}{self.profile.suffix}")
            argv = [PYTHON, "-m", "pyinstrument", "-r", "text", "-o", str(out), *argv]
        self.proc = await start_process(
            self.name,
            argv,
            "listening on http://",
            run / "server.log",
            env=self.settings_env(db),
        )
        self.base = f"http://127.0.0.1:{self.proc.port}"
        return self.proc

    async def stop(self) -> None:
        await self.close_all()
        if self.proc is not None:
            await self.proc.stop()
            self.proc = None

    async def close_all(self) -> None:
        peers: list[Any] = [*self.clients, *self.consoles]
        await asyncio.gather(*(p.close() for p in peers), return_exceptions=True)
        self.clients, self.consoles = [], []

    async def client(self) -> BenchClient:
        peer = await BenchClient.connect(self.base, origin=ORIGIN)
        assert isinstance(peer, BenchClient)
        self.clients.append(peer)
        return peer

    async def console(self, j: int) -> BenchConsole:
        name = f"c{j}"
        cookie, _ = await login(self.base, name, credential=self.credentials[name], origin=ORIGIN)
        peer = await BenchConsole.connect(self.base, cookie, origin=ORIGIN)
        assert isinstance(peer, BenchConsole)
        self.consoles.append(peer)
        return peer

    async def pairs(self, n: int, on_frame: OnFrame) -> list[Pair]:
        """n clients in active chats, CHATS to a counsellor socket."""
        out: list[Pair] = []
        for j in range((n + CHATS - 1) // CHATS):
            console = await self.console(j)
            await console.next("queue")
            for _ in range(min(CHATS, n - len(out))):
                client = await self.client()
                started = await client.start(TEAM, KEY)
                await console.accept(started["conversation"])
                await client.next("state")
                out.append(Pair(client.ws, console.ws, started["conversation"]))
                client.on_frame = on_frame
            console.on_frame = on_frame
        return out

    async def idle(self, n: int) -> None:
        """n more client sockets that have opened the widget (``hello``) and wait."""
        for _ in range(n):
            await self.client()


# --------------------------------------------------------------------------- null relay
class NullRelay:
    """``bench/null_relay.py``: forwards, stores nothing."""

    name = "null-relay"
    stores = False

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.proc: Proc | None = None
        self.peers: list[RawPeer] = []
        self.serial = 0

    async def prepare(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)

    async def start(self) -> Proc:
        self.proc = await start_process(
            self.name,
            [PYTHON, str(REPO / "bench" / "null_relay.py"), "--port", "0"],
            "listening on http://",
            self.workdir / "null_relay.log",
        )
        return self.proc

    async def stop(self) -> None:
        await self.close_all()
        if self.proc is not None:
            await self.proc.stop()
            self.proc = None

    async def close_all(self) -> None:
        await asyncio.gather(*(p.close() for p in self.peers), return_exceptions=True)
        self.peers = []

    async def peer(self, name: str) -> RawPeer:
        assert self.proc is not None
        ws = await connect(
            f"ws://127.0.0.1:{self.proc.port}/ws?id={name}",
            compression=None,
            max_size=None,
        )
        peer = RawPeer(ws)
        self.peers.append(peer)
        return peer

    async def pairs(self, n: int, on_frame: OnFrame) -> list[Pair]:
        out: list[Pair] = []
        for j in range((n + CHATS - 1) // CHATS):
            team_name = f"t{j}"
            team = await self.peer(team_name)
            team.on_frame = on_frame
            for _ in range(min(CHATS, n - len(out))):
                client_name = f"c{len(out)}"
                client = await self.peer(client_name)
                client.on_frame = on_frame
                out.append(Pair(client.ws, team.ws, "", client_name, team_name))
        return out

    async def idle(self, n: int) -> None:
        for _ in range(n):
            self.serial += 1
            await self.peer(f"i{self.serial}")


# --------------------------------------------------------------------------- nchan
NGINX = "/usr/sbin/nginx"
NCHAN = "/usr/lib/nginx/modules/ngx_nchan_module.so"
NCHAN_CONF = """\
load_module {module};
daemon off;
master_process off;
worker_processes 1;
worker_rlimit_nofile 100000;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 60000; }}
http {{
    access_log off;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    nchan_max_reserved_memory 256M;
    server {{
        listen 127.0.0.1:{port} backlog=4096;
        location = /ws {{
            nchan_pubsub websocket;
            nchan_subscriber_channel_id $arg_sub;
            nchan_publisher_channel_id $arg_pub;
            nchan_message_buffer_length 1;
            nchan_message_timeout 10s;
        }}
    }}
}}
"""


class Nchan:
    """nginx with nchan (Debian's libnginx-mod-nchan), one process, as a pub/sub relay
    written in C: each socket subscribes to its own channel and publishes to its peer's.
    nchan cannot address a frame to one of several channels, so the counsellor side
    has one socket per chat (2N sockets, not N + N/20)."""

    name = "nginx-nchan"
    stores = False

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.proc: Proc | None = None
        self.peers: list[RawPeer] = []
        self.serial = 0

    @staticmethod
    def available() -> bool:
        return Path(NGINX).exists() and Path(NCHAN).exists()

    async def prepare(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)

    async def start(self) -> Proc:
        port = free_port()
        conf = self.workdir / "nginx.conf"
        conf.write_text(NCHAN_CONF.format(module=NCHAN, dir=self.workdir, port=port))
        self.proc = await start_process(
            self.name,
            [NGINX, "-p", f"{self.workdir}/", "-e", "error.log", "-c", str(conf)],
            "",
            self.workdir / "nginx.stderr",
            port=port,
        )
        return self.proc

    async def stop(self) -> None:
        await self.close_all()
        if self.proc is not None:
            await self.proc.stop()
            self.proc = None

    async def close_all(self) -> None:
        await asyncio.gather(*(p.close() for p in self.peers), return_exceptions=True)
        self.peers = []

    async def peer(self, sub: str, pub: str) -> RawPeer:
        assert self.proc is not None
        ws = await connect(
            f"ws://127.0.0.1:{self.proc.port}/ws?sub={sub}&pub={pub}",
            compression=None,
            max_size=None,
        )
        peer = RawPeer(ws)
        self.peers.append(peer)
        return peer

    async def pairs(self, n: int, on_frame: OnFrame) -> list[Pair]:
        out: list[Pair] = []
        for i in range(n):
            client = await self.peer(f"c{i}", f"t{i}")
            team = await self.peer(f"t{i}", f"c{i}")
            client.on_frame = team.on_frame = on_frame
            out.append(Pair(client.ws, team.ws, "", f"c{i}", f"t{i}"))
        return out

    async def idle(self, n: int) -> None:
        for _ in range(n):
            self.serial += 1
            await self.peer(f"i{self.serial}", f"o{self.serial}")


# --------------------------------------------------------------------------- prosody
PROSODY = "/usr/bin/prosody"
PROSODY_CONF = """\
-- Written by bench/systems.py for one benchmark run; loopback only.
run_as_root = true
pidfile = "{dir}/prosody.pid"
data_path = "{dir}/data"
log = {{ warn = "{dir}/prosody.log" }}
interfaces = {{ "127.0.0.1" }}
http_interfaces = {{ "127.0.0.1" }}
http_ports = {{ {port} }}
https_ports = {{ }}
c2s_ports = {{ {c2s} }}
s2s_ports = {{ {s2s} }}
c2s_require_encryption = false
consider_websocket_secure = true
cross_domain_websocket = true
modules_enabled = {{ "saslauth", "disco", "websocket", {archive} }}
modules_disabled = {{ "s2s", "limits" }}
storage = "sql"
sql = {{ driver = "SQLite3", database = "prosody.sqlite" }}
default_archive_policy = true
archive_expires_after = "never"
max_archive_query_results = 50
VirtualHost "localhost"
    authentication = "anonymous"
    allow_anonymous_storage = true
"""
XMPP_OPEN = '<open xmlns="urn:ietf:params:xml:ns:xmpp-framing" to="localhost" version="1.0"/>'


class XmppPeer:
    """An anonymous XMPP session over RFC 7395 WebSocket framing; ``<message>`` stanzas
    go to ``on_id`` by their id, everything else to the session's setup."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.jid = ""
        self.on_id: Callable[[str], None] | None = None
        self.setup: asyncio.Queue[str] = asyncio.Queue()
        self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        try:
            async for raw in self.ws:
                text = raw if isinstance(raw, str) else raw.decode()
                if text.startswith("<message") and self.on_id is not None:
                    head = text[: text.index(">")]
                    found = _XMPP_ID.search(head)
                    if found:
                        self.on_id(found.group(1))
                        continue
                self.setup.put_nowait(text)
        except Exception:
            pass

    async def expect(self, needle: str) -> str:
        async with asyncio.timeout(30):
            while True:
                text = await self.setup.get()
                if needle in text:
                    return text
                if "<failure" in text or "stream:error" in text:
                    raise RuntimeError(f"XMPP: {text[:200]}")

    async def login(self) -> None:
        await self.ws.send(XMPP_OPEN)
        await self.expect("ANONYMOUS")
        await self.ws.send('<auth xmlns="urn:ietf:params:xml:ns:xmpp-sasl" mechanism="ANONYMOUS"/>')
        await self.expect("<success")
        await self.ws.send(XMPP_OPEN)
        await self.expect("urn:ietf:params:xml:ns:xmpp-bind")
        await self.ws.send(
            '<iq xmlns="jabber:client" type="set" id="bind"><bind '
            'xmlns="urn:ietf:params:xml:ns:xmpp-bind"/></iq>'
        )
        reply = await self.expect("<jid>")
        self.jid = reply.split("<jid>", 1)[1].split("</jid>", 1)[0]

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self.ws.send('<close xmlns="urn:ietf:params:xml:ns:xmpp-framing"/>')
        await self.ws.close()
        await asyncio.gather(self.reader, return_exceptions=True)


_XMPP_ID = re.compile(r"\sid=['\"]([^'\"]+)['\"]")


@dataclass
class XmppPair(Pair):
    """A chat between two anonymous XMPP sessions: ``<message type='chat'>`` with the
    base64 ciphertext as its body, which Prosody routes and (with mod_mam) archives."""

    def send(self, rec: Recorder, k: int, due_ns: int, body: str, from_client: bool) -> None:
        id = f"m{rec.serial}x{k}"
        rec.sending(id, due_ns)
        to = self.team_name if from_client else self.client_name
        stanza = (
            f'<message xmlns="jabber:client" to="{to}" type="chat" id="{id}">'
            f"<body>{body}</body></message>"
        )
        _send(self.client if from_client else self.team, stanza)


class Prosody:
    """Prosody 0.12 from Debian: anonymous login, RFC 7395 WebSocket, no rate limits, and
    (``archive``) mod_mam archiving every message to SQLite, or without an archive."""

    stores = False  # no acks after commit in XMPP; delivery latency only

    def __init__(self, workdir: Path, *, archive: bool = True) -> None:
        self.workdir = workdir
        self.archive = archive
        self.name = "prosody-mam" if archive else "prosody"
        self.proc: Proc | None = None
        self.peers: list[XmppPeer] = []

    @staticmethod
    def available() -> bool:
        return Path(PROSODY).exists()

    async def prepare(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)

    async def start(self) -> Proc:
        run = self.workdir / f"run{len(list(self.workdir.glob('run*')))}"
        (run / "data").mkdir(parents=True)
        port = free_port()
        conf = run / "prosody.cfg.lua"
        conf.write_text(
            PROSODY_CONF.format(
                dir=run,
                port=port,
                c2s=free_port(),
                s2s=free_port(),
                archive='"mam"' if self.archive else "",
            )
        )
        self.proc = await start_process(
            self.name,
            [PROSODY, "--config", str(conf), "-F"],
            "",
            run / "prosody.stderr",
            port=port,
        )
        return self.proc

    async def stop(self) -> None:
        await self.close_all()
        if self.proc is not None:
            await self.proc.stop()
            self.proc = None

    async def close_all(self) -> None:
        await asyncio.gather(*(p.close() for p in self.peers), return_exceptions=True)
        self.peers = []

    async def peer(self) -> XmppPeer:
        assert self.proc is not None
        ws = await connect(
            f"ws://127.0.0.1:{self.proc.port}/xmpp-websocket",
            subprotocols=[Subprotocol("xmpp")],
            compression=None,
            max_size=None,
        )
        peer = XmppPeer(ws)
        self.peers.append(peer)
        await peer.login()
        return peer

    async def pairs(self, n: int, on_frame: OnFrame) -> list[Pair]:
        out: list[Pair] = []
        for _ in range(n):
            client, team = await self.peer(), await self.peer()

            def on_id(id: str) -> None:
                on_frame({"type": "message", "id": id})

            client.on_id = team.on_id = on_id
            out.append(XmppPair(client.ws, team.ws, "", client.jid, team.jid))
        return out

    async def idle(self, n: int) -> None:
        for _ in range(n):
            await self.peer()


System = ChatServer | NullRelay | Nchan | Prosody
