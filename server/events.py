"""Events: listing, and the admin's create, edit and delete.

Each change writes its audit record (event.create, event.update, event.delete) in the
statement that makes it, signed by ``by``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, NoReturn

import psycopg2.errors

from common.models import EventQuery

from . import queries as q
from .audit import Signs
from .db import Database, Row, Statements, answer
from .envelope import Conflict, Invalid, NotFound, ServiceUnavailable

# Columns that may not be set to null by a PATCH.
REQUIRED_FIELDS = frozenset({"title", "date", "total_seats", "price"})

BOTH = "a seated event's seats are its venue's plan: give total_seats or venue_id, not both"


def admission(fields: dict[str, Any]) -> dict[str, Any]:
    """A whole event's fields (create, PUT): general admission with total_seats, or seated
    with venue_id (its total is the plan's, total_seats left out); a 422 otherwise."""
    venue_id, total = fields.get("venue_id"), fields.get("total_seats")
    if venue_id is not None and total is not None:
        raise Invalid.field("total_seats", BOTH)
    if venue_id is None and total is None:
        raise Invalid.field("total_seats", "required for general admission (or give venue_id)")
    if venue_id is not None:
        return {k: v for k, v in fields.items() if k != "total_seats"}
    return {**fields, "venue_id": None}


async def seated_venue(tx: Statements, venue_id: int) -> None:
    """Check that an event can be seated on ``venue_id`` (a venue with seats: a 422 naming
    venue_id otherwise) and hold its plan still until the transaction ends."""
    venue = await tx.fetchone(q.SEATED_VENUE, venue_id=venue_id)
    if venue is None:
        raise Invalid.field("venue_id", f"no venue {venue_id}")
    if not venue["seat_count"]:
        raise Invalid.field("venue_id", f"venue {venue_id} has no seats")


def refused(current: Row) -> NoReturn:
    """Why an update of ``current`` changed nothing: total_seats on a seated event (422),
    or below the seats sold (409)."""
    if current["venue_id"] is not None:
        raise Invalid.field("total_seats", "a seated event's seats are its venue's plan")
    sold = current["total_seats"] - current["available_seats"]
    raise Conflict(
        f"{sold} seats are already sold; total_seats cannot be less than that",
        data={"errors": [{"field": "total_seats", "message": f"must be at least {sold}"}]},
    )


class Events:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def list(self, query: EventQuery, *, available_only: bool = False) -> list[Row]:
        return await self.db.fetchall(
            q.LIST_EVENTS,
            pattern=q.contains(query.q),
            date_from=query.date_from,
            date_to=query.date_to,
            upcoming=query.upcoming or available_only,
            available_only=available_only,
            skip=query.skip,
            limit=query.limit,
        )

    async def next_start(self) -> datetime | None:
        """When the next event starts (of all events not started yet), if any."""
        row = await self.db.fetchone(q.NEXT_START)
        return row["date"] if row else None

    async def get(self, event_id: int) -> Row:
        row = await self.db.fetchone(q.GET_EVENT, event_id=event_id)
        if row is None:
            raise NotFound(f"Event {event_id} not found")
        return row

    async def create(self, fields: dict[str, Any], *, by: Signs) -> Row:
        fields = {"total_seats": None, **admission(fields)}
        if fields["venue_id"] is None:
            return answer(await self.db.fetchone(q.INSERT_EVENT, **fields, **by.audit()), Row)
        async with self.db.transaction() as tx:
            await seated_venue(tx, fields["venue_id"])
            return answer(await tx.fetchone(q.INSERT_EVENT, **fields, **by.audit()), Row)

    async def replace(self, event_id: int, fields: dict[str, Any], *, by: Signs) -> Row:
        """PUT: every field given, general admission or seated as for a new event."""
        return await self.update(event_id, admission(fields), by=by)

    async def update(self, event_id: int, fields: dict[str, Any], *, by: Signs) -> Row:
        nulls = sorted(REQUIRED_FIELDS & {k for k, v in fields.items() if v is None})
        if nulls:
            raise Invalid([(name, "cannot be null") for name in nulls])
        if fields.get("venue_id") is not None and fields.get("total_seats") is not None:
            raise Invalid.field("total_seats", BOTH)
        if not fields:  # nothing to change, nothing to record
            return await self.get(event_id)
        if "venue_id" in fields:
            current = await self.get(event_id)
            if fields["venue_id"] != current["venue_id"]:
                return await self._move(event_id, fields, by=by)
            fields = {k: v for k, v in fields.items() if k != "venue_id"}
            if not fields:
                return current
        row = await self.db.fetchone(
            q.update_event(frozenset(fields)), event_id=event_id, **fields, **by.audit()
        )
        if row is not None:
            return row
        refused(await self.get(event_id))  # 404 if it is gone

    async def _move(self, event_id: int, fields: dict[str, Any], *, by: Signs) -> Row:
        """Seat the event on another venue's plan, or make it general admission (venue_id
        null), while it has no tickets: its inventory is rebuilt from the new plan, in one
        transaction with the change, and seat maps are told to re-read it."""
        venue_id = fields["venue_id"]
        async with self.db.transaction() as tx:
            await tx.fetchone(q.LOCK_EVENT_SEATS, event_id=event_id)
            if await tx.fetchone(q.GET_EVENT_FOR_UPDATE, event_id=event_id) is None:
                raise NotFound(f"Event {event_id} not found")
            in_use = await tx.fetchone(q.EVENT_HAS_TICKETS, event_id=event_id)
            if in_use and in_use["exists"]:
                raise Conflict(
                    "The event has tickets; venue_id can change only before any is sold",
                    data={"errors": [{"field": "venue_id", "message": "the event has tickets"}]},
                )
            if venue_id is not None:
                await seated_venue(tx, venue_id)
            stocked = answer(
                await tx.fetchone(q.RESTOCK_EVENT, event_id=event_id, venue_id=venue_id), Row
            )
            if venue_id is not None:
                fields = {**fields, "total_seats": stocked["seats"]}
            row = await tx.fetchone(
                q.update_event(frozenset(fields)), event_id=event_id, **fields, **by.audit()
            )
            if row is None:  # a total below the seats sold (none: no tickets) or a new row
                refused(answer(await tx.fetchone(q.GET_EVENT, event_id=event_id), Row))
            await tx.execute(q.SEATS_RESYNC, event_id=event_id, version=row["version"])
        return row

    async def delete(self, event_id: int, *, by: Signs) -> None:
        # Lock the event first: a booking racing this delete either commits before the
        # check (and blocks it) or finds the event gone.
        try:
            async with self.db.transaction() as tx:
                if await tx.fetchone(q.GET_EVENT_FOR_UPDATE, event_id=event_id) is None:
                    raise NotFound(f"Event {event_id} not found")
                active = await tx.fetchone(q.HAS_ACTIVE_BOOKINGS, event_id=event_id)
                if active and active["exists"]:
                    raise Conflict("The event has active bookings; cancel them before deleting it")
                await tx.execute(q.DELETE_EVENT, event_id=event_id, **by.audit())
        except psycopg2.errors.DeadlockDetected as exc:
            # A seated order in flight holds seats of the event and waits for its row.
            raise ServiceUnavailable("An order of the event is in flight: retry") from exc
