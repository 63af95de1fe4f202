"""How the screens write money, dates, times and ticket codes."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal

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


def seats(quantity: int) -> str:
    return f"{quantity} seat{'s' * (quantity != 1)}"


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
