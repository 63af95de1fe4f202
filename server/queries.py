"""Every SQL statement the server runs, built with SQLAlchemy Core and compiled once.

The booking and cancellation statements are the heart of Boxoffice: each is a single
statement (one round trip, one implicit transaction) whose row lock on the event and
whose WHERE clause make overselling and double refunds impossible.
"""

from __future__ import annotations

import functools
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    Integer,
    String,
    Text,
    and_,
    bindparam,
    case,
    cast,
    delete,
    exists,
    func,
    insert,
    literal,
    null,
    or_,
    select,
    true,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.sql import ColumnElement

from .db import Query, compiled
from .tables import (
    api_tokens,
    audit_log,
    bookings,
    events,
    idempotency_keys,
    login_failures,
    sessions,
    users,
)

ACTIVE_STATUSES = ("pending", "confirmed")


def _active(status: ColumnElement) -> ColumnElement[bool]:
    """Bookings that hold seats (an OR, not IN, so the statement compiles once)."""
    return or_(*(status == s for s in ACTIVE_STATUSES))


def _param(name: str, type_: Any = None) -> ColumnElement:
    """A named parameter; ``type_`` is a type class or a factory of a type instance."""
    return bindparam(name, type_=type_() if type_ else None)


def _one_row():
    """A one-row FROM so that a statement always answers, even when nothing matched."""
    return select(literal(1).label("one")).subquery("one")


def _record(
    action: str,
    rows: Any,
    details: ColumnElement[Any],
    *,
    event_id: ColumnElement[Any] | None = None,
    user_id: ColumnElement[Any] | None = None,
    actor_id: ColumnElement[Any] | None = None,
    actor: ColumnElement[Any] | None = None,
) -> Any:
    """An INSERT of one audit record per row of ``rows`` (the CTE of a change), signed with
    the actor_id, actor and source parameters unless ``actor_id``/``actor`` say otherwise.
    As a CTE of the statement that makes the change, it commits or rolls back with it."""
    return insert(audit_log).from_select(
        ["actor_id", "actor", "source", "action", "event_id", "user_id", "details"],
        select(
            actor_id if actor_id is not None else _param("actor_id", BigInteger),
            actor if actor is not None else _param("actor", String),
            _param("source", String),
            literal(action),
            event_id if event_id is not None else null(),
            user_id if user_id is not None else null(),
            details,
        ).select_from(rows),
    )


# --- users and sessions ----------------------------------------------------------

USER_COLUMNS = (users.c.id, users.c.username, users.c.role, users.c.created_at)

_new_user = (
    pg_insert(users)
    .values(
        username=_param("username", String),
        password_hash=_param("password_hash", String),
        role=_param("role", String),
    )
    .on_conflict_do_nothing()
    .returning(*USER_COLUMNS)
    .cte("new_user")
)
# No actor given (actor NULL) is a self-registration: the new account signs its record.
_registrant = _param("actor", String).is_(None)
_user_audit = _record(
    "user.create",
    _new_user,
    func.jsonb_build_object("username", _new_user.c.username, "role", _new_user.c.role),
    user_id=_new_user.c.id,
    actor_id=case((_registrant, _new_user.c.id), else_=_param("actor_id", BigInteger)),
    actor=func.coalesce(_param("actor", String), _new_user.c.username),
).cte("user_audit")
# A taken name inserts nothing, and so records nothing.
INSERT_USER = compiled(select(*_new_user.c).add_cte(_user_audit))

GET_USER = compiled(select(*USER_COLUMNS).where(users.c.id == _param("user_id", BigInteger)))

LIST_USERS = compiled(
    select(*USER_COLUMNS)
    .order_by(users.c.id)
    .offset(_param("skip", Integer))
    .limit(_param("limit", Integer))
)

_name = func.lower(_param("username", String))
_one = _one_row()
_lock = login_failures.alias("lock")
# The user (if any) and the lock on the name (if any), in one round trip.
LOGIN_LOOKUP = compiled(
    select(
        users.c.id,
        users.c.username,
        users.c.role,
        users.c.password_hash,
        func.ceil(func.extract("epoch", _lock.c.locked_until - func.now())).label("retry_after"),
    ).select_from(
        _one.outerjoin(users, func.lower(users.c.username) == _name).outerjoin(
            _lock, and_(_lock.c.username == _name, _lock.c.locked_until > func.now())
        )
    )
)

