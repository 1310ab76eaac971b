"""Authorisation: who may see and do what, through the real server on SQLite and PostgreSQL.

A counsellor sees and touches only conversations of its own teams, acts only on the ones
it holds, hands over only to an active colleague of the same team; a client token opens
only its own conversation; a disabled account or an ended session loses its open console
at the next frame. Every refusal leaves the database exactly as it was.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Callable
from typing import Any, TypeAlias

import aiohttp
import pytest
from conftest import ORIGIN, Server, client_key, credential, dump
from websockets.exceptions import InvalidStatus

from chatserver.ops import cli
from chatserver.sdk.peers import ClientPeer, ConsolePeer, login

Peer: TypeAlias = ClientPeer | ConsolePeer
Frame: TypeAlias = dict[str, Any]

CLOSE_POLICY_VIOLATION = 1008


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


async def refused(peer: Peer, frame: Frame) -> Frame:
    """Send ``frame`` and return the error frame answering it (an answer that means
    success fails the test at once instead of timing out)."""
    await peer.send_frame(frame)
    answer: Frame = await peer.next("error", "ack", "assigned", "released", "message", errors=False)
    assert answer["type"] == "error", f"accepted: {answer}"
    assert answer["message"].strip()
    return answer


async def still_open(peer: Peer) -> None:
    """The server handled the previous frame and kept the connection (aiohttp answers a
    ping only when the handler reads again)."""
    await asyncio.wait_for(await peer.ws.ping(), 10)
    assert peer.close_code is None


async def unchanged_after(server: Server, peer: Peer, frame: Frame) -> Frame:
    """Send a frame that must be refused; the database dump must not change."""
    before = await dump(server.settings.database_url)
    error = await refused(peer, frame)
    assert await dump(server.settings.database_url) == before
    return error


# --------------------------------------------------------------------------- frames
def accept(conv: str) -> Frame:
    return {"type": "accept", "conversation": conv}


def fetch(conv: str) -> Frame:
    return {"type": "fetch", "conversation": conv, "after": 0}


def send(conv: str) -> Frame:
    return {"type": "send", "conversation": conv, "id": "t1", "body": b64(b"ct"), "gen": 0, "n": 0}


def typing(conv: str) -> Frame:
    return {"type": "typing", "conversation": conv, "active": True}


def to_queue(conv: str) -> Frame:
    return {"type": "transfer", "conversation": conv}


def close(conv: str) -> Frame:
    return {"type": "close", "conversation": conv, "category": "advice"}


def block(conv: str) -> Frame:
    return {"type": "block", "conversation": conv, "hours": 1}


def envelopes(conv: str) -> Frame:
    return {"type": "envelopes", "conversation": conv}


def envelope(conv: str) -> Frame:
    return {
        "type": "envelope",
        "conversation": conv,
        "id": "e1",
        "purpose": "note",
        "body": b64(b"note ciphertext"),
    }


Action: TypeAlias = Callable[[str], Frame]


# --------------------------------------------------------------------------- foreign team
async def test_foreign_team_queue_is_invisible(server: Server) -> None:
    """A counsellor gets no queued frame and no snapshot entry for another team's chat."""
    await server.staff("anna", ["alpha"])
    await server.staff("bea", ["beta"])
    anna, bea = await server.console("anna"), await server.console("bea")

    beta_conv = (await (await server.client()).start("beta", client_key(1)))["conversation"]
    alpha_conv = (await (await server.client()).start("alpha", client_key(2)))["conversation"]

    # Published in this order: anna's first queued frame is alpha's, bea's is beta's.
    assert (await anna.next("queued"))["item"]["conversation"] == alpha_conv
    assert (await bea.next("queued"))["item"]["conversation"] == beta_conv
    assert anna.pending("queued") == []

    again = await server.console("anna")
    snapshot = await again.next("queue")
    assert [i["conversation"] for i in snapshot["items"]] == [alpha_conv]


