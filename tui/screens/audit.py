"""F7 (admins): the audit log, newest first; the selected record's details below.

Narrow it with the filter box: ``event 12``, ``booking 34`` (or ``#34``), ``user 5`` (about
the account or by it), ``actor 5`` (by it), and an action (``booking.cancel``) or a kind of
action (``booking``); filters combine.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from rich.json import JSON
from rich.text import Text
from textual import on, work
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.widget import Widget
from textual.widgets import DataTable, Input, Static

from common.client import ClientError
from common.models import AuditRecord, Event

from ..formatting import clipped, money
from .base import StaffScreen

PAGE = 100
USERS_PAGE = 100
COLUMNS = (
    ("at", "When"),
    ("actor", "Who"),
    ("action", "Action"),
    ("about", "About"),
    ("source", "From"),
)
ID_FILTERS = {
    "event": "event_id",
    "booking": "booking_id",
    "user": "user_id",
    "actor": "actor_id",
    "by": "actor_id",
}
ACTION = re.compile(r"[a-z_]+(\.[a-z_]+)?")
HINT = "event 12 · booking 34 (#34) · user 5 · actor 5 · booking.cancel"
ACTION_STYLES = {
    "cancel": "red",
    "return": "yellow",
    "expire": "dim",
    "delete": "red",
    "check_in": "cyan",
}


def parse_filter(text: str) -> dict[str, Any]:
    """The API filters in ``text``; a ValueError says what was not understood."""
    tokens = text.replace(":", " ").replace("=", " ").split()
    found: dict[str, Any] = {}
    i = 0
    while i < len(tokens):
        token = tokens[i].lower()
        following = tokens[i + 1] if i + 1 < len(tokens) else ""
        if token.startswith("#") and token[1:].isdigit():
            found["booking_id"] = int(token[1:])
        elif token in ID_FILTERS and following.lstrip("#").isdigit():
            found[ID_FILTERS[token]] = int(following.lstrip("#"))
            i += 1
        elif token == "action" and ACTION.fullmatch(following.lower()) and "action" not in found:
            found["action"] = following.lower()
            i += 1
        elif ACTION.fullmatch(token) and "action" not in found:
            found["action"] = token
        else:
            raise ValueError(f"Not understood: {tokens[i]!r}. Try {HINT}")
        i += 1
    for key, value in found.items():
        if key.endswith("_id") and not 1 <= value < 2**63:
            raise ValueError(f"No such id: {value}")
    return found


@dataclass
class Names:
    """The names behind a record's ids: event titles, customers' names, usernames. Read
    from the records themselves where they carry them (an event's create, update or
    delete has its title; a booking's create or hold its customer), the events the app
    follows, and otherwise fetched once per booking or account, never once per row."""

    titles: dict[int, str] = field(default_factory=dict)
    customers: dict[int, str | None] = field(default_factory=dict)
    usernames: dict[int, str] = field(default_factory=dict)

    def learn(self, records: Iterable[AuditRecord]) -> None:
        for record in records:
            details = record.details
            if record.event_id is not None and record.action.startswith("event."):
                title = (details.get("after") or {}).get("title") or details.get("title")
                if isinstance(title, str):
                    self.titles.setdefault(record.event_id, title)
            if record.booking_id is not None and "customer_name" in details:
                self.customers.setdefault(record.booking_id, details["customer_name"])

    def unknown_bookings(self, records: Iterable[AuditRecord]) -> set[int]:
        return {
            r.booking_id
            for r in records
            if r.booking_id is not None and r.booking_id not in self.customers
        }

    def unknown_users(self, records: Iterable[AuditRecord]) -> bool:
        return any(
            r.user_id is not None and r.booking_id is None and r.user_id not in self.usernames
            for r in records
        )


def about(record: AuditRecord, names: Names, titles: Mapping[int, Event]) -> str:
    """What a record is about, in names: ``Hamlet · #12 Ada Lovelace`` (a booking's owner
    is the clerk who sold it, already in "Who"), ``user bob``."""
    parts = []
    if (event_id := record.event_id) is not None:
        event = titles.get(event_id)
        parts.append(event.title if event else names.titles.get(event_id, f"event {event_id}"))
    if record.booking_id is not None:
        customer = names.customers.get(record.booking_id)
        parts.append(f"#{record.booking_id} {customer}" if customer else f"#{record.booking_id}")
    elif record.user_id is not None:
        parts.append(f"user {names.usernames.get(record.user_id, record.user_id)}")
    return " · ".join(parts) or "—"


def ids(record: AuditRecord) -> str:
    """The ids a record is about, to filter by: ``event 3 · #12 · user 5``."""
    parts = []
    if record.event_id is not None:
        parts.append(f"event {record.event_id}")
    if record.booking_id is not None:
        parts.append(f"#{record.booking_id}")
    if record.user_id is not None:
        parts.append(f"user {record.user_id}")
    return " · ".join(parts) or "—"


