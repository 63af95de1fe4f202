"""Typed keys for application state, so ``app[DB]`` is a ``Database``, not ``Any``."""

from __future__ import annotations

from aiohttp import web

from .accounts import Accounts
from .auth import Auth
from .booking import Bookings
from .config import Config
from .db import Database
from .events import Events
from .listener import Listener
from .live import Hub
from .security import AccessTokens

CONFIG = web.AppKey("config", Config)
DB = web.AppKey("db", Database)
TOKENS = web.AppKey("tokens", AccessTokens)
AUTH = web.AppKey("auth", Auth)
ACCOUNTS = web.AppKey("accounts", Accounts)
EVENTS = web.AppKey("events", Events)
BOOKINGS = web.AppKey("bookings", Bookings)
HUB = web.AppKey("hub", Hub)
LISTENER = web.AppKey("listener", Listener)
