"""Find bookings by reference, customer or event; confirm holds when the customer pays;
cancel bookings (after a confirmation saying the refund); open an order to see its lines
and tickets and give some of them back (``order_detail``).

The screen opens on the table, so its keys show in the footer; ``/`` goes to the search
box and Esc clears it. Type ``#123`` (or ``123``) for a booking reference, or part of a
customer's name; choose an event to look only at its bookings. Staff see every event's
bookings; without an event chosen a clerk sees the sales they made and an admin every
booking. The line under the table tells the selected booking's payment, ticket code and
admission; Enter opens the order.

The list follows the live feed: when the seats of an event it shows change (a booking
cancelled at another window, a hold lapsing), it is searched again, at most every
``REFRESH_DELAY`` seconds, keeping the cursor on the same booking.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import partial

from textual import on, work
from textual.binding import Binding
from textual.containers import Horizontal
from textual.timer import Timer
from textual.widget import Widget
from textual.widgets import Input, Select, Static

from common.client import ApiError, ClientError
from common.models import Booking, Order, PaymentMethod

from ..formatting import PAYMENT_METHODS, money, plural, seats, ticket_code
from ..model import Change
from ..widgets.bookings_table import BookingsTable, detail, lapsed
from .base import StaffScreen
from .confirm import PaymentScreen, confirm_then
from .order_detail import (
    OrderScreen,
    offer_override,
    once,
    refund_of,
    refund_words,
    refunded,
    still_held,
)

ANYWHERE = 0  # the Select value for "not one event"
# A burst of seat changes makes one search, this long after the first of them.
REFRESH_DELAY = 0.5


def reference(text: str) -> int | None:
    """The booking id in ``#123`` or ``123``, if that is what was typed."""
    digits = text.strip().removeprefix("#")
    return int(digits) if digits.isdigit() and len(digits) < 19 else None


