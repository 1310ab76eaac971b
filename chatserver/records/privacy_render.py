"""The privacy report and the privacy notices as text: Markdown and a printable HTML page.

Everything here is made from :func:`chatserver.records.privacy.collect`'s data through a short
list of blocks (headings, paragraphs, lists, tables, code), which one Mako template per
format renders (``templates/markdown.mako``, ``templates/html.mako``), so the Markdown and
the HTML say the same. The notices (the agency's website, the widget's consent screen;
German with "Du", and English) take their periods from the same data. This is not legal
advice.
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


# ----------------------------------------------------------------------------- blocks
#: ("h1"|"h2"|"p"|"code", text), ("ul", [text]), ("table", ([header], [[cell]])).
Block = tuple[str, Any]


def _counts(detail: dict[str, Any]) -> str:
    counts = detail.get("counts") or {}
    return ", ".join(f"{k} {v}" for k, v in counts.items()) or "nothing due"


def report_blocks(data: dict[str, Any]) -> list[Block]:
    """The report as blocks, made only from :func:`collect`'s data."""
    inst, ret = data["installation"], data["retention"]
    out: list[Block] = [
        ("h1", f"Privacy report: {inst['origin']}"),
        (
            "p",
            f"Generated {iso(data['generated_at'])} by {data['software']['name']} "
            f"{data['software']['version']} from this installation's settings and database "
            "(`chatserver privacy-report`, `GET /api/admin/privacy-report`).",
        ),
        ("p", f"**{data['disclaimer']}**"),
        ("h2", "Findings"),
        ("ul", data["findings"] or ["Nothing to point out."]),
        ("h2", "Installation"),
        (
            "ul",
            [
                f"Public origin: `{inst['origin']}` ({'https' if inst['https'] else 'not https'})",
                f"Installation id: `{inst['id']}` (random, not secret: staff passwords are "
                "salted with it, so sign-in does not depend on the public origin)",
                f"Database: {inst['database_kind']}, `{inst['database']}`",
                f"Keystore (storage keys, apart from the database): `{inst['keystore']}`",
                "Fan-out between processes: "
                + (
                    f"Redis `{inst['redis']}` (frames in transit only)"
                    if inst["redis"]
                    else "in-process (one process, no Redis)"
                ),
                f"Staff sessions last {inst['session_hours']:g} hours without activity; "
                f"second factor (TOTP) {'required' if inst['require_totp'] else 'NOT required'}; "
                f"{inst['login_attempts']} failed sign-ins per 15 minutes lock an account",
            ],
        ),
        ("h2", "What is stored, where, for how long, who can read it"),
        (
            "table",
            (
                [
                    "data",
                    "where",
                    "contents",
                    "kept (retention rule)",
                    "end-to-end",
                    "who can read",
                ],
                [
                    [
                        g["name"],
                        _PLACES[g["place"]] + ", ".join(f"`{t}`" for t in g["tables"]),
                        g["what"],
                        ", ".join(f"`{r}`" for r in g["retention"]) or g["kept"],
                        g["e2e"],
                        g["readers"],
                    ]
                    for g in data["groups"]
                ],
            ),
        ),
        (
            "ul",
            [
                "Browser, "
                + BROWSER
                + f" (key `{data['browser']['client_session_storage_key']}`).",
                "Server memory: " + data["memory"] + ".",
                f"Schema check: {data['schema']['tables']} tables, "
                f"{data['schema']['columns']} columns; tables not accounted for above: "
                f"{', '.join(data['schema']['unclassified_tables']) or 'none'}; columns "
                "named like an address or user agent: "
                f"{', '.join(data['schema']['address_like_columns']) or 'none'}.",
            ],
        ),
        ("h2", "Retention rules in force"),
        (
            "p",
            "Durations count from the event named; past its due time a record is hidden at "
            "once and deleted by the next sweep. Operator defaults: "
            + _rule_list(ret["operator"]["defaults"])
            + ". Minimum a team may set: "
            + (_rule_list(ret["operator"]["minimum"]) or "none")
            + ". Maximum: "
            + (_rule_list(ret["operator"]["maximum"]) or "none")
            + ". Applied operator-wide, whatever a team sets: "
            + ", ".join(f"`{c}`" for c in ret["operator"]["operator_wide"])
            + ".",
        ),
    ]
    teams = data["teams"] or [{"slug": "(no team yet)", "rules": ret["without_team"]}]
    for team in teams:
        out.append(
            ("h2", f"Team `{team['slug']}`" + (" (archived)" if team.get("archived") else ""))
        )
        out.append(
            (
                "table",
                (
                    ["category", "kept for", "set by", "counts from", "deletes", "min", "max"],
                    [
                        [
                            f"`{r['category']}`",
                            f"{words(r['minutes'], 'en')} ({r['duration']})",
                            r["source"]
                            + (" (team rule ignored)" if r["team_rule_ignored"] else ""),
                            r["counts_from"],
                            r["deletes"],
                            r["min"] or "-",
                            r["max"] or "-",
                        ]
                        for r in team["rules"]
                    ],
                ),
            )
        )
        if "members" in team:
            out.append(
                (
                    "p",
                    "Allowed widget origins: "
                    + (", ".join(f"`{o}`" for o in team["origins"]) or "none")
                    + ". Active members: "
                    + (", ".join(f"{n} {r}" for r, n in sorted(team["members"].items())) or "none")
                    + ". On-device transcript for clients: "
                    + ("offered" if team["transcript"] else "off")
                    + " (made in the browser from the decrypted messages; the server never"
                    " receives it).",
                )
            )
    sweeps = ret["sweeps"]
    out += [
        (
            "p",
            f"Sweeps run every {sweeps['interval_minutes']:g} minutes "
            + (
                "inside the server process"
                if sweeps["in_process"]
                else "in `chatserver retention worker` (not in the server process)"
            )
            + f", {sweeps['batch']} rows per batch with {sweeps['pause_ms']} ms between "
            f"batches. Legal holds in force now: {ret['holds_in_force']}.",
        ),
        ("h2", "Who can read what"),
        (
            "p",
            "Active staff accounts: "
            + (", ".join(f"{n} {r}" for r, n in sorted(data["accounts"].items())) or "none")
            + ". Counsellors and supervisors reach the teams they are members of, admins "
            "every team. Message content is readable only with the keys named below; the "
            "server and whoever operates it see ciphertext and the metadata listed above.",
        ),
        ("h2", "Encryption"),
        ("p", f"Suite `{data['encryption']['suite']}`: {data['encryption']['primitives']}."),
        (
            "table",
            (
                ["key", "held by", "lifetime"],
                [[k["key"], k["held_by"], k["lifetime"]] for k in data["encryption"]["keys"]],
            ),
        ),
        (
            "ul",
            [
                f"Team `{slug}`: {e['unretired']} epoch(s) not yet retired, keys uploaded "
                f"until {e['keys_until']}"
                for slug, e in data["encryption"]["epochs"].items()
            ]
            or ["No team has uploaded epoch keys yet."],
        ),
        ("p", "Not protected: " + data["encryption"]["not_protected"] + "."),
        ("h2", "Logging"),
        (
            "ul",
            [
                f"Level `{data['logging']['level']}`: written are "
                + ", ".join(data["logging"]["written"]),
                "Destination: " + data["logging"]["destination"],
                "Log lines carry: " + data["logging"]["carries"],
                "Never logged: " + data["logging"]["never"],
                "Access log: " + data["logging"]["access_log"],
                "Metrics: " + data["logging"]["metrics"],
                "A reverse proxy in front is outside this report: switch its access log off "
                "(deploy/nginx/chatserver.conf does).",
            ],
        ),
        ("h2", "Cookies and browser storage"),
        ("p", "Clients (the widget): no cookie is set, by the chat page or by the server."),
        (
            "table",
            (
                ["staff cookie", "purpose", "HttpOnly", "SameSite", "Secure", "path", "max age"],
                [
                    [
                        f"`{c['name']}`",
                        c["purpose"],
                        "yes" if c["http_only"] else "no",
                        c["same_site"],
                        "yes" if c["secure"] else "no",
                        c["path"],
                        f"{c['max_age_seconds']} s",
                    ]
                    for c in data["cookies"]["staff"]
                ],
            ),
        ),
        (
            "ul",
            [
                "Client tab sessionStorage: "
                f"`{data['browser']['client_session_storage_key']}`; other client-side "
                "storage used by the widget's code: "
                + (", ".join(data["browser"]["client_other_storage"]) or "none"),
                "Staff pages (console, admin area) localStorage: "
                + (", ".join(f"`{k}`" for k in data["browser"]["staff_local_storage"]) or "none")
                + "; sessionStorage: "
                + (", ".join(f"`{k}`" for k in data["browser"]["staff_session_storage"]) or "none"),
                f"Read from the files served from `{data['browser']['served_from']}`.",
            ],
        ),
        ("h2", "Third-party requests and Content-Security-Policy"),
        (
            "p",
            "Origins other than this server that any policy below lets a page load from or "
            "send to: "
            + (", ".join(f"`{s}`" for s in data["third_party_sources"]) or "none")
            + ". The widget's loader is fetched by the agency's page from this server; "
            "the chat runs in an iframe of this server's origin, which the agency's page "
            "and its scripts cannot read.",
        ),
        ("p", "API responses, the start page and files without a policy of their own:"),
        ("code", data["csp"]["default"]),
        ("p", "The duty console (`/console`):"),
        ("code", data["csp"]["console"]),
        ("p", "The admin area (`/admin`):"),
        ("code", data["csp"]["admin"]),
        ("p", "The admin area's preview of the embed snippet (`/admin/preview`):"),
        ("code", data["csp"]["snippet_preview"]),
    ]
    for slug, policy in data["csp"]["widget_frame"].items():
        out += [
            ("p", f"The chat page of team `{slug}` (`/widget/frame/{slug}`):"),
            ("code", policy),
        ]
    b = data["backups"]
    out += [
        ("h2", "Backups and how deletion reaches them"),
        (
            "ul",
            [
                "Database: " + b["database"],
                "Keystore: " + b["keystore"],
                "Deletion: " + b["deletion"],
            ],
        ),
        ("h2", f"Last sweep reports (newest first, at most {SWEEP_REPORTS})"),
    ]
    if data["sweep_reports"]:
        out.append(
            (
                "table",
                (
                    [
                        "audit entry",
                        "finished",
                        "deleted",
                        "keys destroyed",
                        "held kept",
                        "errors",
                        "duration",
                    ],
                    [
                        [
                            str(r["id"]),
                            iso(r["at"]),
                            _counts(r),
                            str(r.get("keys_destroyed", 0)),
                            str(r.get("holds_skipped", 0)),
                            ", ".join(r.get("errors") or []) or "none",
                            f"{r.get('duration_ms', 0)} ms",
                        ]
                        for r in data["sweep_reports"]
                    ],
                ),
            )
        )
    else:
        out.append(("p", "No sweep has written a report yet."))
    return out


