"""Webhooks benchmark: 1,000 bookings → 1,000 ``order.created`` deliveries to a receiver on
loopback, and the booking rate with webhooks off (no endpoint) and on, in the same run.

    .venv/bin/python bench/webhooks.py                 # 1,000 bookings a round, 2 rounds each
    .venv/bin/python bench/webhooks.py --bookings 300 --rounds 1
    .venv/bin/python bench/webhooks.py --bookings 20000  # a rush longer than the deferral

Bookings are sent by `wrk` (bench/harness.py), one server process, rounds alternating off
and on so that a noisy neighbour hurts both alike. With webhooks on, the server's sender
POSTs each delivery to the receiver here, which drops duplicates by delivery id and checks
each signature. Printed: bookings/s off and on (medians; the slowdown is the median of the
rounds' on/off pairs; target: on within 15% of off), the server process's CPU per booking
(sending included: steadier than rates on a shared machine), the delivery rate
(deliveries/s from the round's first booking to its last delivery) and the lag (the
change's time, as its payload says, to its arrival) p50/p99. It exits non-zero when a
delivery is missing, doubled or badly signed (a missed speed target is only reported).
On a shared 2-core machine the figures are noisy: compare them within one run.

While the server places orders its sender leaves deliveries younger than
BOXOFFICE_WEBHOOK_DEFER_SECONDS (1 s) for later ("bookings first", docs/webhooks.md): a
round shorter than that sends its deliveries after its bookings, and its lag says so; a
longer one shares the machine with them from then on.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import hmac
import json
import time
from datetime import datetime
from statistics import median

import aiohttp
from aiohttp import web
from harness import (
    ADMIN_PASSWORD,
    cpu_seconds,
    free_port,
    login,
    make_event,
    own_server,
    percentile,
    query,
    scratch_database,
    wrk_batch,
)

TARGET_SLOWDOWN = 0.15


class Receiver:
    """Accepts every delivery once (by delivery id), checking its signature; notes when
    each arrived and when its change was made."""

    def __init__(self) -> None:
        self.secret = ""
        self.arrived: dict[str, tuple[float, float]] = {}  # id -> (arrival, change) epoch s
        self.duplicates = 0
        self.bad_signatures = 0
        self.changed = asyncio.Condition()

    async def handle(self, request: web.Request) -> web.Response:
        raw = await request.read()
        now = time.time()
        h = request.headers
        expected = hmac.new(
            self.secret.encode(),
            h["Boxoffice-Webhook-Timestamp"].encode() + b"." + raw,
            hashlib.sha256,
        ).hexdigest()
        signature = h["Boxoffice-Webhook-Signature"]
        if self.secret and not hmac.compare_digest("v1=" + expected, signature):
            self.bad_signatures += 1
        body = json.loads(raw)
        async with self.changed:
            if body["id"] in self.arrived:
                self.duplicates += 1
            elif body["type"] == "order.created":
                made = datetime.fromisoformat(body["created_at"]).timestamp()
                self.arrived[body["id"]] = (now, made)
            self.changed.notify_all()
        return web.Response(status=204)

    async def wait_for(self, count: int, within: float) -> None:
        async with asyncio.timeout(within), self.changed:
            await self.changed.wait_for(lambda: len(self.arrived) >= count)


def database_cpu_seconds(dsn: str) -> float:
    """CPU time used so far by the PostgreSQL backends serving the benchmark's database."""
    pids = query(
        dsn,
        "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
        " AND pid <> pg_backend_pid()",
    )
    total = 0.0
    for (pid,) in pids:
        with contextlib.suppress(OSError):  # it ended meanwhile
            total += cpu_seconds(pid)
    return total


def cpu_now(server_pid: int, dsn: str) -> tuple[float, float, float]:
    """CPU seconds so far of the server, its database backends and this process (the
    receiver; wrk does the booking)."""
    return cpu_seconds(server_pid), database_cpu_seconds(dsn), time.process_time()


async def set_status(
    http: aiohttp.ClientSession, base: str, headers: dict, hook_id: int, status: str
) -> None:
    async with http.patch(
        f"{base}/api/v1/webhooks/{hook_id}", json={"status": status}, headers=headers
    ) as resp:
        assert resp.status == 200, await resp.text()


