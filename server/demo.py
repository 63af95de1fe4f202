"""Demo accounts, venues and events (general admission and seated, with ticket types and
some seats sold), so a fresh install has something to show."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from aiohttp import web

from common.models import (
    BestAvailable,
    EventQuery,
    OrderCreate,
    Role,
    TicketTypeCreate,
    TicketTypePatch,
)

from . import queries as q
from .audit import Signer
from .auth import username_key
from .envelope import Conflict
from .keys import AUTH, BOOKINGS, DB, EVENTS, TICKET_TYPES, VENUES
from .security import Principal
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


# Seating plans of server/plans/, by the name each plan gives its venue.
DEMO_VENUES = ("theatre", "studio")

# Seated shows: title, venue (its plan's name), days ahead, price, and the Adult price per
# zone; the other types are fractions of it (Complimentary is free, for staff only).
SEATED_SHOWS = (
    ("The Importance of Being Earnest", "Royal Court Theatre", 8, "36.00",
     {"A": "48.00", "B": "36.00", "C": "24.00"}),
    ("A Midsummer Night's Dream", "Royal Court Theatre", 15, "36.00",
     {"A": "52.00", "B": "40.00", "C": "26.00"}),
    ("Krapp's Last Tape", "Studio Theatre", 5, "18.00", {"S": "18.00"}),
)  # fmt: skip
# name, share of the Adult price (None: the default type, renamed), staff only
TYPES = (
    ("Adult", None, False),
    ("Concession", Decimal("0.8"), False),
    ("Child", Decimal("0.5"), False),
    ("Complimentary", Decimal("0"), True),
)
# Sold before the doors open so the seat maps are not empty: (seats, zone) per order,
# best available together.
PRESOLD = ((4, "A"), (2, "A"), (3, "B"), (2, "B"), (6, "C"), (2, None), (4, None))

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
    evening = timedelta(hours=20 - now.hour)
    for title, venue, days, seats, price in SHOWS:
        await events.create(
            {
                "title": title,
                "description": f"{title} live at {venue}.",
                "date": now + timedelta(days=days) + evening,
                "venue": venue,
                "total_seats": seats,
                "price": Decimal(price),
            },
            by=DEMO,
        )
    venue_ids = {v["name"]: v["id"] for v in await venues.list()}
    for title, venue, days, price, zone_prices in SEATED_SHOWS:
        if venue not in venue_ids:
            continue
        event = await events.create(
            {
                "title": title,
                "description": f"{title} at the {venue}.",
                "date": now + timedelta(days=days) + evening,
                "venue": venue,
                "venue_id": venue_ids[venue],
                "price": Decimal(price),
            },
            by=DEMO,
        )
        await _seated_extras(app, event["id"], {z: Decimal(p) for z, p in zone_prices.items()})


async def _seated_extras(app: web.Application, event_id: int, adult: dict[str, Decimal]) -> None:
    """A seated demo event's ticket types, and a few orders so its seat map shows sales."""
    types = app[TICKET_TYPES]
    (default,) = await types.list(event_id, staff=True)
    for position, (name, share, staff_only) in enumerate(TYPES):
        if share is None:
            patch = TicketTypePatch(name=name, zone_prices=adult, position=position)
            await types.update(event_id, default["id"], patch, by=DEMO)
            continue
        prices = {zone: (price * share).quantize(Decimal("0.01")) for zone, price in adult.items()}
        body = TicketTypeCreate(
            name=name,
            price=Decimal("0") if staff_only else None,
            zone_prices={} if staff_only else prices,
            staff_only=staff_only,
            position=position,
        )
        await types.create(event_id, body, by=DEMO)
    clerk = await app[DB].fetchone(q.USER_BY_NAME, username=username_key(CLERK[0]))
    if clerk is None:
        return
    seller = Principal(clerk["id"], clerk["username"], clerk["role"], source=DEMO.source)
    zones = set(adult)
    for seats, zone in PRESOLD:
        if zone is not None and zone not in zones:
            continue
        order = OrderCreate(
            event_id=event_id,
            best_available=BestAvailable(count=seats, zone=zone),
            customer_name="Demo customer",
            payment_method="card",
        )
        await app[BOOKINGS].place(seller, order)
