"""BOXOFFICE_READ_DATABASE_URL: reports read there (a standby), never what decides about seats.

A real standby needs a formation (bench/failover.py builds one); here a second database
stands in for a standby as far behind as one can be: migrated, with nothing sold. What the
reports show comes from it; bookings, their answers and browsing come from the primary.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest
from support import Actors, event_body, rows

from server import db, embedded
from server.app import create_app
from server.config import Config, ConfigError


@pytest.fixture
async def behind() -> AsyncIterator[str]:
    """A migrated database with no sales in it: a standby that lags behind everything."""
    with embedded.scratch_database("boxoffice_standby") as dsn:
        await db.migrate_database(dsn)
        yield dsn


async def test_reports_read_the_read_database_and_seats_the_primary(
    aiohttp_client: Any, config: Config, clean_db: None, behind: str, database_url: str
) -> None:
    client = await aiohttp_client(create_app(config.replace(read_database_url=behind)))
    actors = Actors(client)
    admin, clerk = await actors.new("admin"), await actors.new("clerk")
    event = (await admin.post("/api/v1/events", json=event_body(total_seats=10))).data
    body = {"event_id": event["id"], "quantity": 3, "customer_name": "Ada"}
    sold = await clerk.post("/api/v1/bookings", json=body)
    assert sold.status == 201 and sold.data["available_seats"] == 7  # the primary decides
    listed = await clerk.get(f"/api/v1/events/{event['id']}")
    assert listed.data["available_seats"] == 7  # browsing reads the primary (its cache)

    report = await admin.get("/api/v1/reports/shift")
    assert report.status == 200, report.body
    assert report.data["sales"]["seats"] == 0  # read where nothing was sold yet
    assert Decimal(report.data["net_takings"]) == 0
    audit = await admin.get("/api/v1/audit")
    assert audit.status == 200 and audit.data == []
    [(sold_on_primary,)] = rows(database_url, "SELECT count(*) FROM tickets")
    assert sold_on_primary == 3


def test_a_read_database_needs_the_primary_too() -> None:
    with pytest.raises(ConfigError, match="BOXOFFICE_READ_DATABASE_URL needs"):
        Config.from_env({"BOXOFFICE_READ_DATABASE_URL": "postgresql://standby/boxoffice"})
