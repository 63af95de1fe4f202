"""Snapshots of the main screens at 80x24, against a real server with fixed data.

The screens are drawn by a real server's answers, so the data is fixed: events in 2099,
booking times pinned, the clock's zone UTC. After an intended change to a screen, review
the new pictures with ``pytest tests/test_tui_snapshots.py --snapshot-update``; the
README shows these same files.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg2
import pytest
from aiohttp import web
from support import PASSWORD
from tui_support import started, until

from common.models import BookingCreate
from server.app import create_app
from server.audit import SYSTEM
from server.background import BackgroundServer
from server.config import Config
from server.keys import AUTH, BOOKINGS, EVENTS
from server.security import Principal
from tui.app import BoxofficeApp
from tui.screens.checkin import CheckInScreen
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
    await auth.create_user("admin", PASSWORD, "admin", operator=True)  # as the demo seed
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
            },
            by=SYSTEM,
        )
        while sold > 0:
            quantity = min(sold, 10)
            await app[BOOKINGS].book(
                who, BookingCreate(event_id=event["id"], quantity=quantity, customer_name="Ada")
            )
            sold -= quantity


@contextlib.contextmanager
def _port_taken_in_turn(port: int) -> Iterator[None]:
    """Hold a machine-wide lock for ``port``: test runs side by side take it in turn."""
    with open(Path(tempfile.gettempdir()) / f"boxoffice-port-{port}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # waits for the other run to release it
        yield


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


def ticket(booking_id: int) -> str:
    """The ticket code of a booking while the snapshots are taken (see ``PIN``)."""
    return hashlib.md5(f"snapshot-{booking_id}".encode()).hexdigest().upper()


# Ticket codes are random and times are now: while the snapshots are taken, triggers
# make them depend on the booking (and each ticket's code on the ticket) alone.
PIN = """
CREATE FUNCTION snapshot_pin() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.ticket_code IS NOT NULL THEN
        NEW.ticket_code := upper(md5('snapshot-' || NEW.id));
    END IF;
    IF NEW.expires_at IS NOT NULL THEN
        NEW.expires_at := '2099-02-01 18:10+00';
    END IF;
    IF NEW.checked_in_at IS NOT NULL THEN
        NEW.checked_in_at := '2099-03-03 19:05+00';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER snapshot_pin BEFORE INSERT OR UPDATE ON bookings
    FOR EACH ROW EXECUTE FUNCTION snapshot_pin();
CREATE FUNCTION snapshot_pin_ticket() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.code IS NOT NULL THEN
        NEW.code := upper(md5('snapshot-ticket-' || NEW.id));
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER snapshot_pin_ticket BEFORE INSERT OR UPDATE ON tickets
    FOR EACH ROW EXECUTE FUNCTION snapshot_pin_ticket();
"""
UNPIN = """
DROP TRIGGER IF EXISTS snapshot_pin ON bookings;
DROP FUNCTION IF EXISTS snapshot_pin();
DROP TRIGGER IF EXISTS snapshot_pin_ticket ON tickets;
DROP FUNCTION IF EXISTS snapshot_pin_ticket();
"""


@pytest.fixture
def server_url(config: Config, clean_db: None, utc: None) -> Iterator[str]:
    app = create_app(config)
    app.on_startup.append(_seed)
    # A fixed port, as the status line shows the server's address: another test run on
    # this machine may be using it, so take it in turn rather than fail.
    with _port_taken_in_turn(SNAPSHOT_PORT), BackgroundServer(app, "127.0.0.1", SNAPSHOT_PORT):
        with psycopg2.connect(config.database_url) as conn, conn.cursor() as cur:
            cur.execute(UNPIN + PIN)
            cur.execute("UPDATE bookings SET created_at = '2099-02-01 18:00+00'")
            # The dashboard's meter starts from the tickets of the last minutes: none here.
            cur.execute("UPDATE tickets SET created_at = '2099-02-01 18:00+00'")
        try:
            yield f"http://127.0.0.1:{SNAPSHOT_PORT}"
        finally:
            with psycopg2.connect(config.database_url) as conn, conn.cursor() as cur:
                cur.execute(UNPIN)


async def _bookings_listed(pilot: Any) -> None:
    message = pilot.app.screen.query_one("#bookings-message")
    await until(pilot, lambda: "bookings" in str(message.render()))


async def _receipt_shown(pilot: Any) -> None:
    await until(pilot, lambda: isinstance(pilot.app.screen, ReceiptScreen))


async def _scanned(pilot: Any) -> None:
    screen = pilot.app.screen
    await until(pilot, lambda: isinstance(screen, CheckInScreen) and screen.history)


SELL_TWO = ("enter", "backspace", "2", "tab", *"Grace Hopper")
HOLD_TWO = (*SELL_TWO, "tab", "tab", "tab", "enter")  # past the payment and Sell: Hold
# name: (who logs in, the keys pressed once the events screen shows, what to wait for then)
SCREENS: dict[str, tuple[str | None, tuple[str, ...], Callable[[Any], Awaitable[None]] | None]] = {
    "login": (None, (), None),
    "events": ("clerk", (), None),
    "sell": ("clerk", SELL_TWO, None),
    "receipt": ("clerk", (*SELL_TWO, "enter"), _receipt_shown),
    "receipt_held": ("clerk", HOLD_TWO, _receipt_shown),
    "bookings": ("clerk", ("down", "down", "ctrl+b"), _bookings_listed),
    "dashboard": ("admin", ("f4",), None),
    "event_form": ("admin", ("ctrl+e",), None),
    "help": ("clerk", ("f1",), None),
    # The first booking: Jazz at the Lighthouse, 10 seats for Ada.
    "checkin": ("clerk", ("f5", *ticket(1), "enter"), _scanned),
}


@pytest.mark.parametrize("name", SCREENS)
def test_screen(name: str, snap_compare: Any, server_url: str, tmp_path: Any) -> None:
    username, keys, then = SCREENS[name]

    async def drive(pilot: Any) -> None:
        if username is None:
            return
        await started(pilot)
        await pilot.press(*keys)
        if then is not None:
            await then(pilot)

    app = BoxofficeApp(
        server_url,
        username=username,
        password=PASSWORD if username else None,
        settings_path=tmp_path / "tui.json",
    )
    assert snap_compare(app, terminal_size=SIZE, run_before=drive)
