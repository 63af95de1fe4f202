"""/api/v1/orders: several ticket types and seats in one order, and giving some back.

A booking is an order with one line: an order's id is its booking's, so confirming,
cancelling and its printable ticket are the /bookings/{id} calls.
"""

from __future__ import annotations

from aiohttp import web

from common.models import (
    Order,
    OrderCreate,
    OrderResult,
    PrintRecord,
    PrintRequest,
    ReturnResult,
    TicketReturn,
)

from ..api import ANY_ROLE, STAFF, endpoint, path_id
from ..booking import with_lines
from ..envelope import ok
from ..keys import BOOKINGS, BROWSE, TICKETS
from ..security import Principal


@endpoint(
    summary="Place an order",
    tag="orders",
    roles=ANY_ROLE,
    body=OrderCreate,
    response=OrderResult,
    status=201,
    errors=(403, 404, 409, 422),
    description=(
        "All or nothing: every line gets its tickets, or nothing changes. A line is "
        "`{ticket_type_id, quantity}` or, on a seated event, `{ticket_type_id, seat_ids}` "
        "(ticket_type_id null: the event's default type). A seated event's quantity lines "
        "get the best seats free (zone rank, then front and centre), side by side in one row "
        "unless `best_available.together` is false, in `best_available.zone` if given; "
        "`best_available.count` alone orders that many of the default type. Refusals: 409 "
        "with the taken seats' ids in `data.seat_ids`, the largest block still free in "
        "`data.largest_block`, the seats left in `data.available_seats`, or what a type's "
        "quota leaves in `data.left`; 422 naming seats not of this event, an unknown or "
        "off-sale type, or picked seats on a general-admission event; 403 for a staff-only "
        "type (complimentary, house seats) used by a user. Holds, reservations and the "
        "staff-only fields are as for POST /bookings."
    ),
)
async def create_order(request: web.Request, *, user: Principal, body: OrderCreate) -> web.Response:
    row = await request.app[BOOKINGS].place(user, body)
    request.app[BROWSE].changed(body.event_id, moved=False)  # before answering: see it
    message = "Seats held" if row["status"] == "pending" else "Order confirmed"
    return ok(OrderResult.model_validate(with_lines(row)), code=201, message=message)


@endpoint(
    summary="One order with its lines and tickets (another user's is 404)",
    tag="orders",
    roles=ANY_ROLE,
    response=Order,
    errors=(404, 422),
)
async def get_order(request: web.Request, *, user: Principal) -> web.Response:
    row = await request.app[BOOKINGS].get_order(user, path_id(request, "order_id"))
    return ok(Order.model_validate(row))


@endpoint(
    summary="Give back some tickets of an order",
    tag="orders",
    roles=ANY_ROLE,
    body=TicketReturn,
    response=ReturnResult,
    errors=(403, 404, 409, 422),
    description=(
        "Returns just those tickets: their seats are free again and a sale's are refunded "
        "at their price (`payment_method`: how the refund is paid, staff only, default as "
        "the sale was paid). Returning every ticket still held cancels the order. Tickets "
        "not of this order are a 422 naming them; tickets already given back a 409; an "
        "admitted ticket, or one of an event that has started, a 409 unless staff pass "
        "`override: true` (recorded in the booking.return audit record)."
    ),
)
async def return_tickets(
    request: web.Request, *, user: Principal, body: TicketReturn
) -> web.Response:
    row = await request.app[BOOKINGS].return_tickets(user, path_id(request, "order_id"), body)
    request.app[BROWSE].changed(row["event_id"], moved=False)
    return ok(ReturnResult.model_validate(with_lines(row)), message="Tickets returned")


@endpoint(
    summary="Record a print of an order's tickets or receipt (staff)",
    tag="orders",
    roles=STAFF,
    body=PrintRequest,
    response=PrintRecord,
    status=201,
    errors=(403, 404, 409, 422),
    description=(
        "A counter terminal calls this before it prints, so every printed ticket and "
        "receipt is in the audit log: `ticket.print`, or `ticket.reprint` for a copy "
        "(`reprint: true`, or anything printed for this order before, whatever the client "
        "says), with `what`, `reprint` and `printed_before` in its details. Tickets need a "
        "confirmed order (a hold's have no codes yet, a cancelled or expired order's are "
        "void): 409 otherwise, and nothing is recorded. A receipt may be printed for any "
        "order. An order that does not exist is a 404."
    ),
)
async def record_print(
    request: web.Request, *, user: Principal, body: PrintRequest
) -> web.Response:
    row = await request.app[TICKETS].record_print(user, path_id(request, "order_id"), body)
    message = "Reprint recorded" if row["reprint"] else "Print recorded"
    return ok(PrintRecord.model_validate(row), code=201, message=message)
