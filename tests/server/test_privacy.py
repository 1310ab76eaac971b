"""Nothing identifies a client: no address, user agent or forwarded-for value reaches the
database file (with its WAL) or the logs."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from conftest import Server, client_key, dump

from chatserver.storage.db import sqlite_path

PROBE_UA = "PrivacyProbe/9.9 (Android 4.4; old phone)"
PROBE_XFF = "203.0.113.77"


async def test_no_address_or_user_agent_stored_or_logged(
    server: Server, caplog: pytest.LogCaptureFixture
) -> None:
    """A whole conversation leaves no client address, user agent or XFF in DB or logs."""
    caplog.set_level(logging.DEBUG)
    await server.staff("anna", ["alpha"])
    console = await server.console("anna")
    headers = {"User-Agent": PROBE_UA, "X-Forwarded-For": PROBE_XFF, "X-Real-IP": PROBE_XFF}
    client = await server.client(headers=headers)
    started = await client.start("alpha", client_key())
    await console.accept(started["conversation"])
    await client.send("m1", b"opaque")
    await console.send(started["conversation"], "t1", b"opaque too")
    await client.next("message")
    await client.send_raw("{not json")
    await client.next("error", errors=False)
    await client.close_conversation()

    # Everything the server side logs; the test's own SDK client (websockets.client) is
    # the visitor's device, not the server, and is left out.
    logged = "\n".join(
        r.getMessage() for r in caplog.records if not r.name.startswith("websockets.client")
    )
    assert "event=open" in logged  # the logs were captured at all
    for needle in (PROBE_UA, "PrivacyProbe", PROBE_XFF, "127.0.0.1", started["token"]):
        assert needle not in logged, needle

    rows = repr(await dump(server.settings.database_url))
    assert started["conversation"] in rows  # the dump holds the conversation
    for needle in (PROBE_UA, PROBE_XFF, "127.0.0.1", started["token"]):
        assert needle not in rows, needle

    path = sqlite_path(server.settings.database_url)
    if path is None:  # PostgreSQL: the rows above are what the database holds
        return
    files = [p for p in (path, Path(f"{path}-wal")) if p.exists()]
    data = b"".join(p.read_bytes() for p in files)
    assert len(data) > 0
    for needle in (PROBE_UA, PROBE_XFF, "127.0.0.1", started["token"]):
        assert needle.encode() not in data, needle
