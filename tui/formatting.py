"""How the screens write money, dates, times and ticket codes."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from common.models import Event, PaymentMethod

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
