"""Key flows after the accept, through a real server. Rekeying (docs/e2e.md, "Rekey"): a
new epoch, a transfer to a colleague and a second device each start a new key generation
chained over the previous one's final counts; the client checks and acknowledges; what was
dropped, reordered or sent on a finished generation is detected. Legal hold (docs/e2e.md,
"Legal hold"): the re-wrap that keeps a held conversation readable without epoch keys."""

from __future__ import annotations

import base64
import secrets
from pathlib import Path
from typing import Any

import pytest
from conftest import ORIGIN, FakeClock, Server, dump
from test_e2e_flow import DAY, NOW, Team, make_team, upload
from test_retention import staff_http, sweeper

from chatserver import e2e
from chatserver.e2e.primitives import PrivateKey
from chatserver.sdk.e2e import SecureClient, SecureCounsellor, Tampering
from chatserver.sdk.peers import ChatRefused
from chatserver.storage import models as m
from chatserver.storage.db import sqlite_path
from chatserver.web.state import SERVICE

MINUTE = 60_000


class World:
    def __init__(self, server: Server, team: Team, clock: FakeClock) -> None:
        self.server, self.team, self.clock = server, team, clock
        self.signing: dict[str, PrivateKey] = {}
        self.ids: dict[str, str] = {}

    def now_ms(self) -> int:
        return int(self.clock.now * 1000)

    async def client(self) -> SecureClient:
        return await SecureClient.connect(
            self.server.url,
            "alpha",
            self.team.pin,
            self.now_ms(),
            origin=ORIGIN,
            clock=self.now_ms,
        )

    async def desk(self, username: str) -> SecureCounsellor:
        """A console of ``username`` with the team's epoch keys and the roster's signing keys."""
        authors = {self.ids[u]: e2e.public_bytes(k) for u, k in self.signing.items()}
        return SecureCounsellor(
            await self.server.console(username),
            self.team.epochs,
            self.signing[username],
            authors,
        )

    async def accepted(self, username: str = "anna") -> tuple[SecureClient, SecureCounsellor, str]:
        client = await self.client()
        cid = (await client.start())["conversation"]
        await client.say("hello?")
        desk = await self.desk(username)
        assert await desk.accept(cid) == ["hello?"]
        await desk.say(cid, "hi, I am here")
        assert await client.hear() == "hi, I am here"
        return client, desk, cid


@pytest.fixture
async def world(make_server: Any) -> World:
    return await make_world(make_server)


async def make_world(make_server: Any, **settings: Any) -> World:
    clock = FakeClock(NOW / 1000)
    server: Server = await make_server(clock=clock, **settings)
    await server.team("alpha")
    await server.staff("root", [], role="admin")
    # Epoch 1 ends a minute from now, epoch 2 follows (the fake clock moves two minutes).
    team = make_team("alpha", start=NOW - DAY + MINUTE)
    assert (await upload(server, "alpha", team.wires)).status == 201
    w = World(server, team, clock)
    for name in ("anna", "ben"):
        w.ids[name] = await server.staff(name, ["alpha"])
        w.signing[name] = e2e.generate()
    return w


async def test_rekey_to_the_next_epoch(world: World) -> None:
    """When the next epoch begins, the counsellor moves the chat to it: the client fetches
    and checks that epoch's bundle, both go on in generation 2, and a message the client sent
    while the rekey was on its way still arrives in generation 1."""
    client, desk, cid = await world.accepted()
    world.clock.advance(2 * MINUTE / 1000)
    assert await desk.rekey(cid, epoch=2) == 2
    await client.say("sent before I saw the rekey")  # still generation 1
    assert await desk.hear(cid) == "sent before I saw the rekey"
    assert client.receive(await client.peer.next("message")) is None  # the rekey
    await client.settle()  # checks epoch 2's bundle, acknowledges with final counts
    assert client.epochs[2] == 2 and client.channel is not None and client.channel.gen == 2

    await desk.say(cid, "new keys, same conversation")
    assert await client.hear() == "new keys, same conversation"
    sent = await client.say("still here")
    assert await desk.hear(cid) == "still here"  # the acknowledgement was checked on the way
    assert desk.held[cid].unacknowledged == set()
    assert sent["type"] == "ack"
    # Generation 1 is over in both directions.
    assert 1 in client.channel.finished and 1 in desk.held[cid].channel.finished