def row(record: AuditRecord, about_it: str) -> tuple[object, ...]:
    verb = record.action.rpartition(".")[2]
    return (
        record.at.astimezone().strftime("%d %b %H:%M:%S"),
        clipped(record.actor),
        Text(record.action, style=ACTION_STYLES.get(verb, "")),
        clipped(about_it),
        clipped(record.source),
    )


def returned(details: dict[str, Any]) -> str:
    """booking.return: ``returned 1 ticket, refund 30.00 cash``."""
    count = len(details.get("ticket_ids") or ())
    refund = Decimal(str(details.get("refund") or 0))
    method = details.get("refund_method")
    paid = f"refund {money(refund)} {method or 'unrecorded'}" if refund else "no refund"
    override = " (override)" if details.get("override") else ""
    return f"returned {count} ticket{'s' * (count != 1)}, {paid}{override}"


# What a record did, in words, for the actions whose details need reading.
SAYS = {"booking.return": returned}


def describe(record: AuditRecord, about_it: str) -> Text:
    actor = f"{record.actor} (user {record.actor_id})" if record.actor_id else record.actor
    source = f" from {record.source}" if record.source else ""
    says = SAYS.get(record.action)
    return Text.assemble(
        (f"#{record.id} {record.action}", "bold"),
        f"  {record.at.astimezone():%Y-%m-%d %H:%M:%S}\n",
        f"by {actor}{source}, about {about_it} ({ids(record)})",
        f"\n{says(record.details)}" if says else "",
    )


