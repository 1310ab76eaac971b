"""How the server serves the widget: the loader for other origins (CORS for Subresource
Integrity, cacheable), the chat page under a strict policy that only the team's allowed
origins may frame, nothing cached that would show the chat was used, and the gzipped
budgets (2 KiB loader, 25 KiB chat page with every module), read from the served bytes."""

from __future__ import annotations

import gzip
import re
from urllib.parse import urljoin

import aiohttp
from conftest import Server

from chatserver.ops import cli

LOADER_BUDGET = 2 * 1024
FRAME_BUDGET = 25 * 1024


async def get(server: Server, path: str) -> tuple[int, dict[str, str], bytes]:
    async with (
        aiohttp.ClientSession() as http,
        http.get(server.url + path, headers={"Origin": "https://agency.example"}) as response,
    ):
        return response.status, dict(response.headers), await response.read()


async def test_loader_is_served_for_other_origins(server: Server) -> None:
    """Another origin can load the loader with integrity checks, and caches may keep it."""
    status, headers, body = await get(server, "/widget/loader.js")
    assert status == 200
    assert headers["Content-Type"].startswith("text/javascript")
    assert headers["Access-Control-Allow-Origin"] == "*"
    assert headers["Cross-Origin-Resource-Policy"] == "cross-origin"
    assert headers["Cache-Control"] == "public, max-age=3600"
    assert b"postMessage" in body
    assert "Set-Cookie" not in headers


async def test_frame_policy_names_only_the_teams_origins(server: Server) -> None:
    """The chat page may be framed by alpha's allowed origins only; it loads nothing from
    anywhere else, connects only to its own server, and is never cached."""
    await cli.team_origins(server.db, "alpha", ["https://www.agency.example"], [])
    await cli.team_origins(server.db, "beta", ["https://other.example"], [])
    status, headers, body = await get(server, "/widget/frame/alpha")
    assert status == 200
    assert headers["Content-Type"].startswith("text/html")
    assert headers["Content-Security-Policy"] == (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
        "connect-src 'self' ws://chat.test; base-uri 'none'; form-action 'none'; "
        "frame-ancestors 'self' https://www.agency.example; "
        "require-trusted-types-for 'script'; trusted-types 'none'"
    )
    assert headers["Cache-Control"] == "no-store"
    assert headers["Referrer-Policy"] == "no-referrer"
    assert "Set-Cookie" not in headers
    # No inline script or style, and nothing from another origin.
    html = body.decode()
    assert "<script>" not in html and "style=" not in html and "<style" not in html
    assert not re.search(r"(src|href)=\"(https?:)?//", html)
    _, beta, _ = await get(server, "/widget/frame/beta")
    assert "frame-ancestors 'self' https://other.example;" in beta["Content-Security-Policy"]


async def test_unknown_team_and_files_are_not_found(server: Server) -> None:
    """Only the widget's own files are served; an unknown team has no chat page."""
    for path in (
        "/widget/frame/nobody",
        "/widget/nothing.js",
        "/widget/..%2Fpyproject.toml",
        "/widget/frame.html",
        "/widget/e2e.JS",
    ):
        status, _, _ = await get(server, path)
        assert status == 404, path
    status, headers, _ = await get(server, "/widget/chat-core.js")
    assert status == 200
    assert headers["Cache-Control"] == "no-store"
    assert headers["Cross-Origin-Resource-Policy"] == "same-origin"


async def test_served_sizes_stay_within_the_budgets(server: Server) -> None:
    """The loader is at most 2 KiB gzipped; the chat page with every file it loads, each
    gzipped as served, at most 25 KiB."""
    _, _, loader = await get(server, "/widget/loader.js")
    assert len(gzip.compress(loader, 9)) <= LOADER_BUDGET
    _, _, page = await get(server, "/widget/frame/alpha")
    todo = re.findall(r"(?:src|href)=\"(/widget/[^\"]+)\"", page.decode())
    assert "/widget/frame.js" in todo and "/widget/frame.css" in todo
    total, seen = len(gzip.compress(page, 9)), set()
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        status, _, body = await get(server, path)
        assert status == 200, path
        total += len(gzip.compress(body, 9))
        for module in re.findall(r"from '(\.\.?/[a-z0-9/-]+\.js)'", body.decode()):
            todo.append(urljoin(path, module))
    assert {"/widget/shared/e2e-core.js", "/widget/chat-core.js", "/widget/i18n.js"} <= seen
    assert "/widget/shared/e2e-staff.js" not in seen  # the consoles' part stays out
    assert total <= FRAME_BUDGET, total


async def test_moved_modules_redirect_to_the_shared_folder(server: Server) -> None:
    """The end-to-end modules' old URLs lead to their place in shared/, uncached; the
    shared folder serves its modules and nothing else."""
    async with aiohttp.ClientSession() as http:
        for name in ("e2e-core.js", "e2e-staff.js", "e2e.js"):
            async with http.get(f"{server.url}/widget/{name}", allow_redirects=False) as r:
                assert r.status == 301, name
                assert r.headers["Location"] == f"/widget/shared/{name}"
                assert r.headers["Cache-Control"] == "no-store"
            async with http.get(f"{server.url}/widget/{name}") as r:
                assert r.status == 200 and r.url.path == f"/widget/shared/{name}"
                assert r.headers["Cache-Control"] == "no-store"
                assert b"export" in await r.read()
    for path in ("/widget/shared/nothing.js", "/widget/shared/loader.js", "/widget/shared/x.html"):
        status, _, _ = await get(server, path)
        assert status == 404, path


async def test_gzip_when_the_browser_accepts_it(server: Server) -> None:
    """Old phones on slow networks get the files compressed."""
    async with (
        aiohttp.ClientSession(auto_decompress=False) as http,
        http.get(f"{server.url}/widget/shared/e2e.js", headers={"Accept-Encoding": "gzip"}) as r,
    ):
        assert r.headers["Content-Encoding"] == "gzip"
        assert b"export" in gzip.decompress(await r.read())
