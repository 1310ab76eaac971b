"""The privacy report and the privacy notices, read from the running installation.

Nothing here is written once and left to go stale: :func:`collect` reads the settings and
the database and asks the code that does the work for its facts. The Content-Security-
Policies come from the functions that serve them, the retention periods from the same
effective-rules function the sweeper uses, the origins from the teams' allowed origins,
the cookie from the function that names it, the sweep reports from the audit log, the
client's storage key from the widget file the server serves, the tables from the schema.

``collect`` returns plain JSON data; :mod:`chatserver.records.privacy_render` turns it into the
report and the privacy notices (Markdown and printable HTML), so every rendering says the
same, and says nothing that is not in the data.

This is not legal advice: the report states facts about the software and its
configuration, and the people who sign off decide what they mean.
"""

from __future__ import annotations

import dataclasses
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

from chatserver import __version__
from chatserver.config import Settings
from chatserver.e2e.bundle import MAX_WINDOW_MS
from chatserver.e2e.primitives import PBKDF2_ITERATIONS, SUITE
from chatserver.policy import (
    CSP,
    admin_csp,
    console_csp,
    frame_csp,
    preview_csp,
    session_cookie,
    widget_dir,
)
from chatserver.records.retention import effective_rules, team_rules
from chatserver.retention_rules import CATEGORIES, OPERATOR_WIDE, Rules, format_minutes
from chatserver.storage import audit, census
from chatserver.storage import models as m
from chatserver.storage.db import Database
from chatserver.storage.staff import installation_id
from chatserver.teams.teams import Teams

__all__ = [
    "BROWSER",
    "DISCLAIMER",
    "OPERATOR_WIDE",
    "SWEEP_REPORTS",
    "PrivacyError",
    "collect",
    "iso",
    "outside_sources",
    "policies",
    "rules_of",
]

DISCLAIMER = {
    "en": "This is not legal advice. It describes what this software does as configured; "
    "the agency and its data-protection officer decide what that means legally.",
    "de": "Dies ist keine Rechtsberatung. Beschrieben wird, was diese Software in ihrer "
    "Konfiguration tut; was das rechtlich bedeutet, entscheiden die Beratungsstelle und "
    "ihre oder ihr Datenschutzbeauftragte.",
}

SWEEP_REPORTS = 5


class PrivacyError(ValueError):
    """The report or notice cannot be made as asked; the message says why."""


def rules_of(settings: Settings) -> Rules:
    """The operator's rules, built as the server (``ChatService``) and the sweeper build them."""
    return Rules.from_settings(
        settings.retention_defaults, settings.retention_min, settings.retention_max
    )


# ----------------------------------------------------------------------------- what is stored
@dataclass(frozen=True, slots=True)
class DataGroup:
    name: str
    place: str  # "database", "keystore", "browser", "memory"
    tables: tuple[str, ...]
    what: str
    retention: tuple[str, ...]  # retention categories, or () with ``kept`` saying how long
    kept: str
    e2e: str
    readers: str


