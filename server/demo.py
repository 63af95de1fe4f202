"""Demo accounts, venues and events, so a fresh install has something to show."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from aiohttp import web

from common.models import EventQuery, Role

from .audit import Signer
from .envelope import Conflict
from .keys import AUTH, EVENTS, VENUES
from .venues import shipped_plan

ADMIN: tuple[str, str, Role] = ("admin", "admin-demo", "admin")
CLERK: tuple[str, str, Role] = ("clerk", "clerk-demo", "clerk")
ACCOUNTS: tuple[tuple[str, str, Role], ...] = (ADMIN, CLERK, ("guest", "guest-demo", "user"))

SHOWS = (
    ("Jazz at the Lighthouse", "Harbour Hall", 3, 120, "35.00"),
    ("Hamlet", "Old Vic Studio", 6, 80, "28.50"),
    ("City Symphony: Mahler 5", "Concert Hall", 10, 400, "55.00"),
    ("Stand-up Saturday", "The Cellar", 12, 60, "15.00"),
    ("Indie Night", "Warehouse 9", 20, 250, "22.00"),
)


# Seating plans of server/plans/ (venues only: the events stay general admission for now).
DEMO_VENUES = ("theatre", "studio")

DEMO = Signer("system", "demo seed")  # signs the audit records of the demo data


async def seed(app: web.Application) -> None:
    """Create the demo accounts and events unless they exist; safe to run on every start."""
    for username, password, role in ACCOUNTS:
        with contextlib.suppress(Conflict):
            await app[AUTH].create_user(username, password, role, by=DEMO, operator=True)
    venues = app[VENUES]
    if not await venues.list():
        for plan in DEMO_VENUES:
            await venues.create(shipped_plan(plan), by=DEMO)
    events = app[EVENTS]
    if await events.list(EventQuery(limit=1)):
        return
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    for title, venue, days, seats, price in SHOWS:
        await events.create(
            {
                "title": title,
                "description": f"{title} live at {venue}.",
                "date": now + timedelta(days=days, hours=20 - now.hour),
                "venue": venue,
                "total_seats": seats,
                "price": Decimal(price),
            },
            by=DEMO,
        )
