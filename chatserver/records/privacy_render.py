"""The privacy report and the privacy notices as text: Markdown and a printable HTML page.

The wording is in Mako templates (``templates/``), the facts in
:func:`chatserver.records.privacy.collect`'s data. A wording template (``report.mako``,
``notice.de.mako`` with "Du", ``notice.en.mako``) writes its document as a short list of
blocks (headings, paragraphs, lists, tables, code: ``blocks.mako``), and one template per
format (``markdown.mako``, ``html.mako``) renders any such list, so the Markdown and the
HTML say the same. The notices (the agency's website, the widget's consent screen) take
their periods from the same data. This is not legal advice.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mako.lookup import TemplateLookup

from chatserver.config import Settings
from chatserver.records.privacy import BROWSER, SWEEP_REPORTS, PrivacyError, collect, iso
from chatserver.storage.db import Database

__all__ = [
    "Block",
    "command_output",
    "html_csp",
    "html_page",
    "markdown",
    "notice_blocks",
    "render",
    "report_blocks",
    "words",
]


# ----------------------------------------------------------------------------- templates
#: ("h1"|"h2"|"p"|"code", text), ("ul", [text]), ("table", ([header], [[cell]])).
Block = tuple[str, Any]

TEMPLATES = Path(__file__).with_name("templates")
# Mako: already installed with Alembic (migrations). strict_undefined: a name a template
# uses that the code does not pass fails at once instead of printing "UNDEFINED".
# The wording and the Markdown are text, not HTML: nothing is escaped. The HTML page
# escapes every expression by default, with the standard library's html.escape (the
# bytes the page had before the templates; Mako's "h" would write &#39; for &#x27;).
_OPTIONS: dict[str, Any] = {
    "directories": [str(TEMPLATES)],
    "strict_undefined": True,
    "input_encoding": "utf-8",
}
_TEXT = TemplateLookup(default_filters=["str"], **_OPTIONS)
_HTML = TemplateLookup(default_filters=["escape"], imports=["from html import escape"], **_OPTIONS)


def _blocks(template: str, **facts: Any) -> list[Block]:
    """The blocks a wording template writes (``blocks.mako``) with these facts."""
    doc: list[Block] = []
    stray = _TEXT.get_template(template).render(doc=doc, **facts)
    if stray.strip():
        raise AssertionError(f"{template}: text outside a block: {stray.strip()[:60]!r}")
    return doc


def report_blocks(data: dict[str, Any]) -> list[Block]:
    """The report as blocks, made only from :func:`collect`'s data."""
    return _blocks(
        "report.mako",
        data=data,
        iso=iso,
        words=words,
        browser_text=BROWSER,
        sweep_reports_shown=SWEEP_REPORTS,
    )


# ----------------------------------------------------------------------------- notices
_UNITS = {
    "en": (("day", "days"), ("hour", "hours"), ("minute", "minutes"), "at once"),
    "de": (("Tag", "Tage"), ("Stunde", "Stunden"), ("Minute", "Minuten"), "sofort"),
}


def words(minutes: int, lang: str) -> str:
    """``2880`` → ``"2 days"`` / ``"2 Tage"``: the largest unit that is exact."""
    day, hour, minute, zero = _UNITS[lang]
    if minutes == 0:
        return zero
    for size, (one, many) in ((1440, day), (60, hour), (1, minute)):
        if minutes % size == 0:
            n = minutes // size
            return f"{n} {one if n == 1 else many}"
    raise AssertionError("unreachable")