GROUPS = (
    DataGroup(
        "Conversation content",
        "database",
        ("messages",),
        "messages and the client's and team's control messages (accept, rekey, close, "
        "receipts), as end-to-end ciphertext, sealed once more with the conversation's "
        "storage key",
        ("messages",),
        "",
        "yes: only the client and the team members holding the epoch or conversation key",
        "the counsellor in the chat and team members holding the epoch key (the team's "
        "supervisors and admins may read along in the console; each reading is audited); "
        "the server and its operator see ciphertext only",
    ),
    DataGroup(
        "Key envelopes and notes",
        "database",
        ("key_envelopes",),
        "conversation key escrow to the team's epoch key, internal and handover notes "
        "(ciphertext); team-key envelopes wrapped to each member",
        ("messages", "epoch_keys"),
        "",
        "yes: to the team's epoch key or to one member's identity key",
        "team members holding the keys; the server sees opaque envelopes",
    ),
    DataGroup(
        "Conversation record (metadata)",
        "database",
        ("conversations",),
        "team, topic, state, times, close category, counsellor, transfers, the client's "
        "ephemeral public key, a hash of the resume token, the consent version",
        ("metadata", "abandoned", "idle_close"),
        "",
        "no (the server needs it to route and to delete)",
        "the team's counsellors and supervisors (queue, their chats), admins, "
        "and whoever operates the database",
    ),
    DataGroup(
        "Legal holds",
        "database",
        ("holds",),
        "which conversation is held, the supervisor's reason, from when until when",
        (),
        "until the conversation itself is deleted (the hold ends at its end date)",
        "no",
        "supervisors and admins of the team",
    ),
    DataGroup(
        "Blocks",
        "database",
        ("blocks",),
        "a hash of the blocked conversation's resume token (never an address)",
        ("blocks",),
        "",
        "no",
        "the team (through the conversation); its supervisors and admins list and lift "
        "blocks in the admin area; the operator",
    ),
    DataGroup(
        "Anonymous statistics",
        "database",
        ("stat_facts",),
        "per ended conversation: team, day, topic, outcome, close category, accepted, "
        "waiting time, duration, transfers; no id, no exact time, no content",
        (),
        "no retention rule: kept while the team exists (counts below 5 are suppressed when shown)",
        "no",
        "admins and the team's supervisors",
    ),
    DataGroup(
        "Staff accounts",
        "database",
        ("staff", "memberships", "identities"),
        "username, display name, role, team memberships, Argon2id hash of the derived "
        "credential, TOTP secret, last sign-in time; public identity keys and the private "
        "ones wrapped under a key the server cannot derive",
        ("staff",),
        "",
        "the private identity keys: wrapped in the member's browser",
        "admins (accounts), the member; the operator sees hashes and wrapped keys",
    ),
    DataGroup(
        "Staff sessions",
        "database",
        ("sessions",),
        "a hash of the session token, the account, created and expiry times",
        ("sessions",),
        "",
        "no",
        "nobody through the application; the operator",
    ),
    DataGroup(
        "Invitations",
        "database",
        ("invites",),
        "team, role, who invited, times, the enrolment MAC",
        ("invites",),
        "",
        "no",
        "admins",
    ),
    DataGroup(
        "Team keys and rosters",
        "database",
        ("team_epochs", "rosters"),
        "signed epoch bundles (public keys) and signed member rosters",
        ("epoch_keys",),
        "",
        "public keys and signatures only",
        "every member of the team; the widget reads the current bundle",
    ),
    DataGroup(
        "Audit log",
        "database",
        ("audit",),
        "who (staff id, cli, system; never a client) did what to which record, with "
        "counts and settings, never content; hash-chained",
        ("audit",),
        "",
        "no",
        "admins; the operator (`chatserver audit export`)",
    ),
    DataGroup(
        "Team configuration",
        "database",
        (
            "teams",
            "topics",
            "origins",
            "retention_rules",
            "canned_replies",
            "opening_hours",
            "consent_texts",
        ),
        "team names, topics, allowed website origins, retention rules, canned replies "
        "(plaintext written by supervisors), opening hours and emergency contacts, the "
        "consent texts with every earlier version; nothing about clients",
        (),
        "until an admin changes or removes it",
        "no (canned replies are plaintext on purpose)",
        "the team; the widget reads topics, opening hours and the consent text",
    ),
    DataGroup(
        "Storage keys",
        "keystore",
        (),
        "one AES-256 key per conversation and per team epoch, sealing what the database stores",
        ("messages", "metadata", "abandoned", "epoch_keys"),
        "",
        "n/a (server-side keys)",
        "the server process only; never in a database backup",
    ),
)

BROWSER = (
    "client: the tab's sessionStorage under one key (conversation id, resume token, the "
    "client's private key, the team bundle, unacknowledged ciphertext; never plaintext), "
    "wiped by quick exit and self-delete, dropped by the browser when the tab closes"
)
MEMORY = (
    "rate limits and the login throttle are kept in the server's memory only, keyed by "
    "connection or username, never by address"
)


