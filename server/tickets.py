"""Printable tickets: a confirmed booking as a page with its code as a QR symbol.

The QR symbol holds the ticket code itself, exactly what ``POST /checkins`` takes, so any
scanner at the door can admit it; the code is printed too, to be typed in when a scan fails.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

import segno
from markupsafe import Markup

from . import queries as q
from .booking import ensure_visible
from .db import Database, Row
from .envelope import Conflict
from .security import Principal

_NO_TICKET = {
    "pending": "The booking is a hold that is not paid yet: confirm it to get its ticket",
    "cancelled": "The booking is cancelled; it has no ticket",
    "expired": "The hold expired and its seats were released; it has no ticket",
}


class Tickets:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def load(self, who: Principal, booking_id: int) -> Row:
        """A confirmed booking with its event, for its owner or staff; others get a 404."""
        row = await self.db.fetchone(q.GET_TICKET, booking_id=booking_id)
        ensure_visible(who, None if row is None else row["user_id"], booking_id)
        row = cast(Row, row)  # not None: ensure_visible refused a missing booking
        if row["status"] != "confirmed":
            message = _NO_TICKET.get(row["status"], f"The booking is {row['status']}")
            raise Conflict(message, data={"status": row["status"]})
        return row


def qr_svg(code: str) -> Markup:
    """The code as a QR symbol, inline SVG that scales to any size (one unit a module).

    Error correction M survives a crease or a smudge and keeps a 32-character code in a
    small symbol (version 2); the border is the four modules of quiet zone scanners need.
    """
    qr = segno.make_qr(code, error="m", boost_error=False)
    svg = qr.svg_inline(
        scale=1, border=4, omitsize=True, svgclass="qr", lineclass=None, title=f"Ticket {code}"
    )
    return Markup(svg)  # segno's own markup; the code is escaped in the title


def grouped(code: str) -> str:
    """The code in groups of four, as people read it out (check-in ignores the spaces)."""
    return " ".join(code[i : i + 4] for i in range(0, len(code), 4))


def when(moment: datetime) -> str:
    """A date and time in the server's time zone, spelled out for people."""
    local = moment.astimezone()
    return f"{local:%A} {local.day} {local:%B %Y}, {local:%H:%M} {local.tzname() or ''}".strip()


def context(row: Row) -> dict[str, Any]:
    """What ``ticket.html`` shows."""
    code = row["ticket_code"]
    return {
        "booking_id": row["id"],
        "title": row["event_title"],
        "date": when(row["event_date"]),
        "venue": row["event_venue"],
        "quantity": row["quantity"],
        "customer": row["customer_name"] or row["owner_name"],
        "amount": row["amount"],
        "payment_method": row["payment_method"],
        "code": code,
        "code_grouped": grouped(code),
        "qr": qr_svg(code),
        "confirmed_at": when(row["confirmed_at"]) if row["confirmed_at"] else None,
        "checked_in_at": when(row["checked_in_at"]) if row["checked_in_at"] else None,
        "checked_in_gate": row["checked_in_gate"],
    }
