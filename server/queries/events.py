"""Events: reading, listing, creating, updating and deleting them, each change with its
audit record.
"""

from __future__ import annotations

import functools
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    Integer,
    String,
    case,
    delete,
    exists,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.sql import ColumnElement

from ..db import Query, compiled, script
from ..paging import TOTAL
from ..tables import bookings, event_seats, events, tickets, venues
from ._shared import _active, _changes, _param, _pattern, _record
from .venues import _seat_count

# --- events ------------------------------------------------------------------------

EVENT_COLUMNS = tuple(events.c)

GET_EVENT = compiled(select(events).where(events.c.id == _param("event_id", BigInteger)))

ALL_EVENTS = compiled(select(events).order_by(events.c.date, events.c.id))

EVENTS_BY_ID = compiled(
    select(events).where(events.c.id == func.any(_param("ids", lambda: ARRAY(BigInteger))))
)

GET_EVENT_FOR_UPDATE = compiled(
    select(events).where(events.c.id == _param("event_id", BigInteger)).with_for_update()
)

# Optional filters are "param IS NULL OR ...": psycopg2 inlines the values, so the planner
# drops the unused ones and one compiled statement serves every combination.
LIST_EVENTS = compiled(
    select(events, func.count().over().label(TOTAL))
    .where(
        or_(
            _pattern.is_(None),
            events.c.title.ilike(_pattern),
            events.c.venue.ilike(_pattern),
            events.c.description.ilike(_pattern),
        ),
        or_(
            _param("date_from", DateTime).is_(None), events.c.date >= _param("date_from", DateTime)
        ),
        or_(_param("date_to", DateTime).is_(None), events.c.date <= _param("date_to", DateTime)),
        or_(~_param("upcoming", Boolean), events.c.date > func.now()),
        or_(~_param("available_only", Boolean), events.c.available_seats > 0),
    )
    .order_by(events.c.date, events.c.id)
    .offset(_param("skip", Integer))
    .limit(_param("limit", Integer))
)

# When the first upcoming event starts: lists of upcoming events change then.
NEXT_START = compiled(
    select(func.min(events.c.date).label("date")).where(events.c.date > func.now())
)

# The fields an admin sets; their values sign event.create and event.delete records.
EVENT_FIELDS = ("title", "description", "date", "venue", "total_seats", "price", "venue_id")


def _event_details(rows: Any, *extra: str) -> ColumnElement[Any]:
    return func.jsonb_build_object(
        *(arg for name in (*EVENT_FIELDS, *extra) for arg in (name, rows.c[name]))
    )


_new_event = (
    insert(events)
    .values(
        title=_param("title", String),
        description=_param("description", String),
        date=_param("date", DateTime),
        venue=_param("venue", String),
        total_seats=_param("total_seats", Integer),
        available_seats=_param("total_seats", Integer),
        price=_param("price"),
        # Seated: the events_seat_count trigger counts the plan's seats into total_seats.
        venue_id=_param("venue_id", BigInteger),
    )
    .returning(*EVENT_COLUMNS)
    .cte("new_event")
)
_create_audit = _record(
    "event.create", _new_event, _event_details(_new_event), event_id=_new_event.c.id
).cte("create_audit")
INSERT_EVENT = compiled(select(*_new_event.c).add_cte(_create_audit))


