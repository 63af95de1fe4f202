"""Venues, their price zones and seats: reading, creating, replacing a plan (seats kept
by label, removed ones retired) and deleting, each change with its audit record.

Seats travel as one array per column (``sections``, ``rows``, ``numbers``, ``xs``...)
and are spread into rows by ``unnest``: a 10,000-seat plan is one statement, not 10,000.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Integer,
    String,
    Text,
    and_,
    delete,
    exists,
    func,
    insert,
    select,
    text,
    tuple_,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import insert as pg_insert

from ..db import compiled
from ..tables import event_seats, events, seats, tickets, venue_zones, venues
from ._shared import _param, _record

VENUE_COLUMNS = tuple(venues.c)

_venue_id = _param("venue_id", BigInteger)
_current = seats.c.retired_at.is_(None)

# How many current seats a venue has, as a column of the venue's row.
_seat_count = (
    select(func.count())
    .where(seats.c.venue_id == venues.c.id, _current)
    .scalar_subquery()
    .label("seat_count")
)

GET_VENUE = compiled(select(*VENUE_COLUMNS, _seat_count).where(venues.c.id == _venue_id))
LIST_VENUES = compiled(select(*VENUE_COLUMNS, _seat_count).order_by(venues.c.name, venues.c.id))
GET_VENUE_FOR_UPDATE = compiled(
    select(venues.c.id).where(venues.c.id == _venue_id).with_for_update()
)

# A plan's reads (venue, zones, seats) see one snapshot.
REPEATABLE_READ = compiled(text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ"))

VENUE_ZONES = compiled(
    select(venue_zones.c.code, venue_zones.c.name, venue_zones.c.rank)
    .where(venue_zones.c.venue_id == _venue_id, venue_zones.c.retired_at.is_(None))
    .order_by(venue_zones.c.rank, venue_zones.c.code)
)

VENUE_SEATS = compiled(
    select(seats).where(seats.c.venue_id == _venue_id, _current).order_by(seats.c.id)
)


def _array(name: str, item: Any) -> Any:
    return _param(name, lambda: ARRAY(item))


# --- zones ------------------------------------------------------------------------

_zone_rows = (
    func.unnest(_array("codes", Text), _array("names", Text), _array("ranks", Integer))
    .table_valued("code", "name", "rank")
    .render_derived(name="z", with_types=False)
)
_upsert = pg_insert(venue_zones).from_select(
    ["venue_id", "code", "name", "rank"],
    select(_venue_id, _zone_rows.c.code, _zone_rows.c.name, _zone_rows.c.rank),
)
# A zone that comes back is current again, with its new name and rank.
UPSERT_ZONES = compiled(
    _upsert.on_conflict_do_update(
        index_elements=[venue_zones.c.venue_id, venue_zones.c.code],
        set_={
            "name": _upsert.excluded.name,
            "rank": _upsert.excluded.rank,
            "retired_at": None,
        },
    )
)

# Zones the plan no longer has are retired, not deleted: retired seats still name them.
RETIRE_ZONES = compiled(
    update(venue_zones)
    .where(
        venue_zones.c.venue_id == _venue_id,
        venue_zones.c.retired_at.is_(None),
        venue_zones.c.code != func.all(_array("codes", Text)),
    )
    .values(retired_at=func.now())
)

# --- seats ------------------------------------------------------------------------

_SEAT_FIELDS = ("section", "row_label", "number", "x", "y", "zone")
_FLAG_FIELDS = ("wheelchair", "companion", "restricted_view")

_new = (
    func.unnest(
        _array("sections", Text),
        _array("rows", Text),
        _array("numbers", Text),
        _array("xs", Integer),
        _array("ys", Integer),
        _array("zones", Text),
        _array("wheelchairs", Boolean),
        _array("companions", Boolean),
        _array("restricteds", Boolean),
    )
    .table_valued(*_SEAT_FIELDS, *_FLAG_FIELDS)
    .render_derived(name="n", with_types=False)
)
_NEW_COLUMNS = [_new.c[name] for name in (*_SEAT_FIELDS, *_FLAG_FIELDS)]

INSERT_SEATS = compiled(
    insert(seats).from_select(
        ["venue_id", *_SEAT_FIELDS, *_FLAG_FIELDS], select(_venue_id, *_NEW_COLUMNS)
    )
)

RETIRE_SEATS = compiled(
    update(seats)
    .where(seats.c.venue_id == _venue_id, _current)
    .values(retired_at=func.now())
    .returning(seats.c.id)
)

_same_label = and_(
    seats.c.venue_id == _venue_id,
    tuple_(seats.c.section, seats.c.row_label, seats.c.number)
    == tuple_(_new.c.section, _new.c.row_label, _new.c.number),
)

# The seats the new plan keeps (retired just now, or earlier and coming back): current
# again, with their new position, zone and flags.
REVIVE_SEATS = compiled(
    update(seats)
    .where(_same_label)
    .values(
        retired_at=None,
        **{name: _new.c[name] for name in ("x", "y", "zone", *_FLAG_FIELDS)},
    )
    .returning(seats.c.id)
)

_label_exists = exists().where(_same_label)
INSERT_NEW_SEATS = compiled(
    insert(seats)
    .from_select(
        ["venue_id", *_SEAT_FIELDS, *_FLAG_FIELDS],
        select(_venue_id, *_NEW_COLUMNS).where(~_label_exists),
    )
    .returning(seats.c.id)
)

# --- venues -----------------------------------------------------------------------

_name = _param("name", String)
_address = _param("address", String)
_description = _param("description", String)


def _details(rows: Any, **counts: Any) -> Any:
    """The venue as the record keeps it, and the plan's counts."""
    fields = {"venue_id": rows.c.id, **{k: rows.c[k] for k in ("name", "version")}, **counts}
    return func.jsonb_build_object(*(arg for item in fields.items() for arg in item))


