"""What the benchmarks share: a server of their own on a scratch database, accounts,
events, and timing a batch of requests."""

from __future__ import annotations

import asyncio
import os
import socket
import sys
import time
import uuid
from asyncio.subprocess import DEVNULL, PIPE
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractContextManager, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import psycopg2

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from server import embedded  # noqa: E402
from server import queries as q  # noqa: E402
from server.reports import ledger_errors  # noqa: E402

ADMIN_PASSWORD = "bench-admin-password"
PASSWORD = "bench-password"


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


def query(dsn: str, sql: str, params: object = None) -> list[tuple]:
    """Run ``sql`` on a connection of its own."""
    conn = psycopg2.connect(dsn)
    try:
        with conn.cursor() as cur:
            cur.execute(sql, params)
            return cur.fetchall()
    finally:
        conn.close()


def broken_ledger(dsn: str) -> list[str]:
    """What is wrong in the seat ledger (``server.reports.ledger_errors``): nothing, unless
    seats were lost or sold twice."""
    return ledger_errors(query(dsn, q.SEAT_LEDGER.sql, q.SEAT_LEDGER.params({})))


def scratch_database() -> AbstractContextManager[str]:
    """A new database on the scratch PostgreSQL, dropped afterwards."""
    return embedded.scratch_database("boxoffice_bench")


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
        return percentile(self.latencies, p) * 1000

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


@dataclass
class Server:
    url: str
    pid: int

    def rss_kib(self) -> int:
        """Resident memory of the server process, from /proc (Linux)."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise RuntimeError("no VmRSS")


@asynccontextmanager
async def own_server(
    dsn: str, pool_size: int, log_path: Path | None = None, **settings: str
) -> AsyncIterator[Server]:
    """A `boxoffice serve` process on a scratch database, with one admin account; its
    output goes to ``log_path`` when given. ``settings`` are BOXOFFICE_* variables that
    replace the defaults below (``BCRYPT_QUEUE="8"``)."""
    port = free_port()
    env = {
        **os.environ,
        "BOXOFFICE_DATABASE_URL": dsn,
        "BOXOFFICE_JWT_SECRET": uuid.uuid4().hex * 2,
        "BOXOFFICE_BCRYPT_ROUNDS": "4",
        "BOXOFFICE_PORT": str(port),
        "BOXOFFICE_POOL_MAX_SIZE": str(pool_size),
        "BOXOFFICE_MAX_TICKETS_PER_BOOKING": "10",
        # The seeding registers thousands of accounts from one address, hundreds at once.
        "BOXOFFICE_REGISTER_MAX_PER_ADDRESS": "1000000",
        "BOXOFFICE_BCRYPT_QUEUE": "100000",
        # The benchmarks' users are an online shop's customers, who pay through it: their
        # bookings are sales and they confirm their own holds, as many as they like.
        "BOXOFFICE_USER_BOOKINGS": "confirm",
        "BOXOFFICE_MAX_HELD_SEATS": "1000000",
        **{f"BOXOFFICE_{name}": value for name, value in settings.items()},
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
    log = log_path.open("ab") if log_path is not None else None
    proc = await asyncio.create_subprocess_exec(
        *cli,
        "serve",
        env=env,
        cwd=ROOT,
        stdout=log or DEVNULL,
        stderr=asyncio.subprocess.STDOUT if log else DEVNULL,
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
        yield Server(url, proc.pid)
    finally:
        proc.terminate()
        await proc.wait()
        if log is not None:
            log.close()


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


async def seed(
    http: aiohttp.ClientSession, base: str, users: int, events: int, seats: int
) -> tuple[list[str], list[int]]:
    """What a run books against: ``users`` new accounts (their access tokens) and ``events``
    events of ``seats`` seats each (their ids), made by own_server's admin."""
    admin = await login(http, base, "benchadmin", ADMIN_PASSWORD)
    tokens = await make_users(http, base, users)
    return tokens, [await make_event(http, base, admin, seats) for _ in range(events)]
