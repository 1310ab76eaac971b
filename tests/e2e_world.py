"""A team with real keys behind a real server and a tampering proxy in front of it.

The agency's admin (``root``) signed three epoch bundles for team ``alpha`` and a roster
naming Anna (counsellor) and Sam (supervisor) with their keys; team ``beta`` belongs to
another agency (another root key), team ``gamma`` to the same agency as alpha (the same
root). Bundles are valid for two days and start a day apart, so that at any time after the
first day two epochs are valid at once: a server could serve either.

Peers reach the server directly or through :class:`~tamper_proxy.TamperProxy`; everything
they do is what the widget and the console do, through public interfaces only.
"""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from conftest import ORIGIN, FakeClock, Server, credential
from tamper_proxy import Frame, Link, TamperProxy

from chatserver import e2e
from chatserver.e2e.primitives import PrivateKey
from chatserver.sdk.e2e import SecureClient, SecureCounsellor, Tampering
from chatserver.sdk.peers import ClientPeer, ConsolePeer, login

DAY = 86_400_000
NOW = 1_800_000_000_000
WINDOW = 2 * DAY  # the longest a bundle may be valid: epochs overlap by a day


@dataclass
class TeamSecrets:
    """What the agency's admin browser holds for a team: the root key and the epoch keys."""

    slug: str
    root: PrivateKey
    epochs: dict[int, tuple[PrivateKey, e2e.Bundle]]
    wires: list[dict[str, Any]]

    @property
    def pin(self) -> str:
        return e2e.pin(e2e.public_bytes(self.root))


def team_secrets(slug: str, root: PrivateKey | None = None, count: int = 3) -> TeamSecrets:
    """A root key (new unless given) and ``count`` epochs, 1, 2, …, each signed by it;
    epoch ``i`` is valid from ``NOW - 1000 + (i - 1) days`` for two days."""
    root = root or e2e.generate()
    epochs: dict[int, tuple[PrivateKey, e2e.Bundle]] = {}
    wires = []
    for epoch in range(1, count + 1):
        key = e2e.generate()
        nb = NOW - 1000 + (epoch - 1) * DAY
        wire = e2e.sign_bundle(root, slug, epoch, e2e.public_bytes(key), nb, nb + WINDOW)
        wires.append(wire)
        epochs[epoch] = (key, e2e.check_bundle(wire, pin_value=None, team=slug, now=nb))
    return TeamSecrets(slug, root, epochs, wires)


@dataclass
class Staff:
    """A member's account and the keys its console holds (made in its browser)."""

    id: str
    username: str
    role: str
    dh: PrivateKey = field(default_factory=e2e.generate)
    sig: PrivateKey = field(default_factory=e2e.generate)

    def member(self) -> e2e.Member:
        return e2e.Member(
            self.id, self.role, e2e.public_bytes(self.dh), e2e.public_bytes(self.sig), NOW
        )


@dataclass
class World:
    server: Server
    clock: FakeClock
    proxy: TamperProxy
    alpha: TeamSecrets
    beta: TeamSecrets
    gamma: TeamSecrets
    anna: Staff
    sam: Staff
    peers: list[ClientPeer | ConsolePeer] = field(default_factory=list)

    @property
    def now_ms(self) -> int:
        return int(self.clock.now * 1000)

    def base(self, via_proxy: bool) -> str:
        return self.proxy.url if via_proxy else self.server.url

    async def client(
        self,
        *,
        via_proxy: bool = True,
        pin: str | None = None,
        min_epoch: int = 0,
        team: str = "alpha",
    ) -> SecureClient:
        """The widget: fetch and check the bundle, then connect (raises on a failed check)."""
        client = await SecureClient.connect(
            self.base(via_proxy),
            team,
            pin or self.alpha.pin,
            self.now_ms,
            origin=ORIGIN,
            min_epoch=min_epoch,
            clock=lambda: self.now_ms,
        )
        self.peers.append(client.peer)
        return client

    async def sign_in(self, staff: Staff, *, via_proxy: bool = False) -> str:
        cookie, _csrf = await login(
            self.base(via_proxy),
            staff.username,
            credential=credential(staff.username),
            origin=ORIGIN,
        )
        return cookie

    async def console(self, staff: Staff, *, via_proxy: bool = False) -> ConsolePeer:
        cookie = await self.sign_in(staff, via_proxy=via_proxy)
        peer = await ConsolePeer.connect(self.base(via_proxy), cookie, origin=ORIGIN)
        self.peers.append(peer)
        return peer

    async def desk(
        self,
        staff: Staff | None = None,
        *,
        via_proxy: bool = False,
        authors: dict[str, bytes] | None = None,
    ) -> SecureCounsellor:
        """A console holding the epoch keys of alpha (as unwrapped from its envelopes) and
        the signing keys of ``authors`` (as the roster names them)."""
        staff = staff or self.anna
        peer = await self.console(staff, via_proxy=via_proxy)
        return SecureCounsellor(peer, self.alpha.epochs, staff.sig, authors)

    async def accepted(
        self, desk: SecureCounsellor, *, via_proxy: bool = True
    ) -> tuple[SecureClient, str]:
        """A client whose first message the desk accepted; the client took the accept."""
        client = await self.client(via_proxy=via_proxy)
        cid = (await client.start())["conversation"]
        await client.say("hello, is anyone there?")
        assert await desk.accept(cid) == ["hello, is anyone there?"]
        assert client.receive(await client.peer.next("message")) is None  # the accept
        return client, cid

    async def roster(self, cookie: str, *, via_proxy: bool = True) -> e2e.Roster:
        """The signed roster as a console checks it against the pin."""
        async with (
            aiohttp.ClientSession() as http,
            http.get(
                f"{self.base(via_proxy)}/api/teams/alpha/roster", headers={"Cookie": cookie}
            ) as response,
        ):
            wire = await response.json()
        return e2e.check_roster(wire, pin_value=self.alpha.pin, team="alpha")

    async def close(self) -> None:
        for peer in self.peers:
            await peer.close()


