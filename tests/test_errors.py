"""Failures: an unexpected one is a 500 envelope whose request id is in the server log; losing
the database is a 503 to retry."""

import asyncio
import logging

import psycopg2
import pytest


@pytest.fixture
def broken_bookings_table(database_url):
    """Rename the bookings table away for the test, so its queries fail in the database."""

    def run(statement: str) -> None:
        conn = psycopg2.connect(database_url)
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(statement)
        conn.close()

    run("ALTER TABLE bookings RENAME TO bookings_away")
    yield
    run("ALTER TABLE bookings_away RENAME TO bookings")


async def test_database_failure_is_a_logged_500_envelope(
    client, user, broken_bookings_table, caplog
):
    """The client gets a 500 envelope with a request id, and the log has the same id."""
    caplog.set_level(logging.ERROR, logger="server.envelope")
    async with client.get(
        "/api/v1/bookings", headers={"Authorization": f"Bearer {user.token}"}
    ) as resp:
        body = await resp.json()
        assert resp.status == 500
    assert body["code"] == 500 and body["status"] == "error"
    assert body["message"] == "Internal server error"
    request_id = body["data"]["request_id"]
    assert resp.headers["X-Request-ID"] == request_id
    assert any(request_id in r.getMessage() for r in caplog.records)
    # Nothing about the failure leaks to the client.
    assert "bookings" not in str(body)


async def test_losing_the_database_is_a_503_to_retry_not_a_500(client, user, make_event, db_rows):
    """The database ends every connection (a restart): requests that meet a dead pooled
    connection get a 503 with Retry-After (how many do depends on timing), never a 500;
    the pool reconnects by itself."""
    event = await make_event(price="0.00")  # free: a user books without holding seats
    db_rows(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
        "WHERE datname = current_database() AND pid <> pg_backend_pid() "
        "AND application_name <> 'boxoffice-listen'"
    )
    body = {"event_id": event["id"]}
    replies = await asyncio.gather(*(user.post("/api/v1/bookings", json=body) for _ in range(10)))
    for reply in replies:
        assert reply.status in (201, 503), reply.body
        if reply.status == 503:
            assert reply.headers["Retry-After"] == "1"
    after = await user.post("/api/v1/bookings", json=body)
    assert after.status == 201, after.body
