"""Bookings: book, cancel, confirm a hold, expire holds, check tickets in, list them, and
read a booking or its ticket.

The booking and cancellation statements are the heart of Boxoffice: each is a single
statement (one round trip, one implicit transaction) whose row lock on the event and
whose WHERE clause make overselling and double refunds impossible.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any, TypedDict

from sqlalchemy import (
    BigInteger,
    Boolean,
    Integer,
    String,
    Text,
    and_,
    case,
    cast,
    exists,
    func,
    insert,
    literal,
    literal_column,
    not_,
    null,
    or_,
    select,
    true,
    update,
)
from sqlalchemy.sql import ColumnElement

from ..db import Query, compiled, script
from ..tables import bookings, events, users
from ._shared import _active, _one_row, _param, _pattern, _record

# --- bookings ----------------------------------------------------------------------

BOOKING_COLUMNS = tuple(bookings.c)


# --- what the booking statements answer ----------------------------------------------
# Each statement always answers one row: the changed booking's columns (all None when
# nothing changed) and the columns that say why nothing did.


class BookingOutcome(TypedDict):
    """A booking's own columns, as the statements that change one answer them."""

    id: int | None
    event_id: int | None
    user_id: int | None
    quantity: int | None
    status: str | None
    customer_name: str | None
    created_at: datetime | None
    updated_at: datetime | None
    expires_at: datetime | None
    ticket_code: str | None
    payment_method: str | None
    amount: Decimal | None
    confirmed_at: datetime | None
    confirmed_by: int | None
    cancelled_at: datetime | None
    cancelled_by: int | None
    checked_in_at: datetime | None
    checked_in_by: int | None
    checked_in_gate: str | None


class BookOutcome(BookingOutcome):
    available_seats: int | None  # the event's seats left after the booking
    event_version: int | None
    found_event: int | None  # None: no such event
    seats_left: int | None  # the event's seats before, when refused
    started: bool | None
    would_hold: bool | None  # the booking is (or would have been) a hold
    held_seats: int  # the caller's held seats before (0 when not limited)


class CancelOutcome(BookingOutcome):
    available_seats: int | None
    event_version: int | None
    owner_id: int | None  # None: no such booking
    status_before: str | None
    admitted_at: datetime | None
    started: bool | None


class ConfirmOutcome(BookingOutcome):
    owner_id: int | None
    status_before: str | None
    lapsed: bool | None
    priced: bool | None


class CheckInOutcome(BookingOutcome):
    event_checked_in: int | None
    event_title: str | None
    known_id: int | None  # None: not a ticket code of this box office
    status_before: str | None
    first_checked_in_at: datetime | None
    first_gate: str | None
    first_checked_in_by: str | None


class ExpireOutcome(TypedDict):
    expired: int  # holds expired by this batch
    events: int  # events whose seats came back


_event_id = _param("event_id", BigInteger)
_quantity = _param("quantity", Integer)
_hold = _param("hold", Boolean)
_user_id = _param("user_id", BigInteger)
_booking_id = _param("booking_id", BigInteger)


def ticket_code() -> ColumnElement[str]:
    """A fresh unguessable ticket code: 122 random bits, as 32 hex digits."""
    return func.upper(func.replace(cast(func.gen_random_uuid(), Text), "-", ""))


def _about(rows: Any) -> dict[str, Any]:
    """The ids an audit record of a booking change carries: the booking, its event and its
    owner, so an account's history shows what staff did to its bookings."""
    return {"event_id": rows.c.event_id, "booking_id": rows.c.id, "user_id": rows.c.user_id}


def _booking_details(rows: Any) -> ColumnElement[Any]:
    return func.jsonb_build_object(
        "quantity", rows.c.quantity,
        "customer_name", rows.c.customer_name,
        "payment_method", rows.c.payment_method,
        "amount", rows.c.amount,
        "status", rows.c.status,
    )  # fmt: skip


_hold_cap = _param("hold_cap", Integer)
_hold_time = func.make_interval(0, 0, 0, 0, 0, 0, _param("hold_seconds", Integer))
# The seats the caller holds now: pending, unexpired holds across all events. Exact only
# under the lock on the caller's row, taken by the statement before (see BOOK_LIMITED).
_held = (
    select(func.coalesce(func.sum(bookings.c.quantity), 0))
    .where(
        bookings.c.user_id == _user_id,
        # A literal, not a parameter: a generic plan can then use bookings_user_holds_idx.
        bookings.c.status == literal_column("'pending'"),
        bookings.c.expires_at > func.now(),
    )
    .scalar_subquery()
)


