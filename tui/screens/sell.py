"""Sell seats at the counter, then show the receipt.

The sell dialog watches its event live: if seats run out while the clerk types, the
dialog says so at once; the server has the last word, and a refusal is shown, not raised.
"""

from __future__ import annotations

from decimal import Decimal

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Input, Label, Static

from common.client import ApiError, ClientError
from common.models import BookingResult, Event

from ..model import Change
from .base import Modal


def money(amount: Decimal) -> str:
    return f"{amount:,.2f}"


def when(event: Event) -> str:
    return event.date.astimezone().strftime("%a %d %b %Y, %H:%M")


class SellScreen(Modal[BookingResult | None]):
    BINDINGS = [Binding("escape", "dismiss(None)", "Cancel")]

    def __init__(self, event: Event) -> None:
        super().__init__()
        self.event = event

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="sell"):
            yield Static(f"[b]{self.event.title}[/b]", classes="title")
            yield Static(f"{when(self.event)} · {self.event.venue or ''}", classes="muted")
            yield Static("", id="seats-left")
            with Horizontal(classes="field"):
                yield Label("Seats")
                yield Input("1", type="integer", id="quantity", max_length=6)
            with Horizontal(classes="field"):
                yield Label("Customer")
                yield Input(placeholder="walk-in customer's name", id="customer", max_length=255)
            yield Static("", id="total")
            yield Static("", id="sell-message")
            with Horizontal(classes="buttons"):
                yield Button("Sell", variant="success", id="sell-confirm")
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
                    self.query_one("#sell-confirm", Button).disabled = True
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
        self.query_one("#customer").focus()

    @on(Input.Submitted, "#customer")
    @on(Button.Pressed, "#sell-confirm")
    def confirm(self) -> None:
        quantity = self.quantity
        if quantity is None:
            self._say("Enter how many seats, 1 or more.", error=True)
            self.query_one("#quantity").focus()
            return
        self.sell(quantity, self.query_one("#customer", Input).value.strip())

    @on(Button.Pressed, "#sell-cancel")
    def _cancel(self) -> None:
        self.dismiss(None)

    @work(exclusive=True, group="sell")
    async def sell(self, quantity: int, customer: str) -> None:
        button = self.query_one("#sell-confirm", Button)
        button.disabled = True
        self._say("Selling…")
        try:
            result = await self.boxoffice.client.book(self.event.id, quantity, customer or None)
        except ApiError as exc:
            field = exc.fields
            self._say(next(iter(field.values())) if field else exc.message, error=True)
            button.disabled = False
        except ClientError as exc:
            self._say(f"Not sold: {exc.message}", error=True)
            button.disabled = False
        else:
            self.dismiss(result)


class ReceiptScreen(Modal[None]):
    BINDINGS = [Binding("escape,enter", "dismiss(None)", "Done")]

    def __init__(self, booking: BookingResult, event: Event) -> None:
        super().__init__()
        self.booking, self.event = booking, event

    def compose(self) -> ComposeResult:
        booking, event = self.booking, self.event
        total = booking.quantity * event.price
        with Vertical(classes="dialog", id="receipt"):
            yield Static("Sold ✓", classes="title success")
            yield Static(f"Booking reference  [b]#{booking.id}[/b]", id="reference")
            yield Static(
                f"{event.title}\n{when(event)}\n{event.venue or ''}\n\n"
                f"Customer  {booking.customer_name or '—'}\n"
                f"Seats     {booking.quantity} x {money(event.price)}\n"
                f"Total     [b]{money(total)}[/b]\n\n"
                f"[dim]{booking.available_seats} seats left after this sale[/dim]",
                id="receipt-body",
            )
            yield Button("Done", variant="primary", id="done")

    def on_mount(self) -> None:
        self.query_one("#done").focus()

    @on(Button.Pressed, "#done")
    def _done(self) -> None:
        self.dismiss(None)