async def _admin_post(server: Server, cookie: str, csrf: str, path: str, body: Any) -> int:
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            server.url + path,
            json=body,
            headers={"Cookie": cookie, "X-CSRF-Token": csrf, "Origin": ORIGIN},
        ) as response,
    ):
        await response.read()
        return response.status


@asynccontextmanager
async def open_world(make_server: Callable[..., Any]) -> AsyncIterator[World]:
    clock = FakeClock(NOW / 1000)
    # Sessions outlive the two days the bundle tests move the clock on.
    server: Server = await make_server(clock=clock, session_hours=72.0)
    for slug in ("alpha", "beta", "gamma"):
        await server.team(slug)
    await server.staff("root", [], role="admin")
    anna = Staff(await server.staff("anna", ["alpha"]), "anna", "counsellor")
    sam = Staff(await server.staff("sam", ["alpha"], role="supervisor"), "sam", "supervisor")
    alpha = team_secrets("alpha")
    beta, gamma = team_secrets("beta"), team_secrets("gamma", root=alpha.root)
    cookie, csrf = await login(server.url, "root", credential=credential("root"), origin=ORIGIN)
    for team in (alpha, beta, gamma):
        path = f"/api/teams/{team.slug}/bundles"
        assert await _admin_post(server, cookie, csrf, path, {"bundles": team.wires}) == 201
    roster = e2e.sign_roster(alpha.root, "alpha", 1, NOW, [anna.member(), sam.member()])
    path = "/api/teams/alpha/roster"
    assert await _admin_post(server, cookie, csrf, path, {"roster": roster}) == 201
    async with TamperProxy(server.url) as proxy:
        world = World(server, clock, proxy, alpha, beta, gamma, anna, sam)
        try:
            yield world
        finally:
            await world.close()


# ----------------------------------------------------------------------- frames
def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def unb64(text: str) -> bytes:
    return base64.b64decode(text)


def from_team(frame: Frame, *, gen: int = 1, kind: str = "msg", n: int | None = None) -> bool:
    """Whether ``frame`` is a team message of generation ``gen`` and ``kind`` (and ``n``)."""
    return (
        frame.get("type") == "message"
        and frame.get("sender") == "team"
        and frame.get("gen") == gen
        and frame.get("kind") == kind
        and (n is None or frame.get("n") == n)
    )


def flip_last_byte(data: bytes) -> bytes:
    return data[:-1] + bytes([data[-1] ^ 1])


def read_note(
    frame: Frame, roster: e2e.Roster, epochs: dict[int, tuple[PrivateKey, e2e.Bundle]]
) -> str:
    """What a console does with an ``envelope`` frame of purpose ``note`` (docs/e2e.md,
    Envelopes): the author's key from the signed roster, never from the frame's bytes; the
    epoch key the frame names; then the header must name what the frame claims."""
    author = roster.members.get(frame["author"])
    if author is None:
        raise e2e.E2EError("bad_signature", "the author is not in the signed roster")
    if frame["epoch"] not in epochs:
        raise e2e.E2EError("decrypt_failed", "no key of this epoch")
    key, _bundle = epochs[frame["epoch"]]
    env, payload = e2e.open_envelope(key, unb64(frame["body"]), author.sig_pub)
    if (env.purpose, env.conversation, env.epoch) != (
        frame["purpose"],
        frame["conversation"],
        frame["epoch"],
    ):
        raise Tampering("the note was written for another conversation, purpose or epoch")
    return payload.decode()


def links_to(proxy: TamperProxy, path: str) -> list[Link]:
    return [link for link in proxy.links if link.path == path]
