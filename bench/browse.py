"""Browse benchmark: `GET /api/v1/events?limit=20` under `wrk` (32 connections) against
Boxoffice in one process, Boxoffice with `--workers 2`, and a bare aiohttp + aiopg app doing
the same work (the same 20 rows and columns, stdlib JSON), all in one run.

    .venv/bin/python bench/browse.py               # --seconds 10 --connections 32 --events 40

It prints requests/s, p50 and p99 for each and the ratios to the bare app, then books a few
seats and checks the seat ledger; it exits non-zero when a check fails (a missed speed target
is only reported). Needs wrk.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import aiohttp
from harness import (
    ADMIN_PASSWORD,
    ROOT,
    broken_ledger,
    free_port,
    login,
    make_event,
    make_users,
    own_server,
    post,
    scratch_database,
)

PATH = "/api/v1/events?limit=20"
TARGET_RATE = 5000
TARGET_P99_MS = 20
TARGET_RATIO = 1.8

# The same statement as Boxoffice's list (every column, by date), without its filters.
BARE_SQL = "SELECT * FROM events ORDER BY date, id LIMIT %s OFFSET %s"


@dataclass
class Result:
    name: str
    rate: float
    p50: float  # ms
    p99: float
    errors: int


def _unit_ms(value: str, unit: str) -> float:
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def parse_wrk(name: str, out: str) -> Result:
    """Requests/s and the 50% and 99% latencies of ``wrk --latency``'s report."""
    rate = re.search(r"^Requests/sec:\s+([\d.]+)", out, re.M)
    found = re.findall(r"^\s+(50|99)%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
    lat = {p: _unit_ms(v, u) for p, v, u in found}
    if rate is None or "50" not in lat or "99" not in lat:
        raise SystemExit(f"wrk said:\n{out}")
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    socket = re.search(r"Socket errors:.*?(\d+), write (\d+), timeout (\d+)", out)
    errors = int(non2xx.group(1)) if non2xx else 0
    errors += sum(int(g) for g in socket.groups()) if socket else 0
    return Result(name, float(rate.group(1)), lat["50"], lat["99"], errors)


async def wrk(name: str, url: str, connections: int, seconds: float) -> Result:
    """A short warm-up, then the measured run."""
    for secs, keep in ((2, False), (seconds, True)):
        proc = await asyncio.create_subprocess_exec(
            "wrk", "-t2", f"-c{connections}", f"-d{secs:.0f}s", "--latency", url + PATH,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
        out, _ = await proc.communicate()
        if keep:
            return parse_wrk(name, out.decode())
    raise AssertionError("unreachable")


# --- the bare app ----------------------------------------------------------------------


def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(type(value).__name__)


def bare_app(dsn: str) -> Any:
    """The least an aiohttp + aiopg app does for the same answer: one statement, the rows
    as dicts, the envelope, stdlib JSON."""
    import aiopg
    from aiohttp import web

    async def events(request: web.Request) -> web.Response:
        limit = int(request.query.get("limit", "100"))
        skip = int(request.query.get("skip", "0"))
        pool = request.app["pool"]
        async with pool.acquire() as conn, conn.cursor() as cur:
            await cur.execute(BARE_SQL, (limit, skip))
            names = [c.name for c in cur.description]
            rows = [dict(zip(names, row, strict=True)) for row in await cur.fetchall()]
        body = {"code": 200, "message": "Success", "status": "success", "data": rows}
        text = json.dumps(body, default=_plain, separators=(",", ":"))
        return web.Response(text=text, content_type="application/json")

    async def pool(app: web.Application) -> AsyncIterator[None]:
        app["pool"] = await aiopg.create_pool(dsn, minsize=2, maxsize=8)
        yield
        app["pool"].close()
        await app["pool"].wait_closed()

    app = web.Application()
    app.cleanup_ctx.append(pool)
    app.router.add_get("/api/v1/events", events)
    return app


@asynccontextmanager
async def bare_server(dsn: str) -> AsyncIterator[str]:
    port = free_port()
    proc = await asyncio.create_subprocess_exec(
        sys.executable, __file__, "--bare", dsn, "--port", str(port), cwd=ROOT,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession() as http:
            for _ in range(300):
                try:
                    async with http.get(url + PATH) as resp:
                        if resp.status == 200:
                            break
                except aiohttp.ClientError:
                    await asyncio.sleep(0.1)  # polling for readiness
            else:
                raise SystemExit("the bare app did not start")
        yield url
    finally:
        proc.terminate()
        await proc.wait()


# --- the run ---------------------------------------------------------------------------


async def same_answer(boxoffice: str, bare: str) -> None:
    """The bare app serves the same rows and columns as Boxoffice."""
    async with (
        aiohttp.ClientSession() as http,
        http.get(boxoffice + PATH) as a,
        http.get(bare + PATH) as b,
    ):
        ours, theirs = (await a.json())["data"], (await b.json())["data"]
    if [e["id"] for e in ours] != [e["id"] for e in theirs] or len(ours) != 20:
        raise SystemExit("the bare app does not list the same 20 events")
    if set(ours[0]) != set(theirs[0]):
        raise SystemExit(f"different columns: {sorted(set(ours[0]) ^ set(theirs[0]))}")


def arguments() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--events", type=int, default=40)
    parser.add_argument("--pool", type=int, default=8)
    return parser


async def measure(args: argparse.Namespace) -> tuple[list[Result], list[str]]:
    """Boxoffice in one process, with --workers 2, and the bare app, in that order; and
    what is wrong in the seat ledger afterwards."""
    results: list[Result] = []
    with scratch_database() as dsn:
        async with own_server(dsn, args.pool) as server, aiohttp.ClientSession() as http:
            admin = await login(http, server.url, "benchadmin", ADMIN_PASSWORD)
            events = [await make_event(http, server.url, admin, 100) for _ in range(args.events)]
            async with bare_server(dsn) as bare:
                await same_answer(server.url, bare)
            results.append(await wrk("Boxoffice, 1 process", server.url, args.connections,
                                     args.seconds))  # fmt: skip
        async with own_server(dsn, args.pool, WORKERS="2") as server:
            results.append(await wrk("Boxoffice, --workers 2", server.url, args.connections,
                                     args.seconds))  # fmt: skip
        async with bare_server(dsn) as bare:
            results.append(await wrk("bare aiohttp + aiopg", bare, args.connections,
                                     args.seconds))  # fmt: skip
        # Seats sold after all that, then the ledger: browsing changed nothing it should not.
        async with own_server(dsn, args.pool) as server, aiohttp.ClientSession() as http:
            [token] = await make_users(http, server.url, 1)
            for event_id in events[:5]:
                reply = await post(http, server.url + "/api/v1/bookings",
                                   {"event_id": event_id, "quantity": 2}, token)  # fmt: skip
                if reply["code"] != 201:
                    raise SystemExit(f"a booking failed: {reply}")
        return results, broken_ledger(dsn)


async def main() -> int:
    args = arguments().parse_args()
    results, broken = await measure(args)
    bare_rate = results[-1].rate
    print(f"GET {PATH}, {args.connections} connections, {args.seconds:.0f} s each (wrk)")
    print(f"{'':<24} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'x bare':>7} {'errors':>7}")
    for r in results:
        print(f"{r.name:<24} {r.rate:>9,.0f} {r.p50:>8.2f} {r.p99:>8.2f} "
              f"{r.rate / bare_rate:>7.2f} {r.errors:>7}")  # fmt: skip
    one = results[0]
    print(
        f"targets, one process: ≥ {TARGET_RATE:,} req/s "
        f"({'met' if one.rate >= TARGET_RATE else 'NOT met'}), p99 < {TARGET_P99_MS} ms "
        f"({'met' if one.p99 < TARGET_P99_MS else 'NOT met'}), ≥ {TARGET_RATIO}x bare "
        f"({'met' if one.rate >= TARGET_RATIO * bare_rate else 'NOT met'})"
    )
    if broken:
        print("seat ledger BROKEN: " + "; ".join(broken))
        return 1
    if any(r.errors for r in results):
        print("some requests failed")
        return 1
    print("seat ledger: ok")
    return 0


def serve_bare() -> None:
    """``browse.py --bare DSN --port N``: the bare app, as a process of its own."""
    from aiohttp import web

    parser = argparse.ArgumentParser()
    parser.add_argument("--bare", metavar="DSN", required=True)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    web.run_app(bare_app(args.bare), host="127.0.0.1", port=args.port, print=None)


if __name__ == "__main__":
    if "--bare" in sys.argv:
        serve_bare()
    else:
        raise SystemExit(asyncio.run(main()))
