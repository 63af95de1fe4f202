"""Load benchmark: a hot-event booking storm, a browse load, and the same booking SQL run
straight through the driver, in one run so the ratio between them means something.

    .venv/bin/python bench/load.py                 # starts its own server on a scratch database
    .venv/bin/python bench/load.py --users 5000 --in-flight 64

It prints its figures; it is not a test and asserts nothing but the seat ledger.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
from collections.abc import Awaitable, Callable

import aiohttp
from harness import (
    ADMIN_PASSWORD,
    Run,
    broken_ledger,
    drive,
    login,
    make_event,
    make_users,
    own_server,
    post,
    scratch_database,
)

from server import db
from server import queries as q


async def hot_event(
    http: aiohttp.ClientSession, base: str, tokens: list[str], event: int, in_flight: int
) -> Run:
    def job(token: str) -> Callable[[], Awaitable[bool]]:
        async def book() -> bool:
            reply = await post(
                http, base + "/api/v1/bookings", {"event_id": event, "quantity": 1}, token
            )
            return reply["code"] == 201

        return book

    return await drive("hot event: POST /bookings", [job(t) for t in tokens], in_flight)


async def browse(http: aiohttp.ClientSession, base: str, requests: int, in_flight: int) -> Run:
    async def get() -> bool:
        async with http.get(base + "/api/v1/events?limit=20") as resp:
            await resp.read()
            return resp.status == 200

    return await drive("browse: GET /events", [get] * requests, in_flight)


async def direct_sql(
    dsn: str, user_ids: list[int], event: int, in_flight: int, pool_size: int
) -> Run:
    """The booking statement the server runs, one order a transaction, straight through
    aiopg: what the server would do without combining."""
    pool = await db.create_pool(dsn, minsize=pool_size, maxsize=pool_size)
    database = db.Database(pool)

    def job(user_id: int) -> Callable[[], Awaitable[bool]]:
        async def book() -> bool:
            # The parameters the server passes (server/booking.py), audit signature included.
            row = await database.fetchone(
                q.PLACE_ORDERS,
                reqs=json.dumps(
                    [
                        {
                            "event_id": event,
                            "user_id": user_id,
                            "staff": False,
                            "lines": [{"type": None, "quantity": 1, "seats": None}],
                            "best": None,
                            "customer_name": None,
                            "payment_method": None,
                            "hold": False,
                            # a sale: users pay through the shop (see own_server)
                            "reserve": False,
                            "hold_cap": None,
                            "hold_seconds": 600,
                            "actor_id": user_id,
                            "actor": f"user{user_id}",
                            "source": "127.0.0.1",
                        }
                    ]
                ),
            )
            return row is not None and '"refused"' not in row["result"]

        return book

    try:
        return await drive("direct SQL: the order function", [job(u) for u in user_ids], in_flight)
    finally:
        pool.close()
        await pool.wait_closed()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=3000, help="users in the hot-event storm")
    parser.add_argument("--in-flight", type=int, default=64)
    parser.add_argument("--browse", type=int, default=20000, help="GET /events requests")
    parser.add_argument("--pool", type=int, default=8, help="database connections")
    args = parser.parse_args()

    with scratch_database() as dsn:
        async with own_server(dsn, args.pool) as server:
            base = server.url
            connector = aiohttp.TCPConnector(limit=args.in_flight)
            async with aiohttp.ClientSession(connector=connector) as http:
                admin = await login(http, base, "benchadmin", ADMIN_PASSWORD)
                print(f"setting up {args.users:,} users ...", flush=True)
                tokens = await make_users(http, base, args.users)
                for i in range(5):  # a few browsable events
                    await make_event(http, base, admin, 100 + i)
                hot = await make_event(http, base, admin, args.users)
                direct_event = await make_event(http, base, admin, args.users)
                await browse(http, base, 500, args.in_flight)  # warm up
                storm = await hot_event(http, base, tokens, hot, args.in_flight)
                listing = await browse(http, base, args.browse, args.in_flight)
        user_ids = list(range(2, args.users + 2))
        raw = await direct_sql(dsn, user_ids, direct_event, args.in_flight, args.pool)
        broken = broken_ledger(dsn)

    print()
    print(
        f"Boxoffice load benchmark: {os.cpu_count()} cores, {args.in_flight} in flight, "
        f"{args.pool} database connections, server and load generator on one machine"
    )
    print(storm.line("bookings/s"))
    print(listing.line("requests/s"))
    print(raw.line("bookings/s"))
    print(f"{'HTTP / direct SQL':<28} {storm.rate / raw.rate:>9.2f}   (target >= 0.5)")
    print("targets: hot event >= 1,000 bookings/s with p99 < 100 ms; browse >= 1,500 req/s")
    print(f"seat ledger after the run: {f'BROKEN for events {broken}' if broken else 'ok'}")


if __name__ == "__main__":
    asyncio.run(main())