@pytest.mark.parametrize(
    ("action", "target"),
    [
        pytest.param(accept, "waiting", id="accept-waiting"),
        pytest.param(accept, "held", id="accept-held"),
        pytest.param(fetch, "held", id="fetch"),
        pytest.param(fetch, "waiting", id="fetch-waiting"),
        pytest.param(send, "held", id="send"),
        pytest.param(typing, "held", id="typing"),
        pytest.param(to_queue, "held", id="transfer"),
        pytest.param(close, "held", id="close"),
        pytest.param(block, "held", id="block"),
        pytest.param(envelope, "held", id="envelope"),
        pytest.param(envelopes, "held", id="envelopes"),
        pytest.param(envelopes, "waiting", id="envelopes-waiting"),
    ],
)
@pytest.mark.parametrize("role", ["counsellor", "supervisor"])
async def test_foreign_team_conversation_is_forbidden(
    server: Server, action: Action, target: str, role: str
) -> None:
    """Staff of alpha, even a supervisor, cannot act on a beta conversation: forbidden."""
    await server.staff("anna", ["alpha"], role=role)
    await server.staff("bea", ["beta"])
    anna, bea = await server.console("anna"), await server.console("bea")
    conversations = {
        "held": (await (await server.client()).start("beta", client_key(1)))["conversation"],
        "waiting": (await (await server.client()).start("beta", client_key(2)))["conversation"],
    }
    await bea.accept(conversations["held"])

    error = await unchanged_after(server, anna, action(conversations[target]))

    assert error["code"] == "forbidden"
    assert "team" in error["message"]
    await still_open(anna)


# --------------------------------------------------------------------------- client tokens
async def test_client_token_opens_only_its_own_conversation(server: Server) -> None:
    """A resume token of one conversation does not resume another; it resumes its own."""
    one = await (await server.client()).start("alpha", client_key(1))
    two = await (await server.client()).start("alpha", client_key(2))
    intruder = await server.client()

    error = await unchanged_after(
        server,
        intruder,
        {
            "type": "resume",
            "conversation": one["conversation"],
            "token": two["token"],
            "last_seq": 0,
        },
    )
    assert error["code"] == "not_found"
    assert intruder.pending("resumed") == []

    resumed = await intruder.resume(two["conversation"], two["token"])
    assert resumed["conversation"] == two["conversation"]


# --------------------------------------------------------------------------- held by a colleague
@pytest.mark.parametrize(
    "action",
    [
        pytest.param(send, id="send"),
        pytest.param(close, id="close"),
        pytest.param(to_queue, id="transfer"),
        pytest.param(block, id="block"),
        pytest.param(typing, id="typing"),
        pytest.param(envelope, id="envelope"),
        pytest.param(envelopes, id="envelopes"),
    ],
)
async def test_colleagues_conversation_is_forbidden(server: Server, action: Action) -> None:
    """A counsellor cannot act on a conversation of its team that a colleague holds."""
    await server.staff("anna", ["alpha"])
    await server.staff("ben", ["alpha"])
    anna, ben = await server.console("anna"), await server.console("ben")
    client = await server.client()
    conv = (await client.start("alpha", client_key()))["conversation"]
    await ben.accept(conv)
    await client.next("state")

    error = await unchanged_after(server, anna, action(conv))

    assert error["code"] == "forbidden"
    assert "hold" in error["message"]
    await still_open(anna)
    assert client.pending("typing") == []
    # The holder is untouched: still able to write.
    assert (await ben.send(conv, "b1", b"still mine"))["seq"] == 1


async def test_transfer_to_self_is_refused(server: Server) -> None:
    """Handing a conversation to oneself is a conflict and changes nothing."""
    anna_id = await server.staff("anna", ["alpha"])
    anna = await server.console("anna")
    conv = (await (await server.client()).start("alpha", client_key()))["conversation"]
    await anna.accept(conv)

    error = await unchanged_after(
        server, anna, {"type": "transfer", "conversation": conv, "to": anna_id}
    )
    assert error["code"] == "conflict"


@pytest.mark.parametrize("who", ["other-team", "disabled", "unknown"])
async def test_transfer_only_to_an_active_colleague_of_the_team(server: Server, who: str) -> None:
    """Transfer to someone outside the team, disabled or unknown: not_found, nothing moves."""
    await server.staff("anna", ["alpha"])
    targets = {
        "other-team": await server.staff("carl", ["beta"]),
        "disabled": await server.staff("dave", ["alpha"]),
        "unknown": "s0000000000000000",
    }
    await cli.user_disable(server.db, "dave")
    anna = await server.console("anna")
    conv = (await (await server.client()).start("alpha", client_key()))["conversation"]
    await anna.accept(conv)

    error = await unchanged_after(
        server, anna, {"type": "transfer", "conversation": conv, "to": targets[who]}
    )

    assert error["code"] == "not_found"
    assert (await anna.send(conv, "a1", b"still mine"))["seq"] == 1


