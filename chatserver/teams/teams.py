"""Teams, their topics and the websites allowed to embed their widget: the checks and the
audited writes that the admin API (``chatserver.web.api.admin``) and the CLI share, so
that the two cannot drift.

The checks are plain functions without I/O; :class:`Teams` writes in one transaction and
audits who did what (slugs and origins, never a conversation's content). Rights are the
caller's to check. An archived team starts no new chats (``ChatService.start`` and the
widget's frame treat it as unknown); its rows are kept and archiving can be undone.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Collection, Sequence
from typing import Any
from urllib.parse import urlsplit

import idna
from sqlalchemy.ext.asyncio import AsyncConnection

from chatserver.config import ConfigError, origin_of
from chatserver.protocol.errors import Conflict, Malformed, NotFound
from chatserver.storage import teams as stored
from chatserver.storage.db import Database
from chatserver.storage.store import audit_tx
from chatserver.storage.teams import Team, Topic

__all__ = ["MAX_ORIGINS", "SLUG", "Team", "Teams", "Topic", "check_name", "check_slug"]
__all__ += ["widget_origin"]

SLUG = re.compile(r"[a-z0-9-]{1,40}")
MAX_NAME = 200
MAX_ORIGINS = 100
MAX_ORIGIN = 300
#: Plain-HTTP origins a browser treats as secure contexts (for trying the widget locally).
LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1"})
_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")


# --------------------------------------------------------------------------- checks
def check_slug(value: Any) -> str:
    """A team or topic slug: ``a-z``, ``0-9`` and ``-``, at most 40 characters."""
    if not isinstance(value, str) or not SLUG.fullmatch(value):
        raise Malformed(f"{_show(value)} is not a slug (a-z, 0-9 and -, at most 40)")
    return value


def check_name(value: Any, what: str = "name") -> str:
    """A display name: one line of printable text, at most 200 characters."""
    if not isinstance(value, str) or not value.strip() or len(value) > MAX_NAME:
        raise Malformed(f"{what}: some text, at most {MAX_NAME} characters")
    if not value.isprintable():
        raise Malformed(f"{what}: one line, without control characters")
    return value.strip()


def widget_origin(value: Any) -> str:
    """A website allowed to embed the widget, normalised as browsers send it in ``Origin``.

    ``https://host[:port]`` (``http`` only for ``localhost`` and ``127.0.0.1``): no path,
    query, fragment, user info or wildcard; lower case, the default port dropped, an
    internationalised host name as punycode (UTS #46, as browsers do). Anything else is
    ``malformed`` with a message that names the entry. :func:`~chatserver.config.origin_of`
    makes the first cut (the same one as for ``public_origin``); this is stricter.
    """
    if not isinstance(value, str):
        raise Malformed(f"not an origin: {_show(value)} (expected https://host[:port])")
    raw = value.strip()
    shown = _show(raw)
    if len(raw) > MAX_ORIGIN:
        raise Malformed(f"an origin has at most {MAX_ORIGIN} characters: {shown}")
    if any(c.isspace() or not c.isprintable() for c in raw):
        raise Malformed(f"an origin has no spaces or control characters: {shown}")
    if "*" in raw:
        raise Malformed(f"no wildcards: name each website's origin: {shown}")
    if "#" in raw:
        raise Malformed(f"an origin has no fragment: {shown}")
    try:
        origin_of(raw)
    except ConfigError as exc:
        raise Malformed(str(exc)) from None
    except ValueError:  # from urlsplit: a port that is no number, a broken [IPv6]
        raise Malformed(f"not an origin (check the host and port): {shown}") from None
    parts = urlsplit(raw)
    if "@" in parts.netloc or "?" in raw:
        raise Malformed(f"an origin has no path, query or credentials: {shown}")
    host = _host(parts.hostname or "", shown)
    if parts.scheme == "http" and host not in LOCAL_HOSTS:
        raise Malformed(f"a website needs https (http only for localhost and 127.0.0.1): {shown}")
    port = parts.port
    if port == 0:
        raise Malformed(f"not a valid port: {shown}")
    default = 443 if parts.scheme == "https" else 80
    return f"{parts.scheme}://{host}" + ("" if port in (None, default) else f":{port}")


def _host(hostname: str, shown: str) -> str:
    if ":" in hostname or hostname.startswith("["):
        raise Malformed(f"name the website's host, not an IPv6 address: {shown}")
    if hostname.rsplit(".", 1)[-1].isdigit():  # browsers read this as an IPv4 address
        try:
            return str(ipaddress.IPv4Address(hostname))
        except ValueError:
            raise Malformed(f"not a valid IPv4 address: {shown}") from None
    try:
        host = idna.encode(hostname, uts46=True, std3_rules=True).decode("ascii")
    except (idna.IDNAError, UnicodeError):
        raise Malformed(f"not a valid host name: {shown}") from None
    labels = host.split(".")
    if len(host) > 253 or not all(_LABEL.fullmatch(label) for label in labels):
        raise Malformed(f"not a valid host name: {shown}")
    return host


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


class Teams:
    """Reads and audited writes of teams, topics and origins; ``actor`` is a staff id or
    ``"cli"``. Every refusal is raised before anything is written."""

    def __init__(self, db: Database) -> None:
        self.db = db

    # ------------------------------------------------------------------ teams
    async def list_teams(self, only: Collection[int] | None = None) -> list[Team]:
        """Every team by slug, archived ones included; or only the teams ``only`` names."""
        async with self.db.read() as conn:
            return [await stored.team(conn, team_id) for team_id in await stored.ids(conn, only)]

    async def get(self, slug: str) -> Team:
        """The team, archived or not; ``not_found`` when there is none."""
        async with self.db.read() as conn:
            return await stored.team(conn, await _team_id(conn, slug))

    async def create(
        self, slug: str, name: str, topics: Sequence[tuple[str, str]], actor: str, now: int
    ) -> Team:
        check_slug(slug)
        name = check_name(name)
        checked = [(check_slug(s), check_name(n, f"topic {s}")) for s, n in topics]
        if len({s for s, _ in checked}) != len(checked):
            raise Malformed("each topic slug once")
        async with self.db.write() as conn:
            if await stored.id_of(conn, slug) is not None:
                raise Conflict(f"team '{slug}' exists already")
            team_id = await stored.create(conn, slug, name, now)
            for topic_slug, topic_name in checked:
                await stored.add_topic(conn, team_id, topic_slug, topic_name, now)
            await audit_tx(conn, now, actor, "team.created", slug, topics=len(checked))
            return await stored.team(conn, team_id)

    async def change(
        self,
        slug: str,
        actor: str,
        now: int,
        *,
        name: str | None = None,
        archived: bool | None = None,
        transcript: bool | None = None,
    ) -> Team:
        """Rename and/or archive (``archived=False``: restore), switch the client's
        on-device transcript on or off; audited when it changes."""
        if name is not None:
            name = check_name(name)
        async with self.db.write() as conn:
            team_id = await _team_id(conn, slug)
            team = await stored.team(conn, team_id)
            values: dict[str, Any] = {}
            if name is not None and name != team.name:
                values["name"] = name
                await audit_tx(conn, now, actor, "team.renamed", slug)
            if archived is not None and archived != (team.archived_at is not None):
                values["archived_at"] = now if archived else None
                action = "team.archived" if archived else "team.restored"
                await audit_tx(conn, now, actor, action, slug)
            if transcript is not None and transcript != team.transcript:
                values["transcript"] = transcript
                action = "team.transcript_on" if transcript else "team.transcript_off"
                await audit_tx(conn, now, actor, action, slug)
            if values:
                await stored.change(conn, team_id, **values)
            return await stored.team(conn, team_id)

    # ------------------------------------------------------------------ topics
    async def add_topic(self, slug: str, topic: str, name: str, actor: str, now: int) -> Topic:
        await self.edit_topics(slug, actor, now, add=[(topic, name)])
        return Topic(topic, check_name(name))

    async def rename_topic(self, slug: str, topic: str, name: str, actor: str, now: int) -> Topic:
        await self.edit_topics(slug, actor, now, rename=[(topic, name)])
        return Topic(topic, check_name(name))

    async def remove_topic(self, slug: str, topic: str, actor: str, now: int) -> None:
        await self.edit_topics(slug, actor, now, remove=[topic])

    async def edit_topics(
        self,
        slug: str,
        actor: str,
        now: int,
        *,
        add: Sequence[tuple[Any, Any]] = (),
        rename: Sequence[tuple[Any, Any]] = (),
        remove: Sequence[Any] = (),
    ) -> list[Topic]:
        """Add, rename and remove topics in one transaction, all or nothing; audited.
        Conversations of a removed topic stay and lose the topic (``topic_id`` SET NULL)."""
        added = [(check_slug(s), check_name(n, f"topic {s}")) for s, n in add]
        renamed = [(str(s), check_name(n, f"topic {s}")) for s, n in rename]
        if len({s for s, _ in added}) != len(added):
            raise Malformed("add each topic once")
        async with self.db.write() as conn:
            team_id = await _team_id(conn, slug)
            for topic, name in added:
                if await stored.topic_id(conn, team_id, topic) is not None:
                    raise Conflict(f"topic '{topic}' exists already in team '{slug}'")
                await stored.add_topic(conn, team_id, topic, name, now)
                await audit_tx(conn, now, actor, "topic.added", slug, topic=topic)
            for topic, name in renamed:
                topic_id = await _existing_topic(conn, team_id, slug, topic)
                await stored.rename_topic(conn, topic_id, name)
                await audit_tx(conn, now, actor, "topic.renamed", slug, topic=topic)
            for topic in remove:
                topic_id = await _existing_topic(conn, team_id, slug, topic)
                await stored.remove_topic(conn, topic_id)
                await audit_tx(conn, now, actor, "topic.removed", slug, topic=topic)
            return list((await stored.team(conn, team_id)).topics)

    # ------------------------------------------------------------------ origins
    async def replace_origins(
        self, slug: str, wanted: Sequence[Any], actor: str, now: int
    ) -> list[str]:
        """Make the allowed origins exactly ``wanted`` (checked and normalised)."""
        if len(wanted) > MAX_ORIGINS:
            raise Malformed(f"at most {MAX_ORIGINS} origins per team")
        checked = _origins(wanted, "origins")
        async with self.db.write() as conn:
            team_id = await _team_id(conn, slug)
            current = await stored.origins(conn, team_id)
            add = [o for o in checked if o not in current]
            remove = [o for o in current if o not in checked]
            return await _apply_origins(conn, team_id, slug, add, remove, actor, now)

    async def change_origins(
        self, slug: str, add: Sequence[Any], remove: Sequence[Any], actor: str, now: int
    ) -> list[str]:
        """Add and remove allowed origins (all are checked before anything is written)."""
        to_add, to_remove = _origins(add, "add"), [_removable(o) for o in remove]
        async with self.db.write() as conn:
            team_id = await _team_id(conn, slug)
            current = await stored.origins(conn, team_id)
            if len(set(current) | set(to_add)) > MAX_ORIGINS:
                raise Malformed(f"at most {MAX_ORIGINS} origins per team")
            add = [o for o in to_add if o not in current]
            remove = [o for o in to_remove if o in current]
            return await _apply_origins(conn, team_id, slug, add, remove, actor, now)


def _origins(values: Sequence[Any], field: str) -> list[str]:
    out: list[str] = []
    for i, value in enumerate(values):
        try:
            origin = widget_origin(value)
        except Malformed as exc:
            raise Malformed(f"{field}[{i}]: {exc.message}") from None
        if origin not in out:
            out.append(origin)
    return out


def _removable(value: Any) -> str:
    """An origin to remove: strictly normalised, or as ``origin_of`` has it, so that an
    entry stored before the strict check can still be removed."""
    try:
        return widget_origin(value)
    except Malformed:
        try:
            return origin_of(str(value))
        except ValueError as exc:
            raise Malformed(f"remove: {exc}") from None


async def _apply_origins(
    conn: AsyncConnection,
    team_id: int,
    slug: str,
    add: Sequence[str],
    remove: Sequence[str],
    actor: str,
    now: int,
) -> list[str]:
    for origin in add:
        await stored.add_origin(conn, team_id, origin)
        await audit_tx(conn, now, actor, "origin.added", slug, origin=origin)
    for origin in remove:
        await stored.remove_origin(conn, team_id, origin)
        await audit_tx(conn, now, actor, "origin.removed", slug, origin=origin)
    return await stored.origins(conn, team_id)


async def _team_id(conn: AsyncConnection, slug: str) -> int:
    team_id = await stored.id_of(conn, slug)
    if team_id is None:
        raise NotFound(f"there is no team {_show(slug)}")
    return team_id


async def _existing_topic(conn: AsyncConnection, team_id: int, slug: str, topic: Any) -> int:
    topic_id = await stored.topic_id(conn, team_id, str(topic))
    if topic_id is None:
        raise NotFound(f"there is no topic {_show(topic)} in team '{slug}'")
    return topic_id
