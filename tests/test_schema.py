"""The SQLAlchemy tables match the migrated database, and the database guards its invariants."""

import contextlib
from decimal import Decimal

import psycopg2
import psycopg2.errors
import pytest
from support import seat_ledger_errors

from server import db, tables


def columns_in_database(db_rows, table):
    rows = db_rows(
        "SELECT column_name, is_nullable = 'YES' FROM information_schema.columns "
        "WHERE table_schema = current_schema() AND table_name = %s",
        table,
    )
    return dict(rows)


@pytest.mark.parametrize("table", sorted(tables.metadata.tables))
async def test_table_matches_the_migrations(client, db_rows, table):
    """Each table in tables.py has exactly the columns and nullability the migrations made."""
    declared = {c.name: c.nullable for c in tables.metadata.tables[table].columns}
    assert columns_in_database(db_rows, table) == declared


async def test_every_migrated_table_is_declared(client, db_rows):
    """The migrations create no table that tables.py leaves out."""
    rows = db_rows(
        "SELECT table_name FROM information_schema.tables "
        "WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'"
    )
    assert {name for (name,) in rows} - {"schema_migrations"} == set(tables.metadata.tables)


def run(dsn: str, statement: str) -> list[tuple]:
    with contextlib.closing(psycopg2.connect(dsn)) as conn, conn, conn.cursor() as cur:
        cur.execute(statement)
        return cur.fetchall() if cur.description else []


async def test_migrating_again_is_a_no_op(client, database_url, db_rows):
    """A second migrate applies nothing, and every migration file is recorded."""
    assert await db.migrate_database(database_url) == []
    recorded = db_rows("SELECT version, name FROM schema_migrations ORDER BY version")
    assert recorded == [(version, name) for version, name, _ in db.migration_files()]
    assert recorded, "no migrations found"


async def test_upgrading_credits_old_sales_to_whoever_confirmed_them(scratch_dsn):
    """0004 on a database with sales: a hold confirmed by a colleague becomes the
    colleague's sale (the audit log knows), and old booking records name their owner."""
    await db.migrate_database(scratch_dsn, until=3)
    run(
        scratch_dsn,
        "INSERT INTO users (id, username, password_hash, role) VALUES"
        " (1, 'ann', 'x', 'clerk'), (2, 'bob', 'x', 'clerk'), (3, 'cyd', 'x', 'user');"
        "INSERT INTO events (id, title, date, total_seats, available_seats, price)"
        " VALUES (1, 'Gala', now() + interval '1 day', 10, 7, 5);"
        "INSERT INTO bookings (id, event_id, user_id, quantity, status, ticket_code,"
        " confirmed_at) VALUES (1, 1, 1, 1, 'confirmed', 'a', now()),"
        " (2, 1, 3, 2, 'confirmed', 'b', now()), (3, 1, 3, 3, 'cancelled', NULL, NULL);"
        "INSERT INTO audit_log (actor_id, actor, action, event_id, booking_id) VALUES"
        " (2, 'bob', 'booking.confirm', 1, 2), (1, 'ann', 'booking.cancel', 1, 3)",
    )
    assert await db.migrate_database(scratch_dsn) == [
        n for v, n, _ in db.migration_files() if v >= 4
    ]
    sales = run(scratch_dsn, "SELECT id, confirmed_by FROM bookings ORDER BY id")
    assert sales == [(1, 1), (2, 2), (3, None)]
    records = run(scratch_dsn, "SELECT action, user_id FROM audit_log ORDER BY id")
    assert records == [("booking.confirm", 3), ("booking.cancel", 3)]