async def test_transfer_to_a_colleague_rekeys(world: World) -> None:
    """Ben takes over from Anna: he reads the whole history and her note from the server
    (keys from the escrowed envelopes, every message checked), rekeys, and the client
    talks to him in generation 2."""
    client, anna, cid = await world.accepted()
    await client.say("can I talk to someone else?")
    assert await anna.hear(cid) == "can I talk to someone else?"
    await anna.note(cid, "n1", "prefers a male counsellor")
    ben = await world.desk("ben")
    await anna.peer.transfer(cid, world.ids["ben"])
    assigned = await ben.peer.next("assigned")
    assert assigned["by"] == world.ids["anna"]

    history = await ben.take_over(assigned)

    assert history.messages == [
        ("client", "hello?"),
        ("team", "hi, I am here"),
        ("client", "can I talk to someone else?"),
    ]
    assert history.notes == ["prefers a male counsellor"]
    await ben.say(cid, "hi, Ben here")
    assert await client.hear() == "hi, Ben here"
    assert client.channel is not None and client.channel.gen == 2
    await client.say("hi Ben")
    assert await ben.hear(cid) == "hi Ben"


async def test_a_long_history_is_read_page_by_page(make_server: Any) -> None:
    """A fetch answers with a page of at most 500 messages: a colleague taking over a
    longer chat reads every page, in order, and the chat goes on."""
    world = await make_world(make_server, frame_rate=10_000.0, frame_burst=10_000)
    client, anna, cid = await world.accepted()
    for k in range(520):
        await client.say(f"line {k}")
    for k in range(520):
        assert await anna.hear(cid) == f"line {k}"
    ben = await world.desk("ben")
    await anna.peer.transfer(cid, world.ids["ben"])

    history = await ben.take_over(await ben.peer.next("assigned"))

    assert len(history.messages) == 522
    assert history.messages[-1] == ("client", "line 519")
    await ben.say(cid, "I read all of it")
    assert await client.hear() == "I read all of it"


async def test_a_second_device_takes_over_and_the_first_is_refused(world: World) -> None:
    """Anna opens a second console: it reads the conversation, rekeys, and a message her
    first device still sends on the finished generation is refused by the client."""
    client, first, cid = await world.accepted()
    second = await world.desk("anna")
    assigned = await second.peer.next("assigned")  # what a console is told at its hello
    assert assigned["conversation"] == cid
    history = await second.take_over(assigned)
    assert history.messages == [("client", "hello?"), ("team", "hi, I am here")]
    await second.say(cid, "from my phone")
    assert await client.hear() == "from my phone"

    # The first device does not know: its next message reuses generation 1's next place,
    # which the rekey took. The server refuses the reused message id ...
    with pytest.raises(ChatRefused) as refused:
        await first.say(cid, "from the old laptop")
    assert refused.value.frame["code"] == "conflict"
    # ... and a server that relays the old device's next message anyway is caught.
    msg_id, gen, n, body = first.held[cid].channel.seal("from the old laptop")
    forged = {
        "type": "message",
        "conversation": cid,
        "seq": 99,
        "sender": "team",
        "id": msg_id,
        "body": base64.b64encode(body).decode(),
        "gen": gen,
        "n": n,
        "kind": "msg",
        "at": 0,
    }
    with pytest.raises(Tampering, match="generation ended"):
        client.receive(forged)


@pytest.mark.parametrize(
    ("attack", "shown"),
    [
        ("drop_rekey", "unknown key generation"),
        ("drop_before_rekey", "message missing"),
        ("older_epoch", "older epoch"),
    ],
)
async def test_tampering_around_a_rekey_is_detected(world: World, attack: str, shown: str) -> None:
    """A server that drops the rekey, drops a message just before it, or serves a rekey
    to an older epoch is caught by the client."""
    world.clock.advance(2 * MINUTE / 1000)
    client, desk, cid = await world.accepted()
    target = 1 if attack == "older_epoch" else 2
    assert client.epochs[1] == 2  # the conversation started in epoch 2
    if attack == "older_epoch":
        desk.held[cid].epoch = 1  # a console made to rekey back to yesterday's epoch
    await desk.say(cid, "just before")
    await desk.rekey(cid, epoch=target)
    await desk.say(cid, "just after")
    frames = [await client.peer.next("message") for _ in range(3)]
    if attack == "drop_rekey":
        del frames[1]
    if attack == "drop_before_rekey":
        del frames[0]
    with pytest.raises(Tampering, match=shown):
        for frame in frames:
            client.receive(frame)
            await client.settle()


async def test_a_dropped_client_message_is_found_at_the_acknowledgement(world: World) -> None:
    """The client's final counts in its acknowledgement reveal a generation-1 message the
    server never delivered to the team."""
    client, desk, cid = await world.accepted()
    await desk.rekey(cid)
    await client.say("lost on the way")
    await desk.peer.next("message")  # the server "drops" it: the desk never sees it
    assert client.receive(await client.peer.next("message")) is None
    await client.settle()
    with pytest.raises(Tampering, match="never arrived"):
        await desk.hear(cid)