_stale = login_failures.c.first_failed_at < _param("window_start", DateTime)
_count = case((_stale, 1), else_=login_failures.c.failures + 1)
_max_failures = _param("max_failures", Integer)
_locked_until = _param("locked_until", DateTime)
# Count a failed login; a failure outside the window starts a new count, and reaching the
# maximum locks the name until locked_until. One statement, shared by every instance.
RECORD_LOGIN_FAILURE = compiled(
    pg_insert(login_failures)
    .values(
        username=_name,
        failures=1,
        first_failed_at=func.now(),
        locked_until=case((_max_failures <= 1, _locked_until)),
    )
    .on_conflict_do_update(
        index_elements=[login_failures.c.username],
        set_={
            "failures": _count,
            "first_failed_at": case((_stale, func.now()), else_=login_failures.c.first_failed_at),
            "locked_until": case(
                (_count >= _max_failures, _locked_until), else_=login_failures.c.locked_until
            ),
        },
    )
    .returning(login_failures.c.failures, login_failures.c.locked_until)
)

CLEAR_LOGIN_FAILURES = compiled(delete(login_failures).where(login_failures.c.username == _name))

CREATE_SESSION = compiled(
    insert(sessions).values(
        id=_param("session_id"),
        user_id=_param("user_id", BigInteger),
        token_hash=_param("token_hash", String),
        expires_at=_param("expires_at", DateTime),
    )
)

_rotated = (
    update(sessions)
    .where(
        sessions.c.id == _param("session_id"),
        sessions.c.token_hash == _param("old_hash", String),
        sessions.c.revoked_at.is_(None),
        sessions.c.expires_at > func.now(),
    )
    .values(
        token_hash=_param("new_hash", String),
        last_used_at=func.now(),
        expires_at=_param("expires_at", DateTime),
    )
    .returning(sessions.c.user_id)
    .cte("rotated")
)
ROTATE_SESSION = compiled(
    select(users.c.id, users.c.username, users.c.role).join(
        _rotated, users.c.id == _rotated.c.user_id
    )
)

# Used when a refresh token did not rotate: an old secret means it was stolen or replayed.
REVOKE_SESSION = compiled(
    update(sessions)
    .where(sessions.c.id == _param("session_id"), sessions.c.revoked_at.is_(None))
    .values(revoked_at=func.now())
)

LOGOUT_SESSION = compiled(
    update(sessions)
    .where(
        sessions.c.id == _param("session_id"),
        sessions.c.token_hash == _param("token_hash", String),
        sessions.c.revoked_at.is_(None),
    )
    .values(revoked_at=func.now())
    .returning(sessions.c.id)
)


# --- events ------------------------------------------------------------------------

EVENT_COLUMNS = tuple(events.c)

GET_EVENT = compiled(select(events).where(events.c.id == _param("event_id", BigInteger)))

ALL_EVENTS = compiled(select(events).order_by(events.c.date, events.c.id))

EVENTS_BY_ID = compiled(
    select(events).where(events.c.id == func.any(_param("ids", lambda: ARRAY(BigInteger))))
)

GET_EVENT_FOR_UPDATE = compiled(
    select(events).where(events.c.id == _param("event_id", BigInteger)).with_for_update()
)

_pattern = _param("pattern", String)


def contains(text: str | None) -> str | None:
    """An ILIKE pattern matching ``text`` anywhere, its wildcards taken literally."""
    if not text:
        return None
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


# Optional filters are "param IS NULL OR ...": psycopg2 inlines the values, so the planner
# drops the unused ones and one compiled statement serves every combination.
LIST_EVENTS = compiled(
    select(events)
    .where(
        or_(
            _pattern.is_(None),
            events.c.title.ilike(_pattern),
            events.c.venue.ilike(_pattern),
            events.c.description.ilike(_pattern),
        ),
        or_(
            _param("date_from", DateTime).is_(None), events.c.date >= _param("date_from", DateTime)
        ),
        or_(_param("date_to", DateTime).is_(None), events.c.date <= _param("date_to", DateTime)),
        or_(~_param("upcoming", Boolean), events.c.date > func.now()),
        or_(~_param("available_only", Boolean), events.c.available_seats > 0),
    )
    .order_by(events.c.date, events.c.id)
    .offset(_param("skip", Integer))
    .limit(_param("limit", Integer))
)

# The fields an admin sets; their values sign event.create and event.delete records.
EVENT_FIELDS = ("title", "description", "date", "venue", "total_seats", "price")


