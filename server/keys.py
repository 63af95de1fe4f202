"""Every typed key of application state, so ``app[DB]`` is a ``Database``, not ``Any``.

The services behind these keys are built in one place (``app.build_services``); handlers
reach their logic through them. This module imports the service classes, never the other
way round: a service gets what it needs in its constructor, not from the app.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from .accounts import Accounts
from .api_tokens import ApiTokens
from .audit import AuditLog
from .auth import Auth
from .booking import Bookings
from .browse_cache import BrowseCache
from .config import Config
from .db import Database
from .events import Events
from .health import Health
from .idempotency import Idempotency
from .listener import Listener
from .live import Hub
from .metrics import Metrics
from .reports import Reports
from .sales import Sales
from .seatmaps import SeatMaps
from .security import AccessTokens
from .ticket_types import TicketTypes
from .tickets import Tickets
from .venues import Venues
from .webhooks import Sender, Webhooks

CONFIG = web.AppKey("config", Config)
# Made by create_app with its middleware (unless BOXOFFICE_METRICS=false).
METRICS = web.AppKey("metrics", Metrics)
# The OpenAPI document, built on startup once the router is final.
OPENAPI = web.AppKey("openapi", dict[str, Any])

DB = web.AppKey("db", Database)
TOKENS = web.AppKey("tokens", AccessTokens)
AUTH = web.AppKey("auth", Auth)
ACCOUNTS = web.AppKey("accounts", Accounts)
API_TOKENS = web.AppKey("api_tokens", ApiTokens)
IDEMPOTENCY = web.AppKey("idempotency", Idempotency)
EVENTS = web.AppKey("events", Events)
BROWSE = web.AppKey("browse", BrowseCache)
BOOKINGS = web.AppKey("bookings", Bookings)
TICKETS = web.AppKey("tickets", Tickets)
REPORTS = web.AppKey("reports", Reports)
AUDIT = web.AppKey("audit", AuditLog)
HUB = web.AppKey("hub", Hub)
LISTENER = web.AppKey("listener", Listener)
HEALTH = web.AppKey("health", Health)
VENUES = web.AppKey("venues", Venues)
SEAT_MAPS = web.AppKey("seat_maps", SeatMaps)
SALES = web.AppKey("sales", Sales)
TICKET_TYPES = web.AppKey("ticket_types", TicketTypes)
WEBHOOKS = web.AppKey("webhooks", Webhooks)
WEBHOOK_SENDER = web.AppKey("webhook_sender", Sender)