async def test_a_removed_member_cannot_read_after_the_rekey(world: World) -> None:
    """Ben leaves; the admin issues a new epoch that only Anna holds and Anna rekeys to it.
    Everything Ben kept (every epoch key he had, the first generation's escrowed key)
    opens nothing of the new generation."""
    client, anna, cid = await world.accepted()
    key10 = e2e.generate()  # made in the admin's browser, wrapped to Anna only
    wire = e2e.sign_bundle(
        world.team.root,
        "alpha",
        10,
        e2e.public_bytes(key10),
        world.now_ms() - 1000,
        world.now_ms() - 1000 + DAY,
    )
    assert (await upload(world.server, "alpha", [wire])).status == 201
    bundle10 = e2e.check_bundle(wire, pin_value=world.team.pin, team="alpha", now=world.now_ms())
    anna.epochs = {**anna.epochs, 10: (key10, bundle10)}
    await anna.rekey(cid, epoch=10)
    assert client.receive(await client.peer.next("message")) is None
    await client.settle()
    assert client.epochs[2] == 10

    ben_keys = [k for k, _ in world.team.epochs.values()]  # what Ben held before he left
    envelopes = await anna.peer.envelopes(cid)
    new_key = next(e for e in envelopes if e["id"] == "conv-key-2")
    assert new_key["epoch"] == 10
    for key in ben_keys:
        with pytest.raises(e2e.E2EError) as refused:
            e2e.open_envelope(
                key, e2e.encoding.b64d(new_key["body"]), e2e.public_bytes(world.signing["anna"])
            )
        assert refused.value.reason == "decrypt_failed"


async def test_legal_hold_keeps_a_conversation_readable_without_epoch_keys(world: World) -> None:
    """A supervisor places a legal hold: the keys of every generation and the notes are
    re-wrapped to the admin's identity key. The admin then reads the whole conversation
    with that key alone (as after the epoch keys are destroyed); generations started
    after the hold are counted as not covered."""
    client, anna, cid = await world.accepted()
    await anna.note(cid, "n1", "child-protection concern, see case file")
    world.clock.advance(2 * MINUTE / 1000)
    await anna.rekey(cid, epoch=2)
    assert client.receive(await client.peer.next("message")) is None
    await client.settle()
    await client.say("are you still there?")
    assert await anna.hear(cid) == "are you still there?"

    ada_id = await world.server.staff("ada", ["alpha"], role="admin")
    sue_id = await world.server.staff("sue", ["alpha"], role="supervisor")
    world.ids.update(ada=ada_id, sue=sue_id)
    world.signing.update(ada=e2e.generate(), sue=e2e.generate())
    ada_identity = e2e.generate()  # from the roster, in the admin's browser
    sue = await world.desk("sue")
    stored = await sue.place_hold(cid, {ada_id: e2e.public_bytes(ada_identity)})
    assert stored == await sue.place_hold(cid, {ada_id: e2e.public_bytes(ada_identity)})

    await anna.rekey(cid, epoch=2)  # after the hold: a generation it does not cover
    assert client.receive(await client.peer.next("message")) is None
    await client.settle()
    await anna.say(cid, "written after the hold")

    ada = await world.desk("ada")
    ada.epochs = {}  # the epoch keys are gone: only the identity key is left
    history = await ada.read_under_hold(cid, ada_identity)
    assert history.messages == [
        ("client", "hello?"),
        ("team", "hi, I am here"),
        ("client", "are you still there?"),
    ]
    assert history.notes == ["child-protection concern, see case file"]
    assert history.unreadable == 2  # the client's acknowledgement and Anna's last message


async def _retired(server: Server) -> tuple[set[int], set[int]]:
    """The epochs (all team alpha's here), and those retention retired (keys destroyed)."""
    columns = [c.name for c in m.team_epochs.columns]
    stored = (await dump(server.settings.database_url))["team_epochs"]
    rows = [dict(zip(columns, r, strict=True)) for r in stored]
    return {r["epoch"] for r in rows}, {r["epoch"] for r in rows if r["retired_at"] is not None}


