"""Sell tickets at the counter (or hold them for a customer paying later), then show the
receipt.

The dialog takes a quantity per ticket type (Adult, Concession, a staff-only Complimentary
for staff…) with running totals. A seated event's dialog also shows its seat map, live: the
clerk chooses seats (or ``b`` picks the best together), and the chosen seats go to the types
in order: the first seats to the first type with a quantity, and so on. Seats sold or held
elsewhere change on the map at once; a chosen seat taken by someone else is flagged before
Sell, and a sale refused because seats went meanwhile names them and picks nothing else.

The server has the last word, and a refusal is shown, not raised; the focus goes to the
field to fix. The payment method chosen last is the next sale's default.

Staff sell or hold, naming the customer and the payment. A user (a customer at a kiosk) only
books: who they are and how they pay are staff fields, and on a priced event the server
makes their booking a reservation, paid at the counter.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import uuid
from decimal import Decimal
from typing import Any, cast

from pydantic import ValidationError
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widget import Widget
from textual.widgets import Button, Input, Label, RadioButton, RadioSet, Static

from common.client import ApiError, ClientError, Connection
from common.models import (
    Event,
    LiveSeatChanges,
    LiveSeatMap,
    OrderCreate,
    OrderLine,
    OrderResult,
    PaymentMethod,
    TicketType,
)
from common.seatmap import SeatMap, SeatMapGap, expand

from ..formatting import PAYMENT_METHODS, clock, money, seats, ticket_code, when
from ..model import Change
from ..seating import Seat, price
from ..widgets.seat_map import SeatMapView, legend, seat_labels
from .base import Modal

# The field of a refusal (the server's names) -> what to say instead of a validator's words.
CLERK_WORDS = {
    "customer_name": "The customer's name is too long: 255 characters at most.",
    "quantity": "Quantities are whole numbers, 1 or more.",
    "seat_ids": "Some chosen seats are not seats of this event: choose them again.",
    "lines": "Choose at least one ticket.",
}


# How pydantic's messages start: said in the clerk's words instead (CLERK_WORDS).
VALIDATOR_WORDS = (
    "Input should", "String should", "List should", "Value error", "Field required",
    "Extra inputs",
)  # fmt: skip


class PaymentChoice(RadioSet):
    """The payment methods, with the remembered one highlighted as well as pressed, so
    Space or Enter on arriving keeps it instead of flipping to the first."""

    def on_mount(self) -> None:
        # After RadioSet's own mount handler, which highlights the first button.
        self.call_later(self._highlight_pressed)

    def _highlight_pressed(self) -> None:
        if self.pressed_index >= 0:
            self._selected = self.pressed_index


class QuantityInput(Input):
    """How many tickets of one type (``type_id`` None: the event's default type)."""

    def __init__(self, type_id: int | None, value: str, **kwargs: Any) -> None:
        super().__init__(
            value,
            placeholder="0",
            type="integer",
            max_length=4,
            compact=True,
            select_on_focus=False,
            classes="quantity",
            **kwargs,
        )
        self.type_id = type_id

    @property
    def count(self) -> int | None:
        """The quantity; 0 when empty, None when not a whole number of 0 or more."""
        try:
            value = int(self.value or 0)
        except ValueError:
            return None
        return value if value >= 0 else None


class SellScreen(Modal[OrderResult | None]):
    BINDINGS = [
        Binding("escape", "dismiss(None)", "Cancel"),
        # A priority binding runs as the key arrives, before the keys typed after it are
        # handed to a widget: the focus moves on at once and a name typed quickly after
        # Enter lands in the customer field, not in the quantity.
        Binding("enter", "onward", "Next", priority=True, show=False),
        Binding("tab", "tab", show=False),
    ]

    def __init__(self, event: Event) -> None:
        # A seated event's dialog fills the screen: opaque, so the screen below is not
        # drawn through it on every change.
        super().__init__(classes="-seated" if event.venue_id is not None else None)
        self.event = event
        self.seated = event.venue_id is not None
        self.types: list[TicketType] = []  # on sale, as listed; empty until loaded
        self.view: SeatMapView | None = None
        self._early: SeatMap | None = None  # seat states that came before the plan
        self._closed = False
        self._frozen = False  # gc.freeze() once the plan is in (load_plan)
        self._shown: dict[str, str | Text] = {}  # what each Static shows (_show)
        self._lost = ""  # the seats a refused sale lost, named until seats are chosen again
        # A sale whose answer was lost (the network, not the server, failed): pressing Sell
        # again with the same inputs sends the same key, so it cannot sell twice.
        self._unanswered: tuple[str, str] | None = None

    def on_screen_suspend(self) -> None:
        # Closing (or covered by help): late seat changes and answers update nothing.
        self._closed = True

    def on_screen_resume(self) -> None:
        if self._closed:
            self._closed = False
            self._refresh_figures()

    # --- layout --------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog seated" if self.seated else "dialog", id="sell"):
            if self.seated:
                with Horizontal(id="sell-body"):
                    with Vertical(id="map-box"):
                        yield Static("Loading the seat map…", id="map-loading")
                    form = VerticalScroll(id="sell-form")
                    form.can_focus = False  # Tab goes from field to field, not to the panel
                    with form:
                        yield from self._form()
            else:
                yield from self._form()

    def _form(self) -> ComposeResult:
        chosen = self.boxoffice.payment_method
        staff = self.boxoffice.is_staff
        yield Static(f"[b]{self.event.title}[/b]", classes="title")
        yield Static(f"{when(self.event)} · {self.event.venue or ''}", classes="muted")
        yield Static("", id="seats-left")
        if self.seated:
            yield Static("", id="legend")
            yield Static("", id="chosen")
        with Vertical(id="types"), Horizontal(classes="type-row"):
            yield Label("Tickets", classes="type-name")
            yield QuantityInput(None, "1", id="quantity")
            yield Static("", classes="type-total")
        yield Static("", id="total")
        if staff:
            with Horizontal(classes="field compact"):
                yield Label("Customer")
                yield Input(
                    placeholder="walk-in customer's name",
                    id="customer",
                    max_length=255,
                    compact=True,
                    select_on_focus=False,
                )
            with Horizontal(classes="field compact", id="payment-row"):
                yield Label("Payment")
                with PaymentChoice(id="payment", compact=True):
                    for method, label in PAYMENT_METHODS.items():
                        yield RadioButton(
                            label, value=method == chosen, id=f"pay-{method}", compact=True
                        )
        yield Static("", id="sell-message")
        with Horizontal(classes="buttons"):
            yield Button(
                "Sell" if staff else "Book", variant="success", id="sell-confirm", compact=True
            )
            if staff:
                yield Button(
                    "Hold",
                    variant="warning",
                    id="sell-hold",
                    compact=True,
                    tooltip="Keep the seats for a customer paying later; confirm the "
                    "hold in Bookings (F3) when they pay, or it lapses.",
                )
            yield Button("Cancel", id="sell-cancel", compact=True)

    def on_mount(self) -> None:
        self.boxoffice.events_changed.subscribe(self, self.on_events_changed)
        self._refresh_figures()
        self.query_one("#quantity").focus()
        self.load_types()
        if self.seated:
            self.load_plan()
            self.follow_seats()

    # --- what the dialog loads -----------------------------------------------------------

    @work(group="types")
    async def load_types(self) -> None:
        """The event's ticket types on sale (staff-only ones for staff): the default type
        keeps the first row, the others follow in their order."""
        try:
            types = await self.boxoffice.client.ticket_types(self.event.id)
        except ClientError as exc:
            self._say(f"Ticket types not loaded ({exc.message}): selling the default type.")
            return
        staff = self.boxoffice.is_staff
        types = [t for t in types if t.on_sale and (staff or not t.staff_only)]
        default = next((t for t in types if t.is_default), None)
        self.types = [t for t in types if t.is_default] + [t for t in types if not t.is_default]
        first = self.query_one("#quantity", QuantityInput)
        if default is None:  # the default type is off sale: its row sells nothing
            first.value, first.disabled = "", True
        else:
            first.type_id = default.id
            self.query_one(".type-name", Label).update(default.name)
        rows = [
            Horizontal(
                Label(kind.name, classes="type-name"),
                QuantityInput(kind.id, "", id=f"qty-{kind.id}"),
                Static("", classes="type-total"),
                classes="type-row",
            )
            for kind in self.types
            if not kind.is_default
        ]
        if rows:
            await self.query_one("#types").mount_all(rows)
        self._refresh_figures()

    @work(group="plan")
    async def load_plan(self) -> None:
        try:
            venue = await self.boxoffice.client.venue_seats(cast(int, self.event.venue_id))
        except ClientError as exc:
            self.query_one("#map-loading", Static).update(f"No seat map: {exc.message}")
            return
        if self.view is not None:
            self.view.set_plan(venue)
            self._refresh_figures()
            return
        self.view = SeatMapView(venue, self._early, id="seat-map")
        await self.query_one("#map-loading").remove()
        await self.query_one("#map-box").mount(self.view)
        self._refresh_figures()
        # The plan lives as long as the dialog: keep it (and the rest of the heap) out of
        # the collector's full passes, which would otherwise take a large plan's map
        # 100 ms and more at a time while seats sell. Undone as the dialog closes.
        gc.freeze()
        self._frozen = True

    def on_unmount(self) -> None:
        if self._frozen:
            # Let the collector have the dialog's cycles back, once, then keep what
            # lives on out of its way again (as the app does after logging in).
            gc.unfreeze()
            gc.collect()
            gc.freeze()

    @work(group="seats")
    async def follow_seats(self) -> None:
        """The event's seat states, live, for as long as the dialog is open: a snapshot,
        then the changes. Changes that skip some (never sent; a bug) subscribe again."""
        while True:
            with contextlib.suppress(SeatMapGap):
                async for item in self.boxoffice.client.live([self.event.id]):
                    if isinstance(item, Connection):
                        self._connection(item)
                    elif (
                        isinstance(item, (LiveSeatMap, LiveSeatChanges))
                        and item.event_id == self.event.id
                    ):
                        self._seats_changed(item)
            await asyncio.sleep(0.5)  # before subscribing again

    def _connection(self, item: Connection) -> None:
        if not item.connected:
            self._say("Live seats lost; reconnecting… (the server still checks every seat)")

    def _seats_changed(self, item: LiveSeatMap | LiveSeatChanges) -> None:
        if self.view is None:
            if isinstance(item, LiveSeatMap):
                self._early = SeatMap(item)
            elif self._early is not None:
                self._early.apply(item)
            return
        # Only the map redraws; the figures change when a chosen seat is taken (Taken).
        self.view.apply(item)
        if isinstance(item, LiveSeatMap) and (
            item.venue_id != self.view.plan.venue_id
            or any(seat not in self.view.plan.by_id for seat in expand(item.seat_ids))
        ):
            self.load_plan()  # the event moved to another plan, or its plan changed

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
                self._refresh_left()

    # --- the figures ---------------------------------------------------------------------

    @property
    def quantities(self) -> list[QuantityInput]:
        return list(self.query(QuantityInput).results())

    def _type(self, type_id: int | None) -> TicketType | None:
        return next((t for t in self.types if t.id == type_id), None)

    def _price(self, type_id: int | None, zone: str | None) -> Decimal:
        kind = self._type(type_id)
        return self.event.price if kind is None else price(kind, zone, self.event.price)

    @property
    def asked(self) -> int:
        return sum(field.count or 0 for field in self.quantities)

    def assigned(self) -> list[tuple[Seat, QuantityInput]]:
        """The chosen seats, in the order chosen, each with the type it is sold as: the
        first seats to the first type with a quantity, and so on."""
        if self.view is None:
            return []
        chosen = [self.view.plan.by_id[s] for s in self.view.selected]
        out: list[tuple[Seat, QuantityInput]] = []
        for field in self.quantities:
            for _ in range(field.count or 0):
                if len(out) < len(chosen):
                    out.append((chosen[len(out)], field))
        return out

    @on(Input.Changed, ".quantity")
    def _quantity_changed(self) -> None:
        if self.view is not None:
            self.view.wanted = self.asked
        self._refresh_figures()

    def _show(self, selector: str, content: str | Text, *, layout: bool = True) -> None:
        """Update a Static only when its content changes: an update can lay the whole
        dialog out again, and live changes come many times a second. ``layout=False``
        for a line whose size does not change."""
        widget = self.query_one(selector, Static)
        if self._shown.get(selector) != content:
            self._shown[selector] = content
            widget.update(content, layout=layout)

    def _refresh_left(self) -> None:
        """The seats left, as the live feed says (and, general admission, if too few)."""
        if self._closed:  # a late answer or change, after the dialog closed
            return
        event = self.event
        left = event.available_seats
        self._show(
            "#seats-left",
            "[b $error]Sold out[/]" if left == 0 else f"{left} of {event.total_seats} seats left",
            layout=False,  # one line (the CSS says so), whatever the figures
        )
        if not self.seated:
            short = self.asked > left
            self._say(f"Only {seats(left)} left." if short and left else "", error=short)

    def _refresh_figures(self) -> None:
        if self._closed:  # a late answer or change, after the dialog closed
            return
        self._refresh_left()
        asked, bad = self.asked, any(f.count is None for f in self.quantities)
        assigned = self.assigned()
        total = Decimal(0)
        for row in self.query(".type-row").results(Horizontal):
            field = row.query_one(QuantityInput)
            count = field.count or 0
            line = row.query_one(".type-total", Static)
            if self.seated:
                prices = [self._price(field.type_id, s.zone) for s, f in assigned if f is field]
                amount = sum(prices, Decimal(0))
                missing = count - len(prices)
                line.update(
                    (f"= {money(amount)}" if prices else "")
                    + (f" [i]{missing} to choose[/i]" if missing else "")
                )
            else:
                amount = count * self._price(field.type_id, None)
                line.update(
                    f"x {money(self._price(field.type_id, None))} = {money(amount)}"
                    if count
                    else ""
                )
            total += amount
        self._show(
            "#total", "How many tickets?" if bad or not asked else f"Total [b]{money(total)}[/b]"
        )
        if self.seated:
            self._refresh_seats(asked, assigned)

    def _refresh_seats(self, asked: int, assigned: list[tuple[Seat, QuantityInput]]) -> None:
        view = self.view
        if view is None:
            return
        default = self.quantities[0].type_id
        prices = {z.code: self._price(default, z.code) for z in view.plan.zones}
        self._show("#legend", legend(view.plan, prices))
        groups: dict[str, list[Seat]] = {}
        for seat, field in assigned:
            kind = self._type(field.type_id)
            groups.setdefault(kind.name if kind else "Tickets", []).append(seat)
        self._show(
            "#chosen",
            "\n".join(f"{name}: {seat_labels(chosen)}" for name, chosen in groups.items())
            or "No seats chosen yet.",
        )
        confirm = self.query_one("#sell-confirm", Button)
        taken, chosen = view.taken, len(view.selected)
        staff = self.boxoffice.is_staff
        confirm.label = f"{seats(len(taken))} taken" if taken else "Sell" if staff else "Book"
        for button in self.query(".buttons Button").exclude("#sell-cancel").results(Button):
            button.disabled = bool(taken)
        if taken:
            gone = seat_labels(taken)
            self._say(
                f"{gone} {'was' if len(taken) == 1 else 'were'} just taken by another sale: "
                "space on it puts it back; choose another.",
                error=True,
            )
        elif self._lost:
            self._say(self._lost, error=True)
        elif chosen < asked:
            more = asked - chosen
            self._say(f"Choose {more} more seat{'s' * (more != 1)} (b: the best together).")
        elif chosen > asked:
            self._say(f"{seats(chosen)} chosen for {asked} tickets: add a quantity.", error=True)
        else:
            self._say("")

    def _say(self, text: str, *, error: bool = False) -> None:
        if self._closed:
            return
        self.query_one("#sell-message", Static).set_class(error, "error")
        self._show("#sell-message", text)

    # --- the map -------------------------------------------------------------------------

    @on(SeatMapView.SelectionChanged)
    def _selection_changed(self, message: SeatMapView.SelectionChanged) -> None:
        """Seats chosen by hand: the default type's quantity takes up the difference, so
        the quantities add up to the seats (the others are the clerk's to change)."""
        assert self.view is not None
        self._lost = ""
        fields = self.quantities
        if message.by_hand and fields and not fields[0].disabled:
            others = sum(f.count or 0 for f in fields[1:])
            want = max(0, len(self.view.selected) - others)
            if len(self.view.selected) != self.asked:
                fields[0].value = str(want)
        self._refresh_figures()

    @on(SeatMapView.Note)
    def _note(self, message: SeatMapView.Note) -> None:
        self._say(message.text, error=True)

    @on(SeatMapView.Taken)
    def _taken(self) -> None:
        self._refresh_figures()

    # --- keys ------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "onward":  # Enter in a quantity or on the map; elsewhere, as usual
            return isinstance(self.focused, (QuantityInput, SeatMapView))
        return True

    def action_onward(self) -> None:
        """Enter in a quantity (Tab goes from type to type): on to the map or the customer;
        on the map: on to the customer. Where there is no customer (a user): book."""
        customer = self.query("#customer")
        if isinstance(self.focused, QuantityInput) and self.view is not None:
            self.set_focus(self.view)
        elif customer:
            self.set_focus(customer.first())
        else:
            self.confirm()

    def action_tab(self) -> None:
        """Tab goes from field to field, except from the map once seats are chosen: on to
        the customer, as Enter does (the types' quantities were typed before the map)."""
        customer = self.query("#customer")
        if self.view is not None and self.focused is self.view and self.view.selected and customer:
            self.set_focus(customer.first())
        else:
            self.focus_next()

    @on(Input.Submitted, "#customer")
    @on(Button.Pressed, "#sell-confirm")
    def confirm(self) -> None:
        self._go(hold=False)

    @on(Button.Pressed, "#sell-hold")
    def hold(self) -> None:
        self._go(hold=True)

    @on(Button.Pressed, "#sell-cancel")
    def _cancel(self) -> None:
        self.dismiss(None)

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

    # --- selling -------------------------------------------------------------------------

    def _lines(self) -> list[OrderLine] | None:
        """The order's lines, or None after saying what to fix (and focusing it)."""
        fields = self.quantities
        wrong = next((f for f in fields if f.count is None), None)
        if wrong is not None or not self.asked:
            self._say("Enter how many tickets, 1 or more.", error=True)
            self.set_focus(wrong or fields[0])
            return None
        if not self.seated:
            return [
                OrderLine(ticket_type_id=f.type_id, quantity=f.count) for f in fields if f.count
            ]
        view = self.view
        if view is None:
            self._say("The seat map is still loading.", error=True)
            return None
        if len(view.selected) != self.asked:
            self._say(
                f"{seats(len(view.selected))} chosen for {self.asked} tickets: choose "
                "seats for every ticket (b: the best together).",
                error=True,
            )
            self.set_focus(view)
            return None
        by_type: dict[int | None, list[int]] = {}
        for seat, field in self.assigned():
            by_type.setdefault(field.type_id, []).append(seat.id)
        return [OrderLine(ticket_type_id=t, seat_ids=ids) for t, ids in by_type.items()]

    def _go(self, *, hold: bool) -> None:
        lines = self._lines()
        if lines is None:
            return
        customers = self.query("#customer").results(Input)
        customer = next((c.value.strip() for c in customers), "")
        try:
            order = OrderCreate(
                event_id=self.event.id,
                lines=lines,
                customer_name=customer or None,
                # A hold is paid, and its method recorded, when it is confirmed.
                payment_method=None if hold else self.payment_method,
                hold=hold,
            )
        except ValidationError as exc:
            field = str(exc.errors()[0]["loc"][0]) if exc.errors() else ""
            self._say(CLERK_WORDS.get(field, "Check the quantities and the name."), error=True)
            return
        self.sell(order)

    @work(exclusive=True, group="sell")
    async def sell(self, order: OrderCreate) -> None:
        buttons = list(self.query(".buttons Button").exclude("#sell-cancel").results(Button))
        for button in buttons:
            button.disabled = True
        hold = order.hold
        self._say("Holding…" if hold else "Selling…" if self.boxoffice.is_staff else "Booking…")
        inputs = order.model_dump_json()
        same = self._unanswered is not None and self._unanswered[0] == inputs
        key = self._unanswered[1] if same and self._unanswered else uuid.uuid4().hex
        try:
            result = await self.boxoffice.client.place_order(order, idempotency_key=key)
        except ApiError as exc:
            self._unanswered = None  # a definite answer: the next attempt is a new sale
            for button in buttons:
                button.disabled = False
            self._refused(exc)
            return
        except ClientError as exc:
            self._unanswered = (inputs, key)
            self._say(
                f"Not {'held' if hold else 'sold'}: {exc.message}. Press it again to retry: "
                "a sale that did go through is not made twice.",
                error=True,
            )
            for button in buttons:
                button.disabled = False
            self.set_focus(self.query_one("#sell-hold" if hold else "#sell-confirm"))
            return
        self.dismiss(result)

    def _refused(self, exc: ApiError) -> None:
        """Say why, in the clerk's words, and put the focus on what to change."""
        data = exc.data if isinstance(exc.data, dict) else {}
        lost = data.get("seat_ids")
        view = self.view
        if exc.status == 409 and lost and view is not None:
            gone = [view.plan.by_id[s] for s in lost if s in view.plan.by_id]
            self._lost = (
                f"Not sold: {seat_labels(gone)} {'was' if len(gone) == 1 else 'were'} taken "
                "by another sale just now. Choose other seats (b: the best together)."
            )
            view.select([s for s in view.selected if s not in set(lost)], announce=False)
            self._refresh_figures()
            self.set_focus(view)
            return
        field = next(iter(exc.fields), "") if exc.fields else ""
        words = exc.fields[field] if field else exc.message
        if words.startswith(VALIDATOR_WORDS):  # a validator's, not the server's own
            words = next(
                (w for k, w in CLERK_WORDS.items() if k in field),
                "Check the quantities and the name.",
            )
        self._say(words[:1].upper() + words[1:], error=True)
        self.set_focus(self._field_to_fix(field, data))

    def _field_to_fix(self, field: str, data: dict[str, Any]) -> Widget:
        if field == "customer_name" and self.query("#customer"):
            return self.query_one("#customer")
        kind = data.get("ticket_type_id")
        for f in self.quantities:
            if kind is not None and f.type_id == kind:
                return f
        if field.startswith("lines.") and field.split(".")[1].isdigit():
            wanted = [f for f in self.quantities if f.count]
            index = int(field.split(".")[1])
            if index < len(wanted):
                return wanted[index]
        return self.view if self.view is not None and "block" in data else self.quantities[0]


class ReceiptScreen(Modal[None]):
    """What the customer is told: the reference, every ticket (seat, type, price and its
    code to read out) or, for a hold, until when the seats are kept."""

    BINDINGS = [
        Binding("escape,enter", "dismiss(None)", "Done"),
        Binding("p", "print", "Print", tooltip="Print the tickets (F10 sets the printer)"),
    ]

    def __init__(self, booking: OrderResult, event: Event) -> None:
        super().__init__()
        self.booking, self.event = booking, event

    def compose(self) -> ComposeResult:
        order, event = self.booking, self.event
        held = order.status == "pending"
        until = clock(order.expires_at) if order.expires_at else "?"
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
                f"Ticket    [b]{ticket_code(order.ticket_code or '')}[/b]", id="ticket-code"
            )
            method = order.payment_method
            paid = f"paid by {PAYMENT_METHODS[method].lower()}" if method else ""
        with Vertical(classes="dialog", id="receipt"):
            yield title
            yield Static(f"Booking reference  [b]#{order.id}[/b]", id="reference")
            yield code
            yield Static(
                f"{event.title}\n{when(event)} · {event.venue or ''}\n\n"
                f"Customer  {order.customer_name or '—'}\n"
                f"Tickets   {order.quantity}\n"
                f"Total     [b]{money(order.amount)}[/b]  {paid}",
                id="receipt-body",
            )
            with VerticalScroll(id="receipt-tickets"):
                yield Static(self._tickets(), id="tickets")
            yield Static(
                f"[dim]{order.available_seats} seats left after this "
                f"{'hold' if held else 'sale'}[/dim]",
                id="receipt-left",
            )
            yield Button("Done", variant="primary", id="done", compact=True)

    def _tickets(self) -> str:
        """A line per ticket: its seat (seated events), type, price and its own code."""
        tickets = sorted(
            self.booking.tickets,
            key=lambda t: (t.section or "", t.row or "", len(t.number or ""), t.number or "", t.id),
        )
        rows = [
            (
                f"{t.section} {t.row}{t.number}" if t.seat_id is not None else "",
                t.ticket_type[:16],
                money(t.price),
                ticket_code(t.code) if t.code else "[dim]code on payment[/dim]",
            )
            for t in tickets
        ]
        width = [max((len(row[c]) for row in rows), default=0) for c in range(3)]
        return "\n".join(
            " ".join(
                part
                for part in (
                    seat.ljust(width[0]) if width[0] else "",
                    kind.ljust(width[1]),
                    amount.rjust(width[2]),
                    code,
                )
                if part
            )
            for seat, kind, amount, code in rows
        )

    def on_mount(self) -> None:
        self.query_one("#done").focus()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        return self.boxoffice.is_staff if action == "print" else True

    def action_print(self) -> None:
        self.boxoffice.print_order(self.booking.id)

    @on(Button.Pressed, "#done")
    def _done(self) -> None:
        self.dismiss(None)
