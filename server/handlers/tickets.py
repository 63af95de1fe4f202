"""GET /api/v1/bookings/{booking_id}/ticket: a confirmed booking's printable ticket."""

from __future__ import annotations

import functools

import aiohttp_jinja2
from aiohttp import web
from multidict import CIMultiDict

from common.models import TicketQuery

from .. import tickets
from ..api import ANY_ROLE, Handler, endpoint, path_id
from ..keys import TICKETS
from ..openapi import produces
from ..security import Principal

# The page holds a secret (the ticket code): not cached, not sent on in a Referer, and
# nothing runs in it. Its CSS and its QR symbol are inline.
PAGE_HEADERS = {
    "Cache-Control": "no-store, private",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
}


def token_parameter(handler: Handler) -> Handler:
    """Let a browser, which cannot send an Authorization header on a link, give the access
    token as ``?token=`` (as the websocket does). The header wins when both are sent."""

    @functools.wraps(handler)
    async def with_token(request: web.Request) -> web.StreamResponse:
        token = request.query.get("token", "").strip()
        if token and "Authorization" not in request.headers:
            headers = CIMultiDict(request.headers)
            headers["Authorization"] = f"Bearer {token}"
            request = request.clone(headers=headers)
        return await handler(request)

    return with_token


@produces("text/html", only=True)
@token_parameter
@endpoint(
    summary="A booking's printable ticket (an HTML page)",
    tag="bookings",
    roles=ANY_ROLE,
    query=TicketQuery,
    errors=(404, 409, 422),
    description=(
        "A page to print or show at the door: the event, its date and venue, the seats, the "
        "customer's name, the booking number, the amount and the ticket code, in letters and "
        "as a QR symbol (inline SVG) that holds exactly the code POST /checkins takes. Only a "
        "confirmed booking has a ticket: a pending hold, a cancelled or an expired booking is "
        "a 409. Owners see their own tickets, staff any; another user's booking is a 404. "
        "Errors are JSON envelopes. A browser following a link cannot send the Authorization "
        "header: fetch the page with it, or put the access token in ?token= (it expires in "
        "minutes, but a URL is kept in logs and history, so prefer the header)."
    ),
)
async def ticket(request: web.Request, *, user: Principal, query: TicketQuery) -> web.Response:
    row = await request.app[TICKETS].load(user, path_id(request, "booking_id"))
    response = aiohttp_jinja2.render_template("ticket.html", request, tickets.context(row))
    response.headers.update(PAGE_HEADERS)
    return response
