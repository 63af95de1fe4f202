"""Snapshots of the main screens at 80x24, against a real server with fixed data.

The screens are drawn by a real server's answers, so the data is fixed: events in 2099,
booking times pinned, the clock's zone UTC. After an intended change to a screen, review
the new pictures with ``pytest tests/test_tui_snapshots.py --snapshot-update``; the
README shows these same files.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import psycopg2
import pytest
from aiohttp import web
from conftest import PASSWORD
from tui_support import started, until

from common.models import BookingCreate
from server.app import create_app
from server.background import BackgroundServer
from server.config import Config
from server.keys import AUTH, BOOKINGS, EVENTS
from server.security import Principal
from tui.app import BoxofficeApp
from tui.screens.sell import ReceiptScreen

SIZE = (80, 24)
SNAPSHOT_PORT = 48123
EVENTS_DATA = (
    ("Jazz at the Lighthouse", "Harbour Hall", 120, "35.00", 110),
    ("Hamlet", "Old Vic Studio", 80, "28.50", 80),
    ("City Symphony: Mahler 5", "Concert Hall", 400, "55.00", 150),
    ("Stand-up Saturday", "The Cellar", 60, "15.00", 4),
    ("Indie Night", "Warehouse 9", 250, "22.00", 0),
)


async def _seed(app: web.Application) -> None:
    auth, events = app[AUTH], app[EVENTS]
    clerk = await auth.create_user("clerk", PASSWORD, "clerk")
    await auth.create_user("admin", PASSWORD, "admin")
    who = Principal(clerk["id"], "clerk", "clerk")
    for day, (title, venue, seats, price, sold) in enumerate(EVENTS_DATA, start=1):
        event = await events.create(
            {
                "title": title,
                "description": f"{title} live at {venue}.",
                "date": datetime(2099, 3, day * 3, 19, 30, tzinfo=UTC),
                "venue": venue,
                "total_seats": seats,
                "price": Decimal(price),
            }
        )
        while sold > 0:
            quantity = min(sold, 10)
            await app[BOOKINGS].book(
                who, BookingCreate(event_id=event["id"], quantity=quantity, customer_name="Ada")
            )
            sold -= quantity


@pytest.fixture
def utc() -> Iterator[None]:
    """Local time is UTC, so dates draw the same everywhere."""
    before = os.environ.get("TZ")
    os.environ["TZ"] = "UTC"
    time.tzset()
    yield
    if before is None:
        del os.environ["TZ"]
    else:
        os.environ["TZ"] = before
    time.tzset()


@pytest.fixture
def server_url(config: Config, clean_db: None, utc: None) -> Iterator[str]:
    app = create_app(config)
    app.on_startup.append(_seed)
    # A fixed port: the status line shows the server's address.
    with BackgroundServer(app, "127.0.0.1", SNAPSHOT_PORT):
        with psycopg2.connect(config.database_url) as conn, conn.cursor() as cur:
            cur.execute("UPDATE bookings SET created_at = '2099-02-01 18:00+00'")
        yield f"http://127.0.0.1:{SNAPSHOT_PORT}"


def _app(url: str, tmp_path: Any, username: str | None = None) -> BoxofficeApp:
    password = PASSWORD if username else None
    return BoxofficeApp(
        url, username=username, password=password, settings_path=tmp_path / "tui.json"
    )


def test_login_screen(snap_compare, server_url, tmp_path):
    assert snap_compare(_app(server_url, tmp_path), terminal_size=SIZE)


def test_events_screen(snap_compare, server_url, tmp_path):
    app = _app(server_url, tmp_path, "clerk")
    assert snap_compare(app, terminal_size=SIZE, run_before=started)


def test_sell_dialog(snap_compare, server_url, tmp_path):
    async def open_sell(pilot: Any) -> None:
        await started(pilot)
        await pilot.press("enter", "backspace", "2", "tab", *"Grace Hopper")

    app = _app(server_url, tmp_path, "clerk")
    assert snap_compare(app, terminal_size=SIZE, run_before=open_sell)


def test_dashboard(snap_compare, server_url, tmp_path):
    async def open_dashboard(pilot: Any) -> None:
        await started(pilot)
        await pilot.press("f4")

    app = _app(server_url, tmp_path, "admin")
    assert snap_compare(app, terminal_size=SIZE, run_before=open_dashboard)


def test_receipt(snap_compare, server_url, tmp_path):
    async def sell(pilot: Any) -> None:
        await started(pilot)
        await pilot.press("enter", "backspace", "2", "tab", *"Grace Hopper", "enter")
        await until(pilot, lambda: isinstance(pilot.app.screen, ReceiptScreen))

    app = _app(server_url, tmp_path, "clerk")
    assert snap_compare(app, terminal_size=SIZE, run_before=sell)


def test_bookings_screen(snap_compare, server_url, tmp_path):
    async def open_bookings(pilot: Any) -> None:
        await started(pilot)
        await pilot.press("down", "down", "b")
        await until(
            pilot,
            lambda: "bookings" in str(pilot.app.screen.query_one("#bookings-message").render()),
        )

    app = _app(server_url, tmp_path, "clerk")
    assert snap_compare(app, terminal_size=SIZE, run_before=open_bookings)


def test_event_form(snap_compare, server_url, tmp_path):
    async def edit(pilot: Any) -> None:
        await started(pilot)
        await pilot.press("e")

    app = _app(server_url, tmp_path, "admin")
    assert snap_compare(app, terminal_size=SIZE, run_before=edit)


def test_help(snap_compare, server_url, tmp_path):
    async def help_(pilot: Any) -> None:
        await started(pilot)
        await pilot.press("f1")

    app = _app(server_url, tmp_path, "clerk")
    assert snap_compare(app, terminal_size=SIZE, run_before=help_)