@functools.cache
def update_event(fields: frozenset[str]) -> Query:
    """UPDATE for the given fields, with its event.update record (compiled once per set of
    fields: at most 128 of them).

    The event is locked and read first ("before"), so the record holds each changed field
    as it was just before and as it is now, and the new values are computed from that
    locked row (as in BOOK). A new total keeps the seats already sold: available moves by
    the same amount, and the WHERE refuses a total below the seats sold, so a concurrent
    booking cannot slip under it.
    """
    before = (
        select(events)
        .where(events.c.id == _param("event_id", BigInteger))
        .with_for_update()
        .cte("before")
    )
    values: dict[str, object] = {
        name: _param(name) for name in fields if name not in ("total_seats",)
    }
    conditions = [events.c.id == before.c.id]
    if "total_seats" in fields:
        new_total = _param("total_seats", Integer)
        values["total_seats"] = new_total
        values["available_seats"] = before.c.available_seats + (new_total - before.c.total_seats)
        conditions.append(before.c.total_seats - before.c.available_seats <= new_total)
        if "venue_id" not in fields:
            # A seated event's total is its plan's; only a move (Events._move) sets it.
            conditions.append(before.c.venue_id.is_(None))
    values["version"] = before.c.version + 1
    values["updated_at"] = func.now()
    updated = (
        update(events).where(*conditions).values(values).returning(*EVENT_COLUMNS).cte("updated")
    )

    audit = _record(
        "event.update",
        updated.join(before, before.c.id == updated.c.id),
        _changes(before, updated, (*EVENT_FIELDS, "available_seats")),
        event_id=updated.c.id,
    ).cte("update_audit")
    return compiled(select(*updated.c).add_cte(audit))


HAS_ACTIVE_BOOKINGS = compiled(
    select(
        exists()
        .where(
            bookings.c.event_id == _param("event_id", BigInteger),
            _active(bookings.c.status),
        )
        .label("exists")
    )
)

_gone = (
    delete(events)
    .where(events.c.id == _param("event_id", BigInteger))
    .returning(*EVENT_COLUMNS)
    .cte("gone")
)
_delete_audit = _record(
    "event.delete", _gone, _event_details(_gone, "available_seats"), event_id=_gone.c.id
).cte("delete_audit")
DELETE_EVENT = compiled(select(_gone.c.id).add_cte(_delete_audit))


# --- seated events: the venue, and moving an event to another plan -------------------

# The venue a seated event is stocked from, with its current seats; KEY SHARE keeps a plan
# edit (which locks the venue FOR UPDATE) from changing the seats until the stock commits.
SEATED_VENUE = compiled(
    select(venues.c.id, _seat_count)
    .where(venues.c.id == _param("venue_id", BigInteger))
    .with_for_update(read=True, key_share=True)
)

# Every seat row of the event, locked in seat order before the event row: the order an
# order takes them in (boxoffice_place_order), so a move and an order never deadlock.
LOCK_EVENT_SEATS = compiled(
    select(func.count().label("seats")).select_from(
        select(event_seats.c.seat_id)
        .where(event_seats.c.event_id == _param("event_id", BigInteger))
        .order_by(event_seats.c.seat_id)
        .with_for_update()
        .subquery("locked")
    )
)

# Tickets not given back; bookings made before orders (migration 0010) have none, so
# their active bookings count too.
EVENT_HAS_TICKETS = compiled(
    select(
        or_(
            exists().where(
                tickets.c.event_id == _param("event_id", BigInteger),
                tickets.c.released_at.is_(None),
            ),
            exists().where(
                bookings.c.event_id == _param("event_id", BigInteger),
                _active(bookings.c.status),
            ),
        ).label("exists")
    )
)

# The event's inventory rebuilt from the plan of venue_id (none for general admission):
# its seats now. Two statements (the stock's INSERT must see the DELETE done), one trip.
RESTOCK_EVENT = script(
    compiled(delete(event_seats).where(event_seats.c.event_id == _param("event_id", BigInteger))),
    compiled(
        select(
            case(
                (_param("venue_id", BigInteger).is_(None), None),
                else_=func.boxoffice_stock_event(
                    _param("event_id", BigInteger), _param("venue_id", BigInteger)
                ),
            ).label("seats")
        )
    ),
)

# Live seat maps re-read the event's seats (sent after the events row's notification).
SEATS_RESYNC = compiled(
    select(
        func.pg_notify(
            "boxoffice_seats",
            func.json_build_object(
                "id", _param("event_id", BigInteger),
                "version", _param("version", BigInteger),
                "resync", True,
            ).cast(String),
        )
    )
)  # fmt: skip
