"""End-to-end encrypted conversations through a real server: the admin uploads signed
epoch bundles, the client checks them against its pin, both sides chat, the team writes a
note, and neither a database dump nor the server's own view holds a word of it. The test
plays the tampering server by changing frames before a peer sees them."""

from __future__ import annotations

import base64
import copy
import secrets
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
from conftest import ORIGIN, FakeClock, Server, credential, dump

from chatserver import e2e
from chatserver.e2e.primitives import PrivateKey
from chatserver.sdk.e2e import SecureClient, SecureCounsellor, Tampering
from chatserver.sdk.peers import login
from chatserver.web.state import SERVICE

DAY = 86_400_000
NOW = 1_800_000_000_000


@dataclass
class Team:
    root: PrivateKey
    epochs: dict[int, tuple[PrivateKey, e2e.Bundle]]
    wires: list[dict[str, Any]]

    @property
    def pin(self) -> str:
        return e2e.pin(e2e.public_bytes(self.root))


def make_team(slug: str, first: int = 1, count: int = 3, start: int = NOW - 1000) -> Team:
    """What the admin's browser does: a root key and a few daily epochs, signed."""
    root = e2e.generate()
    epochs, wires = {}, []
    for i in range(count):
        epoch, key = first + i, e2e.generate()
        nb = start + i * DAY
        wire = e2e.sign_bundle(root, slug, epoch, e2e.public_bytes(key), nb, nb + DAY)
        wires.append(wire)
        bundle = e2e.check_bundle(wire, pin_value=None, team=slug, now=nb)
        epochs[epoch] = (key, bundle)
    return Team(root, epochs, wires)


async def upload(server: Server, slug: str, wires: list[dict[str, Any]]) -> aiohttp.ClientResponse:
    cookie, csrf = await login(server.url, "root", credential=credential("root"), origin=ORIGIN)
    async with aiohttp.ClientSession() as http:
        response = await http.post(
            f"{server.url}/api/teams/{slug}/bundles",
            json={"bundles": wires},
            headers={"Cookie": cookie, "X-CSRF-Token": csrf, "Origin": ORIGIN},
        )
        await response.read()
        return response


@pytest.fixture
async def setup(make_server: Any) -> tuple[Server, Team]:
    clock = FakeClock(NOW / 1000)
    server: Server = await make_server(clock=clock)
    await server.team("alpha")
    await server.team("beta")
    await server.staff("root", [], role="admin")
    await server.staff("anna", ["alpha"])
    team = make_team("alpha")
    assert (await upload(server, "alpha", team.wires)).status == 201
    return server, team


async def connect(server: Server, team: Team, **kw: Any) -> SecureClient:
    return await SecureClient.connect(
        server.url, "alpha", kw.pop("pin", team.pin), NOW, origin=ORIGIN, **kw
    )


async def counsellor(server: Server, team: Team) -> SecureCounsellor:
    return SecureCounsellor(await server.console("anna"), team.epochs, e2e.generate())


async def accepted(server: Server, team: Team) -> tuple[SecureClient, SecureCounsellor, str]:
    """A client whose first message Anna accepted; the client has taken the accept."""
    client = await connect(server, team)
    cid = (await client.start())["conversation"]
    await client.say("hi")
    desk = await counsellor(server, team)
    await desk.accept(cid)
    assert client.receive(await client.peer.next("message")) is None  # the accept
    return client, desk, cid


async def test_encrypted_conversation_leaves_no_plaintext(setup: tuple[Server, Team]) -> None:
    """Queue, accept, chat both ways and a note; no marker in the database or the bodies
    the server holds, while the same scan finds markers sent without encryption."""
    server, team = setup
    marker = "MARK" + secrets.token_hex(6)
    client = await connect(server, team)
    started = await client.start()
    cid = started["conversation"]
    await client.say(f"{marker} queued one")
    await client.say(f"{marker} queued two")
    desk = await counsellor(server, team)
    assert await desk.accept(cid) == [f"{marker} queued one", f"{marker} queued two"]
    await desk.say(cid, f"{marker} hello, I am Anna")
    assert await client.hear() == f"{marker} hello, I am Anna"
    await client.say(f"{marker} thank you")
    assert await desk.hear(cid) == f"{marker} thank you"
    await desk.note(cid, "n1", f"{marker} internal note")

    service = server.app[SERVICE]
    held_bodies = b"".join(m.body for m in await service.store.messages_after(cid, 0))
    dumped = repr(await dump(server.settings.database_url)).encode()
    for haystack in (held_bodies, dumped):
        assert marker.encode() not in haystack
    # The same scan finds a marker that was sent without end-to-end encryption.
    bypass = await server.client()
    plain = await bypass.start("alpha", b"\x04" + bytes(64))
    await bypass.send("p1", f"{marker} plaintext".encode())
    leaked = b"".join(m.body for m in await service.store.messages_after(plain["conversation"], 0))
    assert marker.encode() in leaked


