"""Accessibility checks for every browser test: axe-core (pinned in tests/js/package.json,
installed by ``npm ci --prefix tests/js``) run inside a page and its frames.

    violations = await axe_scan(page)          # the page and every frame in it
    violations = await axe_scan(frame, include=["#v-chat"])
    assert_no_serious(violations)              # fails on impact serious or critical

axe is injected with ``Frame.evaluate`` of the file's text: Playwright evaluates through
the DevTools protocol, which a page's Content-Security-Policy does not govern, so the
chat page is scanned under its real policy (no ``bypass_csp``) and in a frame of another
origin. Each frame is scanned by itself (axe's own frame messaging is switched off) and
its violations name the frame's URL.

Without ``tests/js/node_modules`` a test that scans skips, saying how to install it;
under ``CI=true`` it fails instead.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from conftest import need_service

JS = Path(__file__).parent / "js"
AXE = JS / "node_modules" / "axe-core" / "axe.min.js"
SERIOUS = frozenset({"serious", "critical"})


@dataclass(frozen=True)
class Node:
    """One element that fails a rule: its CSS selector path (one entry per frame or
    shadow root) and axe's summary of what to fix."""

    target: tuple[str, ...]
    html: str
    summary: str


@dataclass(frozen=True)
class Violation:
    """A rule that failed in one frame."""

    id: str
    impact: str | None
    help: str
    help_url: str
    frame: str
    nodes: tuple[Node, ...]

    def describe(self) -> str:
        lines = [f"{self.id} ({self.impact}): {self.help} [{self.frame}]", f"  {self.help_url}"]
        for node in self.nodes:
            lines.append(f"  - {' >> '.join(node.target)}: {node.html}")
            lines.extend(f"      {line}" for line in node.summary.splitlines())
        return "\n".join(lines)


def _pinned_version() -> str:
    lock = json.loads((JS / "package-lock.json").read_text())
    version: str = lock["packages"]["node_modules/axe-core"]["version"]
    return version


def require_axe() -> None:
    """Skip (fail under CI) unless the pinned axe-core is installed."""
    installed = AXE.parent / "package.json"
    wanted = _pinned_version()
    have = json.loads(installed.read_text())["version"] if installed.exists() else None
    found = f" (found {have})" if have else ""
    need_service(
        AXE.exists() and have == wanted,
        f"axe-core {wanted} is not installed{found}: run npm ci --prefix tests/js",
    )


@cache
def _axe_source() -> str:
    return AXE.read_text(encoding="utf-8")


_RUN = """async ([include, rules]) => {
  const context = include ? { include } : document;
  const options = { iframes: false, resultTypes: ['violations'] };
  if (rules) options.runOnly = { type: 'rule', values: rules };
  const result = await axe.run(context, options);
  return result.violations.map((v) => ({
    id: v.id, impact: v.impact, help: v.help, helpUrl: v.helpUrl,
    nodes: v.nodes.map((n) => ({
      target: n.target.map(String), html: n.html, summary: n.failureSummary || '',
    })),
  }));
}"""


def _frames(page_or_frame: Any, frames: bool) -> list[Any]:
    """A page's main frame (or the frame itself) and, with ``frames``, every frame inside
    it, parents first; frames without a document (detached, about:blank) left out."""
    todo, found = [getattr(page_or_frame, "main_frame", page_or_frame)], []
    while todo:
        frame = todo.pop(0)
        if frames:
            todo.extend(frame.child_frames)
        if not frame.is_detached() and frame.url not in ("", "about:blank"):
            found.append(frame)
    return found


def _where(frame: Any) -> str:
    return str(frame.url).split("#")[0]  # the chat page's fragment carries its settings


async def _scan_frame(
    frame: Any, include: list[str] | None, rules: list[str] | None
) -> list[Violation]:
    if not await frame.evaluate("typeof window.axe?.run === 'function'"):
        await frame.evaluate(_axe_source())
    found: list[dict[str, Any]] = await frame.evaluate(_RUN, [include, rules])
    return [
        Violation(
            id=v["id"],
            impact=v["impact"],
            help=v["help"],
            help_url=v["helpUrl"],
            frame=_where(frame),
            nodes=tuple(Node(tuple(n["target"]), n["html"], n["summary"]) for n in v["nodes"]),
        )
        for v in found
    ]


