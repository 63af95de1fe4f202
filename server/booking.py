"""Orders (a booking is an order of one line): the rules of who may do what, in one place.

Each change is one call of an order function of migration 0010 (see ``queries.bookings``);
this module builds their requests and turns their answers into results or clear errors.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC
from decimal import Decimal
from typing import TYPE_CHECKING, Any, cast

import psycopg2.errors

from common.models import (
    BookingConfirm,
    BookingCreate,
    BookingQuery,
    CheckIn,
    OrderCreate,
    OrderLine,
    TicketReturn,
)

from . import queries as q
from .combining import Combiner
from .config import Config
from .db import Database, Query, Row, T, answer_json
from .envelope import (
    Conflict,
    Forbidden,
    Invalid,
    NotFound,
    ServiceUnavailable,
    connection_lost,
)
from .security import Principal

if TYPE_CHECKING:
    from .metrics import Metrics


# The SQLSTATE of a refusal an order function found after writing (boxoffice_abort).
REFUSED = "BX409"


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
        self._combined: Combiner[int, str, q.BookOutcome] = Combiner(
            self._place_batch, max_batch=config.combine_orders
        )
        # Orders being placed now: while there are any, webhook deliveries wait a little.
        self.placing = 0

    @property
    def waiting(self) -> int:
        """Orders waiting for their event's statement in flight (to go together next)."""
        return self._combined.waiting

    async def close(self) -> None:
        """Finish the orders in flight (before the pool closes)."""
        await self._combined.close()

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

    # --- the order functions ----------------------------------------------------------

    async def book(self, who: Principal, req: BookingCreate) -> q.BookOutcome:
        """A booking: an order of one line of the event's default type."""
        order = OrderCreate(
            event_id=req.event_id,
            lines=[OrderLine(quantity=req.quantity)],
            customer_name=req.customer_name,
            payment_method=req.payment_method,
            hold=req.hold,
        )
        return await self.place(who, order, count_field="quantity", with_tickets=False)

    async def place(
        self,
        who: Principal,
        req: OrderCreate,
        *,
        count_field: str = "lines",
        with_tickets: bool = True,
    ) -> q.BookOutcome:
        """Place an order: every line gets its tickets (and seats) or nothing changes;
        the answer carries the order's tickets ``with_tickets``."""
        self._staff_fields(who, customer_name=req.customer_name, payment_method=req.payment_method)
        lines = req.resolved_lines()
        count = sum(line.quantity or len(line.seat_ids or ()) for line in lines)
        if count > self.max_quantity:
            self._count("bookings", "refused_too_many")
            raise Invalid.field(count_field, f"at most {self.max_quantity} tickets per order")
        reserve = not self.confirms_priced(who)
        best = req.best_available
        order = _json(
            event_id=req.event_id,
            user_id=who.user_id,
            staff=who.is_staff,
            lines=[
                {"type": line.ticket_type_id, "quantity": line.quantity, "seats": line.seat_ids}
                for line in lines
            ],
            best={"zone": best.zone, "together": best.together} if best else None,
            customer_name=req.customer_name,
            payment_method=req.payment_method,
            hold=req.hold,
            reserve=reserve,
            # Users are limited in the seats they hold: their order can only be a hold
            # when asked for or when it reserves.
            hold_cap=self.max_held_seats if not who.is_staff and (req.hold or reserve) else None,
            hold_seconds=self.hold_seconds,
            tickets=with_tickets,
            **who.audit(),
        )
        self.placing += 1
        try:
            if self.db.in_session:
                # An Idempotency-Key's order commits with its key's record: alone.
                row = await self._place_alone(order)
            else:
                row = await self._combined.submit(req.event_id, order)
                if row.get("refused") == "retry":
                    row = await self._place_alone(order)
        finally:
            self.placing -= 1
        if row.get("refused") is None:
            held = row["status"] == "pending"
            if self.metrics is not None:
                self.metrics.bookings.labels("held" if held else "created").inc()
                if not held:
                    self.metrics.seats_sold.inc(row["quantity"] or 0)
            return row
        raise self._placing_refused(row, req, count_field)

    async def _place_batch(self, event_id: int, orders: list[str]) -> list[q.BookOutcome]:
        """Orders of one event (JSON texts) placed by one statement, each all or nothing.
        "retry": placing it needed to wait for a lock, which an order in a batch must not
        (0012_combined_orders.sql), or the whole statement failed; the caller places it
        again alone, so none is refused that alone would have been placed."""
        if self.metrics is not None:
            self.metrics.order_batches.observe(len(orders))
        if len(orders) == 1:
            return [await self._place_alone(orders[0])]
        try:
            answered = await self.db.fetchone(q.PLACE_ORDERS, reqs=f"[{','.join(orders)}]")
        except psycopg2.Error as exc:
            if connection_lost(exc):
                # It may have committed before the answer was lost: placing each order again
                # could place it twice. Every order of the batch is answered 503 instead.
                raise
            return [{"refused": "retry"}] * len(orders)
        return answer_json(answered, list[q.BookOutcome])

    async def _place_alone(self, order: str) -> q.BookOutcome:
        """One order placed by a statement of its own, waiting for every lock it needs."""
        try:
            answered = await self.db.fetchone(q.PLACE_ORDERS, reqs=f"[{order}]")
        except psycopg2.errors.DeadlockDetected:
            # A seated order holds its seats while it waits for the event: an edit or
            # delete of the event waiting for those seats is a deadlock PostgreSQL breaks.
            return {"refused": "busy"}
        except psycopg2.errors.ForeignKeyViolation:
            # The event or a ticket type was deleted while this order was placed.
            return {"refused": "changed"}
        except psycopg2.Error as exc:
            # A refusal found after writing, rolled back (see boxoffice_abort).
            if exc.pgcode != REFUSED:
                raise
            return answer_json({"result": exc.diag.message_primary}, q.BookOutcome)
        return answer_json(answered, list[q.BookOutcome])[0]

    def _placing_refused(self, row: q.BookOutcome, req: OrderCreate, count_field: str) -> Exception:
        """The error that says why an order was refused, counted by reason."""
        reason = row["refused"]
        outcome = {
            "not_found": "refused_not_found",
            "started": "refused_started",
            "hold_limit": "refused_hold_limit",
            "sold_out": "refused_sold_out",
            "no_block": "refused_sold_out",
            "seats_taken": "refused_seats_taken",
            "quota": "refused_quota",
            "busy": "refused_busy",
            "changed": "refused_changed",
            "price_changed": "refused_changed",
        }.get(reason, "refused_invalid")
        self._count("bookings", outcome)
        line = f"lines.{row.get('line', 0)}.ticket_type_id"
        if reason == "not_found":
            return NotFound(f"Event {req.event_id} not found")
        if reason == "started":
            return Conflict("The event has already started; it can no longer be booked")
        if reason == "price_changed":
            return Conflict("The event's price changed just now: look at it again and retry")
        if reason == "changed":
            return Conflict("The event or its ticket types changed just now: look again and retry")
        if reason == "busy":
            return ServiceUnavailable("The event is being changed right now: retry in a moment")
        if reason == "hold_limit":
            held = row["held_seats"]
            return Conflict(
                f"You already hold {held} of at most {self.max_held_seats} seats: "
                "pay for or cancel a hold first",
                data={"held_seats": held, "max_held_seats": self.max_held_seats},
            )
        if reason == "sold_out":
            left = row["available_seats"]
            return Conflict(
                f"Not enough seats: {left} left" if left else "Sold out",
                data={"available_seats": left},
            )
        if reason == "no_block":
            largest = row["largest_block"]
            return Conflict(
                f"No {_plural(self._count_of(req), 'seat')} together: the largest block "
                f"still free is {largest}",
                data={"largest_block": largest},
            )
        if reason == "seats_taken":
            seats = row["seat_ids"]
            return Conflict(
                f"{_plural(len(seats), 'seat')} already taken: {_ids(seats)}",
                data={"seat_ids": seats},
            )
        if reason == "quota":
            left = row["left"]
            return Conflict(
                f"Only {left} {row['name']} {'ticket' if left == 1 else 'tickets'} left",
                data={"ticket_type_id": row["ticket_type_id"], "left": left},
            )
        if reason == "staff_only":
            return Forbidden.fields([(line, f"{row['name']} tickets are sold by staff only")])
        if reason == "unknown_seats":
            return Invalid(
                [("seat_ids", f"not seats of this event: {_ids(row['seat_ids'])}")],
                message=f"Not seats of event {req.event_id}: {_ids(row['seat_ids'])}",
            ).with_data(seat_ids=row["seat_ids"])
        if reason == "unknown_type":
            return Invalid.field(line, "not a ticket type of this event")
        if reason == "off_sale":
            return Invalid.field(line, f"{row['name']} tickets are not on sale")
        if reason == "not_seated":
            return Invalid.field(
                f"lines.{row['line']}.seat_ids",
                "this event is general admission: it has no seats to pick",
            )
        return Invalid.field(count_field, "an order needs at least one ticket")

    @staticmethod
    def _count_of(req: OrderCreate) -> int:
        return sum(line.quantity or 0 for line in req.resolved_lines())

    async def cancel(
        self, who: Principal, booking_id: int, *, override: bool = False
    ) -> q.CancelOutcome:
        self._override(who, override, "cancellations")
        row = await self._call(
            q.CANCEL_ORDER,
            q.CancelOutcome,
            booking_id=booking_id,
            user_id=who.user_id,
            staff=who.is_staff,
            override=override,
            **who.audit(),
        )
        if row["id"] is not None:
            self._count("cancellations", "cancelled")
            return row
        self._ensure_visible(who, row["owner_id"], booking_id, "cancellations")
        status = row["status_before"]
        if status in q.ACTIVE_STATUSES and (row["admitted_at"] or row["started"]):
            self._count("cancellations", "refused_used")
            raise _used(row, who)
        self._count("cancellations", "already_cancelled")
        raise Conflict(f"The booking is already {status}")

    async def return_tickets(
        self, who: Principal, booking_id: int, req: TicketReturn
    ) -> q.CancelOutcome:
        """Give back some tickets of an order (all of them cancels it), refunding a sale's."""
        self._staff_fields(who, payment_method=req.payment_method)
        self._override(who, req.override, "returns")
        row = await self._call(
            q.RETURN_TICKETS,
            q.CancelOutcome,
            booking_id=booking_id,
            ticket_ids=req.ticket_ids,
            user_id=who.user_id,
            staff=who.is_staff,
            override=req.override,
            payment_method=req.payment_method,
            **who.audit(),
        )
        if row["id"] is not None:
            self._count("returns", "returned")
            return row
        self._ensure_visible(who, row["owner_id"], booking_id, "returns")
        reason = row.get("refused")
        self._count("returns", f"refused_{reason or 'inactive'}")
        if reason == "unknown_tickets":
            ids = row["ticket_ids"]
            raise Invalid(
                [("ticket_ids", f"not tickets of order {booking_id}: {_ids(ids)}")],
                message=f"Not tickets of order {booking_id}: {_ids(ids)}",
            ).with_data(ticket_ids=ids)
        if reason == "already_returned":
            ids = row["ticket_ids"]
            raise Conflict(
                f"Already given back: {_plural(len(ids), 'ticket')} {_ids(ids)}",
                data={"ticket_ids": ids},
            )
        if reason in ("admitted", "started"):
            raise _used(row, who, ticket_ids=row.get("ticket_ids"))
        raise Conflict(f"The order is {row['status_before']}: nothing to return")

    async def confirm(
        self, who: Principal, booking_id: int, req: BookingConfirm
    ) -> q.ConfirmOutcome:
        self._staff_fields(who, payment_method=req.payment_method)
        row = await self._call(
            q.CONFIRM_ORDER,
            q.ConfirmOutcome,
            booking_id=booking_id,
            user_id=who.user_id,
            staff=who.is_staff,
            confirm_priced=self.confirms_priced(who),
            payment_method=req.payment_method,
            **who.audit(),
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
        """Admit a ticket (or an order's tickets not yet in) once; a second scan says when
        and where it was first admitted."""
        row = await self._call(
            q.CHECK_IN,
            q.CheckInOutcome,
            code=req.code,
            gate=req.gate,
            user_id=who.user_id,
            **who.audit(),
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
        status = row["status_before"]
        if status == "returned":
            raise Conflict("Not admitted: the ticket was returned")
        raise Conflict(f"Not admitted: the booking is {status}")

    async def expire_holds(self, batch: int = 500) -> int:
        """Release the seats of lapsed holds; returns how many holds expired."""
        total = 0
        while True:
            row = answer_json(await self.db.fetchone(q.EXPIRE_HOLDS, batch=batch), q.ExpireOutcome)
            expired = row["expired"]
            total += expired
            if expired and self.metrics is not None:
                self.metrics.holds_expired.inc(expired)
            if expired < batch:
                return total

    async def get_order(self, who: Principal, booking_id: int) -> Row:
        """An order with its tickets (and lines, summed from them)."""
        row = await self.get(who, booking_id)
        tickets = answer_json(await self.db.fetchone(q.ORDER_TICKETS, booking_id=booking_id), list)
        return {**row, "tickets": tickets, "lines": order_lines(tickets)}

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

    async def _call(self, query: Query, outcome: type[T], **req: Any) -> T:
        """One call of an order function with ``req`` as its JSON request."""
        return answer_json(await self.db.fetchone(query, req=_json(**req)), outcome)

    def _override(self, who: Principal, override: bool, counter: str) -> None:
        """Only staff override the rule on used tickets (admitted, or the event started)."""
        if override and not who.is_staff:
            self._count(counter, "forbidden")
            raise Forbidden.fields([("override", "only staff may override")])

    def _count(self, counter: str, outcome: str) -> None:
        if self.metrics is not None:
            getattr(self.metrics, counter).labels(outcome).inc()


def order_lines(tickets: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """An order's lines: its tickets summed per type, zone and price, in ticket order."""
    lines: dict[tuple[Any, ...], dict[str, Any]] = {}
    for t in tickets:
        key = (t["ticket_type_id"], t["zone"], t["price"])
        line = lines.setdefault(
            key,
            {
                "ticket_type_id": t["ticket_type_id"],
                "ticket_type": t["ticket_type"],
                "zone": t["zone"],
                "price": t["price"],
                "quantity": 0,
                "returned": 0,
                "amount": Decimal(0),
            },
        )
        if t["released_at"] is None:
            line["quantity"] += 1
            line["amount"] += t["price"]
        else:
            line["returned"] += 1
    return list(lines.values())


def with_lines(row: Mapping[str, Any]) -> dict[str, Any]:
    """An order function's answer with the lines of its tickets."""
    return {**row, "lines": order_lines(row.get("tickets", []))}


def _used(row: Mapping[str, Any], who: Principal, **data: Any) -> Conflict:
    """Tickets that were used, or could have been: admitted, or their event started."""
    why = "a ticket was already admitted" if row["admitted_at"] else "the event started"
    if row.get("refused") == "started":
        why = "the event started"
    hint = "staff can override" if who.is_staff else "ask at the box office"
    return Conflict(
        f"The tickets cannot be given back: {why} ({hint})",
        data={
            "admitted": row["admitted_at"] is not None,
            "started": row["started"],
            **{k: v for k, v in data.items() if v is not None},
        },
    )


def _json(**req: Any) -> str:
    """An order function's request, as the JSON it takes."""
    return json.dumps(req, default=str)


def _ids(ids: list[int]) -> str:
    return ", ".join(map(str, ids))


def _plural(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _filters(query: BookingQuery) -> dict[str, object]:
    return {**query.model_dump(exclude={"customer"}), "pattern": q.contains(query.customer)}