_PLACES = {"database": "main database: ", "keystore": "keystore (a database of its own)"}


def _rule_list(rules: dict[str, str]) -> str:
    return ", ".join(f"`{k}` {v}" for k, v in rules.items())


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
    text = _NOTICE_DE if lang == "de" else _NOTICE_EN
    out: list[Block] = []
    for kind, body in text:
        if isinstance(body, str):
            out.append((kind, body.format(key=key, **w)))
        else:
            out.append((kind, [line.format(key=key, **w) for line in body]))
    return out


_NOTICE_EN: list[Block] = [
    ("h1", "Privacy notice: the counselling chat"),
    (
        "p",
        "[Agency: your name, postal address and the contact of your data-protection "
        "officer. The legal basis you rely on, for example Art. 6(1)(e) or (a) and Art. 9(2) "
        "GDPR: ask your data-protection officer.]",
    ),
    ("h2", "What happens to your data"),
    (
        "ul",
        [
            "You need no account and no name. We do not store or log your IP address or "
            "your browser, and the chat sets no cookies.",
            "Your messages are end-to-end encrypted in your browser. Only the counselling "
            "team can read them; the server stores them encrypted and cannot read them.",
            "The server knows that a chat took place: when it started and ended, which team "
            "and topic, and whether a counsellor answered.",
            "While the chat is open, your browser keeps what it needs to continue the chat in "
            "this tab only (sessionStorage, key `{key}`). Quick exit and deleting the chat "
            "wipe it; closing the tab drops it.",
        ],
    ),
    ("h2", "How long we keep it"),
    (
        "ul",
        [
            "Messages and the team's notes: deleted {messages} after the chat ended.",
            "A chat nobody answered: deleted {abandoned} after your last activity.",
            "A chat with no activity for {idle_close} is ended.",
            "The record that a chat took place (times, team, topic): deleted {metadata} after "
            "it ended. Only anonymous counts stay (how many chats, how long people waited), "
            "with nothing that points back to you.",
            "If the team ends a chat because of abuse, it blocks that chat for a while "
            "(usually {block_default}, at most {block_max}). While the block lasts you cannot "
            "delete that chat yourself; it is deleted by the rules above, and a one-way code "
            "(hash) of it is kept until {blocks} after the block ends.",
            "In exceptional cases a supervisor can keep one chat longer (a legal hold, with a "
            "reason and an end date); this is recorded in the audit log. [Agency: say when "
            "you do this.]",
        ],
    ),
    ("h2", "Your rights"),
    (
        "ul",
        [
            "Deletion: you can delete your chat yourself at any time with "
            '"Delete this chat". It is deleted on the server at once, with its keys; '
            "nobody can restore it.",
            "Access: while the chat exists and its tab is open, you see all of it in the "
            "chat window. We cannot tell who you are, so we cannot find your chat for you, "
            "and we do not need to know who you are.",
            "You may complain to a data-protection supervisory authority.",
        ],
    ),
    ("h2", "Text for the consent screen of the chat"),
    (
        "p",
        "Before you start: your chat is end-to-end encrypted; only the counselling team "
        "reads it. We store no IP address and set no cookies. Messages are deleted {messages} "
        "after the chat ends, and you can delete your chat yourself at any time. Quick exit "
        "leaves at once. [Link: privacy notice]",
    ),
]

