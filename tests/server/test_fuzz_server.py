"""Property-based fuzzing through a real server: frames the protocol refuses never crash
the server, never close a healthy connection without an error frame, and change nothing
in storage.

Hypothesis drives a synchronous test, so the server runs on its own event loop in a
thread and the fuzzer speaks to it with ``websockets.sync``.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from conftest import ORIGIN, client_key, dump, keystore_for
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from websockets.sync.client import ClientConnection, connect

from chatserver.config import load_settings
from chatserver.ops import cli
from chatserver.protocol import frames
from chatserver.protocol.codec import decode
from chatserver.protocol.errors import ChatError
from chatserver.sdk.peers import b64
from chatserver.web.app import create_app
from chatserver.web.state import DB


class ThreadServer:
    """A real server on its own loop in a background thread."""

    def __init__(self, db_url: str) -> None:
        self.settings = load_settings(
            environ={},
            host="127.0.0.1",
            port=0,
            public_origin=ORIGIN,
            database_url=db_url,
            keystore_url=keystore_for(db_url),
            cookie_secure=False,
            frame_rate=10_000.0,
            frame_burst=10_000,
            starts_per_minute_free=10_000,
            retention_in_process=False,  # no sweep between the dumps
        )
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.url = asyncio.run_coroutine_threadsafe(self._start(), self.loop).result(30)

    async def _start(self) -> str:
        from aiohttp import web

        self.app = create_app(self.settings)
        self.runner = web.AppRunner(self.app, access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        await cli.team_add(self.app[DB], "alpha", "Alpha", ["general:General"])
        return f"ws://127.0.0.1:{self.runner.addresses[0][1]}/ws/client"

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop).result(30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


@pytest.fixture
def fuzz_server(db_url: str) -> Iterator[ThreadServer]:
    server = ThreadServer(db_url)
    yield server
    server.stop()


def _recv(ws: ClientConnection) -> dict[str, Any]:
    data = json.loads(ws.recv(timeout=10))
    assert isinstance(data, dict)
    return data


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=12,
)
field_names = st.sampled_from(
    [
        "team",
        "client_key",
        "consent",
        "topic",
        "id",
        "body",
        "gen",
        "n",
        "kind",
        "after",
        "conversation",
        "token",
        "last_seq",
        "active",
        "to",
        "hours",
    ]
)
frame_types = st.sampled_from(sorted(frames.CLIENT_FRAMES) + sorted(frames.CONSOLE_FRAMES)) | (
    st.text(max_size=12)
)
junk_frames = st.one_of(
    st.text(max_size=200),
    st.builds(
        lambda t, fields: json.dumps({"type": t, **fields}),
        frame_types,
        st.dictionaries(field_names, json_values, max_size=5),
    ),
)


def _refused(raw: str) -> bool:
    try:
        decode(raw, "client", 96 * 1024)
    except ChatError:
        return True
    return False


@pytest.mark.timeout(300)
def test_refused_frames_change_nothing(fuzz_server: ThreadServer) -> None:
    """Any frame the codec refuses gets an error frame; storage stays byte-identical."""
    with connect(fuzz_server.url, origin=ORIGIN, compression=None) as ws:  # type: ignore[arg-type]
        _recv(ws)  # hello
        ws.send(
            json.dumps(
                {"type": "start", "team": "alpha", "client_key": b64(client_key()), "consent": "v1"}
            )
        )
        started = _recv(ws)
        assert started["type"] == "started"
        ws.send(json.dumps({"type": "send", "id": "m1", "body": b64(b"x"), "gen": 0, "n": 0}))
        assert _recv(ws)["type"] == "ack"
        before = asyncio.run(dump(fuzz_server.settings.database_url))

        @settings(
            max_examples=150,
            deadline=None,
            suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
        )
        @given(raw=junk_frames)
        def one(raw: str) -> None:
            assume(_refused(raw))
            ws.send(raw)
            answer = _recv(ws)
            assert answer["type"] == "error" and answer["code"] and answer["message"]
            # The connection is still healthy: a valid frame is answered normally.
            ws.send(json.dumps({"type": "fetch", "after": 1}))
            ws.send(json.dumps({"type": "typing", "active": False}))

        one()
        # Drain nothing-frames: fetch after 1 returns no messages, typing no answer.
        ws.send(json.dumps({"type": "send", "id": "m1", "body": b64(b"x"), "gen": 0, "n": 0}))
        assert _recv(ws) == {"type": "ack", "id": "m1", "seq": 1}
    after = asyncio.run(dump(fuzz_server.settings.database_url))
    assert after == before