class AuditScreen(StaffScreen):
    BINDINGS = [
        Binding("slash", "filter", "Filter"),
        Binding("m", "more", "More"),
        Binding("r", "reload", "Reload"),
        Binding("escape", "clear_filter", "Clear filter", show=False),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.records: dict[int, AuditRecord] = {}
        self.filters: dict[str, Any] = {}
        self.names = Names()

    def compose_body(self) -> Iterable[Widget]:
        with Horizontal(id="audit-bar"):
            yield Input(placeholder=f"Filter: {HINT}", id="audit-filter")
        yield DataTable[object](id="audit", cursor_type="row", zebra_stripes=True)
        yield Static("", id="audit-message")
        with VerticalScroll(id="audit-detail"):
            yield Static("", id="audit-summary")
            yield Static("", id="audit-details")

    @property
    def table(self) -> DataTable[object]:
        return self.query_one("#audit", DataTable)

    def came_back(self) -> None:
        self.action_reload()

    def on_mount(self) -> None:
        super().on_mount()
        self.sub_title = "Audit log"
        self.query_one("#audit-detail").border_title = "Details"
        self._add_columns()
        self.table.focus()
        self.action_reload()

    def _add_columns(self) -> None:
        """The columns at this width: "About" gets what the others leave, and long text
        ends in "…" rather than off the edge."""
        table = self.table
        width = (self.size.width or self.app.size.width) - table.styles.scrollbar_size_vertical
        fixed = {"at": 15, "actor": 8, "action": 18, "source": 11}
        room = width - sum(fixed.values()) - 2 * (len(fixed) + 1)
        fixed["about"] = max(12, room)
        for key, label in COLUMNS:
            table.add_column(label, key=key, width=fixed[key])

    def on_resize(self) -> None:
        table = self.table
        keep = self.selected
        table.clear(columns=True)
        self._add_columns()
        for record in self.records.values():
            table.add_row(*self._row(record), key=str(record.id))
        if keep is not None:
            table.move_cursor(row=table.get_row_index(str(keep.id)))

    def _about(self, record: AuditRecord) -> str:
        return about(record, self.names, self.boxoffice.store.events)

    def _row(self, record: AuditRecord) -> tuple[object, ...]:
        return row(record, self._about(record))

    def show_filter(self, text: str) -> None:
        """Look at the records matching ``text`` (from another screen)."""
        self.query_one("#audit-filter", Input).value = text
        self.table.focus()

    # --- filtering --------------------------------------------------------------------

    @on(Input.Changed, "#audit-filter")
    def action_reload(self) -> None:
        try:
            self.filters = parse_filter(self.query_one("#audit-filter", Input).value)
        except ValueError as exc:
            self._say(str(exc))
            return
        self.load(self.filters, 0)

    @on(Input.Submitted, "#audit-filter")
    def _to_results(self) -> None:
        self.table.focus()

    def action_filter(self) -> None:
        self.query_one("#audit-filter").focus()

    def action_clear_filter(self) -> None:
        self.query_one("#audit-filter", Input).value = ""
        self.table.focus()

    def action_more(self) -> None:
        self.load(self.filters, len(self.records))

    def _say(self, text: str) -> None:
        self.query_one("#audit-message", Static).update(text)

    @work(exclusive=True, group="audit")
    async def load(self, filters: dict[str, Any], skip: int) -> None:
        client = self.boxoffice.client
        try:
            found = await client.audit(**filters, skip=skip, limit=PAGE)
            await self._look_up_names(found)
        except ClientError as exc:
            self._say(f"Could not load the audit log: {exc.message}")
            return
        if not skip:
            self.table.clear()
            self.records = {}
        for record in found:
            if record.id not in self.records:
                self.records[record.id] = record
                self.table.add_row(*self._row(record), key=str(record.id))
        count = len(self.records)
        more = " · m: more" if len(found) == PAGE else ""
        self._say(f"{count} record{'s' * (count != 1)}, newest first{more}")
        self._show_detail()

    async def _look_up_names(self, records: list[AuditRecord]) -> None:
        """Names the records do not carry: each booking's customer and the accounts'
        usernames, asked for once each (the bookings at once), then remembered."""
        names, client = self.names, self.boxoffice.client
        names.learn(records)
        if missing := sorted(names.unknown_bookings(records)):

            async def customer(booking_id: int) -> str | None:
                with contextlib.suppress(ClientError):
                    return (await client.booking(booking_id)).customer_name
                return None

            found = await asyncio.gather(*map(customer, missing))
            names.customers.update(zip(missing, found, strict=True))
        if names.unknown_users(records):
            skip = 0
            while page := await client.users(skip=skip, limit=USERS_PAGE):
                names.usernames.update((user.id, user.username) for user in page)
                if len(page) < USERS_PAGE:
                    break
                skip += len(page)

    # --- the selected record ----------------------------------------------------------

    @property
    def selected(self) -> AuditRecord | None:
        if not self.table.row_count:
            return None
        row_key, _ = self.table.coordinate_to_cell_key(self.table.cursor_coordinate)
        return self.records.get(int(row_key.value)) if row_key.value else None

    @on(DataTable.RowHighlighted, "#audit")
    def _show_detail(self) -> None:
        record = self.selected
        summary = self.query_one("#audit-summary", Static)
        details = self.query_one("#audit-details", Static)
        if record is None:
            summary.update("")
            details.update("")
            return
        summary.update(describe(record, self._about(record)))
        details.update(JSON.from_data(record.details, indent=2, sort_keys=True))
