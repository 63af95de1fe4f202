"""Orders (a booking is an order): place, confirm, cancel, return tickets, expire holds,
check tickets in, list them, and read an order, its tickets or its printable ticket.

The changes are the plpgsql functions of migration 0010 (``0010_orders.sql``), each one
round trip and one transaction whose row locks (the seats', then the event's) and checks
make overselling and double refunds impossible; here are the statements that call them.
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
    case,
    cast,
    exists,
    func,
    or_,
    select,
    true,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.sql import ColumnElement

from ..db import Query, compiled
from ..paging import TOTAL
from ..tables import audit_log, bookings, events, users
from ._shared import _param, _pattern, _record

# --- bookings ----------------------------------------------------------------------

BOOKING_COLUMNS = tuple(bookings.c)


# --- what the order functions answer -------------------------------------------------
# Every change to an order is a plpgsql function of migration 0010 (one round trip, all or
# nothing); each answers one JSON object: the changed order's columns (id None when nothing
# changed) with the columns that say why nothing did, or "refused" and its details.


class BookingOutcome(TypedDict, total=False):
    """An order's own columns, as the functions that change one answer them."""

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
    tickets: list[dict[str, Any]]  # the order's tickets (boxoffice_order_tickets)
    refused: str  # why nothing changed, when a rule refused it (see the functions)


class BookOutcome(BookingOutcome, total=False):
    available_seats: int  # the event's seats left after the order
    event_version: int
    venue_id: int | None
    # Refusal details: available_seats (sold_out), held_seats (hold_limit), seat_ids
    # (unknown_seats, seats_taken), largest_block (no_block), line and ticket_type_id and
    # name (unknown_type, off_sale, staff_only, not_seated), left (quota).
    held_seats: int
    seat_ids: list[int]
    largest_block: int
    line: int
    ticket_type_id: int | None
    name: str
    left: int


class CancelOutcome(BookingOutcome, total=False):
    available_seats: int
    event_version: int
    refund: Decimal
    returned: int  # tickets given back (a return)
    owner_id: int | None  # None: no such order
    status_before: str | None
    admitted_at: datetime | None
    started: bool | None
    lapsed: bool | None
    priced: bool | None
    ticket_ids: list[int]  # refusal of a return: the tickets at fault


ConfirmOutcome = CancelOutcome


class CheckInOutcome(BookingOutcome, total=False):
    event_checked_in: int
    event_title: str
    admitted: int  # tickets admitted by this scan
    known_id: int | None  # None: not a ticket code of this box office
    status_before: str | None
    first_checked_in_at: datetime | None
    first_gate: str | None
    first_checked_in_by: str | None


class ExpireOutcome(TypedDict):
    expired: int  # holds expired by this batch
    events: int  # events whose seats came back


_booking_id = _param("booking_id", BigInteger)
_event_id = _param("event_id", BigInteger)


def _order_function(name: str, param: str = "req") -> Query:
    """``SELECT name(:req)``: the request as JSON in, the answer as JSON text out (decoded
    by ``db.answer_json``, so amounts stay exact decimals)."""
    call = getattr(func, name)(cast(_param(param, Text), JSONB))
    return compiled(select(cast(call, Text).label("result")), prepared=True)


# Orders of one event, a JSON array of requests: their answers, in order (migration 0012).
PLACE_ORDERS = _order_function("boxoffice_place_orders", "reqs")
CANCEL_ORDER = _order_function("boxoffice_cancel_order")
RETURN_TICKETS = _order_function("boxoffice_return_tickets")
CONFIRM_ORDER = _order_function("boxoffice_confirm_order")
CHECK_IN = _order_function("boxoffice_check_in")
EXPIRE_HOLDS = compiled(
    select(cast(func.boxoffice_expire_holds(_param("batch", Integer)), Text).label("result"))
)
ORDER_TICKETS = compiled(
    select(cast(func.boxoffice_order_tickets(_booking_id), Text).label("result"))
)

GET_BOOKING = compiled(select(bookings).where(bookings.c.id == _booking_id))

_status = _param("status", String)
_page = (_param("skip", Integer), _param("limit", Integer))


def _list_bookings(*conditions: ColumnElement[bool]) -> Query:
    return compiled(
        select(bookings, func.count().over().label(TOTAL))
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


# --- prints --------------------------------------------------------------------------
# A print (or reprint) of an order's tickets or receipt, recorded before anything prints.
# One statement: the order, whether it may be printed, and the audit record of the print
# written only then. A print of something printed before is a reprint whatever the client
# said, so a second copy of a ticket can never go unrecorded as a first print.
_what = _param("what", String)
_print_order = (
    select(bookings.c.id, bookings.c.event_id, bookings.c.user_id, bookings.c.status)
    .where(bookings.c.id == _booking_id)
    .cte("print_order")
)
_printed_before = (
    select(func.count())
    .select_from(audit_log)
    .where(
        audit_log.c.booking_id == _booking_id,
        or_(audit_log.c.action == "ticket.print", audit_log.c.action == "ticket.reprint"),
        audit_log.c.details["what"].astext == _what,
    )
    .scalar_subquery()
)
# Tickets exist once the order is confirmed; a receipt is for any order (a hold's says what
# is due, a cancelled one's what was refunded). Staff only, so visible means it exists.
_printable = (
    select(_print_order)
    .where(or_(_print_order.c.status == "confirmed", _what == "receipt"))
    .cte("printable")
)
_reprint = or_(_param("reprint", Boolean) == true(), _printed_before > 0)
_print_audit = (
    _record(
        case((_reprint, "ticket.reprint"), else_="ticket.print"),
        _printable,
        func.jsonb_build_object(
            "what", _what, "reprint", _reprint, "printed_before", _printed_before
        ),
        event_id=_printable.c.event_id,
        booking_id=_printable.c.id,
        user_id=_printable.c.user_id,
    )
    .returning(audit_log.c.action, audit_log.c.at, audit_log.c.details)
    .cte("print_audit")
)
RECORD_PRINT = compiled(
    select(
        _print_order.c.id,
        _print_order.c.user_id,
        _print_order.c.status,
        _print_audit.c.action,
        _print_audit.c.at,
        _print_audit.c.details,
    ).select_from(_print_order.outerjoin(_print_audit, true()))
)