# ----------------------------------------------------------------------------- helpers
def iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M UTC")


def _safe_url(url: str) -> str:
    """A database URL without its password."""
    return make_url(url).render_as_string(hide_password=True)


def _ws(origin: str) -> str:
    return origin.replace("https://", "wss://", 1).replace("http://", "ws://", 1)


def policies(settings: Settings, team_origins: dict[str, list[str]]) -> dict[str, Any]:
    """The Content-Security-Policies as served: every response's default, the console's,
    the admin area's and its snippet preview's, and each live team's chat page
    (``frame_csp`` with the team's allowed origins)."""
    return {
        "default": CSP,
        "console": console_csp(settings.origin),
        "admin": admin_csp(settings.origin),
        "snippet_preview": preview_csp(),
        "widget_frame": {
            slug: frame_csp(settings.origin, sorted(origins))
            for slug, origins in team_origins.items()
        },
    }


#: Directives that only restrict navigation or embedding, not what the page loads.
_NOT_FETCHING = {
    "frame-ancestors",
    "base-uri",
    "sandbox",
    "report-uri",
    "report-to",
    "require-trusted-types-for",
    "trusted-types",
}


def outside_sources(csp: str, own_origin: str) -> list[str]:
    """Sources a policy lets the page load from or send to, other than this server."""
    own = {"'self'", "'none'", "data:", own_origin, _ws(own_origin)}
    found = []
    for directive in filter(None, (d.strip() for d in csp.split(";"))):
        name, *sources = directive.split()
        if name not in _NOT_FETCHING:
            found += [s for s in sources if s not in own]
    return sorted(set(found))


#: A module of ``widget/shared/`` that a widget module imports (``./shared/NAME.js``).
_SHARED_IMPORT = re.compile(r"from '\./shared/([a-z0-9-]+\.js)'")


def _widget_files(settings: Settings) -> tuple[Path, list[Path], list[Path]]:
    """The folder, the widget's modules (its own and the shared ones it imports) and the
    staff pages' (the console's, the admin area's and every shared one)."""
    folder = widget_dir(settings.static_dir)
    own = sorted(folder.glob("*.js"))
    shared = {
        folder / "shared" / name
        for path in own
        for name in _SHARED_IMPORT.findall(path.read_text("utf-8"))
    }
    staff = [p for name in ("console", "admin", "shared") for p in (folder / name).glob("*.js")]
    return folder, sorted({*own, *shared}), sorted(staff)


_STORAGE_KEY = re.compile(r"STORAGE_KEY\s*=\s*'([^']+)'")
_CONST = re.compile(r"\bconst\s+(\w+)\s*=\s*'([^']*)'")
#: ``localStorage.setItem('name'``, ``setItem(NAME,`` and ``setItem(PREFIX + x,``
_SET_ITEM = re.compile(r"(localStorage|sessionStorage)\.setItem\(\s*(?:'([^']+)'|(\w+)(\s*\+)?)")
_CLIENT_SIDE = re.compile(r"\b(localStorage|indexedDB|document\.cookie)\b")


def browser_storage(settings: Settings) -> dict[str, Any]:
    """What the served widget, console and admin code keep in the browser, read from the
    files this server serves (``widget_dir``)."""
    folder, widget, console = _widget_files(settings)
    client_key = None
    other: set[str] = set()
    for path in widget:
        text = path.read_text("utf-8")
        found = _STORAGE_KEY.search(text)
        client_key = client_key or (found.group(1) if found else None)
        other |= set(_CLIENT_SIDE.findall(text))
    staff: dict[str, set[str]] = {"localStorage": set(), "sessionStorage": set()}
    for path in console:
        text = path.read_text("utf-8")
        consts = dict(_CONST.findall(text))
        for kind, literal, const, prefix in _SET_ITEM.findall(text):
            name = literal or consts.get(const, f"({const})")
            staff[kind].add(name + ("…" if prefix else ""))
    return {
        "served_from": str(folder),
        "client_session_storage_key": client_key,
        "client_other_storage": sorted(other),
        "staff_local_storage": sorted(staff["localStorage"]),
        "staff_session_storage": sorted(staff["sessionStorage"]),
    }


