"""Events: listing, and the admin's create, edit and delete.

Each change writes its audit record (event.create, event.update, event.delete) in the
statement that makes it, signed by ``by``.
"""

from __future__ import annotations

from typing import Any

from common.models import EventQuery

from . import queries as q
from .audit import Signs
from .db import Database, Row, answer
from .envelope import Conflict, Invalid, NotFound

# Columns that may not be set to null by a PATCH.
REQUIRED_FIELDS = frozenset({"title", "date", "total_seats", "price"})


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

    async def get(self, event_id: int) -> Row:
        row = await self.db.fetchone(q.GET_EVENT, event_id=event_id)
        if row is None:
            raise NotFound(f"Event {event_id} not found")
        return row

    async def create(self, fields: dict[str, Any], *, by: Signs) -> Row:
        return answer(await self.db.fetchone(q.INSERT_EVENT, **fields, **by.audit()), Row)

    async def update(self, event_id: int, fields: dict[str, Any], *, by: Signs) -> Row:
        nulls = sorted(REQUIRED_FIELDS & {k for k, v in fields.items() if v is None})
        if nulls:
            raise Invalid([(name, "cannot be null") for name in nulls])
        if not fields:  # nothing to change, nothing to record
            return await self.get(event_id)
        row = await self.db.fetchone(
            q.update_event(frozenset(fields)), event_id=event_id, **fields, **by.audit()
        )
        if row is not None:
            return row
        current = await self.get(event_id)  # 404 if it is gone
        sold = current["total_seats"] - current["available_seats"]
        raise Conflict(
            f"{sold} seats are already sold; total_seats cannot be less than that",
            data={"errors": [{"field": "total_seats", "message": f"must be at least {sold}"}]},
        )

    async def delete(self, event_id: int, *, by: Signs) -> None:
        # Lock the event first: a booking racing this delete either commits before the
        # check (and blocks it) or finds the event gone.
        async with self.db.transaction() as tx:
            if await tx.fetchone(q.GET_EVENT_FOR_UPDATE, event_id=event_id) is None:
                raise NotFound(f"Event {event_id} not found")
            active = await tx.fetchone(q.HAS_ACTIVE_BOOKINGS, event_id=event_id)
            if active and active["exists"]:
                raise Conflict("The event has active bookings; cancel them before deleting it")
            await tx.execute(q.DELETE_EVENT, event_id=event_id, **by.audit())
