"""The tampering server played from outside the process: a proxy between real sockets
(``tamper_proxy.py``) stands between real peers and the real server and drops, holds,
replays, reflects, swaps, rewrites and substitutes what passes. Every change of the threat
model (docs/e2e.md) is detected and reported with its reason, never silently accepted.

The first test shows the same proxy, left alone, changes nothing: each refusal below is the
tampering's doing. The last ones sign a member in through the proxy and show the password
never crosses it.
"""

from __future__ import annotations

import base64
import json
import unicodedata
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, quote_plus, unquote, unquote_plus

import aiohttp
import pytest
from conftest import ORIGIN, SALT, until
from e2e_world import (
    DAY,
    World,
    b64,
    flip_last_byte,
    from_team,
    links_to,
    open_world,
    read_note,
    unb64,
)
from tamper_proxy import Exchange, Frame, Link, Reply
from websockets.exceptions import InvalidStatus

from chatserver import e2e
from chatserver.ops import cli
from chatserver.sdk.e2e import SecureClient, SecureCounsellor, Tampering, fetch_bundle
from chatserver.sdk.peers import ChatRefused, ClientPeer, ConsolePeer, login
from chatserver.staff import auth


@pytest.fixture
async def world(make_server: Callable[..., Any]) -> AsyncIterator[World]:
    async with open_world(make_server) as built:
        yield built


@dataclass
class Chat:
    """An accepted conversation whose client talks through the proxy on ``link``."""

    world: World
    client: SecureClient
    desk: SecureCounsellor
    cid: str
    link: Link

    async def team_says(self, *texts: str) -> None:
        for text in texts:
            await self.desk.say(self.cid, text)


@pytest.fixture
async def chat(world: World) -> Chat:
    desk = await world.desk()
    client, cid = await world.accepted(desk)
    return Chat(world, client, desk, cid, await world.proxy.conversation_link(cid))


# ----------------------------------------------------------------------- the control
async def test_an_untouched_conversation_passes_the_proxy_intact(world: World) -> None:
    """Both sides through the proxy: bundle, queue, accept, chat and the final counts all
    check out, so the proxy by itself changes nothing a peer can see."""
    desk = await world.desk(via_proxy=True)
    client, cid = await world.accepted(desk)
    await desk.say(cid, "hello, I am Anna")
    assert await client.hear() == "hello, I am Anna"
    await client.say("thank you")
    assert await desk.hear(cid) == "thank you"
    await desk.close(cid)
    assert await client.hear() == ""  # the final counts
    await until(client.peer, "state", state="closed")
    assert client.ended_cleanly

    proxy = world.proxy
    link = await proxy.conversation_link(cid)
    team = [(f["gen"], f["n"], f["kind"]) for f in link.to_peer.seen.find("message")]
    assert team == [(0, 0, "accept"), (1, 0, "msg"), (1, 1, "close")]
    (console,) = links_to(proxy, "/ws/console")
    assert [f["kind"] for f in console.to_server.seen.find("send")] == ["accept", "msg", "close"]
    paths = [(e.method, e.path) for e in proxy.exchanges]
    assert ("GET", "/api/teams/alpha/bundle") in paths
    assert ("POST", "/api/login") in paths


async def test_the_proxy_passes_refusals_and_close_codes_unchanged(world: World) -> None:
    """Through the proxy a peer meets the server's own answers: the Origin and the cookie
    reach the server as sent (a foreign origin or a missing cookie is refused with the
    server's status) and a close code comes back unchanged."""
    cookie = await world.sign_in(world.anna)

    async def refused_with(base: str, peer: str, origin: str) -> int:
        with pytest.raises(InvalidStatus) as refused:
            if peer == "client":
                await ClientPeer.connect(base, origin=origin)
            else:
                await ConsolePeer.connect(base, "" if peer == "stranger" else cookie, origin=origin)
        return refused.value.response.status_code

    async def close_code(base: str) -> int | None:
        peer = await ClientPeer.connect(base, origin=ORIGIN)
        world.peers.append(peer)
        await peer.send_raw(b"\x00 binary")
        return await peer.wait_closed()

    for base in (world.server.url, world.proxy.url):
        assert await refused_with(base, "client", "http://evil.test") == 403
        assert await refused_with(base, "console", "http://evil.test") == 403
        assert await refused_with(base, "stranger", ORIGIN) == 401
        assert await close_code(base) == 1003
    console = await ConsolePeer.connect(world.proxy.url, cookie, origin=ORIGIN)
    world.peers.append(console)
    assert console.hello["staff"] == world.anna.id


