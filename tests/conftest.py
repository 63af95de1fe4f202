"""Fixtures: a real PostgreSQL, a real server on loopback, and actors with each role.

The database is BOXOFFICE_TEST_DATABASE_URL when set, else the server on 127.0.0.1:5432
(user postgres) when one answers, else an embedded PostgreSQL started for the session.
Each session works in a database of its own, dropped at the end; tables are emptied
before every test.
"""

from __future__ import annotations

import functools
import os
import shutil
import signal
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg2
import pytest
from aiohttp.test_utils import TestClient
from server_process import ledger, rows

from common.models import Role
from server import embedded
from server.app import create_app
from server.config import Config
from server.keys import AUTH

TABLES = (
    "bookings",
    "events",
    "sessions",
    "throttles",
    "users",
    "audit_log",
    "idempotency_keys",
    "api_tokens",
)


def _admin(dsn: str) -> Any:
    conn = psycopg2.connect(dsn)
    conn.autocommit = True
    return conn


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    with embedded.scratch_database("boxoffice_test") as url:
        yield url


@pytest.fixture
def scratch_dsn() -> Iterator[str]:
    """A new, empty database of its own: for a server run as a separate process, or to
    migrate step by step."""
    with embedded.scratch_database("boxoffice_proc") as url:
        yield url


@pytest.fixture
def config(database_url: str) -> Config:
    return Config(
        database_url=database_url,
        jwt_secret="test-secret-" + "x" * 40,
        bcrypt_rounds=4,
        pool_min_size=1,
        pool_max_size=20,
        # Tests register and log in many accounts from one address, many at once; the
        # tests of these limits set their own.
        register_max_per_address=100_000,
        bcrypt_queue=100_000,
    )


@pytest.fixture
def clean_db(database_url: str) -> None:
    conn = _admin(database_url)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT to_regclass('users') IS NOT NULL")
            if cur.fetchone()[0]:
                cur.execute(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY CASCADE")
    finally:
        conn.close()


@pytest.fixture
async def client(aiohttp_client: Any, config: Config, clean_db: None) -> TestClient:
    return await aiohttp_client(create_app(config))


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


PASSWORD = "correct horse battery"


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
    """Makes accounts: ``await actors.new("admin")`` is a logged-in admin."""

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


@pytest.fixture
def actors(client: TestClient) -> Actors:
    return Actors(client)


@pytest.fixture
async def admin(actors: Actors) -> Actor:
    return await actors.new("admin")


@pytest.fixture
async def clerk(actors: Actors) -> Actor:
    return await actors.new("clerk")


@pytest.fixture
async def user(actors: Actors) -> Actor:
    return await actors.new("user")


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


@pytest.fixture
async def make_event(admin: Actor) -> Any:
    """``await make_event(total_seats=5)`` creates an event through the API."""

    async def make(**overrides: Any) -> dict[str, Any]:
        reply = await admin.post("/api/v1/events", json=event_body(**overrides))
        assert reply.status == 201, reply.body
        return reply.data

    return make


@pytest.fixture
def tui(client: TestClient, tmp_path: Any) -> Any:
    """``tui()``: the terminal app pointed at the test server; ``tui(actor)`` also logs
    ``actor`` in as it starts. Its settings file is the test's own."""
    from tui.app import BoxofficeApp

    def make(actor: Actor | None = None, **kwargs: Any) -> BoxofficeApp:
        if actor is not None:
            kwargs.update(username=actor.username, password=PASSWORD)
        return BoxofficeApp(str(client.make_url("")), settings_path=tmp_path / "tui.json", **kwargs)

    return make


@pytest.fixture
def db_execute(database_url: str) -> Any:
    """Change the database directly and commit (db_rows only reads)."""

    def execute(statement: str, *args: Any) -> None:
        conn = psycopg2.connect(database_url)
        try:
            with conn, conn.cursor() as cur:
                cur.execute(statement, args)
        finally:
            conn.close()

    return execute


@pytest.fixture
def db_rows(database_url: str) -> Any:
    """Read the database directly, to check what the API says against what is stored."""
    return functools.partial(rows, database_url)


@pytest.fixture
async def ledger_ok(database_url: str) -> AsyncIterator[Any]:
    """A check that every event's sold seats equal its active bookings."""

    def check() -> None:
        for event_id, sold, booked in ledger(database_url):
            assert sold == booked, f"event {event_id}: {sold} seats gone, {booked} booked"

    yield check


@pytest.fixture
def embedded_dirs() -> Iterator[list[Path]]:
    """Data directories the test starts an embedded PostgreSQL for: after the test, each
    server still running is stopped, and run as root, its folder (which is outside the data
    directory, in /var/lib/boxoffice-embedded) is removed."""
    started: list[Path] = []
    yield started
    for data_dir in started:
        pgdata = embedded.pgdata_of(data_dir)
        try:
            pid = int((pgdata / "postmaster.pid").read_text().split()[0])
            os.kill(pid, signal.SIGINT)  # PostgreSQL's fast shutdown
            for _ in range(200):
                os.kill(pid, 0)
                time.sleep(0.05)  # a poll interval while it stops, not synchronisation
        except (OSError, ValueError, IndexError):
            pass
        if embedded.running_as_root():
            shutil.rmtree(pgdata.parent, ignore_errors=True)
