"""Bookings, one row each: reference, customer, seats, status, when sold, event.

The status says what the door needs to know: a hold and until when it is kept, a ticket
admitted and when. The event's title comes last: on a narrow terminal it is what is cut."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime

from rich.text import Text
from textual.binding import Binding
from textual.widgets import DataTable

from common.models import Booking, Event

from ..formatting import PAYMENT_METHODS, clock, money, ticket_code

COLUMNS = (
    ("ref", "Ref"),
    ("customer", "Customer"),
    ("seats", "Seats"),
    ("status", "Status"),
    ("sold", "Sold"),
    ("event", "Event"),
)
STATUS_STYLES = {"confirmed": "green", "pending": "yellow", "cancelled": "dim", "expired": "dim"}


def lapsed(booking: Booking, now: datetime | None = None) -> bool:
    """A hold past its expiry (the server releases its seats within moments)."""
    return (
        booking.status == "pending"
        and booking.expires_at is not None
        and booking.expires_at <= (now or datetime.now(UTC))
    )


def status(booking: Booking) -> Text:
    if booking.status == "pending":
        if lapsed(booking):
            return Text("hold lapsed", style="dim")
        until = clock(booking.expires_at) if booking.expires_at else "?"
        return Text(f"held till {until}", style="bold yellow")
    if booking.status == "confirmed" and booking.checked_in_at is not None:
        return Text(f"admitted {clock(booking.checked_in_at)}", style="bold cyan")
    return Text(booking.status, style=STATUS_STYLES.get(booking.status, ""))


def detail(booking: Booking) -> str:
    """One line about a booking: payment, ticket, admission."""
    total = money(booking.amount)
    if booking.status == "pending":
        if lapsed(booking):
            return f"#{booking.id}: the hold lapsed unpaid; its seats are back on sale"
        until = clock(booking.expires_at) if booking.expires_at else "?"
        return f"#{booking.id}: {total} to pay by {until}; p confirms the hold"
    paid = PAYMENT_METHODS[booking.payment_method] if booking.payment_method else "Paid"
    if booking.status == "confirmed":
        if booking.checked_in_at is not None:
            gate = f" at {booking.checked_in_gate}" if booking.checked_in_gate else ""
            return f"#{booking.id}: {paid} {total} · admitted {clock(booking.checked_in_at)}{gate}"
        return f"#{booking.id}: {paid} {total} · ticket {ticket_code(booking.ticket_code or '')}"
    return f"#{booking.id}: {booking.status}"


def row(booking: Booking, events: Mapping[int, Event]) -> tuple[object, ...]:
    event = events.get(booking.event_id)
    return (
        f"#{booking.id}",
        booking.customer_name or "—",
        Text(str(booking.quantity), justify="right"),
        status(booking),
        booking.created_at.astimezone().strftime("%d %b %H:%M"),
        event.title if event else f"event {booking.event_id}",
    )


class BookingsTable(DataTable[object]):
    # Enter (or a click on the highlighted row) opens the order: shown in the footer.
    BINDINGS = [Binding("enter", "select_cursor", "Tickets")]

    def __init__(self, **kwargs: object) -> None:
        super().__init__(cursor_type="row", zebra_stripes=True, **kwargs)  # type: ignore[arg-type]
        self.bookings: dict[int, Booking] = {}

    def on_mount(self) -> None:
        for key, label in COLUMNS:
            self.add_column(label, key=key)

    def show(self, bookings: Iterable[Booking], events: Mapping[int, Event]) -> None:
        """Show these bookings, the cursor staying on the selected one if it is still there."""
        kept = self.selected
        self.clear()
        self.bookings = {}
        for booking in bookings:
            self.add_row(*row(booking, events), key=str(booking.id))
            self.bookings[booking.id] = booking
        if kept is not None and kept.id in self.bookings:
            self.move_cursor(row=self.get_row_index(str(kept.id)))

    def replace(self, booking: Booking, events: Mapping[int, Event]) -> None:
        """One booking changed (cancelled, say): update its row where it is."""
        if booking.id not in self.bookings:
            return
        self.bookings[booking.id] = booking
        for (column, _), value in zip(COLUMNS, row(booking, events), strict=True):
            self.update_cell(str(booking.id), column, value, update_width=True)

    def refresh_holds(self) -> None:
        """Holds change their look as they lapse: redraw their status."""
        for booking in self.bookings.values():
            if booking.status == "pending":
                self.update_cell(str(booking.id), "status", status(booking), update_width=True)

    @property
    def selected(self) -> Booking | None:
        if not self.row_count:
            return None
        row_key, _ = self.coordinate_to_cell_key(self.cursor_coordinate)
        return self.bookings.get(int(row_key.value)) if row_key.value else None