class BookingsScreen(StaffScreen):
    BINDINGS = [
        Binding("slash", "search", "Search"),
        Binding("escape", "clear_search", "Clear search", show=False),
        Binding("p", "confirm_hold", "Confirm hold"),
        Binding("c,delete", "cancel_booking", "Cancel booking"),
        Binding("r", "reload", "Reload"),
        Binding("h", "history", "History"),
    ]

    # Opened on the table: in the search box, letters are typed and the keys are hidden.
    AUTO_FOCUS = "BookingsTable"
    _options: list[tuple[str, int]] | None = None
    _refresh: Timer | None = None

    def compose_body(self) -> Iterable[Widget]:
        with Horizontal(id="bookings-bar"):
            yield Input(placeholder="#reference or customer name…", id="booking-search")
            # A Select that may not be blank needs an option from the start (and its label
            # stays when later options keep the value).
            yield Select[int](
                [(self._anywhere, ANYWHERE)], allow_blank=False, value=ANYWHERE, id="booking-event"
            )
        yield BookingsTable(id="bookings")
        with Horizontal(id="bookings-foot"):
            yield Static("", id="bookings-message")
            yield Static("", id="booking-detail")

    @property
    def table(self) -> BookingsTable:
        return self.query_one(BookingsTable)

    @property
    def _anywhere(self) -> str:
        return "All bookings" if self.boxoffice.is_admin else "My sales"

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        return self.boxoffice.is_admin if action == "history" else True

    def action_history(self) -> None:
        """The audit records of the selected booking (admins)."""
        if (booking := self.table.selected) is not None:
            self.boxoffice.show_audit(f"booking {booking.id}")

    def came_back(self) -> None:
        self.action_reload()

    def on_mount(self) -> None:
        super().on_mount()
        self.sub_title = "Bookings"
        self._fill_events()
        self.boxoffice.events_changed.subscribe(self, self.on_events_changed)
        self.set_interval(15, self.table.refresh_holds)
        self.action_reload()

    def on_events_changed(self, changes: list[Change]) -> None:
        self._fill_events()
        if self.app.screen is not self or self._refresh is not None:
            return  # away (coming back searches again), or a search is already due
        touched = {event.id for c in changes if (event := c.after or c.before) is not None}
        chosen = self.query_one("#booking-event", Select).value
        if chosen == ANYWHERE:
            shown = {b.event_id for b in self.table.bookings.values()}
            # An admin's "All bookings" may gain a booking of any event.
            if not (self.boxoffice.is_admin or touched & shown):
                return
        elif chosen not in touched:
            return
        self._refresh = self.set_timer(REFRESH_DELAY, self._refresh_now)

    def _refresh_now(self) -> None:
        self._refresh = None
        self.action_reload()

    def _fill_events(self) -> None:
        select: Select[int] = self.query_one("#booking-event", Select)
        events = sorted(self.boxoffice.store.events.values(), key=lambda e: (e.date, e.id))
        options = [(self._anywhere, ANYWHERE)] + [
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

    def action_clear_search(self) -> None:
        self.query_one("#booking-search", Input).value = ""
        self.table.focus()

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
        self._show_detail()

    @on(BookingsTable.RowHighlighted)
    def _show_detail(self) -> None:
        booking = self.table.selected
        self.query_one("#booking-detail", Static).update(detail(booking) if booking else "")

    # --- the order: lines, tickets, returns ---------------------------------------------

    @on(BookingsTable.RowSelected)
    def open_order(self) -> None:
        if (booking := self.table.selected) is not None:
            self.app.push_screen(OrderScreen(booking), self._order_closed)

    def _order_closed(self, order: Booking | None) -> None:
        """Tickets given back change the order's row (the list is not searched again
        while the dialog is open)."""
        if order is not None:
            self.table.replace(order, self.boxoffice.store.events)
            self._show_detail()

    # --- holds ------------------------------------------------------------------------

    def action_confirm_hold(self) -> None:
        booking = self.table.selected
        if booking is None:
            return
        if booking.status != "pending" or lapsed(booking):
            state = "lapsed" if lapsed(booking) else booking.status
            self.notify(f"Booking #{booking.id} is {state}, not a hold.", severity="warning")
            return
        customer = f" for {booking.customer_name}" if booking.customer_name else ""
        event = self.boxoffice.store.events.get(booking.event_id)
        title = f"{event.title} · " if event else ""
        question = (
            f"[b]Confirm hold #{booking.id}{customer}[/b]\n"
            f"{title}{seats(booking.quantity)} · [b]{money(booking.amount)}[/b] to pay"
        )

        def paid(method: PaymentMethod | None) -> None:
            if method is not None:
                self.boxoffice.payment_method = method
                self.confirm(booking, method)

        self.app.push_screen(PaymentScreen(question, self.boxoffice.payment_method), paid)

    @work(group="confirm")
    async def confirm(self, booking: Booking, method: PaymentMethod) -> None:
        try:
            confirmed = await self.boxoffice.client.confirm(
                booking.id, method, idempotency_key=once("confirm", booking, method)
            )
        except ClientError as exc:
            self.notify(exc.message, title=f"#{booking.id} not confirmed", severity="error")
            self.action_reload()
            return
        self.table.replace(confirmed, self.boxoffice.store.events)
        self._show_detail()
        self.notify(
            f"Booking #{booking.id} confirmed, paid by {PAYMENT_METHODS[method].lower()}. "
            f"Ticket {ticket_code(confirmed.ticket_code or '')}",
            title="Hold confirmed",
            timeout=10,
        )

    def action_cancel_booking(self) -> None:
        booking = self.table.selected
        if booking is None:
            return
        if booking.status not in ("confirmed", "pending"):
            self.notify(f"Booking #{booking.id} is already {booking.status}.", severity="warning")
            return
        self.ask_cancel(booking)

    @work(group="cancel")
    async def ask_cancel(self, booking: Booking) -> None:
        """Ask, saying what is refunded and how: the order's tickets still held, at their
        prices (a sale's ``amount`` stays what was paid after a partial return)."""
        try:
            order = await self.boxoffice.client.order(booking.id)
        except ClientError as exc:
            self.notify(exc.message, title=f"#{booking.id} not cancelled", severity="error")
            return
        confirm_then(self.app, cancel_question(order), "Cancel booking", lambda: self.cancel(order))

    @work(group="cancel")
    async def cancel(self, booking: Order, *, override: bool = False) -> None:
        key = once("cancel", booking, *(["override"] if override else []))
        try:
            result = await self.boxoffice.client.cancel(
                booking.id, override=override, idempotency_key=key
            )
        except ApiError as exc:
            again = partial(self.cancel, booking, override=True)
            staff, what = self.boxoffice.is_staff, f"Refund booking #{booking.id}"
            if not override and offer_override(self.app, exc, staff, what, "Cancel anyway", again):
                return
            self.notify(exc.message, title=f"#{booking.id} not cancelled", severity="error")
            return
        except ClientError as exc:
            self.notify(exc.message, title=f"#{booking.id} not cancelled", severity="error")
            return
        self.table.replace(result, self.boxoffice.store.events)
        self._show_detail()
        paid_back = refunded(refund_of(booking, still_held(booking)), booking.payment_method)
        self.notify(
            f"Booking #{booking.id} cancelled; {seats(booking.quantity)} back on sale{paid_back}."
        )


def cancel_question(order: Order) -> str:
    """The cancel confirmation: the tickets, the refund and how it is paid back."""
    customer = f" for {order.customer_name}" if order.customer_name else ""
    held = still_held(order)
    refund = refund_words(order, refund_of(order, held), order.payment_method)
    return (
        f"[b]Cancel booking #{order.id}{customer}: {plural(len(held), 'ticket')}?[/b]\n"
        f"{refund} The seats go back on sale."
    )
