"""The counter's home: every event with live availability; Enter sells seats."""

from __future__ import annotations

from collections.abc import Iterable

from textual import on, work
from textual.binding import Binding
from textual.containers import Horizontal
from textual.widget import Widget
from textual.widgets import Input, Static

from common.client import ApiError, ClientError
from common.models import Event, OrderResult

from ..formatting import clerk_message
from ..model import Change
from ..widgets.events_table import SORTS, EventsTable
from .base import StaffScreen
from .confirm import confirm_then
from .event_form import EventFormScreen
from .sell import ReceiptScreen, SellScreen

SORT_NAMES = {"date": "date", "title": "title", "seats": "seats left"}


class EventsScreen(StaffScreen):
    # Letters typed on the table search (EventsTable.Typed), so the screen's keys are not
    # letters; "/" still goes to the search box.
    BINDINGS = [
        Binding("slash", "search", "Search", show=False),
        Binding("ctrl+s", "sort", "Sort"),
        Binding("ctrl+u", "upcoming", "Upcoming/all"),
        Binding("ctrl+b", "bookings", "Its bookings"),
        Binding("ctrl+n", "new_event", "New"),
        Binding("ctrl+e", "edit_event", "Edit"),
        Binding("delete", "delete_event", "Delete"),
        Binding("escape", "clear_search", "Clear search", show=False),
    ]
    ADMIN_ACTIONS = frozenset({"new_event", "edit_event", "delete_event"})

    def compose_body(self) -> Iterable[Widget]:
        with Horizontal(id="events-bar"):
            yield Input(
                placeholder="Type to search title, venue or description…",
                id="search",
                select_on_focus=False,  # what was typed on the table is kept, not selected
            )
            yield Static("", id="events-view")
        yield EventsTable(id="events")

    @property
    def table(self) -> EventsTable:
        return self.query_one(EventsTable)

    def on_mount(self) -> None:
        super().on_mount()
        self.sub_title = "Events"
        self.table.show(self.boxoffice.store.events.values())
        self.follow_events(self.on_events_changed)
        self._describe_view()
        self.table.focus()

    def on_events_changed(self, changes: list[Change]) -> None:
        self.table.apply(changes, self.boxoffice.store.events.values())
        self._describe_view()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        return self.boxoffice.is_admin if action in self.ADMIN_ACTIONS else True

    def _describe_view(self) -> None:
        shown = "upcoming" if self.table.upcoming_only else "all"
        self.query_one("#events-view", Static).update(
            f"{self.table.row_count} {shown} · by {SORT_NAMES[self.table.sort_by]}"
        )

    def _redraw(self) -> None:
        self.table.show(self.boxoffice.store.events.values())
        self._describe_view()

    # --- search, filter, sort ---------------------------------------------------------

    @on(Input.Changed, "#search")
    def search_as_you_type(self, event: Input.Changed) -> None:
        self.table.query_text = event.value.strip()
        self._redraw()

    @on(Input.Submitted, "#search")
    def to_results(self) -> None:
        self.table.focus()

    @on(EventsTable.Typed)
    def search_typed(self, typed: EventsTable.Typed) -> None:
        """A letter typed on the table starts a new search with it; the next ones add to
        it, in the box from then on."""
        box = self.query_one("#search", Input)
        box.value = typed.text if typed.first else box.value + typed.text
        box.cursor_position = len(box.value)
        box.focus()

    def action_search(self) -> None:
        self.query_one("#search").focus()

    def action_clear_search(self) -> None:
        self.query_one("#search", Input).value = ""
        self.table.focus()

    def action_sort(self) -> None:
        keys = list(SORTS)
        self.table.sort_by = keys[(keys.index(self.table.sort_by) + 1) % len(keys)]
        self._redraw()

    def action_upcoming(self) -> None:
        self.table.upcoming_only = not self.table.upcoming_only
        self._redraw()

    # --- selling ----------------------------------------------------------------------

    @on(EventsTable.RowSelected)
    def sell_selected(self) -> None:
        self.action_sell()

    def action_sell(self) -> None:
        event = self.table.selected
        if event is None:
            return

        def receipt(result: OrderResult | None) -> None:
            if result is not None:
                self.app.push_screen(ReceiptScreen(result, event))

        self.app.push_screen(SellScreen(event), receipt)

    def action_bookings(self) -> None:
        event = self.table.selected
        if event is not None:
            self.boxoffice.show_bookings(event_id=event.id)

    # --- admin ------------------------------------------------------------------------

    def action_new_event(self) -> None:
        self.app.push_screen(EventFormScreen(None))

    def action_edit_event(self) -> None:
        if (event := self.table.selected) is not None:
            self.app.push_screen(EventFormScreen(event))

    def action_delete_event(self) -> None:
        if (event := self.table.selected) is None:
            return
        question = f"Delete “{event.title}”? This cannot be undone."
        confirm_then(self.app, question, "Delete", lambda: self.delete(event))

    @work(group="delete")
    async def delete(self, event: Event) -> None:
        try:
            await self.boxoffice.client.delete_event(event.id)
        except ApiError as exc:
            self.notify(clerk_message(exc), title="Not deleted", severity="error")
        except ClientError as exc:
            self.notify(exc.message, title="Not deleted", severity="error")
        else:
            self.notify(f"“{event.title}” deleted.")
