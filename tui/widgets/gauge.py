"""One event's seats at a glance: a bar of seats sold against the event's capacity, and for
a seated event a bar per price zone: sold, held and free."""

from __future__ import annotations

from rich.text import Text
from textual import events
from textual.message import Message
from textual.reactive import reactive
from textual.widget import Widget

from common.models import Event, ZoneSales

from ..model import seats_sold

FULL, HELD, EMPTY = "█", "▒", "░"


class SeatGauge(Widget):
    """``Title  ████████░░░░  123 / 500  25%   12 in``: seats sold, and tickets admitted at
    the door; redraws only when its own event changes."""

    can_focus = True  # Enter (or a click) opens the event's own dashboard

    event: reactive[Event | None] = reactive(None, layout=False)
    zones: reactive[list[ZoneSales]] = reactive(list, layout=True)
    """A seated event's zones (none: general admission, or not read yet), a line each."""

    class Chosen(Message):
        """The admin picked this gauge's event (Enter or a click): open its dashboard."""

        def __init__(self, event: Event) -> None:
            super().__init__()
            self.event = event

    def __init__(self, event: Event, **kwargs: str) -> None:
        super().__init__(**kwargs)
        self.set_reactive(SeatGauge.event, event)  # set_reactive calls no watcher:
        self.watch_event(event)  # a gauge mounted sold out is marked from the start

    def watch_event(self, event: Event | None) -> None:
        if event is not None:
            self.set_class(event.available_seats == 0, "-sold-out")

    def _choose(self) -> None:
        if self.event is not None:
            self.post_message(self.Chosen(self.event))

    def on_click(self, _: events.Click) -> None:
        self._choose()

    def key_enter(self) -> None:
        self._choose()

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
        title = _cut(event.title, title_width)
        style = "red" if event.available_seats == 0 else "yellow" if share >= 0.9 else "green"
        line = Text.assemble(
            (title.ljust(title_width), "bold"),
            "  ",
            (FULL * filled, style),
            (EMPTY * (bar_width - filled), "dim"),
            figures,
            (admitted, "bold cyan" if event.checked_in else "dim"),
        )
        for zone in self.zones:
            line.append("\n")
            line.append_text(_zone_line(zone, title_width, width))
        return line


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _zone_line(zone: ZoneSales, title_width: int, width: int) -> Text:
    """``  A Front   ████▒▒░░░░  12 sold  3 held  85 free``, under its event's line."""
    figures = f" {zone.sold:>5,} sold {zone.held:>4,} held {zone.free:>5,} free"
    bar_width = max(4, width - title_width - len(figures) - 2)
    seats = zone.seats or 1
    sold = round(bar_width * zone.sold / seats)
    held = min(bar_width - sold, round(bar_width * zone.held / seats))
    name = _cut(f"  {zone.zone} {zone.name or ''}".rstrip(), title_width)
    return Text.assemble(
        (name.ljust(title_width), "dim"),
        "  ",
        (FULL * sold, "red" if zone.free == 0 else "green"),
        (HELD * held, "yellow"),
        (EMPTY * (bar_width - sold - held), "dim"),
        (figures, "dim"),
    )
