"""One event's seats at a glance: a bar of seats sold against the event's capacity."""

from __future__ import annotations

from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget

from common.models import Event

from ..model import seats_sold

FULL, EMPTY = "█", "░"


class SeatGauge(Widget):
    """``Title  ████████░░░░  123 / 500  25%   12 in``: seats sold, and tickets admitted at
    the door; redraws only when its own event changes."""

    event: reactive[Event | None] = reactive(None, layout=False)

    def __init__(self, event: Event, **kwargs: str) -> None:
        super().__init__(**kwargs)
        self.set_reactive(SeatGauge.event, event)  # set_reactive calls no watcher:
        self.watch_event(event)  # a gauge mounted sold out is marked from the start

    def watch_event(self, event: Event | None) -> None:
        if event is not None:
            self.set_class(event.available_seats == 0, "-sold-out")

    def render(self) -> Text:
        event = self.event
        if event is None:
            return Text()
        width = self.size.width
        sold = seats_sold(event)
        share = sold / event.total_seats if event.total_seats else 0.0
        figures = f" {sold:>6,} / {event.total_seats:<6,} {share:>4.0%}"
        admitted = f" {event.checked_in:>5,} in"
        title_width = max(8, min(32, width // 3))
        bar_width = max(4, width - title_width - len(figures) - len(admitted) - 2)
        filled = round(bar_width * share)
        title = (
            event.title if len(event.title) <= title_width else event.title[: title_width - 1] + "…"
        )
        style = "red" if event.available_seats == 0 else "yellow" if share >= 0.9 else "green"
        return Text.assemble(
            (title.ljust(title_width), "bold"),
            "  ",
            (FULL * filled, style),
            (EMPTY * (bar_width - filled), "dim"),
            figures,
            (admitted, "bold cyan" if event.checked_in else "dim"),
        )
