"""One event, live, for admins: its seats free, held and sold, and the held and sold
tickets and takings per price zone and ticket type, as seats sell anywhere.

The screen follows the event on a live feed of its own (``client.live([event_id])``): a
seated event's seat map and its changes, or a general-admission event's counts. The seat
counts change with each message; the figures per zone and type are read again from the
server (``GET /events/{id}/sales``, one query) at most every quarter second while changes
come, so a storm of sales costs a few small reads, not one per sale.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable

from textual import work
from textual.binding import Binding
from textual.containers import Container, Vertical
from textual.widget import Widget
from textual.widgets import DataTable, Static

from common.client import ClientError, Connection
from common.models import Event, EventSales, LiveEvent, LiveSeatChanges, LiveSeatMap, SeatCounts
from common.seatmap import SeatMap, SeatMapGap

from ..formatting import money, when
from ..widgets.seat_map import SeatMapView
from .base import StaffScreen

# How often, at most, the figures per zone and type are read again while sales come in.
REFRESH_SECONDS = 0.25


class EventDashboardScreen(StaffScreen):
    BINDINGS = [
        Binding("escape", "close", "Back", id="event-dashboard-back"),
        Binding("r", "reload", "Reload", id="event-dashboard-reload"),
    ]

    def __init__(self, event: Event) -> None:
        super().__init__()
        self.event = event
        self.seat_map: SeatMap | None = None
        """The seated event's seats as they are now (None: general admission, or not yet
        heard)."""
        self.map_view: SeatMapView | None = None  # the plan, drawn live (seated events)
        self.sales: EventSales | None = None
        self._counts: SeatCounts | None = None  # a seated event's, as the feed last said
        self._stale = True  # the figures per zone and type need reading again
        self._reading = False

    def compose_body(self) -> Iterable[Widget]:
        with Vertical(id="event-dashboard"):
            yield Static("", id="event-dashboard-title")
            yield Static("", id="event-dashboard-counts")
            with Vertical(id="event-dashboard-tables"):
                yield DataTable(id="zone-sales", cursor_type="none", zebra_stripes=True)
                yield DataTable(id="type-sales", cursor_type="none", zebra_stripes=True)
            # The plan, drawn live, once it is read (seated events).
            yield Container(id="seat-map-slot")

    def on_mount(self) -> None:
        super().on_mount()
        self.sub_title = "Event dashboard"
        zones = self.query_one("#zone-sales", DataTable)
        zones.add_columns("Zone", "Seats", "Free", "Held", "Sold", "Takings")
        zones.border_title = "Per zone"
        types = self.query_one("#type-sales", DataTable)
        types.add_columns("Ticket type", "Held", "Sold", "Takings")
        types.border_title = "Per ticket type"
        slot = self.query_one("#seat-map-slot")
        slot.display = self.event.venue_id is not None
        if self.event.venue_id is not None:
            self.show_map(self.event.venue_id)
        self._show_title()
        self._show_counts(None)
        self.follow()
        self.set_interval(REFRESH_SECONDS, self._refresh_if_stale)
        self._refresh_if_stale()

    def _show_title(self) -> None:
        event = self.event
        kind = "seated" if event.venue_id is not None else "general admission"
        self.query_one("#event-dashboard-title", Static).update(
            f"[b]{event.title}[/b]  {when(event)}  {event.venue or ''} ({kind})"
        )

    def _show_counts(self, counts: SeatCounts | None) -> None:
        event = self.event
        if counts is None:  # general admission: the event's own counts
            held = self.sales.held if self.sales else 0
            taken = event.total_seats - event.available_seats
            counts = SeatCounts(free=event.available_seats, held=held, sold=taken - held)
        takings = money(self.sales.takings) if self.sales else "…"
        seats = counts.free + counts.held + counts.sold
        self.query_one("#event-dashboard-counts", Static).update(
            f"[b]{seats:,}[/b] seats  [green]{counts.free:,} free[/]  "
            f"[yellow]{counts.held:,} held[/]  [red]{counts.sold:,} sold[/]  "
            f"Takings [b]{takings}[/b]"
        )

    # --- the live feed -----------------------------------------------------------------

    @work(exclusive=True, group="event-live")
    async def follow(self) -> None:
        client = self.boxoffice.client
        async for item in client.live([self.event.id]):
            if isinstance(item, Connection):
                continue  # the status line says so; the server resends snapshots after
            if isinstance(item, LiveEvent):
                if item.event_id != self.event.id:
                    continue
                if item.event is None:
                    self.notify(f"“{self.event.title}” was deleted.", severity="warning")
                    self.action_close()
                    return
                self.event = item.event
                self._show_title()
            elif isinstance(item, LiveSeatMap):
                self.seat_map, self._counts = SeatMap(item), item.counts
                await self._draw(item)
            elif isinstance(item, LiveSeatChanges) and self.seat_map is not None:
                try:
                    if self.seat_map.apply(item):
                        self._counts = item.counts
                except SeatMapGap:  # changes were missed: read the whole map again
                    with contextlib.suppress(ClientError):
                        self.seat_map = SeatMap(await client.event_seats(self.event.id))
                        self._counts = self.seat_map.counts()
                await self._draw(item)
            self._stale = True
            self._show_counts(self._counts)

    @work(group="event-map")
    async def show_map(self, venue_id: int) -> None:
        """Mount the seat map, read-only, at the seats' states of now; the live feed then
        keeps it (``follow``)."""
        client = self.boxoffice.client
        try:
            plan = await client.venue_seats(venue_id)
            states = await client.event_seats(self.event.id)
        except ClientError as exc:
            self.notify(f"The seat map could not be read: {exc}", severity="warning")
            return
        self.map_view = SeatMapView(plan, SeatMap(states), selectable=False, id="event-seat-map")
        await self.query_one("#seat-map-slot").mount(self.map_view)

    async def _draw(self, item: LiveSeatMap | LiveSeatChanges) -> None:
        if self.map_view is None:
            return
        try:
            self.map_view.apply(item)
        except SeatMapGap:  # changes were missed: the whole map again
            with contextlib.suppress(ClientError):
                self.map_view.apply(await self.boxoffice.client.event_seats(self.event.id))

    def _refresh_if_stale(self) -> None:
        if self._stale and not self._reading:
            self._stale = False
            self._reading = True
            self.read_sales()

    @work(group="event-sales")
    async def read_sales(self) -> None:
        try:
            self.sales = await self.boxoffice.client.event_sales(self.event.id)
        except ClientError as exc:
            self.query_one("#event-dashboard-counts", Static).update(
                f"[red]The figures could not be read: {exc.message}[/]"
            )
        else:
            self._show_sales(self.sales)
        finally:
            self._reading = False

    def _show_sales(self, sales: EventSales) -> None:
        zones = self.query_one("#zone-sales", DataTable)
        zones.display = bool(sales.zones)
        zones.clear()
        for zone in sales.zones:
            name = f"{zone.zone} {zone.name}" if zone.name else zone.zone
            figures = (zone.seats, zone.free, zone.held, zone.sold)
            zones.add_row(name, *(f"{n:,}" for n in figures), money(zone.takings), key=zone.zone)
        types = self.query_one("#type-sales", DataTable)
        types.clear()
        for kind in sales.types:
            types.add_row(
                kind.name,
                f"{kind.held:,}",
                f"{kind.sold:,}",
                money(kind.takings),
                key=str(kind.ticket_type_id),
            )
        if not sales.types:
            types.add_row("Nothing sold yet", "", "", "")
        self._show_counts(self._counts)

    def action_reload(self) -> None:
        self._stale = True
        self._refresh_if_stale()

    def action_close(self) -> None:
        self.workers.cancel_group(self, "event-live")
        self.dismiss()
