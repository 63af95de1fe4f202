"""/api/v1/checkins: admit tickets at the door, once each."""

from __future__ import annotations

from aiohttp import web

from common.models import Booking, CheckIn, CheckInResult

from ..api import STAFF, endpoint
from ..envelope import ok
from ..keys import BOOKINGS, BROWSE
from ..security import Principal


@endpoint(
    summary="Admit a ticket",
    tag="bookings",
    roles=STAFF,
    body=CheckIn,
    response=CheckInResult,
    errors=(404, 409, 422),
    description=(
        "Admits a ticket once: a ticket's own code admits that ticket, the order's code "
        "(the booking's ticket_code) every ticket of the order not yet in. A second scan is "
        "a 409 that says when, where and by whom it was first admitted; a returned ticket, "
        "or a cancelled, expired or held order, is a 409 and an unknown code a 404."
    ),
)
async def check_in(request: web.Request, *, user: Principal, body: CheckIn) -> web.Response:
    row = await request.app[BOOKINGS].check_in(user, body)
    request.app[BROWSE].changed(row["event_id"], moved=False)  # its checked_in count
    result = CheckInResult(
        booking=Booking.model_validate(row),
        event_title=row["event_title"],
        event_checked_in=row["event_checked_in"],
        admitted=row["admitted"],
        tickets=row["tickets"],
    )
    return ok(result, message="Admitted")
