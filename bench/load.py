"""Load benchmark: a hot-event booking storm, a browse load, and the same booking SQL run
straight through the driver, in one run so the ratio between them means something.

    .venv/bin/python bench/load.py                 # starts its own server on a scratch database
    .venv/bin/python bench/load.py --users 5000 --in-flight 64

It prints its figures; it is not a test and asserts nothing but the seat ledger.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import sys
import time
import uuid
from asyncio.subprocess import DEVNULL, PIPE
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import psycopg2

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from server import db, embedded  # noqa: E402
from server import queries as q  # noqa: E402

ADMIN_PASSWORD = "bench-admin-password"
PASSWORD = "bench-password"


@dataclass
class Run:
    name: str
    ok: int
    failed: int
    seconds: float
    latencies: list[float]

    @property
    def rate(self) -> float:
        return self.ok / self.seconds

    def pct(self, p: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))] * 1000

    def line(self, unit: str) -> str:
        return (
            f"{self.name:<28} {self.rate:>9,.0f} {unit:<11} p50 {self.pct(50):6.1f} ms  "
            f"p99 {self.pct(99):6.1f} ms  ({self.ok:,} ok, {self.failed:,} failed, "
            f"{self.seconds:.2f} s)"
        )


async def drive(name: str, jobs: list[Callable[[], Awaitable[bool]]], in_flight: int) -> Run:
    """Run the jobs with at most ``in_flight`` at once; time each one."""
    queue: asyncio.Queue[Callable[[], Awaitable[bool]]] = asyncio.Queue()
    for job in jobs:
        queue.put_nowait(job)
    latencies: list[float] = []
    failures = 0

    async def worker() -> None:
        nonlocal failures
        while not queue.empty():
            job = queue.get_nowait()
            started = time.perf_counter()
            ok = await job()
            if ok:
                latencies.append(time.perf_counter() - started)
            else:
                failures += 1

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(in_flight)))
    return Run(name, len(latencies), failures, time.perf_counter() - started, latencies)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@asynccontextmanager
async def own_server(dsn: str, pool_size: int) -> AsyncIterator[str]:
    """A `boxoffice serve` process on a scratch database, with one admin account."""
    port = free_port()
    env = {
        **os.environ,
        "BOXOFFICE_DATABASE_URL": dsn,
        "BOXOFFICE_JWT_SECRET": uuid.uuid4().hex * 2,
        "BOXOFFICE_BCRYPT_ROUNDS": "4",
        "BOXOFFICE_PORT": str(port),
        "BOXOFFICE_POOL_MAX_SIZE": str(pool_size),
        "BOXOFFICE_MAX_TICKETS_PER_BOOKING": "10",
    }
    cli = [sys.executable, "-m", "server.cli"]
    add = await asyncio.create_subprocess_exec(
        *cli,
        "user",
        "add",
        "benchadmin",
        "--role",
        "admin",
        env=env,
        cwd=ROOT,
        stdin=PIPE,
        stdout=DEVNULL,
        stderr=DEVNULL,
    )
    await add.communicate((ADMIN_PASSWORD + "\n").encode())
    proc = await asyncio.create_subprocess_exec(
        *cli, "serve", env=env, cwd=ROOT, stdout=DEVNULL, stderr=DEVNULL
    )
    url = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession() as http:
            deadline = time.monotonic() + 30
            while True:
                try:
                    async with http.get(url + "/") as resp:
                        if resp.status == 200:
                            break
                except aiohttp.ClientError:
                    pass
                if time.monotonic() > deadline or proc.returncode is not None:
                    raise SystemExit("the server did not start")
                await asyncio.sleep(0.1)  # polling for readiness, not synchronising a test
        yield url
    finally:
        proc.terminate()
        await proc.wait()


async def post(http: aiohttp.ClientSession, url: str, body: dict, token: str = "") -> dict:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with http.post(url, json=body, headers=headers) as resp:
        return await resp.json()


async def login(http: aiohttp.ClientSession, base: str, username: str, password: str) -> str:
    reply = await post(
        http, base + "/api/v1/auth/login", {"username": username, "password": password}
    )
    return reply["data"]["access_token"]


async def make_users(http: aiohttp.ClientSession, base: str, count: int) -> list[str]:
    tag = uuid.uuid4().hex[:6]

    async def one(i: int) -> str:
        name = f"fan{tag}{i}"
        await post(http, base + "/api/v1/auth/register", {"username": name, "password": PASSWORD})
        return await login(http, base, name, PASSWORD)

    tokens: list[str] = []
    for start in range(0, count, 200):
        tokens += await asyncio.gather(*(one(i) for i in range(start, min(count, start + 200))))
    return tokens


async def make_event(http: aiohttp.ClientSession, base: str, admin: str, seats: int) -> int:
    body = {
        "title": f"Hot event {uuid.uuid4().hex[:6]}",
        "date": "2099-01-01T20:00:00+00:00",
        "venue": "Bench Arena",
        "total_seats": seats,
        "price": "10.00",
    }
    reply = await post(http, base + "/api/v1/events", body, admin)
    return reply["data"]["id"]


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
    """The booking statement the server runs, straight through aiopg: the ceiling."""
    pool = await db.create_pool(dsn, minsize=pool_size, maxsize=pool_size)
    database = db.Database(pool)

    def job(user_id: int) -> Callable[[], Awaitable[bool]]:
        async def book() -> bool:
            row = await database.fetchone(
                q.BOOK, event_id=event, user_id=user_id, quantity=1, customer_name=None
            )
            return row is not None and row["id"] is not None

        return book

    try:
        return await drive("direct SQL: BOOK statement", [job(u) for u in user_ids], in_flight)
    finally:
        pool.close()
        await pool.wait_closed()


def check_ledger(dsn: str) -> str:
    conn = psycopg2.connect(dsn)
    try:
        with conn.cursor() as cur:
            cur.execute(q.SEAT_LEDGER.sql, q.SEAT_LEDGER.params({}))
            bad = [r for r in cur.fetchall() if r[1] - r[2] != r[3]]
    finally:
        conn.close()
    return "ok" if not bad else f"BROKEN for events {[r[0] for r in bad]}"


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=3000, help="users in the hot-event storm")
    parser.add_argument("--in-flight", type=int, default=64)
    parser.add_argument("--browse", type=int, default=20000, help="GET /events requests")
    parser.add_argument("--pool", type=int, default=10, help="database connections")
    args = parser.parse_args()

    server = embedded.scratch_server()
    name = f"boxoffice_bench_{uuid.uuid4().hex[:8]}"
    embedded.create_database(server, name)
    dsn = embedded.with_database(server, name)
    try:
        async with own_server(dsn, args.pool) as base:
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
        ledger = check_ledger(dsn)
    finally:
        embedded.drop_database(server, name)

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
    print(f"seat ledger after the run: {ledger}")


if __name__ == "__main__":
    asyncio.run(main())
