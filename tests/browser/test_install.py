"""A real installation, the way docs/operations.md tells an operator to make one: the
commands of its "By hand" section, word for word, in a new virtual environment in a
temporary folder, from a copy of the checkout that is deleted before the server starts.
Then the first admin signs in at ``/admin`` in Chromium, under another address than the
one the account was made under, and every file the pages load is fetched and compared
with the repository's. The privacy report and notice come from the installed templates.

It needs the package index (the locked dependencies; pip's cache makes a second run
quick) and, like the other browser tests, Debian's Chromium."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import aiohttp
import pyotp
import pytest
from conftest import REPO, need_service

DOC = REPO / "docs" / "operations.md"
PASSWORD = "a long passphrase nobody guesses"  # 16+: an admin's; none of the name in it
#: A module, script or stylesheet named in a page or a module: an import, a src or href,
#: or a string like './teams.js' that a module imports later.
REFERENCE = re.compile(
    r"""(?:src|href)=["']([^"'${}]+)["']|["'](\.{0,2}/[\w./-]+\.(?:js|css))["']"""
)


def by_hand() -> list[str]:
    """The commands of the "By hand" section, comments dropped."""
    section = DOC.read_text("utf-8").split("### By hand", 1)[1]
    match = re.search(r"```sh\n(.*?)```", section, re.S)
    assert match, "docs/operations.md has no command block under 'By hand'"
    return [line.split(" #")[0].strip() for line in match.group(1).splitlines() if line.strip()]


def checkout_copy(target: Path) -> None:
    """The files a clone of this checkout would have (tracked, and new ones not ignored)."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=REPO,
        capture_output=True,
        check=True,
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        source = REPO / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def repo_file(path: str) -> Path:
    """The repository's file behind a URL path the server serves."""
    if path.startswith("/static/"):
        return REPO / "chatserver" / "web" / "pages" / path.lstrip("/")
    if path.startswith("/widget/frame/"):
        return REPO / "widget" / "frame.html"
    for page in ("console", "admin"):
        if path.rstrip("/") == f"/{page}":
            return REPO / "widget" / page / "index.html"
        if path.startswith(f"/{page}/"):
            return REPO / "widget" / path.lstrip("/")
    assert path.startswith("/widget/"), path
    return REPO / path.lstrip("/")


async def walk(origin: str, pages: list[str]) -> dict[str, bytes]:
    """Every same-origin script and stylesheet the pages reference, and what those
    reference, as served (links to other pages and endpoints are not followed)."""
    seen: dict[str, bytes] = {}
    todo = [origin + page for page in pages]
    async with aiohttp.ClientSession() as http:
        while todo:
            url = todo.pop()
            path = urlsplit(url).path
            if path in seen:
                continue
            async with http.get(url) as response:
                assert response.status == 200, f"{path}: {response.status}"
                seen[path] = await response.read()
            text = seen[path].decode("utf-8")
            for match in REFERENCE.finditer(text):
                target = urljoin(url, match.group(1) or match.group(2)).split("#")[0]
                if target.startswith(origin + "/") and target.endswith((".js", ".css")):
                    todo.append(target)
    return seen


@pytest.mark.browser
async def test_the_documented_install_serves_everything_and_the_admin_signs_in(
    tmp_path: Path, chromium: Any
) -> None:
    """The installed package alone serves every file of the widget, the console and the
    admin area, byte for byte, and prints the privacy report and the documented notice
    from its templates; the first admin, made while the server had its default
    address, signs in under another one, with the TOTP secret ``user add`` printed."""
    from playwright.async_api import expect

    need_service(shutil.which("git") is not None, "git is not installed")
    checkout, site = tmp_path / "checkout", tmp_path / "site"
    checkout.mkdir()
    site.mkdir()
    checkout_copy(checkout)
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHAT_")}
    env.pop("VIRTUAL_ENV", None)
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env['PATH']}"

    def sh(line: str, cwd: Path, stdin: str = "", **extra: str) -> str:
        done = subprocess.run(
            ["bash", "-c", line],
            cwd=cwd,
            env={**env, **extra},
            input=stdin,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        assert done.returncode == 0, f"{line}: {done.stdout}{done.stderr}"
        return done.stdout

    commands = by_hand()
    installs = [c for c in commands if c.startswith("pip ")]
    assert installs and commands[: len(installs)] == installs, commands
    for line in installs:
        sh(line, checkout)
    (package,) = (venv / "lib").glob("python3.*/site-packages/chatserver")
    shutil.rmtree(checkout)  # from here on only the installation exists

    # Every file under widget/ is in the package.
    shipped = {p.relative_to(package / "webroot") for p in (package / "webroot").rglob("*")}
    wanted = {p.relative_to(REPO / "widget") for p in (REPO / "widget").rglob("*")}
    assert shipped == wanted

    rest = commands[len(installs) :]
    assert rest[0] == "chatserver migrate", rest
    assert sh(rest[0], site).startswith("created the database ")
    assert rest[1].startswith("chatserver user add boss "), rest
    printed = sh(rest[1], site, stdin=f"{PASSWORD}\n{PASSWORD}\n")
    totp = re.search(r"^TOTP secret: ([A-Z2-7]+)$", printed, re.M)
    assert totp, printed
    sh("chatserver team add youth --name Youth", site)
    # The privacy report's wording is in templates the package must carry.
    assert sh("chatserver privacy-report --format html", site).startswith("<!doctype html>")
    notice = (REPO / "docs" / "gdpr" / "examples" / "notice.de.md").read_text("utf-8")
    assert sh("chatserver privacy-report --notice de", site) == notice

    assert rest[2:] == ["chatserver serve"], rest
    port = free_port()  # not 8080, the address the account was made under
    server = subprocess.Popen(
        ["bash", "-c", rest[2]],
        cwd=site,
        env={**env, "CHAT_PORT": str(port)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        line = server.stdout.readline()
        assert line == f"listening on http://127.0.0.1:{port}\n", line
        origin = f"http://127.0.0.1:{port}"

        served = await walk(origin, ["/", "/console", "/admin", "/widget/frame/youth"])
        assert {"/admin/teams.js", "/console/qr.js", "/widget/shared/e2e-core.js"} <= set(served)
        for path, body in served.items():
            if path != "/":  # the start page is a template
                assert body == repo_file(path).read_bytes(), path

        context = await chromium.new_context(locale="en-GB")
        page = await context.new_page()
        errors: list[str] = []
        missing: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        # (API answers like 401 before signing in and 404 for keys not made yet are fine.)
        page.on(
            "response",
            lambda r: missing.append(r.url) if r.status >= 400 and "/api/" not in r.url else None,
        )
        await page.goto(origin + "/admin")
        form = page.locator("#signin")
        await form.get_by_label("Username").fill("boss")
        await form.get_by_label("Password").fill(PASSWORD)
        await form.get_by_label("Code from your authenticator app").fill(
            pyotp.TOTP(totp.group(1)).now()
        )
        await form.get_by_role("button", name="Sign in").click()
        await expect(form).to_be_hidden(timeout=30_000)
        await expect(page.get_by_role("navigation", name="Admin pages")).to_be_visible()
        await expect(page.get_by_role("heading", level=1)).to_have_text("Teams")
        assert errors == [] and missing == []
        await context.close()
    finally:
        server.terminate()
        _, err = server.communicate(timeout=30)
    assert server.returncode == 0, err
