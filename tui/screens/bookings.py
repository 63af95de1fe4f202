"""Find bookings by reference, customer or event, and cancel them (after a confirmation).

Type ``#123`` (or ``123``) for a booking reference, or part of a customer's name; choose
an event to look only at its bookings. Staff see every event's bookings; without an event
chosen a clerk sees the sales they made and an admin every booking.
"""

from __future__ import annotations

from collections.abc import Iterable

from textual import on, work
from textual.binding import Binding
from textual.containers import Horizontal
from textual.widget import Widget
from textual.widgets import Input, Select, Static

from common.client import ApiError, ClientError
from common.models import Booking

from ..widgets.bookings_table import BookingsTable
from .base import StaffScreen
from .confirm import confirm_then

ANYWHERE = 0  # the Select value for "not one event"


def reference(text: str) -> int | None:
    """The booking id in ``#123`` or ``123``, if that is what was typed."""
    digits = text.strip().removeprefix("#")
    return int(digits) if digits.isdigit() and len(digits) < 19 else None


class BookingsScreen(StaffScreen):
    BINDINGS = [
        Binding("slash", "search", "Search"),
        Binding("c,delete", "cancel_booking", "Cancel booking"),
        Binding("r", "reload", "Reload"),
    ]

    _options: list[tuple[str, int]] | None = None

    def compose_body(self) -> Iterable[Widget]:
        with Horizontal(id="bookings-bar"):
            yield Input(placeholder="#reference or customer name…", id="booking-search")
            # A Select that may not be blank needs an option from the start.
            yield Select[int](
                [("All bookings", ANYWHERE)], allow_blank=False, value=ANYWHERE, id="booking-event"
            )
        yield BookingsTable(id="bookings")
        yield Static("", id="bookings-message")

    @property
    def table(self) -> BookingsTable:
        return self.query_one(BookingsTable)

    def on_mount(self) -> None:
        super().on_mount()
        self.sub_title = "Bookings"
        self._fill_events()
        self.boxoffice.events_changed.subscribe(self, lambda _: self._fill_events())
        self.action_reload()

    def _fill_events(self) -> None:
        select: Select[int] = self.query_one("#booking-event", Select)
        anywhere = "All bookings" if self.boxoffice.is_admin else "My sales"
        events = sorted(self.boxoffice.store.events.values(), key=lambda e: (e.date, e.id))
        options = [(anywhere, ANYWHERE)] + [
            (f"{e.date.astimezone():%d %b} {e.title}", e.id) for e in events
        ]
        if options == self._options:
            return  # a sale changed seats, not the list: leave the picker (maybe open) alone
        self._options = options
        chosen = select.value
        still_there = any(value == chosen for _, value in options)
        with self.prevent(Select.Changed):
            select.set_options(options)
            if still_there:
                select.value = chosen
        if not still_there:  # the event looked at was deleted: the picker fell back
            self.action_reload()

    def show_event(self, event_id: int) -> None:
        """Look at one event's bookings (from the events screen)."""
        self._fill_events()  # this screen may be new, its options not yet there
        self.query_one("#booking-search", Input).value = ""
        self.query_one("#booking-event", Select).value = event_id
        self.table.focus()

    @on(Input.Changed, "#booking-search")
    @on(Select.Changed, "#booking-event")
    def action_reload(self) -> None:
        text = self.query_one("#booking-search", Input).value.strip()
        event_id = self.query_one("#booking-event", Select).value
        self.find(text, event_id if isinstance(event_id, int) else ANYWHERE)

    @on(Input.Submitted, "#booking-search")
    def _to_results(self) -> None:
        self.table.focus()

    def action_search(self) -> None:
        self.query_one("#booking-search").focus()

    @work(exclusive=True, group="find")
    async def find(self, text: str, event_id: int) -> None:
        client, message = self.boxoffice.client, self.query_one("#bookings-message", Static)
        ref = reference(text)
        try:
            if ref is not None:
                found = [await client.booking(ref)]
            elif event_id != ANYWHERE:
                found = await client.event_bookings(event_id, customer=text)
            elif self.boxoffice.is_admin:
                found = await client.all_bookings(customer=text)
            else:
                found = await client.bookings(customer=text)
        except ApiError as exc:
            found = []
            message.update(f"No booking #{ref}." if exc.status == 404 else exc.message)
        except ClientError as exc:
            message.update(f"Could not search: {exc.message}")
            return
        else:
            message.update(f"{len(found)} booking{'s' * (len(found) != 1)}")
        self.table.show(found, self.boxoffice.store.events)

    def action_cancel_booking(self) -> None:
        booking = self.table.selected
        if booking is None:
            return
        if booking.status not in ("confirmed", "pending"):
            self.notify(f"Booking #{booking.id} is already {booking.status}.", severity="warning")
            return
        customer = f" for {booking.customer_name}" if booking.customer_name else ""
        question = (
            f"Cancel booking #{booking.id}{customer}: {booking.quantity} seat"
            f"{'s' * (booking.quantity != 1)}? The seats go back on sale."
        )
        confirm_then(self.app, question, "Cancel booking", lambda: self.cancel(booking))

    @work(group="cancel")
    async def cancel(self, booking: Booking) -> None:
        try:
            result = await self.boxoffice.client.cancel(booking.id)
        except ClientError as exc:
            self.notify(exc.message, title=f"#{booking.id} not cancelled", severity="error")
            return
        self.table.replace(result, self.boxoffice.store.events)
        seats = f"{booking.quantity} seat{'s' * (booking.quantity != 1)}"
        self.notify(f"Booking #{booking.id} cancelled; {seats} back on sale.")
