"""/api/v1/venues: seating plans, readable by everyone (like events), changed by admins."""

from __future__ import annotations

from aiohttp import web

from common.models import Venue, VenueDetail, VenuePlan, VenueSeats

from ..api import ADMIN, endpoint, path_id
from ..envelope import ok
from ..keys import BROWSE, VENUES
from ..security import Principal

_PLAN_ERRORS = (
    "A plan's problems are 422s naming their place, e.g. field sections.0.rows.3.seats: "
    "overlapping positions, duplicate labels, unknown zones, bad seat lists, no seats, or "
    "more than 100,000 seats. The format: docs/venues.md."
)


@endpoint(summary="List venues", tag="venues", response=list[Venue])
async def list_venues(request: web.Request) -> web.Response:
    return ok([Venue.model_validate(r) for r in await request.app[VENUES].list()])


@endpoint(
    summary="One venue with its plan in the compact form",
    tag="venues",
    response=VenueDetail,
    errors=(404, 422),
    description="The plan is what PUT takes back: importing it gives the same seats.",
)
async def get_venue(request: web.Request) -> web.Response:
    info, plan = await request.app[VENUES].detail(path_id(request, "venue_id"))
    return ok(VenueDetail.model_validate({**info, "plan": plan}))


@endpoint(
    summary="A venue's current seats, one array per column",
    tag="venues",
    response=VenueSeats,
    errors=(404, 422),
    description="Index i of every column array is one seat; the flags are lists of ids.",
)
async def venue_seats(request: web.Request) -> web.Response:
    return ok(await request.app[VENUES].seats(path_id(request, "venue_id")))


@endpoint(
    summary="Create a venue with its seating plan",
    tag="venues",
    roles=ADMIN,
    body=VenuePlan,
    response=Venue,
    status=201,
    errors=(422,),
    description=_PLAN_ERRORS,
)
async def create_venue(request: web.Request, *, user: Principal, body: VenuePlan) -> web.Response:
    row = await request.app[VENUES].create(body, by=user)
    return ok(Venue.model_validate(row), code=201, message="Venue created")


@endpoint(
    summary="Replace a venue's details and plan",
    tag="venues",
    roles=ADMIN,
    body=VenuePlan,
    response=Venue,
    errors=(404, 422),
    description="Seats keep their ids by (section, row, number); removed seats are retired, "
    "never deleted, so tickets can still reference them. " + _PLAN_ERRORS,
)
async def replace_venue(request: web.Request, *, user: Principal, body: VenuePlan) -> web.Response:
    row = await request.app[VENUES].replace(path_id(request, "venue_id"), body, by=user)
    request.app[BROWSE].changed_all()  # removed seats leave its events' seat maps
    return ok(Venue.model_validate(row), message="Venue updated")


@endpoint(summary="Delete a venue", tag="venues", roles=ADMIN, errors=(404, 422))
async def delete_venue(request: web.Request, *, user: Principal) -> web.Response:
    await request.app[VENUES].delete(path_id(request, "venue_id"), by=user)
    return ok(message="Venue deleted")
