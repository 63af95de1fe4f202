"""Sell seats at the counter (or hold them for a customer paying later), then show the
receipt.

The sell dialog watches its event live: if seats run out while the clerk types, the
dialog says so at once; the server has the last word, and a refusal is shown, not raised.
The payment method chosen last is the next sale's default.

Staff sell or hold, naming the customer and the payment. A user (a customer at a kiosk) only
books: who they are and how they pay are staff fields, and on a priced event the server
makes their booking a reservation, paid at the counter.
"""

from __future__ import annotations

import uuid
from typing import cast

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Input, Label, RadioButton, RadioSet, Static

from common.client import ApiError, ClientError
from common.models import Booking, BookingResult, Event, PaymentMethod

from ..formatting import PAYMENT_METHODS, clock, money, ticket_code, when
from ..model import Change
from .base import Modal


class SellScreen(Modal[BookingResult | None]):
    BINDINGS = [Binding("escape", "dismiss(None)", "Cancel")]

    def __init__(self, event: Event) -> None:
        super().__init__()
        self.event = event
        # A sale whose answer was lost (the network, not the server, failed): pressing Sell
        # again with the same inputs sends the same key, so it cannot sell twice.
        self._unanswered: tuple[tuple[object, ...], str] | None = None

    def compose(self) -> ComposeResult:
        chosen = self.boxoffice.payment_method
        staff = self.boxoffice.is_staff
        with Vertical(classes="dialog", id="sell"):
            yield Static(f"[b]{self.event.title}[/b]", classes="title")
            yield Static(f"{when(self.event)} · {self.event.venue or ''}", classes="muted")
            yield Static("", id="seats-left")
            with Horizontal(classes="field"):
                yield Label("Seats")
                yield Input("1", type="integer", id="quantity", max_length=6)
                yield Static("", id="total")
            if staff:
                with Horizontal(classes="field"):
                    yield Label("Customer")
                    yield Input(
                        placeholder="walk-in customer's name", id="customer", max_length=255
                    )
                with Horizontal(classes="field compact", id="payment-row"):
                    yield Label("Payment")
                    with RadioSet(id="payment", compact=True):
                        for method, label in PAYMENT_METHODS.items():
                            yield RadioButton(
                                label, value=method == chosen, id=f"pay-{method}", compact=True
                            )
            yield Static("", id="sell-message")
            with Horizontal(classes="buttons"):
                yield Button("Sell" if staff else "Book", variant="success", id="sell-confirm")
                if staff:
                    yield Button(
                        "Hold",
                        variant="warning",
                        id="sell-hold",
                        tooltip="Keep the seats for a customer paying later; confirm the "
                        "hold in Bookings (F3) when they pay, or it lapses.",
                    )
                yield Button("Cancel", id="sell-cancel")

    def on_mount(self) -> None:
        self.boxoffice.events_changed.subscribe(self, self.on_events_changed)
        self._refresh_figures()
        self.query_one("#quantity").focus()

    def on_events_changed(self, changes: list[Change]) -> None:
        for change in changes:
            if (change.before and change.before.id == self.event.id) or (
                change.after and change.after.id == self.event.id
            ):
                if change.after is None:
                    self._say("This event was just deleted.", error=True)
                    for button in self.query(".buttons Button").exclude("#sell-cancel"):
                        button.disabled = True
                    return
                self.event = change.after
                self._refresh_figures()

    @property
    def quantity(self) -> int | None:
        try:
            value = int(self.query_one("#quantity", Input).value)
        except ValueError:
            return None
        return value if value > 0 else None

    @property
    def payment_method(self) -> PaymentMethod | None:
        """The staff's choice; None for a user, who does not pay here."""
        if not self.boxoffice.is_staff:
            return None
        pressed = self.query_one("#payment", RadioSet).pressed_button
        if pressed is None or pressed.id is None:
            return self.boxoffice.payment_method
        return cast(PaymentMethod, pressed.id.removeprefix("pay-"))

    @on(RadioSet.Changed, "#payment")
    def _remember_payment(self) -> None:
        if method := self.payment_method:
            self.boxoffice.payment_method = method

    @on(Input.Changed, "#quantity")
    def _refresh_figures(self) -> None:
        left = self.event.available_seats
        self.query_one("#seats-left", Static).update(
            "[b $error]Sold out[/]"
            if left == 0
            else f"{left} of {self.event.total_seats} seats left"
        )
        quantity = self.quantity
        total = self.query_one("#total", Static)
        if quantity is None:
            total.update("How many seats?")
        else:
            total.update(
                f"{quantity} x {money(self.event.price)} = "
                f"[b]{money(quantity * self.event.price)}[/b]"
            )
        short = quantity is not None and quantity > left
        self._say(f"Only {left} seats left." if short and left else "", error=short)

    def _say(self, text: str, *, error: bool = False) -> None:
        message = self.query_one("#sell-message", Static)
        message.set_class(error, "error")
        message.update(text)

    @on(Input.Submitted, "#quantity")
    def _to_customer(self) -> None:
        if self.boxoffice.is_staff:
            self.query_one("#customer").focus()
        else:
            self.confirm()

    @on(Input.Submitted, "#customer")
    @on(Button.Pressed, "#sell-confirm")
    def confirm(self) -> None:
        self._go(hold=False)

    @on(Button.Pressed, "#sell-hold")
    def hold(self) -> None:
        self._go(hold=True)

    def _go(self, *, hold: bool) -> None:
        quantity = self.quantity
        if quantity is None:
            self._say("Enter how many seats, 1 or more.", error=True)
            self.query_one("#quantity").focus()
            return
        customers = self.query("#customer").results(Input)
        self.sell(quantity, next((c.value.strip() for c in customers), ""), hold)

    @on(Button.Pressed, "#sell-cancel")
    def _cancel(self) -> None:
        self.dismiss(None)

    @work(exclusive=True, group="sell")
    async def sell(self, quantity: int, customer: str, hold: bool = False) -> None:
        buttons = list(self.query(".buttons Button").exclude("#sell-cancel").results(Button))
        for button in buttons:
            button.disabled = True
        self._say("Holding…" if hold else "Selling…" if self.boxoffice.is_staff else "Booking…")
        # A hold is paid, and its method recorded, when it is confirmed.
        payment = None if hold else self.payment_method
        inputs = (quantity, customer, payment, hold)
        same = self._unanswered is not None and self._unanswered[0] == inputs
        key = self._unanswered[1] if same and self._unanswered else uuid.uuid4().hex
        try:
            result = await self.boxoffice.client.book(
                self.event.id,
                quantity,
                customer or None,
                payment_method=payment,
                hold=hold,
                idempotency_key=key,
            )
        except ApiError as exc:
            self._unanswered = None  # a definite answer: the next attempt is a new sale
            field = exc.fields
            self._say(next(iter(field.values())) if field else exc.message, error=True)
        except ClientError as exc:
            self._unanswered = (inputs, key)
            self._say(
                f"Not {'held' if hold else 'sold'}: {exc.message}. Press it again to retry: "
                "a sale that did go through is not made twice.",
                error=True,
            )
        else:
            self.dismiss(result)
            return
        for button in buttons:
            button.disabled = False


