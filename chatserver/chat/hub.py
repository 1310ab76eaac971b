"""Fan-out: who hears what, without ever awaiting a slow peer.

Topics are strings: ``conv:<id>`` reaches a client's connection, ``staff:<id>`` every
console of a staff member, ``team:<id>`` every console of a team. A subscriber is a
:class:`Sink`: something with a non-blocking ``deliver(text)`` (a connection's bounded
outbox). Publishing never waits on a subscriber; a full outbox disconnects that peer,
which resyncs from storage when it comes back.

:class:`LocalHub` serves one process. Several processes share
:class:`chatserver.chat.redis_hub.RedisHub` (setting ``redis_url``), which has the same
interface; nothing else in the server knows which.

Each hub also keeps the **presence** of staff (:class:`PresenceBook`): which staff
members have a console open, with their status, per team. :class:`LocalPresence` knows
this process's consoles; the Redis hub's book spans every process and outlives a
restarted one (a killed one's entries expire with its heartbeat).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Awaitable, Callable, Collection, Iterable
from dataclasses import dataclass
from typing import Protocol

__all__ = ["Hub", "LocalHub", "LocalPresence", "PresenceBook", "Seen", "Sink", "merge_seen"]

#: How a staff member with consoles in several places is shown: the most available wins.
STATUS_RANK = {"available": 0, "busy": 1, "away": 2}


@dataclass(frozen=True, slots=True)
class Seen:
    """A staff member with a console open somewhere, as colleagues see them."""

    staff: str
    name: str
    status: str


def merge_seen(entries: Iterable[Seen]) -> list[Seen]:
    """One entry per staff member (the most available status of their consoles), by name."""
    best: dict[str, Seen] = {}
    for seen in entries:
        old = best.get(seen.staff)
        if old is None or STATUS_RANK.get(seen.status, 9) < STATUS_RANK.get(old.status, 9):
            best[seen.staff] = seen
    return sorted(best.values(), key=lambda s: (s.name, s.staff))


class PresenceBook(Protocol):
    async def update(self, staff: str, name: str, status: str, teams: Collection[int]) -> None:
        """This process has a console of ``staff``: record (or change) name, status, teams."""

    async def leave(self, staff: str) -> Seen | None:
        """This process has no console of ``staff`` any more; how they are seen on the
        consoles they still have open elsewhere (None: nowhere, they are offline)."""

    async def in_teams(self, teams: Collection[int]) -> list[Seen]:
        """Everyone with a console open in any of ``teams``, in any process."""

    def watch(self, gone: Callable[[Seen, int], Awaitable[None]]) -> None:
        """Have ``gone(seen, team)`` called for a colleague whose process died (their
        consoles never said goodbye)."""


class LocalPresence:
    """Presence of this process's consoles (one process: that is everyone)."""

    def __init__(self) -> None:
        self._here: dict[str, tuple[Seen, frozenset[int]]] = {}

    async def update(self, staff: str, name: str, status: str, teams: Collection[int]) -> None:
        self._here[staff] = (Seen(staff, name, status), frozenset(teams))

    async def leave(self, staff: str) -> Seen | None:
        self._here.pop(staff, None)
        return None

    async def in_teams(self, teams: Collection[int]) -> list[Seen]:
        return merge_seen(seen for seen, theirs in self._here.values() if theirs & set(teams))

    def watch(self, gone: Callable[[Seen, int], Awaitable[None]]) -> None:
        return None  # one process: its consoles always say goodbye


class Sink(Protocol):
    def deliver(self, text: str) -> None:
        """Queue ``text`` for the peer; must not block."""


class Hub(Protocol):
    #: Whether other processes serve the same conversations (so what this process
    #: remembers of the database can be outdated by them without its knowing).
    shared: bool

    @property
    def presence(self) -> PresenceBook: ...

    def subscribe(self, topic: str, sink: Sink) -> None: ...

    def unsubscribe(self, topic: str, sink: Sink) -> None: ...

    async def publish(self, topic: str, text: str) -> None: ...

    def local_count(self, topic: str) -> int: ...

    async def flush(self) -> None:
        """Return once every subscription made so far is in force."""


class LocalHub:
    """In-process fan-out."""

    shared = False

    def __init__(self) -> None:
        self._subs: defaultdict[str, set[Sink]] = defaultdict(set)
        self.presence = LocalPresence()

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
