"""The admin's live view of every event: seat gauges (per price zone too, for seated
events), totals, seats sold per minute (from the server's count of the last minutes when
the screen opens), and tickets admitted at the door. Enter on a gauge opens that event's
own dashboard.

Changes arrive in batches (the app merges each tenth of a second), and only the gauges of
events that changed redraw, so the screen stays smooth while hundreds of seats sell.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal

from textual import on, work
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widget import Widget
from textual.widgets import Label, Sparkline, Static

from common.client import ClientError
from common.models import Event, ZoneSales

from ..model import Change, seats_sold
from ..widgets.gauge import SeatGauge
from .base import StaffScreen
from .event_dashboard import EventDashboardScreen

# Zone gauges of more events than this changed at once are read in one request for all.
ZONES_ONE_BY_ONE = 4


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
    _zones_stale: set[int]  # seated events whose zone gauges need reading again

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
        self._zones_stale = set()
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
        self.set_interval(0.5, self._read_stale_zones)
        self.read_history()
        self.read_zones(None)
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
                if change.after.venue_id is not None or found.zones:
                    self._zones_stale.add(event.id)
            else:  # a new event: in date order, like the others
                later = [
                    gauge
                    for gauge in self._gauges.values()
                    if gauge.event and (gauge.event.date, gauge.event.id) > (event.date, event.id)
                ]
                self._gauges[event.id] = SeatGauge(change.after, id=f"gauge-{event.id}")
                gauges.mount(self._gauges[event.id], before=min(later, key=_date, default=None))
                if change.after.venue_id is not None:
                    self._zones_stale.add(event.id)
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

    # --- what the server knows: the last minutes' sales, seats per zone -----------------

    @work(group="sales-history")
    async def read_history(self) -> None:
        """Seed the meter with the server's count of the last minutes, so it shows the
        sales made before this login too."""
        meter = self.boxoffice.store.sales
        try:
            recent = await self.boxoffice.client.recent_sales(
                minutes=max(1, round(meter.size * meter.bucket_seconds / 60)),
                bucket_seconds=max(1, round(meter.bucket_seconds)),
            )
        except ClientError:
            return  # the meter counts from now on, as before
        meter.seed(recent.first_bucket, recent.tickets)
        self._show_sales()

    def _read_stale_zones(self) -> None:
        if not self._zones_stale:
            return
        stale, self._zones_stale = self._zones_stale, set()
        if len(stale) > ZONES_ONE_BY_ONE:
            self.read_zones(None)
        else:
            for event_id in stale:
                self.read_zones(event_id)

    @work(group="zones")
    async def read_zones(self, event_id: int | None) -> None:
        """The zone gauges of one seated event, or of all of them."""
        try:
            zones = await self.boxoffice.client.zone_seats(event_id)
        except ClientError:
            return  # the next change reads them again
        by_event: dict[int, list[ZoneSales]] = defaultdict(list)
        for zone in zones:
            by_event[zone.event_id].append(zone)
        if event_id is not None:
            by_event.setdefault(event_id, [])
        for gauge_event_id, gauge in self._gauges.items():
            if event_id is None or gauge_event_id == event_id:
                gauge.zones = by_event.get(gauge_event_id, [])

    @on(SeatGauge.Chosen)
    def _open_event(self, message: SeatGauge.Chosen) -> None:
        self.app.push_screen(EventDashboardScreen(message.event))
