"""A whole conversation through a real server with the SDK, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import base64
from typing import Any

import pytest
from conftest import Server, client_key, dump, until

from chatserver.sdk.peers import ChatRefused


def b(data: str) -> bytes:
    return base64.b64decode(data)


async def test_whole_conversation(server: Server) -> None:
    """Start, queue position, accept, messages both ways, transfer, close."""
    anna = await server.staff("anna", ["alpha"])
    ben = await server.staff("ben", ["alpha"])
    console_a = await server.console("anna")
    console_b = await server.console("ben")
    assert console_a.hello["teams"] == ["alpha"]
    assert (await console_a.next("queue"))["items"] == []

    first = await server.client()
    started = await first.start("alpha", client_key(1), topic="school")
    assert started["position"] == 1
    second = await server.client()
    assert (await second.start("alpha", client_key(2)))["position"] == 2

    queued = await console_a.next("queued")
    assert queued["item"]["conversation"] == started["conversation"]
    assert queued["item"]["topic"] == "school"

    ack = await first.send("c1", b"queued ciphertext")
    assert ack == {"type": "ack", "id": "c1", "seq": 1}

    assigned = await console_a.accept(
        started["conversation"], id="acc", key=b"K" * 65, body=b"accept ciphertext"
    )
    assert assigned["conversation"] == started["conversation"]
    assert b(assigned["client_key"]) == client_key(1)
    assert (await first.next("state"))["state"] == "active"
    accept_msg = await first.next("message")
    assert (accept_msg["kind"], b(accept_msg["body"])) == ("accept", b"accept ciphertext")
    # The second client moves up, the colleague's queue drops the accepted one.
    assert (await second.next("position"))["position"] == 1
    assert (await console_b.next("dequeued"))["conversation"] == started["conversation"]

    # History on accept, then live messages both ways.
    await console_a.fetch(started["conversation"])
    history = [await console_a.next("message") for _ in range(2)]
    assert [(h["seq"], h["kind"]) for h in history] == [(1, "msg"), (2, "accept")]
    assert b(history[0]["body"]) == b"queued ciphertext"
    await first.send("c2", b"hello from client", n=1)
    live = await console_a.next("message")
    assert (live["seq"], live["sender"], b(live["body"])) == (3, "client", b"hello from client")
    team_ack = await console_a.send(started["conversation"], "t1", b"hello from team", n=1)
    assert team_ack["seq"] == 4
    got = await first.next("message")
    assert (got["sender"], got["id"], b(got["body"])) == ("team", "t1", b"hello from team")

    # Typing is relayed, never stored.
    await first.typing(True)
    assert (await console_a.next("typing"))["active"] is True

    # Transfer to a colleague with a handover note.
    released = await console_a.transfer(started["conversation"], to=ben, note=b"handover")
    assert released["reason"] == "transferred"
    handed = await console_b.next("assigned")
    assert (handed["by"], b(handed["note"])) == (anna, b"handover")
    with pytest.raises(ChatRefused) as refused:
        await console_a.send(started["conversation"], "t2", b"too late")
    assert refused.value.code == "forbidden"
    await console_b.send(started["conversation"], "t3", b"ben here")
    assert b((await first.next("message"))["body"]) == b"ben here"

    # Back to the queue, accepted again, closed with a category.
    await console_b.transfer(started["conversation"])
    await until(first, "state", state="waiting", reason="transferred")
    requeued = await until(console_a, "queued")
    while requeued["item"]["conversation"] != started["conversation"]:
        requeued = await until(console_a, "queued")
    await console_a.accept(started["conversation"])
    released = await console_a.close_conversation(started["conversation"], category="advice")
    assert released["reason"] == "counsellor_closed"
    await until(first, "state", state="closed", reason="counsellor_closed")
    with pytest.raises(ChatRefused) as refused:
        await first.send("c3", b"after close")
    assert refused.value.code == "invalid_transition"

    rows = (await dump(server.settings.database_url))["conversations"]
    closed = next(r for r in rows if r[0] == started["conversation"])
    assert "closed" in closed and "advice" in closed


async def test_queue_snapshot_and_assigned_after_reconnect(server: Server) -> None:
    """A console that reconnects gets the queue and the chats it holds."""
    await server.staff("anna", ["alpha"])
    console = await server.console("anna")
    client = await server.client()
    waiting = await client.start("alpha", client_key())
    other = await server.client()
    held = await other.start("alpha", client_key(2))
    await console.accept(held["conversation"])
    await console.close()

    again = await server.console("anna")
    snapshot = await again.next("queue")
    assert [i["conversation"] for i in snapshot["items"]] == [waiting["conversation"]]
    assert (await again.next("assigned"))["conversation"] == held["conversation"]


async def test_accept_race_exactly_one_wins(server: Server) -> None:
    """Two counsellors accept the same conversation at once: one wins, one is told."""
    await server.staff("anna", ["alpha"])
    await server.staff("ben", ["alpha"])
    a, b_ = await server.console("anna"), await server.console("ben")
    client = await server.client()
    conv = (await client.start("alpha", client_key()))["conversation"]
    results = await asyncio.gather(a.accept(conv), b_.accept(conv), return_exceptions=True)
    wins = [r for r in results if isinstance(r, dict)]
    losses = [r for r in results if isinstance(r, ChatRefused)]
    assert len(wins) == 1 and len(losses) == 1
    assert losses[0].code == "already_taken"
    assert "already accepted" in losses[0].frame["message"]


async def test_counsellor_cap(server: Server) -> None:
    """A counsellor cannot hold more chats than the cap."""
    await server.staff("anna", ["alpha"])
    console = await server.console("anna")
    convs = []
    for i in range(4):
        client = await server.client()
        convs.append((await client.start("alpha", client_key(i)))["conversation"])
    for conv in convs[:3]:
        await console.accept(conv)
    with pytest.raises(ChatRefused) as refused:
        await console.accept(convs[3])
    assert refused.value.code == "cap_reached"


async def test_resume_after_drop_resend_is_idempotent(server: Server) -> None:
    """Dropped mid-stream, the client resumes and resends: nothing lost, nothing twice."""
    await server.staff("anna", ["alpha"])
    console = await server.console("anna")
    client = await server.client()
    started = await client.start("alpha", client_key())
    conv, token = started["conversation"], started["token"]
    await console.accept(conv)
    for i in range(5):
        await client.send(f"m{i}", f"body {i}".encode(), n=i)
    # The team writes while the client is away.
    await client.close()
    for i in range(3):
        await console.send(conv, f"t{i}", f"team {i}".encode(), n=i)

    back = await server.client()
    resumed = await back.resume(conv, token, last_seq=5)
    assert resumed["state"] == "active"
    missed = [await back.next("message") for _ in range(3)]
    assert [m["id"] for m in missed] == ["t0", "t1", "t2"]
    # Resend the last two (their acks were "lost"): same acks, nothing stored twice.
    for i in (3, 4):
        ack = await back.send(f"m{i}", f"body {i}".encode(), n=i)
        assert ack["seq"] == i + 1
    with pytest.raises(ChatRefused) as refused:
        await back.send("m4", b"different bytes", n=4)
    assert refused.value.code == "conflict"
    ack = await back.send("m5", b"body 5", n=5)
    assert ack["seq"] == 9
    messages = (await dump(server.settings.database_url))["messages"]
    assert len(messages) == 9


async def test_client_delete_removes_everything(server: Server) -> None:
    """A client deletes its conversation: rows gone, token refused afterwards."""
    await server.staff("anna", ["alpha"])
    console = await server.console("anna")
    client = await server.client()
    started = await client.start("alpha", client_key())
    await console.accept(started["conversation"])
    await client.send("m1", b"secret-ish ciphertext")
    await console.envelope(started["conversation"], "note1", "note", b"note ciphertext")
    deleted = await client.delete()
    assert deleted["state"] == "deleted"
    assert (await console.next("released"))["reason"] == "client_deleted"
    after = await dump(server.settings.database_url)
    assert after["conversations"] == [] and after["messages"] == []
    assert after["key_envelopes"] == []
    again = await server.client()
    with pytest.raises(ChatRefused) as refused:
        await again.resume(started["conversation"], started["token"])
    assert refused.value.code == "not_found"


async def test_block_refuses_the_client(server: Server) -> None:
    """A blocked client's conversation ends and its token is refused, audited."""
    await server.staff("anna", ["alpha"])
    console = await server.console("anna")
    client = await server.client()
    started = await client.start("alpha", client_key())
    await console.accept(started["conversation"])
    await console.block(started["conversation"], hours=2)
    await until(client, "state", state="closed", reason="blocked")
    again = await server.client()
    with pytest.raises(ChatRefused) as refused:
        await again.resume(started["conversation"], started["token"])
    assert refused.value.code == "blocked"
    rows = await dump(server.settings.database_url)
    assert len(rows["blocks"]) == 1
    assert any(r[3] == "client.blocked" for r in rows["audit"])


