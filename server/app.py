"""The application factory: ``create_app(config)`` builds a server with no side effects
until it starts; resources open and close in ``cleanup_ctx``, and every service is built
in one place, ``build_services``."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import aiohttp_jinja2
import aiopg
import jinja2
from aiohttp import web

from . import db, logs, periodic
from .accounts import Accounts
from .api_tokens import ApiTokens
from .audit import AuditLog
from .auth import Auth
from .booking import Bookings
from .browse_cache import BrowseCache
from .clients import proxies_middleware
from .config import Config, ConfigError
from .cors import cors_middlewares
from .envelope import PARSER_LIMITS, error_middleware
from .events import Events
from .handlers.meta import build_document, markdown
from .health import Health
from .idempotency import Idempotency
from .keys import (
    ACCOUNTS,
    API_TOKENS,
    AUDIT,
    AUTH,
    BOOKINGS,
    BROWSE,
    CONFIG,
    DB,
    EVENTS,
    HEALTH,
    HUB,
    IDEMPOTENCY,
    LISTENER,
    METRICS,
    REPORTS,
    SALES,
    SEAT_MAPS,
    TICKET_TYPES,
    TICKETS,
    TOKENS,
    VENUES,
    WEBHOOK_SENDER,
    WEBHOOKS,
)
from .listener import Listener
from .live import GOING_AWAY, Hub
from .metrics import Metrics, StateCollector, http_middleware
from .reports import Reports
from .routes import setup_routes
from .sales import Sales
from .seatmaps import SeatMaps
from .security import AccessTokens, Passwords
from .ticket_types import TicketTypes
from .tickets import Tickets
from .venues import Venues
from .webhooks import Sender, Webhooks

log = logging.getLogger(__name__)

# Ended sessions are kept this long (replays of their refresh tokens are refused either
# way; this is for whoever looks into an incident), and purged this often.
SESSION_GRACE_SECONDS = 7 * 24 * 3600
PURGE_SECONDS = 300.0
# How often the webhook outbox's backlog is measured for /metrics.
BACKLOG_SECONDS = 15.0


def run(config: Config, **run_app_args: Any) -> None:
    """Serve ``create_app(config)`` until stopped: ``boxoffice serve`` and each worker."""
    app = create_app(config)
    # What exists now lives as long as the process: frozen out of the collector's sight,
    # its full passes scan only what requests make (a hot event's p99 70 -> 45 ms).
    gc.freeze()
    web.run_app(app, host=config.host, port=config.port, **logs.access_log(config), **run_app_args)


def create_app(config: Config) -> web.Application:
    if not config.database_url:
        raise ConfigError("create_app needs a database URL (the CLI starts an embedded one)")
    if not config.jwt_secret:
        raise ConfigError("BOXOFFICE_JWT_SECRET is required")
    # CORS outside the error middleware, so error envelopes carry its headers too (a browser
    # reads them).
    middlewares = [*cors_middlewares(config.cors_origins), error_middleware]
    # The client behind trusted proxies, found before anything logs or answers. Without
    # trusted proxies it is the peer, read where needed: no middleware to pay for.
    if config.trusted_proxies:
        middlewares.insert(0, proxies_middleware(config.trusted_proxies))
    # Metrics outermost of all: each app counts into a registry of its own.
    # The websocket ("ws") is neither counted nor timed: it stays open for hours.
    metrics = Metrics(skip={"ws"}) if config.metrics else None
    if metrics is not None:
        middlewares.insert(0, http_middleware(metrics))
    app = web.Application(
        middlewares=middlewares,
        client_max_size=config.max_body_bytes,
        handler_args=PARSER_LIMITS,  # for every runner: serve, workers, demo and tests
    )
    app[CONFIG] = config
    if metrics is not None:
        app[METRICS] = metrics
    aiohttp_jinja2.setup(
        app,
        loader=jinja2.PackageLoader("server", "templates"),
        autoescape=True,
        filters={"markdown": markdown},
    )
    setup_routes(app)
    app.cleanup_ctx.append(services)
    app.cleanup_ctx.append(idempotency_purge)
    app.cleanup_ctx.append(live_updates)
    app.cleanup_ctx.append(hold_expiry)
    app.cleanup_ctx.append(account_purge)
    app.cleanup_ctx.append(webhook_sender)
    app.on_startup.append(build_document)
    app.on_shutdown.append(close_websockets)
    return app


async def services(app: web.Application) -> AsyncIterator[None]:
    """Open the pool (migrating the schema first) and the bcrypt threads, build the services
    on them; close them after."""
    config = app[CONFIG]
    pool = await db.create_pool(
        config.database_url or "", minsize=config.pool_min_size, maxsize=config.pool_max_size
    )
    # bcrypt leaves a core to the event loop: a login flood then slows bookings less
    # (bench/logins.py on 2 cores: 134 bookings/s during a flood, 97 with both cores).
    threads = max(1, (os.cpu_count() or 2) - 1)
    executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="bcrypt")
    queue = 4 * threads if config.bcrypt_queue is None else config.bcrypt_queue
    reads: aiopg.Pool | None = None
    try:
        applied = await db.migrate(pool)
        if applied:
            log.info("applied migrations: %s", ", ".join(applied))
        if config.read_database_url:
            reads = await db.create_pool(
                config.read_database_url, minsize=1, maxsize=config.pool_max_size
            )
        passwords = Passwords(config.bcrypt_rounds, executor, limit=threads + queue)
        build_services(
            app, db.Database(pool), passwords, reads=db.Database(reads) if reads else None
        )
        try:
            yield
        finally:
            await app[BOOKINGS].close()
    finally:
        for opened in (reads, pool):
            if opened is not None:
                opened.close()
                await opened.wait_closed()
        executor.shutdown(wait=True)


def build_services(
    app: web.Application,
    database: db.Database,
    passwords: Passwords,
    *,
    reads: db.Database | None = None,
) -> None:
    """Every service, each under its key (``server/keys.py``): the one place they are made.
    Constructors only keep what they are given; the background work starts elsewhere.
    ``reads`` (BOXOFFICE_READ_DATABASE_URL): where the reports read, else ``database``."""
    reads = reads or database
    config = app[CONFIG]
    metrics = app.get(METRICS)
    tokens = AccessTokens(config.jwt_secret, config.access_token_ttl)
    hub = Hub(database, config.live_flush_interval)
    accounts = Accounts(database, config.access_token_ttl)
    browse = BrowseCache(enabled=config.browse_cache)
    bookings = Bookings(database, config, metrics)
    sender = Sender(database, config, busy=lambda: bookings.placing > 0)
    listener = Listener(
        config.database_url or "",
        hub,
        accounts,
        browse,
        ping_interval=config.listen_ping_interval,
        webhooks=sender.wake,
    )
    app[DB] = database
    app[TOKENS] = tokens
    app[AUTH] = Auth(database, passwords, tokens, config)
    app[ACCOUNTS] = accounts
    app[API_TOKENS] = ApiTokens(database, passwords, config.api_token_cache_seconds)
    app[IDEMPOTENCY] = Idempotency(database, config.idempotency_key_ttl)
    app[EVENTS] = Events(database)
    app[BROWSE] = browse
    app[BOOKINGS] = bookings
    app[TICKETS] = Tickets(database)
    app[REPORTS] = Reports(reads)
    app[VENUES] = Venues(database)
    app[SEAT_MAPS] = SeatMaps(database)
    app[SALES] = Sales(reads)
    app[TICKET_TYPES] = TicketTypes(database)
    app[AUDIT] = AuditLog(reads)
    app[WEBHOOK_SENDER] = sender
    app[WEBHOOKS] = Webhooks(database, sender)
    app[HUB] = hub
    app[LISTENER] = listener
    app[HEALTH] = Health(database, listener)
    if metrics is not None:
        metrics.watch(StateCollector(database, hub, listener, accounts, bookings, sender))


async def live_updates(app: web.Application) -> AsyncIterator[None]:
    """Run the hub of websocket subscribers and the LISTEN connection that feeds it."""
    hub, listener = app[HUB], app[LISTENER]
    tasks = [
        asyncio.create_task(hub.flush_forever(), name="live-flush"),
        asyncio.create_task(listener.run_forever(), name="listen"),
    ]
    # Serve only once changes can be heard (or after a while without: it keeps trying).
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(10):
            await listener.connected.wait()
    yield
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def hold_expiry(app: web.Application) -> AsyncIterator[None]:
    """Release lapsed holds on time. Every instance sweeps; SKIP LOCKED shares the work."""

    async def sweep() -> None:
        if expired := await app[BOOKINGS].expire_holds():
            log.info("released %d expired hold(s)", expired)

    async with periodic.every(app[CONFIG].hold_sweep_seconds, sweep, "hold expiry sweep"):
        yield


async def idempotency_purge(app: web.Application) -> AsyncIterator[None]:
    """Forget idempotency keys past their time to live."""
    keys = app[IDEMPOTENCY]

    async def purge() -> None:
        if purged := await keys.purge():
            log.info("forgot %d expired idempotency key(s)", purged)

    async with periodic.every(keys.purge_interval, purge, "idempotency purge"):
        yield


async def account_purge(app: web.Application) -> AsyncIterator[None]:
    """Forget what accounts leave behind once it can matter no more: sessions that ended
    more than a grace period ago, and login and registration counts that have aged out."""

    async def purge() -> None:
        if purged := await app[ACCOUNTS].purge_sessions(SESSION_GRACE_SECONDS):
            log.info("purged %d ended session(s)", purged)
        if purged := await app[AUTH].purge_throttles():
            log.info("purged %d aged-out login and registration count(s)", purged)

    async with periodic.every(PURGE_SECONDS, purge, "account purge"):
        yield


async def webhook_sender(app: web.Application) -> AsyncIterator[None]:
    """Send the webhook outbox from this instance (unless BOXOFFICE_WEBHOOKS=false: then
    the others send it, or it waits), and forget deliveries past their keeping time."""
    if not app[CONFIG].webhooks:
        yield
        return
    sender = app[WEBHOOK_SENDER]

    async def purge() -> None:
        if purged := await sender.purge():
            log.info("forgot %d old webhook deliveries", purged)

    async with (
        sender.running(),
        periodic.every(PURGE_SECONDS, purge, "webhook purge"),
        periodic.every(BACKLOG_SECONDS, sender.measure_backlog, "webhook backlog"),
    ):
        yield


async def close_websockets(app: web.Application) -> None:
    await app[HUB].close_all(GOING_AWAY, "server shutting down")
