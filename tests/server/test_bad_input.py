"""Bad input gets a clear error and changes nothing.

Every case goes through the real WebSocket with the SDK, on SQLite and PostgreSQL: the
answer is an ``error`` frame with the exact code and a human message, the connection is
closed with the right code when the error is fatal (and stays usable when it is not), and
a dump of the whole database taken before the bad input equals one taken after it.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeAlias

import pytest
from conftest import ORIGIN, Server, client_key, credential, dump
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from chatserver.ops import cli
from chatserver.protocol.frames import MAX_BODY
from chatserver.protocol.limits import leading_zero_bits
from chatserver.sdk.peers import ClientPeer, ConsolePeer, login
from chatserver.web.ws.sockets import MAX_STRIKES

Peer: TypeAlias = ClientPeer | ConsolePeer
Ctx: TypeAlias = dict[str, Any]
MakeServer: TypeAlias = Callable[..., Awaitable[Server]]
AGENCY = "https://agency.example"

#: Frames that answer a handled input: one of these instead of an error is a failure.
SUCCESS = ("ack", "started", "resumed", "assigned", "released")

CLOSE_UNSUPPORTED_DATA = 1003
CLOSE_POLICY_VIOLATION = 1008
CLOSE_MESSAGE_TOO_BIG = 1009


# --------------------------------------------------------------------------- helpers
def j(**fields: Any) -> str:
    """A frame as JSON text (``type_`` stands for ``type``)."""
    if "type_" in fields:
        fields = {"type": fields.pop("type_"), **fields}
    return json.dumps(fields)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def send(id: str = "m1", body: str | None = None, **extra: Any) -> str:
    """A client ``send`` frame; valid unless a field is overridden."""
    frame = {
        "type": "send",
        "id": id,
        "body": b64(b"ciphertext") if body is None else body,
        "gen": 0,
        "n": 0,
    }
    frame.update(extra)
    return json.dumps(frame)


def start(team: Any = "alpha", key: bytes | None = None, **extra: Any) -> str:
    """A client ``start`` frame; valid unless a field is overridden."""
    frame = {"type": "start", "team": team, "client_key": b64(key or client_key()), "consent": "v1"}
    frame.update(extra)
    return json.dumps(frame)


async def serve(make_server: MakeServer, **overrides: Any) -> Server:
    """A server with team ``alpha`` (topics general, school) and team ``beta``."""
    server = await make_server(**overrides)
    await server.team("alpha", ["general:General", "school:School"])
    await server.team("beta")
    return server


async def still_open(peer: Peer) -> None:
    """The server finished the previous frame and kept the connection.

    aiohttp answers a ping only when the handler reads again, so a pong means the
    refused frame was handled and no close followed it.
    """
    pong = await peer.ws.ping()
    await asyncio.wait_for(pong, 10)
    assert peer.close_code is None


async def refused(peer: Peer, raw: str | bytes) -> dict[str, Any]:
    """Send ``raw`` and return the error frame that answers it."""
    await peer.send_raw(raw)
    error: dict[str, Any] = await peer.next("error", *SUCCESS, errors=False)
    assert error["type"] == "error", f"accepted: {error}"
    assert isinstance(error["message"], str) and error["message"].strip()
    return error


# --------------------------------------------------------------------------- preparations
async def fresh_client(server: Server) -> tuple[Peer, Ctx]:
    return await server.client(), {}


async def started_client(server: Server) -> tuple[Peer, Ctx]:
    client = await server.client()
    started = await client.start("alpha", client_key())
    return client, started


async def after_delete(server: Server) -> tuple[Peer, Ctx]:
    """A conversation deleted by its client; a new connection holds its old token."""
    first = await server.client()
    started = await first.start("alpha", client_key())
    await first.delete()
    return await server.client(), started


async def two_conversations(server: Server) -> tuple[Peer, Ctx]:
    """Two conversations; the context pairs the first one's id with the second's token."""
    one = await (await server.client()).start("alpha", client_key(1))
    two = await (await server.client()).start("alpha", client_key(2))
    return await server.client(), {"conversation": one["conversation"], "token": two["token"]}


async def queue_full(server: Server) -> tuple[Peer, Ctx]:
    """``max_queued`` conversations already wait in alpha."""
    for seed in range(server.settings.max_queued):
        await (await server.client()).start("alpha", client_key(seed))
    return await server.client(), {}


async def console_waiting(server: Server) -> tuple[Peer, Ctx]:
    """Counsellor anna (alpha) on duty and one waiting alpha conversation."""
    await server.staff("anna", ["alpha"])
    console = await server.console("anna")
    started = await (await server.client()).start("alpha", client_key())
    await console.next("queued")
    return console, started


async def console_closed(server: Server) -> tuple[Peer, Ctx]:
    """Anna accepted and closed an alpha conversation."""
    console, started = await console_waiting(server)
    assert isinstance(console, ConsolePeer)
    await console.accept(started["conversation"])
    await console.close_conversation(started["conversation"])
    return console, started


def oversized(ctx: Ctx) -> str:
    """A well-formed frame over the 1024-byte cap the size cases set (but under twice it,
    where the transport itself cuts frames off)."""
    return send(body=b64(b"x" * 900))


def resume(ctx: Ctx) -> str:
    """A resume frame for the prepared conversation and token."""
    return j(type_="resume", conversation=ctx["conversation"], token=ctx["token"], last_seq=0)


def staff_send(ctx: Ctx) -> str:
    """A counsellor's send to the prepared conversation."""
    return j(type_="send", conversation=ctx["conversation"], id="t1", body=b64(b"ct"), gen=0, n=0)


