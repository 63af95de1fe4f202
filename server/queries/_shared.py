"""The helpers that the statements of several modules of this package are built with."""

from __future__ import annotations

import functools
from collections.abc import Iterable
from typing import Any

from sqlalchemy import (
    BigInteger,
    String,
    bindparam,
    case,
    func,
    insert,
    literal,
    null,
    or_,
    select,
)
from sqlalchemy.sql import ColumnElement

from ..tables import audit_log

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
    action: ColumnElement[str] | str,
    rows: Any,
    details: ColumnElement[Any],
    *,
    event_id: ColumnElement[Any] | None = None,
    booking_id: ColumnElement[Any] | None = None,
    user_id: ColumnElement[Any] | None = None,
    actor_id: ColumnElement[Any] | None = None,
    actor: ColumnElement[Any] | None = None,
    source: ColumnElement[Any] | None = None,
) -> Any:
    """The one audit record builder: an INSERT of one record per row of ``rows`` (the CTE
    of a change), signed with the actor_id, actor and source parameters unless
    ``actor_id``/``actor``/``source`` say otherwise; an id not given is NULL. As a CTE of
    the statement that makes the change, it commits or rolls back with it."""
    return insert(audit_log).from_select(
        ["actor_id", "actor", "source", "action", "event_id", "booking_id", "user_id", "details"],
        select(
            actor_id if actor_id is not None else _param("actor_id", BigInteger),
            actor if actor is not None else _param("actor", String),
            source if source is not None else _param("source", String),
            literal(action) if isinstance(action, str) else action,
            event_id if event_id is not None else null(),
            booking_id if booking_id is not None else null(),
            user_id if user_id is not None else null(),
            details,
        ).select_from(rows),
    )


def _changes(before: Any, after: Any, names: Iterable[str]) -> ColumnElement[Any]:
    """An update record's details: {"before": {...}, "after": {...}} holding, of ``names``,
    each field that changed between the locked row ``before`` and the updated ``after``."""
    names = tuple(names)

    def changed(row: Any) -> ColumnElement[Any]:
        parts = [
            case(
                (before.c[name].is_distinct_from(after.c[name]),
                 func.jsonb_build_object(name, row.c[name])),
                else_=func.jsonb_build_object(),
            )
            for name in names
        ]  # fmt: skip
        return functools.reduce(lambda a, b: a.op("||")(b), parts)

    return func.jsonb_build_object("before", changed(before), "after", changed(after))


# The ILIKE pattern of the optional text filters of LIST_EVENTS and the booking lists.
_pattern = _param("pattern", String)


def contains(text: str | None) -> str | None:
    """An ILIKE pattern matching ``text`` anywhere, its wildcards taken literally."""
    if not text:
        return None
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"