def _schema_check() -> dict[str, Any]:
    """Every table of the schema is named by a group; no column is named like an address."""
    grouped = {t for g in GROUPS for t in g.tables}
    suspicious = [
        f"{t.name}.{c.name}"
        for t in m.metadata.sorted_tables
        for c in t.columns
        if re.search(r"(^|_)(ip|ips|addr|address|user_agent|agent|useragent)(_|$)", c.name)
    ]
    return {
        "tables": len(m.metadata.tables),
        "columns": sum(len(t.columns) for t in m.metadata.tables.values()),
        "unclassified_tables": sorted(set(m.metadata.tables) - grouped),
        "address_like_columns": suspicious,
    }


# ----------------------------------------------------------------------------- collect
async def collect(db: Database, settings: Settings, now: int) -> dict[str, Any]:
    """Everything the report says, as JSON data, read now from ``settings`` and ``db``."""
    rules = rules_of(settings)
    teams = await Teams(db).list_teams()
    async with db.read() as conn:
        team_data: list[dict[str, Any]] = []
        for team in teams:
            own = await team_rules(conn, team.id)
            effective = await effective_rules(conn, rules, team.id)
            operator = rules.effective({})
            team_data.append(
                {
                    "slug": team.slug,
                    "name": team.name,
                    "archived": team.archived_at is not None,
                    "origins": sorted(team.origins),
                    # The widget offers to save the conversation on the client's device
                    # (built in the browser; the server never sees the file).
                    "transcript": team.transcript,
                    "rules": [_rule(name, effective, operator, own, rules) for name in CATEGORIES],
                }
            )
        roles = await census.enabled_by_team_and_role(conn)
        accounts = await census.enabled_by_role(conn)
        epochs = await census.live_epochs(conn)
        holds = await census.holds_in_force(conn, now)
        sweeps = await audit.latest(conn, "retention.sweep", SWEEP_REPORTS)
    members: dict[str, dict[str, int]] = {}
    for slug, role, count in roles:
        members.setdefault(slug, {})[role] = int(count)
    for team_json in team_data:
        team_json["members"] = members.get(team_json["slug"], {})
    csp = policies(settings, {t.slug: list(t.origins) for t in teams if t.archived_at is None})
    all_csp = [
        csp["default"],
        csp["console"],
        csp["admin"],
        csp["snippet_preview"],
        *csp["widget_frame"].values(),
    ]
    data: dict[str, Any] = {
        "generated_at": now,
        "software": {"name": "chatserver", "version": __version__},
        "disclaimer": DISCLAIMER["en"],
        "installation": {**_installation(settings), "id": await _installation_id(db)},
        "groups": [_group(g, settings) for g in GROUPS],
        "browser": browser_storage(settings),
        "memory": MEMORY,
        "schema": _schema_check(),
        "retention": {
            "operator": {
                "defaults": {k: format_minutes(v) for k, v in rules.defaults.items()},
                "minimum": {k: format_minutes(v) for k, v in rules.minimum.items()},
                "maximum": {k: format_minutes(v) for k, v in rules.maximum.items()},
                "operator_wide": list(OPERATOR_WIDE),
            },
            "without_team": [
                _rule(name, rules.effective({}), rules.effective({}), {}, rules)
                for name in CATEGORIES
            ],
            "sweeps": {
                "in_process": settings.retention_in_process,
                "interval_minutes": settings.retention_interval_minutes,
                "batch": settings.retention_batch,
                "pause_ms": settings.retention_pause_ms,
            },
            "holds_in_force": int(holds),
            "block_hours": _block_hours(),
        },
        "teams": team_data,
        "accounts": {role: int(count) for role, count in accounts},
        "encryption": _encryption({slug: (int(n), int(last)) for slug, n, last in epochs}, now),
        "logging": _logging(settings),
        "cookies": {
            "client": [],
            "staff": [
                {
                    "name": session_cookie(settings),
                    "purpose": "staff session (sign-in)",
                    "http_only": True,
                    "same_site": "Strict",
                    "secure": settings.cookie_secure,
                    "path": "/",
                    "max_age_seconds": int(settings.session_hours * 3600),
                }
            ],
        },
        "csp": csp,
        "third_party_sources": sorted(
            {src for p in all_csp for src in outside_sources(p, settings.origin)}
        ),
        "backups": _backups(settings),
        "sweep_reports": [
            {"id": r.id, "at": r.at, "hash": r.hash, **json.loads(r.detail)} for r in sweeps
        ],
    }
    data["findings"] = _findings(data, settings, now)
    return data


