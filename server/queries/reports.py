"""Reports: the shift report of sales and cancellations, and the seat ledger."""

from __future__ import annotations

from typing import Any

from sqlalchemy import BigInteger, DateTime, and_, case, func, literal, or_, select
from sqlalchemy.sql import ColumnElement

from ..db import compiled
from ..tables import bookings, event_seats, events, tickets, users
from ._shared import _active, _param

# --- shift reports -----------------------------------------------------------------

_from = _param("date_from", DateTime)
_to = _param("date_to", DateTime)
_subject = _param("user_id", BigInteger)  # null: every staff member
_seller = users.alias("seller")
_canceller = users.alias("canceller")


def _reported(account: Any) -> ColumnElement[bool]:
    """The account is the report's subject: the one asked for, or any staff member."""
    return or_(
        account.c.id == _subject,
        and_(_subject.is_(None), or_(account.c.role == "clerk", account.c.role == "admin")),
    )


# A sale is counted when the booking became confirmed (at once, or a hold later), as the
# sale of whoever confirmed it: the till that took the money. A cancellation is counted
# when it was made, by whoever made it. The (confirmed_at) and (cancelled_at) indexes
# find a period's rows.
_sale = and_(_reported(_seller), bookings.c.confirmed_at >= _from, bookings.c.confirmed_at < _to)
_cancellation = and_(
    _reported(_canceller), bookings.c.cancelled_at >= _from, bookings.c.cancelled_at < _to
)
# When the report first counts the booking: the order of its lines.
_counted_at = func.least(
    case((_sale, bookings.c.confirmed_at)), case((_cancellation, bookings.c.cancelled_at))
).label("counted_at")
# Every booking a shift report covers, with what it counts as; the totals are summed from
# these rows, so the list and the totals cannot disagree.
SHIFT_REPORT = compiled(
    select(
        bookings.c.id,
        bookings.c.event_id,
        events.c.title.label("event_title"),
        events.c.date.label("event_date"),
        bookings.c.customer_name,
        bookings.c.quantity,
        bookings.c.status,
        bookings.c.payment_method,
        bookings.c.amount,
        _seller.c.username.label("sold_by"),
        bookings.c.created_at,
        bookings.c.confirmed_at,
        _canceller.c.username.label("cancelled_by"),
        bookings.c.cancelled_at,
        func.coalesce(_sale, literal(False)).label("sale"),
        func.coalesce(_cancellation, literal(False)).label("cancellation"),
        # Made and confirmed by one statement share a timestamp; a hold is confirmed later.
        func.coalesce(bookings.c.confirmed_at > bookings.c.created_at, literal(False)).label(
            "was_hold"
        ),
        _counted_at,
    )
    .select_from(
        bookings.join(events, events.c.id == bookings.c.event_id)
        # A hold let go before anyone confirmed it is its maker's.
        .join(_seller, _seller.c.id == func.coalesce(bookings.c.confirmed_by, bookings.c.user_id))
        .outerjoin(_canceller, _canceller.c.id == bookings.c.cancelled_by)
    )
    .where(or_(_sale, _cancellation))
    .order_by(_counted_at, bookings.c.id)
)

# The invariant the whole design protects, checked by tests and after benchmarks.
_active_ticket = and_(
    tickets.c.event_id == events.c.id,
    tickets.c.released_at.is_(None),
    select(bookings.c.id)
    .where(bookings.c.id == tickets.c.booking_id, _active(bookings.c.status))
    .exists(),
)
# Per event: the seats gone from its count, the seats of its active orders, their active
# tickets, and for a seated event the seats not free and those whose state disagrees with
# the tickets (a taken seat must carry exactly the order of its one active ticket).
SEAT_LEDGER = compiled(
    select(
        events.c.id,
        events.c.total_seats,
        events.c.available_seats,
        func.coalesce(
            select(func.sum(bookings.c.quantity))
            .where(bookings.c.event_id == events.c.id, _active(bookings.c.status))
            .scalar_subquery(),
            0,
        ).label("taken"),
        select(func.count()).where(_active_ticket).scalar_subquery().label("tickets"),
        select(func.count())
        .where(event_seats.c.event_id == events.c.id, event_seats.c.state != "free")
        .scalar_subquery()
        .label("seats_taken"),
        select(func.count())
        .select_from(
            event_seats.outerjoin(
                tickets,
                and_(
                    tickets.c.event_id == event_seats.c.event_id,
                    tickets.c.seat_id == event_seats.c.seat_id,
                    tickets.c.released_at.is_(None),
                ),
            ).outerjoin(bookings, bookings.c.id == tickets.c.booking_id)
        )
        .where(
            event_seats.c.event_id == events.c.id,
            or_(
                and_(event_seats.c.state == "free", tickets.c.id.is_not(None)),
                and_(
                    event_seats.c.state != "free",
                    or_(
                        tickets.c.id.is_(None),
                        event_seats.c.booking_id.is_distinct_from(tickets.c.booking_id),
                        event_seats.c.state
                        != case((bookings.c.status == "pending", "held"), else_="sold"),
                    ),
                ),
            ),
        )
        .scalar_subquery()
        .label("seats_wrong"),
        events.c.venue_id,
    ).order_by(events.c.id)
)
