"""Admins create and edit events. Input is checked with the same models the server uses,
and the server's own field errors are shown next to the field at fault.

An event is general admission (a number of seats) or seated on a venue's plan (its seats
are the plan's): the Seating choice lists the venues. ``ctrl+t`` opens the event's ticket
types (prices per zone, quotas, on sale, staff only); a seated event just created opens
them at once, as its zone prices are what comes next."""

from __future__ import annotations

import contextlib
from datetime import datetime, timedelta
from typing import Any

from pydantic import ValidationError
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Button, Input, Label, Select, Static

from common.client import ApiError, ClientError
from common.models import Event, EventCreate, EventPatch

from ..formatting import clerk_errors, clerk_message
from .base import Modal
from .ticket_types import TicketTypesScreen

GENERAL_ADMISSION = 0  # the Seating choice's value for "no plan"

DATE_FORMAT = "%Y-%m-%d %H:%M"
# field name, label, placeholder
FIELDS = (
    ("title", "Title", "what is on"),
    ("date", "Date", "YYYY-MM-DD HH:MM (local time)"),
    ("venue", "Venue", "where"),
    ("total_seats", "Seats", "how many seats in total"),
    ("price", "Price", "0.00"),
    ("description", "About", "a line for the counter staff"),
)


def initial_values(event: Event | None) -> dict[str, str]:
    if event is None:
        start = (datetime.now() + timedelta(days=7)).replace(hour=20, minute=0)
        return {"date": start.strftime(DATE_FORMAT), "price": "0.00"}
    return {
        "title": event.title,
        "date": event.date.astimezone().strftime(DATE_FORMAT),
        "venue": event.venue or "",
        "total_seats": str(event.total_seats),
        "price": f"{event.price:.2f}",
        "description": event.description or "",
    }