def _event_details(rows: Any, *extra: str) -> ColumnElement[Any]:
    return func.jsonb_build_object(
        *(arg for name in (*EVENT_FIELDS, *extra) for arg in (name, rows.c[name]))
    )


_new_event = (
    insert(events)
    .values(
        title=_param("title", String),
        description=_param("description", String),
        date=_param("date", DateTime),
        venue=_param("venue", String),
        total_seats=_param("total_seats", Integer),
        available_seats=_param("total_seats", Integer),
        price=_param("price"),
    )
    .returning(*EVENT_COLUMNS)
    .cte("new_event")
)
_create_audit = _record(
    "event.create", _new_event, _event_details(_new_event), event_id=_new_event.c.id
).cte("create_audit")
INSERT_EVENT = compiled(select(*_new_event.c).add_cte(_create_audit))


@functools.cache
def update_event(fields: frozenset[str]) -> Query:
    """UPDATE for the given fields, with its event.update record (compiled once per set of
    fields: at most 64 of them).

    The event is locked and read first ("before"), so the record holds each changed field
    as it was just before and as it is now, and the new values are computed from that
    locked row (as in BOOK). A new total keeps the seats already sold: available moves by
    the same amount, and the WHERE refuses a total below the seats sold, so a concurrent
    booking cannot slip under it.
    """
    before = (
        select(events)
        .where(events.c.id == _param("event_id", BigInteger))
        .with_for_update()
        .cte("before")
    )
    values: dict[str, object] = {
        name: _param(name) for name in fields if name not in ("total_seats",)
    }
    conditions = [events.c.id == before.c.id]
    if "total_seats" in fields:
        new_total = _param("total_seats", Integer)
        values["total_seats"] = new_total
        values["available_seats"] = before.c.available_seats + (new_total - before.c.total_seats)
        conditions.append(before.c.total_seats - before.c.available_seats <= new_total)
    values["version"] = before.c.version + 1
    values["updated_at"] = func.now()
    updated = (
        update(events).where(*conditions).values(values).returning(*EVENT_COLUMNS).cte("updated")
    )

    def changed(row: Any) -> ColumnElement[Any]:
        """``row``'s value of every field that changed, as one JSON object."""
        parts = [
            case(
                (before.c[name].is_distinct_from(updated.c[name]),
                 func.jsonb_build_object(name, row.c[name])),
                else_=func.jsonb_build_object(),
            )
            for name in (*EVENT_FIELDS, "available_seats")
        ]  # fmt: skip
        return functools.reduce(lambda a, b: a.op("||")(b), parts)

    audit = _record(
        "event.update",
        updated.join(before, before.c.id == updated.c.id),
        func.jsonb_build_object("before", changed(before), "after", changed(updated)),
        event_id=updated.c.id,
    ).cte("update_audit")
    return compiled(select(*updated.c).add_cte(audit))


HAS_ACTIVE_BOOKINGS = compiled(
    select(
        exists()
        .where(
            bookings.c.event_id == _param("event_id", BigInteger),
            _active(bookings.c.status),
        )
        .label("exists")
    )
)

_gone = (
    delete(events)
    .where(events.c.id == _param("event_id", BigInteger))
    .returning(*EVENT_COLUMNS)
    .cte("gone")
)
_delete_audit = _record(
    "event.delete", _gone, _event_details(_gone, "available_seats"), event_id=_gone.c.id
).cte("delete_audit")
DELETE_EVENT = compiled(select(_gone.c.id).add_cte(_delete_audit))


# --- audit log ---------------------------------------------------------------------


def _matches(column: ColumnElement[Any], name: str) -> ColumnElement[bool]:
    """An optional filter: no value matches every record."""
    value = _param(name, BigInteger)
    return or_(value.is_(None), column == value)


_who = _param("user_id", BigInteger)
_action = _param("action", String)
# Optional filters in the style of LIST_EVENTS. user_id matches records about the account
# or made by it; actor_id only those made by it. An action without a dot ("booking")
# matches every action of that kind.
LIST_AUDIT = compiled(
    select(audit_log)
    .where(
        _matches(audit_log.c.event_id, "event_id"),
        _matches(audit_log.c.booking_id, "booking_id"),
        _matches(audit_log.c.actor_id, "actor_id"),
        or_(_who.is_(None), audit_log.c.user_id == _who, audit_log.c.actor_id == _who),
        or_(
            _action.is_(None),
            audit_log.c.action == _action,
            func.split_part(audit_log.c.action, ".", 1) == _action,
        ),
    )
    .order_by(audit_log.c.id.desc())
    .offset(_param("skip", Integer))
    .limit(_param("limit", Integer))
)


