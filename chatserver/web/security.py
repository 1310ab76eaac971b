"""Headers on every response, CSRF for staff requests, and errors as JSON."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from chatserver.policy import CSP
from chatserver.protocol.errors import ChatError, Forbidden
from chatserver.web.state import SETTINGS

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def error_response(exc: ChatError) -> web.Response:
    return web.json_response(
        {"error": {"code": exc.code, "message": exc.message}}, status=exc.http_status
    )


@web.middleware
async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    """The one middleware (its frame lives as long as a WebSocket does, so there is one):
    state-changing requests only from the server's own origin (CSRF, part one; the
    per-session token is checked by the handlers that need a session), errors as JSON,
    and the security headers on every response."""
    try:
        if request.method not in SAFE_METHODS:
            origin = request.headers.get("Origin")
            if origin is not None and origin != request.app[SETTINGS].origin:
                raise Forbidden("cross-origin requests are not allowed")
        response = await handler(request)
    except ChatError as exc:
        response = error_response(exc)
    except web.HTTPException as exc:  # router 404/405, 413, refused upgrades
        _add_headers(request, exc)
        raise
    if not response.prepared:
        _add_headers(request, response)
    return response


def _add_headers(request: web.Request, response: web.StreamResponse) -> None:
    h = response.headers
    h.setdefault("Content-Security-Policy", CSP)
    h.setdefault("Referrer-Policy", "no-referrer")
    h.setdefault("X-Content-Type-Options", "nosniff")
    h.setdefault("Cross-Origin-Opener-Policy", "same-origin")
    h.setdefault("Cross-Origin-Resource-Policy", "same-origin")
    h.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
    h.setdefault("Cache-Control", "no-store")
    if request.app[SETTINGS].origin.startswith("https://"):
        h.setdefault("Strict-Transport-Security", "max-age=31536000")
