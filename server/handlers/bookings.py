"""/api/v1/bookings: book and cancel seats; users see only their own bookings."""

from __future__ import annotations

from aiohttp import web

from common.models import (
    Booking,
    BookingConfirm,
    BookingCreate,
    BookingQuery,
    BookingResult,
    CancelQuery,
)

from .. import paging
from ..api import ADMIN, ANY_ROLE, STAFF, endpoint, path_id
from ..envelope import ok
from ..keys import BOOKINGS, BROWSE
from ..security import Principal


@endpoint(
    summary="Book seats",
    tag="bookings",
    roles=ANY_ROLE,
    body=BookingCreate,
    response=BookingResult,
    status=201,
    errors=(403, 404, 409, 422),
    description=(
        "Takes the seats and records the booking atomically; 409 when too few seats remain "
        "or the event has started. With hold: true the seats are held as a pending booking "
        "that expires (hold_seconds, default 10 minutes) unless confirmed. Who may sell: "
        "staff sell outright and set customer_name and payment_method (a user sending "
        "either gets a 403 naming it); a user's booking of a priced event is a reservation, "
        "a hold paid at the counter or through a partner (unless the deployment lets users "
        "pay elsewhere: BOXOFFICE_USER_BOOKINGS=confirm); free events confirm at once. A "
        "user holds at most BOXOFFICE_MAX_HELD_SEATS seats at a time (409 with held_seats "
        "and max_held_seats). The message says which: 'Seats held' or 'Booking confirmed'."
    ),
)
async def create_booking(
    request: web.Request, *, user: Principal, body: BookingCreate
) -> web.Response:
    row = await request.app[BOOKINGS].book(user, body)
    request.app[BROWSE].changed(body.event_id, moved=False)  # before answering: see it
    message = "Seats held" if row["status"] == "pending" else "Booking confirmed"
    return ok(BookingResult.model_validate(row), code=201, message=message)


@endpoint(
    summary="Your own bookings (for staff: the sales you made)",
    tag="bookings",
    roles=ANY_ROLE,
    query=BookingQuery,
    response=list[Booking],
)
async def list_own(request: web.Request, *, user: Principal, query: BookingQuery) -> web.Response:
    bookings = request.app[BOOKINGS]
    return await paging.listed(request, query, lambda q: bookings.list_own(user, q), Booking)


@endpoint(
    summary="Every booking",
    tag="bookings",
    roles=ADMIN,
    query=BookingQuery,
    response=list[Booking],
)
async def list_all(request: web.Request, *, user: Principal, query: BookingQuery) -> web.Response:
    return await paging.listed(request, query, request.app[BOOKINGS].list_all, Booking)


@endpoint(
    summary="The bookings of one event",
    tag="bookings",
    roles=STAFF,
    query=BookingQuery,
    response=list[Booking],
    errors=(404, 422),
)
async def list_for_event(
    request: web.Request, *, user: Principal, query: BookingQuery
) -> web.Response:
    event_id, bookings = path_id(request, "event_id"), request.app[BOOKINGS]
    return await paging.listed(
        request, query, lambda q: bookings.list_for_event(event_id, q), Booking
    )


@endpoint(
    summary="One booking (another user's is 404)",
    tag="bookings",
    roles=ANY_ROLE,
    response=Booking,
    errors=(404, 422),
)
async def get_booking(request: web.Request, *, user: Principal) -> web.Response:
    row = await request.app[BOOKINGS].get(user, path_id(request, "booking_id"))
    return ok(Booking.model_validate(row))


@endpoint(
    summary="Confirm a hold: it becomes a booking with a ticket",
    tag="bookings",
    roles=ANY_ROLE,
    body=BookingConfirm,
    response=Booking,
    errors=(403, 404, 409, 422),
    description=(
        "Only a pending hold that has not lapsed can be confirmed; an expired one is a 409 "
        "(its seats were released: book again). Staff confirm any hold, taking the payment "
        "(payment_method is theirs to set: a user sending it gets a 403). Owners confirm "
        "their holds of free events; a hold of a priced event is confirmed by staff when "
        "paid (403 for its owner, unless BOXOFFICE_USER_BOOKINGS=confirm)."
    ),
)
async def confirm_booking(
    request: web.Request, *, user: Principal, body: BookingConfirm
) -> web.Response:
    row = await request.app[BOOKINGS].confirm(user, path_id(request, "booking_id"), body)
    request.app[BROWSE].changed(row["event_id"], moved=False)  # a seated event's seats
    return ok(Booking.model_validate(row), message="Booking confirmed")


@endpoint(
    summary="Cancel a booking and return its seats",
    tag="bookings",
    roles=ANY_ROLE,
    query=CancelQuery,
    response=BookingResult,
    errors=(403, 404, 409, 422),
    description=(
        "Users cancel their own bookings; clerks and admins any. Seats return once. A "
        "booking whose ticket was already admitted, or whose event has started, is a 409 "
        "unless staff pass override=true (recorded in the booking.cancel audit record); "
        "a user passing override gets a 403."
    ),
)
async def cancel_booking(
    request: web.Request, *, user: Principal, query: CancelQuery
) -> web.Response:
    row = await request.app[BOOKINGS].cancel(
        user, path_id(request, "booking_id"), override=query.override
    )
    request.app[BROWSE].changed(row["event_id"], moved=False)
    return ok(BookingResult.model_validate(row), message="Booking cancelled")
