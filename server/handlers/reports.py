"""/api/v1/reports: what the staff sold and took, for closing a till or a day."""

from __future__ import annotations

from aiohttp import web

from common.models import ShiftQuery, ShiftReport

from .. import reports
from ..api import STAFF, endpoint
from ..envelope import ok
from ..keys import REPORTS
from ..openapi import produces
from ..security import Principal


@produces("text/csv")
@endpoint(
    summary="Shift report: a clerk's sales, refunds and takings in a period",
    tag="reports",
    roles=STAFF,
    query=ShiftQuery,
    response=ShiftReport,
    errors=(404, 422),
    description=(
        "Sales (bookings the clerk made that became confirmed in the period, holds confirmed "
        "among them, with every ticket they were sold with), refunds counted ticket by ticket "
        "when and by whom they were given back: cancellations the clerk made and tickets the "
        "clerk returned from orders (each refunded once), totals per payment method (cash, "
        "card, other, unrecorded; a refund by how it was paid back), net takings, every "
        "booking counted, and the sales and refunds per ticket type and zone (by_type). "
        "The period is [date_from, date_to); by default the 12 hours up to now, and "
        "a date alone means a whole day in the server's time zone. Clerks see their own "
        "report (naming another clerk is a 403); admins anyone's, and without clerk= every "
        "staff member's sales and cancellations together (an unknown name is a 404). "
        "format=csv or Accept: text/csv answers a CSV file instead: a line per booking, then "
        "the summary and the lines per ticket type and zone."
    ),
)
async def shift_report(request: web.Request, *, user: Principal, query: ShiftQuery) -> web.Response:
    report = await request.app[REPORTS].shift(user, query)
    if not _wants_csv(request, query):
        return ok(report, headers={"Vary": "Accept"})
    return web.Response(
        text=reports.to_csv(report),
        content_type="text/csv",
        charset="utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="{reports.filename(report)}"',
            "Cache-Control": "no-store, private",
            "Vary": "Accept",
        },
    )


def _wants_csv(request: web.Request, query: ShiftQuery) -> bool:
    """format= decides; without it, CSV when Accept names text/csv before any JSON."""
    if query.format is not None:
        return query.format == "csv"
    accepted = [
        part.split(";")[0].strip().lower() for part in request.headers.get("Accept", "").split(",")
    ]
    if "text/csv" not in accepted:
        return False
    json_at = accepted.index("application/json") if "application/json" in accepted else None
    return json_at is None or accepted.index("text/csv") < json_at