def staff_accept(ctx: Ctx) -> str:
    return j(type_="accept", conversation=ctx["conversation"])


Prepare: TypeAlias = Callable[[Server], Awaitable[tuple[Peer, Ctx]]]


@dataclass(frozen=True)
class Bad:
    """One bad input and what the server must answer."""

    raw: str | bytes | Callable[[Ctx], str | bytes]
    code: str
    says: str = ""  # a word the human message must contain (case-insensitive)
    close: int | None = None  # the close code when the error is fatal
    prepare: Prepare = fresh_client
    overrides: dict[str, Any] = field(default_factory=dict)


def case(
    id: str,
    raw: str | bytes | Callable[[Ctx], str | bytes],
    code: str,
    says: str = "",
    *,
    close: int | None = None,
    prepare: Prepare = fresh_client,
    overrides: dict[str, Any] | None = None,
    marks: Any = (),
) -> Any:
    """One row of the table, named ``id`` in the test report."""
    bad = Bad(raw, code, says, close, prepare, overrides or {})
    return pytest.param(bad, id=id, marks=marks)


CASES = [
    # --------------------------------------------------------------- not a frame at all
    case("malformed-json", '{"type": "start", ', "malformed", "JSON"),
    case("json-array", '[{"type": "start"}]', "malformed", "object"),
    case("json-string", '"start"', "malformed", "object"),
    case("missing-type", j(team="alpha"), "malformed", "type"),
    case("type-not-a-string", j(type_=7), "malformed", "type"),
    case("unknown-type", j(type_="launch"), "unknown_type", "launch"),
    case("console-type-on-client", j(type_="accept", conversation="abc"), "unknown_type"),
    case("binary-frame", b'{"type":"fetch","after":0}', "malformed", close=CLOSE_UNSUPPORTED_DATA),
    case(
        "oversized-frame",
        oversized,
        "too_large",
        close=CLOSE_MESSAGE_TOO_BIG,
        overrides={"max_frame_bytes": 1024},
    ),
    # --------------------------------------------------------------- wrong fields
    case("wrong-type-team-int", start(team=5), "malformed", "team"),
    case("wrong-type-gen-string", send(gen="0"), "malformed", "gen"),
    case("wrong-type-n-bool", send(n=True), "malformed", "'n'"),
    case("wrong-type-active-int", j(type_="typing", active=1), "malformed", "active"),
    case("null-required", j(type_="fetch", after=None), "malformed", "after"),
    case("out-of-range", j(type_="fetch", after=-1), "malformed", "after"),
    case("missing-field", j(type_="fetch"), "malformed", "after"),
    case("unknown-field", start(admin=True), "malformed", "admin"),
    case("bad-id-pattern", send(id="has space"), "malformed", "id"),
    case("id-too-long", send(id="x" * 65), "malformed", "id"),
    case("bad-choice", send(kind="shout"), "malformed", "kind"),
    case("bad-team-pattern", start(team="Alpha!"), "malformed", "team"),
    case(
        "body-too-long",
        send(body=b64(b"x" * (MAX_BODY + 3))),
        "malformed",
        "body",
        prepare=started_client,
    ),
    case(
        "body-1-byte-over",
        send(body=b64(b"x" * (MAX_BODY + 1))),
        "malformed",
        "body",
        prepare=started_client,
    ),
    case(
        "body-2-bytes-over",
        send(body=b64(b"x" * (MAX_BODY + 2))),
        "malformed",
        "body",
        prepare=started_client,
    ),
    case("bad-base64", send(body="not base64!"), "malformed", "base64"),
    case("base64-without-padding", send(body="aGk"), "malformed", "base64"),
    case("empty-body", send(body=""), "malformed", "body"),
    # --------------------------------------------------------------- wrong moment
    case("send-before-start", send(), "invalid_transition", "start"),
    case("close-before-start", j(type_="close"), "invalid_transition", "start"),
    case("start-twice", start(key=client_key(2)), "invalid_transition", prepare=started_client),
    case("resume-on-bound-connection", resume, "invalid_transition", prepare=started_client),
    # --------------------------------------------------------------- not allowed
    case("unknown-team", start(team="gamma"), "not_found", "gamma"),
    case("unknown-topic", start(topic="nope"), "not_found", "nope"),
    case("client-key-64-bytes", start(key=b"\x04" + b"k" * 63), "malformed", "client_key"),
    case("client-key-66-bytes", start(key=b"\x04" + b"k" * 65), "malformed", "client_key"),
    case("client-key-not-04", start(key=b"\x02" + b"k" * 64), "malformed", "client_key"),
    case("resume-token-after-delete", resume, "not_found", prepare=after_delete),
    case("resume-with-other-token", resume, "not_found", prepare=two_conversations),
    case(
        "queue-full",
        start(key=client_key(9)),
        "overloaded",
        "queue",
        prepare=queue_full,
        overrides={"max_queued": 1},
    ),
    # --------------------------------------------------------------- console frames
    case(
        "console-accept-unknown",
        j(type_="accept", conversation="nope"),
        "not_found",
        prepare=console_waiting,
    ),
    case(
        "console-fetch-unknown",
        j(type_="fetch", conversation="nope", after=0),
        "not_found",
        prepare=console_waiting,
    ),
    case("console-send-not-held", staff_send, "forbidden", "hold", prepare=console_waiting),
    case("console-accept-closed", staff_accept, "invalid_transition", prepare=console_closed),
    case("client-type-on-console", start(), "unknown_type", "start", prepare=console_waiting),
    case(
        "console-bad-status",
        j(type_="availability", status="asleep"),
        "malformed",
        prepare=console_waiting,
    ),
    case(
        "console-binary-frame",
        b'{"type":"availability","status":"away"}',
        "malformed",
        close=CLOSE_UNSUPPORTED_DATA,
        prepare=console_waiting,
    ),
]


