"""/api/v1/events: browsing for everyone (answered from the browse cache when it can be),
changes for admins."""

from __future__ import annotations

from aiohttp import web

from common.models import STAFF_ROLES, Event, EventCreate, EventDetail, EventPatch, EventQuery

from .. import paging
from ..api import ADMIN, endpoint, path_id
from ..browse_cache import AVAILABLE, EVENT, LIST, Filled, expiry
from ..envelope import ok, ok_body
from ..keys import BROWSE, EVENTS, TICKET_TYPES
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


_ETAG = (
    "An ETag comes with the answer; sent back as If-None-Match, an answer that has not "
    "changed is a 304 with no body."
)


async def _listed(request: web.Request, query: EventQuery, kind: str) -> web.Response:
    """A list of events, kept per query (normalised: the validated parameters). A list of
    upcoming events goes stale by itself when its first event starts."""
    events = request.app[EVENTS]
    available_only = kind == AVAILABLE

    async def fill() -> Filled:
        rows = await events.list(query, available_only=available_only)
        starts = []
        if query.upcoming or available_only:
            # Ordered by date: the first event of the whole list starts first. Past a
            # skip it is not among the rows, so the next start of any event is used.
            first = rows[0]["date"] if rows else None
            starts = [first] if query.skip == 0 else [await events.next_start()]
        ids = frozenset(r["id"] for r in rows)
        first = query.model_copy(update={"skip": 0, "limit": 1})
        count = await paging.total(
            rows, query.skip, lambda: events.list(first, available_only=available_only)
        )
        links = paging.headers(request.path, query, count)
        stale = expiry(d for d in starts if d is not None)
        return Filled(ok_body(_events(rows)), ids, stale, tuple(links.items()))

    key = (kind, query.model_dump_json())
    return await request.app[BROWSE].answer(request, key, kind, fill)


# What both lists take and answer.
_LIST = {"tag": "events", "query": EventQuery, "response": list[Event], "errors": (304,)}


@endpoint(summary="List events", description=_ETAG, **_LIST)
async def list_events(request: web.Request, *, query: EventQuery) -> web.Response:
    return await _listed(request, query, LIST)


@endpoint(summary="List upcoming events that still have seats", description=_ETAG, **_LIST)
async def list_available(request: web.Request, *, query: EventQuery) -> web.Response:
    return await _listed(request, query, AVAILABLE)


@endpoint(
    summary="One event, with its ticket types",
    tag="events",
    viewer=True,
    response=EventDetail,
    errors=(304, 404, 422),
    description="Staff-only ticket types are listed to staff (a clerk's or admin's token) "
    "only. " + _ETAG,
)
async def get_event(request: web.Request, *, viewer: Principal | None) -> web.Response:
    event_id = path_id(request, "event_id")
    staff = viewer is not None and viewer.role in STAFF_ROLES

    async def fill() -> Filled:
        row = await request.app[EVENTS].get(event_id)
        types = await request.app[TICKET_TYPES].list(event_id, staff=staff)
        detail = EventDetail.model_validate({**row, "ticket_types": types})
        return Filled(ok_body(detail), frozenset({event_id}))

    # Staff see staff-only types: their answer is kept apart from everyone else's.
    return await request.app[BROWSE].answer(request, (EVENT, event_id, staff), EVENT, fill)


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
    request.app[BROWSE].changed(row["id"], moved=True)
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
    request.app[BROWSE].changed(row["id"], moved=True)
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
    request.app[BROWSE].changed(row["id"], moved=True)
    return ok(Event.model_validate(row), message="Event updated")


@endpoint(
    summary="Delete an event without active bookings",
    tag="events",
    roles=ADMIN,
    errors=(404, 409, 422),
)
async def delete_event(request: web.Request, *, user: Principal) -> web.Response:
    event_id = path_id(request, "event_id")
    await request.app[EVENTS].delete(event_id, by=user)
    request.app[BROWSE].changed(event_id, moved=True)
    return ok(message="Event deleted")