def amount(booking: Booking, event: Event) -> str:
    return money(booking.amount or booking.quantity * event.price)


class ReceiptScreen(Modal[None]):
    """What the customer is told: the reference, and the ticket code to read out (or, for
    a hold, until when the seats are kept)."""

    BINDINGS = [Binding("escape,enter", "dismiss(None)", "Done")]

    def __init__(self, booking: BookingResult, event: Event) -> None:
        super().__init__()
        self.booking, self.event = booking, event

    def compose(self) -> ComposeResult:
        booking, event = self.booking, self.event
        held = booking.status == "pending"
        until = clock(booking.expires_at) if booking.expires_at else "?"
        if held:
            title = Static(f"HELD until {until}", classes="title warning")
            pay = (
                f"confirm it in Bookings (F3, p) by {until}"
                if self.boxoffice.is_staff
                else f"pay at the box office by {until}, or the seats are released"
            )
            code = Static(f"Not paid yet: {pay}", id="ticket-code", classes="muted")
            paid = "to pay"
        else:
            title = Static("Sold ✓", classes="title success")
            code = Static(
                f"Ticket    [b]{ticket_code(booking.ticket_code or '')}[/b]", id="ticket-code"
            )
            method = booking.payment_method
            paid = f"paid by {PAYMENT_METHODS[method].lower()}" if method else ""
        with Vertical(classes="dialog", id="receipt"):
            yield title
            yield Static(f"Booking reference  [b]#{booking.id}[/b]", id="reference")
            yield code
            yield Static(
                f"{event.title}\n{when(event)} · {event.venue or ''}\n\n"
                f"Customer  {booking.customer_name or '—'}\n"
                f"Seats     {booking.quantity} x {money(event.price)}\n"
                f"Total     [b]{amount(booking, event)}[/b]  {paid}\n\n"
                f"[dim]{booking.available_seats} seats left after this "
                f"{'hold' if held else 'sale'}[/dim]",
                id="receipt-body",
            )
            yield Button("Done", variant="primary", id="done")

    def on_mount(self) -> None:
        self.query_one("#done").focus()

    @on(Button.Pressed, "#done")
    def _done(self) -> None:
        self.dismiss(None)