_new_venue = (
    insert(venues)
    .values(name=_name, address=_address, description=_description)
    .returning(*VENUE_COLUMNS)
    .cte("new_venue")
)
_create_audit = _record(
    "venue.create", _new_venue, _details(_new_venue, seats=_param("seat_count", Integer))
).cte("create_audit")
INSERT_VENUE = compiled(select(*_new_venue.c).add_cte(_create_audit))

_updated = (
    update(venues)
    .where(venues.c.id == _venue_id)
    .values(
        name=_name,
        address=_address,
        description=_description,
        version=venues.c.version + 1,
        updated_at=func.now(),
    )
    .returning(*VENUE_COLUMNS)
    .cte("updated_venue")
)
_update_audit = _record(
    "venue.update",
    _updated,
    _details(
        _updated,
        seats=_param("seat_count", Integer),
        kept=_param("kept", Integer),
        added=_param("added", Integer),
        retired=_param("retired", Integer),
    ),
).cte("update_audit")
UPDATE_VENUE = compiled(select(*_updated.c).add_cte(_update_audit))

_gone = delete(venues).where(venues.c.id == _venue_id).returning(*VENUE_COLUMNS).cte("gone")
_delete_audit = _record("venue.delete", _gone, _details(_gone)).cte("delete_audit")
DELETE_VENUE = compiled(select(_gone.c.id).add_cte(_delete_audit))


# --- plan edits and the seated events on the plan ------------------------------------

# Events have a start, not an end: one counts as ended this long after it starts.
EVENT_LENGTH = text("interval '12 hours'")
_not_ended = events.c.date > func.now() - EVENT_LENGTH
_seat_ids = _array("seat_ids", BigInteger)

# The current seats that the new plan (the label arrays of INSERT_SEATS) leaves out.
REMOVED_SEATS = compiled(
    select(seats.c.id, seats.c.section, seats.c.row_label, seats.c.number)
    .where(seats.c.venue_id == _venue_id, _current, ~_label_exists)
    .order_by(seats.c.id)
)

# The removed seats in events not ended, locked as an order locks them (seat rows first,
# event by event in seat order): an order on them commits before the check below, or
# waits and then finds them gone.
LOCK_REMOVED_SEATS = compiled(
    select(event_seats.c.event_id, event_seats.c.seat_id)
    .join(events, events.c.id == event_seats.c.event_id)
    .where(event_seats.c.seat_id == func.any(_seat_ids), _not_ended)
    .order_by(event_seats.c.event_id, event_seats.c.seat_id)
    .with_for_update(of=event_seats)
)

# Active tickets (sold or held) on the removed seats, for events not ended.
SOLD_REMOVED_SEATS = compiled(
    select(
        tickets.c.seat_id,
        seats.c.section,
        seats.c.row_label,
        seats.c.number,
        events.c.id.label("event_id"),
        events.c.title,
        events.c.date,
    )
    .join(seats, seats.c.id == tickets.c.seat_id)
    .join(events, events.c.id == tickets.c.event_id)
    .where(tickets.c.seat_id == func.any(_seat_ids), tickets.c.released_at.is_(None), _not_ended)
    .order_by(events.c.date, events.c.id, tickets.c.seat_id)
)

# The removed seats leave the inventories of events not ended (all free: the check above
# refused sold and held ones), whose totals go down with them: a new version per event.
_dropped = (
    delete(event_seats)
    .where(
        event_seats.c.event_id == events.c.id,
        event_seats.c.seat_id == func.any(_seat_ids),
        event_seats.c.state == "free",
        _not_ended,
    )
    .returning(event_seats.c.event_id)
    .cte("dropped")
)
_per_event = (
    select(_dropped.c.event_id, func.count().label("n"))
    .group_by(_dropped.c.event_id)
    .cte("per_event")
)
DROP_REMOVED_SEATS = compiled(
    update(events)
    .where(events.c.id == _per_event.c.event_id)
    .values(
        total_seats=events.c.total_seats - _per_event.c.n,
        available_seats=events.c.available_seats - _per_event.c.n,
        version=events.c.version + 1,
        updated_at=func.now(),
    )
    .returning(events.c.id, events.c.version, _per_event.c.n.label("dropped"))
)

# Events seated on the venue; and whether any ticket was ever sold on its seats.
VENUE_IN_USE = compiled(
    select(
        func.coalesce(
            select(func.array_agg(events.c.id))
            .where(events.c.venue_id == _venue_id)
            .scalar_subquery(),
            text("'{}'::bigint[]"),
        ).label("event_ids"),
        exists()
        .where(tickets.c.seat_id == seats.c.id, seats.c.venue_id == _venue_id)
        .label("has_tickets"),
    )
)
