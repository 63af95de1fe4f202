"""Readiness: the cheapest statement a working database answers."""

from __future__ import annotations

from sqlalchemy import literal_column, select

from ..db import compiled

PING = compiled(select(literal_column("1")))
