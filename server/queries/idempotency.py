"""The idempotency keys of requests (see server/idempotency.py)."""

from __future__ import annotations

from sqlalchemy import Integer, String, bindparam, delete, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert

from ..db import compiled
from ..tables import idempotency_keys
from ._shared import _param

# --- idempotency keys (see server/idempotency.py) -----------------------------------

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