def _book(*, limited: bool) -> Query:
    """The booking statement; ``limited``: the caller may hold at most ``hold_cap`` seats.

    Two compiled statements rather than one with NULL-parameter switches: a prepared
    statement's generic plan keeps every switched-off branch (the held-seats sums, under
    the event's lock), and once bookings grow their estimated cost makes PostgreSQL plan
    every execution afresh instead (measured: 100k bookings, 0.40 -> 0.65 ms a booking)."""
    # Lock the event first: the lock waits for any booking, edit or delete in flight, then
    # reads the event as it is now (no row if it was deleted). The seats are taken from
    # that current row and a refusal is diagnosed from it, never from the snapshot the
    # statement began with: that may predate the wait. The new values are computed from
    # the locked row too, as PostgreSQL checks constraints on the snapshot's version
    # before its recheck. Whether the booking is a hold is decided here, once: asked for,
    # or a booking of a priced event by a caller whose priced bookings are reservations (a
    # user, unless users pay elsewhere). The price is only known under the lock (a
    # concurrent edit makes the lock re-read the row and compute this again).
    is_hold = or_(_hold, and_(_param("reserve", Boolean), events.c.price > 0))
    event = (
        select(
            events.c.id,
            events.c.total_seats,
            events.c.available_seats,
            events.c.date,
            events.c.price,
            events.c.version,
            is_hold.label("pending"),
            # A limited hold's count of the seats the caller holds. Computed with the row
            # it locks, before waiting for the lock (the count needs only the caller's
            # lock), so that the bookings queued on a hot event do not sum under its lock.
            *([case((is_hold, _held), else_=0).label("held")] if limited else []),
        )
        .where(events.c.id == _event_id)
        .with_for_update(key_share=True)
        .cte("event")
    )
    pending = event.c.pending
    seat = (
        update(events)
        .where(
            events.c.id == event.c.id,
            event.c.available_seats >= _quantity,
            event.c.date > func.now(),
            *([or_(not_(pending), event.c.held + _quantity <= _hold_cap)] if limited else []),
        )
        .values(
            total_seats=event.c.total_seats,
            available_seats=event.c.available_seats - _quantity,
            version=event.c.version + 1,
            updated_at=func.now(),
        )
        .returning(events.c.id, events.c.available_seats, events.c.version)
        .cte("seat")
    )
    booked = (
        insert(bookings)
        .from_select(
            [
                "event_id", "user_id", "quantity", "customer_name", "payment_method", "amount",
                "status", "expires_at", "ticket_code", "confirmed_at", "confirmed_by",
            ],
            select(
                seat.c.id,
                _user_id,
                _quantity,
                _param("customer_name", String),
                _param("payment_method", String),
                _quantity * event.c.price,
                case((pending, literal("pending")), else_=literal("confirmed")),
                case((pending, func.now() + _hold_time)),
                case((pending, None), else_=ticket_code()),
                case((pending, None), else_=func.now()),
                case((pending, None), else_=_user_id),
            ).select_from(seat.join(event, event.c.id == seat.c.id)),
        )
        .returning(*BOOKING_COLUMNS)
        .cte("booked")
    )  # fmt: skip
    audit = _record(
        case(
            (booked.c.status == "pending", literal("booking.hold")),
            else_=literal("booking.create"),
        ),
        booked,
        _booking_details(booked),
        **_about(booked),
    ).cte("book_audit")
    held: ColumnElement[int] = event.c.held if limited else literal(0, Integer)
    one = _one_row()
    return compiled(
        select(
            *booked.c,
            seat.c.available_seats,
            seat.c.version.label("event_version"),
            event.c.id.label("found_event"),
            event.c.available_seats.label("seats_left"),
            (event.c.date <= func.now()).label("started"),
            pending.label("would_hold"),
            held.label("held_seats"),
        )
        .add_cte(audit)
        .select_from(
            one.outerjoin(event, true()).outerjoin(booked, true()).outerjoin(seat, true())
        ),
        prepared=True,  # the hot paths (book, cancel, confirm, check in): planned once
    )


# Take the seats, record the booking and its audit record in one statement. The "event"
# CTE locks the event row, so concurrent bookings queue on it and each sees the seats the
# previous one left. A hold is a booking in 'pending' with an expiry. For staff, and for
# users whose bookings are sales (no hold): hold_cap is not used.
BOOK = _book(limited=False)
# A limited caller's booking: their row is locked first, in a statement of its own, so
# BOOK's snapshot starts after the lock and counts every hold a concurrent booking by the
# same caller committed (a lock inside BOOK would wait but keep the older snapshot). Still
# one round trip; the caller's lock is always taken before the event's.
BOOK_LIMITED = script(
    compiled(select(users.c.id).where(users.c.id == _user_id).with_for_update(key_share=True)),
    _book(limited=True),
)

_override = _param("override", Boolean)