class EventFormScreen(Modal[Event | None]):
    BINDINGS = [
        Binding("escape", "dismiss(None)", "Cancel"),
        Binding("ctrl+s", "save", "Save"),
        Binding("ctrl+t", "ticket_types", "Ticket types"),
    ]

    def __init__(self, event: Event | None) -> None:
        super().__init__()
        self.event = event
        self._saving = False  # a save is on its way to the server

    def compose(self) -> ComposeResult:
        values = initial_values(self.event)
        with VerticalScroll(classes="dialog", id="event-form"):
            yield Static(
                f"Edit “{self.event.title}”" if self.event else "New event", classes="title"
            )
            with Horizontal(classes="field compact"):
                yield Label("Seating")
                # Not blank: general admission until a venue is chosen (venues load after).
                yield Select[int](
                    [("General admission", GENERAL_ADMISSION)],
                    value=GENERAL_ADMISSION,
                    allow_blank=False,
                    id="seating",
                    compact=True,
                )
            for name, label, placeholder in FIELDS:
                with Horizontal(classes="field compact"):
                    yield Label(label)
                    yield Input(
                        values.get(name, ""), placeholder=placeholder, id=name, compact=True
                    )
                error = Static("", id=f"{name}-error", classes="field-error")
                error.display = False
                yield error
            yield Static("", id="form-message")
            with Horizontal(classes="buttons"):
                yield Button("Save (ctrl+s)", variant="primary", id="save")
                yield Button("Cancel", id="form-cancel")

    def on_mount(self) -> None:
        self.query_one("#title").focus()
        self.load_venues()

    @work(group="venues")
    async def load_venues(self) -> None:
        try:
            venues = await self.boxoffice.client.venues()
        except ClientError:
            return  # general admission only; saving says what is wrong, if anything
        seating: Select[int] = self.query_one("#seating", Select)
        options = [("General admission", GENERAL_ADMISSION)]
        options += [(f"{v.name} ({v.seat_count:,} seats)", v.id) for v in venues]
        with self.prevent(Select.Changed):
            seating.set_options(options)
            if self.event is not None and self.event.venue_id is not None:
                seating.value = self.event.venue_id
        self._seated_changed()

    @property
    def venue_id(self) -> int | None:
        """The chosen venue's id; None: general admission."""
        value = self.query_one("#seating", Select).value
        return value if isinstance(value, int) and value != GENERAL_ADMISSION else None

    @on(Select.Changed, "#seating")
    def _seated_changed(self) -> None:
        # A seated event's seats are its plan's: the number is not asked for.
        seats = self.query_one("#total_seats", Input)
        seats.disabled = self.venue_id is not None
        if self.venue_id is not None:
            seats.placeholder = "the plan's seats"

    def _values(self) -> dict[str, Any]:
        values: dict[str, Any] = {
            name: self.query_one(f"#{name}", Input).value.strip() for name, *_ in FIELDS
        }
        for optional in ("venue", "description"):
            values[optional] = values[optional] or None
        values["venue_id"] = self.venue_id
        if self.venue_id is not None:
            values.pop("total_seats")
        with contextlib.suppress(ValueError):  # if not, the model reports a date error
            values["date"] = datetime.strptime(values["date"], DATE_FORMAT).astimezone()
        if self.event is not None:  # send only what changed
            before = initial_values(self.event)
            venue_id = values.pop("venue_id")
            values = {
                k: v
                for k, v in values.items()
                if self.query_one(f"#{k}", Input).value.strip() != before.get(k, "")
            }
            if venue_id != self.event.venue_id:
                values["venue_id"] = venue_id
        return values

    def _show_errors(self, errors: dict[str, str], message: str = "") -> None:
        for name, *_ in FIELDS:
            error = self.query_one(f"#{name}-error", Static)
            error.update(errors.get(name, ""))
            error.display = name in errors
        self.query_one("#form-message", Static).update(message)
        for name, *_ in FIELDS:
            if name in errors:
                self.query_one(f"#{name}").focus()
                break

    @on(Input.Submitted)
    def _next_field(self, event: Input.Submitted) -> None:
        if event.input.id == FIELDS[-1][0]:
            self.action_save()
        else:
            self.focus_next()

    @on(Button.Pressed, "#save")
    def action_save(self) -> None:
        if self._saving:
            return  # a second ctrl+s (or Enter) while the first is in flight: one event only
        model = EventPatch if self.event else EventCreate
        try:
            changes = model.model_validate(self._values())
        except ValidationError as exc:
            self._show_errors(clerk_errors(exc), "Please correct the fields marked.")
            return
        self._saving = True
        self.query_one("#save", Button).disabled = True
        self.save(changes)

    @on(Button.Pressed, "#form-cancel")
    def _cancel(self) -> None:
        self.dismiss(None)

    @work(group="save")
    async def save(self, changes: EventCreate | EventPatch) -> None:
        # Not exclusive: cancelling a request already sent does not undo it on the server,
        # so a second save would create the event twice. ``_saving`` keeps it to one.
        client = self.boxoffice.client
        try:
            if self.event is None:
                assert isinstance(changes, EventCreate)
                saved = await client.create_event(changes)
            elif not changes.model_fields_set:
                self.dismiss(None)
                return
            else:
                assert isinstance(changes, EventPatch)
                saved = await client.update_event(self.event.id, changes)
        except ApiError as exc:
            self._show_errors(clerk_errors(exc), clerk_message(exc))
        except ClientError as exc:
            self._show_errors({}, f"Not saved: {exc.message}")
        else:
            self.notify(f"“{saved.title}” saved.")
            self.dismiss(saved)
            if self.event is None and saved.venue_id is not None:
                self.app.push_screen(TicketTypesScreen(saved))
            return
        self._saving = False
        self.query_one("#save", Button).disabled = False

    def action_ticket_types(self) -> None:
        if self.event is None:
            self.notify("Save the event first: its ticket types come with it.")
            return
        self.app.push_screen(TicketTypesScreen(self.event))
