"""Staff sessions expire without activity and slide with it; the clock is faked."""

from __future__ import annotations

import pytest
from conftest import FakeClock, Server, client_key, until

from chatserver.sdk import ChatRefused


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