def notice_rules(data: dict[str, Any], team: str | None) -> tuple[str | None, dict[str, int]]:
    """The rules a notice states: the named team's, else the one set every team shares
    (the operator's defaults when there is no team yet)."""
    teams = [t for t in data["teams"] if not t["archived"]]
    if team is not None:
        teams = [t for t in data["teams"] if t["slug"] == team]
        if not teams:
            raise PrivacyError(f"there is no team '{team}'")
    sets = {t["slug"]: {r["category"]: r["minutes"] for r in t["rules"]} for t in teams} or {
        None: {r["category"]: r["minutes"] for r in data["retention"]["without_team"]}
    }
    distinct = {json.dumps(v, sort_keys=True) for v in sets.values()}
    if len(distinct) > 1:
        raise PrivacyError(
            "the teams' retention rules differ: name one with --team (or ?team=) "
            f"({', '.join(str(s) for s in sets)})"
        )
    slug = next(iter(sets)) if team is not None else None
    return slug, next(iter(sets.values()))


def notice_blocks(data: dict[str, Any], lang: str, team: str | None = None) -> list[Block]:
    """The privacy notice for the agency's website and the text for the widget's consent
    screen, in German (informal "Du") or English, with this installation's periods."""
    if lang not in _UNITS:
        raise PrivacyError(f"no notice in '{lang}': de or en")
    _slug, r = notice_rules(data, team)
    # A conversation's record is never kept shorter than its messages
    # (chatserver.records.retention).
    r = {**r, "metadata": max(r["metadata"], r["messages"])}
    w = {k: words(v, lang) for k, v in r.items()}
    block = data["retention"]["block_hours"]
    w |= {f"block_{k}": words(v * 60, lang) for k, v in block.items()}
    key = data["browser"]["client_session_storage_key"]
    return _blocks(f"notice.{lang}.mako", key=key, period=w)


# ----------------------------------------------------------------------------- rendering
def markdown(blocks: Sequence[Block]) -> str:
    """The blocks as Markdown."""
    return str(_TEXT.get_template("markdown.mako").render(doc=blocks))


STYLE = (
    "body{font:11pt/1.45 system-ui,sans-serif;max-width:60rem;margin:2rem auto;"
    "padding:0 1rem;color:#111}"
    "table{border-collapse:collapse;width:100%;margin:.5rem 0 1rem;font-size:9.5pt}"
    "th,td{border:1px solid #999;padding:.25rem .4rem;text-align:left;vertical-align:top}"
    "th{background:#eee}code,pre{font-family:ui-monospace,monospace;font-size:9pt}"
    "pre{white-space:pre-wrap;word-break:break-all;background:#f5f5f5;padding:.5rem}"
    "h2{margin-top:1.6rem;break-after:avoid}tr{break-inside:avoid}"
    "@media print{body{margin:0;max-width:none}}"
)


def html_csp() -> str:
    """The policy the HTML page is served under: its one inline style, nothing else."""
    digest = base64.b64encode(hashlib.sha256(STYLE.encode()).digest()).decode()
    return (
        f"default-src 'none'; style-src 'sha256-{digest}'; base-uri 'none'; "
        "form-action 'none'; frame-ancestors 'none'"
    )


def html_page(blocks: Sequence[Block], lang: str = "en") -> str:
    """A printable page with everything inline: no script, no image, no other request."""
    return str(_HTML.get_template("html.mako").render(doc=blocks, lang=lang, style=STYLE))


def render(
    data: dict[str, Any], fmt: str, notice: str | None = None, team: str | None = None
) -> str:
    """The report (or with ``notice`` a notice) as ``md``, ``html`` or ``json``."""
    if notice is not None:
        if fmt == "json":
            raise PrivacyError("a notice is text: md or html")
        blocks = notice_blocks(data, notice, team)
        lang = notice
    else:
        blocks, lang = report_blocks(data), "en"
    if fmt == "json" and notice is None:
        return json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    if fmt == "html":
        return html_page(blocks, lang)
    return markdown(blocks)


async def command_output(
    db: Database,
    settings: Settings,
    now: int,
    fmt: str = "md",
    notice: str | None = None,
    team: str | None = None,
) -> str:
    """``chatserver privacy-report``: what it prints."""
    return render(await collect(db, settings, now), fmt, notice, team)
