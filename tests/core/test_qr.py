"""widget/console/qr.js, the QR Code the duty console shows for TOTP enrolment, run by Node and
compared module for module with segno (an independent encoder): versions, error correction
levels, UTF-8 text, capacity edges and the mask the penalty rules choose; and its SVG."""

from __future__ import annotations

import json
import random
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import segno
import segno.encoder
from conftest import REPO, need_service

NODE = shutil.which("node")
SVG_NS = "{http://www.w3.org/2000/svg}"
LEVELS = "LMQH"

# Byte mode capacities (ISO/IEC 18004:2015 Table 7) of versions 1-10, and of version 40 last.
BYTE_CAPACITY = {
    "L": [17, 32, 53, 78, 106, 134, 154, 192, 230, 271, 2953],
    "M": [14, 26, 42, 62, 84, 106, 122, 152, 180, 213, 2331],
    "Q": [11, 20, 32, 46, 60, 74, 86, 108, 130, 151, 1663],
    "H": [7, 14, 24, 34, 44, 58, 64, 84, 98, 119, 1273],
}

SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
TEXTS = {
    "empty": "",
    "letter": "a",
    "ascii": "Hello, world! 0123456789",
    "umlauts": "Grüße aus Köln \N{EN DASH} Straße, Übung, äöü ÄÖÜ ß",
    "emoji": "Hilfe 😀 🇩🇪 ok",
    "otpauth": f"otpauth://totp/Beratung:jana?secret={SECRET}&issuer=Beratung",
    "otpauth-long": (
        "otpauth://totp/Beratungsstelle%20Nord:jana.k%40example.org?secret="
        f"{SECRET}&issuer=Beratungsstelle%20Nord&algorithm=SHA1&digits=6&period=30"
    ),
    "otpauth-percent-umlaut": (
        "otpauth://totp/Jugendberatung%20M%C3%BCnchen:j%C3%B6rg"
        f"?secret={SECRET}&issuer=Jugendberatung%20M%C3%BCnchen"
    ),
    "otpauth-raw-umlaut": (
        f"otpauth://totp/Jugendberatung München:jörg?secret={SECRET}&issuer=Jugendberatung München"
    ),
    "long-ascii": "Lorem ipsum dolor sit amet, consectetur adipiscing elit. " * 12,
}

ASCII = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789:/?&=%._-"


