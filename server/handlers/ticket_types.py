"""/api/v1/events/{event_id}/ticket-types: what an event's tickets are sold as. Everyone
who can see the event sees its types (staff-only ones: staff only); admins change them."""

from __future__ import annotations

from aiohttp import web

from common.models import STAFF_ROLES, TicketType, TicketTypeCreate, TicketTypePatch

from ..api import ADMIN, endpoint, path_id
from ..envelope import ok
from ..keys import BROWSE, TICKET_TYPES
from ..security import Principal

_PRICES = (
    "price null is the event's price; zone_prices {zone: price} price a seated event's "
    "zones (each a zone of its venue's plan, or a 422 naming zone_prices.<zone>; a zone "
    "not named costs price). A name is unique in the event, whatever the case (409 naming "
    "name). A quota recounts sold from the active tickets; below them it is a 409. "
)


@endpoint(
    summary="An event's ticket types",
    tag="ticket types",
    viewer=True,
    response=list[TicketType],
    errors=(404, 422),
    description="In display order (position). Staff-only types (complimentary, house "
    "seats) are listed to staff (a clerk's or admin's token) only.",
)
async def list_types(request: web.Request, *, viewer: Principal | None) -> web.Response:
    staff = viewer is not None and viewer.role in STAFF_ROLES
    rows = await request.app[TICKET_TYPES].list(path_id(request, "event_id"), staff=staff)
    return ok([TicketType.model_validate(r) for r in rows])


@endpoint(
    summary="Add a ticket type to an event",
    tag="ticket types",
    roles=ADMIN,
    body=TicketTypeCreate,
    response=TicketType,
    status=201,
    errors=(404, 409, 422),
    description=_PRICES,
)
async def create_type(
    request: web.Request, *, user: Principal, body: TicketTypeCreate
) -> web.Response:
    event_id = path_id(request, "event_id")
    row = await request.app[TICKET_TYPES].create(event_id, body, by=user)
    request.app[BROWSE].changed(event_id, moved=False)  # the event's detail lists its types
    return ok(TicketType.model_validate(row), code=201, message="Ticket type created")


@endpoint(
    summary="Change some fields of a ticket type",
    tag="ticket types",
    roles=ADMIN,
    body=TicketTypePatch,
    response=TicketType,
    errors=(404, 409, 422),
    description="Only the fields given change. " + _PRICES,
)
async def patch_type(
    request: web.Request, *, user: Principal, body: TicketTypePatch
) -> web.Response:
    event_id = path_id(request, "event_id")
    row = await request.app[TICKET_TYPES].update(
        event_id, path_id(request, "type_id"), body, by=user
    )
    request.app[BROWSE].changed(event_id, moved=False)
    return ok(TicketType.model_validate(row), message="Ticket type updated")


@endpoint(
    summary="Delete a ticket type no ticket was sold as",
    tag="ticket types",
    roles=ADMIN,
    errors=(404, 409, 422),
    description="The default type, and a type tickets were sold as, are a 409: take them "
    "off sale (on_sale false) instead.",
)
async def delete_type(request: web.Request, *, user: Principal) -> web.Response:
    event_id = path_id(request, "event_id")
    await request.app[TICKET_TYPES].delete(event_id, path_id(request, "type_id"), by=user)
    request.app[BROWSE].changed(event_id, moved=False)
    return ok(message="Ticket type deleted")
