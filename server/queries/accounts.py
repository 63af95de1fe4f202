"""Accounts: users, sessions (login, refresh, logout) and the lockout of failed logins."""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    BigInteger,
    DateTime,
    Integer,
    String,
    and_,
    case,
    delete,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert

from ..db import compiled
from ..tables import login_failures, sessions, users
from ._shared import _one_row, _param, _record

# --- users and sessions ----------------------------------------------------------

USER_COLUMNS = (users.c.id, users.c.username, users.c.role, users.c.created_at)


def new_account(name: str) -> Any:
    """A CTE that creates an account (username, password_hash and role parameters), or
    nothing when the username is taken: the caller tells that as a 409."""
    return (
        pg_insert(users)
        .values(
            username=_param("username", String),
            password_hash=_param("password_hash", String),
            role=_param("role", String),
        )
        .on_conflict_do_nothing()
        .returning(*USER_COLUMNS)
        .cte(name)
    )


_new_user = new_account("new_user")
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


USER_BY_NAME = compiled(
    select(*USER_COLUMNS).where(
        func.lower(users.c.username) == func.lower(_param("username", String))
    )
)
