"""The wire frames, one frozen dataclass each.

Inbound frames (what a client or a console may send) carry their validation in field
metadata: :mod:`chatserver.protocol.codec` is the only place that reads JSON and it
checks every field against these before a frame object exists. Outbound frames are
built by the server and only encoded.

``bytes`` fields travel as standard base64 and are opaque to the server: ciphertext,
public keys and envelopes from the end-to-end layer.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

MAX_BODY = 64 * 1024  # ciphertext bytes per message
MAX_KEY = 256  # an encoded public key
PAGE = 500  # messages per answer to a resume or a fetch: a reader pages with `after`
ID_PATTERN = r"[A-Za-z0-9_-]{1,64}"  # client message ids and conversation ids
STATUSES = ("available", "busy", "away")
MESSAGE_KINDS = ("msg", "accept", "rekey", "close", "receipt")
ENVELOPE_PURPOSES = ("conv_key", "note", "handover", "team_key", "hold")


def spec(**rules: Any) -> Any:
    """Field metadata for the codec: ``max_len``, ``min``, ``max``, ``pattern``, ``choices``;
    ``optional`` (may be null or left out), ``omissible`` (may be left out, then None,
    but not null), ``default`` or ``default_factory`` (may be left out)."""
    default = rules.pop("default", None)
    factory = rules.pop("default_factory", None)
    optional = rules.pop("optional", False)
    if rules.pop("omissible", False):
        rules["null"] = False
        optional = True
    if factory is not None:
        return field(default_factory=factory, metadata=rules)
    if optional or default is not None:
        return field(default=default, metadata=rules)
    return field(metadata=rules)


def _id(optional: bool = False) -> Any:
    return spec(pattern=ID_PATTERN, optional=optional)


def _seq() -> Any:
    return spec(min=0, max=2**62)


class Frame:
    """Base of every frame; ``type`` is the wire name."""

    type: ClassVar[str]


# --------------------------------------------------------------------------- client → server


@dataclass(frozen=True, slots=True)
class Start(Frame):
    """Open a new conversation in a team's queue."""

    type = "start"
    team: str = spec(pattern=r"[a-z0-9-]{1,40}")
    client_key: bytes = spec(max_len=MAX_KEY)
    consent: str = spec(pattern=r"[A-Za-z0-9._-]{1,32}")
    topic: str | None = spec(pattern=r"[a-z0-9-]{1,40}", optional=True)
    epoch: int | None = spec(min=0, max=2**53, optional=True)  # the team epoch encrypted to
    pow_challenge: str | None = spec(pattern=r"[A-Za-z0-9._-]{1,128}", optional=True)
    pow_nonce: str | None = spec(pattern=r"[A-Za-z0-9]{1,64}", optional=True)


@dataclass(frozen=True, slots=True)
class Send(Frame):
    """A client's message: opaque ciphertext under its own id."""

    type = "send"
    id: str = _id()
    body: bytes = spec(max_len=MAX_BODY)
    gen: int = spec(min=0, max=2**31)
    n: int = spec(min=0, max=2**31)
    kind: str = spec(choices=MESSAGE_KINDS, default="msg")


@dataclass(frozen=True, slots=True)
class Resume(Frame):
    """Come back to a conversation after a dropped connection or a reload."""

    type = "resume"
    conversation: str = _id()
    token: str = spec(pattern=r"[A-Za-z0-9_-]{16,128}")
    last_seq: int = _seq()


@dataclass(frozen=True, slots=True)
class Fetch(Frame):
    """Ask again for stored messages after ``after`` (a gap was seen)."""

    type = "fetch"
    after: int = _seq()


@dataclass(frozen=True, slots=True)
class Typing(Frame):
    type = "typing"
    active: bool = spec()


@dataclass(frozen=True, slots=True)
class Close(Frame):
    """The client ends the conversation (abandons it when nobody accepted yet)."""

    type = "close"


@dataclass(frozen=True, slots=True)
class Delete(Frame):
    """The client deletes its own conversation now."""

    type = "delete"


# --------------------------------------------------------------------------- console → server


@dataclass(frozen=True, slots=True)
class Availability(Frame):
    type = "availability"
    status: str = spec(choices=STATUSES)


