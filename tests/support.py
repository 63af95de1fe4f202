"""What tests import: talking to the server as a logged-in actor (``call``, ``Actor``,
``Actors``, ``register``, ``login``), building requests (``event_body``, ``access_claims``)
and reading the database directly (``rows``, ``seat_ledger_errors``, ``RowLock``). Fixtures live in
conftest.py and only there; driving a separate server process is server_process.py's,
the terminal app tui_support.py's."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import aiopg
import psycopg2
from aiohttp.test_utils import TestClient

from common.models import Role
from server import db
from server import queries as q
from server.keys import AUTH
from server.listener import APPLICATION_NAME
from server.reports import ledger_errors

PASSWORD = "correct horse battery"


# --- the HTTP API ----------------------------------------------------------------------


@dataclass
class Reply:
    status: int
    body: dict[str, Any]
    headers: Any = field(repr=False)

    @property
    def data(self) -> Any:
        return self.body["data"]

    @property
    def fields(self) -> list[str]:
        """The fields named in a validation error."""
        return [e["field"] for e in (self.body.get("data") or {}).get("errors", [])]


async def call(
    client: TestClient, method: str, path: str, *, token: str | None = None, **kwargs: Any
) -> Reply:
    """Make a request and check the envelope contract on whatever comes back."""
    headers = dict(kwargs.pop("headers", {}))
    if token:
        headers["Authorization"] = f"Bearer {token}"
    async with client.request(method, path, headers=headers, **kwargs) as resp:
        body = await resp.json()
        assert set(body) == {"code", "message", "status", "data"}, body
        assert body["code"] == resp.status, body
        assert body["status"] == ("success" if resp.status < 400 else "error"), body
        assert resp.status != 500, body
        return Reply(resp.status, body, resp.headers)


@dataclass
class Actor:
    """A logged-in account with one role, making requests through the real server."""

    client: TestClient
    user_id: int
    username: str
    role: Role
    token: str
    refresh_token: str

    async def call(self, method: str, path: str, **kwargs: Any) -> Reply:
        return await call(self.client, method, path, token=self.token, **kwargs)

    async def get(self, path: str, **kwargs: Any) -> Reply:
        return await self.call("GET", path, **kwargs)

    async def post(self, path: str, json: Any = None, **kwargs: Any) -> Reply:
        return await self.call("POST", path, json=json, **kwargs)

    async def delete(self, path: str, **kwargs: Any) -> Reply:
        return await self.call("DELETE", path, **kwargs)


async def register(
    client: TestClient, username: str, password: str = PASSWORD, **extra: Any
) -> Reply:
    body = {"username": username, "password": password, **extra}
    return await call(client, "POST", "/api/v1/auth/register", json=body)


async def login(client: TestClient, username: str, password: str = PASSWORD) -> Reply:
    body = {"username": username, "password": password}
    return await call(client, "POST", "/api/v1/auth/login", json=body)


def access_claims(who: Actor, **changes: Any) -> dict[str, Any]:
    """The claims of an access token for ``who``, built here as the server builds its own
    (not with its code): ``changes`` replace them, and a claim set to None is left out."""
    now = int(time.time())
    claims = {
        "sub": str(who.user_id),
        "name": who.username,
        "role": who.role,
        "typ": "access",
        "iat": now,
        "exp": now + 600,
        **changes,
    }
    return {name: value for name, value in claims.items() if value is not None}


class Actors:
    """Makes accounts on a server: ``await Actors(client).new("admin")`` is a logged-in
    admin (the ``actors`` fixture is one for the ``client`` fixture's server)."""

    def __init__(self, client: TestClient) -> None:
        self.client = client
        self._n = 0

    async def new(self, role: Role = "user", username: str | None = None) -> Actor:
        self._n += 1
        username = username or f"{role}{self._n}"
        row = await self.client.server.app[AUTH].create_user(username, PASSWORD, role)
        reply = await call(
            self.client,
            "POST",
            "/api/v1/auth/login",
            json={"username": username, "password": PASSWORD},
        )
        assert reply.status == 200, reply.body
        return Actor(
            self.client,
            row["id"],
            username,
            role,
            reply.data["access_token"],
            reply.data["refresh_token"],
        )


def event_body(**overrides: Any) -> dict[str, Any]:
    body = {
        "title": "Test Concert",
        "description": "A night of tests",
        "date": "2099-06-01T19:30:00+00:00",
        "venue": "Loopback Hall",
        "total_seats": 100,
        "price": "25.00",
    }
    body.update(overrides)
    return body


def small_plan(**overrides: Any) -> dict[str, Any]:
    """Two sections, three zones, a gap, descending and odd/even numbering, and flags."""
    plan = {
        "name": "The Playhouse",
        "address": "1 High Street",
        "zones": [
            {"code": "A", "name": "Front", "rank": 1},
            {"code": "B", "name": "Back", "rank": 2},
            {"code": "C", "name": "Circle", "rank": 3},
        ],
        "sections": [
            {
                "name": "Stalls",
                "zone": "A",
                "rows": [
                    {"row": "A", "y": 0, "x": 1, "seats": "1-4, _, _, 5-8", "wheelchair": "1,8"},
                    {"row": "B", "y": 1, "seats": "10-1", "zone": "B", "companion": "2-3"},
                ],
            },
            {
                "name": "Circle",
                "y": 5,
                "zone": "C",
                "rows": [
                    {
                        "row": "A",
                        "y": 0,
                        "seats": "7-1/2, _, 2-8/2",
                        "restricted": "*",
                        "zone_seats": {"B": "7, 8"},
                    }
                ],
            },
        ],
    }
    plan.update(overrides)
    return plan


async def seated_venue(admin: Actor, **overrides: Any) -> dict[str, Any]:
    """A venue made through the API on ``small_plan`` (26 seats, zones A, B and C)."""
    reply = await admin.post("/api/v1/venues", json=small_plan(**overrides))
    assert reply.status == 201, reply.body
    return reply.data


def event_only(detail: dict[str, Any]) -> dict[str, Any]:
    """GET /events/{id}'s answer without its ticket types: the event as lists show it."""
    return {name: value for name, value in detail.items() if name != "ticket_types"}


# --- the database, directly ------------------------------------------------------------


def rows(dsn: str, statement: str, *args: Any, **named: Any) -> list[tuple[Any, ...]]:
    """Run ``statement`` on a connection of its own, with positional or named parameters."""
    conn = psycopg2.connect(dsn)
    try:
        with conn.cursor() as cur:
            cur.execute(statement, named or args)
            return cur.fetchall()
    finally:
        conn.close()


async def place_order(actor: Actor, **order: Any) -> Reply:
    """``POST /api/v1/orders`` by ``actor``: ``place_order(admin, event_id=7, lines=[...])``."""
    return await actor.post("/api/v1/orders", json=order)


def cut_listeners(dsn: str) -> int:
    """End the servers' LISTEN connections to this database, as a network cut or a database
    restart would; how many there were."""
    [(cut,)] = rows(
        dsn,
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
        "WHERE application_name = %s AND datname = current_database()",
        APPLICATION_NAME,
    )
    return cut


def seat_ledger_errors(dsn: str) -> list[str]:
    """What is wrong in the seat ledger (``server.reports.ledger_errors``), one line per
    event at fault; none when the database is not (fully) migrated."""
    [(migrated,)] = rows(dsn, "SELECT to_regclass('schema_migrations') IS NOT NULL")
    if not migrated:
        return []
    applied = {version for (version,) in rows(dsn, "SELECT version FROM schema_migrations")}
    if applied != {version for version, _, _ in db.migration_files()}:
        return []  # an upgrade test stopped part way: the ledger's statement may not apply
    return ledger_errors(rows(dsn, q.SEAT_LEDGER.sql, **q.SEAT_LEDGER.params({})))


def free_by_default(make_event: Any) -> Any:
    """``make_event`` making free events unless told a price: for tests about seats and
    retries, where a user's booking must be a sale (of a priced event it is a hold, see
    test_selling.py)."""

    async def make(**overrides: Any) -> dict[str, Any]:
        return await make_event(**{"price": "0.00", **overrides})

    return make


# --- seated events ---------------------------------------------------------------------


def seat_states(dsn: str, event_id: int) -> tuple[int, dict[int, str]]:
    """The event's version and its seats' states, read together."""
    found = rows(
        dsn,
        "SELECT e.version, s.seat_id, s.state FROM events e"
        " JOIN event_seats s ON s.event_id = e.id WHERE e.id = %s",
        event_id,
    )
    return found[0][0], {seat: state for _, seat, state in found}


async def add_type(admin: Actor, event_id: int, name: str, **fields: Any) -> int:
    """A ticket type of the event, made through the API."""
    body = {"name": name, **{k: str(v) if isinstance(v, Decimal) else v for k, v in fields.items()}}
    reply = await admin.post(f"/api/v1/events/{event_id}/ticket-types", json=body)
    assert reply.status == 201, reply.body
    return reply.data["id"]


async def orders_waiting(via: Actor) -> int:
    """Orders waiting in the server for their event's statement in flight (its metrics)."""
    async with via.client.get("/metrics") as resp:
        text = await resp.text()
    [line] = [line for line in text.splitlines() if line.startswith("boxoffice_orders_waiting ")]
    return int(float(line.split()[1]))


class RowLock:
    """Holds an event's row lock from a transaction outside the server, so requests can be
    queued behind it in a known order. PostgreSQL grants a row version to its waiters in
    turn, so the order is certain for two waiters when the first one updates the row."""

    def __init__(self, database_url: str) -> None:
        self.url = database_url
        self.holder: Any = None
        self.watcher: Any = None

    async def hold(self, event_id: int) -> None:
        self.watcher = await aiopg.connect(self.url)
        self.holder = psycopg2.connect(self.url)
        with self.holder.cursor() as cur:
            cur.execute("SELECT id FROM events WHERE id = %s FOR UPDATE", (event_id,))

    async def queue(self, request: Awaitable[Reply], waiting: int) -> asyncio.Task[Reply]:
        """Send a request and return once it is the ``waiting``-th one waiting for a lock."""
        task = asyncio.ensure_future(request)
        await self.until_waiting(waiting, task)
        return task

    async def until_waiting(self, waiting: int, task: asyncio.Future[Reply] | None = None) -> None:
        """Return once ``waiting`` statements wait for a lock (``task`` must not end first)."""
        async with asyncio.timeout(10):
            while await self._waiting() < waiting:
                assert task is None or not task.done(), task.result().body  # it should wait

    async def _waiting(self) -> int:
        async with self.watcher.cursor() as cur:
            await cur.execute(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
            (count,) = await cur.fetchone()
            return int(count)

    async def combine(
        self, request: Awaitable[Reply], waiting: int, via: Actor
    ) -> asyncio.Task[Reply]:
        """Send an order of the held event and return once it is the ``waiting``-th one
        waiting in the server for the event's statement in flight, to go with the next
        (server/combining.py), as the server's metrics say."""
        task = asyncio.ensure_future(request)
        async with asyncio.timeout(10):
            while await orders_waiting(via) < waiting:
                assert not task.done(), task.result().body  # it should be waiting
        return task

    def release(self) -> None:
        self.holder.commit()

    def close(self) -> None:
        if self.holder is not None:
            self.holder.close()
        if self.watcher is not None:
            self.watcher.close()
