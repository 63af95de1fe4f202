"""An order's lines and tickets, giving some tickets back, and printing them (Enter on a
booking).

The dialog lists the order's lines (type, zone, how many, price) and every ticket: its seat,
type, price, code and state. Space (or a click) picks tickets still held; ``r`` gives the
picked ones back: the return dialog says the refund (their prices; nothing for a hold) and
asks how it is paid back, then a confirmation says the amount and method once more. An
admitted ticket, or one of an event that has started, is given back only by staff ticking a
clearly labelled override, which the server records in the audit log. ``p`` (staff)
prints the tickets still held and the receipt where the printer settings (F10) say.

The dialog stays true while it is open: when the order's event changes (a clerk elsewhere
gives a ticket back, a gate admits one, the hold lapses), the order is read again, and
shown again only if it changed, keeping the tickets picked that are still held.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from functools import partial
from typing import cast

from rich.text import Text
from textual import on, work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.timer import Timer
from textual.widgets import Button, Checkbox, RadioButton, RadioSet, SelectionList, Static
from textual.widgets.selection_list import Selection

from common.client import ApiError, ClientError
from common.models import Booking, Event, Order, PaymentMethod, ReturnResult, Ticket

from ..formatting import (
    PAYMENT_METHODS,
    clock,
    money,
    plural,
    seat_label,
    seat_list,
    ticket_code,
    when,
)
from ..model import Change
from .base import Modal
from .confirm import confirm_then

HELD = ("valid", "admitted")  # a ticket in these states can still be given back
# After a change of the order's event, how long until the order is read again: a storm of
# sales on the event reads it once a second, not once a sale.
RECHECK_SECONDS = 1.0
STATES = {
    "valid": ("valid", "green"),
    "admitted": ("checked in", "bold cyan"),
    "returned": ("returned", "yellow"),
    "cancelled": ("cancelled", "dim"),
    "expired": ("expired", "dim"),
}


def fit(text: str, width: int) -> str:
    """``text`` cut to ``width`` with an ellipsis, padded to it."""
    return (text if len(text) <= width else f"{text[: width - 1]}…").ljust(width)


def still_held(order: Order) -> list[Ticket]:
    return [t for t in order.tickets if t.status in HELD]


def refund_of(order: Booking, tickets: Iterable[Ticket]) -> Decimal:
    """What giving ``tickets`` back pays the customer: their prices for a sale; a hold was
    never paid."""
    if order.status != "confirmed":
        return Decimal(0)
    return sum((t.price for t in tickets), Decimal(0))


def refund_words(order: Booking, refund: Decimal, method: PaymentMethod | None) -> str:
    """The refund in a sentence (markup), for the confirmations."""
    if order.status == "pending":
        return "Nothing was paid (a hold): no refund."
    if not refund:
        return "Nothing to refund: the tickets were free."
    how = f"by [b]{PAYMENT_METHODS[method].lower()}[/b]" if method else "as it was paid"
    return f"Refund [b]{money(refund)}[/b] {how}."


def refunded(refund: Decimal, method: PaymentMethod | None) -> str:
    """``; refund 50.00 by cash`` after what was done (nothing when nothing was paid back)."""
    if not refund:
        return ""
    by = f" by {PAYMENT_METHODS[method].lower()}" if method else ""
    return f"; refund {money(refund)}{by}"


def used(exc: ApiError) -> bool:
    """The server refused a cancel or return because a ticket was admitted or the event
    started: staff may override that."""
    data = exc.data if isinstance(exc.data, dict) else {}
    return exc.status == 409 and bool(data.get("admitted") or data.get("started"))


def offer_override(
    app: App[object], exc: ApiError, staff: bool, what: str, yes: str, then: Callable[[], object]
) -> bool:
    """A refusal staff may override (a ticket admitted, the event started): ask them
    whether to ``what`` anyway and ``then`` do it. Whether it was asked."""
    if not (staff and used(exc)):
        return False
    question = (
        f"{exc.message.split(' (')[0]}.\n\n{what} anyway? The override is recorded in the "
        "audit log under your name."
    )
    confirm_then(app, question, yes, then)
    return True


def once(action: str, booking: Booking, *details: str) -> str:
    """The Idempotency-Key of an action on a booking. A booking is confirmed or cancelled
    (a ticket given back) at most once, so a retry after a lost answer (the screen still
    showing the old state) gets the first answer back instead of a 409 for what already
    happened."""
    return "-".join((action, str(booking.id), *details))


def why_override(tickets: Sequence[Ticket], event: Event | None) -> str:
    """Why giving ``tickets`` back needs the staff override ("" if it does not)."""
    admitted = sum(t.status == "admitted" for t in tickets)
    if admitted:
        return f"{plural(admitted, 'ticket')} already checked in"
    if event is not None and event.date <= datetime.now(UTC):
        return "the event has started"
    return ""


def paid(order: Order) -> str:
    """How the order stands: paid how much and how (and what was refunded), held until
    when, or cancelled."""
    total = money(order.amount)
    refunds = sum((t.refund or 0 for t in order.tickets), Decimal(0))
    back = f", {money(refunds)} refunded" if refunds else ""
    if order.status == "pending":
        until = clock(order.expires_at) if order.expires_at else "?"
        return f"Held until {until}: {total} to pay"
    if order.status == "confirmed":
        how = f" by {PAYMENT_METHODS[order.payment_method].lower()}" if order.payment_method else ""
        return f"Paid {total}{how}{back} · order code {ticket_code(order.ticket_code or '')}"
    return f"{order.status.capitalize()}{back}"


def lines_text(order: Order) -> Text:
    text = Text()
    for line in order.lines:
        kind = f"{line.ticket_type} · zone {line.zone}" if line.zone else line.ticket_type
        text.append(f"{fit(kind, 28)} {line.quantity:>3} x {money(line.price):>8}")
        text.append(f"  {money(line.amount):>9}")
        if line.returned:
            text.append(f"  {line.returned} returned", style="yellow")
        text.append("\n")
    text.rstrip()
    return text


def ticket_row(ticket: Ticket) -> Text:
    """A ticket in the list: seat, type, price, its code cut short, state."""
    code = ticket.code or "—"
    short = code if len(code) <= 9 else f"{code[:4]}…{code[-4:]}"
    state, style = STATES[ticket.status]
    return Text.assemble(
        f"{fit(seat_label(ticket), 18)} {fit(ticket.ticket_type, 12)} ",
        f"{money(ticket.price):>8}  {short:<9} ",
        (state, style),
    )


def option(ticket: Ticket, *, picked: bool) -> Selection[int]:
    """A ticket's row in the picker: greyed out unless it can still be given back."""
    held = ticket.status in HELD
    return Selection(ticket_row(ticket), ticket.id, picked and held, disabled=not held)