@pytest.mark.parametrize("case", CASES)
async def test_bad_input_is_refused_and_changes_nothing(make_server: MakeServer, case: Bad) -> None:
    """A bad frame gets its error code and message, the right close, and no database change."""
    server = await serve(make_server, **case.overrides)
    peer, ctx = await case.prepare(server)
    raw = case.raw(ctx) if callable(case.raw) else case.raw
    before = await dump(server.settings.database_url)

    error = await refused(peer, raw)

    assert error["code"] == case.code
    assert case.says.lower() in error["message"].lower()
    if case.close is None:
        await still_open(peer)
    else:
        assert await peer.wait_closed() == case.close
    assert await dump(server.settings.database_url) == before


# --------------------------------------------------------------------------- size and flood
async def test_oversized_frame_closes_with_1009(make_server: MakeServer) -> None:
    """A frame far over max_frame_bytes is cut off with 1009 and stores nothing."""
    server = await serve(make_server, max_frame_bytes=1024)
    client, _ = await started_client(server)
    before = await dump(server.settings.database_url)

    await client.send_raw(send(body=b64(b"x" * 4096)))

    assert await client.wait_closed() == CLOSE_MESSAGE_TOO_BIG
    assert await dump(server.settings.database_url) == before


async def test_frames_beyond_the_burst_are_rate_limited(make_server: MakeServer) -> None:
    """Frames past frame_burst are refused with rate_limited; the connection stays open."""
    server = await serve(make_server, frame_rate=0.001, frame_burst=3)
    client, _ = await started_client(server)  # the start spent one token
    before = await dump(server.settings.database_url)

    typing = j(type_="typing", active=True)
    for _ in range(2):
        await client.send_raw(typing)  # within the burst: handled, no answer
    error = await refused(client, typing)

    assert error["code"] == "rate_limited"
    await still_open(client)
    assert await dump(server.settings.database_url) == before


