"""Fan-out between server processes through Redis pub/sub, behind the :class:`Hub`
interface of :mod:`chatserver.hub`.

Each process subscribes to the Redis channel of a topic (``chat:<topic>``) while it has a
local subscriber to it, and delivers what arrives to its local sinks without ever waiting
on them. Publishing goes through Redis only, so every process, this one included, hears a
frame once.

Redis pub/sub delivers at most once, so the database stays the truth. When the connection
to Redis breaks, frames published meanwhile are lost to this process: after reconnecting
and subscribing again, the hub asks its local peers to resync (``on_resync``: the server
closes their sockets with GOING_AWAY, and they resume from their last ``seq``, getting
everything they missed from storage).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

import redis.asyncio as redis
from redis.exceptions import RedisError

from .hub import LocalHub, Sink

__all__ = ["RedisHub"]

log = logging.getLogger("chatserver.redis_hub")

PREFIX = "chat:"


class RedisHub:
    def __init__(
        self,
        url: str,
        *,
        on_resync: Callable[[], Awaitable[None]] | None = None,
        reconnect_seconds: float = 0.5,
    ) -> None:
        self.url = url
        self.on_resync = on_resync
        self.reconnect = reconnect_seconds
        self._local = LocalHub()  # this process's sinks, by topic
        self._client: redis.Redis | None = None
        self._pubsub: redis.client.PubSub | None = None
        self._listener: asyncio.Task[None] | None = None
        self._commands = asyncio.Lock()
        self._confirmed: set[str] = set()  # channels Redis confirmed on this connection
        self._changed = asyncio.Condition()
        self._tasks: set[asyncio.Task[None]] = set()
        self.connected = False

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        self._client = redis.Redis.from_url(self.url)
        await self._client.ping()
        await self._connect()
        self._listener = asyncio.create_task(self._listen(), name="redis-hub-listener")

    async def close(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            await asyncio.gather(self._listener, return_exceptions=True)
        for task in tuple(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._pubsub is not None:
            await self._pubsub.aclose()  # type: ignore[no-untyped-call]
        if self._client is not None:
            await self._client.aclose()

    async def ping(self) -> bool:
        """Whether Redis answers (for the readiness check)."""
        try:
            return self._client is not None and bool(await self._client.ping())
        except (RedisError, OSError):
            return False

    async def _connect(self) -> None:
        assert self._client is not None
        self._pubsub = self._client.pubsub()
        self._confirmed = set()
        channels = [PREFIX + t for t in self._local.topics()]
        if channels:
            await self._pubsub.subscribe(*channels)
        else:  # a pubsub connection is opened by its first command
            await self._pubsub.subscribe(PREFIX + "-")
        self.connected = True

    # ------------------------------------------------------------------ Hub interface
    def subscribe(self, topic: str, sink: Sink) -> None:
        first = self._local.local_count(topic) == 0
        self._local.subscribe(topic, sink)
        if first:
            self._spawn(self._command("subscribe", topic))

    def unsubscribe(self, topic: str, sink: Sink) -> None:
        had = self._local.local_count(topic)
        self._local.unsubscribe(topic, sink)
        if had and self._local.local_count(topic) == 0:
            self._spawn(self._command("unsubscribe", topic))

    async def publish(self, topic: str, text: str) -> None:
        assert self._client is not None
        try:
            await self._client.publish(PREFIX + topic, text)
        except (RedisError, OSError):
            # At most once: the frame is stored (or was never more than a notice), and
            # peers catch up from storage when the hub resyncs them.
            log.warning("event=publish_failed topic_kind=%s", topic.split(":", 1)[0])

    def local_count(self, topic: str) -> int:
        return self._local.local_count(topic)

    async def flush(self) -> None:
        """Until Redis has confirmed every current local subscription (so that a frame
        published after this returns reaches them)."""
        async with self._changed:
            await asyncio.wait_for(
                self._changed.wait_for(
                    lambda: (
                        not self.connected
                        or {PREFIX + t for t in self._local.topics()} <= self._confirmed
                    )
                ),
                timeout=5,
            )

    # ------------------------------------------------------------------ internals
    def _spawn(self, work: Awaitable[None]) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _command(self, what: str, topic: str) -> None:
        async with self._commands:
            pubsub = self._pubsub
            if pubsub is None or not self.connected:
                return  # the reconnect subscribes to every current topic
            try:
                wanted = self._local.local_count(topic) > 0
                if what == "subscribe" and wanted:
                    await pubsub.subscribe(PREFIX + topic)
                elif what == "unsubscribe" and not wanted:
                    await pubsub.unsubscribe(PREFIX + topic)
            except (RedisError, OSError):
                log.warning("event=redis_command_failed")

    async def _listen(self) -> None:
        while True:
            try:
                assert self._pubsub is not None
                message = await self._pubsub.get_message(timeout=None)
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError):
                await self._lost()
                continue
            if message is None:
                continue
            await self._handle(message)

    async def _handle(self, message: dict[str, object]) -> None:
        kind = message.get("type")
        channel = message.get("channel")
        name = channel.decode() if isinstance(channel, bytes) else str(channel)
        if kind in ("subscribe", "unsubscribe"):
            async with self._changed:
                if kind == "subscribe":
                    self._confirmed.add(name)
                else:
                    self._confirmed.discard(name)
                self._changed.notify_all()
            return
        if kind != "message" or not name.startswith(PREFIX):
            return
        data = message.get("data")
        text = data.decode() if isinstance(data, bytes) else str(data)
        await self._local.publish(name[len(PREFIX) :], text)

    async def _lost(self) -> None:
        """Reconnect, subscribe again, then have local peers resync from storage."""
        self.connected = False
        async with self._changed:
            self._changed.notify_all()
        log.warning("event=redis_lost")
        while True:
            await asyncio.sleep(self.reconnect)  # back off before trying again
            try:
                async with self._commands:
                    if self._pubsub is not None:
                        await self._pubsub.aclose()  # type: ignore[no-untyped-call]
                    await self._connect()
                break
            except (RedisError, OSError):
                continue
        log.info("event=redis_reconnected")
        if self.on_resync is not None:
            await self.on_resync()
