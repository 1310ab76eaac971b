"""Every error the chat server raises, in one hierarchy.

::

    ChatError                      base; carries a stable ``code``, a human message,
    │                              an HTTP status and, where fatal, a close code
    ├── PeerError                  the peer broke the rules; answer with an ``error`` frame
    │   ├── FrameError             the bytes are not a valid frame or body (1003 / 1009)
    │   │   ├── Malformed          a frame or a request body that is not JSON, not an
    │   │   │                      object, lacks a field, names an unknown one or has a
    │   │   │                      value of the wrong type, range or form
    │   │   ├── UnknownFrameType   a ``type`` this role does not know
    │   │   └── FrameTooLarge      over the size cap: the connection closes with 1009
    │   ├── PolicyError            a valid frame that is not allowed (1008 when fatal)
    │   │   ├── Unauthorized       no session, bad credentials
    │   │   │   └── SessionExpired  the session ended while a console was open (fatal)
    │   │   ├── Forbidden          wrong role, foreign team, foreign conversation
    │   │   ├── NotFound           unknown or deleted conversation / token
    │   │   ├── RateLimited        too many frames, logins or starts
    │   │   ├── Overloaded         queue or connection cap reached
    │   │   ├── ProofOfWorkRequired  ``start`` needs (a new) proof of work
    │   │   ├── Blocked            the client was blocked by a counsellor
    │   │   ├── Closed             ``start`` outside the team's opening hours
    │   │   └── OriginNotAllowed   the page's origin is not allowed for the team
    │   └── StateError             a legal frame at the wrong time
    │       ├── InvalidTransition  the lifecycle table has no such move
    │       ├── Conflict           same client message id, different bytes
    │       ├── AlreadyTaken       another counsellor accepted first
    │       ├── CapReached         the counsellor holds the maximum number of chats
    │       └── LegalHold          a client's delete while a legal hold keeps the record
    └── ServerError                we broke (storage unavailable, a bug): 1011 / 500

Translation into frames, close codes and HTTP responses happens only at the edge
(``chatserver.web``); the core raises these and nothing else.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

if TYPE_CHECKING:
    from chatserver.protocol.frames import Challenge

__all__ = [
    "AlreadyTaken",
    "Blocked",
    "CapReached",
    "ChatError",
    "Closed",
    "Conflict",
    "Forbidden",
    "FrameError",
    "FrameTooLarge",
    "InvalidTransition",
    "LegalHold",
    "Malformed",
    "NotFound",
    "OriginNotAllowed",
    "Overloaded",
    "PeerError",
    "PolicyError",
    "ProofOfWorkRequired",
    "RateLimited",
    "ServerError",
    "SessionExpired",
    "StateError",
    "Unauthorized",
    "UnknownFrameType",
    "all_error_codes",
]

# WebSocket close codes (RFC 6455 section 7.4.1).
CLOSE_PROTOCOL_ERROR = 1002
CLOSE_UNSUPPORTED_DATA = 1003
CLOSE_POLICY_VIOLATION = 1008
CLOSE_MESSAGE_TOO_BIG = 1009
CLOSE_INTERNAL_ERROR = 1011


class ChatError(Exception):
    """Base of every error with a stable wire code."""

    code: ClassVar[str] = "error"
    http_status: ClassVar[int] = 400
    close_code: ClassVar[int] = CLOSE_PROTOCOL_ERROR
    #: When true the connection is closed after the error frame is sent.
    fatal: ClassVar[bool] = False

    def __init__(self, message: str, *, ref: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        #: The client message id or frame reference the error answers, if any.
        self.ref = ref


class PeerError(ChatError):
    """The peer sent something it must not; nothing was changed."""


class FrameError(PeerError):
    code = "bad_frame"
    close_code = CLOSE_UNSUPPORTED_DATA


class Malformed(FrameError):
    """The input breaks the protocol's shape: a WebSocket frame
    (:func:`chatserver.protocol.codec.decode`), an HTTP body
    (:func:`~chatserver.protocol.codec.decode_body`), a query parameter or a value the
    domain checks (a slug, an origin, a week of hours). HTTP 400; nothing was changed."""

    code = "malformed"


class UnknownFrameType(FrameError):
    code = "unknown_type"


class FrameTooLarge(FrameError):
    code = "too_large"
    http_status = 413
    close_code = CLOSE_MESSAGE_TOO_BIG
    fatal = True


class PolicyError(PeerError):
    code = "policy"
    close_code = CLOSE_POLICY_VIOLATION


class Unauthorized(PolicyError):
    code = "unauthorized"
    http_status = 401


class SessionExpired(Unauthorized):
    """The staff session ended (signed out, expired, account disabled): closes the socket."""

    code = "session_expired"
    fatal = True


class Forbidden(PolicyError):
    code = "forbidden"
    http_status = 403


class NotFound(PolicyError):
    code = "not_found"
    http_status = 404


class RateLimited(PolicyError):
    code = "rate_limited"
    http_status = 429


class Overloaded(PolicyError):
    code = "overloaded"
    http_status = 503


class ProofOfWorkRequired(PolicyError):
    code = "pow_required"
    http_status = 403

    def __init__(self, message: str, challenge: Challenge, *, ref: str | None = None) -> None:
        super().__init__(message, ref=ref)
        #: The puzzle to solve before ``start`` is tried again.
        self.challenge = challenge


class Blocked(PolicyError):
    code = "blocked"
    http_status = 403


class Closed(PolicyError):
    """Outside the team's opening hours, and the team does not queue chats then."""

    code = "closed"
    http_status = 403


class OriginNotAllowed(PolicyError):
    code = "origin_not_allowed"
    http_status = 403


class StateError(PeerError):
    code = "state"
    http_status = 409


class InvalidTransition(StateError):
    code = "invalid_transition"


class Conflict(StateError):
    code = "conflict"


class AlreadyTaken(StateError):
    code = "already_taken"


class CapReached(StateError):
    code = "cap_reached"


class LegalHold(StateError):
    """The client's delete of a conversation under a legal hold: the hold wins, nothing is
    deleted, and the widget says so (docs/widget.md, "Deleting the chat")."""

    code = "legal_hold"


class ServerError(ChatError):
    """We broke: the peer may retry later."""

    code = "server_error"
    http_status = 500
    close_code = CLOSE_INTERNAL_ERROR
    fatal = True


def all_error_codes() -> dict[str, type[ChatError]]:
    """Every concrete wire code and its class (the docs test walks this)."""
    found: dict[str, type[ChatError]] = {}
    stack: list[type[ChatError]] = [ChatError]
    while stack:
        cls = stack.pop()
        found.setdefault(cls.code, cls)
        stack.extend(cls.__subclasses__())
    return found
