"""Venues and their seating plans: the compact plan form expanded to seats and back, and
the ``Venues`` service (create, read, replace, delete; each change audited in its
transaction). The format is documented in docs/venues.md.

A seat's id is stable: replacing a plan keeps the id of every seat whose (section, row,
number) stays (a retired seat whose label comes back is the same seat, brought back), and
retires the seats that are gone, so tickets can always reference them.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from importlib import resources
from typing import Any

from common.models import MAX_PLAN_SEATS, PlanRow, PlanSection, VenuePlan, Zone

from . import queries as q
from .audit import Signs
from .db import Database, Row, Statements, answer
from .envelope import Conflict, Invalid, NotFound

# Each problem names its place; a plan with many stops after this many (the rest are
# usually the same mistake again).
MAX_ERRORS = 50

# The grid's last line either way: a section's origin plus its rows' offsets stay within
# it, so every exported row's offsets are valid input again.
MAX_GRID = 100_000

_LABEL = re.compile(r"[A-Za-z0-9]{1,8}")
_RANGE = re.compile(r"(\d{1,6})-(\d{1,6})(?:/(\d{1,3}))?")
GAP = "_"


@dataclass(frozen=True, slots=True)
class Seat:
    section: str
    row: str
    number: str
    x: int
    y: int
    zone: str
    wheelchair: bool = False
    companion: bool = False
    restricted_view: bool = False

    @property
    def label(self) -> tuple[str, str, str]:
        return (self.section, self.row, self.number)


class PlanErrors:
    """The problems of one plan, each with its place (``sections.0.rows.3.seats``)."""

    def __init__(self) -> None:
        self.errors: list[tuple[str, str]] = []

    def add(self, field: str, message: str) -> None:
        if len(self.errors) < MAX_ERRORS:
            self.errors.append((field, message))

    def raise_any(self) -> None:
        if self.errors:
            first_field, first_message = self.errors[0]
            raise Invalid(self.errors, message=f"{first_field}: {first_message}")


def parse_seat_list(text: str, *, gaps: bool) -> list[str | None]:
    """Labels left to right, None for a gap; ValueError saying what is wrong.

    Items are separated by commas: a label ("7", "A1"), a range of numbers ("1-14",
    "14-1", "1-13/2" for every other number) or, with ``gaps``, "_" for one empty position.
    """
    out: list[str | None] = []
    for item in (part.strip() for part in text.split(",")):
        if item == GAP and gaps:
            out.append(None)
        elif m := _RANGE.fullmatch(item):
            first, last, step = int(m[1]), int(m[2]), int(m[3] or 1)
            if step < 1:
                raise ValueError(f"{item!r}: the step must be at least 1")
            if (last - first) % step:
                raise ValueError(f"{item!r}: {last} is not reached in steps of {step}")
            direction = step if last >= first else -step
            out.extend(str(n) for n in range(first, last + direction, direction))
            if len(out) > MAX_PLAN_SEATS:
                raise ValueError(f"more than {MAX_PLAN_SEATS} seats")
        elif _LABEL.fullmatch(item):
            out.append(item)
        else:
            expected = 'a label, a range like "1-14" or "1-13/2", or "_"'
            raise ValueError(f"{item!r} is not {expected if gaps else expected[:-9]}")
    return out


def expand(plan: VenuePlan) -> list[Seat]:
    """Every seat of ``plan``, in plan order; a 422 naming each problem's place."""
    errors = PlanErrors()
    zones = {z.code for z in plan.zones}
    for code, count in Counter(z.code for z in plan.zones).items():
        if count > 1:
            errors.add("zones", f"zone {code!r} is defined {count} times")
    seats: list[Seat] = []
    labels: dict[tuple[str, str, str], str] = {}
    positions: dict[tuple[int, int], tuple[str, Seat]] = {}
    for s, section in enumerate(plan.sections):
        for r, row in enumerate(section.rows):
            where = f"sections.{s}.rows.{r}"
            for seat in _row_seats(section, row, where, zones, errors):
                if len(seats) >= MAX_PLAN_SEATS:
                    errors.add(where, f"the plan has more than {MAX_PLAN_SEATS} seats")
                    errors.raise_any()
                name = f"{seat.section} {seat.row} {seat.number}"
                if max(seat.x, seat.y) > MAX_GRID:
                    errors.add(
                        f"{where}.seats",
                        f"{name} is at x={seat.x}, y={seat.y}: past the grid's {MAX_GRID}",
                    )
                    errors.raise_any()
                if seat.label in labels:
                    errors.add(f"{where}.seats", f"{name} is already at {labels[seat.label]}")
                    continue
                taken = positions.get((seat.x, seat.y))
                if taken is not None:
                    other = taken[1]
                    errors.add(
                        f"{where}.seats",
                        f"{name} overlaps {other.section} {other.row} {other.number} "
                        f"at x={seat.x}, y={seat.y} ({taken[0]})",
                    )
                    continue
                labels[seat.label] = where
                positions[(seat.x, seat.y)] = (where, seat)
                seats.append(seat)
    if not seats and not errors.errors:
        errors.add("sections", "the plan has no seats")
    errors.raise_any()
    return seats


