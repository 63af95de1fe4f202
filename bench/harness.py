"""What the benchmarks share: a server of their own on a scratch database, accounts,
events, and timing a batch of requests."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import socket
import sys
import tempfile
import time
import uuid
from asyncio.subprocess import DEVNULL, PIPE
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractContextManager, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import jwt
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
    """Run ``sql`` on a connection of its own, committed."""
    conn = psycopg2.connect(dsn)
    try:
        with conn, conn.cursor() as cur:
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


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process, from /proc (Linux)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


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


async def make_venue(http: aiohttp.ClientSession, base: str, admin: str, plan: dict) -> int:
    """A venue with ``plan`` (the compact form, as POST /venues takes it): its id."""
    reply = await post(http, base + "/api/v1/venues", plan, admin)
    if reply["code"] != 201:
        raise SystemExit(f"the venue was refused: {reply}")
    return reply["data"]["id"]


async def make_seated_event(
    http: aiohttp.ClientSession, base: str, admin: str, venue_id: int, price: str = "40.00"
) -> int:
    """A seated event on the venue's plan (its seats are the plan's current seats)."""
    body = {
        "title": f"Seated event {uuid.uuid4().hex[:6]}",
        "date": "2099-01-01T20:00:00+00:00",
        "venue_id": venue_id,
        "price": price,
    }
    reply = await post(http, base + "/api/v1/events", body, admin)
    if reply["code"] != 201:
        raise SystemExit(f"the event was refused: {reply}")
    return reply["data"]["id"]


def user_id(token: str) -> int:
    """The account an access token is for (its subject; the signature is the server's
    business)."""
    return int(jwt.decode(token, options={"verify_signature": False})["sub"])


async def seed(
    http: aiohttp.ClientSession, base: str, users: int, events: int, seats: int
) -> tuple[list[str], list[int]]:
    """What a run books against: ``users`` new accounts (their access tokens) and ``events``
    events of ``seats`` seats each (their ids), made by own_server's admin."""
    admin = await login(http, base, "benchadmin", ADMIN_PASSWORD)
    tokens = await make_users(http, base, users)
    return tokens, [await make_event(http, base, admin, seats) for _ in range(events)]


# What the wrk scripts share: each thread numbered (its global id) and, when wrk is done, a
# per-thread table of counts (the global counts) summed over the threads, as JSON on a
# line "COUNTS", and a line "REPORT": p50 and p99 latency (us), answers, socket errors.
WRK_REPORT_LUA = r"""
local threads = {}
local next_id = 0

function setup(thread)
  thread:set("id", next_id)
  next_id = next_id + 1
  table.insert(threads, thread)
end

function done(summary, latency, requests)
  local total = {}
  for _, thread in ipairs(threads) do
    for key, count in pairs(thread:get("counts")) do
      total[key] = (total[key] or 0) + count
    end
  end
  local parts = {}
  for key, count in pairs(total) do
    parts[#parts + 1] = '"' .. key .. '":' .. count
  end
  local e = summary.errors
  io.write("COUNTS {" .. table.concat(parts, ",") .. "}\n")
  io.write(string.format("REPORT %d %d %d %d\n", latency:percentile(50),
    latency:percentile(99), summary.requests, e.connect + e.read + e.write + e.timeout))
end
"""


@dataclass
class LoadReport:
    counts: dict[str, int]
    p50: float  # ms
    p99: float
    answered: int
    socket_errors: int


def wrk_command(
    script: Path, base: str, threads: int, connections: int, seconds: float, *args: str
) -> list[str]:
    """wrk running ``script`` (which ends with WRK_REPORT_LUA) with ``args``."""
    return [
        "wrk",
        f"-t{threads}",
        f"-c{connections}",
        f"-d{seconds:.0f}s",
        "--timeout",
        "30s",
        "-s",
        str(script),
        base,
        "--",
        *args,
    ]


def wrk_report(out: str) -> LoadReport:
    """What WRK_REPORT_LUA wrote."""
    counts = re.search(r"^COUNTS (\{.*\})$", out, re.M)
    report = re.search(r"^REPORT (\d+) (\d+) (\d+) (\d+)$", out, re.M)
    if counts is None or report is None:
        raise SystemExit(f"wrk said:\n{out}")
    p50, p99, answered, errors = (int(v) for v in report.groups())
    # wrk reports microseconds
    return LoadReport(json.loads(counts.group(1)), p50 / 1000, p99 / 1000, answered, errors)


