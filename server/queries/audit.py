"""Reading the audit log (its records are written by the statements that make the changes)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import BigInteger, Integer, String, func, or_, select
from sqlalchemy.sql import ColumnElement

from ..db import compiled
from ..paging import TOTAL
from ..tables import audit_log
from ._shared import _param

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
    select(audit_log, func.count().over().label(TOTAL))
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
