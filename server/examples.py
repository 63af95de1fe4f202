"""Examples for the OpenAPI document: what "try it out" fills in, and what an answer looks like.

Request bodies are written by hand (``REQUESTS``, by model name): a body must pass the rules
the schema cannot say (general admission *or* a venue, a quantity *or* seats), so that the
explorer's prefilled request succeeds. Answers are made from their schema by ``sample``,
with plausible values for well-known field names, so every operation has one and none
goes stale when a model changes. tests/test_openapi.py validates both against the schemas.
"""

from __future__ import annotations

import re
from typing import Any

Schema = dict[str, Any]

REQUESTS: dict[str, dict[str, Any]] = {
    "RegisterRequest": {"username": "ada.lovelace", "password": "analytical-engine-1843"},
    "LoginRequest": {"username": "clerk", "password": "clerk-demo"},
    "RefreshRequest": {"refresh_token": "42.3q2-7Zp0W0x2c3kYt1eI4vA9bS"},
    "UserCreate": {"username": "box.office.2", "password": "till-two-secret", "role": "clerk"},
    "UserPatch": {"disabled": True},
    "EventCreate": {
        "title": "Hamlet",
        "description": "The **Prince of Denmark**, in three hours.",
        "date": "2030-11-25T19:30:00+01:00",
        "venue": "Main hall",
        "total_seats": 120,
        "price": "25.00",
    },
    "EventPatch": {"price": "27.50"},
    "TicketTypeCreate": {"name": "Concession", "price": "15.00", "quota": 40},
    "TicketTypePatch": {"on_sale": False},
    "BookingCreate": {
        "event_id": 1,
        "quantity": 2,
        "customer_name": "Grace Hopper",
        "payment_method": "card",
    },
    "BookingConfirm": {"payment_method": "cash"},
    "OrderCreate": {
        "event_id": 1,
        "lines": [{"quantity": 2}],
        "customer_name": "Grace Hopper",
        "payment_method": "card",
    },
    "TicketReturn": {"ticket_ids": [3], "payment_method": "cash"},
    "CheckIn": {"code": "7KQ2 M9XD 4TPA", "gate": "north door"},
    "TokenCreate": {"name": "City theatre website", "role": "user"},
    "VenuePlan": {
        "name": "Studio",
        "address": "1 Theatre Lane",
        "zones": [{"code": "A", "name": "Stalls", "rank": 1}],
        "sections": [
            {
                "name": "Stalls",
                "zone": "A",
                "rows": [
                    {"row": "A", "y": 0, "seats": "1-10"},
                    {"row": "B", "y": 1, "seats": "1-10"},
                ],
            }
        ],
    },
}

# Values for well-known names, where the type alone would give "string" or 1.
_NAMED: dict[str, Any] = {
    "title": "Hamlet",
    "name": "Hamlet",
    "username": "clerk",
    "customer_name": "Grace Hopper",
    "customer": "Grace Hopper",
    "venue": "Main hall",
    "description": "The Prince of Denmark, in three hours.",
    "address": "1 Theatre Lane",
    "message": "Success",
    "status": "success",
    "code": "7KQ24M9XD4TPA",
    "ticket_code": "7KQ24M9XD4TPA",
    "token_type": "bearer",
    "gate": "north door",
    "section": "Stalls",
    "row": "A",
    "number": "7",
    "zone": "A",
}
_FORMATS = {
    "date-time": "2030-11-25T19:30:00Z",
    "date": "2030-11-25",
    "email": "ada@example.org",
    "uri": "https://example.org/",
}


def sample(schema: Schema, defs: dict[str, Schema], name: str = "", depth: int = 0) -> Any:
    """A value that ``schema`` accepts, resolving ``#/components/schemas/...`` refs in
    ``defs``; ``name`` is the property's, for a plausible value."""
    if "$ref" in schema:
        if depth > 12:  # a recursive model: stop here
            return None
        return sample(defs[schema["$ref"].rsplit("/", 1)[-1]], defs, name, depth + 1)
    for key in ("example", "const", "default"):
        if key in schema and schema[key] is not None:
            return schema[key]
    if schema.get("examples"):
        return schema["examples"][0]
    if "enum" in schema:
        return schema["enum"][0]
    for key in ("anyOf", "oneOf"):
        if key in schema:  # the first that is not null
            options = [s for s in schema[key] if s.get("type") != "null"] or schema[key]
            return sample(options[0], defs, name, depth)
    if "allOf" in schema:
        return sample(schema["allOf"][0], defs, name, depth)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object" or "properties" in schema:
        return {
            prop: sample(sub, defs, prop, depth)
            for prop, sub in schema.get("properties", {}).items()
        }
    if kind == "array":
        if "prefixItems" in schema:  # a tuple: one of each
            return [sample(item, defs, name, depth) for item in schema["prefixItems"]]
        item = sample(schema.get("items", {}), defs, name, depth)
        return [item] * max(1, schema.get("minItems", 1))
    if kind == "integer":
        return max(schema.get("minimum", 1), min(schema.get("maximum", 2**31), _number(name)))
    if kind == "number":
        return 25.0
    if kind == "boolean":
        return False
    if kind == "null":
        return None
    if kind == "string":
        return _string(schema, name)
    return None


def _number(name: str) -> int:
    if name in ("total_seats", "available_seats", "seat_count"):
        return 120
    if name in ("quantity", "count"):
        return 2
    if name == "expires_in":
        return 900
    return 1


def _string(schema: Schema, name: str) -> str:
    if schema.get("format") in _FORMATS:
        return _FORMATS[schema["format"]]
    text = str(_NAMED.get(name, name or "text"))
    text = text[: schema.get("maxLength", len(text))].ljust(schema.get("minLength", 0), "x")
    if "pattern" in schema:  # the plausible value if it fits, else a simple one that does
        for candidate in (text, "25.00", "A", "a1", "1"):
            if re.search(schema["pattern"], candidate):
                return candidate
    return text