# Sends each request of a file once (a line: token, path, JSON body), the file's lines
# dealt round the threads; a thread whose share is answered says so (FINISHED, with when it
# sent its first request and got its last answer, on the monotonic clock) and stops. wrk
# itself runs until -d is up or it is interrupted, so wrk_batch interrupts it then. A C load
# generator leaves the cores to the server. A 409's reason is told from its data: the
# largest block, taken seats, or the seats left.
BATCH_LUA = (
    r"""
local ffi = require("ffi")
ffi.cdef[[
typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
int clock_gettime(int clock, bench_timespec *tp);
]]
local ts = ffi.new("bench_timespec")
local function now_us()
  ffi.C.clock_gettime(1, ts)  -- CLOCK_MONOTONIC
  return tonumber(ts.tv_sec) * 1000000 + math.floor(tonumber(ts.tv_nsec) / 1000)
end

function init(args)
  local path, count = args[1], tonumber(args[2])
  reqs = {}
  local i = 0
  for line in io.lines(path) do
    if i % count == id then
      local token, method, target, body = line:match("^(%S+) (%S+) (%S+) (.*)$")
      if body == "null" then body = nil end
      reqs[#reqs + 1] = wrk.format(method, target, {
        ["Content-Type"] = "application/json",
        ["Authorization"] = "Bearer " .. token,
      }, body)
    end
    i = i + 1
  end
  sent = 0
  answered = 0
  counts = {}
  -- wrk 4 calls request() once on thread 0's state to check the script before the run:
  -- that call sends nothing, so it must not take a request off the share.
  checking = id == 0
end

-- Called before each request but a connection's first: a connection whose thread has sent
-- its share waits for good (an hour) instead of sending another.
function delay()
  if sent >= #reqs then return 3600000 end
  return 0
end

function request()
  if checking then
    checking = false
    return reqs[1]
  end
  if sent == 0 then started = now_us() end
  sent = sent + 1
  return reqs[sent]
end

function response(status, headers, body)
  answered = answered + 1
  local key = tostring(status)
  if status == 409 then
    if body:find('"largest_block"', 1, true) then key = "409 no_block"
    elseif body:find('"seat_ids"', 1, true) then key = "409 seats_taken"
    elseif body:find('"available_seats"', 1, true) then key = "409 sold_out"
    end
  end
  counts[key] = (counts[key] or 0) + 1
  if answered == #reqs then
    io.write(string.format("FINISHED %d %d %d\n", id, started, now_us()))
    io.stdout:flush()
    wrk.thread:stop()
  end
end
"""
    + WRK_REPORT_LUA
)


@dataclass
class Batch:
    """A batch of requests, each sent once: answers by status (a 409 by reason in
    ``report.counts``), latencies, and the seconds from the first request to the last
    answer."""

    name: str
    report: LoadReport
    seconds: float

    def count(self, prefix: str) -> int:
        return sum(n for key, n in self.report.counts.items() if key.startswith(prefix))


async def wrk_batch(
    name: str,
    base: str,
    requests: list[tuple[str, str, dict | None]],
    connections: int,
    threads: int = 2,
    method: str = "POST",
) -> Batch:
    """Send each (token, path, body) once through wrk with ``method``, ``connections`` in
    flight."""
    threads = min(threads, len(requests), connections)
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "batch.lua"
        script.write_text(BATCH_LUA)
        lines = Path(tmp) / "requests"
        lines.write_text(
            "".join(
                f"{token} {method} {path} {json.dumps(body)}\n" for token, path, body in requests
            )
        )
        # -d is a bound only: wrk is interrupted when every thread has finished.
        command = wrk_command(script, base, threads, connections, 600, str(lines), str(threads))
        proc = await asyncio.create_subprocess_exec(
            *command, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
        )
        assert proc.stdout is not None
        out: list[str] = []
        spans: list[tuple[int, int]] = []
        while len(spans) < threads and (line := (await proc.stdout.readline()).decode()):
            out.append(line)
            if line.startswith("FINISHED "):
                _, _, first, last = line.split()
                spans.append((int(first), int(last)))
        if len(spans) == threads:
            proc.send_signal(signal.SIGINT)  # wrk then reports, as at the end of -d
        out.append((await proc.communicate())[0].decode())
    if len(spans) < threads:
        raise SystemExit("wrk said:\n" + "".join(out))
    report = wrk_report("".join(out))
    seconds = (max(last for _, last in spans) - min(first for first, _ in spans)) / 1e6
    return Batch(name, report, seconds)