async def test_rate_limit_flood_closes_with_1008(make_server: MakeServer) -> None:
    """A peer that keeps sending past its rate limit is closed with 1008 (policy)."""
    server = await serve(make_server, frame_rate=0.001, frame_burst=3)
    client, _ = await started_client(server)
    before = await dump(server.settings.database_url)

    typing = j(type_="typing", active=True)
    for _ in range(2 + MAX_STRIKES):
        await client.send_raw(typing)
    codes = []
    while True:
        try:
            codes.append((await client.next("error", errors=False))["code"])
        except ConnectionError:
            break

    assert codes == ["rate_limited"] * MAX_STRIKES
    assert client.close_code == CLOSE_POLICY_VIOLATION
    assert await dump(server.settings.database_url) == before


async def test_repeated_refusals_close_with_1008(server: Server) -> None:
    """Refusal after refusal (no rate limit involved) ends in a 1008 close."""
    client = await server.client()
    before = await dump(server.settings.database_url)

    for _ in range(MAX_STRIKES):
        await client.send_raw("not json")
    codes = [(await client.next("error", errors=False))["code"] for _ in range(MAX_STRIKES)]

    assert codes == ["malformed"] * MAX_STRIKES
    assert await client.wait_closed() == CLOSE_POLICY_VIOLATION
    assert await dump(server.settings.database_url) == before


async def test_a_good_frame_resets_the_refusal_count(make_server: MakeServer) -> None:
    """Refusals separated by a handled frame never add up to a close."""
    server = await serve(make_server, frame_burst=1000)
    client, _ = await started_client(server)
    for round_ in range(2):
        for _ in range(MAX_STRIKES - 1):
            await client.send_raw("not json")
        await client.send_raw(send(id=f"ok{round_}"))  # handled: the count starts again
        for _ in range(MAX_STRIKES - 1):
            assert (await client.next("error", errors=False))["code"] == "malformed"
        assert (await client.next("ack", errors=False))["id"] == f"ok{round_}"
    await still_open(client)