# ----------------------------------------------------------------------- the message stream
async def test_reordered_messages_are_detected(chat: Chat) -> None:
    """The proxy holds the team's first message back and releases it after the second:
    the client refuses the second as out of order, then gets the first late."""
    link = chat.link
    link.to_peer.hook = lambda link, f: link.to_peer.hold(f) if from_team(f, n=0) else [f]
    await chat.team_says("first", "second")
    await link.to_peer.seen.wait("message", gen=1, n=1)
    await link.to_peer.release()
    with pytest.raises(Tampering, match=r"message missing: expected #0, got #1"):
        await chat.client.hear()
    late = await chat.client.peer.next("message")
    assert (late["gen"], late["n"]) == (1, 0)


async def test_a_dropped_message_is_detected(chat: Chat) -> None:
    """The proxy drops the middle one of three messages: the third shows the gap."""
    chat.link.to_peer.hook = lambda link, f: [] if from_team(f, n=1) else [f]
    await chat.team_says("one", "two", "three")
    assert await chat.client.hear() == "one"
    with pytest.raises(Tampering, match=r"message missing: expected #1, got #2"):
        await chat.client.hear()


async def test_a_replayed_message_is_detected(chat: Chat) -> None:
    """The proxy delivers the first message again after the second: refused as a replay."""

    def replay(link: Link, frame: Frame) -> list[Frame]:
        if from_team(frame, n=1):
            (first,) = link.to_peer.seen.find("message", gen=1, n=0)
            return [frame, first]
        return [frame]

    chat.link.to_peer.hook = replay
    await chat.team_says("one", "two")
    assert [await chat.client.hear() for _ in range(2)] == ["one", "two"]
    with pytest.raises(Tampering, match=r"delivered twice \(replay\)"):
        await chat.client.hear()


async def test_a_reflected_message_is_detected(chat: Chat) -> None:
    """The client's own message, sent back to it as if the team had written it, does not
    open under the team's key; the real one still reaches the counsellor."""
    await chat.client.say("only for the counsellor")
    sent = await chat.link.to_server.seen.wait("send", gen=1)
    reflected = {
        "type": "message",
        "conversation": chat.cid,
        "seq": 99,
        "sender": "team",
        **{k: sent[k] for k in ("id", "body", "gen", "n", "kind")},
        "at": chat.world.now_ms,
    }
    await chat.link.to_peer.send(reflected)
    with pytest.raises(e2e.E2EError) as refused:
        await chat.client.hear()
    assert refused.value.reason == "decrypt_failed"
    assert await chat.desk.hear(chat.cid) == "only for the counsellor"


@pytest.mark.parametrize("relabel", [False, True], ids=["as_sent", "relabelled"])
async def test_a_message_of_another_conversation_is_detected(world: World, relabel: bool) -> None:
    """A message the team wrote in conversation B is delivered on A's socket, as sent or
    with A's conversation id written over B's: refused either way."""
    desk = await world.desk()
    client_a, cid_a = await world.accepted(desk)
    _client_b, cid_b = await world.accepted(desk)
    link_a, link_b = [await world.proxy.conversation_link(c) for c in (cid_a, cid_b)]
    assert link_a is not link_b

    async def divert(link: Link, frame: Frame) -> list[Frame]:
        if from_team(frame):
            await link_a.to_peer.send({**frame, "conversation": cid_a} if relabel else frame)
            return []
        return [frame]

    link_b.to_peer.hook = divert
    await desk.say(cid_b, "meant for B only")
    if relabel:
        with pytest.raises(e2e.E2EError) as refused:
            await client_a.hear()
        assert refused.value.reason == "decrypt_failed"
    else:
        with pytest.raises(Tampering, match="another conversation"):
            await client_a.hear()