# --------------------------------------------------------------------------- supervisors
async def test_supervisor_may_fetch_a_colleagues_conversation(server: Server) -> None:
    """A supervisor of the team reads a chat a colleague holds; a plain counsellor may not."""
    await server.staff("anna", ["alpha"])
    await server.staff("ben", ["alpha"])
    await server.staff("sue", ["alpha"], role="supervisor")
    anna, ben, sue = (
        await server.console("anna"),
        await server.console("ben"),
        await server.console("sue"),
    )
    client = await server.client()
    conv = (await client.start("alpha", client_key()))["conversation"]
    await anna.accept(conv)
    await client.send("c1", b"client ciphertext")

    error = await unchanged_after(server, ben, fetch(conv))
    assert error["code"] == "forbidden"

    await sue.fetch(conv)
    message = await sue.next("message")
    assert (message["conversation"], message["seq"], message["id"]) == (conv, 1, "c1")


# --------------------------------------------------------------------------- sessions
async def test_disabled_account_loses_its_open_console(server: Server) -> None:
    """Disabling an account ends its open console at the next frame: session_expired, 1008."""
    await server.staff("anna", ["alpha"])
    anna = await server.console("anna")
    cookie, _csrf = await login(server.url, "anna", credential=credential("anna"), origin=ORIGIN)
    await cli.user_disable(server.db, "anna")

    error = await unchanged_after(server, anna, {"type": "availability", "status": "away"})

    assert error["code"] == "session_expired"
    assert await anna.wait_closed() == CLOSE_POLICY_VIOLATION
    with pytest.raises(InvalidStatus) as failed:
        await ConsolePeer.connect(server.url, cookie, origin=ORIGIN)
    assert failed.value.response.status_code == 401


@pytest.mark.parametrize("how", ["disabled", "signed_out"])
async def test_a_message_right_after_the_end_of_a_session_is_refused(
    server: Server, how: str
) -> None:
    """Messages skip the console's full check while it is recent; the writer checks the
    session and the account in the transaction that would store the message, so the
    first message after a disabled account or a sign-out is refused and stores nothing."""
    await server.staff("anna", ["alpha"])
    cookie, csrf = await login(server.url, "anna", credential=credential("anna"), origin=ORIGIN)
    anna = await ConsolePeer.connect(server.url, cookie, origin=ORIGIN)
    server.peers.append(anna)
    conv = (await (await server.client()).start("alpha", client_key(1)))["conversation"]
    await anna.accept(conv)
    await anna.send_frame(send(conv))
    assert (await anna.next("ack"))["seq"] == 1  # a full check just ran (the accept)

    if how == "disabled":
        await cli.user_disable(server.db, "anna")
    else:
        assert await _logout(server, cookie, csrf) == 200
    error = await unchanged_after(server, anna, {**send(conv), "id": "t2"})

    assert error["code"] == "session_expired"
    assert error["ref"] == "t2"
    assert await anna.wait_closed() == CLOSE_POLICY_VIOLATION


async def _logout(server: Server, cookie: str, csrf: str | None) -> int:
    headers = {"Cookie": cookie, "Origin": ORIGIN}
    if csrf is not None:
        headers["X-CSRF-Token"] = csrf
    async with (
        aiohttp.ClientSession() as http,
        http.post(server.url + "/api/logout", headers=headers) as response,
    ):
        await response.read()
        return response.status


async def test_logout_ends_the_console(server: Server) -> None:
    """Signing out ends the open console at its next frame; without CSRF it is refused."""
    await server.staff("anna", ["alpha"])
    cookie, csrf = await login(server.url, "anna", credential=credential("anna"), origin=ORIGIN)
    anna = await ConsolePeer.connect(server.url, cookie, origin=ORIGIN)
    server.peers.append(anna)

    assert await _logout(server, cookie, None) == 401
    await anna.availability("away")
    while (await anna.next("presence"))["status"] != "away":
        pass  # the session survived the forged logout

    assert await _logout(server, cookie, csrf) == 200
    error = await unchanged_after(server, anna, {"type": "availability", "status": "busy"})
    assert error["code"] == "session_expired"
    assert await anna.wait_closed() == CLOSE_POLICY_VIOLATION


async def test_console_message_cannot_name_another_staff(server: Server) -> None:
    """Console frames carry no actor field: a claimed staff id is an unknown field."""
    await server.staff("anna", ["alpha"])
    ben_id = await server.staff("ben", ["alpha"])
    anna = await server.console("anna")
    conv = (await (await server.client()).start("alpha", client_key()))["conversation"]

    error = await unchanged_after(server, anna, {**accept(conv), "staff": ben_id})

    assert error["code"] == "malformed"
    assert "staff" in error["message"]
    await still_open(anna)
