"""An unexpected failure is a 500 envelope whose request id is in the server log."""

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
