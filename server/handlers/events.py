"""/api/v1/events: browsing for everyone, changes for admins."""

from __future__ import annotations

from aiohttp import web

from common.models import Event, EventCreate, EventPatch, EventQuery

from ..api import ADMIN, endpoint, path_id
from ..envelope import ok
from ..keys import EVENTS
from ..security import Principal


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


@endpoint(summary="One event", tag="events", response=Event, errors=(404, 422))
async def get_event(request: web.Request) -> web.Response:
    row = await request.app[EVENTS].get(path_id(request, "event_id"))
    return ok(Event.model_validate(row))


@endpoint(
    summary="Create an event",
    tag="events",
    roles=ADMIN,
    body=EventCreate,
    response=Event,
    status=201,
    errors=(422,),
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
    description="A new total_seats keeps the seats already sold; below them it is a 409.",
)
async def replace_event(
    request: web.Request, *, user: Principal, body: EventCreate
) -> web.Response:
    row = await request.app[EVENTS].update(path_id(request, "event_id"), body.model_dump(), by=user)
    return ok(Event.model_validate(row), message="Event updated")


@endpoint(
    summary="Change some fields of an event",
    tag="events",
    roles=ADMIN,
    body=EventPatch,
    response=Event,
    errors=(404, 409, 422),
    description="Only the fields given change. total_seats below the seats sold is a 409.",
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