@dataclass(frozen=True, slots=True)
class Accept(Frame):
    """Take a waiting conversation; ``key`` and ``body`` are the E2E accept, opaque."""

    type = "accept"
    conversation: str = _id()
    id: str | None = _id(optional=True)
    key: bytes | None = spec(max_len=MAX_KEY, optional=True)
    body: bytes | None = spec(max_len=MAX_BODY, optional=True)


@dataclass(frozen=True, slots=True)
class StaffSend(Frame):
    type = "send"
    conversation: str = _id()
    id: str = _id()
    body: bytes = spec(max_len=MAX_BODY)
    gen: int = spec(min=0, max=2**31)
    n: int = spec(min=0, max=2**31)
    kind: str = spec(choices=MESSAGE_KINDS, default="msg")


@dataclass(frozen=True, slots=True)
class StaffFetch(Frame):
    type = "fetch"
    conversation: str = _id()
    after: int = _seq()


@dataclass(frozen=True, slots=True)
class StaffTyping(Frame):
    type = "typing"
    conversation: str = _id()
    active: bool = spec()


@dataclass(frozen=True, slots=True)
class Transfer(Frame):
    """Hand a held conversation to a colleague (``to``) or back to the queue (no ``to``)."""

    type = "transfer"
    conversation: str = _id()
    to: str | None = _id(optional=True)
    note: bytes | None = spec(max_len=MAX_BODY, optional=True)


@dataclass(frozen=True, slots=True)
class StaffClose(Frame):
    type = "close"
    conversation: str = _id()
    category: str | None = spec(pattern=r"[a-z0-9_-]{1,40}", optional=True)


@dataclass(frozen=True, slots=True)
class Block(Frame):
    """End the conversation and refuse its client for ``hours``."""

    type = "block"
    conversation: str = _id()
    hours: int = spec(min=1, max=24 * 90, default=24)


@dataclass(frozen=True, slots=True)
class Envelope(Frame):
    """Opaque key material or a note, stored for the team and relayed to the holder."""

    type = "envelope"
    conversation: str = _id()
    id: str = _id()
    purpose: str = spec(choices=ENVELOPE_PURPOSES)
    body: bytes = spec(max_len=MAX_BODY)
    epoch: int = spec(min=0, max=2**31, default=0)


@dataclass(frozen=True, slots=True)
class EnvelopesRequest(Frame):
    """A console asks for every envelope stored for a conversation (keys of each
    generation, notes, handovers): what a second device or a new holder needs."""

    type = "envelopes"
    conversation: str = _id()


CLIENT_FRAMES: dict[str, type[Frame]] = {
    f.type: f for f in (Start, Send, Resume, Fetch, Typing, Close, Delete)
}
CONSOLE_FRAMES: dict[str, type[Frame]] = {
    f.type: f
    for f in (
        Availability,
        Accept,
        StaffSend,
        StaffFetch,
        StaffTyping,
        Transfer,
        StaffClose,
        Block,
        Envelope,
        EnvelopesRequest,
    )
}


# --------------------------------------------------------------------------- server → peer


@dataclass(frozen=True, slots=True)
class Challenge:
    """A proof-of-work puzzle: find ``nonce`` so that SHA-256(challenge ":" nonce) starts
    with ``difficulty`` zero bits."""

    challenge: str
    difficulty: int


@dataclass(frozen=True, slots=True)
class Hello(Frame):
    """First frame on every connection."""

    type = "hello"
    role: str
    version: int
    max_frame: int
    pow: Challenge | None = None
    staff: str | None = None
    name: str | None = None
    staff_role: str | None = None
    teams: tuple[str, ...] = ()
    cap: int | None = None
    connection: str | None = None  # a console's own id, as ``console_opened`` names it


@dataclass(frozen=True, slots=True)
class Started(Frame):
    type = "started"
    conversation: str
    token: str
    position: int
    estimate_seconds: int | None = None


@dataclass(frozen=True, slots=True)
class Resumed(Frame):
    type = "resumed"
    conversation: str
    state: str
    last_seq: int
    client_key: bytes | None = None
    team: str | None = None
    topic: str | None = None
    epoch: int | None = None
    #: While the conversation waits: its place in the queue and the estimate.
    position: int | None = None
    estimate_seconds: int | None = None


