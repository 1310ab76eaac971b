"""The null relay: the smallest aiohttp WebSocket relay that forwards without storing.

The framework's floor for the benchmarks. A peer connects to ``/ws?id=NAME``; every text
frame it sends is a JSON object whose ``to`` names another peer, and goes to that peer
unchanged. Nothing is stored, acked or checked beyond that.

    .venv/bin/python bench/null_relay.py --port 0   # prints "listening on http://...:PORT"
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal

from aiohttp import WSMsgType, web

PEERS = web.AppKey("peers", dict[str, web.WebSocketResponse])


async def relay(request: web.Request) -> web.WebSocketResponse:
    peers = request.app[PEERS]
    name = request.query["id"]
    ws = web.WebSocketResponse(max_msg_size=0)
    await ws.prepare(request)
    peers[name] = ws
    try:
        async for msg in ws:
            if msg.type != WSMsgType.TEXT:
                continue
            to = peers.get(json.loads(msg.data)["to"])
            if to is not None:
                await to.send_str(msg.data)
    finally:
        peers.pop(name, None)
    return ws


async def serve(port: int) -> None:
    app = web.Application()
    app[PEERS] = {}
    app.router.add_get("/ws", relay)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    print(f"listening on http://127.0.0.1:{runner.addresses[0][1]}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    await stop.wait()
    await runner.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    asyncio.run(serve(parser.parse_args().port))


if __name__ == "__main__":
    main()
