"""/api/v1/events: browsing for everyone, changes for admins."""

from __future__ import annotations

from aiohttp import web

from common.models import STAFF_ROLES, Event, EventCreate, EventDetail, EventPatch, EventQuery

from ..api import ADMIN, endpoint, path_id
from ..envelope import ok
from ..keys import EVENTS, TICKET_TYPES
from ..security import Principal

_SEATED = (
    "An event is general admission (total_seats) or seated on a venue's plan (venue_id: "
    "its total is the plan's current seats; giving both is a 422 naming total_seats, a "
    "venue without seats a 422 naming venue_id). "
)
_MOVE = (
    "venue_id changes only while the event has no tickets (409 otherwise): its seats are "
    "then rebuilt from the new plan (null: general admission). A seated event's "
    "total_seats cannot change (422). "
)


def _events(rows: list) -> list[Event]:
    return [Event.model_validate(r) for r in rows]


@endpoint(summary="List events", tag="events", query=EventQuery, response=list[Event])
async def list_events(request: web.Request, *, query: EventQuery) -> web.Response:
    return ok(_events(await request.app[EVENTS].list(query)))


@endpoint(
    summary="List upcoming events that still have seats",
    tag="events",
    query=EventQuery,
    response=list[Event],
)
async def list_available(request: web.Request, *, query: EventQuery) -> web.Response:
    return ok(_events(await request.app[EVENTS].list(query, available_only=True)))


@endpoint(
    summary="One event, with its ticket types",
    tag="events",
    viewer=True,
    response=EventDetail,
    errors=(404, 422),
    description="Staff-only ticket types are listed to staff (a clerk's or admin's token) only.",
)
async def get_event(request: web.Request, *, viewer: Principal | None) -> web.Response:
    event_id = path_id(request, "event_id")
    row = await request.app[EVENTS].get(event_id)
    staff = viewer is not None and viewer.role in STAFF_ROLES
    types = await request.app[TICKET_TYPES].list(event_id, staff=staff)
    return ok(EventDetail.model_validate({**row, "ticket_types": types}))


@endpoint(
    summary="Create an event",
    tag="events",
    roles=ADMIN,
    body=EventCreate,
    response=Event,
    status=201,
    errors=(422,),
    description=_SEATED,
)
async def create_event(request: web.Request, *, user: Principal, body: EventCreate) -> web.Response:
    row = await request.app[EVENTS].create(body.model_dump(), by=user)
    return ok(Event.model_validate(row), code=201, message="Event created")


@endpoint(
    summary="Replace an event",
    tag="events",
    roles=ADMIN,
    body=EventCreate,
    response=Event,
    errors=(404, 409, 422),
    description="A new total_seats keeps the seats already sold; below them it is a 409. "
    + _SEATED
    + _MOVE,
)
async def replace_event(
    request: web.Request, *, user: Principal, body: EventCreate
) -> web.Response:
    row = await request.app[EVENTS].replace(
        path_id(request, "event_id"), body.model_dump(), by=user
    )
    return ok(Event.model_validate(row), message="Event updated")


@endpoint(
    summary="Change some fields of an event",
    tag="events",
    roles=ADMIN,
    body=EventPatch,
    response=Event,
    errors=(404, 409, 422),
    description="Only the fields given change. total_seats below the seats sold is a 409. " + _MOVE,
)
async def patch_event(request: web.Request, *, user: Principal, body: EventPatch) -> web.Response:
    fields = body.model_dump(exclude_unset=True)
    row = await request.app[EVENTS].update(path_id(request, "event_id"), fields, by=user)
    return ok(Event.model_validate(row), message="Event updated")


@endpoint(
    summary="Delete an event without active bookings",
    tag="events",
    roles=ADMIN,
    errors=(404, 409, 422),
)
async def delete_event(request: web.Request, *, user: Principal) -> web.Response:
    await request.app[EVENTS].delete(path_id(request, "event_id"), by=user)
    return ok(message="Event deleted")