async def test_a_hold_keeps_the_epoch_keys_its_conversation_needs(world: World) -> None:
    """Retention destroys an epoch's keys some days after it ends (``epoch_keys``), but not
    while a hold in force covers a conversation that needs them: the epoch its client
    encrypted to first and those of its rekeys. Once the hold is released, they go at the
    next sweep (docs/retention.md, "Legal holds")."""
    client, anna, cid = await world.accepted()
    world.clock.advance(2 * MINUTE / 1000)
    await anna.rekey(cid, epoch=2)
    assert client.receive(await client.peer.next("message")) is None
    await client.settle()
    await world.server.staff("sue", ["alpha"], role="supervisor")
    sue = await staff_http(world.server, "sue")
    status, hold = await sue(
        "POST", f"/api/conversations/{cid}/holds", {"reason": "court order 7", "days": 365}
    )
    assert status == 201, hold

    world.clock.advance(60 * DAY / 1000)  # every uploaded epoch ended long ago
    await sweeper(world.server, world.clock).run()
    epochs, retired = await _retired(world.server)
    assert {1, 2} <= epochs and len(epochs) > 2
    assert retired == epochs - {1, 2}

    sue = await staff_http(world.server, "sue")  # the first session has expired
    status, _ = await sue("DELETE", f"/api/holds/{hold['id']}")
    assert status == 200
    await sweeper(world.server, world.clock).run()
    assert (await _retired(world.server))[1] == epochs


async def test_only_supervisors_place_holds_and_readers_check_the_author(world: World) -> None:
    """A counsellor cannot store a hold envelope; a hold by someone the roster does not
    name is refused by the reader."""
    _client, anna, cid = await world.accepted()
    identity = e2e.generate()
    with pytest.raises(ChatRefused) as refused:
        await anna.place_hold(cid, {world.ids["ben"]: e2e.public_bytes(identity)})
    assert refused.value.code == "forbidden"

    world.ids["sue"] = await world.server.staff("sue", ["alpha"], role="supervisor")
    world.signing["sue"] = e2e.generate()
    sue = await world.desk("sue")
    await sue.place_hold(cid, {world.ids["anna"]: e2e.public_bytes(identity)})
    reader = await world.desk("anna")
    del reader.authors[world.ids["sue"]]  # a roster that does not name Sue
    with pytest.raises(Tampering, match="roster does not name"):
        await reader.read_under_hold(cid, identity)


async def test_no_marker_reaches_the_database_or_the_servers_own_view(world: World) -> None:
    """A scripted conversation with unique markers in every part (queued and live client
    messages, the counsellor, a note, a handover note, a transfer with rekey): no marker in
    the SQLite file and its WAL or the PostgreSQL dump, nor in what the server itself can
    unseal with its keystore. The same scans find markers the server was given in the
    clear, so they can fail."""
    server = world.server
    mark = "MARK" + secrets.token_hex(6)
    client = await world.client()
    cid = (await client.start())["conversation"]
    await client.say(f"{mark} queued")
    anna = await world.desk("anna")
    assert await anna.accept(cid) == [f"{mark} queued"]
    await anna.say(cid, f"{mark} counsellor")
    assert await client.hear() == f"{mark} counsellor"
    await client.say(f"{mark} client live")
    assert await anna.hear(cid) == f"{mark} client live"
    await anna.note(cid, "n1", f"{mark} note")
    ben = await world.desk("ben")
    await anna.transfer(cid, world.ids["ben"], f"{mark} handover")
    history = await ben.take_over(await ben.peer.next("assigned"))
    assert history.handovers == [f"{mark} handover"]
    await ben.say(cid, f"{mark} after transfer")
    assert await client.hear() == f"{mark} after transfer"
    # Controls: a display name is stored in the clear, and a client that skips the
    # end-to-end layer hands the server its plaintext.
    await server.staff("clear", ["alpha"], name=f"{mark} display name")
    bypass = await server.client()
    plain = await bypass.start("alpha", b"\x04" + bytes(64))
    await bypass.send("p1", f"{mark} bypass".encode())

    found = mark.encode()
    path = sqlite_path(server.settings.database_url)
    if path is not None:
        stored = b"".join(p.read_bytes() for p in (path, Path(f"{path}-wal")) if p.exists())
    else:
        stored = repr(await dump(server.settings.database_url)).encode()
    assert f"{mark} display name".encode() in stored
    for text in ("queued", "counsellor", "client live", "note", "handover", "after transfer"):
        assert f"{mark} {text}".encode() not in stored

    service = server.app[SERVICE]
    readable = b"".join(m.body for m in await service.store.messages_after(cid, 0))
    readable += b"".join(e2e.encoding.b64d(i["body"]) for i in await ben.peer.envelopes(cid))
    assert found not in readable
    leaked = await service.store.messages_after(plain["conversation"], 0)
    assert found in b"".join(m.body for m in leaked)