async def test_an_equivocating_resend_is_detected(chat: Chat) -> None:
    """After the first message, the proxy sends its place (gen, n, id) again with other
    bytes (the second message's): shown as equivocation, not taken as either."""

    def equivocate(link: Link, frame: Frame) -> list[Frame]:
        if from_team(frame, n=1):
            (first,) = link.to_peer.seen.find("message", gen=1, n=0)
            return [{**first, "seq": frame["seq"], "body": frame["body"]}]
        return [frame]

    chat.link.to_peer.hook = equivocate
    await chat.team_says("the truth", "something else")
    assert await chat.client.hear() == "the truth"
    with pytest.raises(Tampering, match="equivocation"):
        await chat.client.hear()


async def test_a_changed_message_is_detected(chat: Chat) -> None:
    """One flipped bit of a message body on the way: the message does not open."""

    def change(link: Link, frame: Frame) -> list[Frame]:
        if from_team(frame, n=0):
            return [{**frame, "body": b64(flip_last_byte(unb64(frame["body"])))}]
        return [frame]

    chat.link.to_peer.hook = change
    await chat.team_says("do not change me")
    with pytest.raises(e2e.E2EError) as refused:
        await chat.client.hear()
    assert refused.value.reason == "decrypt_failed"


# ----------------------------------------------------------------------- the end
async def client_closes(client: SecureClient) -> None:
    """The client's final counts (the widget's part; SecureClient has no close of its own)."""
    assert client.channel is not None
    msg_id, gen, n, body = client.channel.seal_close()
    await client.peer.send(msg_id, body, gen=gen, n=n, kind="close")


async def read_until_typing(client: SecureClient) -> list[str | None]:
    """Process every message delivered before the next ``typing`` frame."""
    texts = []
    while (frame := await client.peer.next("message", "typing"))["type"] == "message":
        texts.append(client.receive(frame))
    return texts


async def test_the_clients_dropped_last_message_is_revealed_by_the_final_counts(
    chat: Chat,
) -> None:
    """The proxy swallows the client's last message and answers with a forged ack; the
    team's close says it received nothing, and the client is told so."""

    async def swallow(link: Link, frame: Frame) -> list[Frame]:
        if frame.get("type") == "send" and frame.get("gen") == 1:
            await link.to_peer.send({"type": "ack", "id": frame["id"], "seq": 10_000})
            return []
        return [frame]

    chat.link.to_server.hook = swallow
    assert (await chat.client.say("one last thing"))["seq"] == 10_000  # the forged ack
    await chat.desk.close(chat.cid)
    with pytest.raises(Tampering, match="your last messages never reached the other side"):
        await chat.client.hear()
    assert chat.desk.held[chat.cid].channel.received.get(1, 0) == 0


async def test_the_teams_dropped_last_message_is_revealed_to_the_team(chat: Chat) -> None:
    """The proxy drops the counsellor's last message before the client; the client's final
    counts tell the counsellor's console that it never arrived."""
    chat.link.to_peer.hook = lambda link, f: [] if from_team(f, n=1) else [f]
    await chat.team_says("one", "the last word")
    await chat.desk.peer.typing(chat.cid, False)  # follows the messages on the same socket
    assert await read_until_typing(chat.client) == ["one"]
    await client_closes(chat.client)
    with pytest.raises(Tampering, match="your last messages never reached the other side"):
        await chat.desk.hear(chat.cid)


async def test_a_dropped_last_message_before_the_close_is_detected(chat: Chat) -> None:
    """The proxy drops the team's last message but lets the close through: the close's
    place shows the gap."""
    chat.link.to_peer.hook = lambda link, f: [] if from_team(f, n=1) else [f]
    await chat.team_says("one", "the last word")
    await chat.desk.close(chat.cid)
    assert await chat.client.hear() == "one"
    with pytest.raises(Tampering, match=r"message missing: expected #1, got #2"):
        await chat.client.hear()
    assert not chat.client.ended_cleanly


async def test_a_dropped_end_leaves_the_conversation_unconfirmed(chat: Chat) -> None:
    """The proxy drops the last message and the close message; the conversation ends
    (state closed) without valid final counts and is shown as unconfirmed."""
    chat.link.to_peer.hook = lambda link, f: [] if f.get("type") == "message" and f["n"] else [f]
    await chat.team_says("one", "the last word")
    await chat.desk.close(chat.cid)
    assert await chat.client.hear() == "one"
    await until(chat.client.peer, "state", state="closed")
    assert not chat.client.ended_cleanly
    assert chat.client.peer.pending("message") == []
    sent = [(f["n"], f["kind"]) for f in chat.link.to_peer.seen.find("message", gen=1)]
    assert sent == [(0, "msg"), (1, "msg"), (2, "close")]  # what the server sent