def _event_started(rows: Any) -> ColumnElement[bool]:
    """Whether the event of the booking in ``rows`` has started."""
    date = select(events.c.date).where(events.c.id == rows.c.event_id).scalar_subquery()
    return date <= func.now()


_cancelled = (
    update(bookings)
    .where(
        bookings.c.id == _booking_id,
        _active(bookings.c.status),
        or_(_param("staff", Boolean), bookings.c.user_id == _user_id),
        # An admitted ticket, or one of a started event, was used or could have been: only
        # staff, overriding explicitly, refund it.
        or_(_override, and_(bookings.c.checked_in_at.is_(None), not_(_event_started(bookings)))),
    )
    .values(
        status="cancelled",
        updated_at=func.now(),
        cancelled_at=func.now(),
        cancelled_by=_user_id,
        expires_at=None,
    )
    .returning(*BOOKING_COLUMNS)
    .cte("cancelled")
)
_returned = (
    update(events)
    .where(events.c.id == _cancelled.c.event_id)
    .values(
        available_seats=events.c.available_seats + _cancelled.c.quantity,
        version=events.c.version + 1,
        updated_at=func.now(),
    )
    .returning(events.c.available_seats, events.c.version)
    .cte("returned")
)
_cancel_audit = _record(
    "booking.cancel",
    _cancelled,
    _booking_details(_cancelled).op("||")(
        case(
            (_override, func.jsonb_build_object("override", true())),
            else_=func.jsonb_build_object(),
        )
    ),
    **_about(_cancelled),
).cte("cancel_audit")
_one = _one_row()
_before = bookings.alias("before")
# Flip the status only if the booking still holds seats and give them back in the same
# statement: concurrent cancels of one booking wait on its row lock and all but one match
# nothing. A hold can be cancelled too (the customer walked away).
CANCEL = compiled(
    select(
        *_cancelled.c,
        _returned.c.available_seats,
        _returned.c.version.label("event_version"),
        _before.c.user_id.label("owner_id"),
        _before.c.status.label("status_before"),
        _before.c.checked_in_at.label("admitted_at"),
        _event_started(_before).label("started"),
    )
    .add_cte(_cancel_audit)
    .select_from(
        _one.outerjoin(_before, _before.c.id == _booking_id)
        .outerjoin(_cancelled, true())
        .outerjoin(_returned, true())
    ),
    prepared=True,
)

_staff = _param("staff", Boolean)
_confirmed = (
    update(bookings)
    .where(
        bookings.c.id == _booking_id,
        bookings.c.status == "pending",
        bookings.c.expires_at > func.now(),
        or_(_staff, bookings.c.user_id == _user_id),
        # A hold of a priced event is paid when confirmed: by staff, who take the money,
        # unless the deployment lets users confirm (they pay elsewhere).
        or_(_param("confirm_priced", Boolean), bookings.c.amount == 0),
    )
    .values(
        status="confirmed",
        expires_at=None,
        ticket_code=ticket_code(),
        confirmed_at=func.now(),
        confirmed_by=_user_id,  # whoever takes the payment: the hold becomes their sale
        updated_at=func.now(),
        # The confirming staff member's payment method; one stored with the hold is kept
        # only when they made the hold themselves, never one a user could have set.
        payment_method=func.coalesce(
            _param("payment_method", String),
            case((and_(_staff, bookings.c.user_id == _user_id), bookings.c.payment_method)),
        ),
    )
    .returning(*BOOKING_COLUMNS)
    .cte("confirmed")
)
_confirm_audit = _record(
    "booking.confirm", _confirmed, _booking_details(_confirmed), **_about(_confirmed)
).cte("confirm_audit")
_one = _one_row()
_before = bookings.alias("before")
# A hold becomes a sale only while it has not expired; the seats are already taken. An
# expired hold is never silently rebooked: the caller is told, and books again.
CONFIRM = compiled(
    select(
        *_confirmed.c,
        _before.c.user_id.label("owner_id"),
        _before.c.status.label("status_before"),
        (_before.c.expires_at <= func.now()).label("lapsed"),
        (_before.c.amount > 0).label("priced"),
    )
    .add_cte(_confirm_audit)
    .select_from(
        _one.outerjoin(_before, _before.c.id == _booking_id).outerjoin(_confirmed, true())
    ),
    prepared=True,
)