def _rule(
    name: str,
    effective: dict[str, int],
    operator: dict[str, int],
    own: dict[str, int],
    rules: Rules,
) -> dict[str, Any]:
    wide = name in OPERATOR_WIDE
    minutes = operator[name] if wide else effective[name]
    if wide:
        source = "operator"
    elif name in own:
        source = "team" if own[name] == minutes else "team, clamped"
    else:
        source = "default"
    return {
        "category": name,
        "minutes": minutes,
        "duration": format_minutes(minutes),
        "source": source,
        "team_rule_ignored": wide and name in own,
        "counts_from": CATEGORIES[name].event,
        "deletes": CATEGORIES[name].what,
        "min": format_minutes(rules.minimum[name]) if name in rules.minimum else None,
        "max": format_minutes(rules.maximum[name]) if name in rules.maximum else None,
    }


def _block_hours() -> dict[str, int]:
    """How long a counsellor's block may last: the ``block`` frame's own limits."""
    from chatserver.protocol.frames import Block

    hours = next(f for f in dataclasses.fields(Block) if f.name == "hours")
    assert isinstance(hours.default, int)
    return {"default": hours.default, "max": int(hours.metadata["max"])}


def _group(group: DataGroup, settings: Settings) -> dict[str, Any]:
    where = {
        "database": _safe_url(settings.database_url),
        "keystore": _safe_url(settings.keystore),
    }[group.place]
    return {
        "name": group.name,
        "place": group.place,
        "where": where,
        "tables": list(group.tables),
        "what": group.what,
        "retention": list(group.retention),
        "kept": group.kept,
        "e2e": group.e2e,
        "readers": group.readers,
    }


async def _installation_id(db: Database) -> str:
    async with db.read() as conn:
        return await installation_id(conn)


def _installation(settings: Settings) -> dict[str, Any]:
    return {
        "origin": settings.origin,
        "https": settings.origin.startswith("https://"),
        "database": _safe_url(settings.database_url),
        "database_kind": "SQLite" if settings.is_sqlite else "PostgreSQL",
        "keystore": _safe_url(settings.keystore),
        "redis": _safe_url(settings.redis_url) if settings.redis_url else None,
        "session_hours": settings.session_hours,
        "require_totp": settings.require_totp,
        "login_attempts": settings.login_attempts,
    }


def _encryption(epochs: dict[str, tuple[int, int]], now: int) -> dict[str, Any]:
    return {
        "suite": SUITE,
        "primitives": "ECDH and ECDSA on P-256, HKDF-SHA-256, AES-256-GCM, SHA-256; "
        f"staff passwords: PBKDF2-HMAC-SHA-256 with {PBKDF2_ITERATIONS} iterations in "
        "the browser, Argon2id of the derived credential on the server",
        "keys": [
            {"key": "client key", "held_by": "the client's tab", "lifetime": "the conversation"},
            {
                "key": "conversation key",
                "held_by": "the accepting counsellor; escrowed to the epoch key",
                "lifetime": "the conversation (until a rekey)",
            },
            {
                "key": "team epoch key",
                "held_by": "team members, as envelopes",
                "lifetime": f"one epoch, at most {MAX_WINDOW_MS // 3_600_000} hours "
                "(the widget refuses longer); destroyed after the epoch_keys rule",
            },
            {
                "key": "team root key",
                "held_by": "admins only (browser)",
                "lifetime": "until replaced",
            },
            {
                "key": "storage keys",
                "held_by": "the server's keystore",
                "lifetime": "destroyed with the data they seal",
            },
        ],
        "epochs": {
            slug: {
                "unretired": n,
                "keys_until": iso(last),
                "ends_in_hours": (last - now) // 3_600_000,
            }
            for slug, (n, last) in sorted(epochs.items())
        },
        "not_protected": "a server serving altered JavaScript, a compromised counsellor "
        "device, metadata (who chatted with which team, when, how long, message sizes up "
        "to the padding); whoever holds an epoch key reads what is retained from it "
        "(docs/e2e.md, Threat model)",
    }


