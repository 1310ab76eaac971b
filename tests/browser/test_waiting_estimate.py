"""The honest waiting estimate: ``position`` frames carry ``estimate_seconds`` worked out
from the team's recent waits (start to first accept) and the counsellors available now, and
none when there is too little to go by or nobody is on duty; the widget says it in rounded
words or says that it cannot say. Real server and sockets, a FakeClock instead of sleeps."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from conftest import FakeClock, Server, client_key, until
from sqlalchemy import update
from test_e2e_js import node
from test_widget import TEXTS, World, open_chat, world

from chatserver.chat.service import ESTIMATE_MIN_SAMPLES, waiting_estimate
from chatserver.sdk.peers import ClientPeer, ConsolePeer
from chatserver.storage import models as m

__all__ = ["world"]  # the browser fixture, shared with tests/browser/test_widget.py

DAY = 86_400.0


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def alpha(make_server: Callable[..., Any], clock: FakeClock) -> Server:
    """A server on the fake clock with team alpha and its counsellors Anna and Bob."""
    server: Server = await make_server(clock=clock)
    await server.team("alpha")
    await server.staff("anna", ["alpha"])
    await server.staff("bob", ["alpha"])
    return server


async def waited(server: Server, console: ConsolePeer, clock: FakeClock, *waits: float) -> None:
    """One accepted (and closed) conversation per wait, each accepted ``wait`` seconds after
    it started."""
    for wait in waits:
        client = await server.client()
        cid = (await client.start("alpha", client_key(len(server.peers))))["conversation"]
        clock.advance(wait)
        await console.accept(cid)
        await console.close_conversation(cid)
        await client.close()


async def joins(server: Server, clock: FakeClock) -> tuple[ClientPeer, dict[str, Any]]:
    """A second later another client joins the queue (the queue is in order of time): it
    hears its own place with ``started``; nobody ahead of it moves, so nobody else hears
    anything."""
    clock.advance(1)
    client = await server.client()
    started = await client.start("alpha", client_key(len(server.peers)))
    return client, started


def place(frame: dict[str, Any]) -> dict[str, Any]:
    """A ``started`` or ``position`` frame's place and estimate."""
    return {k: frame[k] for k in ("position", "estimate_seconds") if k in frame}


def test_the_estimate_is_a_median_turn_shared_by_those_on_duty() -> None:
    """The core rule: median wait x position / counsellors available, or no number."""
    waits = [60_000, 120_000, 180_000, 240_000, 3_600_000]
    assert waiting_estimate(waits, 1, 1) == 180
    assert waiting_estimate(waits, 3, 2) == 270
    assert waiting_estimate(waits[: ESTIMATE_MIN_SAMPLES - 1], 1, 1) is None
    assert waiting_estimate(waits, 1, 0) is None


async def test_position_frames_carry_the_teams_estimate(alpha: Server, clock: FakeClock) -> None:
    """Five known waits (median three minutes): the first in the queue hears 180 s, the
    second 360 s; when Bob comes on duty too, everyone waiting hears the shared turns."""
    anna = await alpha.console("anna")
    await waited(alpha, anna, clock, 60, 120, 180, 240, 600)
    first, started = await joins(alpha, clock)
    assert place(started) == {"position": 1, "estimate_seconds": 180}
    second, started = await joins(alpha, clock)
    assert place(started) == {"position": 2, "estimate_seconds": 360}
    third, started = await joins(alpha, clock)
    assert place(started) == {"position": 3, "estimate_seconds": 540}
    await alpha.console("bob")
    assert place(await first.next("position")) == {"position": 1, "estimate_seconds": 90}
    assert place(await second.next("position")) == {"position": 2, "estimate_seconds": 180}
    assert place(await third.next("position")) == {"position": 3, "estimate_seconds": 270}


