"""How the screens write money, dates, times, ticket codes and errors."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal

from pydantic import ValidationError
from rich.text import Text

from common.client import ApiError
from common.models import Event, PaymentMethod, Ticket

PAYMENT_METHODS: dict[PaymentMethod, str] = {"cash": "Cash", "card": "Card", "other": "Other"}


def money(amount: Decimal) -> str:
    return f"{amount:,.2f}"


def when(event: Event) -> str:
    return event.date.astimezone().strftime("%a %d %b %Y, %H:%M")


def clock(moment: datetime, seconds: bool = False) -> str:
    """The local time of day: ``18:42`` (or ``18:42:05``)."""
    return moment.astimezone().strftime("%H:%M:%S" if seconds else "%H:%M")


def ticket_code(code: str) -> str:
    """A ticket code in groups of four, to read aloud or type back: ``1A2B 3C4D …``."""
    return " ".join(code[i : i + 4] for i in range(0, len(code), 4))


def clipped(text: str) -> Text:
    """Free text in a table column of fixed width: cut short with "…", not off the edge."""
    return Text(text, overflow="ellipsis", no_wrap=True)


def seats(quantity: int) -> str:
    return f"{quantity} seat{'s' * (quantity != 1)}"


# --- errors in a clerk's words ----------------------------------------------------------

# What the forms call the fields the server names.
FIELD_LABELS = {
    "title": "Title",
    "date": "Date",
    "venue": "Venue",
    "venue_id": "Venue",
    "total_seats": "Seats",
    "available_seats": "Seats",
    "quantity": "Seats",
    "price": "Price",
    "description": "About",
    "customer_name": "Customer",
    "payment_method": "Payment",
    "event_id": "Event",
    "ticket_type_id": "Ticket type",
    "seat_ids": "Seats",
    "seats": "Seats",
    "lines": "Tickets",
    "name": "Name",
    "username": "Username",
    "password": "Password",
    "role": "Role",
    "code": "Ticket code",
    "refund": "Refund",
    "refund_method": "Refund",
    "ticket_ids": "Tickets",
}
# pydantic's and the server's phrases -> what to do about it (first match wins).
_SAYINGS: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern, re.IGNORECASE), words)
    for pattern, words in (
        (r"valid integer|whole number|fractional part", "enter a whole number"),
        (r"valid (number|decimal)", "enter an amount, like 12.50"),
        (r"no more than (\d+) decimal places", r"use at most \1 decimal places"),
        (r"no more than (\d+) digits", "is too large"),
        (r"valid (datetime|date)|timezone|time zone", "enter a date like 2026-12-31 20:00"),
        (r"greater than or equal to (\S+)", r"must be at least \1"),
        (r"greater than (\S+)", r"must be more than \1"),
        (r"less than or equal to (\S+)", r"must be at most \1"),
        (r"less than (\S+)", r"must be less than \1"),
        (r"field required|missing|at least 1 character", "fill this in"),
        (r"at most (\d+) characters?", r"keep it to \1 characters"),
        (r"unknown field|extra inputs", "is not asked for here"),
        (r"valid boolean", "choose yes or no"),
        (r"input should be (('[^']*'(, | or )?)+)", r"choose one of \1"),
    )
)


def clerk_errors(error: ApiError | ValidationError) -> dict[str, str]:
    """What is wrong with each field, in a clerk's words, labelled as the forms label it:
    ``{"total_seats": "Seats: enter a whole number"}``. Takes the server's refusal (its
    field errors) or a form's own check (pydantic's). The field is the server's name,
    its path's first part (``lines.0.quantity`` is ``lines``)."""
    if isinstance(error, ValidationError):
        pairs = [(".".join(map(str, e["loc"])), e["msg"]) for e in error.errors(include_url=False)]
    else:
        pairs = [(e.field, e.message) for e in error.errors]
    found: dict[str, str] = {}
    for path, message in pairs:
        field = path.split(".")[0] or "form"
        found.setdefault(field, _in_words(path, message, error))
    return found


def clerk_message(error: ApiError | ValidationError) -> str:
    """The whole refusal in one line for a notice: its fields' errors in a clerk's words,
    or the server's message when it names no field."""
    fields = clerk_errors(error)
    if fields:
        return "; ".join(fields.values())
    return error.message if isinstance(error, ApiError) else str(error)


def _in_words(path: str, message: str, error: ApiError | ValidationError) -> str:
    names = [part for part in path.split(".") if not part.isdigit()]
    label = FIELD_LABELS.get(names[-1] if names else "", "")
    if not label:
        label = (names[-1] if names else "This").replace("_", " ").capitalize()
    message = message.removeprefix("Value error, ").strip()
    sold = re.fullmatch(r"must be at least (\d+)", message)
    if isinstance(error, ApiError) and error.status == 409 and sold and "sold" in error.message:
        return f"{label} cannot be below the {seats(int(sold[1]))} already sold"
    for pattern, words in _SAYINGS:
        if found := pattern.search(message):
            return f"{label}: {found.expand(words)}"
    return f"{label}: {message}"


def seat_label(ticket: Ticket) -> str:
    """Where a ticket lets its holder sit: ``Stalls F11``, or ``General admission``."""
    if ticket.seat_id is None:
        return "General admission"
    seat = f"{ticket.row or ''}{ticket.number or ''}"
    return f"{ticket.section} {seat}" if ticket.section else seat


def seat_list(tickets: Iterable[Ticket]) -> str:
    """Several tickets' seats, each row named once: ``Stalls F11, F12 · Circle A3``."""
    rows: dict[tuple[str, str], list[str]] = {}
    places = 0
    for t in tickets:
        if t.seat_id is None:
            places += 1
        else:
            rows.setdefault((t.section or "", t.row or ""), []).append(t.number or "")
    parts = [
        f"{section} {', '.join(row + n for n in numbers)}".strip()
        for (section, row), numbers in rows.items()
    ]
    if places:
        parts.append("General admission")
    return " · ".join(parts)


def plural(count: int, noun: str) -> str:
    """``1 ticket``, ``3 tickets``."""
    return f"{count} {noun}{'s' * (count != 1)}"
