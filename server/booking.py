"""Booking and cancelling seats: the rules of who may do what, in one place.

Each operation is one statement (see ``queries.BOOK`` and ``queries.CANCEL``); this module
turns their answers into results or clear errors.
"""

from __future__ import annotations

from datetime import UTC
from typing import TYPE_CHECKING

from common.models import BookingConfirm, BookingCreate, BookingQuery, CheckIn

from . import queries as q
from .config import Config
from .db import Database, Row
from .envelope import Conflict, Invalid, NotFound
from .security import Principal

if TYPE_CHECKING:
    from .metrics import Metrics


class Bookings:
    def __init__(self, db: Database, config: Config, metrics: Metrics | None = None) -> None:
        self.db = db
        # Outcomes are counted here, after the statement: no extra database work.
        self.metrics = metrics
        self.max_quantity = config.max_tickets_per_booking
        self.hold_seconds = config.hold_seconds

    async def book(self, who: Principal, req: BookingCreate) -> Row:
        if req.quantity > self.max_quantity:
            self._count("bookings", "refused_too_many")
            raise Invalid.field("quantity", f"at most {self.max_quantity} tickets per booking")
        row = await self.db.fetchone(
            q.BOOK,
            event_id=req.event_id,
            user_id=who.user_id,
            quantity=req.quantity,
            customer_name=req.customer_name,
            payment_method=req.payment_method,
            hold=req.hold,
            hold_seconds=self.hold_seconds,
            **who.audit(),
        )
        assert row is not None  # the statement always answers one row
        if row["id"] is not None:
            if self.metrics is not None:
                self.metrics.bookings.labels("held" if req.hold else "created").inc()
                if not req.hold:
                    self.metrics.seats_sold.inc(req.quantity)
            return row
        if row["found_event"] is None:
            self._count("bookings", "refused_not_found")
            raise NotFound(f"Event {req.event_id} not found")
        if row["started"]:
            self._count("bookings", "refused_started")
            raise Conflict("The event has already started; it can no longer be booked")
        left = row["seats_left"]
        self._count("bookings", "refused_sold_out")
        raise Conflict(
            f"Not enough seats: {left} left" if left else "Sold out",
            data={"available_seats": left},
        )

    async def cancel(self, who: Principal, booking_id: int) -> Row:
        row = await self.db.fetchone(
            q.CANCEL, booking_id=booking_id, user_id=who.user_id, staff=who.is_staff, **who.audit()
        )
        assert row is not None
        if row["id"] is not None:
            self._count("cancellations", "cancelled")
            return row
        if row["owner_id"] is None or not (who.is_staff or row["owner_id"] == who.user_id):
            self._count("cancellations", "not_found")
            raise NotFound(f"Booking {booking_id} not found")
        self._count("cancellations", "already_cancelled")
        # Still active here means another request cancelled it while this one waited.
        status = row["status_before"]
        status = "cancelled" if status in q.ACTIVE_STATUSES else status
        raise Conflict(f"The booking is already {status}")

    async def confirm(self, who: Principal, booking_id: int, req: BookingConfirm) -> Row:
        row = await self.db.fetchone(
            q.CONFIRM,
            booking_id=booking_id,
            user_id=who.user_id,
            staff=who.is_staff,
            payment_method=req.payment_method,
            **who.audit(),
        )
        assert row is not None
        if row["id"] is not None:
            if self.metrics is not None:
                self.metrics.confirmations.labels("confirmed").inc()
                self.metrics.seats_sold.inc(row["quantity"])
            return row
        if row["owner_id"] is None or not (who.is_staff or row["owner_id"] == who.user_id):
            self._count("confirmations", "not_found")
            raise NotFound(f"Booking {booking_id} not found")
        status = row["status_before"]
        if status == "expired" or (status == "pending" and row["lapsed"]):
            self._count("confirmations", "expired")
            raise Conflict("The hold expired and its seats were released; book again")
        self._count("confirmations", "refused")
        if status == "confirmed":
            raise Conflict("The booking is already confirmed")
        raise Conflict(f"The booking is {status}; only a pending hold can be confirmed")

    async def check_in(self, who: Principal, req: CheckIn) -> Row:
        """Admit a ticket once; a second scan says when and where it was first admitted."""
        row = await self.db.fetchone(
            q.CHECK_IN, code=req.code, gate=req.gate, user_id=who.user_id, **who.audit()
        )
        assert row is not None
        if row["id"] is not None:
            self._count("checkins", "admitted")
            return row
        if row["known_id"] is None:
            self._count("checkins", "unknown_code")
            raise NotFound("Unknown ticket code: not a ticket of this box office")
        if row["first_checked_in_at"] is not None:
            self._count("checkins", "already_admitted")
            at = row["first_checked_in_at"]
            where = f" at {row['first_gate']}" if row["first_gate"] else ""
            raise Conflict(
                f"Already admitted {at.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC{where} "
                f"by {row['first_checked_in_by']}",
                data={
                    "checked_in_at": at.isoformat(),
                    "gate": row["first_gate"],
                    "checked_in_by": row["first_checked_in_by"],
                },
            )
        self._count("checkins", "not_admissible")
        raise Conflict(f"Not admitted: the booking is {row['status_before']}")

    async def expire_holds(self, batch: int = 500) -> int:
        """Release the seats of lapsed holds; returns how many holds expired."""
        total = 0
        while True:
            row = await self.db.fetchone(q.EXPIRE_HOLDS, batch=batch)
            expired = row["expired"] if row else 0
            total += expired
            if expired and self.metrics is not None:
                self.metrics.holds_expired.inc(expired)
            if expired < batch:
                return total

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

    def _count(self, counter: str, outcome: str) -> None:
        if self.metrics is not None:
            getattr(self.metrics, counter).labels(outcome).inc()


def _filters(query: BookingQuery) -> dict[str, object]:
    return {**query.model_dump(exclude={"customer"}), "pattern": q.contains(query.customer)}
