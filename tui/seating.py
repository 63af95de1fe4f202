"""A venue's plan as the terminal holds it: seats with their labels, rows and zones, and
best-available computed from the seat states the terminal already has.

Best-available here follows the server's rules (``boxoffice_best_window`` and
``boxoffice_best_seats`` in migration 0010): zones in rank order, rows front to back, in
the first row that has one the block of seats side by side nearest the row's middle,
avoiding a block that leaves a single seat alone beside it. It runs on the live map, so
the clerk sees the seats before selling them, and the order names them (picked seats):
if another sale takes one meanwhile the server refuses it and says which.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import Decimal

from common.models import SeatState, TicketType, VenueSeats, Zone

# A block that leaves a seat alone costs more than any block nearer the middle.
ORPHAN = 1_000_000


@dataclass(frozen=True, slots=True)
class Seat:
    id: int
    section: str
    row: str
    number: str
    x: int
    y: int
    zone: str
    wheelchair: bool = False
    companion: bool = False
    restricted: bool = False

    @property
    def label(self) -> str:
        """As the customer reads it: ``Stalls F11``."""
        return f"{self.section} {self.row}{self.number}"


@dataclass(frozen=True, slots=True)
class Row:
    """Seats of one row in one zone, left to right, as best-available sees them."""

    zone: str
    seats: tuple[Seat, ...]
    centre: dict[int, int]  # seat id -> distance from the row's middle (|2x - ends|)


class Plan:
    """A venue's seats (``VenueSeats``), indexed for drawing and for best-available."""

    def __init__(self, venue: VenueSeats) -> None:
        self.venue_id = venue.venue_id
        self.version = venue.version
        wheelchair, companion = set(venue.wheelchair), set(venue.companion)
        restricted = set(venue.restricted_view)
        self.seats: list[Seat] = [
            Seat(i, sec, row, num, x, y, zone, i in wheelchair, i in companion, i in restricted)
            for i, sec, row, num, x, y, zone in zip(
                venue.id, venue.section, venue.row, venue.number, venue.x, venue.y, venue.zone,
                strict=True,
            )
        ]  # fmt: skip
        self.by_id: dict[int, Seat] = {seat.id: seat for seat in self.seats}
        # Zones in the order best-available prefers them (rank, then code, as the server).
        self.zones: list[Zone] = sorted(venue.zones, key=lambda z: (z.rank, z.code))
        self.zone_names = {zone.code: zone.name for zone in self.zones}
        groups: dict[tuple[str, str, int, str], list[Seat]] = {}
        for seat in self.seats:
            groups.setdefault((seat.section, seat.row, seat.y, seat.zone), []).append(seat)
        rank = {zone.code: (zone.rank, zone.code) for zone in self.zones}
        rows = []
        for (section, label, y, zone), seats in groups.items():
            seats.sort(key=lambda s: s.x)
            ends = seats[0].x + seats[-1].x
            centre = {s.id: abs(2 * s.x - ends) for s in seats}
            key = (rank.get(zone, (0, zone)), y, section, label)
            rows.append((key, Row(zone, tuple(seats), centre)))
        rows.sort(key=lambda r: r[0])
        self.rows: list[Row] = [row for _, row in rows]

    def best(
        self,
        state: Callable[[int], SeatState],
        count: int,
        *,
        zone: str | None = None,
        exclude: Iterable[int] = (),
    ) -> list[int] | None:
        """The best ``count`` free seats side by side in one row (of ``zone``, if given),
        left to right; None when no row has them. Seats in ``exclude`` count as taken."""
        skip = set(exclude)
        for code in (z.code for z in self.zones if zone is None or z.code == zone):
            for row in self.rows:
                if row.zone != code:
                    continue
                free = [s for s in row.seats if s.id not in skip and state(s.id) == "free"]
                if len(free) >= count and (block := _best_window(free, row.centre, count)):
                    return block
        return None

    def largest_block(self, state: Callable[[int], SeatState], *, zone: str | None = None) -> int:
        """The most free seats side by side in any row (of ``zone``)."""
        largest = 0
        for row in self.rows:
            if zone is not None and row.zone != zone:
                continue
            run, last = 0, None
            for seat in row.seats:
                if state(seat.id) != "free":
                    run, last = 0, None
                    continue
                run = run + 1 if last is not None and seat.x == last + 1 else 1
                last = seat.x
                largest = max(largest, run)
        return largest


def _best_window(free: list[Seat], centre: dict[int, int], count: int) -> list[int] | None:
    """``boxoffice_best_window``: of the windows of ``count`` free seats following on, the
    one nearest the middle, a window leaving a single seat alone beside it last."""
    n = len(free)
    run_end = [0] * n
    for i in range(n - 1, -1, -1):
        follows = i < n - 1 and free[i + 1].x == free[i].x + 1
        run_end[i] = run_end[i + 1] if follows else i
    best_cost: int | None = None
    best_at = 0
    run_start = 0
    for i in range(n):
        if i > 0 and free[i].x != free[i - 1].x + 1:
            run_start = i
        w = i - count + 1
        if w < run_start:
            continue
        cost = sum(centre[free[j].id] for j in range(w, i + 1))
        if w - run_start == 1 or run_end[i] - i == 1:
            cost += ORPHAN
        if best_cost is None or cost < best_cost:
            best_cost, best_at = cost, w
    if best_cost is None:
        return None
    return [seat.id for seat in free[best_at : best_at + count]]


def price(kind: TicketType, zone: str | None, event_price: Decimal) -> Decimal:
    """A ticket's price, as the server sets it: the type's price for the seat's zone, the
    type's price, the event's price."""
    if zone is not None and zone in kind.zone_prices:
        return kind.zone_prices[zone]
    return kind.price if kind.price is not None else event_price