@dataclass(frozen=True, slots=True)
class Ack(Frame):
    """The message is committed; ``seq`` is its place in the conversation."""

    type = "ack"
    id: str
    seq: int
    conversation: str | None = None


@dataclass(frozen=True, slots=True)
class Message(Frame):
    type = "message"
    conversation: str
    seq: int
    sender: str  # "client" or "team"
    id: str
    body: bytes
    gen: int
    n: int
    kind: str
    at: int  # unix milliseconds, server time
    author: str | None = None  # the sending colleague's id, in a console's fetch only


@dataclass(frozen=True, slots=True)
class Position(Frame):
    """The client's place in the queue (1 = next) and the team's typical wait."""

    type = "position"
    position: int
    estimate_seconds: int | None = None


@dataclass(frozen=True, slots=True)
class StateChanged(Frame):
    type = "state"
    conversation: str
    state: str
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class TypingNotice(Frame):
    type = "typing"
    conversation: str
    sender: str
    active: bool


@dataclass(frozen=True, slots=True)
class Error(Frame):
    type = "error"
    code: str
    message: str
    ref: str | None = None
    pow: Challenge | None = None
    #: The type of the inbound frame refused, and its conversation, when it was well
    #: formed: a peer with several requests in flight knows which one failed.
    answers: str | None = None
    conversation: str | None = None


@dataclass(frozen=True, slots=True)
class QueueItem:
    conversation: str
    team: str
    topic: str | None
    waiting_since: int  # unix milliseconds
    transferred: bool = False
    epoch: int | None = None


@dataclass(frozen=True, slots=True)
class QueueSnapshot(Frame):
    type = "queue"
    items: tuple[QueueItem, ...]


@dataclass(frozen=True, slots=True)
class Queued(Frame):
    type = "queued"
    item: QueueItem


@dataclass(frozen=True, slots=True)
class Dequeued(Frame):
    type = "dequeued"
    conversation: str
    team: str


@dataclass(frozen=True, slots=True)
class Assigned(Frame):
    """A conversation is now held by this console (accepted, transferred to it, resumed)."""

    type = "assigned"
    conversation: str
    team: str
    topic: str | None
    client_key: bytes
    last_seq: int
    by: str | None = None  # the colleague who handed it over
    epoch: int | None = None
    note: bytes | None = None


@dataclass(frozen=True, slots=True)
class Released(Frame):
    """This console no longer holds the conversation (transferred away, closed, deleted)."""

    type = "released"
    conversation: str
    reason: str


@dataclass(frozen=True, slots=True)
class EnvelopeNotice(Frame):
    type = "envelope"
    conversation: str
    id: str
    purpose: str
    body: bytes
    epoch: int
    author: str


@dataclass(frozen=True, slots=True)
class EnvelopeItem:
    id: str
    purpose: str
    body: bytes
    epoch: int
    author: str | None
    at: int  # unix milliseconds


@dataclass(frozen=True, slots=True)
class EnvelopeList(Frame):
    """A conversation's envelopes and what a reader needs besides them to replay it."""

    type = "envelopes"
    conversation: str
    items: tuple[EnvelopeItem, ...]
    client_key: bytes
    epoch: int | None
    last_seq: int


@dataclass(frozen=True, slots=True)
class Presence(Frame):
    type = "presence"
    staff: str
    name: str
    status: str  # available, busy, away, offline
    chats: int


@dataclass(frozen=True, slots=True)
class ConsoleOpened(Frame):
    """The staff member opened a console (``connection``, from its hello) somewhere: every
    other console of theirs stops, since only one device can hold their chats' counters."""

    type = "console_opened"
    connection: str


SERVER_FRAMES: tuple[type[Frame], ...] = (
    Hello,
    Started,
    Resumed,
    Ack,
    Message,
    Position,
    StateChanged,
    TypingNotice,
    Error,
    QueueSnapshot,
    Queued,
    Dequeued,
    Assigned,
    Released,
    EnvelopeNotice,
    EnvelopeList,
    Presence,
    ConsoleOpened,
)