async def axe_scan(
    page_or_frame: Any,
    *,
    include: list[str] | None = None,
    frames: bool = True,
    rules: list[str] | None = None,
) -> list[Violation]:
    """axe-core's violations in a Playwright ``Page`` or ``Frame`` and, with ``frames``,
    in every frame inside it (``include``, CSS selectors, narrows each frame's scan to
    what matches there; ``rules`` runs only those rule ids)."""
    require_axe()
    violations, scanned = [], 0
    for frame in _frames(page_or_frame, frames):
        if include and not await frame.query_selector(",".join(include)):
            continue
        violations += await _scan_frame(frame, include, rules)
        scanned += 1
    assert scanned, f"nothing to scan: no frame has {include}"
    return violations


def assert_no_serious(violations: list[Violation], context: str = "") -> None:
    """Fail, listing each rule, its impact, help and failing nodes, when any violation
    is serious or critical; minor and moderate ones are left to review."""
    bad = [v for v in violations if v.impact in SERIOUS]
    if bad:
        where = f" ({context})" if context else ""
        listing = "\n".join(v.describe() for v in bad)
        raise AssertionError(f"{len(bad)} serious or critical axe violations{where}:\n{listing}")


_TARGETS = """(minimum) => {
  const out = [];
  for (const e of document.querySelectorAll(
    'button, a[href], input, select, textarea, summary, [tabindex]:not([tabindex="-1"])',
  )) {
    const r = e.getBoundingClientRect();
    if (!r.width || !r.height || getComputedStyle(e).visibility === 'hidden') continue;
    if (r.width < minimum || r.height < minimum) {
      const name = (e.getAttribute('aria-label') || e.textContent || e.id).trim().slice(0, 40);
      out.push(`${e.localName} "${name}" ${Math.round(r.width)}x${Math.round(r.height)}`);
    }
  }
  return out;
}"""


async def small_targets(page_or_frame: Any, minimum: int = 44, *, frames: bool = True) -> list[str]:
    """Visible controls smaller than ``minimum`` by ``minimum`` CSS pixels (WCAG 2.5.5), in
    a page or frame and, with ``frames``, the frames inside it; each named with its size."""
    small = []
    for frame in _frames(page_or_frame, frames):
        small += [f"{s} in {_where(frame)}" for s in await frame.evaluate(_TARGETS, minimum)]
    return small


_FOCUS = """() => {
  const e = document.activeElement;
  if (!e || e === document.body) return null;
  const rgb = (c) => (c.match(/[\\d.]+/g) || []).map(Number);
  const lum = ([r, g, b]) => [r, g, b].map((v) => {
    v /= 255;
    return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
  }).reduce((sum, v, i) => sum + v * [0.2126, 0.7152, 0.0722][i], 0);
  let behind = [255, 255, 255];
  for (let p = e.parentElement; p; p = p.parentElement) {
    const c = rgb(getComputedStyle(p).backgroundColor);
    if (c.length === 3 || c[3] > 0) { behind = c; break; }
  }
  const s = getComputedStyle(e);
  const width = parseFloat(s.outlineWidth) || 0;
  const outline = s.outlineStyle !== 'none' && (width > 0 || s.outlineStyle === 'auto');
  const shadow = s.boxShadow !== 'none';
  const [a, b] = [lum(rgb(s.outlineColor)), lum(behind)].sort((x, y) => y - x);
  return {
    element: e.id ? `${e.localName}#${e.id}` : `${e.localName} "${e.textContent.trim()}"`,
    visible: e.matches(':focus-visible') && (outline || shadow),
    outline: `${s.outlineStyle} ${s.outlineWidth} ${s.outlineColor}`,
    shadow: s.boxShadow,
    contrast: outline ? Math.round(((a + 0.05) / (b + 0.05)) * 100) / 100 : null,
  };
}"""


async def focus_indicator(frame: Any) -> dict[str, Any] | None:
    """The element that has the focus in ``frame`` (a Playwright ``Frame`` or ``Page``)
    and its computed outline and box shadow: ``visible`` is true when it matches
    ``:focus-visible`` and draws an outline or a shadow; ``contrast`` is the outline
    colour's contrast ratio against the background behind the element (WCAG 1.4.11 asks
    for 3). None when nothing in the frame has the focus."""
    found: dict[str, Any] | None = await frame.evaluate(_FOCUS)
    return found