TICKETS_HEADER = f"{'Seat':<18} {'Type':<12} {'Price':>8}  {'Code':<9} State"


def ticket_detail(ticket: Ticket) -> str:
    """The highlighted ticket in full: its code, and when it was admitted or given back."""
    where = f"{seat_label(ticket)} · {ticket.ticket_type} · {money(ticket.price)}"
    code = f"code {ticket_code(ticket.code)}" if ticket.code else "no code yet (a hold)"
    if ticket.status == "admitted" and ticket.checked_in_at is not None:
        gate = f" at {ticket.checked_in_gate}" if ticket.checked_in_gate else ""
        return f"{where} · checked in {clock(ticket.checked_in_at)}{gate}\n{code}"
    if ticket.status == "returned":
        refund = f", refund {money(ticket.refund)}" if ticket.refund else ""
        return f"{where} · returned{refund}\n{code}"
    return f"{where}\n{code}"


class OrderScreen(Modal[Booking | None]):
    """One order: its lines and tickets; pick some and give them back. Dismissed with the
    order as it is now (None if it was never loaded)."""

    BINDINGS = [
        Binding("r", "give_back", "Return picked"),
        Binding("a", "pick_all", "Pick all"),
        Binding("p", "print", "Print", tooltip="Print the tickets (and receipt)"),
        Binding("escape", "close", "Close"),
    ]

    def __init__(self, booking: Booking) -> None:
        super().__init__()
        self.booking = booking
        self.order: Order | None = None
        self._recheck: Timer | None = None

    @property
    def event(self) -> Event | None:
        return self.boxoffice.store.events.get(self.booking.event_id)

    def compose(self) -> ComposeResult:
        customer = f" · {self.booking.customer_name}" if self.booking.customer_name else ""
        with Vertical(classes="dialog", id="order"):
            yield Static(f"Order #{self.booking.id}{customer}", classes="title")
            yield Static("", id="order-summary")
            yield Static("", id="order-lines")
            yield Static(TICKETS_HEADER, id="tickets-header", classes="muted")
            yield SelectionList[int](id="order-tickets")
            yield Static("", id="ticket-detail", classes="muted")
            yield Static("Loading…", id="order-message")
            with Horizontal(classes="buttons"):
                yield Button("Return picked (r)", variant="warning", id="give-back")
                yield Button("Close (esc)", id="close")

    def on_mount(self) -> None:
        self.query_one(SelectionList).focus()
        self.boxoffice.events_changed.subscribe(self, self.on_events_changed)
        self.load()

    @work(exclusive=True, group="order")
    async def load(self) -> None:
        try:
            order = await self.boxoffice.client.order(self.booking.id)
        except ClientError as exc:
            self._say(f"Could not load the order: {exc.message}", error=True)
            return
        self.show(order)
        self._say("Space picks a ticket; r gives the picked ones back.")

    def on_events_changed(self, changes: list[Change]) -> None:
        if self._recheck is not None or self.order is None:
            return
        event_id = self.booking.event_id
        if any((c.after or c.before) and (c.after or c.before).id == event_id for c in changes):
            self._recheck = self.set_timer(RECHECK_SECONDS, self._recheck_now)

    def _recheck_now(self) -> None:
        self._recheck = None
        if self.app.screen is not self:  # a return or its confirmation is open: after it
            self._recheck = self.set_timer(RECHECK_SECONDS, self._recheck_now)
            return
        self.recheck()

    @work(exclusive=True, group="order")
    async def recheck(self) -> None:
        """Read the order again; show it only if it changed since it was shown."""
        try:
            order = await self.boxoffice.client.order(self.booking.id)
        except ClientError:
            return  # the next change tries again; what is shown stays
        if order != self.order:
            self.show(order)
            self._say("The order changed meanwhile: shown as it is now.")

    def show(self, order: Order) -> None:
        self.order = order
        event = self.event
        title = f"{event.title} · {when(event)}\n" if event else ""
        self.query_one("#order-summary", Static).update(Text(title + paid(order)))
        self.query_one("#order-lines", Static).update(lines_text(order))
        picker: SelectionList[int] = self.query_one(SelectionList)
        at = picker.highlighted or 0  # the cursor stays on its ticket after a return
        picked = set(picker.selected)  # and the picks still held stay picked
        picker.clear_options()
        picker.add_options(option(t, picked=t.id in picked) for t in order.tickets)
        if order.tickets:
            picker.highlighted = min(at, len(order.tickets) - 1)
        self.call_after_refresh(self.fit)
        self._show_ticket(picker.highlighted if picker.highlighted is not None else -1)

    def on_resize(self) -> None:
        self.fit()

    def fit(self) -> None:
        """The ticket list as tall as its tickets, or as the screen leaves room for: the
        dialog keeps its buttons on a small terminal and no empty rows on a large one."""
        picker = self.query_one(SelectionList)
        dialog = self.query_one("#order")
        others = [w for w in dialog.children if w is not picker]
        rest = sum(w.outer_size.height + w.styles.margin.height for w in others)
        room = self.size.height - dialog.gutter.height - rest
        picker.styles.max_height = max(3, room)

    def _say(self, message: str, *, error: bool = False) -> None:
        box = self.query_one("#order-message", Static)
        box.set_class(error, "error")
        box.update(message)

    @on(SelectionList.SelectionHighlighted)
    def _highlighted(self, message: SelectionList.SelectionHighlighted[int]) -> None:
        self._show_ticket(message.selection_index)

    def _show_ticket(self, index: int) -> None:
        tickets = self.order.tickets if self.order else []
        detail = ticket_detail(tickets[index]) if 0 <= index < len(tickets) else ""
        self.query_one("#ticket-detail", Static).update(detail)

    @property
    def picked(self) -> list[Ticket]:
        """The picked tickets still held (``a`` picks the greyed-out ones too)."""
        chosen = set(self.query_one(SelectionList).selected)
        tickets = self.order.tickets if self.order else []
        return [t for t in tickets if t.id in chosen and t.status in HELD]

    def action_pick_all(self) -> None:
        self.query_one(SelectionList).select_all()

    def action_print(self) -> None:
        """Print the order as shown (its tickets still held), where the settings say."""
        if self.order is not None and self.boxoffice.is_staff:
            self.boxoffice.print_order(self.order)
            self._say("Printing… (the printer is set with F10)")

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "print":
            return self.boxoffice.is_staff  # the server records prints for staff only
        return True

    def action_close(self) -> None:
        self.dismiss(self.order)

    @on(Button.Pressed, "#close")
    def _close(self) -> None:
        self.action_close()

    @on(Button.Pressed, "#give-back")
    def action_give_back(self) -> None:
        order, picked = self.order, self.picked
        if order is None:
            return
        if not picked:
            self._say("Pick the tickets to give back first (space, or a click).", error=True)
            return
        method = order.payment_method or self.boxoffice.payment_method
        asked = ReturnScreen(order, picked, why_override(picked, self.event), method)
        self.app.push_screen(asked, lambda choice: self._confirm(picked, choice))

    def _confirm(self, tickets: list[Ticket], choice: ReturnChoice | None) -> None:
        if choice is None or self.order is None:
            return
        order = self.order
        refund = refund_of(order, tickets)
        question = (
            f"[b]Give back {plural(len(tickets), 'ticket')} of order #{order.id}?[/b]\n"
            f"{seat_list(tickets)}\n\n{refund_words(order, refund, choice.method)}"
        )
        if choice.override:
            question += "\n\nStaff override: recorded in the audit log under your name."
        yes = f"Refund {money(refund)}" if refund else "Give back"
        confirm_then(
            self.app, question, yes, lambda: self.give_back(tickets, choice.method, choice.override)
        )

    @work(group="return")
    async def give_back(
        self, tickets: list[Ticket], method: PaymentMethod | None, override: bool
    ) -> None:
        order = self.order
        assert order is not None
        ids = [t.id for t in tickets]
        extra = [method or "as-paid", *(["override"] if override else [])]
        key = once("return", order, *map(str, ids), *extra)
        try:
            result = await self.boxoffice.client.return_tickets(
                order.id,
                ids,
                payment_method=method if self.boxoffice.is_staff else None,
                override=override,
                idempotency_key=key,
            )
        except ApiError as exc:
            again = partial(self.give_back, tickets, method, True)
            staff = self.boxoffice.is_staff
            if not override and offer_override(
                self.app, exc, staff, "Give them back", "Give back anyway", again
            ):
                return
            self._say(f"Not given back: {exc.message}", error=True)
            return
        except ClientError as exc:
            self._say(f"Not given back: {exc.message}", error=True)
            return
        self.show(result)
        self._say(returned_words(result, tickets, method or order.payment_method))
        self.notify(returned_words(result, tickets, method or order.payment_method))