# Release the seats of holds whose time is up. Several server instances run this; SKIP
# LOCKED hands each hold to exactly one of them, and a hold being confirmed right now is
# skipped (its lock is held) and then no longer pending.
_due = (
    select(bookings.c.id)
    .where(bookings.c.status == "pending", bookings.c.expires_at <= func.now())
    .order_by(bookings.c.expires_at)
    .limit(_param("batch", Integer))
    .with_for_update(skip_locked=True)
    .cte("due")
)
_expired = (
    update(bookings)
    .where(bookings.c.id == _due.c.id)
    .values(status="expired", updated_at=func.now())
    .returning(*BOOKING_COLUMNS)
    .cte("expired")
)
_per_event = (
    select(_expired.c.event_id, func.sum(_expired.c.quantity).label("seats"))
    .group_by(_expired.c.event_id)
    .cte("per_event")
)
_released = (
    update(events)
    .where(events.c.id == _per_event.c.event_id)
    .values(
        available_seats=events.c.available_seats + _per_event.c.seats,
        version=events.c.version + 1,
        updated_at=func.now(),
    )
    .returning(events.c.id)
    .cte("released")
)
_expire_audit = _record(
    "booking.expire",
    _expired,
    _booking_details(_expired),
    **_about(_expired),
    actor_id=null(),
    actor=literal("system"),
    source=literal("hold expiry"),
).cte("expire_audit")
EXPIRE_HOLDS = compiled(
    select(
        func.count(_expired.c.id).label("expired"),
        select(func.count()).select_from(_released).scalar_subquery().label("events"),
    ).add_cte(_expire_audit)
)

_code = _param("code", String)
_admitted = (
    update(bookings)
    .where(
        bookings.c.ticket_code == _code,
        bookings.c.status == "confirmed",
        bookings.c.checked_in_at.is_(None),
    )
    .values(
        checked_in_at=func.now(),
        checked_in_by=_user_id,
        checked_in_gate=_param("gate", String),
        updated_at=func.now(),
    )
    .returning(*BOOKING_COLUMNS)
    .cte("admitted")
)
_counted = (
    update(events)
    .where(events.c.id == _admitted.c.event_id)
    .values(checked_in=events.c.checked_in + 1, version=events.c.version + 1)
    .returning(events.c.checked_in, events.c.title)
    .cte("counted")
)
_checkin_audit = _record(
    "ticket.check_in",
    _admitted,
    func.jsonb_build_object("gate", _admitted.c.checked_in_gate, "quantity", _admitted.c.quantity),
    **_about(_admitted),
).cte("checkin_audit")
_one = _one_row()
_ticket = bookings.alias("ticket")
_admitter = users.alias("admitter")
# Admit a ticket once: concurrent scans of one code queue on its row lock and only the
# first finds it not yet checked in. The other columns say why a scan was refused.
CHECK_IN = compiled(
    select(
        *_admitted.c,
        _counted.c.checked_in.label("event_checked_in"),
        _counted.c.title.label("event_title"),
        _ticket.c.id.label("known_id"),
        _ticket.c.status.label("status_before"),
        _ticket.c.checked_in_at.label("first_checked_in_at"),
        _ticket.c.checked_in_gate.label("first_gate"),
        _admitter.c.username.label("first_checked_in_by"),
    )
    .add_cte(_checkin_audit)
    .select_from(
        _one.outerjoin(_ticket, _ticket.c.ticket_code == _code)
        .outerjoin(_admitter, _admitter.c.id == _ticket.c.checked_in_by)
        .outerjoin(_admitted, true())
        .outerjoin(_counted, true())
    ),
    prepared=True,
)

GET_BOOKING = compiled(select(bookings).where(bookings.c.id == _booking_id))

_status = _param("status", String)
_page = (_param("skip", Integer), _param("limit", Integer))


def _list_bookings(*conditions: ColumnElement[bool]) -> Query:
    return compiled(
        select(bookings)
        .where(
            *conditions,
            or_(_status.is_(None), bookings.c.status == _status),
            or_(_pattern.is_(None), bookings.c.customer_name.ilike(_pattern)),
        )
        .order_by(bookings.c.id.desc())
        .offset(_page[0])
        .limit(_page[1])
    )


LIST_USER_BOOKINGS = _list_bookings(bookings.c.user_id == _param("user_id", BigInteger))
LIST_EVENT_BOOKINGS = _list_bookings(bookings.c.event_id == _event_id)
LIST_ALL_BOOKINGS = _list_bookings()

EVENT_EXISTS = compiled(select(exists().where(events.c.id == _event_id).label("exists")))


# --- tickets -----------------------------------------------------------------------

_owner = users.alias("owner")
# A booking with what its printed ticket shows: the event and the account that booked it.
GET_TICKET = compiled(
    select(
        bookings,
        events.c.title.label("event_title"),
        events.c.date.label("event_date"),
        events.c.venue.label("event_venue"),
        _owner.c.username.label("owner_name"),
    )
    .select_from(
        bookings.join(events, events.c.id == bookings.c.event_id).join(
            _owner, _owner.c.id == bookings.c.user_id
        )
    )
    .where(bookings.c.id == _booking_id)
)
