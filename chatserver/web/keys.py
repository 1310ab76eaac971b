"""Typed application keys: everything a handler needs, no module-level state."""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web

from retention.scheduler import SweepScheduler

from ..auth import LoginThrottle
from ..config import Settings
from ..hub import Hub
from ..metrics import Metrics
from ..service import ChatService
from ..storage.db import Database
from ..storage.keystore import Keystore
from ..storage.store import Store
from .connection import Connection

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
