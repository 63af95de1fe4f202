"""Prometheus metrics: one registry per application, never the global one.

``create_app`` makes a ``Metrics`` (unless ``BOXOFFICE_METRICS=false``), so two apps in
one process (the tests make many) each count their own requests. HTTP series are
aiohttp-prometheus-exporter's, through ``http_middleware``: labelled by route template,
method and status, with the exporter's client-address label always empty, so their number
stays bounded. Business counters are bumped in Python after the
statement that decided the outcome: the booking hot path does no extra database work.
Gauges of things that already exist elsewhere (websocket subscribers, pool connections,
the LISTEN connection) are read when Prometheus scrapes, by ``StateCollector``, which
``watch`` gives the services once they are built.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from aiohttp_prometheus_exporter.handler import metrics as exporter_handler
from aiohttp_prometheus_exporter.middleware import prometheus_middleware_factory
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from .accounts import Accounts
from .booking import Bookings
from .db import Database
from .envelope import Handler
from .listener import Listener
from .live import Hub
from .webhooks import Sender

# Any other method (aiohttp accepts any token) is "other": labels stay a small set.
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class Metrics:
    """Every series of one application, in its own ``CollectorRegistry``."""

    def __init__(self, skip: Iterable[str] = ()) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        # HTTP: aiohttp-prometheus-exporter's series, named as the seed's (http_requests_total,
        # http_request_duration_seconds, http_requests_in_progress), through http_middleware.
        self.http = prometheus_middleware_factory(metrics_prefix="http", registry=r)
        for collector in list(r._collector_to_names):  # only the exporter's, so far
            _memoise_labels(collector)
        self.skip = frozenset(skip)
        self.handler = exporter_handler(r)
        self.bookings = Counter(
            "boxoffice_bookings",
            "Orders (bookings) placed, by outcome: created, held, refused_sold_out, "
            "refused_started, refused_not_found, refused_too_many, refused_hold_limit, "
            "refused_staff_field, refused_seats_taken, refused_quota, refused_invalid",
            ["outcome"],
            registry=r,
        )
        self.confirmations = Counter(
            "boxoffice_hold_confirmations",
            "Hold confirmations by outcome: confirmed, expired, not_found, forbidden, refused",
            ["outcome"],
            registry=r,
        )
        self.cancellations = Counter(
            "boxoffice_cancellations",
            "Cancellations by outcome: cancelled, not_found, already_cancelled, refused_used, "
            "forbidden",
            ["outcome"],
            registry=r,
        )
        self.returns = Counter(
            "boxoffice_returns",
            "Ticket returns by outcome: returned, not_found, forbidden, refused_<reason>",
            ["outcome"],
            registry=r,
        )
        self.seats_sold = Counter(
            "boxoffice_seats_sold",
            "Seats sold: confirmed bookings and confirmed holds (cancellations not deducted)",
            registry=r,
        )
        # Orders are combined per event (server/combining.py): how many each statement placed.
        self.order_batches = Histogram(
            "boxoffice_order_batch_size",
            "Orders placed by one statement: those of an event that arrived while its "
            "previous statement ran",
            buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256),
            registry=r,
        )
        self.holds_expired = Counter(
            "boxoffice_holds_expired", "Holds released by the expiry sweep", registry=r
        )
        self.checkins = Counter(
            "boxoffice_checkins",
            "Ticket scans by outcome: admitted, already_admitted, unknown_code, not_admissible",
            ["outcome"],
            registry=r,
        )

    def watch(self, state: StateCollector) -> None:
        """Also report what ``state`` reads from the running services at scrape time."""
        self.registry.register(state)


@dataclass(frozen=True, slots=True)
class StateCollector:
    """Gauges and counters read from the running services at scrape time: the websocket
    subscribers, the LISTEN connection, the pool, the map of accounts whose tokens a
    change affected, the orders waiting their turn, and the webhook sender's outcomes."""

    database: Database
    hub: Hub
    listener: Listener
    accounts: Accounts
    bookings: Bookings
    sender: Sender

    def describe(self) -> list[Metric]:
        return list(self._families())

    def collect(self) -> Iterator[Metric]:
        return self._families(read=True)

    def _families(self, read: bool = False) -> Iterator[Metric]:
        subscribers = GaugeMetricFamily(
            "boxoffice_websocket_subscribers", "Websocket clients connected to this instance"
        )
        connected = GaugeMetricFamily(
            "boxoffice_listen_connected", "1 while the LISTEN connection is up, else 0"
        )
        reconnects = CounterMetricFamily(
            "boxoffice_listen_reconnects", "Times the LISTEN connection came back after a loss"
        )
        pool_size = GaugeMetricFamily(
            "boxoffice_db_pool_connections", "Connections the database pool holds open"
        )
        pool_free = GaugeMetricFamily(
            "boxoffice_db_pool_free_connections", "Pool connections idle, ready to be taken"
        )
        pool_max = GaugeMetricFamily(
            "boxoffice_db_pool_max_connections", "The most connections the pool may open"
        )
        accounts = GaugeMetricFamily(
            "boxoffice_accounts_watched",
            "Accounts whose access tokens a change affected (disabled, or changed within a "
            "token's lifetime), held in memory to check tokens without a round trip",
        )
        synced = GaugeMetricFamily(
            "boxoffice_accounts_synced",
            "1 while that map holds every change (tokens are checked in memory), else 0 "
            "(they are checked against the database)",
        )
        waiting = GaugeMetricFamily(
            "boxoffice_orders_waiting",
            "Orders waiting for their event's statement in flight, to go together as its next",
        )
        deliveries = CounterMetricFamily(
            "boxoffice_webhook_deliveries",
            "Webhook deliveries this instance sent, by outcome: delivered (a 2xx), or failed "
            "(an attempt that timed out, failed to connect or got another status; retried)",
            labels=["outcome"],
        )
        pending = GaugeMetricFamily(
            "boxoffice_webhook_pending",
            "Deliveries that active webhook endpoints have still to receive (the whole "
            "outbox, as measured every 15 s: the same on every instance)",
        )
        oldest = GaugeMetricFamily(
            "boxoffice_webhook_oldest_pending_seconds",
            "How long ago the oldest of those was made: how far behind the webhooks are",
        )
        if read:
            pending.add_metric([], self.sender.backlog[0])
            oldest.add_metric([], self.sender.backlog[1])
            deliveries.add_metric(["delivered"], self.sender.sent)
            deliveries.add_metric(["failed"], self.sender.failed_attempts)
            waiting.add_metric([], self.bookings.waiting)
            accounts.add_metric([], self.accounts.watched)
            synced.add_metric([], 1 if self.accounts.synced else 0)
            subscribers.add_metric([], len(self.hub.subscribers))
            connected.add_metric([], 1 if self.listener.connected.is_set() else 0)
            reconnects.add_metric([], self.listener.reconnects)
            pool = self.database.pool
            pool_size.add_metric([], pool.size)
            pool_free.add_metric([], pool.freesize)
            pool_max.add_metric([], pool.maxsize)
        yield from (subscribers, connected, reconnects, pool_size, pool_free, pool_max)
        yield from (accounts, synced, waiting, deliveries, pending, oldest)