def _row_seats(
    section: PlanSection, row: PlanRow, where: str, zones: set[str], errors: PlanErrors
) -> Iterator[Seat]:
    try:
        numbers = parse_seat_list(row.seats, gaps=True)
    except ValueError as exc:
        errors.add(f"{where}.seats", str(exc))
        return
    in_row = {n for n in numbers if n is not None}
    if not in_row:
        errors.add(f"{where}.seats", "the row has no seats")
        return
    zone = row.zone or section.zone
    if zone is None:
        errors.add(f"{where}.zone", "no zone: give the row or its section one")
        return
    zone_of: dict[str, str] = {}
    ok = _check_zone(zone, f"{where}.zone", zones, errors)
    for code, listed in (row.zone_seats or {}).items():
        field = f"{where}.zone_seats.{code}"
        ok = _check_zone(code, field, zones, errors) and ok
        for number in _flagged(listed, field, in_row, errors):
            zone_of[number] = code
    flags = {
        name: set(_flagged(getattr(row, name), f"{where}.{name}", in_row, errors))
        for name in ("wheelchair", "companion", "restricted")
    }
    if not ok:
        return
    for offset, number in enumerate(numbers):
        if number is None:
            continue
        yield Seat(
            section=section.name,
            row=row.row,
            number=number,
            x=section.x + row.x + offset,
            y=section.y + row.y,
            zone=zone_of.get(number, zone),
            wheelchair=number in flags["wheelchair"],
            companion=number in flags["companion"],
            restricted_view=number in flags["restricted"],
        )


def _check_zone(code: str, field: str, zones: set[str], errors: PlanErrors) -> bool:
    if code in zones:
        return True
    known = ", ".join(sorted(zones)) or "none"
    errors.add(field, f"unknown zone {code!r} (the plan's zones: {known})")
    return False


def _flagged(listed: str | None, field: str, in_row: set[str], errors: PlanErrors) -> list[str]:
    """The seats a flag or zone list names; "*" is the whole row."""
    if listed is None:
        return []
    if listed.strip() == "*":
        return sorted(in_row)
    try:
        numbers = [n for n in parse_seat_list(listed, gaps=False) if n is not None]
    except ValueError as exc:
        errors.add(field, str(exc))
        return []
    missing = [n for n in numbers if n not in in_row]
    if missing:
        errors.add(field, f"no such seat in the row: {', '.join(missing[:20])}")
    return [n for n in numbers if n in in_row]


# --- export: seats back to the compact form ------------------------------------------