async def test_upgrading_gives_old_bookings_tickets_that_work(scratch_dsn):
    """0010 on a database with bookings: every event gets its default type, every booking a
    ticket per seat (released with a cancelled one, refunded if it was a sale, admitted
    with an admitted one), and the old orders still cancel, return and check in."""
    await db.migrate_database(scratch_dsn, until=9)
    run(
        scratch_dsn,
        "INSERT INTO users (id, username, password_hash, role) VALUES (1, 'ann', 'x', 'clerk');"
        "INSERT INTO events (id, title, date, total_seats, available_seats, price, checked_in)"
        " VALUES (1, 'Gala', now() + interval '1 day', 10, 5, 5, 1);"
        "INSERT INTO bookings (id, event_id, user_id, quantity, status, ticket_code, amount,"
        " confirmed_at, confirmed_by, payment_method, cancelled_at, checked_in_at) VALUES"
        " (1, 1, 1, 2, 'confirmed', 'AAA', 10, now(), 1, 'cash', NULL, now()),"
        " (2, 1, 1, 3, 'confirmed', 'BBB', 15, now(), 1, 'card', NULL, NULL),"
        " (3, 1, 1, 4, 'cancelled', 'CCC', 20, now(), 1, 'cash', now(), NULL)",
    )
    await db.migrate_database(scratch_dsn)
    tickets = run(
        scratch_dsn,
        "SELECT booking_id, count(*), sum(price), count(code), count(released_at),"
        " sum(refund), count(checked_in_at) FROM tickets GROUP BY booking_id ORDER BY 1",
    )
    assert tickets == [
        (1, 2, Decimal("10.00"), 2, 0, None, 2),
        (2, 3, Decimal("15.00"), 3, 0, None, 0),
        (3, 4, Decimal("20.00"), 4, 4, Decimal("20.00"), 0),
    ]
    # Admitted counts are of tickets now: booking 1 admitted its two.
    assert run(scratch_dsn, "SELECT checked_in FROM events") == [(2,)]
    assert run(scratch_dsn, "SELECT name, is_default FROM ticket_types") == [("Standard", True)]
    # The old orders work: a return, a check-in by the order's code, the ledger.
    [(returned,)] = run(
        scratch_dsn,
        "SELECT boxoffice_return_tickets(jsonb_build_object('booking_id', 2, 'user_id', 1,"
        " 'staff', true, 'ticket_ids', (SELECT jsonb_agg(id) FROM"
        " (SELECT id FROM tickets WHERE booking_id = 2 LIMIT 1) t)))",
    )
    assert returned["quantity"] == 2 and returned["refund"] == 5
    [(admitted,)] = run(
        scratch_dsn, "SELECT boxoffice_check_in(jsonb_build_object('code', 'BBB', 'user_id', 1))"
    )
    assert admitted["admitted"] == 2 and admitted["event_checked_in"] == 4
    assert seat_ledger_errors(scratch_dsn) == []


@pytest.fixture
async def booked(user, make_event, db_rows):
    """An event of 10 seats with one booking of 2, made through the API."""
    event = await make_event(total_seats=10)
    reply = await user.post("/api/v1/bookings", json={"event_id": event["id"], "quantity": 2})
    assert reply.status == 201
    return {"event_id": event["id"], "booking_id": reply.data["id"], "user_id": user.user_id}


@pytest.fixture
def refused(database_url):
    """``refused(sql, *args)`` asserts the database rejects it with a check violation."""

    def run(statement, *args):
        conn = psycopg2.connect(database_url)
        try:
            with pytest.raises(psycopg2.errors.CheckViolation), conn.cursor() as cur:
                cur.execute(statement, args)
        finally:
            conn.rollback()
            conn.close()

    return run


@pytest.mark.parametrize(
    "assignment",
    ["available_seats = -1", "available_seats = total_seats + 1", "total_seats = 1"],
)
async def test_database_refuses_impossible_seats(booked, refused, db_rows, assignment):
    """Seats below zero or above the total are refused by the database itself."""
    refused(f"UPDATE events SET {assignment} WHERE id = %s", booked["event_id"])
    assert db_rows("SELECT total_seats, available_seats FROM events") == [(10, 8)]


@pytest.mark.parametrize("assignment", ["quantity = 0", "quantity = -2", "status = 'bogus'"])
async def test_database_refuses_bad_bookings(booked, refused, assignment):
    """A booking of no seats or with an unknown status is refused by the database."""
    refused(f"UPDATE bookings SET {assignment} WHERE id = %s", booked["booking_id"])


async def test_database_refuses_a_new_booking_of_zero(booked, refused):
    """Inserting a booking for zero seats is refused too."""
    refused(
        "INSERT INTO bookings (event_id, user_id, quantity) VALUES (%s, %s, 0)",
        booked["event_id"],
        booked["user_id"],
    )


async def test_database_refuses_unknown_role(user, refused, db_rows):
    """A role outside user, clerk and admin is refused by the database."""
    refused("UPDATE users SET role = 'root' WHERE id = %s", user.user_id)
    assert db_rows("SELECT role FROM users WHERE id = %s", user.user_id) == [("user",)]


@pytest.mark.parametrize(
    "assignment", ["price = -0.01", "title = '   '", "username = 'a b'", "username = 'x'"]
)
async def test_database_refuses_other_bad_values(booked, refused, assignment):
    """Negative prices, blank titles and malformed usernames are refused as well."""
    table, key = ("users", "user_id") if "username" in assignment else ("events", "event_id")
    refused(f"UPDATE {table} SET {assignment} WHERE id = %s", booked[key])
