"""Arena on-sale benchmark: thousands of buyers each ask for the best 2-4 seats together on
one seated event, against one server process, and the general-admission hot event beside it.

    .venv/bin/python bench/arena.py                  # the shipped 10,000-seat arena, 4,000 buyers
    .venv/bin/python bench/arena.py --plan studio --buyers 50 --driver python

The requests are sent by `wrk` (a C load generator: a Python client would take half of a
2-core machine), each buyer's once, 64 in flight; `--driver python` sends them with aiohttp
instead, to check the figures. It prints seats sold/s, orders/s, p50/p99 latency and
the refusals by reason, then checks from the database that no seat was sold twice, that
every order got the seats it asked for side by side in one row, and the seat ledger; it exits
non-zero when a check fails (a missed speed target is only reported).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
from collections import Counter

import aiohttp
from harness import (
    ADMIN_PASSWORD,
    Batch,
    LoadReport,
    broken_ledger,
    login,
    make_event,
    make_seated_event,
    make_users,
    make_venue,
    own_server,
    percentile,
    post,
    query,
    scratch_database,
    user_id,
    wrk_batch,
)

from server.venues import shipped_plan

TARGET_SEATS_PER_S = 1500
TARGET_P99_MS = 150

# Orders on the event whose seats are not all in one row, one after another, or not as many
# as the order says.
NOT_TOGETHER = """
SELECT b.id FROM bookings b
  JOIN tickets t ON t.booking_id = b.id AND t.released_at IS NULL
  JOIN seats s ON s.id = t.seat_id
 WHERE b.event_id = %s
 GROUP BY b.id, b.quantity
HAVING count(DISTINCT (s.section, s.row_label, s.y)) <> 1
    OR count(DISTINCT s.x) <> count(*) OR max(s.x) - min(s.x) <> count(*) - 1
    OR count(*) <> b.quantity
"""

# Seats with more than one active ticket (tickets_seat_key forbids it: counted anyway).
# The free seats left, and those of them with no free seat beside them (nobody buying
# together can take those).
LEFT_ALONE = """
SELECT count(*), count(*) FILTER (WHERE NOT EXISTS (
           SELECT 1 FROM event_seats o
            WHERE o.event_id = e.event_id AND o.row_rank = e.row_rank AND o.state = 'free'
              AND o.x IN (e.x - 1, e.x + 1)))
  FROM event_seats e WHERE e.event_id = %s AND e.state = 'free'
"""

SOLD_TWICE = """
SELECT count(*) FROM (SELECT 1 FROM tickets
                       WHERE event_id = %s AND released_at IS NULL AND seat_id IS NOT NULL
                       GROUP BY seat_id HAVING count(*) > 1) twice
