"""Printable tickets: a confirmed order as a page with a ticket per seat, each with its own
code as a QR symbol; and the audit record of a print at the counter.

Each QR symbol holds its ticket's code itself, exactly what ``POST /checkins`` takes, so any
scanner at the door can admit it; the code is printed too, to be typed in when a scan fails.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

import segno
from markupsafe import Markup

from common.models import PrintRequest

from . import queries as q
from .booking import ensure_visible
from .db import Database, Row, answer_json
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
            raise _no_ticket(row["status"])
        tickets = answer_json(await self.db.fetchone(q.ORDER_TICKETS, booking_id=booking_id), list)
        return {**row, "tickets": tickets}

    async def record_print(self, who: Principal, booking_id: int, body: PrintRequest) -> Row:
        """Record a print of an order's tickets or receipt (``ticket.print``, or
        ``ticket.reprint`` for a copy): the terminal asks before it prints, so nothing
        comes out of a printer that the audit log does not show. Tickets need a confirmed
        order (a hold's have no codes yet); a receipt is for any order."""
        row = await self.db.fetchone(
            q.RECORD_PRINT,
            booking_id=booking_id,
            what=body.what,
            reprint=body.reprint,
            **who.audit(),
        )
        ensure_visible(who, None if row is None else row["user_id"], booking_id)
        row = cast(Row, row)
        if row["action"] is None:  # not printable: nothing was recorded
            raise _no_ticket(row["status"])
        details = row["details"]
        return {
            "order_id": row["id"],
            "what": body.what,
            "reprint": details["reprint"],
            "printed_before": details["printed_before"],
            "action": row["action"],
            "at": row["at"],
        }


def _no_ticket(status: str) -> Conflict:
    message = _NO_TICKET.get(status, f"The booking is {status}")
    return Conflict(message, data={"status": status})


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


def seat_label(ticket: dict[str, Any]) -> str:
    """Where a ticket lets its holder sit: ``Stalls F11``, or ``General admission``."""
    if ticket.get("seat_id") is None:
        return "General admission"
    seat = f"{ticket.get('row') or ''}{ticket.get('number') or ''}"
    return f"{ticket['section']} {seat}" if ticket.get("section") else seat


def ticket_context(ticket: dict[str, Any]) -> dict[str, Any]:
    """One ticket of the page: its seat, type, price and its own code, with its QR."""
    code = ticket["code"]
    admitted = ticket.get("checked_in_at")
    return {
        "seat": seat_label(ticket),
        "type": ticket["ticket_type"],
        "price": ticket["price"],
        "code": code,
        "code_grouped": grouped(code),
        "qr": qr_svg(code),
        "checked_in_at": when(admitted) if admitted else None,
        "checked_in_gate": ticket.get("checked_in_gate"),
    }


def context(row: Row) -> dict[str, Any]:
    """What ``ticket.html`` shows: the order, then a ticket per seat (or admission) still
    held, each with its own code; tickets given back are void and left out."""
    code = row["ticket_code"]
    held = [t for t in row["tickets"] if t["status"] in ("valid", "admitted") and t["code"]]
    return {
        "booking_id": row["id"],
        "title": row["event_title"],
        "date": when(row["event_date"]),
        "venue": row["event_venue"],
        "quantity": len(held),
        "customer": row["customer_name"] or row["owner_name"],
        "amount": row["amount"],
        "payment_method": row["payment_method"],
        "code_grouped": grouped(code),
        "tickets": [ticket_context(t) for t in held],
        "confirmed_at": when(row["confirmed_at"]) if row["confirmed_at"] else None,
    }