# ----------------------------------------------------------------------- notes to a console
NOTE_TAMPERING = [
    ("altered_ciphertext", "bad_signature"),
    ("altered_signature", "bad_signature"),
    ("forged_author", "bad_signature"),
    ("relabelled_author", "bad_signature"),
    ("relabelled_epoch", "decrypt_failed"),
]


def forge_note(world: World, item: Frame, tamper: str, conversation: str) -> Frame:
    """A note of ``conversation`` (a live ``envelope`` frame or an item of an ``envelopes``
    answer) changed as ``tamper`` says: a flipped bit of its ciphertext or signature, the
    bytes replaced by a note an intruder sealed properly to the epoch key, or the
    frame's author or epoch relabelled."""
    header, ct, sig = e2e.unseq(unb64(item["body"]), 3)
    if tamper == "altered_ciphertext":
        return {**item, "body": b64(e2e.seq(header, flip_last_byte(ct), sig))}
    if tamper == "altered_signature":
        return {**item, "body": b64(e2e.seq(header, ct, flip_last_byte(sig)))}
    if tamper == "forged_author":
        t_pub = world.alpha.epochs[item["epoch"]][1].t_pub
        forged = e2e.generate()
        body = e2e.seal_envelope(forged, t_pub, "note", conversation, item["epoch"], b"forged")
        return {**item, "body": b64(body)}
    if tamper == "relabelled_author":
        return {**item, "author": world.anna.id}
    if tamper == "stranger_author":
        return {**item, "author": "s-nobody"}
    assert tamper == "relabelled_epoch", tamper
    return {**item, "epoch": item["epoch"] + 1}


def sam_note(world: World, conversation: str, text: str) -> bytes:
    """A note as Sam's console seals it: to the epoch key of epoch 1, signed by Sam."""
    t_pub = world.alpha.epochs[1][1].t_pub
    return e2e.seal_envelope(world.sam.sig, t_pub, "note", conversation, 1, text.encode())


@pytest.mark.parametrize(
    ("tamper", "reason"), [*NOTE_TAMPERING, ("other_conversation", "tampering")]
)
async def test_a_forged_live_note_is_refused_by_the_console(
    world: World, tamper: str, reason: str
) -> None:
    """Sam (supervisor) writes notes on Anna's conversation; Anna's console gets them live
    through the proxy. An honest note opens; the next one altered, re-signed by someone
    outside the roster, credited to another member, moved to another epoch or taken from
    another conversation is refused with its reason."""
    desk = await world.desk(via_proxy=True)
    roster = await world.roster(await world.sign_in(world.anna, via_proxy=True))
    _client, cid = await world.accepted(desk)
    target = cid
    if tamper == "other_conversation":
        _other, target = await world.accepted(desk)
    (console,) = links_to(world.proxy, "/ws/console")
    sam = await world.console(world.sam)  # directly: only Anna's side is tampered with
    await sam.envelope(cid, "n1", "note", sam_note(world, cid, "an honest note"), 1)
    honest = await until(desk.peer, "envelope", id="n1")
    assert read_note(honest, roster, world.alpha.epochs) == "an honest note"

    def forge(link: Link, frame: Frame) -> list[Frame]:
        if frame.get("type") != "envelope" or frame["id"] != "n2":
            return [frame]
        if tamper == "other_conversation":
            return [{**frame, "conversation": cid}]
        return [forge_note(world, frame, tamper, cid)]

    console.to_peer.hook = forge
    await sam.envelope(target, "n2", "note", sam_note(world, target, "a second note"), 1)
    forged = await until(desk.peer, "envelope", id="n2")
    if reason == "tampering":
        assert forged["conversation"] == cid != target
        with pytest.raises(Tampering, match="another conversation"):
            read_note(forged, roster, world.alpha.epochs)
        return
    with pytest.raises(e2e.E2EError) as refused:
        read_note(forged, roster, world.alpha.epochs)
    assert refused.value.reason == reason


