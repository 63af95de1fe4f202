"""An event's ticket types, for admins: what each is sold as and at what price (per price
zone of a seated event's plan), its quota, whether it is on sale, and whether only staff
sell it. Every change goes through the ticket-types API (docs/ticket-types.md); the
server's refusals are shown in words, next to the field at fault."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from pydantic import ValidationError
from rich.markup import escape
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Checkbox, DataTable, Input, Label, Static

from common.client import ApiError, ClientError
from common.models import Event, TicketType, TicketTypeCreate, TicketTypePatch

from ..formatting import clerk_errors, clerk_message, money
from .base import Modal

# field name, label, placeholder
FIELDS = (
    ("name", "Name", "Adult, Concession, Comp…"),
    ("price", "Price", "blank: the event's price"),
    ("zone_prices", "Zones", "A=48.00, B=36.00"),
    ("quota", "Quota", "blank: no limit"),
)
FLAGS = (("on_sale", "On sale"), ("staff_only", "Staff only"))


# What pydantic says, as a box-office admin would put it.
def parse_zone_prices(text: str) -> dict[str, str]:
    """``A=48.00, B=36`` as ``{"A": "48.00", "B": "36"}``; ValueError saying what is wrong."""
    prices: dict[str, str] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        zone, sep, price = (s.strip() for s in item.partition("="))
        if not sep or not zone or not price:
            raise ValueError(f"Write each zone as ZONE=PRICE, like A=48.00 (not “{item}”).")
        try:
            Decimal(price)
        except InvalidOperation:
            raise ValueError(f"“{price}” is not an amount (zone {zone}).") from None
        prices[zone.upper()] = price
    return prices


def zone_prices_text(prices: dict[str, Decimal]) -> str:
    return ", ".join(f"{zone}={price:.2f}" for zone, price in prices.items())


def form_values(kind: TicketType | None) -> dict[str, Any]:
    if kind is None:
        return {"on_sale": True, "staff_only": False}
    return {
        "name": kind.name,
        "price": "" if kind.price is None else f"{kind.price:.2f}",
        "zone_prices": zone_prices_text(kind.zone_prices),
        "quota": "" if kind.quota is None else str(kind.quota),
        "on_sale": kind.on_sale,
        "staff_only": kind.staff_only,
    }


class TicketTypesScreen(Modal[None]):
    BINDINGS = [
        Binding("escape", "dismiss(None)", "Close"),
        Binding("ctrl+n", "new_type", "New type"),
        Binding("ctrl+s", "save", "Save type"),
        # Above the fields' own ctrl+d (delete to the right): this dialog's delete wins.
        Binding("ctrl+d", "delete_type", "Delete type", priority=True),
    ]

    def __init__(self, event: Event) -> None:
        super().__init__()
        self.event = event
        self.types: list[TicketType] = []
        self.editing: TicketType | None = None  # None: the form adds a new type

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="dialog", id="ticket-types"):
            yield Static(f"Ticket types of “{escape(self.event.title)}”", classes="title")
            yield Static("", id="zones-hint", classes="muted")
            yield DataTable(id="types-table", cursor_type="row", zebra_stripes=True)
            yield Static("", id="type-form-title", classes="muted")
            for name, label, placeholder in FIELDS:
                with Horizontal(classes="field compact"):
                    yield Label(label)
                    yield Input(placeholder=placeholder, id=f"type-{name}", compact=True)
                error = Static("", id=f"type-{name}-error", classes="field-error")
                error.display = False
                yield error
            with Horizontal(id="type-flags"):
                for name, label in FLAGS:
                    yield Checkbox(label, id=f"type-{name}", compact=True)
            yield Static("", id="types-message")
            yield Static(
                "Enter: edit the type  ctrl+n: new  ctrl+s: save  ctrl+d: delete  Esc: close",
                classes="muted",
            )

    def on_mount(self) -> None:
        table = self.query_one("#types-table", DataTable)
        table.add_columns("Type", "Price", "Zones", "Quota", "Sold", "")
        zone_input = self.query_one("#type-zone_prices", Input)
        zone_input.disabled = self.event.venue_id is None
        if self.event.venue_id is None:
            zone_input.placeholder = "general admission: no zones"
        self._fill(None)
        self.load()
        self.load_zones()

    @work(group="zones")
    async def load_zones(self) -> None:
        if self.event.venue_id is None:
            return
        try:
            venue = await self.boxoffice.client.venue(self.event.venue_id)
        except ClientError:
            return
        zones = ", ".join(f"{z.code} {z.name}" for z in venue.plan.zones)
        self.query_one("#zones-hint", Static).update(
            escape(f"{venue.name}: zones {zones}; a zone not priced costs the type's price.")
        )

    @work(exclusive=True, group="types")
    async def load(self, select: int | None = None) -> None:
        try:
            self.types = await self.boxoffice.client.ticket_types(self.event.id)
        except ClientError as exc:
            self._message(f"[red]{escape(exc.message)}[/]")
            return
        table = self.query_one("#types-table", DataTable)
        table.clear()
        for kind in self.types:
            flags = [
                label
                for label, on_ in (
                    ("default", kind.is_default),
                    ("staff only", kind.staff_only),
                    ("off sale", not kind.on_sale),
                )
                if on_
            ]
            table.add_row(
                kind.name,
                money(kind.price) if kind.price is not None else "event's",
                zone_prices_text(kind.zone_prices) or "—",
                "—" if kind.quota is None else f"{kind.quota:,}",
                "—" if kind.sold is None else f"{kind.sold:,}",
                ", ".join(flags),
                key=str(kind.id),
            )
        if select is not None:
            table.move_cursor(row=table.get_row_index(str(select)))

    # --- the form ----------------------------------------------------------------------

    def _fill(self, kind: TicketType | None) -> None:
        self.editing = kind
        values = form_values(kind)
        for name, *_ in FIELDS:
            self.query_one(f"#type-{name}", Input).value = values.get(name, "")
        for name, _ in FLAGS:
            self.query_one(f"#type-{name}", Checkbox).value = values[name]
        title = f"Editing “{kind.name}”" if kind else "New type"
        self.query_one("#type-form-title", Static).update(escape(title))
        self._show_errors({})

    @on(DataTable.RowSelected, "#types-table")
    def _edit(self, message: DataTable.RowSelected) -> None:
        chosen = next((t for t in self.types if str(t.id) == message.row_key.value), None)
        self._fill(chosen)
        self.query_one("#type-name", Input).focus()

    def action_new_type(self) -> None:
        self._fill(None)
        self.query_one("#type-name", Input).focus()

    @on(Input.Submitted)
    def _submitted(self) -> None:
        self.action_save()

    def _show_errors(self, errors: dict[str, str], message: str = "") -> None:
        for name, *_ in FIELDS:
            shown = self.query_one(f"#type-{name}-error", Static)
            found = next((m for field, m in errors.items() if field.split(".")[0] == name), "")
            shown.update(escape(found))
            shown.display = bool(found)
        self._message(escape(message))

    def _message(self, markup: str) -> None:
        self.query_one("#types-message", Static).update(markup)

    def _fields(self) -> dict[str, Any]:
        """What the form says, as the API takes it (ValueError: zone prices unreadable)."""
        text = {name: self.query_one(f"#type-{name}", Input).value.strip() for name, *_ in FIELDS}
        fields: dict[str, Any] = {
            "name": text["name"],
            "price": text["price"] or None,
            "quota": text["quota"] or None,
            **{name: self.query_one(f"#type-{name}", Checkbox).value for name, _ in FLAGS},
        }
        if self.event.venue_id is not None:
            fields["zone_prices"] = parse_zone_prices(text["zone_prices"])
        if self.editing is not None:  # send only what changed
            before = form_values(self.editing)
            changed = {k for k, v in text.items() if v != before.get(k, "")}
            changed |= {k for k, _ in FLAGS if fields[k] != before[k]}
            fields = {k: v for k, v in fields.items() if k in changed}
        return fields

    def action_save(self) -> None:
        try:
            fields = self._fields()
        except ValueError as exc:
            self._show_errors({"zone_prices": str(exc)}, "Please correct the fields marked.")
            return
        model = TicketTypePatch if self.editing else TicketTypeCreate
        try:
            body = model.model_validate(fields)
        except ValidationError as exc:
            self._show_errors(clerk_errors(exc), "Please correct the fields marked.")
            return
        if not body.model_fields_set:
            self._message("Nothing changed.")
            return
        self.save(self.editing, body)

    # Not exclusive: cancelling a request already sent does not undo it on the server.
    @work(group="save-type")
    async def save(
        self, editing: TicketType | None, body: TicketTypeCreate | TicketTypePatch
    ) -> None:
        client = self.boxoffice.client
        try:
            if editing is None:
                assert isinstance(body, TicketTypeCreate)
                saved = await client.create_ticket_type(self.event.id, body)
            else:
                assert isinstance(body, TicketTypePatch)
                saved = await client.update_ticket_type(self.event.id, editing.id, body)
        except ApiError as exc:
            self._show_errors(clerk_errors(exc), f"Not saved: {clerk_message(exc)}")
            return
        except ClientError as exc:
            self._show_errors({}, f"Not saved: {exc.message}")
            return
        self.notify(f"Ticket type “{saved.name}” saved.")
        self._fill(saved)
        self.load(select=saved.id)

    def action_delete_type(self) -> None:
        if self.editing is None:
            self._message("Choose a type to delete (Enter on it).")
            return
        self.delete(self.editing)

    @work(group="save-type")
    async def delete(self, kind: TicketType) -> None:
        try:
            await self.boxoffice.client.delete_ticket_type(self.event.id, kind.id)
        except ClientError as exc:
            self._message(f"[red]“{escape(kind.name)}” not deleted: {escape(exc.message)}[/]")
            return
        self.notify(f"Ticket type “{kind.name}” deleted.")
        self._fill(None)
        self.load()
