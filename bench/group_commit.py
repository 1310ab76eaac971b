"""Group commit against one commit per message, in one run, on this machine.

Starts a real server (SQLite file in a temporary folder, or --database-url), opens N
client connections with the SDK, and has each send M messages, every one waiting for its
ack (which comes after the commit). Runs twice: with the configured batch size and with
batch size 1 (what a store that commits each message alone does), and prints both and
their ratio. The numbers include the clients' CPU: they share this machine.

    .venv/bin/python bench/group_commit.py --clients 50 --messages 100
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time

from aiohttp import web

from chatserver.config import load_settings
from chatserver.ops import cli
from chatserver.sdk.peers import ClientPeer
from chatserver.web.app import create_app
from chatserver.web.state import DB, SERVICE

ORIGIN = "http://bench.test"


async def one_run(url: str, clients: int, messages: int, batch: int) -> tuple[float, int, float]:
    settings = load_settings(
        environ={},
        port=0,
        public_origin=ORIGIN,
        database_url=url,
        frame_rate=1e6,
        frame_burst=1_000_000,
        starts_per_minute_free=1_000_000,
        max_queued=100_000,
        commit_batch=batch,
        cookie_secure=False,
    )
    app = create_app(settings)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    base = f"http://127.0.0.1:{runner.addresses[0][1]}"
    await cli.team_add(app[DB], f"b{batch}", "Bench", [])
    peers = [await ClientPeer.connect(base, origin=ORIGIN) for _ in range(clients)]
    for peer in peers:
        await peer.start(f"b{batch}", b"\x04" + bytes(64))
    body = os.urandom(256)

    async def talk(peer: ClientPeer) -> None:
        for i in range(messages):
            await peer.send(f"m{i}", body, n=i)

    cpu, wall = time.process_time(), time.perf_counter()
    await asyncio.gather(*(talk(p) for p in peers))
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    commits = app[SERVICE].writer.commits
    for peer in peers:
        await peer.close()
    await runner.cleanup()
    return clients * messages / wall, commits, cpu / (clients * messages) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--messages", type=int, default=100)
    parser.add_argument("--batch", type=int, default=512)
    parser.add_argument("--database-url", help="default: a new SQLite file per run")
    args = parser.parse_args()
    results = {}
    for batch in (args.batch, 1):
        url = args.database_url
        if url is None:
            url = f"sqlite+aiosqlite:///{tempfile.mkdtemp()}/bench.db"
            cli._migrate(load_settings(environ={}, database_url=url))  # and its keystore
        results[batch] = asyncio.run(one_run(url, args.clients, args.messages, batch))
        rate, commits, cpu = results[batch]
        print(
            f"batch={batch:<4} {rate:8.0f} msg/s acked  {commits:6d} commits  "
            f"{cpu:6.0f} us CPU/msg (server and clients)"
        )
    print(f"group commit / one commit per message: {results[args.batch][0] / results[1][0]:.1f}x")


if __name__ == "__main__":
    main()
