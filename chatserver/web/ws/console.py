"""``/ws/console``: a counsellor's duty console, behind a staff session.

The session cookie is checked at the upgrade (and the Origin must be the server's own:
that is the CSRF protection of a WebSocket), and again with the staff member's team
memberships before every frame, so a disabled account, an ended session or a removed
membership takes effect at the next frame. A message (``staff_send``, the frame a console
sends most) is the exception: the message writer checks the session and the account in the
transaction that would store it, and the full check (which also slides the session's
expiry and picks up a changed role, cap or membership) runs for a message only when the
last one is more than :data:`FULL_CHECK_SECONDS` old. An account that has yet to set up two-factor
sign-in (setting ``require_totp``) gets a ``forbidden`` error frame and the close 1008.

A console that sends nothing is checked too, every :data:`SESSION_CHECK_SECONDS`, without
sliding the session: an ended session or a disabled account closes it (a forgotten
console on a shared desk does not go on showing the queue and decrypting messages), and
a new membership gives it the team's queue. A console that opens tells the staff
member's other consoles (``console_opened``): one device holds their chats at a time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from aiohttp import web

from chatserver import PROTOCOL_VERSION
from chatserver.chat.core import StaffContext, staff_topic, team_topic
from chatserver.chat.service import message_frame
from chatserver.protocol import frames as f
from chatserver.protocol.errors import (
    CLOSE_POLICY_VIOLATION,
    Forbidden,
    Overloaded,
    SessionExpired,
    Unauthorized,
)
from chatserver.staff.auth import hash_token
from chatserver.web.guards import current_staff
from chatserver.web.state import CLOCK, CONNECTIONS, HUB, SERVICE, SETTINGS, STORE
from chatserver.web.ws.connection import Connection
from chatserver.web.ws.sockets import open_socket, run_socket

#: How old the last full check of session, account and memberships may be when a message
#: comes (the writer checks session and account for every message anyway).
FULL_CHECK_SECONDS = 30.0

#: How often the server checks an idle console's session, account and memberships.
SESSION_CHECK_SECONDS = 30.0

log = logging.getLogger("chatserver.web")


async def console_socket(request: web.Request) -> web.WebSocketResponse:
    app = request.app
    settings, service, store = app[SETTINGS], app[SERVICE], app[STORE]
    if request.headers.get("Origin") != settings.origin:
        raise Forbidden("the console connects only from this server's own pages")
    try:
        row, token = await current_staff(request)
    except Forbidden as exc:  # signed in, but two-factor sign-in is not set up yet
        return await _refuse(request, exc)
    if len(app[CONNECTIONS]) >= settings.max_connections:
        raise Overloaded("the server is full right now")
    staff = service.present.get(row.id) or StaffContext(
        row.id,
        row.display_name,
        row.role,
        await store.staff_teams(row.id),
        row.cap or settings.counsellor_cap,
    )
    ws, conn = open_socket(request, "console")
    await ws.prepare(request)
    console = _Console(request, conn, staff, hash_token(token))
    await console.open()
    watcher = asyncio.create_task(console.watch())
    try:
        await run_socket(request, conn, console.dispatch)
    finally:
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher
        await console.leave()
    return ws


class _Console:
    """What one console connection may do, and the checks that keep its session honest."""

    def __init__(
        self, request: web.Request, conn: Connection, staff: StaffContext, session: str
    ) -> None:
        app = request.app
        self.request, self.conn, self.staff, self.session = request, conn, staff, session
        self.settings, self.service, self.hub = app[SETTINGS], app[SERVICE], app[HUB]
        self.store, self.clock = app[STORE], app[CLOCK]
        self.checked = self.clock()  # when session, account and teams were last checked

    async def open(self) -> None:
        """Follow the topics, arrive on the shift, and tell the console what it has:
        ``hello``, the queue, the chats it holds, the colleagues on duty."""
        conn, service, staff = self.conn, self.service, self.staff
        self.subscribe()
        await self.hub.flush()
        await service.arrive(staff)
        conn.send(
            f.Hello(
                "console",
                PROTOCOL_VERSION,
                self.settings.max_frame_bytes,
                staff=staff.id,
                name=staff.name,
                staff_role=staff.role,
                teams=tuple(sorted(staff.teams.values())),
                cap=staff.cap,
                connection=conn.id,
            )
        )
        conn.send(await service.queue_snapshot(staff))
        for assigned in await service.held(staff):
            conn.send(assigned)
        for colleague in await service.colleagues(staff):
            conn.send(colleague)
        await service.announce_presence(staff)
        await service.opened(staff, conn.id)

    async def leave(self) -> None:
        for topic in self.conn.topics:
            self.hub.unsubscribe(topic, self.conn)
        await self.service.depart(self.staff)

    def subscribe(self) -> bool:
        """Follow the staff member's own and teams' topics; whether anything changed."""
        conn, hub = self.conn, self.hub
        wanted = {staff_topic(self.staff.id), *(team_topic(t) for t in self.staff.teams)}
        for topic in conn.topics - wanted:
            hub.unsubscribe(topic, conn)
        for topic in wanted - conn.topics:
            hub.subscribe(topic, conn)
        changed = wanted != conn.topics
        conn.topics = wanted
        return changed

    async def recheck(self, slide: bool = True) -> None:
        """Session, account and memberships, again, before every frame (and, without
        sliding the session, while the console is idle)."""
        staff = self.staff
        self.checked = self.clock()
        try:
            current, _ = await current_staff(self.request, slide=slide)
        except Unauthorized:
            raise SessionExpired("your session has ended; please sign in again") from None
        staff.role = current.role
        staff.cap = current.cap or self.settings.counsellor_cap
        staff.teams = await self.store.staff_teams(staff.id)
        if self.subscribe():
            await self.hub.flush()
            await self.service.record_presence(staff)
            self.conn.send(await self.service.queue_snapshot(staff))

    async def watch(self) -> None:
        """The idle console's check: an ended session closes it like a frame would."""
        while True:
            await asyncio.sleep(SESSION_CHECK_SECONDS)
            if self.clock() - self.checked < SESSION_CHECK_SECONDS:
                continue  # a frame checked it just now
            try:
                await self.recheck(slide=False)
            except SessionExpired as exc:
                self.conn.send_error(exc)
                await self.conn.close(exc.close_code, exc.message)
                return
            except Exception:  # the database is away for a moment: try again later
                log.exception("event=console_check_failed conn=%s", self.conn.id)

    async def dispatch(self, frame: f.Frame) -> None:
        conn, service, staff = self.conn, self.service, self.staff
        if isinstance(frame, f.StaffSend) and self.clock() - self.checked < FULL_CHECK_SECONDS:
            conn.send(await service.staff_send(staff, frame, self.session))
            return
        await self.recheck()
        match frame:
            case f.Availability():
                await service.set_availability(staff, frame.status)
            case f.Accept():
                await service.accept(staff, frame)
            case f.StaffSend():
                conn.send(await service.staff_send(staff, frame, self.session))
            case f.StaffFetch():
                for message in await service.staff_fetch(staff, frame):
                    await conn.reply(message_frame(message, for_staff=True))
            case f.StaffTyping():
                await service.staff_typing(staff, frame)
            case f.Transfer():
                await service.transfer(staff, frame)
            case f.StaffClose():
                await service.staff_close(staff, frame)
            case f.Block():
                await service.block(staff, frame)
            case f.Envelope():
                conn.send(await service.envelope(staff, frame))
            case f.EnvelopesRequest():
                await conn.reply(await service.staff_envelopes(staff, frame))


async def _refuse(request: web.Request, exc: Forbidden) -> web.WebSocketResponse:
    """Upgrade only to say why (a browser cannot read a refused upgrade), then close."""
    ws, conn = open_socket(request, "console")
    await ws.prepare(request)
    conn.send_error(exc)
    await conn.close(CLOSE_POLICY_VIOLATION, exc.message)
    return ws