_NOTICE_DE: list[Block] = [
    ("h1", "Datenschutzhinweise: der Beratungs-Chat"),
    (
        "p",
        "[Beratungsstelle: Name, Anschrift und Kontakt der oder des "
        "Datenschutzbeauftragten. Die Rechtsgrundlage, z. B. Art. 6 Abs. 1 lit. e oder a und "
        "Art. 9 Abs. 2 DSGVO: mit der oder dem Datenschutzbeauftragten klären.]",
    ),
    ("h2", "Was mit Deinen Daten passiert"),
    (
        "ul",
        [
            "Du brauchst kein Konto und keinen Namen. Wir speichern und protokollieren weder "
            "Deine IP-Adresse noch Deinen Browser, und der Chat setzt keine Cookies.",
            "Deine Nachrichten werden schon in Deinem Browser Ende-zu-Ende-verschlüsselt. Nur "
            "das Beratungsteam kann sie lesen; der Server speichert sie verschlüsselt und kann "
            "sie nicht lesen.",
            "Der Server weiß, dass ein Chat stattgefunden hat: wann er begann und endete, "
            "welches Team und welches Thema, und ob jemand geantwortet hat.",
            "Solange der Chat offen ist, behält Dein Browser nur in diesem Tab, was er zum "
            "Weiterchatten braucht (sessionStorage, Schlüssel `{key}`). „Schnell weg“ "
            "und das Löschen des Chats entfernen es; wenn Du den Tab schließt, verschwindet es.",
        ],
    ),
    ("h2", "Wie lange wir Daten aufbewahren"),
    (
        "ul",
        [
            "Nachrichten und Notizen des Teams: gelöscht {messages} nach dem Ende des Chats.",
            "Ein Chat, auf den niemand geantwortet hat: gelöscht {abandoned} nach Deiner "
            "letzten Aktivität.",
            "Ein Chat ohne Aktivität wird nach {idle_close} beendet.",
            "Die Angabe, dass ein Chat stattfand (Zeiten, Team, Thema): gelöscht {metadata} "
            "nach seinem Ende. Danach bleiben nur anonyme Zahlen (wie viele Chats, wie lange "
            "gewartet wurde), die nicht auf Dich zurückführen.",
            "Beendet das Team einen Chat wegen Missbrauchs, sperrt es diesen Chat für eine "
            "Zeit (meist {block_default}, höchstens {block_max}). Solange die Sperre dauert, "
            "kannst Du diesen Chat nicht selbst löschen; er wird nach den Regeln oben gelöscht, "
            "und ein nicht umkehrbarer Code (Hash) davon bleibt bis {blocks} nach dem Ende der "
            "Sperre.",
            "In Ausnahmefällen kann die Leitung einen einzelnen Chat länger aufbewahren "
            "(mit Begründung und Enddatum); das wird protokolliert. [Beratungsstelle: sagt, "
            "wann Ihr das tut.]",
        ],
    ),
    ("h2", "Deine Rechte"),
    (
        "ul",
        [
            "Löschen: Du kannst Deinen Chat jederzeit selbst mit „Diesen Chat löschen“ "
            "löschen. Er wird sofort auf dem Server gelöscht, mit seinen Schlüsseln; "
            "niemand kann ihn wiederherstellen.",
            "Auskunft: Solange der Chat besteht und sein Tab offen ist, siehst Du ihn "
            "vollständig im Chatfenster. Wir wissen nicht, wer Du bist, deshalb können wir "
            "Deinen Chat nicht für Dich heraussuchen, und wir müssen auch nicht wissen, wer "
            "Du bist.",
            "Du kannst Dich bei einer Datenschutz-Aufsichtsbehörde beschweren.",
        ],
    ),
    ("h2", "Text für den Einwilligungsbildschirm im Chat"),
    (
        "p",
        "Bevor Du anfängst: Dein Chat ist Ende-zu-Ende-verschlüsselt; nur das "
        "Beratungsteam liest ihn. Wir speichern keine IP-Adresse und setzen keine Cookies. "
        "Nachrichten werden {messages} nach dem Ende des Chats gelöscht, und Du kannst "
        "Deinen Chat jederzeit selbst löschen. Mit „Schnell weg“ bist Du sofort weg. "
        "[Link: Datenschutzhinweise]",
    ),
]


# ----------------------------------------------------------------------------- rendering
TEMPLATES = Path(__file__).with_name("templates")
# Mako: already installed with Alembic (migrations). strict_undefined: a name a template
# uses that the code does not pass fails at once instead of printing "UNDEFINED".
# The Markdown is text, not HTML: nothing is escaped. The HTML page escapes every
# expression by default, with the standard library's html.escape (the bytes the page had
# before the templates; Mako's "h" would write &#39; for &#x27;).
_OPTIONS: dict[str, Any] = {
    "directories": [str(TEMPLATES)],
    "strict_undefined": True,
    "input_encoding": "utf-8",
}
_TEXT = TemplateLookup(default_filters=["str"], **_OPTIONS)
_HTML = TemplateLookup(default_filters=["escape"], imports=["from html import escape"], **_OPTIONS)


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
