"""widget/shared/e2e.js against the shared cc1 vectors, in both directions, in four engines
beside Python: Node (V8, OpenSSL), Bun (JavaScriptCore, WebKit's WebCrypto code over
BoringSSL), Deno (V8, its own WebCrypto in Rust) and Debian's Chromium. What the JavaScript
side produces (fresh keys, nonces and signatures) is checked here by the Python reference
implementation. Bun and Deno come from npm with tests/js/package-lock.json (test-only)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from conftest import REPO, need_service
from test_e2e_vectors import VECTORS, check

NODE = shutil.which("node")
MODULES = REPO / "tests" / "js" / "node_modules"


def engine(name: str) -> list[str]:
    """The command that runs a module file in ``name``: node, bun or deno."""
    found = {
        "node": [NODE] if NODE else [],
        "bun": [str(p) for p in sorted(MODULES.glob("@oven/bun-linux-*/bin/bun"))][:1],
        "deno": [str(p) for p in sorted(MODULES.glob("@deno/linux-*/deno"))][:1],
    }[name]
    need_service(bool(found), f"{name} is not installed (npm ci --prefix tests/js)")
    return found + (["run", "--allow-read", "--allow-write"] if name == "deno" else [])


def run(name: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*engine(name), *args], cwd=REPO, capture_output=True, text=True, timeout=300, check=False
    )


def node(*args: str) -> subprocess.CompletedProcess[str]:
    return run("node", *args)


def produced_cases(produced: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    cases = [
        (name, case) for name, content in produced["files"].items() for case in content["cases"]
    ]
    ops = {case["op"] for _, case in cases}
    # The other side must produce every deterministic and signed operation, not a few.
    assert {
        "message",
        "accept",
        "envelope",
        "check_bundle",
        "identity",
        "verify",
        "queue_keys",
        "password",
        "check_roster",
        "enrol_mac",
    } <= ops, ops
    return cases


def check_produced(produced: dict[str, Any]) -> int:
    cases = produced_cases(produced)
    for name, case in cases:
        try:
            check(case)
        except Exception as exc:
            raise AssertionError(f"{name} {case['op']} {case.get('name', '')}: {exc!r}") from exc
    return len(cases)


ENGINES = ["node", "bun", "deno"]


@pytest.mark.parametrize("name", ENGINES)
def test_selftest(name: str) -> None:
    """The module's own round trips and refusals pass in each engine."""
    result = run(name, "tests/js/e2e_selftest.mjs")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip().splitlines()[-1].endswith(" 0 failed")


@pytest.mark.parametrize("name", ENGINES)
def test_vectors_both_ways(name: str, tmp_path: Path) -> None:
    """The engine reproduces every Python vector (off-curve points and bad keys refused
    included); Python accepts everything it produces."""
    out = tmp_path / f"{name}.json"
    result = run(name, "tests/js/e2e_vectors.mjs", str(VECTORS), str(out))
    assert result.returncode == 0, result.stdout + result.stderr
    last = result.stdout.strip().splitlines()[-1]
    assert last.endswith(" 0 failed") and not last.startswith("0 passed"), last
    produced = json.loads(out.read_text("utf-8"))
    assert name in produced["producer"].lower(), produced["producer"]
    assert check_produced(produced) > 20


@pytest.mark.browser
async def test_vectors_both_ways_in_chromium(chromium: Any, repo_http: str) -> None:
    """Chromium reproduces every Python vector; Python accepts everything Chromium produces."""
    files = ",".join(sorted(p.stem for p in VECTORS.glob("*.json")))
    page = await chromium.new_page()
    await page.goto(f"{repo_http}/tests/js/e2e_vectors.html?files={files}")
    await page.wait_for_function("window.e2eVectors !== undefined", timeout=120_000)
    result = await page.evaluate("window.e2eVectors")
    assert result["failed"] == 0, result["failures"]
    python_cases = sum(
        len(json.loads(p.read_text("utf-8"))["cases"]) for p in VECTORS.glob("*.json")
    )
    assert result["passed"] >= python_cases
    assert check_produced(result["produced"]) > 20
