"""Hot-event benchmark: one event's bookings of one seat each, sent by wrk, 64 in flight.

    .venv/bin/python bench/hot_event.py
    .venv/bin/python bench/hot_event.py --buyers 3000 --events 100

In one run, on one scratch database: the server combining the bookings that arrive while
the event's statement runs (server/combining.py), in one process and with ``--workers 2``;
the same server placing each alone (``BOXOFFICE_COMBINE_ORDERS=1``); and the booking
statement run one per transaction straight through aiopg (bench/load.py's direct_sql), the
rate without combining at its best. Then bookings spread over many events and their
cancels, combining and alone. It prints the figures and the targets, and ends with the seat
ledger; it exits non-zero only when a check fails (a missed speed target is reported).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import uuid
from dataclasses import dataclass
from statistics import median

import aiohttp
from harness import (
    ADMIN_PASSWORD,
    Batch,
    broken_ledger,
    login,
    make_event,
    make_users,
    own_server,
    query,
    scratch_database,
    user_id,
    wrk_batch,
)
from load import Run, direct_sql

TARGET_ONE, TARGET_TWO, TARGET_P99_MS, TARGET_RATIO = 2000, 2500, 50, 1.3
BOOKINGS = "/api/v1/bookings"


def rate(run: Batch) -> float:
    return (run.count("201") + run.count("200")) / run.seconds


def line(run: Batch) -> str:
    ok = run.count("201") + run.count("200")
    return (
        f"{run.name:<44} {rate(run):>7,.0f}/s  p50 {run.report.p50:6.1f} ms  "
        f"p99 {run.report.p99:6.1f} ms  ({ok:,} ok of {run.report.answered:,}, "
        f"{run.seconds:.2f} s)"
    )


def print_hot(runs: list[Batch], direct: Run) -> None:
    combined, two, alone = runs
    for run in runs:
        print(line(run))
    print(
        f"{'direct SQL, one booking a transaction':<44} {direct.rate:>7,.0f}/s  "
        f"p50 {direct.pct(50):6.1f} ms  p99 {direct.pct(99):6.1f} ms"
    )
    ratio = rate(combined) / direct.rate
    print(
        f"combining vs each alone: {rate(combined) / rate(alone):.2f}x; vs direct SQL: {ratio:.2f}x"
    )
    print(
        f"targets: 1 process >= {TARGET_ONE:,}/s: "
        f"{'met' if rate(combined) >= TARGET_ONE else 'MISSED'}; "
        f"--workers 2 >= {TARGET_TWO:,}/s: {'met' if rate(two) >= TARGET_TWO else 'MISSED'}; "
        f"p99 < {TARGET_P99_MS} ms: "
        f"{'met' if max(combined.report.p99, two.report.p99) < TARGET_P99_MS else 'MISSED'}; "
        f">= {TARGET_RATIO}x direct SQL: {'met' if ratio >= TARGET_RATIO else 'MISSED'}"
    )


def arguments() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--buyers", type=int, default=6000, help="bookings per hot-event run")
    parser.add_argument("--events", type=int, default=100, help="events of the spread load")
    parser.add_argument("--in-flight", type=int, default=64)
    parser.add_argument("--pool", type=int, default=8, help="database connections per process")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument(
        "--rounds", type=int, default=2, help="rounds of the spread load, each mode once a round"
    )
    parser.add_argument(
        "--only", choices=("hot", "spread"), help="run only the hot event or the spread load"
    )
    return parser


@dataclass
class Measured:
    hot_runs: list[Batch]  # combining in 1 process, with --workers 2, each alone
    direct: Run | None
    spread_runs: dict[str, list[tuple[Batch, Batch]]]  # mode: (bookings, cancels) a round
    problems: list[str]


async def measure(args: argparse.Namespace) -> Measured:
    # Every server of the run signs with one secret, so the buyers' tokens work on each.
    secret = uuid.uuid4().hex * 2
    problems: list[str] = []

    with scratch_database() as dsn:

        async def server_run(name: str, make: list, method: str = "POST", **settings: str):
            async with own_server(dsn, args.pool, JWT_SECRET=secret, **settings) as server:
                async with aiohttp.ClientSession() as http:  # warm up: connections, plans
                    for _ in range(50):
                        async with http.get(server.url + "/api/v1/events?limit=5") as resp:
                            await resp.read()
                return await wrk_batch(
                    name, server.url, make, args.in_flight, args.threads, method=method
                )

        async with (
            own_server(dsn, args.pool, JWT_SECRET=secret) as server,
            aiohttp.ClientSession() as http,
        ):
            admin = await login(http, server.url, "benchadmin", ADMIN_PASSWORD)
            spread_sets = 2 * args.rounds if args.only != "hot" else 0
            made = args.events * spread_sets + 4
            print(f"setting up {args.buyers:,} buyers and {made} events ...")
            tokens = await make_users(http, server.url, args.buyers)
            hot = [await make_event(http, server.url, admin, args.buyers) for _ in range(4)]
            spread = [
                [await make_event(http, server.url, admin, args.buyers) for _ in range(args.events)]
                for _ in range(spread_sets)
            ]

        def bookings(event: int) -> list:
            return [(t, BOOKINGS, {"event_id": event, "quantity": 1}) for t in tokens]

        hot_runs: list[Batch] = []
        direct = None
        if args.only != "spread":
            hot_runs = [
                await server_run("hot event, combining, 1 process", bookings(hot[0])),
                await server_run(
                    "hot event, combining, --workers 2", bookings(hot[1]), WORKERS="2"
                ),
                await server_run(
                    "hot event, each alone, 1 process", bookings(hot[2]), COMBINE_ORDERS="1"
                ),
            ]
            direct = await direct_sql(
                dsn, [user_id(t) for t in tokens], hot[3], args.in_flight, args.pool
            )

        # The spread load's two modes alternate, so that a database growing from round to
        # round (or a noisy neighbour) weighs on both alike.
        spread_runs: dict[str, list[tuple[Batch, Batch]]] = {"combining": [], "each alone": []}
        modes = [("combining", {}), ("each alone", {"COMBINE_ORDERS": "1"})]
        for index, events in enumerate(spread):
            how, settings = modes[(index + index // 2) % 2]
            books = [
                (t, BOOKINGS, {"event_id": events[i % len(events)], "quantity": 1})
                for i, t in enumerate(tokens)
            ]
            booked = await server_run(f"{len(events)} events, {how}: bookings", books, **settings)
            token_of = {user_id(t): t for t in tokens}
            made = query(
                dsn,
                "SELECT id, user_id FROM bookings WHERE event_id = ANY (%s) AND id %% 2 = 0",
                (events,),
            )
            cancels = [(token_of[u], f"{BOOKINGS}/{b}", None) for b, u in made]
            cancelled = await server_run(
                f"{len(events)} events, {how}: cancels", cancels, method="DELETE", **settings
            )
            spread_runs[how].append((booked, cancelled))

        pairs = [pair for runs in spread_runs.values() for pair in runs]
        for run in (*hot_runs, *(booked for booked, _ in pairs)):
            if run.report.counts != {"201": args.buyers} or run.report.socket_errors:
                problems.append(f"{run.name}: {run.report}")
        for _, run in pairs:
            if set(run.report.counts) != {"200"} or run.report.socket_errors:
                problems.append(f"{run.name}: {run.report}")
        if direct is not None and direct.ok != args.buyers:
            problems.append(f"direct SQL: {direct.ok} of {args.buyers} booked")
        if broken := broken_ledger(dsn):
            problems.append(f"seat ledger broken: {broken}")

    return Measured(hot_runs, direct, spread_runs, problems)


async def main() -> int:
    args = arguments().parse_args()
    m = await measure(args)
    print()
    print(
        f"Boxoffice hot event: {os.cpu_count()} cores, {args.in_flight} in flight, "
        f"{args.pool} database connections a process, wrk on the same machine"
    )
    if m.hot_runs and m.direct is not None:
        print_hot(m.hot_runs, m.direct)
    for runs in m.spread_runs.values():
        for booked, cancelled in runs:
            print(line(booked))
            print(line(cancelled))
    if all(m.spread_runs.values()):
        books, cancels = (
            {how: median(rate(r[i]) for r in runs) for how, runs in m.spread_runs.items()}
            for i in (0, 1)
        )
        print(
            f"{args.events} events, medians of {args.rounds} round(s): bookings "
            f"{books['combining']:,.0f}/s combining, {books['each alone']:,.0f}/s each alone "
            f"({books['combining'] / books['each alone']:.2f}x); cancels "
            f"{cancels['combining']:,.0f}/s, {cancels['each alone']:,.0f}/s"
        )
    for problem in m.problems:
        print(f"FAILED: {problem}")
    print("checks: " + ("FAILED" if m.problems else "every booking answered, seat ledger ok"))
    return 1 if m.problems else 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