@pytest.mark.parametrize(
    ("tamper", "reason"),
    [
        *[case for case in NOTE_TAMPERING if case[0] != "relabelled_epoch"],
        ("stranger_author", "tampering"),
        ("relabelled_epoch", "ignored"),
        pytest.param("other_conversation", "tampering"),
    ],
)
async def test_a_forged_stored_note_is_refused_by_the_console(
    world: World, tamper: str, reason: str
) -> None:
    """Anna's console reads a conversation's notes from the server's ``envelopes`` answer
    (SecureCounsellor.notes) through the proxy: the honest list opens; a note altered,
    forged, credited to another member or to no member, or taken from another
    conversation's list is refused with its reason. The unsigned epoch label is not
    trusted at all (the signed header names the epoch), so changing it changes nothing."""
    roster = await world.roster(await world.sign_in(world.anna, via_proxy=True))
    authors = {member.id: member.sig_pub for member in roster.members.values()}
    desk = await world.desk(via_proxy=True, authors=authors)
    _client, cid = await world.accepted(desk)
    _other, other = await world.accepted(desk)
    sam = await world.console(world.sam)
    await sam.envelope(cid, "n1", "note", sam_note(world, cid, "about this client"), 1)
    await sam.envelope(other, "n9", "note", sam_note(world, other, "about someone else"), 1)
    assert await desk.notes(cid) == ["about this client"]
    assert await desk.notes(other) == ["about someone else"]
    (console,) = links_to(world.proxy, "/ws/console")
    answer = console.to_peer.seen.find("envelopes", conversation=other)[0]
    (stolen,) = [item for item in answer["items"] if item["id"] == "n9"]

    def forge(link: Link, frame: Frame) -> list[Frame]:
        if frame.get("type") != "envelopes" or frame["conversation"] != cid:
            return [frame]
        if tamper == "other_conversation":
            return [{**frame, "items": [*frame["items"], stolen]}]
        items = [
            forge_note(world, item, tamper, cid) if item["id"] == "n1" else item
            for item in frame["items"]
        ]
        return [{**frame, "items": items}]

    console.to_peer.hook = forge
    if reason == "ignored":
        assert await desk.notes(cid) == ["about this client"]
        (changed,) = [i for i in console.to_peer.sent[-1]["items"] if i["id"] == "n1"]
        assert changed["epoch"] == 2  # it did change on the way
        return
    with pytest.raises((e2e.E2EError, Tampering)) as refused:
        await desk.notes(cid)
    if reason == "tampering":
        assert isinstance(refused.value, Tampering)
    else:
        assert isinstance(refused.value, e2e.E2EError)
        assert refused.value.reason == reason


# ----------------------------------------------------------------------- the bundle
def serve_on(path: str, wire: dict[str, Any]) -> Callable[[Exchange], Reply | None]:
    """An ``on_reply`` hook that answers ``path`` with ``wire`` instead."""

    def substitute(exchange: Exchange) -> Reply | None:
        if exchange.path == path and exchange.reply is not None:
            return exchange.reply.with_json(wire, status=200)
        return None

    return substitute


def _fake_bundle(world: World, tamper: str, genuine: dict[str, Any]) -> dict[str, Any]:
    if tamper == "attackers_root":  # alpha's name and times, the server's own root key
        key = e2e.generate()
        return e2e.sign_bundle(
            e2e.generate(),
            "alpha",
            genuine["epoch"],
            e2e.public_bytes(key),
            genuine["not_before"],
            genuine["not_after"],
        )
    if tamper == "stretched":  # the genuine bundle, valid a little longer
        return {**genuine, "not_after": genuine["not_after"] + 1}
    raise AssertionError(tamper)


