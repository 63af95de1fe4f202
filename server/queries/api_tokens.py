"""Integration API tokens (see server/api_tokens.py)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, TypedDict

from sqlalchemy import (
    BigInteger,
    Integer,
    String,
    and_,
    func,
    insert,
    or_,
    select,
    true,
    update,
)

from ..db import compiled
from ..paging import TOTAL
from ..tables import api_tokens
from ._shared import _one_row, _param, _record
from .accounts import new_account

# --- integration API tokens (see server/api_tokens.py) ----------------------------------

# Never the hash: it is compared in the database and goes nowhere else.
API_TOKEN_COLUMNS = tuple(c for c in api_tokens.c if c.name != "token_hash")

_token_id = _param("token_id", BigInteger)
_token_hash = _param("token_hash", String)


def _token_audit(action: str, rows: Any) -> Any:
    """The audit record of a token change, by the requesting admin: user_id is the
    token's account."""
    return _record(
        action,
        rows,
        func.jsonb_build_object("token_id", rows.c.id, "name", rows.c.name, "role", rows.c.role),
        user_id=rows.c.user_id,
    )


# The token's own account (whose bookings it makes), the token and the audit record in one
# statement. A taken username inserts no account, hence no token: the caller says 409.
_account = new_account("account")
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
class RevokeOutcome(TypedDict):
    """REVOKE_API_TOKEN's one row: the revoked token's columns (None when nothing was
    revoked) and known_id (None: no such token; else it was already revoked)."""

    id: int | None
    name: str | None
    role: str | None
    user_id: int | None
    created_by: int | None
    created_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None
    known_id: int | None


REVOKE_API_TOKEN = compiled(
    select(*_revoked.c, _known.c.id.label("known_id"))
    .add_cte(_token_audit("token.revoke", _revoked).cte("revoke_audit"))
    .select_from(_one.outerjoin(_known, _known.c.id == _token_id).outerjoin(_revoked, true()))
)

LIST_API_TOKENS = compiled(
    select(*API_TOKEN_COLUMNS, func.count().over().label(TOTAL))
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
