"""A seated event's seat states with its version, read in one statement (one snapshot), so
the version is the one the states are current at."""

from __future__ import annotations

from sqlalchemy import BigInteger, func, literal, select, true
from sqlalchemy.dialects.postgresql import aggregate_order_by

from ..db import compiled
from ..tables import event_seats, events
from ._shared import _param

# Seat ids ascending and one letter a seat in the same order (f, h, s); both null for a
# general-admission event, which has no event_seats rows.
_seats = (
    select(
        func.array_agg(aggregate_order_by(event_seats.c.seat_id, event_seats.c.seat_id)).label(
            "seat_ids"
        ),
        func.string_agg(
            func.left(event_seats.c.state, 1),
            aggregate_order_by(literal(""), event_seats.c.seat_id),
        ).label("letters"),
    )
    .where(event_seats.c.event_id == events.c.id)
    .lateral("s")
)

EVENT_SEAT_STATES = compiled(
    select(
        events.c.id.label("event_id"),
        events.c.venue_id,
        events.c.version,
        _seats.c.seat_ids,
        _seats.c.letters,
    )
    .select_from(events.join(_seats, true()))
    .where(events.c.id == _param("event_id", BigInteger))
)
