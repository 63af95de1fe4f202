"""Bookings, one row each: reference, event, customer, seats, status, when sold."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from rich.text import Text
from textual.widgets import DataTable

from common.models import Booking, Event

COLUMNS = (
    ("ref", "Ref"),
    ("event", "Event"),
    ("customer", "Customer"),
    ("seats", "Seats"),
    ("status", "Status"),
    ("sold", "Sold"),
)
STATUS_STYLES = {"confirmed": "green", "pending": "yellow", "cancelled": "dim", "expired": "dim"}


def row(booking: Booking, events: Mapping[int, Event]) -> tuple[object, ...]:
    event = events.get(booking.event_id)
    return (
        f"#{booking.id}",
        event.title if event else f"event {booking.event_id}",
        booking.customer_name or "—",
        Text(str(booking.quantity), justify="right"),
        Text(booking.status, style=STATUS_STYLES.get(booking.status, "")),
        booking.created_at.astimezone().strftime("%d %b %H:%M"),
    )


class BookingsTable(DataTable[object]):
    def __init__(self, **kwargs: object) -> None:
        super().__init__(cursor_type="row", zebra_stripes=True, **kwargs)  # type: ignore[arg-type]
        self.bookings: dict[int, Booking] = {}

    def on_mount(self) -> None:
        for key, label in COLUMNS:
            self.add_column(label, key=key)

    def show(self, bookings: Iterable[Booking], events: Mapping[int, Event]) -> None:
        self.clear()
        self.bookings = {}
        for booking in bookings:
            self.add_row(*row(booking, events), key=str(booking.id))
            self.bookings[booking.id] = booking

    def replace(self, booking: Booking, events: Mapping[int, Event]) -> None:
        """One booking changed (cancelled, say): update its row where it is."""
        if booking.id not in self.bookings:
            return
        self.bookings[booking.id] = booking
        for (column, _), value in zip(COLUMNS, row(booking, events), strict=True):
            self.update_cell(str(booking.id), column, value)

    @property
    def selected(self) -> Booking | None:
        if not self.row_count:
            return None
        row_key, _ = self.coordinate_to_cell_key(self.cursor_coordinate)
        return self.bookings.get(int(row_key.value)) if row_key.value else None
