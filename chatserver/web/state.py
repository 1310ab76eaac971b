"""Typed application keys: everything a handler needs, no module-level state."""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web

from chatserver.chat.hub import Hub
from chatserver.chat.service import ChatService
from chatserver.config import Settings
from chatserver.metrics import Metrics
from chatserver.staff.auth import LoginThrottle
from chatserver.storage.db import Database
from chatserver.storage.keystore import Keystore
from chatserver.storage.store import Store
from chatserver.web.ws.connection import Connection
from retention.scheduler import SweepScheduler

SETTINGS = web.AppKey("settings", Settings)
Clock = Callable[[], float]
CLOCK: web.AppKey[Clock] = web.AppKey("clock")
DB = web.AppKey("db", Database)
STORE = web.AppKey("store", Store)
KEYSTORE = web.AppKey("keystore", Keystore)
HUB = web.AppKey("hub", Hub)
SERVICE = web.AppKey("service", ChatService)
METRICS = web.AppKey("metrics", Metrics)
THROTTLE = web.AppKey("throttle", LoginThrottle)
CONNECTIONS: web.AppKey[set[Connection]] = web.AppKey("connections")
SWEEPS = web.AppKey("sweeps", SweepScheduler)