async def test_resume_pages_long_histories(make_server: Any) -> None:
    """A resume answers at most 500 messages; fetch after the last one gets the rest."""
    server = await make_server(frame_rate=100_000.0, frame_burst=100_000)
    await server.team("alpha")
    client = await server.client()
    started = await client.start("alpha", client_key())
    for i in range(510):
        await client.send(f"m{i}", b"x", n=i)
    back = await server.client()
    resumed = await back.resume(started["conversation"], started["token"])
    assert resumed["last_seq"] == 510
    first = [(await back.next("message"))["seq"] for _ in range(500)]
    assert first == list(range(1, 501))
    await back.fetch(500)
    rest = [(await back.next("message"))["seq"] for _ in range(10)]
    assert rest == list(range(501, 511))
    assert back.pending("message") == []


async def test_a_console_learns_who_wrote_a_team_message_and_a_client_never(
    server: Server,
) -> None:
    """After a transfer the colleague's fetch names the author of each team message; the
    client's live messages, its resume and its fetch never carry an author."""
    from conftest import caller

    anna = await server.staff("anna", ["alpha"], name="Anna A.")
    ben = await server.staff("ben", ["alpha"], name="Ben B.")
    await server.staff("bea", ["beta"], name="Bea")
    console_a, console_b = await server.console("anna"), await server.console("ben")
    client = await server.client()
    started = await client.start("alpha", client_key(1))
    cid = started["conversation"]
    await client.send("c1", b"queued")
    await console_a.accept(cid, id="acc", key=b"K" * 65, body=b"accept")
    await console_a.send(cid, "t1", b"from anna", gen=1, n=0)
    await console_a.send_frame({"type": "transfer", "conversation": cid, "to": ben})
    await until(console_b, "assigned", conversation=cid)
    await console_b.fetch(cid)
    history = [await console_b.next("message") for _ in range(3)]
    assert [(h["sender"], h.get("author")) for h in history] == [
        ("client", None),
        ("team", anna),
        ("team", anna),
    ]
    await console_b.send(cid, "t2", b"from ben", gen=1, n=1)
    live = await until(client, "message", id="t2")
    assert "author" not in live
    await client.fetch(0)
    fetched = [await client.next("message") for _ in range(4)]
    again = await server.client()
    await again.resume(cid, started["token"])
    resumed = [await again.next("message") for _ in range(4)]
    assert [m["id"] for m in resumed] == ["c1", "acc", "t1", "t2"]
    assert not [m for m in fetched + resumed if "author" in m]

    # The team's people, by the names colleagues see: members of that team only.
    status, people = await (await caller(server, "ben"))("GET", "/api/teams/alpha/people")
    assert status == 200
    assert people == {
        "team": "alpha",
        "people": [
            {"id": anna, "name": "Anna A.", "role": "counsellor"},
            {"id": ben, "name": "Ben B.", "role": "counsellor"},
        ],
    }
    status, _ = await (await caller(server, "bea"))("GET", "/api/teams/alpha/people")
    assert status == 403