# --- bookings ----------------------------------------------------------------------

BOOKING_COLUMNS = tuple(bookings.c)

_event_id = _param("event_id", BigInteger)
_quantity = _param("quantity", Integer)
_hold = _param("hold", Boolean)
_user_id = _param("user_id", BigInteger)
_booking_id = _param("booking_id", BigInteger)


def ticket_code() -> ColumnElement[str]:
    """A fresh unguessable ticket code: 122 random bits, as 32 hex digits."""
    return func.upper(func.replace(cast(func.gen_random_uuid(), Text), "-", ""))


def _audit(
    action: ColumnElement[str] | str,
    rows: Any,
    details: ColumnElement[Any],
    *,
    booking_id: ColumnElement[Any] | None = None,
    event_id: ColumnElement[Any] | None = None,
) -> Any:
    """An INSERT of one audit record per row of ``rows``, by the requesting actor: a CTE,
    so the record is written by the very statement that makes the change."""
    return insert(audit_log).from_select(
        ["actor_id", "actor", "source", "action", "event_id", "booking_id", "details"],
        select(
            _param("actor_id", BigInteger),
            _param("actor", String),
            _param("source", String),
            action if not isinstance(action, str) else literal(action),
            event_id if event_id is not None else rows.c.event_id,
            booking_id if booking_id is not None else rows.c.id,
            details,
        ),
    )


def _booking_details(rows: Any) -> ColumnElement[Any]:
    return func.jsonb_build_object(
        "quantity", rows.c.quantity,
        "customer_name", rows.c.customer_name,
        "payment_method", rows.c.payment_method,
        "amount", rows.c.amount,
        "status", rows.c.status,
    )  # fmt: skip


# Lock the event first: the lock waits for any booking, edit or delete in flight, then
# reads the event as it is now (no row if it was deleted). The seats are taken from that
# current row and a refusal is diagnosed from it, never from the snapshot the statement
# began with: that may predate the wait. The new values are computed from the locked row
# too, as PostgreSQL checks constraints on the snapshot's version before its recheck.
_event = (
    select(
        events.c.id,
        events.c.total_seats,
        events.c.available_seats,
        events.c.date,
        events.c.price,
        events.c.version,
    )
    .where(events.c.id == _event_id)
    .with_for_update(key_share=True)
    .cte("event")
)
_seat = (
    update(events)
    .where(
        events.c.id == _event.c.id,
        _event.c.available_seats >= _quantity,
        _event.c.date > func.now(),
    )
    .values(
        total_seats=_event.c.total_seats,
        available_seats=_event.c.available_seats - _quantity,
        version=_event.c.version + 1,
        updated_at=func.now(),
    )
    .returning(events.c.id, events.c.available_seats, events.c.version)
    .cte("seat")
)
_hold_time = func.make_interval(0, 0, 0, 0, 0, 0, _param("hold_seconds", Integer))
_booked = (
    insert(bookings)
    .from_select(
        [
            "event_id", "user_id", "quantity", "customer_name", "payment_method", "amount",
            "status", "expires_at", "ticket_code", "confirmed_at",
        ],
        select(
            _seat.c.id,
            _user_id,
            _quantity,
            _param("customer_name", String),
            _param("payment_method", String),
            _quantity * _event.c.price,
            case((_hold, literal("pending")), else_=literal("confirmed")),
            case((_hold, func.now() + _hold_time)),
            case((_hold, None), else_=ticket_code()),
            case((_hold, None), else_=func.now()),
        ).select_from(_seat.join(_event, _event.c.id == _seat.c.id)),
    )
    .returning(*BOOKING_COLUMNS)
    .cte("booked")
)  # fmt: skip
_book_audit = _audit(
    case((_hold, literal("booking.hold")), else_=literal("booking.create")),
    _booked,
    _booking_details(_booked),
).cte("book_audit")
_one = _one_row()
# Take the seats, record the booking and its audit record in one statement. The "event"
# CTE locks the event row, so concurrent bookings queue on it and each sees the seats the
# previous one left. A hold is a booking in 'pending' with an expiry.
BOOK = compiled(
    select(
        *_booked.c,
        _seat.c.available_seats,
        _seat.c.version.label("event_version"),
        _event.c.id.label("found_event"),
        _event.c.available_seats.label("seats_left"),
        (_event.c.date <= func.now()).label("started"),
    )
    .add_cte(_book_audit)
    .select_from(_one.outerjoin(_event, true()).outerjoin(_booked, true()).outerjoin(_seat, true()))
)

