"""Webhook endpoints and their outbox of deliveries (see server/webhooks.py and migrations
0014 and 0015: a trigger on audit_log writes the deliveries of every change)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    BigInteger,
    Float,
    Integer,
    String,
    Text,
    and_,
    case,
    delete,
    func,
    insert,
    literal,
    null,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY

from ..db import compiled
from ..tables import webhook_deliveries, webhook_endpoints
from ._shared import _param, _record

# Never the secret: it is shown once, at creation, and otherwise only the sender reads it.
WEBHOOK_COLUMNS = tuple(c for c in webhook_endpoints.c if c.name != "secret")
# The payload as sent: an order's is built from its audit record (migration 0015).
DELIVERY_COLUMNS = tuple(
    func.boxoffice_webhook_payload(webhook_deliveries.table_valued()).label("payload")
    if c.name == "payload"
    else c
    for c in webhook_deliveries.c
    if c.name not in ("retry_from", "audit_id")
)

_webhook_id = _param("webhook_id", BigInteger)


def _webhook_audit(action: str, rows: Any) -> Any:
    return _record(
        action,
        rows,
        func.jsonb_build_object(
            "webhook_id",
            rows.c.id,
            "url",
            rows.c.url,
            "events",
            rows.c.events,
            "status",
            rows.c.status,
        ),
    )


_created = (
    insert(webhook_endpoints)
    .values(
        url=_param("url", Text),
        description=_param("description", Text),
        events=_param("events", lambda: ARRAY(Text)),
        secret=_param("secret", Text),
        created_by=_param("actor_id", BigInteger),
    )
    .returning(*webhook_endpoints.c)
    .cte("created")
)
# A ping to the new endpoint, in the same statement: proof of the URL and the secret.
_ping = insert(webhook_deliveries).from_select(
    ["endpoint_id", "event_type", "payload"],
    select(
        _created.c.id,
        literal("ping"),
        func.jsonb_build_object(
            "type",
            "ping",
            "created_at",
            _created.c.created_at,
            "data",
            func.jsonb_build_object("webhook_id", _created.c.id, "url", _created.c.url),
        ),
    ),
)
INSERT_WEBHOOK = compiled(
    select(*(_created.c[c.name] for c in WEBHOOK_COLUMNS))
    .add_cte(_ping.cte("ping"))
    .add_cte(_webhook_audit("webhook.create", _created).cte("create_audit"))
)

LIST_WEBHOOKS = compiled(
    select(*WEBHOOK_COLUMNS)
    .order_by(webhook_endpoints.c.id)
    .offset(_param("skip", Integer))
    .limit(_param("limit", Integer))
)
GET_WEBHOOK = compiled(select(*WEBHOOK_COLUMNS).where(webhook_endpoints.c.id == _webhook_id))

# PATCH: each field given (not null) replaces the stored one; resuming (status 'active')
# forgets the failures that disabled it.
_status = _param("status", String)
_resumed = and_(_status == "active", webhook_endpoints.c.status != "active")
_patched = (
    update(webhook_endpoints)
    .where(webhook_endpoints.c.id == _webhook_id)
    .values(
        url=func.coalesce(_param("url", Text), webhook_endpoints.c.url),
        description=func.coalesce(_param("description", Text), webhook_endpoints.c.description),
        events=func.coalesce(_param("events", lambda: ARRAY(Text)), webhook_endpoints.c.events),
        status=func.coalesce(_status, webhook_endpoints.c.status),
        failing_since=case((_resumed, null()), else_=webhook_endpoints.c.failing_since),
        disabled_at=case((_resumed, null()), else_=webhook_endpoints.c.disabled_at),
        updated_at=func.now(),
    )
    .returning(*WEBHOOK_COLUMNS)
    .cte("patched")
)
UPDATE_WEBHOOK = compiled(
    select(*_patched.c).add_cte(_webhook_audit("webhook.update", _patched).cte("update_audit"))
)

_gone = (
    delete(webhook_endpoints)
    .where(webhook_endpoints.c.id == _webhook_id)
    .returning(*WEBHOOK_COLUMNS)
    .cte("gone")
)
# Its deliveries go with it (no foreign key cascades since migration 0015).
_gone_deliveries = (
    delete(webhook_deliveries)
    .where(webhook_deliveries.c.endpoint_id == _webhook_id)
    .cte("gone_deliveries")
)
DELETE_WEBHOOK = compiled(
    select(_gone.c.id)
    .add_cte(_gone_deliveries)
    .add_cte(_webhook_audit("webhook.delete", _gone).cte("delete_audit"))
)

_delivery_status = _param("status", String)
LIST_DELIVERIES = compiled(
    select(*DELIVERY_COLUMNS)
    .where(
        webhook_deliveries.c.endpoint_id == _webhook_id,
        or_(_delivery_status.is_(None), webhook_deliveries.c.status == _delivery_status),
    )
    .order_by(webhook_deliveries.c.id.desc())
    .offset(_param("skip", Integer))
    .limit(_param("limit", Integer))
)

# Send it again, with the same delivery id (a receiver that has it drops it), now, and
# with a fresh retry window.
REDELIVER = compiled(
    update(webhook_deliveries)
    .where(
        webhook_deliveries.c.id == _param("delivery_id", BigInteger),
        webhook_deliveries.c.endpoint_id == _webhook_id,
    )
    .values(status="pending", next_at=func.now(), retry_from=func.now())
    .returning(*DELIVERY_COLUMNS)
)

# The sender's two statements, a batch each: the SQL functions of migrations 0015, 0017.
CLAIM_WEBHOOKS = compiled(
    text(
        "SELECT id, delivery_id, endpoint_id, url, secret, event_type, body, attempts"
        " FROM boxoffice_claim_webhooks(:limit, :lease, :defer)"
    ).bindparams(
        _param("limit", Integer),
        _param("lease", Float),
        _param("defer", Float),
    )
)
WEBHOOK_RESULTS = compiled(
    text(
        "SELECT id FROM boxoffice_webhook_results("
        ":ids, :codes, :errors, :retries, :window, :disable)"
    ).bindparams(
        _param("ids", lambda: ARRAY(BigInteger)),
        _param("codes", lambda: ARRAY(Integer)),
        _param("errors", lambda: ARRAY(Text)),
        _param("retries", lambda: ARRAY(Float)),
        _param("window", Float),
        _param("disable", Float),
    )
)

# Deliveries delivered or failed for good longer ago than the keeping time, oldest first and
# at most a batch a statement (short locks, short transactions); pending ones are never
# touched. Ids grow with time: the scan walks the primary key from its start and stops at
# the first delivery made within the keeping time, so it reads what it deletes, not the
# whole outbox.
_deliveries = webhook_deliveries.c
_cutoff = func.now() - func.make_interval(0, 0, 0, 0, 0, 0, _param("keep_seconds", Float))
_horizon = (
    select(_deliveries.id)
    .where(_deliveries.created_at >= _cutoff)
    .order_by(_deliveries.id)
    .limit(1)
    .scalar_subquery()
)
_old_done = (
    select(_deliveries.id)
    .where(
        _deliveries.id < func.coalesce(_horizon, literal(2**63 - 1, BigInteger)),
        _deliveries.status != "pending",
        func.coalesce(_deliveries.delivered_at, _deliveries.last_attempt_at, _deliveries.created_at)
        < _cutoff,
    )
    .order_by(_deliveries.id)
    .limit(_param("batch", Integer))
    .scalar_subquery()
)
PURGE_DELIVERIES = compiled(delete(webhook_deliveries).where(_deliveries.id.in_(_old_done)))

# What active endpoints still have to receive: how many deliveries, and how long ago the
# oldest was made (a paused or disabled endpoint's queue waits by choice: not counted).
_endpoints = webhook_endpoints.c
_pending = webhook_deliveries.join(webhook_endpoints, _endpoints.id == _deliveries.endpoint_id)
WEBHOOK_BACKLOG = compiled(
    select(
        func.count().label("pending"),
        func.coalesce(
            func.extract("epoch", func.now() - func.min(_deliveries.created_at)), 0
        ).label("oldest_seconds"),
    )
    .select_from(_pending)
    .where(_deliveries.status == "pending", _endpoints.status == "active")
)