async def test_bundle_checks_refuse_a_substituting_server(setup: tuple[Server, Team]) -> None:
    """Wrong pin, another team's bundle and a rolled-back epoch stop the widget."""
    server, team = setup
    with pytest.raises(e2e.E2EError) as refused:
        await connect(server, team, pin=e2e.pin(e2e.public_bytes(e2e.generate())))
    assert refused.value.reason == "pin_mismatch"
    with pytest.raises(e2e.E2EError) as refused:
        await connect(server, team, min_epoch=2)
    assert refused.value.reason == "epoch_rollback"
    # A server that answers alpha's widget with beta's (validly signed) bundle.
    beta = make_team("beta", count=1)
    assert (await upload(server, "beta", beta.wires)).status == 201
    with pytest.raises(e2e.E2EError) as refused:
        e2e.check_bundle(beta.wires[0], pin_value=team.pin, team="alpha", now=NOW)
    assert refused.value.reason == "pin_mismatch"
    with pytest.raises(e2e.E2EError) as refused:
        e2e.check_bundle(beta.wires[0], pin_value=beta.pin, team="alpha", now=NOW)
    assert refused.value.reason == "wrong_team"


async def test_upload_shape_checks_and_idempotency(setup: tuple[Server, Team]) -> None:
    """The server refuses malformed bundles and a second, different bundle for an epoch."""
    server, team = setup
    assert (await upload(server, "alpha", team.wires)).status == 200  # the same again
    other = make_team("alpha", count=1)
    assert (await upload(server, "alpha", other.wires)).status == 409
    broken = copy.deepcopy(team.wires[0])
    broken["sig"] = base64.b64encode(b"x" * 10).decode()
    assert (await upload(server, "alpha", [broken])).status == 400
    assert (await upload(server, "beta", team.wires)).status == 400  # names another team


@pytest.mark.parametrize(
    "tamper",
    ["reorder", "drop", "replay", "reflect", "swap_conversation", "change_body", "equivocate"],
)
async def test_tampered_messages_are_detected(setup: tuple[Server, Team], tamper: str) -> None:
    """Every change the server could make to the client's incoming messages is caught."""
    client, desk, cid = await accepted(*setup)
    for i in range(3):
        await desk.say(cid, f"message {i}")
    frames = [await client.peer.next("message") for _ in range(3)]
    first, second, third = frames
    with pytest.raises((Tampering, e2e.E2EError)):
        if tamper == "reorder":
            client.receive(second)
        elif tamper == "drop":
            client.receive(first)
            client.receive(third)
        elif tamper == "replay":
            client.receive(first)
            client.receive(first)
        elif tamper == "reflect":
            client.receive(
                {**first, "body": base64.b64encode(client.channel.seal("x")[3]).decode()}
            )
        elif tamper == "swap_conversation":
            client.receive({**first, "conversation": "someone-else"})
        elif tamper == "change_body":
            body = bytearray(base64.b64decode(first["body"]))
            body[-1] ^= 1
            client.receive({**first, "body": base64.b64encode(bytes(body)).decode()})
        elif tamper == "equivocate":
            client.receive(first)
            client.receive({**first, "body": second["body"]})


@pytest.mark.parametrize("ending", ["clean", "last_dropped", "mine_dropped", "close_dropped"])
async def test_the_end_of_a_conversation_is_checked(
    setup: tuple[Server, Team], ending: str
) -> None:
    """The final counts reveal dropped last messages in either direction, and a missing
    close message leaves the conversation marked as ended without confirmation."""
    client, desk, cid = await accepted(*setup)
    for i in range(2):
        await desk.say(cid, f"message {i}")
    if ending == "mine_dropped":
        assert client.channel is not None
        client.channel.seal("never delivered")  # sent by the client, dropped by the server
    if ending == "close_dropped":
        await desk.peer.close_conversation(cid)
    else:
        await desk.close(cid)
    frames = [
        await client.peer.next("message") for _ in range(2 if ending == "close_dropped" else 3)
    ]
    if ending == "last_dropped":
        del frames[1]
    if ending in ("clean", "close_dropped"):
        assert [client.receive(f) for f in frames][:2] == ["message 0", "message 1"]
        await client.peer.next("state")
        assert client.ended_cleanly is (ending == "clean")
        return
    with pytest.raises(Tampering):
        for frame in frames:
            client.receive(frame)
    assert not client.ended_cleanly