async def test_supervisors_list_the_chats_in_progress_until_they_expire(server: Server) -> None:
    """``GET /api/teams/SLUG/chats`` names who holds each active chat and its topic; a
    conversation past its retention due time is hidden at once, before any sweep."""
    from conftest import caller
    from sqlalchemy import update

    from chatserver.storage import models as m

    anna = await server.staff("anna", ["alpha"], name="Anna A.")
    await server.staff("sue", ["alpha"], role="supervisor")
    console = await server.console("anna")
    client = await server.client()
    cid = (await client.start("alpha", client_key(1), topic="school"))["conversation"]
    await console.accept(cid, id="acc", key=b"K" * 65, body=b"accept")
    waiting = await server.client()
    await waiting.start("alpha", client_key(2))
    sue = await caller(server, "sue")

    status, listed = await sue("GET", "/api/teams/alpha/chats")
    assert status == 200
    [chat] = listed["chats"]
    assert chat["conversation"] == cid
    assert chat["topic"] == "school"
    assert chat["counsellor"] == {"id": anna, "name": "Anna A."}
    assert chat["transfers"] == 0

    async with server.db.write() as conn:
        c = m.conversations.c
        await conn.execute(update(m.conversations).where(c.id == cid).values(due_at=1))
    assert (await sue("GET", "/api/teams/alpha/chats"))[1] == {"team": "alpha", "chats": []}
