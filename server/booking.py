"""Booking and cancelling seats: the rules of who may do what, in one place.

Each operation is one statement (see ``queries.BOOK`` and ``queries.CANCEL``); this module
turns their answers into results or clear errors.
"""

from __future__ import annotations

from common.models import BookingCreate, BookingQuery

from . import queries as q
from .config import Config
from .db import Database, Row
from .envelope import Conflict, Invalid, NotFound
from .security import Principal


class Bookings:
    def __init__(self, db: Database, config: Config) -> None:
        self.db = db
        self.max_quantity = config.max_tickets_per_booking

    async def book(self, who: Principal, req: BookingCreate) -> Row:
        if req.quantity > self.max_quantity:
            raise Invalid.field("quantity", f"at most {self.max_quantity} tickets per booking")
        row = await self.db.fetchone(
            q.BOOK,
            event_id=req.event_id,
            user_id=who.user_id,
            quantity=req.quantity,
            customer_name=req.customer_name,
        )
        assert row is not None  # the statement always answers one row
        if row["id"] is not None:
            return row
        if row["found_event"] is None:
            raise NotFound(f"Event {req.event_id} not found")
        if row["started"]:
            raise Conflict("The event has already started; it can no longer be booked")
        left = row["seats_left"]
        raise Conflict(
            f"Not enough seats: {left} left" if left else "Sold out",
            data={"available_seats": left},
        )

    async def cancel(self, who: Principal, booking_id: int) -> Row:
        row = await self.db.fetchone(
            q.CANCEL, booking_id=booking_id, user_id=who.user_id, staff=who.is_staff
        )
        assert row is not None
        if row["id"] is not None:
            return row
        if row["owner_id"] is None or not (who.is_staff or row["owner_id"] == who.user_id):
            raise NotFound(f"Booking {booking_id} not found")
        # "confirmed" here means another request cancelled it while this one waited.
        status = "cancelled" if row["status_before"] == "confirmed" else row["status_before"]
        raise Conflict(f"The booking is already {status}")

    async def get(self, who: Principal, booking_id: int) -> Row:
        row = await self.db.fetchone(q.GET_BOOKING, booking_id=booking_id)
        # Someone else's booking is "not found", so ids reveal nothing.
        if row is None or not (who.is_staff or row["user_id"] == who.user_id):
            raise NotFound(f"Booking {booking_id} not found")
        return row

    async def list_own(self, who: Principal, query: BookingQuery) -> list[Row]:
        return await self.db.fetchall(q.LIST_USER_BOOKINGS, user_id=who.user_id, **_filters(query))

    async def list_all(self, query: BookingQuery) -> list[Row]:
        return await self.db.fetchall(q.LIST_ALL_BOOKINGS, **_filters(query))

    async def list_for_event(self, event_id: int, query: BookingQuery) -> list[Row]:
        rows = await self.db.fetchall(q.LIST_EVENT_BOOKINGS, event_id=event_id, **_filters(query))
        if not rows:
            exists = await self.db.fetchone(q.EVENT_EXISTS, event_id=event_id)
            if not (exists and exists["exists"]):
                raise NotFound(f"Event {event_id} not found")
        return rows


def _filters(query: BookingQuery) -> dict[str, object]:
    return {**query.model_dump(exclude={"customer"}), "pattern": q.contains(query.customer)}