_cancelled = (
    update(bookings)
    .where(
        bookings.c.id == _booking_id,
        _active(bookings.c.status),
        or_(_param("staff", Boolean), bookings.c.user_id == _user_id),
    )
    .values(
        status="cancelled",
        updated_at=func.now(),
        cancelled_at=func.now(),
        cancelled_by=_user_id,
        expires_at=None,
    )
    .returning(*BOOKING_COLUMNS)
    .cte("cancelled")
)
_returned = (
    update(events)
    .where(events.c.id == _cancelled.c.event_id)
    .values(
        available_seats=events.c.available_seats + _cancelled.c.quantity,
        version=events.c.version + 1,
        updated_at=func.now(),
    )
    .returning(events.c.available_seats, events.c.version)
    .cte("returned")
)
_cancel_audit = _audit("booking.cancel", _cancelled, _booking_details(_cancelled)).cte(
    "cancel_audit"
)
_one = _one_row()
_before = bookings.alias("before")
# Flip the status only if the booking still holds seats and give them back in the same
# statement: concurrent cancels of one booking wait on its row lock and all but one match
# nothing. A hold can be cancelled too (the customer walked away).
CANCEL = compiled(
    select(
        *_cancelled.c,
        _returned.c.available_seats,
        _returned.c.version.label("event_version"),
        _before.c.user_id.label("owner_id"),
        _before.c.status.label("status_before"),
    )
    .add_cte(_cancel_audit)
    .select_from(
        _one.outerjoin(_before, _before.c.id == _booking_id)
        .outerjoin(_cancelled, true())
        .outerjoin(_returned, true())
    )
)

_confirmed = (
    update(bookings)
    .where(
        bookings.c.id == _booking_id,
        bookings.c.status == "pending",
        bookings.c.expires_at > func.now(),
        or_(_param("staff", Boolean), bookings.c.user_id == _user_id),
    )
    .values(
        status="confirmed",
        expires_at=None,
        ticket_code=ticket_code(),
        confirmed_at=func.now(),
        updated_at=func.now(),
        payment_method=func.coalesce(_param("payment_method", String), bookings.c.payment_method),
    )
    .returning(*BOOKING_COLUMNS)
    .cte("confirmed")
)
_confirm_audit = _audit("booking.confirm", _confirmed, _booking_details(_confirmed)).cte(
    "confirm_audit"
)
_one = _one_row()
_before = bookings.alias("before")
# A hold becomes a sale only while it has not expired; the seats are already taken. An
# expired hold is never silently rebooked: the caller is told, and books again.
CONFIRM = compiled(
    select(
        *_confirmed.c,
        _before.c.user_id.label("owner_id"),
        _before.c.status.label("status_before"),
        (_before.c.expires_at <= func.now()).label("lapsed"),
    )
    .add_cte(_confirm_audit)
    .select_from(_one.outerjoin(_before, _before.c.id == _booking_id).outerjoin(_confirmed, true()))
)

# Release the seats of holds whose time is up. Several server instances run this; SKIP
# LOCKED hands each hold to exactly one of them, and a hold being confirmed right now is
# skipped (its lock is held) and then no longer pending.
_due = (
    select(bookings.c.id)
    .where(bookings.c.status == "pending", bookings.c.expires_at <= func.now())
    .order_by(bookings.c.expires_at)
    .limit(_param("batch", Integer))
    .with_for_update(skip_locked=True)
    .cte("due")
)
_expired = (
    update(bookings)
    .where(bookings.c.id == _due.c.id)
    .values(status="expired", updated_at=func.now())
    .returning(*BOOKING_COLUMNS)
    .cte("expired")
)
_per_event = (
    select(_expired.c.event_id, func.sum(_expired.c.quantity).label("seats"))
    .group_by(_expired.c.event_id)
    .cte("per_event")
)
_released = (
    update(events)
    .where(events.c.id == _per_event.c.event_id)
    .values(
        available_seats=events.c.available_seats + _per_event.c.seats,
        version=events.c.version + 1,
        updated_at=func.now(),
    )
    .returning(events.c.id)
    .cte("released")
)
_expire_audit = (
    insert(audit_log)
    .from_select(
        ["actor", "source", "action", "event_id", "booking_id", "details"],
        select(
            literal("system"),
            literal("hold expiry"),
            literal("booking.expire"),
            _expired.c.event_id,
            _expired.c.id,
            _booking_details(_expired),
        ),
    )
    .cte("expire_audit")
)
EXPIRE_HOLDS = compiled(
    select(
        func.count(_expired.c.id).label("expired"),
        select(func.count()).select_from(_released).scalar_subquery().label("events"),
    ).add_cte(_expire_audit)
)