def _cases() -> list[tuple[str, str, str, int | None]]:
    """(id, text, level, expected version or None) for the comparison with segno."""
    rng = random.Random(18004)
    cases: list[tuple[str, str, str, int | None]] = [
        (f"{name}-{ecc}", text, ecc, None) for name, text in TEXTS.items() for ecc in LEVELS
    ]
    for ecc, capacities in BYTE_CAPACITY.items():
        # Full at each of versions 1-10, one byte more in the next version, and full at 40.
        for version, capacity in [*enumerate(capacities[:10], 1), (40, capacities[10])]:
            cases.append(
                (f"full-{version}-{ecc}", "".join(rng.choices(ASCII, k=capacity)), ecc, version)
            )
            if version < 40:
                over = "".join(rng.choices(ASCII, k=capacity + 1))
                cases.append((f"over-{version}-{ecc}", over, ecc, version + 1))
        # Two-byte characters across the edge of version 1 (odd and even capacities).
        cases.append(
            (f"utf8-full-1-{ecc}", "ä" * (capacities[0] // 2) + "a" * (capacities[0] % 2), ecc, 1)
        )
        cases.append((f"utf8-over-1-{ecc}", "ä" * (capacities[0] // 2 + 1), ecc, 2))
    # A random spread: other versions, and many chances for the mask choice to differ.
    for i in range(60):
        length = rng.choice([rng.randint(1, 40), rng.randint(1, 160), rng.randint(100, 400)])
        text = "".join(rng.choices(ASCII + "äöüß€ 😀", k=length))
        cases.append((f"random-{i}", text, rng.choice(LEVELS), None))
    return cases


CASES = _cases()

RUNNER = """
import { readFileSync } from 'node:fs';
import { encode, toSvg } from %s;
const results = JSON.parse(readFileSync(0, 'utf8')).map(({ text, ecc, svg }) => {
  try {
    const qr = ecc === null ? encode(text) : encode(text, { ecc });
    return {
      version: qr.version, mask: qr.mask, size: qr.size,
      booleans: qr.modules.every(
        (row) => row.length === qr.size && row.every((m) => typeof m === 'boolean')),
      rows: qr.modules.map((row) => row.map(Number).join('')),
      svg: svg === undefined ? null : toSvg(qr, svg),
    };
  } catch (error) {
    return { error: error.name };
  }
});
process.stdout.write(JSON.stringify(results));
"""


def run_qr(requests: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Runs encode (and toSvg where a request has `svg` options) under Node, one call for all."""
    need_service(NODE is not None, "Node.js is not installed (it runs widget/console/qr.js)")
    assert NODE is not None
    module = json.dumps((REPO / "widget" / "console" / "qr.js").as_uri())
    result = subprocess.run(
        [NODE, "--input-type=module", "-e", RUNNER % module],
        input=json.dumps(requests),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    results: list[dict[str, Any]] = json.loads(result.stdout)
    assert len(results) == len(requests)
    return results


@pytest.fixture(scope="module")
def produced() -> dict[str, dict[str, Any]]:
    results = run_qr([{"text": text, "ecc": ecc} for _, text, ecc, _ in CASES])
    return {case[0]: result for case, result in zip(CASES, results, strict=True)}


Reference = Callable[[str, str, int | None], "segno.QRCode"]


@pytest.fixture(scope="module")
def reference() -> Iterator[Reference]:
    """segno in byte mode on the UTF-8 bytes (given a str, it would pick Latin-1 or Shift JIS)."""
    original: Callable[[Any, int, int], None] = segno.encoder.write_padding_bits

    def pad_to_boundary(buff: Any, version: int, length: int) -> None:
        # segno 1.6 (its issue #148) adds a whole zero byte when the bit stream already ends on
        # a codeword boundary, where ISO/IEC 18004 7.4.10 adds no bit and goes on with the pad
        # codewords 0xEC 0x11. Readers stop at the terminator, so both read the same text, but
        # the modules differ: segno gets the standard's padding, all else is segno's own.
        if length % 8:
            original(buff, version, length)

    def make(text: str, ecc: str, mask: int | None = None) -> segno.QRCode:
        return segno.make(
            text.encode("utf-8"), error=ecc, mode="byte", mask=mask, boost_error=False, micro=False
        )

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(segno.encoder, "write_padding_bits", pad_to_boundary)
        yield make


def rows_of(qr: segno.QRCode) -> list[str]:
    return ["".join(str(module) for module in row) for row in qr.matrix]


@pytest.mark.parametrize(
    ("name", "text", "ecc", "version"),
    [pytest.param(*case, id=case[0]) for case in CASES],
)
def test_same_symbol_as_segno(
    produced: dict[str, dict[str, Any]],
    reference: Reference,
    name: str,
    text: str,
    ecc: str,
    version: int | None,
) -> None:
    """Version, mask (chosen by the penalty rules) and every module are segno's."""
    ours = produced[name]
    assert "error" not in ours, ours
    theirs = reference(text, ecc, None)
    if version is not None:
        assert ours["version"] == theirs.version == version
    assert (ours["version"], ours["size"], ours["booleans"]) == (
        theirs.version,
        len(theirs.matrix),
        True,
    )
    if ours["mask"] != theirs.mask:
        # Tell a different choice from a wrong symbol: segno's modules under our mask.
        same = rows_of(reference(text, ecc, ours["mask"])) == ours["rows"]
        pytest.fail(f"mask {ours['mask']}, segno's {theirs.mask}; same modules under ours: {same}")
    assert ours["rows"] == rows_of(theirs)


def test_default_level_is_m(reference: Reference) -> None:
    """encode(text) without options is level M."""
    text = TEXTS["otpauth-long"]
    [ours] = run_qr([{"text": text, "ecc": None}])
    assert ours["rows"] == rows_of(reference(text, "M", None))


def test_refusals() -> None:
    """An unknown level or a text past version 40 throws a RangeError; a non-string, a TypeError."""
    requests: list[dict[str, Any]] = [
        {"text": "a", "ecc": level} for level in ["X", "m", "toString", "__proto__", ""]
    ]
    requests += [{"text": "a" * (BYTE_CAPACITY[ecc][10] + 1), "ecc": ecc} for ecc in LEVELS]
    requests += [{"text": "ä" * 1477, "ecc": "L"}]  # 2954 bytes in 1477 characters
    results = run_qr([*requests, {"text": 42, "ecc": "M"}])
    assert [result.get("error") for result in results] == ["RangeError"] * len(requests) + [
        "TypeError"
    ]


def svg_modules(svg: str, border: int) -> tuple[ET.Element, list[str]]:
    """Parses the SVG and redraws the rows of modules from its path (horizontal runs)."""
    root = ET.fromstring(svg)
    assert root.tag == f"{SVG_NS}svg"
    assert root.get("role") == "img" and root.get("shape-rendering") == "crispEdges"
    [path] = root.iter(f"{SVG_NS}path")
    side = int(root.get("viewBox", "").removeprefix("0 0 ").split()[0])
    assert root.get("viewBox") == f"0 0 {side} {side}"
    size = side - 2 * border
    grid = [["0"] * size for _ in range(size)]
    runs = re.findall(r"M(\d+) (\d+)h(\d+)v1h-\3z", path.get("d", ""))
    assert "".join(f"M{x} {y}h{n}v1h-{n}z" for x, y, n in runs) == path.get("d")
    for x, y, n in runs:
        for col in range(int(x) - border, int(x) - border + int(n)):
            assert grid[int(y) - border][col] == "0"
            grid[int(y) - border][col] = "1"
    return root, ["".join(row) for row in grid]


@pytest.mark.parametrize("border", [4, 0, 2])
def test_svg_draws_exactly_the_dark_modules(border: int) -> None:
    """toSvg is well-formed SVG whose one path covers the matrix's dark modules, no more."""
    texts = [TEXTS["otpauth-long"], TEXTS["empty"], "x" * 400]
    results = run_qr([{"text": t, "ecc": "Q", "svg": {"border": border}} for t in texts])
    for result in results:
        root, rows = svg_modules(result["svg"], border)
        assert rows == result["rows"]
        assert sum(row.count("1") for row in rows) == sum(row.count("1") for row in result["rows"])
        title = root.find(f"{SVG_NS}title")
        assert title is not None and title.text == "QR code"


def test_svg_title_is_escaped() -> None:
    """A title with markup, quotes, controls and a lone surrogate stays text in a valid document."""
    title = "</title><script>alert('x')</script> & \"Jörg\" \x00\x1b\ud800 ✓"
    [result] = run_qr([{"text": "a", "ecc": "L", "svg": {"title": title}}])
    root, rows = svg_modules(result["svg"], 4)
    assert rows == result["rows"]
    assert [child.tag for child in root] == [f"{SVG_NS}title", f"{SVG_NS}rect", f"{SVG_NS}path"]
    assert root[0].text == "</title><script>alert('x')</script> & \"Jörg\"  ✓"


def test_svg_refuses_a_bad_border() -> None:
    """A border that is not a whole number of modules throws instead of reaching the markup."""
    borders: list[Any] = [-1, 1.5, "4", '4"><script>']
    results = run_qr([{"text": "a", "ecc": "M", "svg": {"border": b}} for b in borders])
    assert [result.get("error") for result in results] == ["RangeError"] * len(borders)
