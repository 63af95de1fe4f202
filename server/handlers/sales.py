"""What admins' dashboards read: an event's sales per zone and type, seats per zone of the
seated events, and tickets made per minute lately (``server/sales.py``)."""

from __future__ import annotations

from aiohttp import web

from common.models import EventSales, RecentSales, RecentSalesQuery, ZoneQuery, ZoneSales

from ..api import ADMIN, endpoint, path_id
from ..envelope import ok
from ..keys import SALES
from ..security import Principal


@endpoint(
    summary="An event's held and sold tickets and takings, per zone and ticket type",
    tag="reports",
    roles=ADMIN,
    response=EventSales,
    errors=(404, 422),
    description="Counts of the event's active tickets: held (an order awaiting payment) "
    "and sold, and the takings of the sold ones at the prices they sold at; per price zone "
    "for a seated event (with its seats free, held and sold) and per ticket type (types "
    "with no active ticket are left out). docs/terminal.md#admins-seated-events",
)
async def event_sales(request: web.Request, *, user: Principal) -> web.Response:
    return ok(await request.app[SALES].event(path_id(request, "event_id")))


@endpoint(
    summary="Seats per zone and state of the seated events",
    tag="reports",
    roles=ADMIN,
    query=ZoneQuery,
    response=list[ZoneSales],
    errors=(422,),
    description="For every seated event that has not ended (it ends 12 hours after it "
    "starts), or the one event_id names: each zone's seats, free, held and sold, in the "
    "zones' rank order. takings is 0 here: the per-event sales carry them.",
)
async def zone_seats(request: web.Request, *, user: Principal, query: ZoneQuery) -> web.Response:
    return ok(await request.app[SALES].zones(query))


@endpoint(
    summary="Tickets made per bucket of time, lately",
    tag="reports",
    roles=ADMIN,
    query=RecentSalesQuery,
    response=RecentSales,
    errors=(422,),
    description="Tickets made (held or sold, of every event, whatever became of them since) "
    "in each bucket of bucket_seconds over the last minutes, oldest first and ending with "
    "the bucket now running. Bucket n covers epoch seconds [n * size, (n + 1) * size).",
)
async def recent_sales(
    request: web.Request, *, user: Principal, query: RecentSalesQuery
) -> web.Response:
    return ok(await request.app[SALES].recent(query))