@pytest.mark.parametrize(
    ("tamper", "reason"),
    [
        ("attackers_root", "pin_mismatch"),
        ("other_agency_team", "pin_mismatch"),
        ("same_agency_other_team", "wrong_team"),
        ("stretched", "bad_signature"),
    ],
)
async def test_a_substituted_bundle_is_refused(world: World, tamper: str, reason: str) -> None:
    """The proxy answers alpha's bundle URL with a bundle signed by a root key it made,
    with beta's (another agency) or gamma's (the same agency) genuine bundle, or with
    alpha's own stretched by a millisecond: the widget refuses before it connects."""
    proxy = world.proxy
    honest = await world.client()  # the same proxy, untouched, serves a good bundle
    assert honest.bundle.team == "alpha"
    genuine = await fetch_bundle(proxy.url, "alpha")
    if tamper == "other_agency_team":
        wire = await fetch_bundle(proxy.url, "beta")
    elif tamper == "same_agency_other_team":
        wire = await fetch_bundle(proxy.url, "gamma")
        assert wire["r_pub"] == genuine["r_pub"]  # same root, so the pin matches
    else:
        wire = _fake_bundle(world, tamper, genuine)
    links = len(proxy.links)
    proxy.on_reply = serve_on("/api/teams/alpha/bundle", wire)
    with pytest.raises(e2e.E2EError) as refused:
        await world.client()
    assert refused.value.reason == reason
    assert len(proxy.links) == links  # refused before any socket was opened


async def test_a_replayed_expired_bundle_is_refused(world: World) -> None:
    """The proxy keeps epoch 1's bundle and serves it again two days later."""
    old = await fetch_bundle(world.proxy.url, "alpha")
    assert old["epoch"] == 1
    world.clock.advance(2 * DAY / 1000)
    assert (await world.client()).bundle.epoch == 3  # the server's answer is current
    world.proxy.on_reply = serve_on("/api/teams/alpha/bundle", old)
    with pytest.raises(e2e.E2EError) as refused:
        await world.client()
    assert refused.value.reason == "expired"


async def test_a_rolled_back_epoch_is_refused(world: World) -> None:
    """A day later epochs 1 and 2 are both still valid; a tab that has seen epoch 2 is
    served epoch 1 again by the proxy and refuses it, which it would otherwise take."""
    old = await fetch_bundle(world.proxy.url, "alpha")
    world.clock.advance(DAY / 1000)
    seen = (await world.client()).bundle.epoch
    assert seen == 2
    world.proxy.on_reply = serve_on("/api/teams/alpha/bundle", old)
    with pytest.raises(e2e.E2EError) as refused:
        await world.client(min_epoch=seen)
    assert refused.value.reason == "epoch_rollback"
    # Only the tab's memory of epoch 2 catches it: the old bundle is otherwise valid.
    assert (await world.client()).bundle.epoch == 1


async def test_a_wrong_pin_is_refused(world: World) -> None:
    """A widget whose snippet pins another root key refuses alpha's genuine bundle."""
    other = e2e.pin(e2e.public_bytes(e2e.generate()))
    with pytest.raises(e2e.E2EError) as refused:
        await world.client(pin=other)
    assert refused.value.reason == "pin_mismatch"
    assert links_to(world.proxy, "/ws/client") == []


@pytest.mark.parametrize(
    ("tamper", "reason"),
    [
        ("none", ""),
        ("previous_epoch", "tampering"),
        ("attackers_root", "pin_mismatch"),
        ("same_agency_other_team", "wrong_team"),
    ],
)
async def test_a_substituted_bundle_at_rekey_is_refused(
    chat: Chat, tamper: str, reason: str
) -> None:
    """A day later the counsellor rekeys to epoch 2 and the client fetches that epoch's
    bundle through the proxy: served honestly the chat goes on; served epoch 1 again (still
    valid), a bundle of the proxy's own root or gamma's genuine epoch 2, it is refused."""
    world, proxy = chat.world, chat.world.proxy
    previous = await fetch_bundle(proxy.url, "alpha")
    world.clock.advance(DAY / 1000)
    genuine = await fetch_bundle(proxy.url, "alpha", 2)
    if tamper == "previous_epoch":
        proxy.on_reply = serve_on("/api/teams/alpha/bundle?epoch=2", previous)
    elif tamper == "attackers_root":
        fake = _fake_bundle(world, tamper, genuine)
        proxy.on_reply = serve_on("/api/teams/alpha/bundle?epoch=2", fake)
    elif tamper == "same_agency_other_team":
        gamma = await fetch_bundle(proxy.url, "gamma", 2)
        proxy.on_reply = serve_on("/api/teams/alpha/bundle?epoch=2", gamma)
    assert await chat.desk.rekey(chat.cid, epoch=2) == 2
    await chat.desk.say(chat.cid, "in the new generation")
    if not reason:
        assert await chat.client.hear() == "in the new generation"
        assert chat.client.epochs[2] == 2
        return
    with pytest.raises((e2e.E2EError, Tampering)) as refused:
        await chat.client.hear()
    if reason == "tampering":
        assert isinstance(refused.value, Tampering)
        assert "another epoch" in str(refused.value)
    else:
        assert isinstance(refused.value, e2e.E2EError)
        assert refused.value.reason == reason


