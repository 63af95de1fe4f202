"""Reports: the shift report of sales, cancellations and returns, and the seat ledger."""

from __future__ import annotations

from typing import Any

from sqlalchemy import BigInteger, DateTime, and_, case, func, literal, or_, select, union
from sqlalchemy.sql import ColumnElement

from ..db import compiled
from ..tables import bookings, event_seats, events, ticket_types, tickets, users
from ._shared import _active, _param

# --- shift reports -----------------------------------------------------------------

_from = _param("date_from", DateTime)
_to = _param("date_to", DateTime)
_subject = _param("user_id", BigInteger)  # null: every staff member
_seller = users.alias("seller")
_canceller = users.alias("canceller")
_releaser = users.alias("releaser")


def _reported(account: Any) -> ColumnElement[bool]:
    """The account is the report's subject: the one asked for, or any staff member."""
    return or_(
        account.c.id == _subject,
        and_(_subject.is_(None), or_(account.c.role == "clerk", account.c.role == "admin")),
    )


def _within(column: ColumnElement[Any]) -> ColumnElement[bool]:
    return and_(column >= _from, column < _to)


# A sale is counted when the booking became confirmed (at once, or a hold later), as the
# sale of whoever confirmed it: the till that took the money. Its tickets are those it was
# confirmed with: every ticket not given back before then (a hold may lose some), including
# those returned later.
_sale = and_(_reported(_seller), _within(bookings.c.confirmed_at))
_ticket_sold = and_(
    _sale, or_(tickets.c.released_at.is_(None), tickets.c.released_at > bookings.c.confirmed_at)
)
# Money goes back ticket by ticket: a ticket cancelled with its order, or returned on its
# own, is counted when it was given back, in the report of whoever gave it back, with the
# refund it carries (a hold's tickets carry none). A returned ticket without a refund (one
# of a hold) moved no money and is left out.
_given_back = and_(
    _reported(_releaser),
    _within(tickets.c.released_at),
    or_(
        tickets.c.release == "cancelled",
        and_(tickets.c.release == "returned", tickets.c.refund.is_not(None)),
    ),
)
# The bookings that may count, each found by an index: sold, cancelled or refunded in the
# period ((confirmed_at), (cancelled_at), tickets (released_at) where refunded), by the
# report's subject, so that one clerk's report reads only that clerk's bookings' tickets.
_sold_by = func.coalesce(bookings.c.confirmed_by, bookings.c.user_id)
_candidates = union(
    select(bookings.c.id)
    .select_from(bookings.join(_seller, _seller.c.id == _sold_by))
    .where(_sale),
    select(bookings.c.id)
    .select_from(bookings.join(_canceller, _canceller.c.id == bookings.c.cancelled_by))
    .where(_reported(_canceller), _within(bookings.c.cancelled_at)),
    select(tickets.c.booking_id)
    .select_from(tickets.join(_releaser, _releaser.c.id == tickets.c.released_by))
    .where(_reported(_releaser), tickets.c.refund.is_not(None), _within(tickets.c.released_at)),
).subquery("candidates")
# A row per counted ticket, with what it counts as.
_counted = (
    select(
        tickets.c.booking_id,
        ticket_types.c.name.label("ticket_type"),
        tickets.c.zone,
        func.coalesce(_ticket_sold, literal(False)).label("ticket_sold"),
        tickets.c.price,
        case((_given_back, tickets.c.release)).label("release"),
        case((_given_back, func.coalesce(tickets.c.refund_method, "unrecorded"))).label(
            "refund_method"
        ),
        case((_given_back, _releaser.c.username)).label("released_by"),
        case((_given_back, tickets.c.released_at)).label("released_at"),
        # Null for a hold's tickets: nothing was paid, nothing is refunded.
        case((_given_back, tickets.c.refund)).label("refund"),
    )
    .select_from(
        _candidates.join(bookings, bookings.c.id == _candidates.c.id)
        .join(tickets, tickets.c.booking_id == bookings.c.id)
        .join(ticket_types, ticket_types.c.id == tickets.c.ticket_type_id)
        # A hold let go before anyone confirmed it is its maker's.
        .join(_seller, _seller.c.id == _sold_by)
        .outerjoin(_releaser, _releaser.c.id == tickets.c.released_by)
    )
    .where(or_(_ticket_sold, _given_back))
    .subquery("counted")
)
_t = _counted.c
# What makes a booking's tickets count alike: one row of the report each.
_alike = (_t.ticket_type, _t.zone, _t.ticket_sold, _t.release, _t.refund_method, _t.released_by)
# Every booking a shift report covers, a row per group of its tickets counted alike (type,
# zone, sold, given back how, refunded by what and by whom); the lines, the totals and the
# per-type breakdown are all summed from these rows, so they cannot disagree.
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
        # Made and confirmed by one statement share a timestamp; a hold is confirmed later.
        func.coalesce(bookings.c.confirmed_at > bookings.c.created_at, literal(False)).label(
            "was_hold"
        ),
        *_alike,
        func.count().label("tickets"),
        func.sum(_t.price).label("price"),
        func.sum(_t.refund).label("refund"),
        func.min(_t.released_at).label("released_at"),
    )
    .select_from(
        _counted.join(bookings, bookings.c.id == _t.booking_id)
        .join(events, events.c.id == bookings.c.event_id)
        .join(_seller, _seller.c.id == _sold_by)
        .outerjoin(_canceller, _canceller.c.id == bookings.c.cancelled_by)
    )
    .group_by(
        bookings.c.id,
        events.c.id,
        _seller.c.id,
        _canceller.c.id,
        *_alike,
    )
    .order_by(bookings.c.id, *_alike)
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
