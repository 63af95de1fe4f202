"""What admins watch on the dashboards: an event's held and sold tickets and takings per
zone and ticket type (``GET /api/v1/events/{id}/sales``), seats per zone of every seated
event (``GET /api/v1/reports/zones``), and tickets made per minute lately
(``GET /api/v1/reports/recent-sales``), so a dashboard opened now shows the sales of the
minutes before it was opened."""

from __future__ import annotations

import time
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from common.models import (
    EventSales,
    RecentSales,
    RecentSalesQuery,
    TypeSales,
    ZoneQuery,
    ZoneSales,
)

from . import queries as q
from .db import Database, Row
from .envelope import NotFound

# Zone counts list the events that have not ended: one ends 12 hours after it starts.
ENDED_AFTER = timedelta(hours=12)
EVER = datetime(1, 1, 2, tzinfo=UTC)


class Sales:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def event(self, event_id: int) -> EventSales:
        event = await self.db.fetchone(q.GET_EVENT, event_id=event_id)
        if event is None:
            raise NotFound(f"Event {event_id} not found")
        rows = await self.db.fetchall(q.EVENT_SALES, event_id=event_id)
        zones = await self._zones(event_id, EVER) if event["venue_id"] is not None else []
        takings_by_zone: dict[str, Decimal] = defaultdict(Decimal)
        types: dict[int, TypeSales] = {}
        for row in rows:
            if row["zone"] is not None:
                takings_by_zone[row["zone"]] += row["takings"]
            kind = types.setdefault(
                row["ticket_type_id"],
                TypeSales(
                    ticket_type_id=row["ticket_type_id"],
                    name=row["name"],
                    held=0,
                    sold=0,
                    takings=Decimal(0),
                ),
            )
            kind.held += row["held"]
            kind.sold += row["sold"]
            kind.takings += row["takings"]
        for zone in zones:
            zone.takings = takings_by_zone[zone.zone]
        held = sum(t.held for t in types.values())
        sold = sum(t.sold for t in types.values())
        return EventSales(
            event_id=event_id,
            version=event["version"],
            seats=event["total_seats"],
            free=event["available_seats"],
            held=held,
            sold=sold,
            takings=sum((t.takings for t in types.values()), Decimal(0)),
            zones=zones,
            types=list(types.values()),
        )

    async def zones(self, query: ZoneQuery, *, now: datetime | None = None) -> list[ZoneSales]:
        """Seats per zone and state of one seated event, or of every one not yet ended
        (takings are the per-event answer's: this is for gauges)."""
        if query.event_id is not None:
            return await self._zones(query.event_id, EVER)
        return await self._zones(None, (now or datetime.now(UTC)) - ENDED_AFTER)

    async def _zones(self, event_id: int | None, date_from: datetime) -> list[ZoneSales]:
        rows = await self.db.fetchall(q.ZONE_SEATS, event_id=event_id, date_from=date_from)
        return [_zone(row) for row in rows]

    async def recent(self, query: RecentSalesQuery, *, now: float | None = None) -> RecentSales:
        size = query.bucket_seconds
        newest = int((time.time() if now is None else now) // size)
        count = max(1, -(-query.minutes * 60 // size))  # whole buckets covering the minutes
        first = newest - count + 1
        rows = await self.db.fetchall(
            q.RECENT_TICKETS,
            bucket_seconds=size,
            date_from=datetime.fromtimestamp(first * size, UTC),
        )
        tickets = [0] * count
        for row in rows:
            index = int(row["bucket"]) - first
            if 0 <= index < count:  # a ticket stamped ahead of this clock: not yet
                tickets[index] += row["tickets"]
        return RecentSales(bucket_seconds=size, first_bucket=first, tickets=tickets)


def _zone(row: Row) -> ZoneSales:
    return ZoneSales(
        event_id=row["event_id"],
        zone=row["zone"],
        name=row["name"],
        seats=row["seats"],
        free=row["free"],
        held=row["held"],
        sold=row["sold"],
        takings=Decimal(0),
    )