_code = _param("code", String)
_admitted = (
    update(bookings)
    .where(
        bookings.c.ticket_code == _code,
        bookings.c.status == "confirmed",
        bookings.c.checked_in_at.is_(None),
    )
    .values(
        checked_in_at=func.now(),
        checked_in_by=_user_id,
        checked_in_gate=_param("gate", String),
        updated_at=func.now(),
    )
    .returning(*BOOKING_COLUMNS)
    .cte("admitted")
)
_counted = (
    update(events)
    .where(events.c.id == _admitted.c.event_id)
    .values(checked_in=events.c.checked_in + 1, version=events.c.version + 1)
    .returning(events.c.checked_in, events.c.title)
    .cte("counted")
)
_checkin_audit = _audit(
    "ticket.check_in",
    _admitted,
    func.jsonb_build_object("gate", _admitted.c.checked_in_gate, "quantity", _admitted.c.quantity),
).cte("checkin_audit")
_one = _one_row()
_ticket = bookings.alias("ticket")
_admitter = users.alias("admitter")
# Admit a ticket once: concurrent scans of one code queue on its row lock and only the
# first finds it not yet checked in. The other columns say why a scan was refused.
CHECK_IN = compiled(
    select(
        *_admitted.c,
        _counted.c.checked_in.label("event_checked_in"),
        _counted.c.title.label("event_title"),
        _ticket.c.id.label("known_id"),
        _ticket.c.status.label("status_before"),
        _ticket.c.checked_in_at.label("first_checked_in_at"),
        _ticket.c.checked_in_gate.label("first_gate"),
        _admitter.c.username.label("first_checked_in_by"),
    )
    .add_cte(_checkin_audit)
    .select_from(
        _one.outerjoin(_ticket, _ticket.c.ticket_code == _code)
        .outerjoin(_admitter, _admitter.c.id == _ticket.c.checked_in_by)
        .outerjoin(_admitted, true())
        .outerjoin(_counted, true())
    )
)

GET_BOOKING = compiled(select(bookings).where(bookings.c.id == _booking_id))

_status = _param("status", String)
_page = (_param("skip", Integer), _param("limit", Integer))


def _list_bookings(*conditions: ColumnElement[bool]) -> Query:
    return compiled(
        select(bookings)
        .where(
            *conditions,
            or_(_status.is_(None), bookings.c.status == _status),
            or_(_pattern.is_(None), bookings.c.customer_name.ilike(_pattern)),
        )
        .order_by(bookings.c.id.desc())
        .offset(_page[0])
        .limit(_page[1])
    )


LIST_USER_BOOKINGS = _list_bookings(bookings.c.user_id == _param("user_id", BigInteger))
LIST_EVENT_BOOKINGS = _list_bookings(bookings.c.event_id == _event_id)
LIST_ALL_BOOKINGS = _list_bookings()

EVENT_EXISTS = compiled(select(exists().where(events.c.id == _event_id).label("exists")))


# --- tickets and shift reports -----------------------------------------------------

_owner = users.alias("owner")
# A booking with what its printed ticket shows: the event and the account that booked it.
GET_TICKET = compiled(
    select(
        bookings,
        events.c.title.label("event_title"),
        events.c.date.label("event_date"),
        events.c.venue.label("event_venue"),
        _owner.c.username.label("owner_name"),
    )
    .select_from(
        bookings.join(events, events.c.id == bookings.c.event_id).join(
            _owner, _owner.c.id == bookings.c.user_id
        )
    )
    .where(bookings.c.id == _booking_id)
)

USER_BY_NAME = compiled(
    select(*USER_COLUMNS).where(
        func.lower(users.c.username) == func.lower(_param("username", String))
    )
)

