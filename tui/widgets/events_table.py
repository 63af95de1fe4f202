"""The events table: one row per event, whose seat cells change as seats sell anywhere."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime

from rich.text import Text
from textual import events
from textual.binding import Binding
from textual.message import Message
from textual.widgets import DataTable

from common.models import Event

from ..formatting import clipped
from ..model import Change

# Seats and price come before the free text, so the live figures are never cut off.
COLUMNS = (
    ("date", "Date"),
    ("seats", "Seats"),
    ("price", "Price"),
    ("title", "Event"),
    ("venue", "Venue"),
)
SORTS: dict[str, Callable[[Event], object]] = {
    "date": lambda e: (e.date, e.id),
    "title": lambda e: e.title.casefold(),
    "seats": lambda e: (e.available_seats, e.date),
}


def seats_cell(event: Event) -> Text:
    text = f"{event.available_seats:>5} / {event.total_seats}"
    if event.available_seats == 0:
        return Text("SOLD OUT".rjust(len(text)), style="bold red")
    if event.available_seats <= max(1, event.total_seats // 10):
        return Text(text, style="bold yellow")
    return Text(text)


def row(event: Event) -> tuple[object, ...]:
    local = event.date.astimezone()
    return (
        local.strftime("%a %d %b %Y %H:%M"),
        seats_cell(event),
        Text(f"{event.price:,.2f}", justify="right"),
        clipped(event.title),
        clipped(event.venue or ""),
    )


def text_widths(rows: list[tuple[object, ...]], width: int) -> tuple[int, int]:
    """The widths of the title and venue columns: what the figures leave of ``width``,
    title first, so that the table never runs off the screen."""
    widths = [
        max([len(label)] + [len(str(cells[i])) for cells in rows])
        for i, (_, label) in enumerate(COLUMNS)
    ]
    padding = 2 * len(COLUMNS)  # a cell's space either side
    room = max(0, width - sum(widths[:3]) - padding)
    title, venue = widths[3:]
    if title + venue <= room:
        return title, venue
    venue = min(venue, max(8, room * 2 // 5))
    return max(12, room - venue), venue


class EventsTable(DataTable[object]):
    """Shows the events that match a search; updates only the cells that changed.
    Typing on it starts a search (``Typed``)."""

    BINDINGS = [Binding("enter", "select_cursor", "Sell")]

    class Typed(Message):
        """A character typed on the table, for the search; ``first``: the first since
        the table had the focus, which starts a new search."""

        def __init__(self, text: str, first: bool) -> None:
            super().__init__()
            self.text = text
            self.first = first

    def __init__(self, **kwargs: object) -> None:
        super().__init__(cursor_type="row", zebra_stripes=True, **kwargs)  # type: ignore[arg-type]
        self.query_text = ""
        self.upcoming_only = True
        self.sort_by = "date"
        self._shown: dict[int, Event] = {}
        self._typed = False  # a character typed since the table had the focus
        self._source: Iterable[Event] = ()  # what the last redraw chose from

    def on_resize(self) -> None:
        self.show(self._source)

    def on_focus(self) -> None:
        self._typed = False

    def on_key(self, event: events.Key) -> None:
        # Space is the table's, "/" the screen's key to the search box.
        if event.is_printable and event.character and event.character not in " /":
            event.stop()
            event.prevent_default()
            self.post_message(self.Typed(event.character, first=not self._typed))
            self._typed = True

    def matches(self, event: Event) -> bool:
        if self.upcoming_only and event.date < datetime.now(UTC):
            return False
        needle = self.query_text.casefold()
        return not needle or any(
            needle in (part or "").casefold()
            for part in (event.title, event.venue, event.description)
        )

    def show(self, events: Iterable[Event]) -> None:
        """Redraw from scratch (a new search, filter or sort, a new size), keeping the
        cursor's event. The columns are made again: the free text gets what is left."""
        keep = self.selected_id
        self._source = events
        shown = sorted(filter(self.matches, events), key=SORTS[self.sort_by])
        cells = [row(event) for event in shown]
        width = (self.size.width or self.app.size.width) - self.styles.scrollbar_size_vertical
        title, venue = text_widths(cells, width)
        self.clear(columns=True)
        for key, label in COLUMNS:
            fixed = {"title": title, "venue": venue}.get(key)
            self.add_column(label, key=key, width=fixed)
        self._shown = {}
        for event, values in zip(shown, cells, strict=True):
            self.add_row(*values, key=str(event.id))
            self._shown[event.id] = event
        if keep in self._shown:
            self.move_cursor(row=self.get_row_index(str(keep)))

    def apply(self, changes: Iterable[Change], everything: Iterable[Event]) -> None:
        """Live changes: update the cells that changed in place; a row that must appear
        (a new event, say) redraws the table from ``everything``, which is rare."""
        for change in changes:
            after = change.after
            event_id = (after or change.before).id  # type: ignore[union-attr]
            shown = event_id in self._shown
            if after is None or not self.matches(after):
                if shown:
                    self.remove_row(str(event_id))
                    del self._shown[event_id]
            elif not shown:
                self.show(everything)
                return
            else:
                previous, self._shown[event_id] = self._shown[event_id], after
                for (column, _), old, new in zip(COLUMNS, row(previous), row(after), strict=True):
                    if old != new:
                        self.update_cell(str(event_id), column, new, update_width=True)

    @property
    def selected_id(self) -> int | None:
        if not self.row_count:
            return None
        row_key, _ = self.coordinate_to_cell_key(self.cursor_coordinate)
        return int(row_key.value) if row_key.value else None

    @property
    def selected(self) -> Event | None:
        event_id = self.selected_id
        return self._shown.get(event_id) if event_id is not None else None
