"""GET /api/v1/events/{event_id}/seats: a seated event's seat states, for whoever may see
events."""

from __future__ import annotations

from aiohttp import web

from common.models import SeatStates

from ..api import endpoint, path_id
from ..envelope import ok
from ..keys import SEAT_MAPS


@endpoint(
    summary="A seated event's seat states",
    tag="events",
    response=SeatStates,
    errors=(404, 409, 422),
    description="Compact: seat ids ascending as runs, and a letter per seat in that order "
    "(f free, h held, s sold), followed by its repeat count when it repeats. `version` is "
    "the event's version these states are current at (read together). A general-admission "
    "event has no seat map: 409. docs/live.md#seat-maps",
)
async def event_seats(request: web.Request) -> web.Response:
    return ok(await request.app[SEAT_MAPS].get(path_id(request, "event_id")))
