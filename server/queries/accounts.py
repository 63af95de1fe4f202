"""Accounts: users, sessions (login, refresh, logout), and the throttling of failed logins
and of registrations."""

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
    or_,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.sql import ColumnElement

from ..db import compiled
from ..tables import sessions, throttles, users
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

# The username parameter of the statements below is already in its normal form
# (auth.username_key), compared as is: no lower() here, which follows the locale.
_name = _param("username", String)
_address = _param("address", String)
_one = _one_row()


def _counted(kind: str, username: Any, address: Any) -> ColumnElement[bool]:
    return and_(
        throttles.c.kind == kind, throttles.c.username == username, throttles.c.address == address
    )


# The latest lock on this login: on the name from this address, on the name from anywhere,
# or on this address.
_lock = (
    select(func.max(throttles.c.locked_until))
    .where(
        or_(
            _counted("login", _name, _address),
            _counted("login_username", _name, ""),
            _counted("login_address", "", _address),
        ),
        throttles.c.locked_until > func.now(),
    )
    .scalar_subquery()
)
# The user (if any) and the lock on the attempt (if any), in one round trip.
LOGIN_LOOKUP = compiled(
    select(
        users.c.id,
        users.c.username,
        users.c.role,
        users.c.password_hash,
        func.ceil(func.extract("epoch", _lock - func.now())).label("retry_after"),
    ).select_from(_one.outerjoin(users, users.c.username_key == _name))
)

_stale = throttles.c.first_at < _param("window_start", DateTime)
_hits = case((_stale, 1), else_=throttles.c.hits + 1)
_locked_until = _param("locked_until", DateTime)
_max_pair = _param("max_failures", Integer)
_max_username = _param("max_per_username", Integer)
_max_address = _param("max_per_address", Integer)
_max_hits = case(
    (throttles.c.kind == "login", _max_pair),
    (throttles.c.kind == "login_username", _max_username),
    else_=_max_address,
)


def _first(max_hits: ColumnElement[Any]) -> ColumnElement[Any]:
    return case((max_hits <= 1, _locked_until))


# Count a failed login three times: for the name from this address, for the name and for
# the address. A count outside the window starts again at 1; reaching its maximum locks
# until locked_until. One statement, shared by every instance.
RECORD_LOGIN_FAILURE = compiled(
    pg_insert(throttles)
    .values(
        [
            {
                "kind": "login",
                "username": _name,
                "hits": 1,
                "address": _address,
                "locked_until": _first(_max_pair),
            },
            {
                "kind": "login_username",
                "username": _name,
                "hits": 1,
                "address": "",
                "locked_until": _first(_max_username),
            },
            {
                "kind": "login_address",
                "username": "",
                "hits": 1,
                "address": _address,
                "locked_until": _first(_max_address),
            },
        ]
    )
    .on_conflict_do_update(
        index_elements=[throttles.c.kind, throttles.c.username, throttles.c.address],
        set_={
            "hits": _hits,
            "first_at": case((_stale, func.now()), else_=throttles.c.first_at),
            "locked_until": case(
                (_hits >= _max_hits, _locked_until), else_=throttles.c.locked_until
            ),
        },
    )
)
# A successful login clears the count of its name from its address, and only that: the
# other two are what stop a guesser who also knows one good password.
CLEAR_LOGIN_FAILURES = compiled(delete(throttles).where(_counted("login", _name, _address)))

# Count a registration from an address; the answer says how many in the window so far and
# how long until the window ends.
COUNT_REGISTRATION = compiled(
    pg_insert(throttles)
    .values(kind="register", username="", address=_address, hits=1)
    .on_conflict_do_update(
        index_elements=[throttles.c.kind, throttles.c.username, throttles.c.address],
        set_={
            "hits": _hits,
            "first_at": case((_stale, func.now()), else_=throttles.c.first_at),
        },
    )
    .returning(
        throttles.c.hits,
        func.ceil(
            func.extract("epoch", throttles.c.first_at - _param("window_start", DateTime))
        ).label("retry_after"),
    )
)

# An admin clears every failed-login count of an account's name (from every address, and
# the name's own), with a user.unlock record; no row when there is no such account.
_target = (
    select(users.c.id, users.c.username, users.c.username_key)
    .where(users.c.id == _param("user_id", BigInteger))
    .cte("target")
)
_cleared = (
    delete(throttles)
    .where(
        or_(throttles.c.kind == "login", throttles.c.kind == "login_username"),
        throttles.c.username == select(_target.c.username_key).scalar_subquery(),
    )
    .returning(throttles.c.kind)
    .cte("cleared")
)
_cleared_count = select(func.count()).select_from(_cleared).scalar_subquery()
_unlock_audit = _record(
    "user.unlock",
    _target,
    func.jsonb_build_object("username", _target.c.username, "cleared", _cleared_count),
    user_id=_target.c.id,
).cte("unlock_audit")
UNLOCK_USER = compiled(
    select(_target.c.id, _target.c.username, _cleared_count.label("cleared")).add_cte(_unlock_audit)
)

# Counts whose window has passed and that lock nothing: the next attempt would start them
# again anyway.
PURGE_THROTTLES = compiled(
    delete(throttles).where(
        case(
            (
                throttles.c.kind == "register",
                throttles.c.first_at < _param("register_window_start", DateTime),
            ),
            else_=throttles.c.first_at < _param("login_window_start", DateTime),
        ),
        or_(throttles.c.locked_until.is_(None), throttles.c.locked_until <= func.now()),
    )
)

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


# The username parameter in its normal form (auth.username_key).
USER_BY_NAME = compiled(select(*USER_COLUMNS).where(users.c.username_key == _name))
