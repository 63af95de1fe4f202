"""GET /api/v1/events/{event_id}/seats: a seated event's seat states, for whoever may see
events."""

from __future__ import annotations

from aiohttp import web

from common.models import SeatStates

from ..api import endpoint, path_id
from ..browse_cache import SEATS, Filled
from ..envelope import ok_body
from ..keys import BROWSE, SEAT_MAPS


@endpoint(
    summary="A seated event's seat states",
    tag="events",
    response=SeatStates,
    errors=(304, 404, 409, 422),
    description="Compact: seat ids ascending as runs, and a letter per seat in that order "
    "(f free, h held, s sold), followed by its repeat count when it repeats. `version` is "
    "the event's version these states are current at (read together). A general-admission "
    "event has no seat map: 409. With an ETag: sent back as If-None-Match, an unchanged map "
    "is a 304. docs/live.md#seat-maps",
)
async def event_seats(request: web.Request) -> web.Response:
    event_id = path_id(request, "event_id")

    async def fill() -> Filled:
        states = await request.app[SEAT_MAPS].get(event_id)
        return Filled(ok_body(states), frozenset({event_id}))

    return await request.app[BROWSE].answer(request, (SEATS, event_id), SEATS, fill)