Middleware = Callable[[web.Request, Handler], Awaitable[web.StreamResponse]]


def _memoise_labels(metric: Any) -> None:
    """The exporter asks for each series' child five times a request, by keyword: the
    lookup (label checks, a lock, a tuple of str) cost more than the count. Its children,
    found once per label values, are kept; as many as there are series."""
    find = metric.labels
    children: dict[tuple[Any, ...], Any] = {}

    def labels(**values: Any) -> Any:
        key = tuple(values.values())  # the exporter always names them in one order
        child = children.get(key)
        if child is None:
            child = children[key] = find(**values)
        return child

    metric.labels = labels


class _Seen:
    """What the exporter reads of a request, with its client-address label neutralised
    (one empty value, so series stay bounded and name nobody) and the method one of a
    small set (aiohttp accepts any token)."""

    __slots__ = ("match_info", "method", "remote", "scheme")

    def __init__(self, request: web.Request) -> None:
        self.match_info = request.match_info
        self.method = request.method if request.method in METHODS else "other"
        self.remote = ""
        self.scheme = request.scheme


def http_middleware(metrics: Metrics) -> Middleware:
    """The exporter's middleware, outermost so it sees final statuses, given a ``_Seen``
    instead of the request; routes in ``metrics.skip`` (the websocket, open for hours)
    are neither counted nor timed."""
    exporter, skip = metrics.http, metrics.skip

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.match_info.route.name in skip:
            return await handler(request)
        return await exporter(_Seen(request), lambda _: handler(request))

    return middleware