def compact(info: Row, zones: Iterable[Row], seats: Iterable[Row]) -> VenuePlan:
    """The plan of ``seats`` (current ones, in id order) in the compact form: sections and
    rows in the order their first seat was made, each row one entry per grid line, with
    positions absolute (sections at the origin). Importing it gives the same seats."""
    sections: dict[str, dict[tuple[str, int], list[Row]]] = defaultdict(dict)
    for seat in seats:
        sections[seat["section"]].setdefault((seat["row_label"], seat["y"]), []).append(seat)
    plan_sections = []
    for name, rows in sections.items():
        plan_rows = [_compact_row(label, y, row) for (label, y), row in rows.items()]
        plan_sections.append(PlanSection(name=name, rows=plan_rows))
    return VenuePlan(
        name=info["name"],
        address=info["address"],
        description=info["description"],
        zones=[Zone(code=z["code"], name=z["name"], rank=z["rank"]) for z in zones],
        sections=plan_sections,
    )


def _compact_row(label: str, y: int, seats: list[Row]) -> PlanRow:
    seats = sorted(seats, key=lambda s: s["x"])
    zone = Counter(s["zone"] for s in seats).most_common(1)[0][0]
    others: dict[str, list[str]] = defaultdict(list)
    for s in seats:
        if s["zone"] != zone:
            others[s["zone"]].append(s["number"])
    items: list[str] = []
    run: list[str] = []
    for i, s in enumerate(seats):
        if i and s["x"] > seats[i - 1]["x"] + 1:
            items.extend(_runs(run))
            run = []
            items.extend([GAP] * (s["x"] - seats[i - 1]["x"] - 1))
        run.append(s["number"])
    items.extend(_runs(run))

    def flagged(column: str) -> str | None:
        chosen = [s["number"] for s in seats if s[column]]
        if not chosen:
            return None
        return "*" if len(chosen) == len(seats) else ", ".join(_runs(chosen))

    return PlanRow(
        row=label,
        y=y,
        x=seats[0]["x"],
        seats=", ".join(items),
        zone=zone,
        zone_seats={code: ", ".join(_runs(numbers)) for code, numbers in others.items()} or None,
        wheelchair=flagged("wheelchair"),
        companion=flagged("companion"),
        restricted=flagged("restricted_view"),
    )


def _runs(labels: list[str]) -> list[str]:
    """Labels as few items as they go: runs of three or more numbers with one step (1 or
    2, either way) become a range; anything else stays as it is."""
    out: list[str] = []
    i = 0
    while i < len(labels):
        j = i + 1
        if _plain_number(labels[i]) and i + 1 < len(labels) and _plain_number(labels[i + 1]):
            step = int(labels[i + 1]) - int(labels[i])
            if abs(step) in (1, 2):
                while (
                    j < len(labels)
                    and _plain_number(labels[j])
                    and int(labels[j]) - int(labels[j - 1]) == step
                ):
                    j += 1
        if j - i >= 3:
            suffix = "" if abs(int(labels[i + 1]) - int(labels[i])) == 1 else "/2"
            out.append(f"{labels[i]}-{labels[j - 1]}{suffix}")
            i = j
        else:
            out.append(labels[i])
            i += 1
    return out


def _plain_number(label: str) -> bool:
    """A number a range gives back as it is: digits, no leading zero, at most 6 digits."""
    return label.isdigit() and len(label) <= 6 and str(int(label)) == label


# --- the plans shipped in the package (server/plans/) ---------------------------------------

SHIPPED_PLANS = ("theatre", "studio", "arena")


def shipped_plan(name: str) -> VenuePlan:
    """A plan of server/plans/: the demo's theatre and studio, and a 10,000-seat arena."""
    text = (resources.files("server") / "plans" / f"{name}.json").read_text(encoding="utf-8")
    return VenuePlan.model_validate_json(text)


# --- the service --------------------------------------------------------------------------


