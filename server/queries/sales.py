"""What an event has sold, per ticket type and zone, and how fast tickets went lately: the
admins' dashboards read these (``server/sales.py``)."""

from __future__ import annotations

from sqlalchemy import BigInteger, DateTime, Integer, and_, func, select

from ..db import compiled
from ..tables import bookings, event_seats, events, ticket_types, tickets, venue_zones
from ._shared import _param

_held = bookings.c.status == "pending"
_sold = bookings.c.status == "confirmed"

# The event's active tickets grouped by type and zone: held (a pending order's) and sold
# (a confirmed order's) counts, and the takings of the sold ones at the prices they sold at.
EVENT_SALES = compiled(
    select(
        tickets.c.ticket_type_id,
        ticket_types.c.name,
        tickets.c.zone,
        func.count().filter(_held).label("held"),
        func.count().filter(_sold).label("sold"),
        func.coalesce(func.sum(tickets.c.price).filter(_sold), 0).label("takings"),
    )
    .select_from(
        tickets.join(bookings, bookings.c.id == tickets.c.booking_id).join(
            ticket_types, ticket_types.c.id == tickets.c.ticket_type_id
        )
    )
    .where(
        tickets.c.event_id == _param("event_id", BigInteger),
        tickets.c.released_at.is_(None),
    )
    .group_by(tickets.c.ticket_type_id, ticket_types.c.name, tickets.c.zone)
    .order_by(tickets.c.ticket_type_id, tickets.c.zone)
)

# Seats per zone and state of the seated events that start after ``date_from`` (or of one
# event: ``event_id``), with the zone's name and rank from the event's venue.
ZONE_SEATS = compiled(
    select(
        event_seats.c.event_id,
        event_seats.c.zone,
        func.min(venue_zones.c.name).label("name"),
        func.min(venue_zones.c.rank).label("rank"),
        func.count().label("seats"),
        func.count().filter(event_seats.c.state == "free").label("free"),
        func.count().filter(event_seats.c.state == "held").label("held"),
        func.count().filter(event_seats.c.state == "sold").label("sold"),
    )
    .select_from(
        event_seats.join(events, events.c.id == event_seats.c.event_id).outerjoin(
            venue_zones,
            and_(
                venue_zones.c.venue_id == events.c.venue_id,
                venue_zones.c.code == event_seats.c.zone,
            ),
        )
    )
    .where(
        func.coalesce(_param("event_id", BigInteger), events.c.id) == events.c.id,
        events.c.date >= _param("date_from", lambda: DateTime(timezone=True)),
    )
    .group_by(event_seats.c.event_id, event_seats.c.zone)
    .order_by(event_seats.c.event_id, func.min(venue_zones.c.rank), event_seats.c.zone)
)

# Tickets made (held or sold, whatever became of them since) in each bucket of
# ``bucket_seconds`` since ``date_from``; a bucket is numbered by epoch seconds // size, the
# way the terminal's sales meter numbers its own.
RECENT_TICKETS = compiled(
    select(
        func.floor(
            func.extract("epoch", tickets.c.created_at) / _param("bucket_seconds", Integer)
        ).label("bucket"),
        func.count().label("tickets"),
    )
    .where(tickets.c.created_at >= _param("date_from", lambda: DateTime(timezone=True)))
    .group_by("bucket")
    .order_by("bucket")
)
