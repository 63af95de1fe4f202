"""Venues and their seating plans, for admins: every venue with its seats, and the selected
one's plan (zones, and per section its rows and seats); ``i`` imports a plan from a JSON
file in the compact form (docs/venues.md), as ``boxoffice venue import`` reads it. The
server checks the plan: a refused one is listed fault by fault, each with where it is."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

from pydantic import ValidationError
from rich.markup import escape
from textual import on, work
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widget import Widget
from textual.widgets import DataTable, Input, Label, Static

from common.client import ApiError, ClientError
from common.models import FieldError, Venue, VenuePlan, VenueSeats

from .base import StaffScreen

# A refused plan lists at most this many faults (the server sends up to 50).
FAULTS_SHOWN = 12


def plan_summary(seats: VenueSeats) -> str:
    """Zones with their seats, then each section's rows and seats, in plan order."""
    per_zone = Counter(seats.zone)
    lines = ["[b]Zones[/b]"]
    for zone in sorted(seats.zones, key=lambda z: (z.rank, z.code)):
        name, seats_in = escape(zone.name), per_zone[zone.code]
        lines.append(f"  {zone.code}  {name:<16} rank {zone.rank}  {seats_in:>6,} seats")
    sections: dict[str, tuple[set[str], int, set[str]]] = {}
    for section, row, zone in zip(seats.section, seats.row, seats.zone, strict=True):
        rows, count, zones = sections.setdefault(section, (set(), 0, set()))
        rows.add(row)
        zones.add(zone)
        sections[section] = (rows, count + 1, zones)
    lines.append("[b]Sections[/b]")
    for section, (rows, count, zones) in sections.items():
        lines.append(
            f"  {escape(section):<16} {len(rows):>3} row{'s' * (len(rows) != 1)}"
            f" {count:>6,} seats  {', '.join(sorted(zones))}"
        )
    flags = (
        ("wheelchair spaces", seats.wheelchair),
        ("companion seats", seats.companion),
        ("restricted view", seats.restricted_view),
    )
    marked = [f"{len(ids)} {name}" for name, ids in flags if ids]
    if marked:
        lines.append("  " + ", ".join(marked))
    return "\n".join(lines)


def faults(errors: Iterable[FieldError]) -> str:
    """A refused plan's faults, one a line: where, then what."""
    listed = list(errors)
    lines = [escape(f"  {e.field}: {e.message}") for e in listed[:FAULTS_SHOWN]]
    if len(listed) > FAULTS_SHOWN:
        lines.append(f"  … and {len(listed) - FAULTS_SHOWN} more")
    return "\n".join(lines)


def read_plan(path: Path) -> VenuePlan:
    """The plan in ``path`` (OSError, ValidationError); runs in a thread, off the loop."""
    return VenuePlan.model_validate_json(path.read_bytes())


class VenuesScreen(StaffScreen):
    BINDINGS = [
        Binding("i", "import_plan", "Import plan", id="venues-import"),
        Binding("r", "reload", "Reload", id="venues-reload"),
        Binding("escape", "cancel_import", "Cancel", show=False, id="venues-cancel"),
    ]

    def compose_body(self) -> Iterable[Widget]:
        with Horizontal(id="venues-body"):
            yield DataTable(id="venues-table", cursor_type="row", zebra_stripes=True)
            with VerticalScroll(id="venue-plan"):
                yield Static("", id="venue-plan-text")
        with Vertical(id="venue-import"):
            with Horizontal(classes="field compact"):
                yield Label("Plan file")
                yield Input(placeholder="path to a plan (.json)", id="venue-file", compact=True)
            yield Static("", id="venue-import-message")

    def on_mount(self) -> None:
        super().on_mount()
        self.sub_title = "Venues"
        table = self.query_one("#venues-table", DataTable)
        table.add_columns("Venue", "Seats", "Address")
        self.query_one("#venue-plan").border_title = "Plan"
        self.query_one("#venue-import").display = False
        self._seats: dict[int, VenueSeats] = {}
        self.load()

    @work(exclusive=True, group="venues")
    async def load(self, select: int | None = None) -> None:
        table = self.query_one("#venues-table", DataTable)
        try:
            venues = await self.boxoffice.client.venues()
        except ClientError as exc:
            self.query_one("#venue-plan-text", Static).update(f"[red]{exc.message}[/]")
            return
        table.clear()
        for venue in venues:
            seats = f"{venue.seat_count:,}"
            table.add_row(venue.name, seats, venue.address or "", key=str(venue.id))
        if not venues:
            self.query_one("#venue-plan-text", Static).update(
                "No venues yet. Press [b]i[/b] to import a plan."
            )
        elif select is not None:
            table.move_cursor(row=table.get_row_index(str(select)))
        table.focus()

    @on(DataTable.RowHighlighted, "#venues-table")
    def _highlighted(self, message: DataTable.RowHighlighted) -> None:
        if message.row_key.value is not None:
            self.show_plan(int(message.row_key.value))

    @work(exclusive=True, group="venue-plan")
    async def show_plan(self, venue_id: int) -> None:
        text = self.query_one("#venue-plan-text", Static)
        seats = self._seats.get(venue_id)
        if seats is None:
            try:
                seats = await self.boxoffice.client.venue_seats(venue_id)
            except ClientError as exc:
                text.update(f"[red]{exc.message}[/]")
                return
            self._seats[venue_id] = seats
        text.update(plan_summary(seats))

    def action_reload(self) -> None:
        self._seats.clear()
        self.load()

    # --- importing a plan --------------------------------------------------------------

    def action_import_plan(self) -> None:
        self.query_one("#venue-import").display = True
        self.query_one("#venue-file", Input).focus()

    def action_cancel_import(self) -> None:
        self.query_one("#venue-import").display = False
        self.query_one("#venue-import-message", Static).update("")
        self.query_one("#venues-table").focus()

    @on(Input.Submitted, "#venue-file")
    def _submitted(self, message: Input.Submitted) -> None:
        if message.value.strip():
            self.import_plan(Path(message.value.strip()).expanduser())

    @work(exclusive=True, group="venue-import")
    async def import_plan(self, path: Path) -> None:
        shown = self.query_one("#venue-import-message", Static)
        shown.update(f"Importing {path.name}…")
        try:
            plan = await asyncio.to_thread(read_plan, path)
        except OSError as exc:
            shown.update(f"[red]Cannot read {path}: {exc.strerror or exc}[/]")
            return
        except ValidationError as exc:
            errors = [
                FieldError(field=".".join(map(str, e["loc"])) or "plan", message=e["msg"])
                for e in exc.errors()
            ]
            shown.update(f"[red]{path.name} is not a plan:[/]\n{faults(errors)}")
            return
        try:
            venue: Venue = await self.boxoffice.client.create_venue(plan)
        except ApiError as exc:
            if exc.errors:  # the message repeats the first fault: list them all instead
                shown.update(f"[red]The server refused the plan:[/]\n{faults(exc.errors)}")
            else:
                shown.update(f"[red]The server refused the plan: {exc.message}[/]")
            return
        except ClientError as exc:
            shown.update(f"[red]Not imported: {exc.message}[/]")
            return
        shown.update("")
        self.query_one("#venue-import").display = False
        self.query_one("#venue-file", Input).value = ""
        self.notify(f"Venue “{venue.name}” imported: {venue.seat_count:,} seats.")
        self.load(select=venue.id)
