"""Fan-out: who hears what, without ever awaiting a slow peer.

Topics are strings: ``conv:<id>`` reaches a client's connection, ``staff:<id>`` every
console of a staff member, ``team:<id>`` every console of a team. A subscriber is a
:class:`Sink`: something with a non-blocking ``deliver(text)`` (a connection's bounded
outbox). Publishing never waits on a subscriber; a full outbox disconnects that peer,
which resyncs from storage when it comes back.

:class:`LocalHub` serves one process. Several processes share
:class:`chatserver.redis_hub.RedisHub` (setting ``redis_url``), which has the same
interface; nothing else in the server knows which.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Protocol

__all__ = ["Hub", "LocalHub", "Sink"]


class Sink(Protocol):
    def deliver(self, text: str) -> None:
        """Queue ``text`` for the peer; must not block."""


class Hub(Protocol):
    def subscribe(self, topic: str, sink: Sink) -> None: ...

    def unsubscribe(self, topic: str, sink: Sink) -> None: ...

    async def publish(self, topic: str, text: str) -> None: ...

    def local_count(self, topic: str) -> int: ...

    async def flush(self) -> None:
        """Return once every subscription made so far is in force."""


class LocalHub:
    """In-process fan-out."""

    def __init__(self) -> None:
        self._subs: defaultdict[str, set[Sink]] = defaultdict(set)

    def subscribe(self, topic: str, sink: Sink) -> None:
        self._subs[topic].add(sink)

    def unsubscribe(self, topic: str, sink: Sink) -> None:
        subs = self._subs.get(topic)
        if subs is None:
            return
        subs.discard(sink)
        if not subs:
            del self._subs[topic]

    async def publish(self, topic: str, text: str) -> None:
        for sink in tuple(self._subs.get(topic, ())):
            sink.deliver(text)

    def local_count(self, topic: str) -> int:
        return len(self._subs.get(topic, ()))

    async def flush(self) -> None:
        return None  # in-process subscriptions are in force at once

    def topics(self) -> list[str]:
        """Topics with at least one subscriber here."""
        return list(self._subs)