"""


async def python_batch(
    name: str, base: str, requests: list[tuple[str, str, dict]], in_flight: int
) -> Batch:
    """The same batch as wrk_batch, sent with aiohttp (slower: the client shares the cores)."""
    outcomes: Counter[str] = Counter()
    latencies: list[float] = []
    pending = iter(requests)
    connector = aiohttp.TCPConnector(limit=in_flight)
    async with aiohttp.ClientSession(connector=connector) as http:

        async def worker() -> None:
            for token, path, body in pending:
                started = loop.time()
                reply = await post(http, base + path, body, token)
                latencies.append((loop.time() - started) * 1000)
                key = str(reply["code"])
                if reply["code"] == 409:
                    data = reply.get("data") or {}
                    key += next(
                        (
                            f" {reason}"
                            for field, reason in (
                                ("largest_block", "no_block"),
                                ("seat_ids", "seats_taken"),
                                ("available_seats", "sold_out"),
                            )
                            if field in data
                        ),
                        "",
                    )
                outcomes[key] += 1

        loop = asyncio.get_running_loop()
        started = loop.time()
        await asyncio.gather(*(worker() for _ in range(in_flight)))
        seconds = loop.time() - started
    report = LoadReport(
        dict(outcomes), percentile(latencies, 50), percentile(latencies, 99), len(latencies), 0
    )
    return Batch(name, report, seconds)


async def browse(http: aiohttp.ClientSession, base: str) -> None:
    async with http.get(base + "/api/v1/events") as resp:
        await resp.read()


def check(dsn: str, event: int, asked: dict[int, int], granted: int) -> tuple[int, list[str]]:
    """The seats sold on the seated event, and what is wrong (nothing, we hope)."""
    problems = []
    [(twice,)] = query(dsn, SOLD_TWICE, (event,))
    if twice:
        problems.append(f"{twice} seats sold twice")
    apart = query(dsn, NOT_TOGETHER, (event,))
    if apart:
        problems.append(f"{len(apart)} orders not side by side in one row: {apart[:10]}")
    orders = query(
        dsn,
        "SELECT user_id, quantity FROM bookings WHERE event_id = %s AND status = 'confirmed'",
        (event,),
    )
    wrong = [(user, n) for user, n in orders if asked.get(user) != n]
    if wrong:
        problems.append(f"{len(wrong)} orders not of the seats asked for: {wrong[:10]}")
    if len(orders) != granted:
        problems.append(f"{granted} orders answered 201 but {len(orders)} in the database")
    [(sold, tickets)] = query(
        dsn,
        "SELECT (SELECT count(*) FROM event_seats WHERE event_id = %s AND state = 'sold'), "
        "(SELECT count(*) FROM tickets WHERE event_id = %s AND released_at IS NULL)",
        (event, event),
    )
    if sold != tickets:
        problems.append(f"{sold} seats sold but {tickets} tickets")
    if broken := broken_ledger(dsn):
        problems.append(f"seat ledger broken: {broken}")
    return sold, problems


def report(run: Batch, unit_count: int | None = None) -> str:
    granted = run.count("201")
    seats = f"{unit_count / run.seconds:>7,.0f} seats/s  " if unit_count is not None else ""
    return (
        f"{run.name:<34} {seats}{granted / run.seconds:>7,.0f} orders/s  "
        f"p50 {run.report.p50:6.1f} ms  p99 {run.report.p99:6.1f} ms  "
        f"({run.report.answered:,} answered in "
        f"{run.seconds:.2f} s)"
    )


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--plan", default="arena", help="a shipped plan (server/plans/)")
    parser.add_argument("--buyers", type=int, default=4000)
    parser.add_argument("--in-flight", type=int, default=64)
    parser.add_argument("--pool", type=int, default=8, help="database connections")
    parser.add_argument("--seed", type=int, default=10)
    parser.add_argument("--driver", choices=("wrk", "python"), default="wrk")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    args = parser.parse_args()

    async def batch(name: str, base: str, requests: list[tuple[str, str, dict]]) -> Batch:
        if args.driver == "python":
            return await python_batch(name, base, requests, args.in_flight)
        return await wrk_batch(name, base, requests, args.in_flight, args.threads)

    rng = random.Random(args.seed)
    with scratch_database() as dsn:
        async with own_server(dsn, args.pool) as server, aiohttp.ClientSession() as http:
            base = server.url
            admin = await login(http, base, "benchadmin", ADMIN_PASSWORD)
            plan = shipped_plan(args.plan).model_dump(mode="json", exclude_none=True)
            event = await make_seated_event(
                http, base, admin, await make_venue(http, base, admin, plan)
            )
            hot = await make_event(http, base, admin, args.buyers)
            print(f"setting up {args.buyers:,} buyers ...", flush=True)
            tokens = await make_users(http, base, args.buyers)
            counts = [rng.randint(2, 4) for _ in tokens]
            asked = {user_id(t): n for t, n in zip(tokens, counts, strict=True)}
            seated = [
                (t, "/api/v1/orders", {"event_id": event, "best_available": {"count": n}})
                for t, n in zip(tokens, counts, strict=True)
            ]
            ga = [(t, "/api/v1/bookings", {"event_id": hot, "quantity": 1}) for t in tokens]
            await asyncio.gather(*(browse(http, base) for _ in range(64)))  # warm up
            on_sale = await batch("arena: POST /orders best 2-4", base, seated)
            storm = await batch("hot event: POST /bookings 1", base, ga)
        sold, problems = check(dsn, event, asked, on_sale.count("201"))
        [(total,)] = query(dsn, "SELECT total_seats FROM events WHERE id = %s", (event,))
        [(free, alone)] = query(dsn, LEFT_ALONE, (event,))
        if storm.count("201") != args.buyers:
            problems.append(f"hot event: {storm.report.counts} for {args.buyers} one-seat bookings")
    for run in (on_sale, storm):
        answers = run.report
        if set(answers.counts) - {"201", "409 no_block", "409 sold_out"} or answers.socket_errors:
            problems.append(f"{run.name}: unexpected answers {answers}")
        if answers.answered != len(tokens):
            problems.append(f"{run.name}: {answers.answered} answers for {len(tokens)} requests")

    print()
    print(
        f"Boxoffice arena on-sale: {os.cpu_count()} cores, {args.in_flight} in flight, "
        f"{args.pool} database connections, one server process, {args.driver} on the same "
        f"machine; {args.plan} plan ({total:,} seats), {args.buyers:,} buyers asking 2-4 "
        f"together ({sum(counts):,} seats asked for)"
    )
    print(report(on_sale, sold))
    print(report(storm, storm.count("201")))
    refusals = {k.split(" ", 1)[1]: n for k, n in on_sale.report.counts.items() if " " in k}
    print(
        f"seats sold {sold:,} of {total:,}, {free:,} left ({alone:,} of them with no free seat "
        f"beside them); refusals by reason: {refusals or 'none'}"
    )
    seats_rate = sold / on_sale.seconds
    print(
        f"targets: >= {TARGET_SEATS_PER_S:,} seats/s: "
        f"{'met' if seats_rate >= TARGET_SEATS_PER_S else 'MISSED'}; p99 < {TARGET_P99_MS} ms: "
        f"{'met' if on_sale.report.p99 < TARGET_P99_MS else 'MISSED'}"
    )
    for problem in problems:
        print(f"FAILED: {problem}")
    print(
        "checks: "
        + (
            "FAILED"
            if problems
            else "no seat sold twice, every order side by side in one row, seat ledger ok"
        )
    )
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
