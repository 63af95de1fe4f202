"""Accounts: users, sessions (login, refresh, logout), the throttling of failed logins
and of registrations, and what admins control: disabling, roles, ending sessions (see
server/accounts.py)."""

from __future__ import annotations

from typing import Any, TypedDict

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    Integer,
    String,
    and_,
    bindparam,
    case,
    delete,
    exists,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.sql import ColumnElement

from ..db import compiled, script
from ..paging import TOTAL
from ..tables import api_tokens, sessions, throttles, users
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

# An account as admins see it: USER_COLUMNS and whether it is disabled.
ACCOUNT_COLUMNS = (
    *USER_COLUMNS,
    users.c.disabled_at.is_not(None).label("disabled"),
    users.c.disabled_at,
)

_user_id = _param("user_id", BigInteger)

GET_USER = compiled(select(*ACCOUNT_COLUMNS).where(users.c.id == _user_id))

LIST_USERS = compiled(
    select(*ACCOUNT_COLUMNS, func.count().over().label(TOTAL))
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
class LoginLookup(TypedDict):
    """LOGIN_LOOKUP's one row: the account (all None when there is none) and the lock."""

    id: int | None
    username: str | None
    role: str | None
    password_hash: str | None
    retry_after: float | None  # seconds until a lock on this attempt ends; None: none


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
class RegistrationCount(TypedDict):
    hits: int  # registrations from the address in the window so far, this one included
    retry_after: float  # seconds until the window ends


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

# The account's row is read FOR SHARE: a concurrent disable or end of its sessions (which
# takes the row FOR UPDATE first) either sees this session and ends it, or runs first, and
# then this statement reads the row as it left it: disabled, nothing is inserted; ended,
# the session and its access tokens start in the new epoch.
_account = (
    select(users.c.id, users.c.role, users.c.session_epoch)
    .where(users.c.id == _user_id, users.c.disabled_at.is_(None))
    .with_for_update(read=True)
    .cte("account")
)
_created = (
    insert(sessions)
    .from_select(
        ["id", "user_id", "token_hash", "expires_at"],
        select(
            _param("session_id"),
            _account.c.id,
            _param("token_hash", String),
            _param("expires_at", DateTime),
        ),
    )
    .returning(sessions.c.user_id)
    .cte("created")
)
# A new session of an account that is not disabled, and the role and epoch its access
# tokens carry, read together under the row lock (see server/accounts.py for why); no row
# when the account is disabled.
CREATE_SESSION = compiled(
    select(_account.c.role, _account.c.session_epoch.label("epoch")).select_from(
        _account.join(_created, _created.c.user_id == _account.c.id)
    )
)

# A session ends max_age_seconds after it began however often it is refreshed.
_max_age = func.make_interval(0, 0, 0, 0, 0, 0, _param("max_age_seconds", Integer))
_rotated = (
    update(sessions)
    .where(
        sessions.c.id == _param("session_id"),
        sessions.c.token_hash == _param("old_hash", String),
        sessions.c.revoked_at.is_(None),
        sessions.c.expires_at > func.now(),
        sessions.c.created_at > func.now() - _max_age,
        exists().where(users.c.id == sessions.c.user_id, users.c.disabled_at.is_(None)),
    )
    .values(
        token_hash=_param("new_hash", String),
        last_used_at=func.now(),
        expires_at=func.least(_param("expires_at", DateTime), sessions.c.created_at + _max_age),
    )
    .returning(sessions.c.user_id)
    .cte("rotated")
)
ROTATE_SESSION = compiled(
    select(users.c.id, users.c.username, users.c.role, users.c.session_epoch.label("epoch")).join(
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


# --- what admins control (see server/accounts.py) ----------------------------------------

# What decides whether an access token of the account still works, and its version (see
# migrations/0007_account_push.sql), as the database's notifications carry them.
_STATE_COLUMNS = (
    users.c.id,
    users.c.role,
    users.c.disabled_at.is_not(None).label("disabled"),
    users.c.session_epoch.label("epoch"),
    users.c.state_version.label("version"),
)


class AccountStateRow(TypedDict):
    id: int
    role: str
    disabled: bool
    epoch: int
    version: int


ACCOUNT_STATE = compiled(select(*_STATE_COLUMNS).where(users.c.id == _user_id))

# The accounts whose access tokens a change may have made wrong: every disabled one, and
# every one changed within the last window_seconds.
_window = func.make_interval(0, 0, 0, 0, 0, 0, _param("window_seconds", Integer))
ACCOUNTS_TO_WATCH = compiled(
    select(*_STATE_COLUMNS).where(
        or_(users.c.disabled_at.is_not(None), users.c.state_changed_at > func.now() - _window)
    )
)

# The first key of the advisory lock that serialises admins' changes to accounts ("acct"),
# so two admins disabling each other cannot both succeed and leave no admin.
ACCOUNT_LOCK_CLASS = 0x61636374

_owns_token = exists().where(api_tokens.c.user_id == users.c.id)
_other = users.alias("other")
_other_admins = (
    select(func.count())
    .where(
        _other.c.id != users.c.id,
        _other.c.role == "admin",
        _other.c.disabled_at.is_(None),
        ~exists().where(api_tokens.c.user_id == _other.c.id),
    )
    .scalar_subquery()
)
# Under the admins' lock, the account (locked FOR UPDATE: a login's session insert waits, or
# is waited for) and what a change to it must respect: whether an API token acts as it, and
# how many other enabled admins, who can log in, remain. No row: no such account.
ACCOUNT_FOR_CHANGE = script(
    compiled(
        select(
            func.pg_advisory_xact_lock(
                bindparam("lock_class", ACCOUNT_LOCK_CLASS, type_=Integer),
                bindparam("lock_key", 0, type_=Integer),
            )
        )
    ),
    compiled(
        select(
            users.c.id,
            users.c.role,
            users.c.disabled_at.is_not(None).label("disabled"),
            _owns_token.label("api_token"),
            _other_admins.label("other_admins"),
        )
        .where(users.c.id == _user_id)
        .with_for_update(of=users)
    ),
)


# Ending an account's live sessions, and the record of that; a CTE of the statements below.
def _end_sessions(accounts: Any, name: str) -> Any:
    return (
        update(sessions)
        .where(
            sessions.c.user_id.in_(select(accounts.c.id)),
            sessions.c.revoked_at.is_(None),
            sessions.c.expires_at > func.now(),
        )
        .values(revoked_at=func.now())
        .returning(sessions.c.id)
        .cte(name)
    )


def _count(rows: Any) -> Any:
    return select(func.count()).select_from(rows).scalar_subquery()


_disabled = _param("disabled", Boolean)  # null: unchanged
_role = _param("role", String)  # null: unchanged
_prior = users.alias("prior")
_before_row = (
    select(_prior.c.id, _prior.c.role, _prior.c.disabled_at)
    .where(_prior.c.id == _user_id)
    .subquery("before")
)
_changed = (
    update(users)
    .where(users.c.id == _before_row.c.id)
    .values(
        role=func.coalesce(_role, users.c.role),
        disabled_at=case(
            (_disabled.is_(None), users.c.disabled_at),
            (_disabled, func.coalesce(users.c.disabled_at, func.now())),
            else_=None,
        ),
        # Disabling ends the sessions: their access tokens must not return on re-enabling.
        session_epoch=users.c.session_epoch
        + case((and_(_disabled, users.c.disabled_at.is_(None)), 1), else_=0),
    )
    .returning(
        *ACCOUNT_COLUMNS,
        users.c.session_epoch.label("epoch"),
        users.c.state_version.label("version"),
        _before_row.c.role.label("role_before"),
        _before_row.c.disabled_at.is_not(None).label("disabled_before"),
    )
    .cte("changed")
)
_now_disabled = (
    select(_changed).where(_changed.c.disabled, ~_changed.c.disabled_before).cte("now_disabled")
)
_now_enabled = (
    select(_changed).where(~_changed.c.disabled, _changed.c.disabled_before).cte("now_enabled")
)
_new_role = select(_changed).where(_changed.c.role != _changed.c.role_before).cte("new_role")
_ended_by_disable = _end_sessions(_now_disabled, "ended")
# PATCH /users/{id}: the account's new state, with a record of each thing that changed (none
# when nothing did). The caller has checked, under ACCOUNT_FOR_CHANGE, that it may.
UPDATE_ACCOUNT = compiled(
    select(*[c for c in _changed.c if c.name not in ("role_before", "disabled_before")])
    .add_cte(
        _record(
            "user.disable",
            _now_disabled,
            func.jsonb_build_object("sessions_ended", _count(_ended_by_disable)),
            user_id=_now_disabled.c.id,
        ).cte("disable_audit")
    )
    .add_cte(
        _record(
            "user.enable", _now_enabled, func.jsonb_build_object(), user_id=_now_enabled.c.id
        ).cte("enable_audit")
    )
    .add_cte(
        _record(
            "user.role",
            _new_role,
            func.jsonb_build_object("from", _new_role.c.role_before, "to", _new_role.c.role),
            user_id=_new_role.c.id,
        ).cte("role_audit")
    )
)

_bumped = (
    update(users)
    .where(users.c.id == _user_id)
    .values(session_epoch=users.c.session_epoch + 1)
    .returning(*_STATE_COLUMNS)
    .cte("bumped")
)
_ended = _end_sessions(_bumped, "ended")


# Ends every session of the account and, by a new epoch, every access token issued so far.
# Also the account's new state (AccountStateRow's columns), for the instance's own map.
class SessionsEndedOutcome(TypedDict):
    user_id: int
    sessions_ended: int
    role: str
    disabled: bool
    epoch: int
    version: int


END_SESSIONS = compiled(
    select(
        _bumped.c.id.label("user_id"),
        _count(_ended).label("sessions_ended"),
        _bumped.c.role,
        _bumped.c.disabled,
        _bumped.c.epoch,
        _bumped.c.version,
    ).add_cte(
        _record(
            "user.sessions_end",
            _bumped,
            func.jsonb_build_object("sessions_ended", _count(_ended)),
            user_id=_bumped.c.id,
        ).cte("sessions_end_audit")
    )
)

_ended_before = func.now() - func.make_interval(0, 0, 0, 0, 0, 0, _param("grace_seconds", Integer))
_purgeable = (
    select(sessions.c.id)
    .where(or_(sessions.c.expires_at < _ended_before, sessions.c.revoked_at < _ended_before))
    .limit(_param("batch", Integer))
)
# Sessions that ended (expired or revoked) more than grace_seconds ago, a batch at a time.
PURGE_SESSIONS = compiled(delete(sessions).where(sessions.c.id.in_(_purgeable.scalar_subquery())))
