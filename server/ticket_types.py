"""Ticket types per event (docs/ticket-types.md): what a ticket is sold as, at which price (per
zone for a seated event), under which quota, and whether users may buy it.

Every event has a default type (made by the database with the event) that bookings
without a type are sold as: it can be renamed, repriced or taken off sale, never deleted.
A type that tickets were sold as is never deleted either (tickets keep referencing it);
taking it off sale is how it stops selling. Each change is audited in its statement.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import psycopg2.errors

from common.models import TicketTypeCreate, TicketTypePatch

from . import queries as q
from .audit import Signs
from .db import Database, Row, Statements, answer
from .envelope import Conflict, Invalid, NotFound

# Fields a PATCH may not set to null (price and quota may: the event's price, no limit).
REQUIRED_FIELDS = frozenset({"name", "zone_prices", "on_sale", "staff_only", "position"})


def _name_taken(name: str) -> Conflict:
    message = f"the event already has a ticket type named {name!r} (names ignore case)"
    return Conflict(message, data={"errors": [{"field": "name", "message": message}]})


def _stored(fields: dict[str, Any]) -> dict[str, Any]:
    """Fields as the statements take them: zone prices as JSON text, amounts as strings."""
    if fields.get("zone_prices") is None:
        return fields
    cents = Decimal("0.01")
    prices = {zone: str(price.quantize(cents)) for zone, price in fields["zone_prices"].items()}
    return {**fields, "zone_prices": json.dumps(prices, sort_keys=True)}


class TicketTypes:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def list(self, event_id: int, *, staff: bool) -> list[Row]:
        """The event's types in display order; staff-only ones for staff only. 404 for an
        unknown event."""
        types = await self.db.fetchall(q.LIST_TYPES, event_id=event_id, staff=staff)
        if not types:  # every event has its default type: none means no event
            raise NotFound(f"Event {event_id} not found")
        return types

    async def create(self, event_id: int, body: TicketTypeCreate, *, by: Signs) -> Row:
        fields = body.model_dump()
        try:
            async with self.db.transaction() as tx:
                await self._check_zones(tx, event_id, fields["zone_prices"])
                return answer(
                    await tx.fetchone(
                        q.INSERT_TYPE, event_id=event_id, **_stored(fields), **by.audit()
                    ),
                    Row,
                )
        except psycopg2.errors.UniqueViolation as exc:
            if exc.diag.constraint_name == "ticket_types_name_key":
                raise _name_taken(body.name) from None
            raise

    async def update(self, event_id: int, type_id: int, body: TicketTypePatch, *, by: Signs) -> Row:
        fields = body.model_dump(exclude_unset=True)
        nulls = sorted(REQUIRED_FIELDS & {k for k, v in fields.items() if v is None})
        if nulls:
            raise Invalid([(name, "cannot be null") for name in nulls])
        try:
            async with self.db.transaction() as tx:
                await self._check_zones(tx, event_id, fields.get("zone_prices") or {})
                if not fields:  # nothing to change, nothing to record
                    return await self._get(tx, event_id, type_id)
                row = await tx.fetchone(
                    q.update_type(frozenset(fields)),
                    event_id=event_id,
                    type_id=type_id,
                    **_stored(fields),
                    **by.audit(),
                )
                if row is not None:
                    return row
                await self._get(tx, event_id, type_id)  # 404 if there is no such type
                use = answer(
                    await tx.fetchone(q.TYPE_IN_USE, event_id=event_id, type_id=type_id), Row
                )
                message = f"{use['active']} tickets of this type are sold or held"
                raise Conflict(
                    f"{message}; the quota cannot be less than that",
                    data={"errors": [{"field": "quota", "message": f"must be at least "
                                      f"{use['active']}"}], "active": use["active"]},
                )  # fmt: skip
        except psycopg2.errors.UniqueViolation as exc:
            if exc.diag.constraint_name == "ticket_types_name_key":
                raise _name_taken(str(fields.get("name"))) from None
            raise

    async def delete(self, event_id: int, type_id: int, *, by: Signs) -> None:
        """Delete a type no ticket was sold as; the default type and types with tickets
        are a 409 (take them off sale instead)."""
        async with self.db.transaction() as tx:
            await self._lock_event(tx, event_id)
            if await tx.fetchone(q.DELETE_TYPE, event_id=event_id, type_id=type_id, **by.audit()):
                return
            use = await tx.fetchone(q.TYPE_IN_USE, event_id=event_id, type_id=type_id)
            if use is None:
                raise NotFound(f"Ticket type {type_id} of event {event_id} not found")
            if use["is_default"]:
                raise Conflict(
                    "The default ticket type cannot be deleted; set on_sale false instead"
                )
            raise Conflict(
                "Tickets were sold as this type, so it stays; set on_sale false instead",
                data={"active": use["active"]},
            )

    async def _get(self, tx: Statements, event_id: int, type_id: int) -> Row:
        row = await tx.fetchone(q.GET_TYPE, event_id=event_id, type_id=type_id)
        if row is None:
            raise NotFound(f"Ticket type {type_id} of event {event_id} not found")
        return row

    async def _lock_event(self, tx: Statements, event_id: int) -> Row:
        """Lock the event as orders do (404 if there is none): a change to its types is
        ordered with the orders around it. Every instance's browse cache is told when the
        change commits (the types are in the event's detail; its row does not change)."""
        event = await tx.fetchone(q.LOCK_EVENT, event_id=event_id)
        if event is None:
            raise NotFound(f"Event {event_id} not found")
        await tx.execute(q.TYPES_CHANGED, event_id=event_id)
        return event

    async def _check_zones(self, tx: Statements, event_id: int, prices: dict[str, Any]) -> None:
        """Lock the event, and check that ``prices`` name only its plan's current zones
        (a general-admission event has none): a 422 naming each other zone."""
        event = await self._lock_event(tx, event_id)
        if not prices:
            return
        if event["venue_id"] is None:
            raise Invalid.field("zone_prices", "a general-admission event has no zones")
        zones = [r["code"] for r in await tx.fetchall(q.EVENT_ZONES, event_id=event_id)]
        unknown = [zone for zone in prices if zone not in zones]
        if unknown:
            known = ", ".join(zones)
            raise Invalid(
                [(f"zone_prices.{z}", f"no zone {z!r} on the plan (its zones: {known})")
                 for z in unknown]
            )  # fmt: skip