def _logging(settings: Settings) -> dict[str, Any]:
    levels = ["debug", "info", "warning", "error"]
    return {
        "level": settings.log_level,
        "written": levels[levels.index(settings.log_level) :],
        "destination": "standard error (collected by systemd's journal or the container)",
        "carries": "time, level, logger, event names, random connection ids, staff ids",
        "never": "message content, tokens, IP addresses, user agents",
        "access_log": "off: the server runs without aiohttp's access log "
        "(chatserver/web/app.py, `run`) and the CLI disables it (chatserver/ops/cli.py)",
        "metrics": "/metrics: counts and latencies with fixed labels (role, code, result)",
    }


def _backups(settings: Settings) -> dict[str, Any]:
    same_dir = None
    if settings.is_sqlite and settings.keystore.startswith("sqlite"):
        db_path = Path(make_url(settings.database_url).database or "").resolve().parent
        key_path = Path(make_url(settings.keystore).database or "").resolve().parent
        same_dir = db_path == key_path
    return {
        "database": "chatserver backup FILE (SQLite: VACUUM INTO; PostgreSQL: pg_dump); "
        "never contains the keystore",
        "keystore": "chatserver backup --keystore FILE; keep few, short-lived generations "
        "apart from the database backups",
        "deletion": "deleting a conversation destroys its storage key first: in an older "
        "database backup its rows are ciphertext under a key that exists nowhere, once no "
        "keystore backup holds that key any more",
        "keystore_beside_database": same_dir,
    }


def _findings(data: dict[str, Any], settings: Settings, now: int) -> list[str]:
    """What a reader should look at: facts of this configuration, not judgements."""
    found = []
    if not data["installation"]["https"]:
        found.append(f"The public origin {settings.origin} is not https.")
    if not settings.cookie_secure:
        found.append("cookie_secure is off: the staff cookie is sent over plain HTTP too.")
    if not settings.require_totp:
        found.append("require_totp is off: staff may sign in without a second factor.")
    if data["backups"]["keystore_beside_database"]:
        found.append(
            "The keystore is in the same directory as the SQLite database: a backup of "
            "that directory holds the storage keys too, so deleted conversations in it "
            "stay readable. Back up with `chatserver backup`, or exclude the keystore."
        )
    for team in data["teams"]:
        for rule in team["rules"]:
            if rule["team_rule_ignored"]:
                found.append(
                    f"Team {team['slug']} set a rule for {rule['category']}, which the "
                    "sweeper applies operator-wide: the team's rule has no effect."
                )
    if data["third_party_sources"]:
        found.append(f"A policy allows other origins: {', '.join(data['third_party_sources'])}.")
    if data["schema"]["unclassified_tables"] or data["schema"]["address_like_columns"]:
        found.append("The schema has tables or columns this report does not account for.")
    reports = data["sweep_reports"]
    late = now - int(settings.retention_interval_minutes * 2 * 60_000)
    if not reports:
        found.append("No retention sweep report is in the audit log.")
    elif reports[0]["at"] < late:
        found.append(f"The last sweep report is from {iso(reports[0]['at'])}.")
    if reports and reports[0].get("errors"):
        found.append(f"The last sweep reported errors: {', '.join(reports[0]['errors'])}.")
    return found