_from = _param("date_from", DateTime)
_to = _param("date_to", DateTime)
_subject = _param("user_id", BigInteger)  # null: every staff member
_seller = users.alias("seller")
_canceller = users.alias("canceller")


def _reported(account: Any) -> ColumnElement[bool]:
    """The account is the report's subject: the one asked for, or any staff member."""
    return or_(
        account.c.id == _subject,
        and_(_subject.is_(None), or_(account.c.role == "clerk", account.c.role == "admin")),
    )


# A sale is counted when the booking became confirmed (at once, or a hold later) and is the
# seller's; a cancellation when it was made, by whoever made it. (created_at < date_to lets
# the (user_id, created_at) index narrow a clerk's sales.)
_sale = and_(
    _reported(_seller),
    bookings.c.created_at < _to,
    bookings.c.confirmed_at >= _from,
    bookings.c.confirmed_at < _to,
)
_cancellation = and_(
    _reported(_canceller), bookings.c.cancelled_at >= _from, bookings.c.cancelled_at < _to
)
# When the report first counts the booking: the order of its lines.
_counted_at = func.least(
    case((_sale, bookings.c.confirmed_at)), case((_cancellation, bookings.c.cancelled_at))
).label("counted_at")
# Every booking a shift report covers, with what it counts as; the totals are summed from
# these rows, so the list and the totals cannot disagree.
SHIFT_REPORT = compiled(
    select(
        bookings.c.id,
        bookings.c.event_id,
        events.c.title.label("event_title"),
        events.c.date.label("event_date"),
        bookings.c.customer_name,
        bookings.c.quantity,
        bookings.c.status,
        bookings.c.payment_method,
        bookings.c.amount,
        _seller.c.username.label("sold_by"),
        bookings.c.created_at,
        bookings.c.confirmed_at,
        _canceller.c.username.label("cancelled_by"),
        bookings.c.cancelled_at,
        func.coalesce(_sale, literal(False)).label("sale"),
        func.coalesce(_cancellation, literal(False)).label("cancellation"),
        # Made and confirmed by one statement share a timestamp; a hold is confirmed later.
        func.coalesce(bookings.c.confirmed_at > bookings.c.created_at, literal(False)).label(
            "was_hold"
        ),
        _counted_at,
    )
    .select_from(
        bookings.join(events, events.c.id == bookings.c.event_id)
        .join(_seller, _seller.c.id == bookings.c.user_id)
        .outerjoin(_canceller, _canceller.c.id == bookings.c.cancelled_by)
    )
    .where(or_(_sale, _cancellation))
    .order_by(_counted_at, bookings.c.id)
)

# The invariant the whole design protects, checked by tests and after benchmarks.
SEAT_LEDGER = compiled(
    select(
        events.c.id,
        events.c.total_seats,
        events.c.available_seats,
        func.coalesce(
            select(func.sum(bookings.c.quantity))
            .where(bookings.c.event_id == events.c.id, _active(bookings.c.status))
            .scalar_subquery(),
            0,
        ).label("taken"),
    ).order_by(events.c.id)
)


# --- idempotency keys (see idempotency.py) ------------------------------------------

# The first of the two keys of the idempotency advisory locks ("idmp"); two-key advisory
# locks are a key space apart from the one-key lock of the migrations.
IDEMPOTENCY_LOCK_CLASS = 0x69646D70

_owner = _param("owner", String)
_idem_key = _param("key", String)
_key_ttl = func.make_interval(0, 0, 0, 0, 0, 0, _param("ttl_seconds", Integer))

# Serialises the requests of one (caller, key) on every instance until the transaction ends.
IDEMPOTENCY_LOCK = compiled(
    select(
        func.pg_advisory_xact_lock(
            bindparam("lock_class", IDEMPOTENCY_LOCK_CLASS, type_=Integer),
            func.hashtext(_owner + " " + _idem_key),
        )
    )
)

# A key older than its time to live counts as never used (the purge may not have run yet).
IDEMPOTENCY_LOOKUP = compiled(
    select(
        idempotency_keys.c.request_hash, idempotency_keys.c.status, idempotency_keys.c.response
    ).where(
        idempotency_keys.c.owner == _owner,
        idempotency_keys.c.key == _idem_key,
        idempotency_keys.c.created_at > func.now() - _key_ttl,
    )
)