async def test_no_estimate_without_enough_recent_waits(alpha: Server, clock: FakeClock) -> None:
    """Four waits are too few to say anything; the fifth gives a number; a week later the
    old waits no longer count and the number is gone again."""
    anna = await alpha.console("anna")
    await waited(alpha, anna, clock, *[120] * (ESTIMATE_MIN_SAMPLES - 1))
    first, started = await joins(alpha, clock)
    assert place(started) == {"position": 1}
    # Another client starts in the same second (it may queue ahead of the first) and is
    # accepted: its accept makes five waits and moves the queue.
    await waited(alpha, anna, clock, 120)
    assert place(await until(first, "position", position=1)) == {
        "position": 1,
        "estimate_seconds": 120,
    }
    clock.advance(8 * DAY)
    await alpha.console("bob")  # a change of who is on duty: places are said again
    assert place(await first.next("position")) == {"position": 1}


async def test_no_estimate_when_nobody_is_on_duty(alpha: Server, clock: FakeClock) -> None:
    """Enough data, but nobody there to take the next chat (Anna away, later signed off
    and Bob away): no number. Back on duty, the estimate returns at once."""
    anna = await alpha.console("anna")
    await waited(alpha, anna, clock, 300, 300, 300, 300, 300)
    first, started = await joins(alpha, clock)
    assert place(started) == {"position": 1, "estimate_seconds": 300}
    await anna.availability("away")
    assert await first.next("position") == {"type": "position", "position": 1}
    await anna.availability("available")
    assert (await first.next("position"))["estimate_seconds"] == 300

    bob = await alpha.console("bob")
    assert (await first.next("position"))["estimate_seconds"] == 150
    await bob.availability("away")
    assert (await first.next("position"))["estimate_seconds"] == 300
    await anna.close()
    await until(bob, "presence", name="Anna", status="offline")
    assert "estimate_seconds" not in await until(first, "position")


def test_the_widget_rounds_the_estimate_to_words() -> None:
    """Rounded, never falsely precise: whole minutes up to ten, then fives; an hour and
    more is "an hour or more"; no estimate is said as such."""
    script = (
        "import { t, waitWords } from './widget/i18n.js';"
        "const out = {};"
        "for (const l of ['en', 'de']) out[l] = [null, 20, 100, 200, 460, 1000, 3400, 3500, 9000]"
        ".map((s) => t(l, ...waitWords(s)));"
        "console.log(JSON.stringify(out));"
    )
    result = node("--input-type=module", "-e", script)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {
        "en": [
            "We cannot say how long it will take right now.",
            "Waiting time: about a minute.",
            "Waiting time: about 2 minutes.",
            "Waiting time: about 3 minutes.",
            "Waiting time: about 8 minutes.",
            "Waiting time: about 15 minutes.",
            "Waiting time: about 55 minutes.",
            "Waiting time: an hour or more.",
            "Waiting time: an hour or more.",
        ],
        "de": [
            "Wie lange es dauert, können wir gerade nicht sagen.",
            "Wartezeit: etwa eine Minute.",
            "Wartezeit: etwa 2 Minuten.",
            "Wartezeit: etwa 3 Minuten.",
            "Wartezeit: etwa 8 Minuten.",
            "Wartezeit: etwa 15 Minuten.",
            "Wartezeit: etwa 55 Minuten.",
            "Wartezeit: eine Stunde oder länger.",
            "Wartezeit: eine Stunde oder länger.",
        ],
    }


WORDS = {
    "en": ("Waiting time: about 5 minutes.", "We cannot say how long it will take right now."),
    "de": ("Wartezeit: etwa 5 Minuten.", "Wie lange es dauert, können wir gerade nicht sagen."),
}


