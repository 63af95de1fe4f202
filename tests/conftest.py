"""Fixtures, and only fixtures (what tests import is in support.py): a real PostgreSQL, a
real server on loopback, and actors with each role.

The database is BOXOFFICE_TEST_DATABASE_URL when set, else the server on 127.0.0.1:5432
(user postgres) when one answers, else an embedded PostgreSQL started for the session.
Each session works in a database of its own, dropped at the end; tables are emptied
before every test. After every test that used a database, each event's seats must still
add up (the seat ledger), whatever the test did: a test that breaks it fails.
"""

from __future__ import annotations

import functools
import os
import shutil
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg2
import pytest
from aiohttp.test_utils import TestClient
from support import PASSWORD, Actor, Actors, RowLock, event_body, rows, seat_ledger_errors

from server import embedded
from server.app import create_app
from server.config import Config

TABLES = (
    "bookings",
    "events",
    "sessions",
    "throttles",
    "users",
    "audit_log",
    "idempotency_keys",
    "api_tokens",
    "venues",
    "venue_zones",
    "seats",
    "webhook_endpoints",
    "webhook_deliveries",
)


def _admin(dsn: str) -> Any:
    conn = psycopg2.connect(dsn)
    conn.autocommit = True
    return conn


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    with embedded.scratch_database("boxoffice_test") as url:
        yield url


def _check_seat_ledger(dsn: str) -> None:
    if broken := seat_ledger_errors(dsn):
        pytest.fail("seat ledger broken: " + "; ".join(broken), pytrace=False)


@pytest.fixture
def scratch_dsn() -> Iterator[str]:
    """A new, empty database of its own: for a server run as a separate process, or to
    migrate step by step. Its seat ledger is checked after the test."""
    with embedded.scratch_database("boxoffice_proc") as url:
        yield url
        _check_seat_ledger(url)


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
def clean_db(database_url: str) -> Iterator[None]:
    """Empty tables for the test; after it, the seat ledger must hold."""
    conn = _admin(database_url)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT to_regclass('users') IS NOT NULL")
            if cur.fetchone()[0]:
                cur.execute(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY CASCADE")
    finally:
        conn.close()
    yield
    _check_seat_ledger(database_url)


@pytest.fixture
async def client(aiohttp_client: Any, config: Config, clean_db: None) -> TestClient:
    return await aiohttp_client(create_app(config))


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
    """Change the database directly and commit (db_rows only reads); answers the rows a
    statement returns (INSERT ... RETURNING), if any."""

    def execute(statement: str, *args: Any) -> list[tuple[Any, ...]]:
        conn = psycopg2.connect(database_url)
        try:
            with conn, conn.cursor() as cur:
                cur.execute(statement, args)
                return cur.fetchall() if cur.description else []
        finally:
            conn.close()

    return execute


@pytest.fixture
def db_rows(database_url: str) -> Any:
    """Read the database directly, to check what the API says against what is stored."""
    return functools.partial(rows, database_url)


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


# A hall: front zone A (two rows of 10 with an aisle after seat 5), back zone B (a row of
# 8), so best-available, adjacency and zones can be told apart.
HALL = {
    "name": "Test Hall",
    "zones": [{"code": "A", "name": "Front", "rank": 1}, {"code": "B", "name": "Back", "rank": 2}],
    "sections": [
        {
            "name": "Stalls",
            "zone": "A",
            "rows": [
                {"row": "A", "y": 0, "seats": "1-5, _, 6-10"},
                {"row": "B", "y": 1, "seats": "1-5, _, 6-10"},
                {"row": "C", "y": 2, "seats": "1-8", "zone": "B"},
            ],
        }
    ],
}


@pytest.fixture
async def hall(admin: Actor) -> dict[str, Any]:
    reply = await admin.post("/api/v1/venues", json=HALL)
    assert reply.status == 201, reply.body
    return reply.data


@pytest.fixture
def seated_event(admin: Actor, hall: dict[str, Any], make_event: Any, db_rows: Any) -> Any:
    """``await seated_event()``: an event on the hall, its default type at 50.00 in zone A
    and 30.00 in B, with its seats by label ("A1" is row A seat 1) in ``["seats"]``."""

    async def make(title: str = "Seated Night") -> dict[str, Any]:
        event = await make_event(title=title, total_seats=None, venue_id=hall["id"], price="40")
        types = f"/api/v1/events/{event['id']}/ticket-types"
        [default] = (await admin.get(types)).data
        prices = {"zone_prices": {"A": "50.00", "B": "30.00"}}
        reply = await admin.call("PATCH", f"{types}/{default['id']}", json=prices)
        assert reply.status == 200, reply.body
        labels = db_rows(
            "SELECT s.row_label || s.number, s.id FROM event_seats e "
            "JOIN seats s ON s.id = e.seat_id WHERE e.event_id = %s",
            event["id"],
        )
        return {**event, "seats": dict(labels)}

    return make


@pytest.fixture
def row_lock(database_url: str) -> Any:
    lock = RowLock(database_url)
    yield lock
    lock.close()
