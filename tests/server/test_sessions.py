"""Staff sessions expire without activity and slide with it; the clock is faked."""

from __future__ import annotations

import pytest
from conftest import FakeClock, Server, client_key, until

from chatserver.sdk.peers import ChatRefused


async def test_idle_session_expires_and_closes_the_console(make_server: object) -> None:
    """After session_hours without activity the next console frame gets session_expired."""
    clock = FakeClock()
    server: Server = await make_server(clock=clock, session_hours=1.0)  # type: ignore[operator]
    await server.team("alpha")
    await server.staff("anna", ["alpha"])
    console = await server.console("anna")
    await console.availability("busy")
    await until(console, "presence", status="busy")
    clock.advance(3601)
    await console.availability("available")
    with pytest.raises(ChatRefused) as refused:
        await until(console, "presence", status="available")
    assert refused.value.code == "session_expired"
    assert await console.wait_closed() == 1008


async def test_activity_keeps_the_session_alive(make_server: object) -> None:
    """Frames within the lifetime push the expiry forward."""
    clock = FakeClock()
    server: Server = await make_server(clock=clock, session_hours=1.0)  # type: ignore[operator]
    await server.team("alpha")
    await server.staff("anna", ["alpha"])
    console = await server.console("anna")
    for status in ("busy", "away", "available", "busy"):
        clock.advance(50 * 60)  # 50 minutes each: 3h20 in all, never an hour idle
        await console.availability(status)
        await until(console, "presence", status=status)


async def test_a_counsellor_who_only_writes_keeps_the_session(make_server: object) -> None:
    """Messages alone keep the session alive: a message whose console was fully checked
    more than 30 s ago gets the full check again, which slides the expiry."""
    clock = FakeClock()
    server: Server = await make_server(clock=clock, session_hours=1.0)  # type: ignore[operator]
    await server.team("alpha")
    await server.staff("anna", ["alpha"])
    console = await server.console("anna")
    client = await server.client()
    conversation = (await client.start("alpha", client_key(1)))["conversation"]
    await console.accept(conversation)
    for k in range(4):
        clock.advance(50 * 60)  # 50 minutes each: 3h20 in all, never an hour idle
        ack = await console.send(conversation, f"m{k}", b"ciphertext", n=k)
        assert ack["seq"] == k + 1
    clock.advance(3601)
    with pytest.raises(ChatRefused) as refused:
        await console.send(conversation, "late", b"ciphertext", n=4)
    assert refused.value.code == "session_expired"
    assert await console.wait_closed() == 1008


@pytest.fixture
def quick_checks(monkeypatch: pytest.MonkeyPatch) -> None:
    """The server checks idle consoles every 20 ms instead of every 30 s (what it checks
    and when it acts is the same)."""
    from chatserver.web.ws import console as console_ws

    monkeypatch.setattr(console_ws, "SESSION_CHECK_SECONDS", 0.02)


@pytest.mark.usefixtures("quick_checks")
async def test_an_idle_console_ends_with_its_session(make_server: object) -> None:
    """A console that sends nothing is still checked: a membership given meanwhile brings
    that team's queue, the checks never slide the session, and when the session has
    expired the console gets session_expired and is closed, without a frame of its own."""
    from sqlalchemy import insert, select

    from chatserver.storage import models as m

    clock = FakeClock()
    server: Server = await make_server(clock=clock, session_hours=1.0)  # type: ignore[operator]
    await server.team("alpha")
    await server.team("beta")
    anna_id = await server.staff("anna", ["alpha"])
    console = await server.console("anna")
    assert (await console.next("queue"))["items"] == []
    waiting = (await (await server.client()).start("beta", client_key(1)))["conversation"]
    async with server.db.read() as conn:
        expires = (await conn.execute(select(m.sessions.c.expires_at))).scalar_one()

    async with server.db.write() as conn:  # an admin adds anna to beta
        beta = (await conn.execute(select(m.teams.c.id).where(m.teams.c.slug == "beta"))).scalar()
        await conn.execute(insert(m.memberships).values(staff_id=anna_id, team_id=beta, since=0))
    # The server's clock moves on: the next check (not before) finds the new team.
    clock.advance(50 * 60)
    snapshot = await console.next("queue")
    assert [item["conversation"] for item in snapshot["items"]] == [waiting]
    async with server.db.read() as conn:
        assert (await conn.execute(select(m.sessions.c.expires_at))).scalar_one() == expires

    clock.advance(11 * 60)  # an hour since the sign-in, and nothing done since
    assert (await console.next("error"))["code"] == "session_expired"
    assert await console.wait_closed() == 1008


@pytest.mark.usefixtures("quick_checks")
@pytest.mark.parametrize("how", ["disabled", "signed_out"])
async def test_an_idle_console_closes_when_its_account_or_session_goes(
    make_server: object, how: str
) -> None:
    """A disabled account or a sign-out on another device closes an idle console
    (within SESSION_CHECK_SECONDS), not only at its next frame."""
    import aiohttp
    from conftest import ORIGIN, credential

    from chatserver.ops import cli
    from chatserver.sdk.peers import ConsolePeer, login

    clock = FakeClock()
    server: Server = await make_server(clock=clock)  # type: ignore[operator]
    await server.team("alpha")
    await server.staff("anna", ["alpha"])
    cookie, csrf = await login(server.url, "anna", credential=credential("anna"), origin=ORIGIN)
    console = await server.console_with_cookie(cookie)
    assert isinstance(console, ConsolePeer)
    if how == "disabled":
        await cli.user_disable(server.db, "anna")
    else:
        headers = {"Cookie": cookie, "Origin": ORIGIN, "X-CSRF-Token": csrf}
        async with (
            aiohttp.ClientSession() as http,
            http.post(server.url + "/api/logout", headers=headers) as response,
        ):
            assert response.status == 200
    clock.advance(31)
    assert (await console.next("error"))["code"] == "session_expired"
    assert await console.wait_closed() == 1008


async def test_a_console_opened_elsewhere_is_announced(server: Server) -> None:
    """Every console of a staff member hears that another one of theirs opened, named by
    the new console's hello; a colleague's console hears nothing of it."""
    await server.staff("anna", ["alpha"])
    await server.staff("ben", ["alpha"])
    first = await server.console("anna")
    ben = await server.console("ben")
    mine = (await first.next("console_opened"))["connection"]
    assert mine == first.hello["connection"]
    second = await server.console("anna")
    opened = await first.next("console_opened")
    assert opened["connection"] == second.hello["connection"] != mine
    assert (await second.next("console_opened"))["connection"] == second.hello["connection"]
    await ben.availability("away")  # ben's own frames come after anything sent to him
    await until(ben, "presence", staff=ben.hello["staff"], status="away")
    assert ben.pending("console_opened") == [
        {"type": "console_opened", "connection": ben.hello["connection"]}
    ]
