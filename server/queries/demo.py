"""The demo seed's one statement of its own: an order placed by the order function."""

from __future__ import annotations

from sqlalchemy import String, cast, func, select
from sqlalchemy.dialects.postgresql import JSONB

from ..db import compiled
from ..tables import users
from ._shared import _param

# req as boxoffice_place_order takes it, sold by the account named username (staff).
DEMO_ORDER = compiled(
    select(
        func.boxoffice_place_order(
            cast(_param("req", String), JSONB).op("||")(
                func.jsonb_build_object(
                    "user_id",
                    select(users.c.id)
                    .where(users.c.username == _param("username", String))
                    .scalar_subquery(),
                )
            )
        ).label("answer")
    )
)
