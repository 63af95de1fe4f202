"""Booking and cancelling seats: the rules of who may do what, in one place.

Each operation is one statement (see ``queries.BOOK`` and ``queries.CANCEL``); this module
turns their answers into results or clear errors.
"""

from __future__ import annotations

from datetime import UTC
from typing import TYPE_CHECKING, cast

from common.models import BookingConfirm, BookingCreate, BookingQuery, CheckIn

from . import queries as q
from .config import Config
from .db import Database, Row, answer
from .envelope import Conflict, Forbidden, Invalid, NotFound
from .security import Principal

if TYPE_CHECKING:
    from .metrics import Metrics


def ensure_visible(who: Principal, owner_id: int | None, booking_id: int) -> None:
    """Someone else's booking is "not found", as is one that does not exist (owner_id
    None), so ids reveal nothing: only its owner and staff see it."""
    if owner_id is None or not (who.is_staff or owner_id == who.user_id):
        raise NotFound(f"Booking {booking_id} not found")


class Bookings:
    def __init__(self, db: Database, config: Config, metrics: Metrics | None = None) -> None:
        self.db = db
        # Outcomes are counted here, after the statement: no extra database work.
        self.metrics = metrics
        self.max_quantity = config.max_tickets_per_booking
        self.hold_seconds = config.hold_seconds
        self.users_confirm = config.user_bookings == "confirm"
        self.max_held_seats = config.max_held_seats

    # --- who may sell ----------------------------------------------------------------

    def confirms_priced(self, who: Principal) -> bool:
        """Whether ``who``'s booking of a priced event is a sale (else a reservation, a hold
        paid at the counter or through a partner), and whether they may confirm a hold of
        a priced event: staff, who take the money, or users where they pay elsewhere."""
        return who.is_staff or self.users_confirm

    def _staff_fields(self, who: Principal, **sent: object) -> None:
        """Refuse a user the fields only staff set: who the customer is, how they paid."""
        if who.is_staff:
            return
        named = [(name, "only staff set this field") for name, value in sent.items() if value]
        if named:
            self._count("bookings", "refused_staff_field")
            raise Forbidden.fields(named)

    # --- the statements ----------------------------------------------------------------

    async def book(self, who: Principal, req: BookingCreate) -> q.BookOutcome:
        self._staff_fields(who, customer_name=req.customer_name, payment_method=req.payment_method)
        if req.quantity > self.max_quantity:
            self._count("bookings", "refused_too_many")
            raise Invalid.field("quantity", f"at most {self.max_quantity} tickets per booking")
        reserve = not self.confirms_priced(who)
        # Users are limited in the seats they hold; their booking can only be a hold when
        # asked for or when it reserves.
        limited = not who.is_staff and (req.hold or reserve)
        row = answer(
            await self.db.fetchone(
                q.BOOK_LIMITED if limited else q.BOOK,
                event_id=req.event_id,
                user_id=who.user_id,
                quantity=req.quantity,
                customer_name=req.customer_name,
                payment_method=req.payment_method,
                hold=req.hold,
                reserve=reserve,
                hold_cap=self.max_held_seats if limited else None,
                hold_seconds=self.hold_seconds,
                **who.audit(),
            ),
            q.BookOutcome,
        )
        if row["id"] is not None:
            held = row["status"] == "pending"
            if self.metrics is not None:
                self.metrics.bookings.labels("held" if held else "created").inc()
                if not held:
                    self.metrics.seats_sold.inc(req.quantity)
            return row
        if row["found_event"] is None:
            self._count("bookings", "refused_not_found")
            raise NotFound(f"Event {req.event_id} not found")
        if row["started"]:
            self._count("bookings", "refused_started")
            raise Conflict("The event has already started; it can no longer be booked")
        left = row["seats_left"] or 0
        if limited and row["would_hold"] and left >= req.quantity:
            self._count("bookings", "refused_hold_limit")
            held_seats = row["held_seats"]
            raise Conflict(
                f"You already hold {held_seats} of at most {self.max_held_seats} seats: "
                "pay for or cancel a hold first",
                data={"held_seats": held_seats, "max_held_seats": self.max_held_seats},
            )
        self._count("bookings", "refused_sold_out")
        raise Conflict(
            f"Not enough seats: {left} left" if left else "Sold out",
            data={"available_seats": left},
        )

    async def cancel(
        self, who: Principal, booking_id: int, *, override: bool = False
    ) -> q.CancelOutcome:
        if override and not who.is_staff:
            self._count("cancellations", "forbidden")
            raise Forbidden.fields([("override", "only staff may override")])
        row = answer(
            await self.db.fetchone(
                q.CANCEL,
                booking_id=booking_id,
                user_id=who.user_id,
                staff=who.is_staff,
                override=override,
                **who.audit(),
            ),
            q.CancelOutcome,
        )
        if row["id"] is not None:
            self._count("cancellations", "cancelled")
            return row
        self._ensure_visible(who, row["owner_id"], booking_id, "cancellations")
        status = row["status_before"]
        if status in q.ACTIVE_STATUSES and (row["admitted_at"] or row["started"]):
            self._count("cancellations", "refused_used")
            why = "its ticket was already admitted" if row["admitted_at"] else "the event started"
            hint = "staff can override" if who.is_staff else "ask at the box office"
            raise Conflict(
                f"The booking cannot be cancelled: {why} ({hint})",
                data={"admitted": row["admitted_at"] is not None, "started": row["started"]},
            )
        self._count("cancellations", "already_cancelled")
        # Still active here means another request cancelled it while this one waited.
        status = "cancelled" if status in q.ACTIVE_STATUSES else status
        raise Conflict(f"The booking is already {status}")

    async def confirm(
        self, who: Principal, booking_id: int, req: BookingConfirm
    ) -> q.ConfirmOutcome:
        self._staff_fields(who, payment_method=req.payment_method)
        row = answer(
            await self.db.fetchone(
                q.CONFIRM,
                booking_id=booking_id,
                user_id=who.user_id,
                staff=who.is_staff,
                confirm_priced=self.confirms_priced(who),
                payment_method=req.payment_method,
                **who.audit(),
            ),
            q.ConfirmOutcome,
        )
        if row["id"] is not None:
            if self.metrics is not None:
                self.metrics.confirmations.labels("confirmed").inc()
                self.metrics.seats_sold.inc(row["quantity"] or 0)
            return row
        self._ensure_visible(who, row["owner_id"], booking_id, "confirmations")
        status = row["status_before"]
        if status == "expired" or (status == "pending" and row["lapsed"]):
            self._count("confirmations", "expired")
            raise Conflict("The hold expired and its seats were released; book again")
        if status == "pending" and row["priced"] and not self.confirms_priced(who):
            self._count("confirmations", "forbidden")
            raise Forbidden(
                "A reservation of a priced event is confirmed when it is paid: at the "
                "counter or through a partner"
            )
        self._count("confirmations", "refused")
        if status == "confirmed":
            raise Conflict("The booking is already confirmed")
        raise Conflict(f"The booking is {status}; only a pending hold can be confirmed")

    async def check_in(self, who: Principal, req: CheckIn) -> q.CheckInOutcome:
        """Admit a ticket once; a second scan says when and where it was first admitted."""
        row = answer(
            await self.db.fetchone(
                q.CHECK_IN, code=req.code, gate=req.gate, user_id=who.user_id, **who.audit()
            ),
            q.CheckInOutcome,
        )
        if row["id"] is not None:
            self._count("checkins", "admitted")
            return row
        if row["known_id"] is None:
            self._count("checkins", "unknown_code")
            raise NotFound("Unknown ticket code: not a ticket of this box office")
        at = row["first_checked_in_at"]
        if at is not None:
            self._count("checkins", "already_admitted")
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
            row = answer(await self.db.fetchone(q.EXPIRE_HOLDS, batch=batch), q.ExpireOutcome)
            expired = row["expired"]
            total += expired
            if expired and self.metrics is not None:
                self.metrics.holds_expired.inc(expired)
            if expired < batch:
                return total

    async def get(self, who: Principal, booking_id: int) -> Row:
        row = await self.db.fetchone(q.GET_BOOKING, booking_id=booking_id)
        ensure_visible(who, None if row is None else row["user_id"], booking_id)
        return cast(Row, row)  # not None: ensure_visible refused a missing booking

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

    def _ensure_visible(
        self, who: Principal, owner_id: int | None, booking_id: int, counter: str
    ) -> None:
        try:
            ensure_visible(who, owner_id, booking_id)
        except NotFound:
            self._count(counter, "not_found")
            raise

    def _count(self, counter: str, outcome: str) -> None:
        if self.metrics is not None:
            getattr(self.metrics, counter).labels(outcome).inc()


def _filters(query: BookingQuery) -> dict[str, object]:
    return {**query.model_dump(exclude={"customer"}), "pattern": q.contains(query.customer)}