@pytest.mark.browser
@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("lang", ["en", "de"])
async def test_the_widget_says_the_estimate_in_words(
    world: World, chromium: Any, lang: str
) -> None:
    """Waiting in the widget, the visitor reads "about 5 minutes" as soon as `started`
    arrives, and that it cannot say when nobody is on duty."""
    from playwright.async_api import expect

    server = world.server
    desk = await world.counsellor()
    await until(desk.peer, "queue")
    for seed in range(ESTIMATE_MIN_SAMPLES):
        client = await visitor(server)
        cid = (await client.start("alpha", client_key(seed)))["conversation"]
        await desk.peer.accept(cid)
        await desk.peer.close_conversation(cid)
    # The world runs on the real clock: give those conversations a known wait of 5 minutes.
    async with server.db.write() as conn:
        c = m.conversations.c
        await conn.execute(
            update(m.conversations)
            .where(c.accepted_at.is_not(None))
            .values(created_at=c.accepted_at - 300_000)
        )

    page = await world_page(world, chromium, lang)
    frame = page.frame_locator("iframe")
    await expect(frame.locator("#status")).to_have_text(TEXTS[lang]["first"])
    await expect(frame.locator("#wait")).to_have_text(WORDS[lang][0])  # with `started`
    await (await visitor(server)).start("alpha", client_key(90))  # behind: no change here
    await expect(frame.locator("#wait")).to_have_text(WORDS[lang][0])
    await expect(frame.locator("#status")).to_have_text(TEXTS[lang]["first"])

    await desk.peer.availability("away")
    await until(desk.peer, "presence", status="away")
    await (await visitor(server)).start("alpha", client_key(91))
    await expect(frame.locator("#wait")).to_have_text(WORDS[lang][1])


async def visitor(server: Server) -> ClientPeer:
    """A client from the chat server's own origin (the only one the world's server knows
    besides the agency's)."""
    peer = await ClientPeer.connect(server.url)
    server.peers.append(peer)
    return peer


async def world_page(world: World, chromium: Any, lang: str) -> Any:
    """The agency's page with the chat opened, the consent given and one message queued."""
    from playwright.async_api import expect

    page = await open_chat(world, chromium, lang)
    frame = page.frame_locator("iframe")
    box = frame.get_by_label(TEXTS[lang]["label"])
    await box.fill("hello")
    await box.press("Enter")
    await expect(frame.locator("#log li.me .st")).to_have_text(TEXTS[lang]["stored"])
    return page


async def test_started_and_resumed_carry_the_estimate(alpha: Server, clock: FakeClock) -> None:
    """A client alone in the queue hears the estimate with `started` (no queue change is
    needed), and again with `resumed` while it still waits."""
    anna = await alpha.console("anna")
    await waited(alpha, anna, clock, 60, 120, 180, 240, 600)
    client = await alpha.client()
    started = await client.start("alpha", client_key(77))
    assert (started["position"], started["estimate_seconds"]) == (1, 180)
    await client.close()
    again = await alpha.client()
    resumed = await again.resume(started["conversation"], started["token"])
    assert (resumed["state"], resumed["position"], resumed["estimate_seconds"]) == (
        "waiting",
        1,
        180,
    )


async def test_places_of_starts_in_the_same_millisecond(alpha: Server, clock: FakeClock) -> None:
    """The queue is in order of time, then of id: clients started in the same millisecond
    are placed by id, a newcomer that goes ahead of earlier ones tells them their new
    place, and a resume reports the same place (a count of those ahead)."""
    clients: dict[str, ClientPeer] = {}
    tokens: dict[str, str] = {}
    places: dict[str, int] = {}
    for i in range(6):  # the clock does not move: all in one millisecond
        client = await alpha.client()
        started = await client.start("alpha", client_key(i + 1))
        newer = started["conversation"]
        for conversation, other in clients.items():  # those behind it hear their new place
            if conversation > newer:
                places[conversation] = (await other.next("position"))["position"]
        clients[newer], tokens[newer] = client, started["token"]
        places[newer] = started["position"]
    ranked = sorted(places)
    assert [places[c] for c in ranked] == list(range(1, 7))
    for conversation in ranked:
        again = await alpha.client()
        resumed = await again.resume(conversation, tokens[conversation])
        assert resumed["position"] == places[conversation]