# --------------------------------------------------------------------------- origins
async def test_client_socket_from_a_foreign_origin_is_refused(server: Server) -> None:
    """A page on an origin no team allows cannot open a client socket (HTTP 403)."""
    before = await dump(server.settings.database_url)
    with pytest.raises(InvalidStatus) as failed:
        await server.client(origin="https://evil.example")
    assert failed.value.response.status_code == 403
    assert await dump(server.settings.database_url) == before


async def test_client_socket_without_origin_is_refused(server: Server) -> None:
    """A client socket without an Origin header is refused (HTTP 403)."""
    url = server.url.replace("http://", "ws://") + "/ws/client"
    with pytest.raises(InvalidStatus) as failed:
        await connect(url, origin=None, compression=None)
    assert failed.value.response.status_code == 403


async def test_team_origin_opens_only_its_teams(server: Server) -> None:
    """A team's allowed origin may start chats with that team, not with another team."""
    await cli.team_origins(server.db, "alpha", [AGENCY], [])
    allowed = await server.client(origin=AGENCY)
    started = await allowed.start("alpha", client_key(1))
    assert started["position"] == 1

    other = await server.client(origin=AGENCY)
    before = await dump(server.settings.database_url)
    error = await refused(other, start(team="beta"))

    assert error["code"] == "origin_not_allowed"
    await still_open(other)
    assert await dump(server.settings.database_url) == before


# --------------------------------------------------------------------------- proof of work
async def test_proof_of_work_is_required_and_checked(make_server: MakeServer) -> None:
    """Without free starts a start needs a solved puzzle: none or a wrong nonce is refused."""
    server = await serve(make_server, starts_per_minute_free=0)
    client = await server.client()
    puzzle = client.hello["pow"]
    assert puzzle["difficulty"] > 0
    before = await dump(server.settings.database_url)

    missing = await refused(client, start())
    assert missing["code"] == "pow_required"
    assert missing["pow"]["challenge"] and missing["pow"]["difficulty"] > 0

    challenge = missing["pow"]["challenge"]
    wrong = next(
        nonce
        for nonce in (f"wrong{i}" for i in range(1000))
        if leading_zero_bits(hashlib.sha256(f"{challenge}:{nonce}".encode()).digest())
        < missing["pow"]["difficulty"]
    )
    bad_nonce = await refused(client, start(pow_challenge=challenge, pow_nonce=wrong))
    assert bad_nonce["code"] == "pow_required"
    forged = await refused(client, start(pow_challenge="1.1.x.00", pow_nonce="0"))
    assert forged["code"] == "pow_required"
    assert await dump(server.settings.database_url) == before

    started = await client.start("alpha", client_key())  # the SDK solves the puzzle
    assert started["position"] == 1


# --------------------------------------------------------------------------- console handshake
async def test_console_without_session_is_refused(server: Server) -> None:
    """A console socket without a session cookie is refused at the handshake (HTTP 401)."""
    before = await dump(server.settings.database_url)
    with pytest.raises(InvalidStatus) as failed:
        await ConsolePeer.connect(server.url, "", origin=ORIGIN)
    assert failed.value.response.status_code == 401
    with pytest.raises(InvalidStatus) as failed:
        await ConsolePeer.connect(server.url, "chat_session=forged-token", origin=ORIGIN)
    assert failed.value.response.status_code == 401
    assert await dump(server.settings.database_url) == before


@pytest.mark.parametrize("origin", ["https://evil.example", AGENCY])
async def test_console_from_a_foreign_origin_is_refused(server: Server, origin: str) -> None:
    """Even with a valid session, the console opens only from the server's own origin."""
    await cli.team_origins(server.db, "alpha", [AGENCY], [])
    await server.staff("anna", ["alpha"])
    cookie, _csrf = await login(server.url, "anna", credential=credential("anna"), origin=ORIGIN)
    before = await dump(server.settings.database_url)
    with pytest.raises(InvalidStatus) as failed:
        await ConsolePeer.connect(server.url, cookie, origin=origin)
    assert failed.value.response.status_code == 403
    assert await dump(server.settings.database_url) == before
