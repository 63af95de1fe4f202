"""Login flood benchmark: what a flood of logins does to the box office's other work.

A server of its own (real bcrypt cost, the default queue bound), a steady booking load at
the counter, measured alone and then while `wrk` floods POST /auth/login with correct
passwords of a few accounts (each one a bcrypt check: a shift starting, a reconnect storm,
or someone holding a list of passwords). Needs `wrk` (Debian: apt-get install wrk).

    .venv/bin/python bench/logins.py
    .venv/bin/python bench/logins.py --seconds 20 --connections 128 --rounds 12

It prints its figures; it is not a test and asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import tempfile
import time
from pathlib import Path

import aiohttp
from harness import (
    ADMIN_PASSWORD,
    PASSWORD,
    WRK_REPORT_LUA,
    login,
    make_event,
    own_server,
    percentile,
    post,
    scratch_database,
    wrk_command,
    wrk_report,
)

# Logs in as the accounts named on its command line, in turn, and counts the statuses.
LUA = (
    r"""
function init(args)
  password = args[1]
  names = {}
  for i = 2, #args do names[#names + 1] = args[i] end
  n = 0
  counts = {}
end

function request()
  n = n + 1
  local name = names[(n % #names) + 1]
  local body = '{"username":"' .. name .. '","password":"' .. password .. '"}'
  return wrk.format("POST", "/api/v1/auth/login", {["Content-Type"] = "application/json"}, body)
end

function response(status, headers, body)
  counts[status] = (counts[status] or 0) + 1
end
"""
    + WRK_REPORT_LUA
)


class Bookings:
    """Counter sales of one seat each, ``in_flight`` at a time, for ``seconds``."""

    def __init__(self, latencies: list[float], failed: int, seconds: float) -> None:
        self.latencies, self.failed, self.seconds = latencies, failed, seconds

    def line(self, name: str) -> str:
        ms = [x * 1000 for x in self.latencies]
        return (
            f"{name:<34} {len(ms) / self.seconds:>7,.0f} bookings/s  "
            f"p50 {percentile(ms, 50):6.1f} ms  p99 {percentile(ms, 99):6.1f} ms  "
            f"({len(ms):,} ok, {self.failed:,} failed)"
        )


async def book_for(
    http: aiohttp.ClientSession, base: str, token: str, event: int, seconds: float, in_flight: int
) -> Bookings:
    latencies: list[float] = []
    failed = 0
    deadline = time.monotonic() + seconds

    async def worker() -> None:
        nonlocal failed
        body = {"event_id": event, "quantity": 1}
        while time.monotonic() < deadline:
            started = time.perf_counter()
            reply = await post(http, base + "/api/v1/bookings", body, token)
            if reply["code"] == 201:
                latencies.append(time.perf_counter() - started)
            else:
                failed += 1

    started = time.monotonic()
    await asyncio.gather(*(worker() for _ in range(in_flight)))
    return Bookings(latencies, failed, time.monotonic() - started)


async def flood(
    base: str, names: list[str], seconds: float, connections: int, threads: int
) -> tuple[dict[str, int], float, float]:
    """wrk's status counts and its p50 and p99 latency (ms) of the login flood."""
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "logins.lua"
        script.write_text(LUA)
        command = wrk_command(script, base, threads, connections, seconds, PASSWORD, *names)
        proc = await asyncio.create_subprocess_exec(
            *command, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
        )
        out = (await proc.communicate())[0].decode()
    report = wrk_report(out)
    return report.counts, report.p50, report.p99


async def login_again(http: aiohttp.ClientSession, base: str, name: str) -> float:
    """Seconds until a login succeeds once the flood stops (the queue drains first),
    retrying after each 503's Retry-After."""
    started = time.monotonic()
    body = {"username": name, "password": PASSWORD}
    while time.monotonic() - started < 60:
        reply = await post(http, base + "/api/v1/auth/login", body)
        if reply["code"] == 200:
            return time.monotonic() - started
        if reply["code"] != 503:
            raise SystemExit(f"login after the flood: {reply}")
        await asyncio.sleep(reply["data"]["retry_after"])  # as a client would
    raise SystemExit("no login within 60 s of the flood")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=15, help="of each measured phase")
    parser.add_argument("--accounts", type=int, default=32, help="accounts the flood logs in")
    parser.add_argument("--connections", type=int, default=64, help="wrk connections")
    parser.add_argument("--wrk-threads", type=int, default=1)
    parser.add_argument("--in-flight", type=int, default=4, help="bookings at once")
    parser.add_argument("--rounds", default="12", help="BOXOFFICE_BCRYPT_ROUNDS")
    parser.add_argument("--queue", default="", help="BOXOFFICE_BCRYPT_QUEUE (default: 4/thread)")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("needs wrk: apt-get install wrk")

    settings = {"BCRYPT_ROUNDS": args.rounds, "BCRYPT_QUEUE": args.queue}
    with scratch_database() as dsn:
        async with own_server(dsn, 8, **settings) as server:
            base = server.url
            async with aiohttp.ClientSession() as http:
                admin = await login(http, base, "benchadmin", ADMIN_PASSWORD)
                names = [f"floodee{i}" for i in range(args.accounts)]
                for name in names:
                    body = {"username": name, "password": PASSWORD}
                    reply = await post(http, base + "/api/v1/auth/register", body)
                    assert reply["code"] == 201, reply
                event = await make_event(http, base, admin, 1_000_000)
                await book_for(http, base, admin, event, 2, args.in_flight)  # warm up
                alone = await book_for(http, base, admin, event, args.seconds, args.in_flight)
                flooding = asyncio.create_task(
                    flood(base, names, args.seconds, args.connections, args.wrk_threads)
                )
                crowded = await book_for(http, base, admin, event, args.seconds, args.in_flight)
                statuses, p50, p99 = await flooding
                after = await login_again(http, base, names[0])

    logged_in = statuses.get("200", 0)
    busy = statuses.get("503", 0)
    other = {s: n for s, n in statuses.items() if s not in ("200", "503")}
    print()
    print(
        f"Boxoffice login flood: {os.cpu_count()} cores, bcrypt rounds {args.rounds}, "
        f"queue {args.queue or 'default (4 per thread)'}, wrk {args.connections} connections "
        f"on {args.accounts} accounts, {args.in_flight} bookings in flight, "
        f"{args.seconds:.0f} s a phase; server, database and load on one machine"
    )
    print(alone.line("bookings alone"))
    print(crowded.line("bookings during the login flood"))
    print(
        f"{'login flood':<34} {logged_in / args.seconds:>7,.1f} logins/s   "
        f"p50 {p50:6.1f} ms  p99 {p99:6.1f} ms  ({logged_in:,} logged in, {busy:,} answered "
        f"503, other {other or 'none'})"
    )
    print(f"a login right after the flood got in after {after:.1f} s (503s, then retries)")


if __name__ == "__main__":
    asyncio.run(main())
