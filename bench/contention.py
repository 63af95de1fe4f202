"""Contention benchmark: many buyers fight over the same few picked seats of one seated event.

    .venv/bin/python bench/contention.py             # 200 buyers, 10 pairs of seats, 20 per pair
    .venv/bin/python bench/contention.py --rounds 5  # a new event each round, the same buyers

The 20 seats are 10 pairs side by side in one row; each pair is wanted by 20 buyers (half of
them list the two seats the other way round), and all 200 orders are sent at once. Exactly
one buyer per pair may win: 20 seats sold, every other buyer a 409 whose data.seat_ids names
seats of its pair that the winner bought, and no 5xx. It prints what happened and exits
non-zero when a check fails.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections import Counter
from typing import Any

import aiohttp
from harness import (
    ADMIN_PASSWORD,
    broken_ledger,
    login,
    make_seated_event,
    make_users,
    make_venue,
    own_server,
    query,
    scratch_database,
    user_id,
)

# One row of 40 seats: the fought-over pairs are its seats 1-20, and the seats beside them
# stay free, so a sale of the wrong seats would show.
HALL = {
    "name": "Contention Hall",
    "zones": [{"code": "A", "name": "Stalls", "rank": 1}],
    "sections": [{"name": "Stalls", "zone": "A", "rows": [{"row": "A", "y": 0, "seats": "1-40"}]}],
}


async def order(
    http: aiohttp.ClientSession, base: str, token: str, event: int, seats: list[int]
) -> tuple[int, dict[str, Any]]:
    body = {"event_id": event, "lines": [{"seat_ids": seats}]}
    headers = {"Authorization": f"Bearer {token}"}
    async with http.post(base + "/api/v1/orders", json=body, headers=headers) as resp:
        return resp.status, await resp.json()


async def fight(
    http: aiohttp.ClientSession,
    base: str,
    admin: str,
    dsn: str,
    venue: int,
    tokens: list[str],
    pairs: int,
) -> tuple[list[str], Counter[int], float]:
    """One round on a new event: what went wrong, the statuses and the seconds it took."""
    event = await make_seated_event(http, base, admin, venue)
    by_number = dict(
        query(
            dsn,
            "SELECT s.number::integer, s.id FROM event_seats e JOIN seats s ON s.id = e.seat_id "
            "WHERE e.event_id = %s",
            (event,),
        )
    )
    wanted = [[by_number[2 * p + 1], by_number[2 * p + 2]] for p in range(pairs)]
    # Buyer i wants pair i % pairs; every other buyer of a pair names its seats reversed.
    asks = [
        wanted[i % pairs] if (i // pairs) % 2 == 0 else wanted[i % pairs][::-1]
        for i in range(len(tokens))
    ]
    started = time.perf_counter()
    replies = await asyncio.gather(
        *(order(http, base, t, event, seats) for t, seats in zip(tokens, asks, strict=True))
    )
    seconds = time.perf_counter() - started

    problems = []
    statuses = Counter(status for status, _ in replies)
    sold = dict(
        query(
            dsn,
            "SELECT e.seat_id, b.user_id FROM event_seats e JOIN bookings b ON b.id = e.booking_id "
            "WHERE e.event_id = %s AND e.state = 'sold'",
            (event,),
        )
    )
    fought = {seat for pair in wanted for seat in pair}
    winners: Counter[int] = Counter()
    for token, seats, (status, reply) in zip(tokens, asks, replies, strict=True):
        buyer = user_id(token)
        if status == 201:
            winners[wanted.index(sorted(seats))] += 1
            if sorted(t["seat_id"] for t in reply["data"]["tickets"]) != sorted(seats):
                problems.append(f"buyer {buyer} won {reply['data']['tickets']}, not {seats}")
            if any(sold.get(seat) != buyer for seat in seats):
                problems.append(f"buyer {buyer}'s seats {seats} are not sold to them")
        elif status == 409:
            named = (reply.get("data") or {}).get("seat_ids") or []
            if not named or not set(named) <= set(seats):
                problems.append(f"buyer {buyer} lost {seats} naming {named}: {reply}")
            elif any(sold.get(seat) in (None, buyer) for seat in named):
                problems.append(f"buyer {buyer} was told {named} are taken, but they are not")
        else:
            problems.append(f"buyer {buyer}: {status} {reply}")
    if sorted(winners) != list(range(pairs)) or set(winners.values()) != {1}:
        problems.append(f"winners per pair: {dict(winners)} (one each wanted)")
    if set(sold) != fought:
        problems.append(f"{len(sold)} seats sold, not the {len(fought)} fought over")
    [(tickets, available, total)] = query(
        dsn,
        "SELECT (SELECT count(*) FROM tickets WHERE event_id = e.id AND released_at IS NULL), "
        "available_seats, total_seats FROM events e WHERE id = %s",
        (event,),
    )
    if tickets != len(fought) or total - available != len(fought):
        problems.append(f"{tickets} tickets, {total - available} seats gone for {len(fought)}")
    return problems, statuses, seconds


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--buyers", type=int, default=200)
    parser.add_argument("--pairs", type=int, default=10, help="pairs of seats fought over")
    parser.add_argument("--rounds", type=int, default=1, help="events, one after another")
    parser.add_argument("--pool", type=int, default=8, help="database connections")
    args = parser.parse_args()
    if not 0 < args.pairs <= 20 or args.buyers < args.pairs:
        parser.error("1-20 pairs, and at least a buyer per pair")

    problems: list[str] = []
    with scratch_database() as dsn:
        async with own_server(dsn, args.pool) as server:
            base = server.url
            # Every order in flight at once: no client-side queue in front of the server.
            connector = aiohttp.TCPConnector(limit=0)
            async with aiohttp.ClientSession(connector=connector) as http:
                admin = await login(http, base, "benchadmin", ADMIN_PASSWORD)
                venue = await make_venue(http, base, admin, HALL)
                tokens = await make_users(http, base, args.buyers)
                for n in range(1, args.rounds + 1):
                    found, statuses, seconds = await fight(
                        http, base, admin, dsn, venue, tokens, args.pairs
                    )
                    print(
                        f"round {n}: {args.buyers} buyers on {args.pairs} pairs in "
                        f"{seconds * 1000:.0f} ms: {dict(sorted(statuses.items()))}"
                        + (f", {len(found)} checks FAILED" if found else ", checks ok")
                    )
                    problems += found
        if broken := broken_ledger(dsn):
            problems.append(f"seat ledger broken: {broken}")
    for problem in problems[:50]:
        print(f"FAILED: {problem}")
    print(
        "contention: "
        + (
            f"{len(problems)} FAILURES"
            if problems
            else f"exactly {2 * args.pairs} seats sold per round, every loser a 409 naming a "
            "seat its pair's winner bought, no 5xx, seat ledger ok"
        )
    )
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
