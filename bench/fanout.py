"""Fan-out benchmark: websocket subscribers on one server process, one event, bookings at a
steady rate.

It prints how long after a booking's HTTP response each subscriber receives a message that
reflects it (p50/p99 over every subscriber and booking), and the server's memory per idle
subscriber. The baseline, measured in the same run, is the same latency with a single
subscriber.

    .venv/bin/python bench/fanout.py                  # 1,000 subscribers, 20 bookings/s, 10 s
    .venv/bin/python bench/fanout.py --subscribers 2000 --rate 50
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import time
from dataclasses import dataclass, field

import aiohttp
from harness import Server, own_server, percentile, post, scratch_database, seed


@dataclass
class Watcher:
    """One subscriber: when each version of the event arrived."""

    arrivals: list[tuple[int, float]] = field(default_factory=list)
    ws: aiohttp.ClientWebSocketResponse | None = None


async def watch(
    http: aiohttp.ClientSession, base: str, token: str, event: int, watcher: Watcher
) -> None:
    ws = await http.ws_connect(f"{base}/api/v1/ws?token={token}", heartbeat=None)
    watcher.ws = ws
    await ws.receive_json()  # hello
    await ws.send_json({"type": "subscribe", "events": [event]})
    await ws.receive_json()  # subscribed
    snapshot = await ws.receive_json()
    watcher.arrivals.append((snapshot["version"], time.perf_counter()))


async def listen(watcher: Watcher) -> None:
    assert watcher.ws is not None
    async for msg in watcher.ws:
        if msg.type == aiohttp.WSMsgType.TEXT:
            data = msg.json()
            if "version" in data:
                watcher.arrivals.append((data["version"], time.perf_counter()))


async def book_steadily(
    http: aiohttp.ClientSession,
    base: str,
    tokens: list[str],
    event: int,
    rate: float,
    seconds: float,
    round_trips: list[float],
) -> list[tuple[int, float]]:
    """Book one seat every 1/rate seconds; (event version, when the response came)."""
    done: list[tuple[int, float]] = []

    async def book(token: str) -> None:
        sent = time.perf_counter()
        reply = await post(http, base + "/api/v1/bookings", {"event_id": event}, token)
        answered = time.perf_counter()
        round_trips.append(answered - sent)
        done.append((reply["data"]["event_version"], answered))

    tasks = []
    start = time.perf_counter()
    for i in range(int(rate * seconds)):
        delay = start + i / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)  # pacing the load, not synchronising
        tasks.append(asyncio.create_task(book(tokens[i % len(tokens)])))
    await asyncio.gather(*tasks)
    return done


def delays(bookings: list[tuple[int, float]], watchers: list[Watcher]) -> list[float]:
    """For every (subscriber, booking): time from the response to the first message with
    that version or a later one (0 when the message beat the response)."""
    result = []
    for w in watchers:
        arrivals = sorted(w.arrivals, key=lambda a: a[1])
        for version, answered in bookings:
            seen = next((t for v, t in arrivals if v >= version), None)
            if seen is None:
                result.append(float("inf"))
            else:
                result.append(max(0.0, seen - answered))
    return result


async def run(server: Server, http: aiohttp.ClientSession, args: argparse.Namespace) -> None:
    base = server.url
    tokens, [event] = await seed(http, base, 20, 1, int(args.rate * args.seconds * 3) + 10)

    round_trips: list[float] = []

    async def phase(count: int) -> tuple[list[float], list[Watcher], int, int]:
        watchers = [Watcher() for _ in range(count)]
        gc.collect()
        before = server.rss_kib()
        for start in range(0, count, 100):
            await asyncio.gather(
                *(
                    watch(http, base, tokens[i % 20], event, watchers[i])
                    for i in range(start, min(count, start + 100))
                )
            )
        await asyncio.sleep(1)  # let the server settle before reading its memory
        idle = server.rss_kib()
        listeners = [asyncio.create_task(listen(w)) for w in watchers]
        bookings = await book_steadily(
            http, base, tokens, event, args.rate, args.seconds, round_trips
        )
        final = max(v for v, _ in bookings)
        async with asyncio.timeout(30):  # until every subscriber has the final version
            while any(max(v for v, _ in w.arrivals) < final for w in watchers):  # noqa: ASYNC110
                await asyncio.sleep(0.05)
        result = delays(bookings, watchers)
        for w in watchers:
            assert w.ws is not None
            await w.ws.close()
        for task in listeners:
            task.cancel()
        return result, watchers, before, idle

    print(
        f"baseline: 1 subscriber, {args.rate:g} bookings/s for {args.seconds:g} s ...", flush=True
    )
    base_delays, _, _, _ = await phase(1)
    print(f"fan-out: {args.subscribers:,} subscribers ...", flush=True)
    fan_delays, watchers, before, idle = await phase(args.subscribers)

    received = sum(len(w.arrivals) for w in watchers)
    per_sub = (idle - before) / args.subscribers
    p99_fan = percentile(fan_delays, 99) * 1000
    p99_trip = percentile(round_trips, 99) * 1000
    print()
    print(
        f"Boxoffice fan-out benchmark: {os.cpu_count()} cores, one server process, "
        f"{args.rate:g} bookings/s for {args.seconds:g} s, load generator on the same machine"
    )
    print("time from a booking's HTTP response to each subscriber's message about it:")
    for label, values in (
        ("1 subscriber (baseline)", base_delays),
        (f"{args.subscribers:,} subscribers", fan_delays),
    ):
        print(
            f"  {label:<26} p50 {percentile(values, 50) * 1000:6.1f} ms  "
            f"p99 {percentile(values, 99) * 1000:6.1f} ms"
        )
    print(f"  target: p99 < 200 ms at 1,000 subscribers: {'met' if p99_fan < 200 else 'MISSED'}")
    print(
        f"booking HTTP round trip (same run): p99 {p99_trip:.1f} ms; fan-out p99 / "
        f"round-trip p99 = {p99_fan / p99_trip:.2f}"
    )
    print(
        f"server memory per idle subscriber: {per_sub:.1f} KiB (target < 64 KiB; "
        f"{before / 1024:.0f} MiB before, {idle / 1024:.0f} MiB with all connected)"
    )
    print(
        f"messages received: {received:,} for {len(fan_delays):,} (subscriber, booking) "
        "pairs, snapshots included"
    )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--subscribers", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=20.0, help="bookings per second")
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    with scratch_database() as dsn:
        async with own_server(dsn, 8) as server:
            connector = aiohttp.TCPConnector(limit=0)
            async with aiohttp.ClientSession(connector=connector) as http:
                await run(server, http, args)


if __name__ == "__main__":
    asyncio.run(main())
