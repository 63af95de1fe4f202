"""Shift reports on a large history: the report's statement with the bookings' (confirmed_at)
and (cancelled_at) indexes and the tickets' refunded (released_at) one, against the same
statement with index scans turned off (a full scan of bookings and tickets, the baseline),
measured in the same run.

    .venv/bin/python bench/reports.py            # --bookings 300000 --days 60 --repeat 50
"""

from __future__ import annotations

import argparse
import asyncio
import time
from datetime import UTC, datetime, timedelta

import psycopg2
from harness import percentile, scratch_database

from server import db
from server import queries as q

CLERKS = 20
ACCOUNTS = 200
EVENTS = 50

SEED = """
INSERT INTO users (id, username, password_hash, role)
  SELECT g, 'account' || g, 'x', CASE WHEN g <= %(clerks)s THEN 'clerk' ELSE 'user' END
    FROM generate_series(1, %(accounts)s) g;
INSERT INTO events (id, title, date, total_seats, available_seats, price)
  SELECT g, 'Event ' || g, now() + interval '90 days', 1000000, 1000000, 10
    FROM generate_series(1, %(events)s) g;
-- One booking every `step` seconds going back `days`; one in ten cancelled an hour later.
INSERT INTO bookings (event_id, user_id, quantity, status, ticket_code, amount, created_at,
                      confirmed_at, confirmed_by, cancelled_at, cancelled_by)
  SELECT 1 + g %% %(events)s, 1 + g %% %(accounts)s, 1,
         CASE WHEN g %% 10 = 0 THEN 'cancelled' ELSE 'confirmed' END,
         CASE WHEN g %% 10 = 0 THEN NULL ELSE md5(g::text) END, 10,
         now() - g * %(step)s * interval '1 second',
         now() - g * %(step)s * interval '1 second', 1 + g %% %(accounts)s,
         CASE WHEN g %% 10 = 0 THEN now() - g * %(step)s * interval '1 second'
                                    + interval '1 hour' END,
         CASE WHEN g %% 10 = 0 THEN 1 + g %% %(clerks)s END
    FROM generate_series(1, %(bookings)s) g;
-- A ticket each, given back with its cancelled booking (refunded by the canceller).
INSERT INTO tickets (booking_id, event_id, ticket_type_id, price, created_at, released_at,
                     release, released_by, refund)
  SELECT b.id, b.event_id, t.id, 10, b.created_at, b.cancelled_at,
         CASE WHEN b.cancelled_at IS NOT NULL THEN 'cancelled' END, b.cancelled_by,
         CASE WHEN b.cancelled_at IS NOT NULL THEN 10 END
    FROM bookings b JOIN ticket_types t ON t.event_id = b.event_id AND t.is_default;
ANALYZE;
"""


def timed(cur: psycopg2.extensions.cursor, params: dict, repeat: int) -> tuple[list[float], int]:
    times, rows = [], 0
    for _ in range(repeat):
        start = time.perf_counter()
        cur.execute(q.SHIFT_REPORT.sql, params)
        rows = len(cur.fetchall())
        times.append(time.perf_counter() - start)
    return times, rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bookings", type=int, default=300_000)
    parser.add_argument("--days", type=int, default=60)
    parser.add_argument("--repeat", type=int, default=50)
    args = parser.parse_args()

    with scratch_database() as dsn:
        asyncio.run(db.migrate_database(dsn))
        conn = psycopg2.connect(dsn)
        conn.autocommit = True
        with conn, conn.cursor() as cur:
            step = args.days * 86400 / args.bookings
            seed = {"clerks": CLERKS, "accounts": ACCOUNTS, "events": EVENTS, "step": step}
            cur.execute(SEED, {**seed, "bookings": args.bookings})
            now = datetime.now(UTC)
            shift = {"date_from": now - timedelta(hours=12), "date_to": now}
            print(
                f"{args.bookings:,} bookings over {args.days} days; a 12-hour shift; "
                f"p50 of {args.repeat} runs"
            )
            print(f"{'report':<14} {'indexed':>10} {'full scan':>10} {'ratio':>7} {'lines':>6}")
            for name, who in (("one clerk", 3), ("all staff", None)):
                params = q.SHIFT_REPORT.params({**shift, "user_id": who})
                fast, lines = timed(cur, params, args.repeat)
                cur.execute("SET enable_bitmapscan = off; SET enable_indexscan = off")
                slow, _ = timed(cur, params, max(3, args.repeat // 10))
                cur.execute("RESET enable_bitmapscan; RESET enable_indexscan")
                p_fast, p_slow = percentile(fast, 50) * 1000, percentile(slow, 50) * 1000
                print(
                    f"{name:<14} {p_fast:>7.2f} ms {p_slow:>7.1f} ms "
                    f"{p_slow / p_fast:>6.0f}x {lines:>6}"
                )
        conn.close()


if __name__ == "__main__":
    main()