_new_key = pg_insert(idempotency_keys).values(
    owner=_owner,
    key=_idem_key,
    request_hash=_param("request_hash", String),
    status=_param("status", Integer),
    response=_param("response", String),
)
# Replaces an expired record of the same key (under the lock, a live one was replayed).
IDEMPOTENCY_STORE = compiled(
    _new_key.on_conflict_do_update(
        index_elements=[idempotency_keys.c.owner, idempotency_keys.c.key],
        set_={
            "request_hash": _new_key.excluded.request_hash,
            "status": _new_key.excluded.status,
            "response": _new_key.excluded.response,
            "created_at": func.now(),
        },
    )
)

IDEMPOTENCY_PURGE = compiled(
    delete(idempotency_keys).where(idempotency_keys.c.created_at <= func.now() - _key_ttl)
)


# --- integration API tokens (see api_tokens.py) -----------------------------------------

# Never the hash: it is compared in the database and goes nowhere else.
API_TOKEN_COLUMNS = tuple(c for c in api_tokens.c if c.name != "token_hash")

_token_id = _param("token_id", BigInteger)
_token_hash = _param("token_hash", String)


def _token_audit(action: str, rows: Any) -> Any:
    """The audit record of a token change, by the requesting admin: user_id is the
    token's account."""
    return insert(audit_log).from_select(
        ["actor_id", "actor", "source", "action", "user_id", "details"],
        select(
            _param("actor_id", BigInteger),
            _param("actor", String),
            _param("source", String),
            literal(action),
            rows.c.user_id,
            func.jsonb_build_object(
                "token_id", rows.c.id, "name", rows.c.name, "role", rows.c.role
            ),
        ),
    )


# The token's own account (whose bookings it makes), the token and the audit record in one
# statement. A taken username inserts no account, hence no token: the caller says 409.
_account = (
    pg_insert(users)
    .values(
        username=_param("username", String),
        password_hash=_param("password_hash", String),
        role=_param("role", String),
    )
    .on_conflict_do_nothing()
    .returning(users.c.id)
    .cte("account")
)
_issued = (
    insert(api_tokens)
    .from_select(
        ["name", "role", "user_id", "token_hash", "created_by"],
        select(
            _param("name", String),
            _param("role", String),
            _account.c.id,
            _token_hash,
            _param("actor_id", BigInteger),
        ),
    )
    .returning(*API_TOKEN_COLUMNS)
    .cte("issued")
)
ISSUE_API_TOKEN = compiled(
    select(*_issued.c).add_cte(_token_audit("token.create", _issued).cte("issue_audit"))
)

_revoked = (
    update(api_tokens)
    .where(api_tokens.c.id == _token_id, api_tokens.c.revoked_at.is_(None))
    .values(revoked_at=func.now())
    .returning(*API_TOKEN_COLUMNS)
    .cte("revoked")
)
_one = _one_row()
_known = api_tokens.alias("known")
# Concurrent revokes of one token queue on its row lock; all but the first match nothing.
REVOKE_API_TOKEN = compiled(
    select(*_revoked.c, _known.c.id.label("known_id"))
    .add_cte(_token_audit("token.revoke", _revoked).cte("revoke_audit"))
    .select_from(_one.outerjoin(_known, _known.c.id == _token_id).outerjoin(_revoked, true()))
)

LIST_API_TOKENS = compiled(
    select(*API_TOKEN_COLUMNS)
    .order_by(api_tokens.c.id)
    .offset(_param("skip", Integer))
    .limit(_param("limit", Integer))
)

_live_token = and_(
    api_tokens.c.id == _token_id,
    api_tokens.c.token_hash == _token_hash,
    api_tokens.c.revoked_at.is_(None),
)
_touch_after = func.make_interval(0, 0, 0, 0, 0, 0, _param("touch_seconds", Integer))
_touched = (
    update(api_tokens)
    .where(
        _live_token,
        or_(
            api_tokens.c.last_used_at.is_(None),
            api_tokens.c.last_used_at < func.now() - _touch_after,
        ),
    )
    .values(last_used_at=func.now())
    .returning(api_tokens.c.id)
    .cte("touched")
)
# A live token's identity; its last_used_at moves only when older than touch_seconds, so
# a busy integration writes the row about once a minute, not once a request.
USE_API_TOKEN = compiled(
    select(api_tokens.c.id, api_tokens.c.name, api_tokens.c.role, api_tokens.c.user_id)
    .where(_live_token)
    .add_cte(_touched)
)
