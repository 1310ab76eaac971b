"""Settings: one documented list, read from a TOML file and the environment.

Precedence: built-in default < TOML file (``--config`` or ``CHAT_CONFIG``) < environment
variable ``CHAT_<NAME>`` (upper case). Every setting has a heading in
``docs/operations.md``; a test fails when one is missing.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy.engine import make_url

__all__ = ["ConfigError", "Settings", "load_settings", "origin_of"]


class ConfigError(ValueError):
    """A setting has an invalid value."""


def _s(default: Any, help: str) -> Any:
    return field(default=default, metadata={"help": help})


def default_keystore_url(database_url: str) -> str:
    """``x.db`` → ``x.keys.db`` for SQLite; other databases must name their keystore."""
    url = make_url(database_url)
    if not url.drivername.startswith("sqlite") or url.database in (None, "", ":memory:"):
        raise ValueError(
            "set keystore_url: with PostgreSQL the storage keys live in a separate database"
        )
    return f"sqlite+aiosqlite:///{Path(url.database).with_suffix('')}.keys.db"


@dataclass(frozen=True, slots=True)
class Settings:
    host: str = _s(
        "127.0.0.1", "Address to listen on. Put a TLS proxy in front for anything public."
    )
    port: int = _s(8080, "TCP port to listen on.")
    public_origin: str = _s(
        "",
        "The origin browsers use to reach this server, e.g. https://chat.example.org. "
        "Defaults to http://HOST:PORT. Used for the Origin check, cookies and the embed snippet.",
    )
    database_url: str = _s(
        "sqlite+aiosqlite:///var/chat.db",
        "SQLAlchemy URL: sqlite+aiosqlite:///path/to/file.db or "
        "postgresql+asyncpg://user@host/db. Relative SQLite paths are relative to the "
        "working directory.",
    )
    keystore_url: str = _s(
        "",
        "Where the storage keys live, apart from the database and out of its backups. "
        "Default for SQLite: the database file's name with .keys.db. Required for "
        "PostgreSQL (a separate database, e.g. postgresql+asyncpg://chat@db/chat_keys).",
    )
    redis_url: str = _s(
        "",
        "Redis for fan-out between several server processes, e.g. redis://127.0.0.1:6379/0. "
        "Empty: one process, in-process fan-out.",
    )
    max_frame_bytes: int = _s(96 * 1024, "Largest WebSocket frame accepted, in bytes.")
    max_connections: int = _s(5000, "Open WebSocket connections per process; more are refused.")
    max_queued: int = _s(200, "Waiting conversations per team; further starts are refused.")
    frame_rate: float = _s(5.0, "Frames per second a connection may send on average.")
    frame_burst: int = _s(20, "Frames a connection may send in a burst.")
    starts_per_minute_free: int = _s(
        30, "Conversation starts per minute before `start` requires a proof of work."
    )
    pow_max_difficulty: int = _s(20, "Highest proof-of-work difficulty, in leading zero bits.")
    counsellor_cap: int = _s(3, "Default number of chats a counsellor may hold at once.")
    session_hours: float = _s(12.0, "Lifetime of a staff session without activity.")
    login_attempts: int = _s(5, "Failed logins per account within 15 minutes before a lockout.")
    require_totp: bool = _s(
        True,
        "Staff accounts must set up two-factor sign-in (TOTP) before the console and the "
        "staff APIs serve them; the console enrols it at the first sign-in. Set false only "
        "for the demo.",
    )
    cookie_secure: bool = _s(
        True,
        "Mark the session cookie Secure. Set false only for plain-HTTP development on "
        "localhost (the demo does).",
    )
    send_queue: int = _s(
        256, "Frames buffered per connection; a peer that falls this far behind is dropped."
    )
    commit_batch: int = _s(512, "Most messages written in one group commit.")
    epoch_warning_days: float = _s(
        7.0,
        "Admins are warned when a team's uploaded epochs end sooner than this many days.",
    )
    retention_defaults: str = _s(
        "",
        "Operator defaults replacing the built-in retention rules, e.g. "
        "'messages=48h, metadata=90d' (categories and defaults: docs/retention.md).",
    )
    retention_min: str = _s(
        "", "Shortest retention a team may set per category, e.g. 'messages=24h'."
    )
    retention_max: str = _s(
        "", "Longest retention a team may set per category, e.g. 'messages=30d, metadata=365d'."
    )
    retention_in_process: bool = _s(
        True,
        "Run the retention sweeper inside the server process. Set false when "
        "`chatserver retention worker` runs it instead.",
    )
    retention_interval_minutes: float = _s(15.0, "Minutes between retention sweeps.")
    retention_batch: int = _s(
        2000,
        "Messages a sweep deletes between two pauses, in transactions of a few milliseconds.",
    )
    retention_pause_ms: int = _s(
        20, "Pause between a sweep's delete batches, so live chats are never stalled."
    )
    log_level: str = _s("info", "debug, info, warning or error. Logs never carry content.")
    static_dir: str = _s("", "Serve widget and console files from here instead of the package.")

    # --------------------------------------------------------------- derived
    @property
    def origin(self) -> str:
        return self.public_origin or f"http://{self.host}:{self.port}"

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def keystore(self) -> str:
        """The keystore URL, defaulted beside a SQLite database."""
        if self.keystore_url:
            return self.keystore_url
        return default_keystore_url(self.database_url)

    def replace(self, **changes: Any) -> Settings:
        return dataclasses.replace(self, **changes)


def origin_of(value: str) -> str:
    """Normalise an origin (scheme://host[:port]) or raise :class:`ConfigError`."""
    parts = urlsplit(value.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"not an origin: {value!r} (expected https://host[:port])")
    if parts.path not in ("", "/") or parts.query or parts.fragment or parts.username:
        raise ConfigError(f"an origin has no path, query or credentials: {value!r}")
    default_port = {"http": 80, "https": 443}[parts.scheme]
    port = "" if parts.port in (None, default_port) else f":{parts.port}"
    return f"{parts.scheme}://{parts.hostname.lower()}{port}"


def _coerce(name: str, kind: Any, raw: Any) -> Any:
    try:
        if kind in (bool, "bool"):
            if isinstance(raw, bool):
                return raw
            text = str(raw).strip().lower()
            if text in ("1", "true", "yes", "on"):
                return True
            if text in ("0", "false", "no", "off"):
                return False
            raise ValueError(raw)
        if kind in (int, "int"):
            if isinstance(raw, bool):
                raise ValueError(raw)
            return int(raw)
        if kind in (float, "float"):
            return float(raw)
        if not isinstance(raw, (str, int, float)):
            raise ValueError(raw)
        return str(raw)
    except (ValueError, TypeError):
        raise ConfigError(f"setting {name}: invalid value {raw!r}") from None


def load_settings(
    path: str | os.PathLike[str] | None = None,
    environ: Mapping[str, str] | None = None,
    **overrides: Any,
) -> Settings:
    """Build :class:`Settings` from a TOML file, the environment and explicit overrides."""
    env = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    fields = {f.name: f for f in dataclasses.fields(Settings)}
    path = path or env.get("CHAT_CONFIG") or None
    if path:
        try:
            data = tomllib.loads(Path(path).read_text("utf-8"))
        except OSError as exc:
            raise ConfigError(f"cannot read {path}: {exc.strerror or exc}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path} is not valid TOML: {exc}") from None
        for key, raw in data.items():
            if key not in fields:
                raise ConfigError(f"unknown setting {key!r} in {path}")
            values[key] = _coerce(key, fields[key].type, raw)
    for name, f in fields.items():
        raw = env.get(f"CHAT_{name.upper()}")
        if raw is not None:
            values[name] = _coerce(name, f.type, raw)
    values.update(overrides)
    settings = Settings(**values)
    if settings.public_origin:
        settings = settings.replace(public_origin=origin_of(settings.public_origin))
    if not settings.keystore_url and not settings.is_sqlite:
        raise ConfigError("setting keystore_url is required with a database other than SQLite")
    if settings.keystore_url and settings.keystore_url == settings.database_url:
        raise ConfigError("keystore_url must not be the database itself (backups include it)")
    from chatserver.retention_rules import RuleError, Rules

    try:
        Rules.from_settings(
            settings.retention_defaults, settings.retention_min, settings.retention_max
        )
    except RuleError as exc:
        raise ConfigError(f"retention settings: {exc}") from None
    if settings.retention_interval_minutes <= 0 or settings.retention_batch < 1:
        raise ConfigError("retention_interval_minutes and retention_batch must be positive")
    if settings.log_level not in ("debug", "info", "warning", "error"):
        raise ConfigError(f"setting log_level: invalid value {settings.log_level!r}")
    return settings