def returned_words(result: ReturnResult, tickets: list[Ticket], how: PaymentMethod | None) -> str:
    """What a return did, in a line: the tickets, the refund and how it was paid back."""
    text = f"Gave back {plural(result.returned, 'ticket')} ({seat_list(tickets)})"
    text += refunded(result.refund, how)
    if result.status == "cancelled":
        text += "; nothing left, so the order is cancelled"
    return text + "."


@dataclass(frozen=True)
class ReturnChoice:
    method: PaymentMethod | None
    """how the refund is paid back (None: as the sale was paid)"""
    override: bool


class ReturnScreen(Modal[ReturnChoice | None]):
    """Which tickets, the refund and how it is paid back; the staff override when needed."""

    BINDINGS = [
        Binding("g", "go", "Give back"),
        Binding("escape", "keep", "Keep them"),
    ]

    def __init__(
        self, order: Order, tickets: list[Ticket], override_reason: str, method: PaymentMethod
    ) -> None:
        super().__init__()
        self.order, self.tickets = order, tickets
        self.override_reason, self.method = override_reason, method
        self.refund = refund_of(order, tickets)

    @property
    def asks_method(self) -> bool:
        """Staff say how a refund is paid back; a user's is paid back as it was paid."""
        return bool(self.refund) and self.boxoffice.is_staff

    def compose(self) -> ComposeResult:
        count = plural(len(self.tickets), "ticket")
        with Vertical(classes="dialog", id="give-back-dialog"):
            yield Static(f"Give back {count} of order #{self.order.id}", classes="title")
            # Places at a general-admission event are alike: counted, not listed one by one.
            alike = Counter(
                f"{seat_label(t)} · {t.ticket_type} · {money(t.price)}" for t in self.tickets
            )
            listed = [f"{n} x {what}" if n > 1 else what for what, n in alike.items()]
            if len(listed) > 6:
                listed[5:] = [f"and {len(listed) - 5} more"]
            yield Static("\n".join(listed), id="give-back-tickets")
            method = self.method if self.asks_method else None
            yield Static(refund_words(self.order, self.refund, method), id="refund")
            if self.asks_method:
                yield Static("Paid back by:", classes="muted")
                with RadioSet(id="refund-method"):
                    for key, label in PAYMENT_METHODS.items():
                        yield RadioButton(label, value=key == self.method, id=f"refund-{key}")
            if self.override_reason and self.boxoffice.is_staff:
                yield Checkbox(f"Staff override: {self.override_reason}", id="override")
                yield Static(
                    "Tick it to give them back anyway; the audit log records it under your name.",
                    classes="muted",
                )
            elif self.override_reason:
                yield Static(
                    f"Cannot be given back here: {self.override_reason}. Ask at the box office.",
                    classes="field-error",
                )
            yield Static("", id="give-back-message", classes="field-error")
            with Horizontal(classes="buttons"):
                yield Button("Give back… (g)", variant="warning", id="give-back-yes")
                yield Button("Keep them (esc)", id="give-back-no")

    def on_mount(self) -> None:
        boxes = self.query(Checkbox)
        (boxes.first() if boxes else self.query_one("#give-back-yes")).focus()

    @on(RadioSet.Changed, "#refund-method")
    def _method(self, message: RadioSet.Changed) -> None:
        self.method = cast(PaymentMethod, (message.pressed.id or "").removeprefix("refund-"))
        self.query_one("#refund", Static).update(refund_words(self.order, self.refund, self.method))

    @on(Button.Pressed, "#give-back-yes")
    def action_go(self) -> None:
        override = False
        if self.override_reason:
            boxes = self.query(Checkbox)
            override = bool(boxes) and boxes.first().value
            if not override:
                self.query_one("#give-back-message", Static).update(
                    "Tick the staff override to give these back."
                    if self.boxoffice.is_staff
                    else "Only staff can give these back."
                )
                return
        self.dismiss(ReturnChoice(self.method if self.asks_method else None, override))

    @on(Button.Pressed, "#give-back-no")
    def action_keep(self) -> None:
        self.dismiss(None)
