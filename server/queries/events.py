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

from ..db import Query, compiled
from ..tables import bookings, events
from ._shared import _active, _param, _pattern, _record

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
    select(events)
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

# The fields an admin sets; their values sign event.create and event.delete records.
EVENT_FIELDS = ("title", "description", "date", "venue", "total_seats", "price")


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
    fields: at most 64 of them).

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
    values["version"] = before.c.version + 1
    values["updated_at"] = func.now()
    updated = (
        update(events).where(*conditions).values(values).returning(*EVENT_COLUMNS).cte("updated")
    )

    def changed(row: Any) -> ColumnElement[Any]:
        """``row``'s value of every field that changed, as one JSON object."""
        parts = [
            case(
                (before.c[name].is_distinct_from(updated.c[name]),
                 func.jsonb_build_object(name, row.c[name])),
                else_=func.jsonb_build_object(),
            )
            for name in (*EVENT_FIELDS, "available_seats")
        ]  # fmt: skip
        return functools.reduce(lambda a, b: a.op("||")(b), parts)

    audit = _record(
        "event.update",
        updated.join(before, before.c.id == updated.c.id),
        func.jsonb_build_object("before", changed(before), "after", changed(updated)),
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
