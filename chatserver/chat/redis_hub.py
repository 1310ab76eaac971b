"""Fan-out between server processes through Redis pub/sub, behind the :class:`Hub`
interface of :mod:`chatserver.chat.hub`.

Each process subscribes to the Redis channel of a topic (``chat:<topic>``) while it has a
local subscriber to it, and delivers what arrives to its local sinks without ever waiting
on them. Publishing goes through Redis only, so every process, this one included, hears a
frame once.

Redis pub/sub delivers at most once, so the database stays the truth. When the connection
to Redis breaks, frames published meanwhile are lost to this process: after reconnecting
and subscribing again, the hub asks its local peers to resync (``on_resync``: the server
closes their sockets with GOING_AWAY, and they resume from their last ``seq``, getting
everything they missed from storage).

Presence (:class:`RedisPresence`) lives in Redis too, so that a console on one process
sees colleagues on the others and a restarted process finds them. Each process is a
*node* with a random id: the key ``chat:node:<node>`` exists while it lives (a TTL that
its heartbeat refreshes), and the hash ``chat:presence:<team>`` has a field
``<node> <staff>`` (name and status as JSON) per staff member with a console on that
node. Readers keep only the entries of live nodes, so a process killed with ``kill -9``
vanishes from everyone's view within the TTL; the heartbeats of the survivors then delete
its entries and tell the team that those colleagues went offline (unless they are on
another node), and a hash nobody refreshes any more expires. The heartbeat also rewrites
the node's own entries, which brings them back after Redis itself restarted empty.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
from collections.abc import Awaitable, Callable, Collection

import redis.asyncio as redis
from redis.exceptions import RedisError

from chatserver.chat.hub import LocalHub, Seen, Sink, merge_seen

__all__ = ["RedisHub", "RedisPresence"]

log = logging.getLogger("chatserver.chat.redis_hub")

PREFIX = "chat:"


class RedisHub:
    shared = True

    def __init__(
        self,
        url: str,
        *,
        on_resync: Callable[[], Awaitable[None]] | None = None,
        reconnect_seconds: float = 0.5,
        presence_ttl_seconds: float = 30.0,
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
        self.presence = RedisPresence(self, presence_ttl_seconds)

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        self._client = redis.Redis.from_url(self.url)
        await self._client.ping()
        await self._connect()
        self._listener = asyncio.create_task(self._listen(), name="redis-hub-listener")
        await self.presence.start()

    @property
    def client(self) -> redis.Redis:
        assert self._client is not None, "the hub is not started"
        return self._client

    async def close(self) -> None:
        await self.presence.close()
        if self._listener is not None:
            self._listener.cancel()
            await asyncio.gather(self._listener, return_exceptions=True)
        for task in tuple(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._pubsub is not None:
            await self._pubsub.aclose()
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
                        await self._pubsub.aclose()
                    await self._connect()
                break
            except (RedisError, OSError):
                continue
        log.info("event=redis_reconnected")
        await self.presence.write()  # Redis may have restarted without its data
        if self.on_resync is not None:
            await self.on_resync()


NODE = PREFIX + "node:"
PRESENCE = PREFIX + "presence:"


class RedisPresence:
    """The presence book of every process, in Redis (see the module docstring)."""

    def __init__(self, hub: RedisHub, ttl_seconds: float) -> None:
        self.hub = hub
        self.node = secrets.token_hex(8)
        self.ttl_ms = max(int(ttl_seconds * 1000), 100)
        self._here: dict[str, tuple[Seen, frozenset[int]]] = {}
        self._heartbeat: asyncio.Task[None] | None = None
        self._gone: Callable[[Seen, int], Awaitable[None]] | None = None
        # Writes go out in the order they were made (a console closing and another of the
        # same person opening must not swap their delete and write on two connections).
        self._writes = asyncio.Lock()

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        await self.write()
        self._heartbeat = asyncio.create_task(self._beat(), name="redis-presence-heartbeat")

    async def close(self) -> None:
        """Leave at once (a stopped process's colleagues need not wait for the TTL)."""
        if self._heartbeat is not None:
            self._heartbeat.cancel()
            await asyncio.gather(self._heartbeat, return_exceptions=True)
        try:
            async with self.hub.client.pipeline(transaction=False) as pipe:
                pipe.delete(NODE + self.node)
                for staff, (_seen, teams) in self._here.items():
                    for team in teams:
                        pipe.hdel(PRESENCE + str(team), self._field(staff))
                await pipe.execute()
        except (RedisError, OSError):
            pass  # the entries expire with the node key

    def watch(self, gone: Callable[[Seen, int], Awaitable[None]]) -> None:
        """Call ``gone(seen, team)`` for a colleague whose only node died."""
        self._gone = gone

    # ------------------------------------------------------------------ PresenceBook
    async def update(self, staff: str, name: str, status: str, teams: Collection[int]) -> None:
        old = self._here.get(staff, (None, frozenset[int]()))[1]
        seen, now = Seen(staff, name, status), frozenset(teams)
        self._here[staff] = (seen, now)
        try:
            async with self._writes, self.hub.client.pipeline(transaction=False) as pipe:
                pipe.set(NODE + self.node, "1", px=self.ttl_ms)
                for team in old - now:
                    pipe.hdel(PRESENCE + str(team), self._field(staff))
                self._put(pipe, seen, now)
                await pipe.execute()
        except (RedisError, OSError):
            log.warning("event=presence_write_failed")  # the heartbeat writes it again

    async def leave(self, staff: str) -> Seen | None:
        _seen, teams = self._here.pop(staff, (None, frozenset[int]()))
        try:
            async with self._writes, self.hub.client.pipeline(transaction=False) as pipe:
                for team in teams:
                    pipe.hdel(PRESENCE + str(team), self._field(staff))
                await pipe.execute()
        except (RedisError, OSError):
            log.warning("event=presence_write_failed")
        return next((s for s in await self.in_teams(teams) if s.staff == staff), None)

    async def in_teams(self, teams: Collection[int]) -> list[Seen]:
        wanted = set(teams)
        ours = [seen for seen, theirs in self._here.values() if theirs & wanted]
        try:
            entries = await self._entries(sorted(wanted))
            alive = await self._alive({node for _team, node, _seen in entries})
        except (RedisError, OSError):
            log.warning("event=presence_read_failed")
            return merge_seen(ours)  # this node's consoles, which it knows first-hand
        others = [seen for _team, node, seen in entries if node != self.node and node in alive]
        return merge_seen([*ours, *others])

    # ------------------------------------------------------------------ internals
    def _field(self, staff: str) -> str:
        return f"{self.node} {staff}"

    def _put(self, pipe: redis.client.Pipeline, seen: Seen, teams: frozenset[int]) -> None:
        value = json.dumps({"name": seen.name, "status": seen.status})
        for team in teams:
            pipe.hset(PRESENCE + str(team), self._field(seen.staff), value)
            pipe.pexpire(PRESENCE + str(team), self.ttl_ms)

    async def write(self) -> None:
        """This node is alive, with these consoles (again)."""
        try:
            async with self._writes, self.hub.client.pipeline(transaction=False) as pipe:
                pipe.set(NODE + self.node, "1", px=self.ttl_ms)
                for seen, teams in self._here.values():
                    self._put(pipe, seen, teams)
                await pipe.execute()
        except (RedisError, OSError):
            log.warning("event=presence_write_failed")

    async def _entries(self, teams: list[int]) -> list[tuple[int, str, Seen]]:
        """(team, node, seen) of every entry in the teams' hashes, live or not."""
        async with self.hub.client.pipeline(transaction=False) as pipe:
            for team in teams:
                pipe.hgetall(PRESENCE + str(team))
            hashes: list[dict[bytes, bytes]] = await pipe.execute()
        out = []
        for team, fields in zip(teams, hashes, strict=True):
            for key, value in fields.items():
                node, _, staff = key.decode().partition(" ")
                try:
                    data = json.loads(value)
                    out.append((team, node, Seen(staff, str(data["name"]), str(data["status"]))))
                except (ValueError, TypeError, KeyError):
                    log.warning("event=presence_entry_unreadable")  # not ours to delete
        return out

    async def _alive(self, nodes: set[str]) -> set[str]:
        others = sorted(nodes - {self.node})
        if not others:
            return {self.node}
        found = await self.hub.client.mget([NODE + n for n in others])
        return {self.node, *(n for n, v in zip(others, found, strict=True) if v is not None)}

    async def _beat(self) -> None:
        while True:
            await asyncio.sleep(self.ttl_ms / 3000)  # a third of the TTL: two beats may fail
            await self.write()
            try:
                await self.prune()
            except (RedisError, OSError):
                log.warning("event=presence_prune_failed")

    async def prune(self) -> None:
        """Delete the entries of dead nodes in this node's teams; tell the teams about
        colleagues who are now on no live node at all."""
        teams = sorted({t for _seen, theirs in self._here.values() for t in theirs})
        if not teams:
            return
        entries = await self._entries(teams)
        alive = await self._alive({node for _team, node, _seen in entries})
        dead = [(team, node, seen) for team, node, seen in entries if node not in alive]
        if not dead:
            return
        async with self.hub.client.pipeline(transaction=False) as pipe:
            for team, node, seen in dead:
                pipe.hdel(PRESENCE + str(team), f"{node} {seen.staff}")
            removed: list[int] = await pipe.execute()
        still = {(team, seen.staff) for team, node, seen in entries if node in alive}
        for (team, _node, seen), count in zip(dead, removed, strict=True):
            # Only the node whose delete took effect tells the team, and only once.
            if count and (team, seen.staff) not in still and self._gone is not None:
                still.add((team, seen.staff))
                await self._gone(seen, team)
