"""Issue 12's table in one run: browsing and a hot event, Boxoffice in one process and with
``--workers 2``, and the bare stack beside them.

    .venv/bin/python bench/speed.py          # needs wrk; a couple of minutes

Browsing is bench/browse.py's load (``GET /api/v1/events?limit=20``, 32 connections; the
bare stack is an aiohttp + aiopg app doing the same work). The hot event is
bench/hot_event.py's (each of 6,000 buyers books one seat of one event, 64 in flight; the
bare stack is the booking statement run one a transaction straight through aiopg). Those
scripts have the details and their own targets; this one runs both and prints them side
by side, and exits non-zero when a check of either fails (a request failed, the seat
ledger is broken).
"""

from __future__ import annotations

import asyncio
import os

import browse
import hot_event


def cell(rate: float, p99: float) -> str:
    return f"{rate:>8,.0f}/s p99 {p99:5.1f} ms"


async def main() -> int:
    browsed, broken = await browse.measure(browse.arguments().parse_args([]))
    hot = await hot_event.measure(hot_event.arguments().parse_args(["--only", "hot"]))
    one, two, bare = browsed
    combined, workers, _alone = hot.hot_runs
    assert hot.direct is not None
    rate = hot_event.rate
    print()
    print(f"{os.cpu_count()} cores; server, PostgreSQL and wrk on this machine")
    print(f"{'load':<44} {'1 process':>24} {'--workers 2':>24} {'bare stack':>24}")
    print(
        f"{'GET /api/v1/events?limit=20, 32 connections':<44} {cell(one.rate, one.p99):>24} "
        f"{cell(two.rate, two.p99):>24} {cell(bare.rate, bare.p99):>24}"
    )
    print(
        f"{'hot event: POST /bookings, 64 connections':<44} "
        f"{cell(rate(combined), combined.report.p99):>24} "
        f"{cell(rate(workers), workers.report.p99):>24} "
        f"{cell(hot.direct.rate, hot.direct.pct(99)):>24}"
    )
    print(
        f"browsing: {one.rate / bare.rate:.2f}x the bare stack (target 1.8x); hot event: "
        f"{rate(combined) / hot.direct.rate:.2f}x the statement straight through aiopg "
        "(target 1.3x)"
    )
    problems = [*hot.problems, *(f"seat ledger: {b}" for b in broken)]
    problems += [f"{r.name}: {r.errors} errors" for r in browsed if r.errors]
    for problem in problems:
        print(f"FAILED: {problem}")
    print("checks: " + ("FAILED" if problems else "every request answered, seat ledger ok"))
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
