"""The admin's live view of every event: seat gauges, totals, seats sold per minute, and
tickets admitted at the door.

Changes arrive in batches (the app merges each tenth of a second), and only the gauges of
events that changed redraw, so the screen stays smooth while hundreds of seats sell.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal

from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widget import Widget
from textual.widgets import Label, Sparkline, Static

from common.models import Event

from ..model import Change, seats_sold
from ..widgets.gauge import SeatGauge
from .base import StaffScreen


def describe(change: Change) -> str:
    """What happened, in the words a box-office manager would use."""
    before, after = change.before, change.after
    at = change.at.astimezone().strftime("%H:%M:%S")
    if after is None:
        return f"{at}  {before.title if before else 'an event'} was deleted"
    if before is None:
        return f"{at}  {after.title} was added ({after.total_seats} seats)"
    sold = seats_sold(after) - seats_sold(before)
    admitted = after.checked_in - before.checked_in
    if before.total_seats != after.total_seats:
        what = f"capacity {before.total_seats} → {after.total_seats}"
    elif admitted > 0 and not sold:
        what = f"{admitted} ticket{'s' * (admitted != 1)} admitted ({after.checked_in} in)"
        return f"{at}  {after.title}: {what}"
    elif sold > 0:
        what = f"{sold} seat{'s' * (sold != 1)} sold"
    elif sold < 0:
        what = f"{-sold} seat{'s' * (sold != -1)} returned"
    else:
        what = "details edited"
    return f"{at}  {after.title}: {what} ({after.available_seats} left)"


def totals(events: Iterable[Event]) -> tuple[int, int, int, Decimal, int]:
    """How many events, seats sold, seats in all, takings at list price, and tickets
    admitted at the door."""
    count = sold = capacity = admitted = 0
    takings = Decimal(0)
    for event in events:
        count += 1
        sold += seats_sold(event)
        capacity += event.total_seats
        takings += seats_sold(event) * event.price
        admitted += event.checked_in
    return count, sold, capacity, takings, admitted


def _date(gauge: SeatGauge) -> tuple[datetime, int]:
    assert gauge.event is not None
    return gauge.event.date, gauge.event.id


class DashboardScreen(StaffScreen):
    # A dict, not a DOM query: hundreds of changes a second each find their gauge.
    _gauges: dict[int, SeatGauge]

    def compose_body(self) -> Iterable[Widget]:
        with Horizontal(id="dashboard-top"):
            yield Static("", id="totals")
            with Vertical(id="sales-box"):
                yield Label("", id="sales-label")
                yield Sparkline([], id="sales", summary_function=max)
        yield Static("", id="last-change")
        yield VerticalScroll(id="gauges")

    def on_mount(self) -> None:
        super().on_mount()
        self._gauges = {}
        meter = self.boxoffice.store.sales
        self.query_one("#totals").border_title = "Totals"
        minutes = meter.size * meter.bucket_seconds / 60
        self.query_one("#sales-box").border_title = f"Sales, last {minutes:g} min"
        self.sub_title = "Dashboard"
        gauges = self.query_one("#gauges")
        for event in sorted(self.boxoffice.store.events.values(), key=lambda e: (e.date, e.id)):
            self._gauges[event.id] = SeatGauge(event, id=f"gauge-{event.id}")
            gauges.mount(self._gauges[event.id])
        self.follow_events(self.on_events_changed)
        self.set_interval(1.0, self._show_sales)
        self._show_totals()
        self._show_sales()
        self.query_one("#last-change", Static).update("Waiting for the next sale…")

    def on_events_changed(self, changes: list[Change]) -> None:
        gauges = self.query_one("#gauges")
        for change in changes:
            event = change.after or change.before
            assert event is not None
            found = self._gauges.get(event.id)
            if change.after is None:
                if found is not None:
                    del self._gauges[event.id]
                    found.remove()
            elif found is not None:
                found.event = change.after
            else:  # a new event: in date order, like the others
                later = [
                    gauge
                    for gauge in self._gauges.values()
                    if gauge.event and (gauge.event.date, gauge.event.id) > (event.date, event.id)
                ]
                self._gauges[event.id] = SeatGauge(change.after, id=f"gauge-{event.id}")
                gauges.mount(self._gauges[event.id], before=min(later, key=_date, default=None))
        latest = max(changes, key=lambda c: c.at)
        self.query_one("#last-change", Static).update(f"Last change  {describe(latest)}")
        self._show_totals()
        self._show_sales()

    def _show_totals(self) -> None:
        count, sold, capacity, takings, admitted = totals(self.boxoffice.store.events.values())
        share = sold / capacity if capacity else 0.0
        self.query_one("#totals", Static).update(
            f"[b]{count}[/b] events\n"
            f"[b]{sold:,}[/b] of {capacity:,} seats sold ({share:.0%})\n"
            f"[b]{capacity - sold:,}[/b] seats left\n"
            f"[b]{admitted:,}[/b] ticket{'s' * (admitted != 1)} admitted\n"
            f"Takings [b]{takings:,.2f}[/b]"
        )

    def _show_sales(self) -> None:
        meter = self.boxoffice.store.sales
        self.query_one("#sales", Sparkline).data = meter.series()
        self.query_one("#sales-label", Label).update(
            f"[b]{meter.last_minute():,}[/b] seats sold in the last minute"
        )