async def main(args: argparse.Namespace) -> int:
    receiver = Receiver()
    app = web.Application()
    app.router.add_post("/hook", receiver.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = args.receiver_port or free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    hook_url = f"http://127.0.0.1:{port}/hook"
    failures: list[str] = []
    rates: dict[str, list[float]] = {"off": [], "on": []}
    # The server process's CPU per booking, sending included: steadier than the rates on a
    # machine shared with others, whose load moves the rates from round to round.
    # The server process's, PostgreSQL's and the receiver's, ms per booking, in that order.
    cpu_ms: dict[str, list[tuple[float, ...]]] = {"off": [], "on": []}
    delivery_rates: list[float] = []
    lags: list[float] = []
    try:
        with scratch_database() as dsn:
            async with own_server(dsn, args.pool) as server, aiohttp.ClientSession() as http:
                base = server.url
                admin = await login(http, base, "benchadmin", ADMIN_PASSWORD)
                headers = {"Authorization": f"Bearer {admin}"}
                for round_ in range(args.rounds):
                    for mode in ("off", "on"):
                        hook_id = None
                        if mode == "on":
                            async with http.post(
                                base + "/api/v1/webhooks",
                                json={"url": hook_url, "events": ["order.created"]},
                                headers=headers,
                            ) as resp:
                                created = (await resp.json())["data"]
                            hook_id, receiver.secret = created["id"], created["secret"]
                            await receiver.wait_for(len(receiver.arrived), within=10)
                            if args.queued:  # the trigger's cost alone: send afterwards
                                await set_status(http, base, headers, hook_id, "paused")
                        event = await make_event(http, base, admin, args.bookings)
                        before = len(receiver.arrived)
                        body = {"event_id": event, "quantity": 1, "payment_method": "card"}
                        requests = [(admin, "/api/v1/bookings", body)] * args.bookings
                        started = time.time()
                        cpu_before = cpu_now(server.pid, dsn)
                        batch = await wrk_batch(
                            f"{mode} {round_ + 1}", base, requests, args.in_flight
                        )
                        booked = batch.count("201")
                        if booked != args.bookings:
                            failures.append(f"{mode} round {round_ + 1}: {booked} booked")
                        rate = booked / batch.seconds
                        rates[mode].append(rate)
                        line = (
                            f"webhooks {mode:<3} round {round_ + 1}: {rate:8,.0f} bookings/s"
                            f"  p50 {batch.report.p50:6.1f} ms  p99 {batch.report.p99:6.1f} ms"
                        )
                        if hook_id is not None:
                            if args.queued:
                                await set_status(http, base, headers, hook_id, "active")
                            await receiver.wait_for(before + booked, within=120)
                            mine = list(receiver.arrived.values())[before:]
                            last = max(arrival for arrival, _ in mine)
                            delivery_rates.append(len(mine) / (last - started))
                            round_lags = [arrival - made for arrival, made in mine]
                            lags.extend(round_lags)
                            line += (
                                f"  | {len(mine):,} delivered, {delivery_rates[-1]:,.0f}/s,"
                                f" lag p50 {percentile(round_lags, 50) * 1000:,.0f} ms"
                                f" p99 {percentile(round_lags, 99) * 1000:,.0f} ms"
                            )
                            async with http.delete(
                                f"{base}/api/v1/webhooks/{hook_id}", headers=headers
                            ) as resp:
                                assert resp.status == 200
                        cpu_after = cpu_now(server.pid, dsn)
                        used = tuple(
                            (b - a) * 1000 / max(booked, 1)
                            for a, b in zip(cpu_before, cpu_after, strict=True)
                        )
                        cpu_ms[mode].append(used)
                        line += (
                            f"  | CPU ms/booking: server {used[0]:.2f}, db {used[1]:.2f},"
                            f" receiver {used[2]:.2f}"
                        )
                        print(line, flush=True)
    finally:
        await runner.cleanup()

    # Medians, and the slowdown as the median of each round's on/off pair (taken a few
    # seconds apart, so that a neighbour's burst weighs on both alike).
    off, on = median(rates["off"]), median(rates["on"])
    slowdown = 1 - median(n / f for n, f in zip(rates["on"], rates["off"], strict=True))
    print(
        f"\nbookings/s off {off:,.0f}, on {on:,.0f}: {slowdown:+.1%} slower with webhooks"
        f" (target: under {TARGET_SLOWDOWN:.0%}"
        f"{', MET' if slowdown <= TARGET_SLOWDOWN else ', MISSED'})"
    )
    for mode in ("off", "on"):
        server_ms, db_ms, receiver_ms = (median(c) for c in zip(*cpu_ms[mode], strict=True))
        print(
            f"CPU per booking (medians), webhooks {mode:<3}: server {server_ms:.2f} ms,"
            f" PostgreSQL {db_ms:.2f} ms, receiver {receiver_ms:.2f} ms"
        )
    print(
        f"deliveries: {sum(delivery_rates) / len(delivery_rates):,.0f}/s, lag p50 "
        f"{percentile(lags, 50) * 1000:,.0f} ms, p99 {percentile(lags, 99) * 1000:,.0f} ms; "
        f"{receiver.duplicates} duplicates dropped, {receiver.bad_signatures} bad signatures"
    )
    if receiver.bad_signatures:
        failures.append(f"{receiver.bad_signatures} bad signatures")
    for failure in failures:
        print("FAILED:", failure)
    return 1 if failures else 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bookings", type=int, default=1000, help="bookings a round")
    parser.add_argument("--rounds", type=int, default=2, help="rounds of off then on")
    parser.add_argument("--in-flight", type=int, default=32)
    parser.add_argument("--pool", type=int, default=8)
    parser.add_argument("--receiver-port", type=int, default=0)
    parser.add_argument(
        "--queued",
        action="store_true",
        help="pause the endpoint while booking, send after: the outbox's cost without the sending",
    )
    raise SystemExit(asyncio.run(main(parser.parse_args())))
