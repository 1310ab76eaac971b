"""What the server exposes to browsers, in one place: the Content-Security-Policy of each
kind of page, the staff session cookie's name and where the browser code is.

The web layer sends exactly these (chatserver/web/), and the privacy report states
exactly these (chatserver/records/privacy.py): both import them from here, so the report
cannot describe a policy the server does not send.
"""

from __future__ import annotations

from pathlib import Path

from chatserver.config import Settings

__all__ = [
    "CSP",
    "TRUSTED_TYPES",
    "admin_csp",
    "console_csp",
    "frame_csp",
    "preview_csp",
    "session_cookie",
    "widget_dir",
]

#: Every response's policy unless its page has a stricter one (the API, errors, static).
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)


def _ws(origin: str) -> str:
    return origin.replace("https://", "wss://", 1).replace("http://", "ws://", 1)


#: No string ever becomes markup or script in the staff pages and the chat page: with
#: Trusted Types required and no policy allowed, the browser refuses every such sink
#: (innerHTML, script text, DOMParser, eval), so an injected string cannot run there.
TRUSTED_TYPES = "require-trusted-types-for 'script'; trusted-types 'none'"


def console_csp(own_origin: str) -> str:
    """The duty console's: nothing but this server's modules, styles and WebSocket, never
    in a frame, no HTML sinks."""
    return (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
        f"connect-src 'self' {_ws(own_origin)}; base-uri 'none'; form-action 'self'; "
        f"frame-ancestors 'none'; {TRUSTED_TYPES}"
    )


def admin_csp(own_origin: str) -> str:
    """The console's policy, and frames from this server: the snippet page's preview."""
    return console_csp(own_origin) + "; frame-src 'self'"


def preview_csp() -> str:
    """The snippet preview's (``/admin/preview``), framed only by this server."""
    return (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
        "frame-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'self'"
    )


def frame_csp(own_origin: str, ancestors: list[str]) -> str:
    """The chat page's policy: nothing but its own files and its own WebSocket, framed by
    the team's allowed origins and this server."""
    framers = " ".join(["'self'", *ancestors])
    return (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
        f"connect-src 'self' {_ws(own_origin)}; base-uri 'none'; form-action 'none'; "
        f"frame-ancestors {framers}; {TRUSTED_TYPES}"
    )


def session_cookie(settings: Settings) -> str:
    """The staff session cookie's name. The __Host- prefix makes browsers refuse the cookie
    unless Secure, path=/ and no Domain."""
    return "__Host-chat_session" if settings.cookie_secure else "chat_session"


def widget_dir(static_dir: str = "") -> Path:
    """Where the browser code is: ``static_dir``/widget when that setting is set, else the
    installed package (``chatserver/webroot``: setup.py ships every file under the
    repository's ``widget/`` there), else the source checkout the package runs from."""
    candidates = [Path(static_dir) / "widget"] if static_dir else []
    package = Path(__file__).resolve().parent
    candidates += [package / "webroot", package.parent / "widget"]
    for candidate in candidates:
        if (candidate / "loader.js").is_file():
            return candidate
    return candidates[0]