def _columns(seats: list[Seat]) -> dict[str, list[Any]]:
    """The seats as one array per column, for the statements' unnest()."""
    return {
        "sections": [s.section for s in seats],
        "rows": [s.row for s in seats],
        "numbers": [s.number for s in seats],
        "xs": [s.x for s in seats],
        "ys": [s.y for s in seats],
        "zones": [s.zone for s in seats],
        "wheelchairs": [s.wheelchair for s in seats],
        "companions": [s.companion for s in seats],
        "restricteds": [s.restricted_view for s in seats],
    }


def _zone_columns(zones: list[Zone]) -> dict[str, list[Any]]:
    return {
        "codes": [z.code for z in zones],
        "names": [z.name for z in zones],
        "ranks": [z.rank for z in zones],
    }


class Venues:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def list(self) -> list[Row]:
        return await self.db.fetchall(q.LIST_VENUES)

    async def get(self, venue_id: int) -> Row:
        row = await self.db.fetchone(q.GET_VENUE, venue_id=venue_id)
        if row is None:
            raise NotFound(f"Venue {venue_id} not found")
        return row

    async def _plan(self, venue_id: int) -> tuple[Row, list[Row], list[Row]]:
        """The venue, its zones and its current seats, read in one snapshot."""
        async with self.db.transaction() as tx:
            await tx.execute(q.REPEATABLE_READ)
            info = await tx.fetchone(q.GET_VENUE, venue_id=venue_id)
            if info is None:
                raise NotFound(f"Venue {venue_id} not found")
            zones = await tx.fetchall(q.VENUE_ZONES, venue_id=venue_id)
            seats = await tx.fetchall(q.VENUE_SEATS, venue_id=venue_id)
        return info, zones, seats

    async def detail(self, venue_id: int) -> tuple[Row, VenuePlan]:
        """The venue and its plan in the compact form."""
        info, zones, seats = await self._plan(venue_id)
        return info, compact(info, zones, seats)

    async def seats(self, venue_id: int) -> dict[str, Any]:
        """The plan's current seats, one array per column, with the venue's version."""
        info, zones, rows = await self._plan(venue_id)
        return {
            "venue_id": venue_id,
            "version": info["version"],
            "id": [s["id"] for s in rows],
            "section": [s["section"] for s in rows],
            "row": [s["row_label"] for s in rows],
            "number": [s["number"] for s in rows],
            "x": [s["x"] for s in rows],
            "y": [s["y"] for s in rows],
            "zone": [s["zone"] for s in rows],
            "wheelchair": [s["id"] for s in rows if s["wheelchair"]],
            "companion": [s["id"] for s in rows if s["companion"]],
            "restricted_view": [s["id"] for s in rows if s["restricted_view"]],
            "zones": [{"code": z["code"], "name": z["name"], "rank": z["rank"]} for z in zones],
        }

    async def create(self, plan: VenuePlan, *, by: Signs) -> Row:
        seats = expand(plan)  # 422 before anything is written
        async with self.db.transaction() as tx:
            venue = answer(
                await tx.fetchone(
                    q.INSERT_VENUE,
                    name=plan.name,
                    address=plan.address,
                    description=plan.description,
                    seat_count=len(seats),
                    **by.audit(),
                ),
                Row,
            )
            await tx.execute(q.UPSERT_ZONES, venue_id=venue["id"], **_zone_columns(plan.zones))
            await tx.execute(q.INSERT_SEATS, venue_id=venue["id"], **_columns(seats))
        return {**venue, "seat_count": len(seats)}

    async def replace(self, venue_id: int, plan: VenuePlan, *, by: Signs) -> Row:
        """Replace the venue's details and plan: seats keep their ids by label, removed
        seats are retired, and the record says how many were kept, added and retired."""
        seats = expand(plan)
        async with self.db.transaction() as tx:
            if await tx.fetchone(q.GET_VENUE_FOR_UPDATE, venue_id=venue_id) is None:
                raise NotFound(f"Venue {venue_id} not found")
            columns = _columns(seats)
            removed = await self._check_removals(tx, venue_id, columns)
            await tx.execute(q.UPSERT_ZONES, venue_id=venue_id, **_zone_columns(plan.zones))
            # Retire every current seat, then bring back those the new plan keeps: no
            # position or label clashes halfway through (the new plan's are distinct).
            before = {r["id"] for r in await tx.fetchall(q.RETIRE_SEATS, venue_id=venue_id)}
            kept = await tx.fetchall(q.REVIVE_SEATS, venue_id=venue_id, **columns)
            added = await tx.fetchall(q.INSERT_NEW_SEATS, venue_id=venue_id, **columns)
            await tx.execute(q.RETIRE_ZONES, venue_id=venue_id, codes=[z.code for z in plan.zones])
            kept_ids = {r["id"] for r in kept}
            venue = answer(
                await tx.fetchone(
                    q.UPDATE_VENUE,
                    venue_id=venue_id,
                    name=plan.name,
                    address=plan.address,
                    description=plan.description,
                    seat_count=len(seats),
                    kept=len(kept_ids & before),
                    added=len(added) + len(kept_ids - before),
                    retired=len(before - kept_ids),
                    **by.audit(),
                ),
                Row,
            )
            if removed:
                # Free removed seats leave the events not ended; each event's seat map
                # re-reads its seats (after the events row's own notification).
                for event in await tx.fetchall(q.DROP_REMOVED_SEATS, seat_ids=removed):
                    await tx.execute(q.SEATS_RESYNC, event_id=event["id"], version=event["version"])
        return {**venue, "seat_count": len(seats)}

    async def _check_removals(
        self, tx: Statements, venue_id: int, columns: dict[str, list[Any]]
    ) -> list[int]:
        """The ids of the current seats the new plan removes; a 409 naming the seats and
        the events when any is sold or held for an event that has not ended. Runs under
        the venue's lock, and locks the removed seats' inventory rows as orders do, so an
        order on them either commits first (and is seen here) or finds them gone. New
        seats are not added to existing events: their inventory is made with the event."""
        removed = await tx.fetchall(q.REMOVED_SEATS, venue_id=venue_id, **columns)
        ids = [r["id"] for r in removed]
        if not ids:
            return ids
        await tx.fetchall(q.LOCK_REMOVED_SEATS, seat_ids=ids)
        sold = await tx.fetchall(q.SOLD_REMOVED_SEATS, seat_ids=ids)
        if not sold:
            return ids
        seats = {r["seat_id"]: f"{r['section']} {r['row_label']} {r['number']}" for r in sold}
        events = {r["event_id"]: {"id": r["event_id"], "title": r["title"], "date": r["date"]}
                  for r in sold}  # fmt: skip
        labels = list(seats.values())
        shown = ", ".join(labels[:10]) + (
            f" and {len(labels) - 10} more" if len(labels) > 10 else ""
        )
        raise Conflict(
            f"The plan removes seats sold or held for events that have not ended: {shown}",
            data={
                "seats": [{"id": i, "label": label} for i, label in seats.items()],
                "events": list(events.values()),
            },
        )

    async def delete(self, venue_id: int, *, by: Signs) -> None:
        """Delete the venue, its zones and seats: a 409 while events are seated on it or
        tickets were ever sold on its seats (they keep referencing them)."""
        async with self.db.transaction() as tx:
            if await tx.fetchone(q.GET_VENUE_FOR_UPDATE, venue_id=venue_id) is None:
                raise NotFound(f"Venue {venue_id} not found")
            use = answer(await tx.fetchone(q.VENUE_IN_USE, venue_id=venue_id), Row)
            if use["event_ids"]:
                raise Conflict(
                    f"Events are seated on the venue: {len(use['event_ids'])}; move or "
                    "delete them first",
                    data={"event_ids": use["event_ids"]},
                )
            if use["has_tickets"]:
                raise Conflict("Tickets were sold on the venue's seats, so it stays")
            await tx.execute(q.DELETE_VENUE, venue_id=venue_id, **by.audit())
