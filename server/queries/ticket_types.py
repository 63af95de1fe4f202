"""Ticket types of an event: listing, creating, changing and deleting them, each change
with its audit record (ticket_type.create, .update, .delete).

``sold`` is kept by the order functions only under a quota (migration 0010); the answers
show it as null without one, and setting a quota recounts it from the active tickets.
"""

from __future__ import annotations

import functools
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Integer,
    String,
    case,
    cast,
    delete,
    exists,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.sql import ColumnElement

from ..browse_cache import BROWSE_CHANNEL
from ..db import Query, compiled
from ..tables import events, ticket_types, tickets, venue_zones
from ._shared import _changes, _param, _record

# What an admin sets; their values sign the records.
TYPE_FIELDS = ("name", "price", "zone_prices", "quota", "on_sale", "staff_only", "position")

_event_id = _param("event_id", BigInteger)
_type_id = _param("type_id", BigInteger)
# Sent as JSON text: the statements run on psycopg2 directly, without SQLAlchemy's binds.
_zone_prices = cast(_param("zone_prices", String), JSONB)


def _answer(rows: Any) -> list[ColumnElement[Any]]:
    """A type's columns as the API shows them: sold only under a quota."""
    return [
        *(rows.c[c.name] for c in ticket_types.c if c.name != "sold"),
        case((rows.c.quota.is_(None), None), else_=rows.c.sold).label("sold"),
    ]


def _details(rows: Any) -> ColumnElement[Any]:
    fields = {"ticket_type_id": rows.c.id, **{name: rows.c[name] for name in TYPE_FIELDS}}
    return func.jsonb_build_object(*(arg for item in fields.items() for arg in item))


def _active_tickets(type_id: Any) -> Any:
    return (
        select(func.count())
        .where(tickets.c.ticket_type_id == type_id, tickets.c.released_at.is_(None))
        .scalar_subquery()
    )


LIST_TYPES = compiled(
    select(*_answer(ticket_types))
    .where(
        ticket_types.c.event_id == _event_id,
        or_(_param("staff", Boolean), ~ticket_types.c.staff_only),
    )
    .order_by(ticket_types.c.position, ticket_types.c.id)
)

GET_TYPE = compiled(
    select(*_answer(ticket_types)).where(
        ticket_types.c.id == _type_id, ticket_types.c.event_id == _event_id
    )
)

# The event, locked against orders (they take it FOR NO KEY UPDATE too) while its types
# change: a recount of sold sees every order committed before it and none in flight.
LOCK_EVENT = compiled(
    select(events.c.id, events.c.venue_id)
    .where(events.c.id == _event_id)
    .with_for_update(key_share=True)
)

# Every instance's browse cache forgets the event's detail (at commit; browse_cache.py).
TYPES_CHANGED = compiled(select(func.pg_notify(BROWSE_CHANNEL, cast(_event_id, String))))

# The zones a seated event's types may price: its venue's current ones.
EVENT_ZONES = compiled(
    select(venue_zones.c.code)
    .where(
        venue_zones.c.venue_id
        == select(events.c.venue_id).where(events.c.id == _event_id).scalar_subquery(),
        venue_zones.c.retired_at.is_(None),
    )
    .order_by(venue_zones.c.rank, venue_zones.c.code)
)

_quota = _param("quota", Integer)
_position = func.coalesce(
    _param("position", Integer),
    select(func.coalesce(func.max(ticket_types.c.position) + 1, 0))
    .where(ticket_types.c.event_id == _event_id)
    .scalar_subquery(),
)
_new = (
    insert(ticket_types)
    .values(
        event_id=_event_id,
        name=_param("name", String),
        price=_param("price"),
        zone_prices=_zone_prices,
        quota=_quota,
        on_sale=_param("on_sale", Boolean),
        staff_only=_param("staff_only", Boolean),
        position=_position,
    )
    .returning(*ticket_types.c)
    .cte("new_type")
)
_create_audit = _record("ticket_type.create", _new, _details(_new), event_id=_new.c.event_id).cte(
    "create_audit"
)
INSERT_TYPE = compiled(select(*_answer(_new)).add_cte(_create_audit))


@functools.cache
def update_type(fields: frozenset[str]) -> Query:
    """UPDATE of the given fields of a type, with its ticket_type.update record (compiled
    once per set of fields). A quota recounts sold from the active tickets in the same
    statement, and the WHERE refuses one below them (no row: the caller says why)."""
    before = (
        select(ticket_types)
        .where(ticket_types.c.id == _type_id, ticket_types.c.event_id == _event_id)
        .with_for_update()
        .cte("before")
    )
    values: dict[str, Any] = {
        name: _zone_prices if name == "zone_prices" else _param(name)
        for name in fields
        if name != "quota"
    }
    conditions = [ticket_types.c.id == before.c.id]
    if "quota" in fields:
        active = _active_tickets(before.c.id)
        values["quota"] = _quota
        values["sold"] = case((_quota.is_(None), 0), else_=active)
        conditions.append(or_(_quota.is_(None), active <= _quota))
    values["updated_at"] = func.now()
    updated = (
        update(ticket_types)
        .where(*conditions)
        .values(values)
        .returning(*ticket_types.c)
        .cte("updated")
    )
    audit = _record(
        "ticket_type.update",
        updated.join(before, before.c.id == updated.c.id),
        _changes(before, updated, TYPE_FIELDS).op("||")(
            func.jsonb_build_object("ticket_type_id", updated.c.id)
        ),
        event_id=updated.c.event_id,
    ).cte("update_audit")
    return compiled(select(*_answer(updated)).add_cte(audit))


# Why a type cannot go: the default type, or one that tickets were sold as.
TYPE_IN_USE = compiled(
    select(
        ticket_types.c.is_default,
        exists().where(tickets.c.ticket_type_id == ticket_types.c.id).label("has_tickets"),
        _active_tickets(ticket_types.c.id).label("active"),
    ).where(ticket_types.c.id == _type_id, ticket_types.c.event_id == _event_id)
)

_gone = (
    delete(ticket_types)
    .where(
        ticket_types.c.id == _type_id,
        ticket_types.c.event_id == _event_id,
        ~ticket_types.c.is_default,
        ~exists().where(tickets.c.ticket_type_id == ticket_types.c.id),
    )
    .returning(*ticket_types.c)
    .cte("gone")
)
_delete_audit = _record(
    "ticket_type.delete", _gone, _details(_gone), event_id=_gone.c.event_id
).cte("delete_audit")
DELETE_TYPE = compiled(select(_gone.c.id).add_cte(_delete_audit))