# ----------------------------------------------------------------------- the password
PASSWORD = "Grüße, Zoë: ein sehr langes Passwort ☂ 42"


def password_forms(password: str) -> set[bytes]:
    """The ways a password could cross the wire: raw UTF-8 (and NFKC), JSON-escaped,
    base64 and base64url with and without padding, percent-encoded, hex."""
    forms: set[bytes] = set()
    for text in {password, unicodedata.normalize("NFKC", password)}:
        raw = text.encode()
        forms |= {raw, json.dumps(text).encode()[1:-1], raw.hex().encode()}
        for encoded in (base64.b64encode(raw), base64.urlsafe_b64encode(raw)):
            forms |= {encoded, encoded.rstrip(b"=")}
        for quoted in (quote(text, safe=""), quote_plus(text)):
            forms |= {quoted.encode(), quoted.lower().encode()}
    return forms


def leaks(exchanges: list[Exchange], password: str) -> list[str]:
    """Where in the forwarded requests (URL, headers, body) a form of the password shows."""
    found = []
    forms = password_forms(password)
    for exchange in exchanges:
        places = {
            "url": "\n".join((path := exchange.path, unquote(path), unquote_plus(path))).encode(),
            "headers": repr(list(exchange.headers.items())).encode(),
            "body": exchange.body + b"\n" + _decoded_json(exchange.body),
        }
        for place, data in places.items():
            if any(form in data for form in forms):
                found.append(f"{exchange.method} {exchange.path.split('?')[0]}: {place}")
    return found


def _decoded_json(body: bytes) -> bytes:
    """A JSON body again with its escapes undone, so that ``\\u00fc`` shows as ``ü``."""
    try:
        return json.dumps(json.loads(body), ensure_ascii=False).encode()
    except ValueError:
        return b""


async def test_the_password_never_crosses_the_servers_edge(world: World) -> None:
    """A member signs in through the proxy with the SDK's login, which derives the
    credential; the login works, and no request the proxy forwarded holds the password in
    any encoding. A client that sends the password itself is caught by the same scan."""
    server, proxy = world.server, world.proxy
    staff_id, _ = await cli.user_add(
        server.db, server.settings, "zoe", "Zoë", "counsellor", ["alpha"], PASSWORD, totp=False
    )
    cookie, csrf = await login(proxy.url, "zoe", password=PASSWORD, origin=ORIGIN)
    console = await ConsolePeer.connect(proxy.url, cookie, origin=ORIGIN)
    world.peers.append(console)
    assert console.hello["staff"] == staff_id  # signed in, through the proxy, with the cookie
    assert csrf

    (sent,) = [e for e in proxy.exchanges if e.path == "/api/login"]
    assert sent.headers["Origin"] == ORIGIN
    expected = auth.derive_credential(PASSWORD, SALT, "zoe")
    assert json.loads(sent.body) == {"username": "zoe", "credential": expected, "totp": ""}
    assert leaks(proxy.exchanges, PASSWORD) == []
    assert ("GET", "/ws/console") in [(e.method, e.path) for e in proxy.exchanges]
    await console.availability("available")
    (link,) = links_to(proxy, "/ws/console")
    await link.to_server.seen.wait("availability")
    sent_frames = json.dumps(link.to_server.seen.frames, ensure_ascii=False).encode()
    assert not any(form in sent_frames for form in password_forms(PASSWORD))

    # A client that gets it wrong: the password as the credential, then in the URL.
    before = len(proxy.exchanges)
    with pytest.raises(ChatRefused):
        await login(proxy.url, "zoe", credential=PASSWORD, origin=ORIGIN)
    async with (
        aiohttp.ClientSession() as http,
        http.get(proxy.url + "/api/me", params={"password": PASSWORD}) as response,
    ):
        assert response.status == 401
    assert leaks(proxy.exchanges[before:], PASSWORD) == [
        "POST /api/login: body",
        "GET /api/me: url",
    ]
