"""Soak benchmark: a steady mixed workload for minutes on one server process, to see whether
throughput holds and memory stays flat.

Browse (GET /events), book, cancel, hold (some confirmed, the rest left to expire) at a
fixed offered rate each, with websocket subscribers watching every event. Every minute it
prints requests/s by kind, errors, booking latency, the server's RSS, open websockets and
messages received. At the end it compares the last minute with the first (the baseline,
measured in the same run), checks the seat ledger, the bookings' statuses against what the
clients did, and that every subscriber's last seen availability equals the database's.

    .venv/bin/python bench/soak.py                     # 10 minutes, defaults below
    .venv/bin/python bench/soak.py --minutes 1 --subscribers 20

Exits non-zero when a check fails, when a request fails or is shed (more than
--max-in-flight outstanding: the offered rate was not served), when throughput in the last
minute is more than --max-drop below the first, or when the server's RSS grew more than
--max-rss-growth after the first minute (the warm-up).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sys
import time
from collections import deque
from dataclasses import dataclass, field

import aiohttp
from harness import (
    Server,
    broken_ledger,
    cpu_seconds,
    own_server,
    percentile,
    query,
    scratch_database,
    seed,
)

KINDS = ("browse", "book", "hold", "confirm", "cancel")
PENDING = "SELECT count(*) FROM bookings WHERE status = 'pending'"


@dataclass
class Tally:
    """Requests that succeeded and failed, by kind, and those shed."""

    ok: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))
    errors: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))
    shed: int = 0


@dataclass
class Minute(Tally):
    """What completed during one reporting interval."""

    booking_latencies: list[float] = field(default_factory=list)


@dataclass
class Totals(Tally):
    """What completed during the whole run."""

    error_samples: list[str] = field(default_factory=list)
    left_to_expire: int = 0
    last_hold_at: float = 0.0


class Load:
    """The HTTP side: paced requests, their outcomes, and what the database should hold."""

    def __init__(
        self,
        http: aiohttp.ClientSession,
        base: str,
        tokens: list[str],
        events: list[int],
        args: argparse.Namespace,
    ) -> None:
        self.http = http
        self.base = base
        self.tokens = tokens
        self.events = events
        self.args = args
        self.minute = Minute()
        self.totals = Totals()
        self.cancellable: deque[tuple[str, int]] = deque()  # (owner's token, booking id)
        self.tasks: set[asyncio.Task] = set()
        self.rng = random.Random(6)

    def _done(self, kind: str, ok: bool, seconds: float, detail: str = "") -> None:
        if ok:
            self.minute.ok[kind] += 1
            self.totals.ok[kind] += 1
            if kind in ("book", "hold"):
                self.minute.booking_latencies.append(seconds)
        else:
            self.minute.errors[kind] += 1
            self.totals.errors[kind] += 1
            if len(self.totals.error_samples) < 10:
                self.totals.error_samples.append(f"{kind}: {detail}")

    async def _call(
        self, kind: str, method: str, path: str, token: str | None, body: dict | None, expect: int
    ) -> dict | None:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        started = time.perf_counter()
        try:
            async with self.http.request(
                method, self.base + path, json=body, headers=headers
            ) as resp:
                payload = await resp.json(content_type=None)
                status = resp.status
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            self._done(kind, False, 0.0, f"{type(exc).__name__}: {exc}")
            return None
        ok = status == expect
        self._done(
            kind,
            ok,
            time.perf_counter() - started,
            "" if ok else f"HTTP {status} {str(payload)[:160]}",
        )
        return payload if ok else None

    async def browse(self) -> None:
        await self._call("browse", "GET", "/api/v1/events?limit=20", None, None, 200)

    def _booking(self) -> tuple[str, dict]:
        token = self.rng.choice(self.tokens)
        body = {
            "event_id": self.rng.choice(self.events),
            "quantity": self.rng.randint(1, self.args.max_quantity),
        }
        return token, body

    async def book(self) -> None:
        token, body = self._booking()
        reply = await self._call("book", "POST", "/api/v1/bookings", token, body, 201)
        if reply is not None:
            self.cancellable.append((token, reply["data"]["id"]))

    async def hold(self) -> None:
        token, body = self._booking()
        body["hold"] = True
        confirm = self.rng.random() < self.args.confirm_fraction
        delay = self.rng.uniform(0.5, self.args.hold_seconds / 4)
        self.totals.last_hold_at = time.monotonic()
        reply = await self._call("hold", "POST", "/api/v1/bookings", token, body, 201)
        if reply is None:
            return
        if not confirm:
            self.totals.left_to_expire += 1
            return
        await asyncio.sleep(delay)  # a customer paying, well within the hold
        booking = reply["data"]["id"]
        path = f"/api/v1/bookings/{booking}/confirm"
        if await self._call("confirm", "POST", path, token, {}, 200) is not None:
            self.cancellable.append((token, booking))

    async def cancel(self) -> None:
        if not self.cancellable:
            return  # nothing booked yet: not a request, not an error
        # Anything booked so far, so confirmed holds are cancelled too.
        i = self.rng.randrange(len(self.cancellable))
        self.cancellable.rotate(-i)
        token, booking = self.cancellable.popleft()
        await self._call("cancel", "DELETE", f"/api/v1/bookings/{booking}", token, None, 200)

    async def pace(self, job, rate: float, until: float) -> None:
        """Start ``job`` every 1/rate seconds (open loop) until ``until``; beyond
        --max-in-flight outstanding requests new ones are shed, and counted."""
        if rate <= 0:
            return
        start = time.monotonic()
        i = 0
        while True:
            due = start + i / rate
            if due >= until:
                return
            delay = due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)  # pacing the load, not synchronising
            i += 1
            if len(self.tasks) >= self.args.max_in_flight:
                self.minute.shed += 1
                self.totals.shed += 1
                continue
            task = asyncio.create_task(job())
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)


@dataclass
class Watcher:
    """One websocket subscriber to every event: the last version and seats it saw."""

    seen: dict[int, tuple[int, int]] = field(default_factory=dict)  # id -> (version, seats)
    messages: int = 0
    ws: aiohttp.ClientWebSocketResponse | None = None
    closed_with: str | None = None


async def subscribe(http: aiohttp.ClientSession, base: str, token: str, w: Watcher) -> None:
    w.ws = await http.ws_connect(f"{base}/api/v1/ws?token={token}", heartbeat=None)
    await w.ws.receive_json()  # hello
    await w.ws.send_json({"type": "subscribe", "events": "all"})


async def listen(w: Watcher) -> None:
    assert w.ws is not None
    async for msg in w.ws:
        if msg.type != aiohttp.WSMsgType.TEXT:
            continue
        w.messages += 1
        data = msg.json()
        if "version" not in data:
            continue
        event_id, version = data["event_id"], data["version"]
        if version > w.seen.get(event_id, (0, 0))[0]:
            event = data.get("event")
            w.seen[event_id] = (version, event["available_seats"] if event else -1)
    w.closed_with = f"{w.ws.close_code} {w.ws.exception() or ''}".strip()


def rss_mib(server: Server) -> float:
    return server.rss_kib() / 1024


async def metric(http: aiohttp.ClientSession, base: str, name: str) -> float:
    async with http.get(base + "/metrics") as resp:
        text = await resp.text()
    return sum(
        float(line.split()[-1])
        for line in text.splitlines()
        if line.startswith(name + " ") or line.startswith(name + "{")
    )


async def run(
    server: Server, dsn: str, http: aiohttp.ClientSession, args: argparse.Namespace
) -> list[str]:
    """The soak; returns the failed checks."""
    base = server.url
    # Enough seats that nothing sells out: every booking and hold taking the most seats.
    seconds = args.minutes * 60
    mean_q = (1 + args.max_quantity) / 2
    demand = (args.book_rate + args.hold_rate) * seconds * mean_q
    seats = int(2 * demand / args.events) + 100
    tokens, events = await seed(http, base, args.users, args.events, seats)

    watchers = [Watcher() for _ in range(args.subscribers)]
    for start in range(0, len(watchers), 50):
        await asyncio.gather(
            *(
                subscribe(http, base, tokens[i % len(tokens)], watchers[i])
                for i in range(start, min(len(watchers), start + 50))
            )
        )
    listeners = [asyncio.create_task(listen(w)) for w in watchers]

    load = Load(http, base, tokens, events, args)
    print(
        f"soak: {args.minutes:g} min; offered per second: browse {args.browse_rate:g}, "
        f"book {args.book_rate:g}, hold {args.hold_rate:g} ({args.confirm_fraction:.0%} "
        f"confirmed, holds last {args.hold_seconds} s), cancel {args.cancel_rate:g}; "
        f"{args.subscribers} websocket subscribers to all of {args.events} events "
        f"({seats:,} seats each), {args.users} users",
        flush=True,
    )
    header = (
        f"{'min':>3} {'browse/s':>8} {'book/s':>6} {'hold/s':>6} {'conf/s':>6} "
        f"{'cncl/s':>6} {'total/s':>7} {'err':>4} {'shed':>4} {'p50 ms':>6} "
        f"{'p99 ms':>6} {'RSS MiB':>7} {'ws open':>7} {'ws msgs':>8} {'srv CPU':>7} {'gen CPU':>7}"
    )
    print(header, flush=True)

    rss_start = rss_mib(server)
    cpu_server, cpu_self = cpu_seconds(server.pid), time.process_time()
    begin = time.monotonic()
    until = begin + seconds
    pacers = [
        asyncio.create_task(load.pace(load.browse, args.browse_rate, until)),
        asyncio.create_task(load.pace(load.book, args.book_rate, until)),
        asyncio.create_task(load.pace(load.hold, args.hold_rate, until)),
        asyncio.create_task(load.pace(load.cancel, args.cancel_rate, until)),
    ]
    # (minute, total ok per second, RSS MiB, booking p99 ms) for each interval
    rows: list[tuple[int, float, float, float]] = []
    messages_before = 0
    n_intervals = max(1, round(seconds / 60))
    for k in range(1, n_intervals + 1):
        tick = begin + min(seconds, k * 60)
        await asyncio.sleep(max(0.0, tick - time.monotonic()))
        if k == n_intervals:
            await asyncio.gather(*pacers)
        length = time.monotonic() - (begin + (k - 1) * 60)
        m, load.minute = load.minute, Minute()
        per_s = {kind: m.ok[kind] / length for kind in KINDS}
        total = sum(per_s.values())
        messages = sum(w.messages for w in watchers)
        rss = rss_mib(server)
        open_ws = sum(1 for w in watchers if w.ws is not None and not w.ws.closed)
        lat = m.booking_latencies
        now_server, now_self = cpu_seconds(server.pid), time.process_time()
        srv_cpu = 100 * (now_server - cpu_server) / length
        gen_cpu = 100 * (now_self - cpu_self) / length
        cpu_server, cpu_self = now_server, now_self
        print(
            f"{k:>3} {per_s['browse']:>8.1f} {per_s['book']:>6.1f} {per_s['hold']:>6.1f} "
            f"{per_s['confirm']:>6.1f} {per_s['cancel']:>6.1f} {total:>7.1f} "
            f"{sum(m.errors.values()):>4} {m.shed:>4} {percentile(lat, 50) * 1000:>6.1f} "
            f"{percentile(lat, 99) * 1000:>6.1f} {rss:>7.1f} {open_ws:>7} "
            f"{messages - messages_before:>8,} {srv_cpu:>6.0f}% {gen_cpu:>6.0f}%",
            flush=True,
        )
        messages_before = messages
        rows.append((k, total, rss, percentile(lat, 99) * 1000))

    # Let the confirmations still waiting finish, then every unconfirmed hold lapse.
    async with asyncio.timeout(args.hold_seconds + 30):
        await asyncio.gather(*list(load.tasks), return_exceptions=True)
    quiet_at = load.totals.last_hold_at + args.hold_seconds + 3
    print(
        f"\ndraining: waiting {max(0, quiet_at - time.monotonic()):.0f} s for the last "
        "holds to lapse ...",
        flush=True,
    )
    await asyncio.sleep(max(0.0, quiet_at - time.monotonic()))
    async with asyncio.timeout(30):
        while query(dsn, PENDING)[0][0]:  # noqa: ASYNC110
            await asyncio.sleep(0.5)  # the sweep runs every second

    failures: list[str] = []
    t = load.totals
    print()
    print(
        f"Boxoffice soak: {os.cpu_count()} cores, one server process, load generator and "
        f"{args.subscribers} subscribers on the same machine, {args.minutes:g} min"
    )
    print("requests ok:    " + ", ".join(f"{k} {t.ok[k]:,}" for k in KINDS) + f"; shed {t.shed:,}")
    print("requests error: " + ", ".join(f"{k} {t.errors[k]:,}" for k in KINDS))
    for sample in t.error_samples:
        print(f"  e.g. {sample}")
    if sum(t.errors.values()):
        failures.append(f"{sum(t.errors.values())} requests failed")
    if t.shed:
        failures.append(f"{t.shed} requests shed: the server did not keep up")

    # First minute against the last: throughput and memory.
    first, last = rows[0], rows[-1]
    ratio = last[1] / first[1] if first[1] else float("nan")
    print(
        f"throughput: first minute {first[1]:,.1f} req/s, last minute {last[1]:,.1f} req/s, "
        f"last / first = {ratio:.3f} (fail below {1 - args.max_drop:.2f})"
    )
    print(
        f"booking p99: first minute {first[3]:.1f} ms, last minute {last[3]:.1f} ms "
        "(reported, not checked)"
    )
    if not ratio >= 1 - args.max_drop:
        failures.append(f"throughput dropped to {ratio:.2f} of the first minute")
    # The warm-up is the first minute: pools, caches, compiled statements and the
    # allocator's arenas fill there. With a single minute, compare with before the load.
    warm = rows[0][2] if len(rows) > 1 else rss_start
    warm_label = "after minute 1" if len(rows) > 1 else "before the load"
    growth = last[2] - warm
    pct = 100 * growth / warm
    print(
        f"server RSS: {rss_start:.1f} MiB before the load, {warm:.1f} MiB {warm_label}, "
        f"{last[2]:.1f} MiB at the end: {growth:+.1f} MiB ({pct:+.1f}%; "
        f"fail above +{args.max_rss_growth:g}%); peak {max(r[2] for r in rows):.1f} MiB"
    )
    if len(rows) >= 3:  # least-squares slope after the warm-up: a leak shows as a trend
        xs, ys = [r[0] for r in rows[1:]], [r[2] for r in rows[1:]]
        mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
        slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sum(
            (x - mx) ** 2 for x in xs
        )
        print(
            f"server RSS trend, minutes 2-{len(rows)}: {slope:+.2f} MiB/min "
            f"({slope * 60:+.0f} MiB/hour if it went on; reported, not checked)"
        )
    if pct > args.max_rss_growth:
        failures.append(f"server RSS grew {pct:.1f}% after warm-up")

    # The seat ledger, and the bookings against what the clients did.
    broken = broken_ledger(dsn)
    print(
        f"seat ledger (total - available == confirmed + pending, per event): "
        f"{'ok' if not broken else f'BROKEN for events {broken}'}"
    )
    if broken:
        failures.append(f"seat ledger broken for events {broken}")
    statuses = dict(query(dsn, "SELECT status, count(*) FROM bookings GROUP BY status"))
    expected = {
        "confirmed": t.ok["book"] + t.ok["confirm"] - t.ok["cancel"],
        "cancelled": t.ok["cancel"],
        "expired": t.ok["hold"] - t.ok["confirm"],
        "pending": 0,
    }
    got = {k: statuses.get(k, 0) for k in expected}
    print(f"bookings by status: {got}; from the clients' tallies: {expected}")
    if got != expected or set(statuses) - set(expected):
        failures.append(f"booking statuses {statuses} != expected {expected}")
    expired_metric = await metric(http, base, "boxoffice_holds_expired_total")
    print(
        f"holds expired by the sweep (/metrics): {expired_metric:,.0f}; holds left to "
        f"expire by the clients: {t.left_to_expire:,}"
    )
    if int(expired_metric) != t.left_to_expire:
        failures.append("holds expired by the server != holds left to expire")

    # Every subscriber's last seen seats against the database, once the versions arrive.
    truth = {
        r[0]: (r[1], r[2])
        for r in query(
            dsn, "SELECT id, version, available_seats FROM events WHERE id = ANY(%s)", (events,)
        )
    }
    try:
        async with asyncio.timeout(15):
            while any(  # noqa: ASYNC110
                w.seen.get(e, (0, 0))[0] < v
                for w in watchers
                if not w.ws.closed
                for e, (v, _) in truth.items()
            ):
                await asyncio.sleep(0.1)
    except TimeoutError:
        pass
    stale = sum(1 for w in watchers if any(w.seen.get(e) != s for e, s in truth.items()))
    open_ws = sum(1 for w in watchers if not w.ws.closed)
    print(
        f"websockets: {open_ws}/{len(watchers)} open at the end, "
        f"{sum(w.messages for w in watchers):,} messages received; subscribers whose last "
        f"seen (version, seats) differs from the database's: {stale}"
    )
    if open_ws != len(watchers):
        closes = {w.closed_with for w in watchers if w.ws.closed}
        failures.append(f"{len(watchers) - open_ws} websockets closed during the run: {closes}")
    if stale:
        failures.append(f"{stale} subscribers' last seen availability != the database's")

    for w in watchers:
        await w.ws.close()
    for task in listeners:
        task.cancel()
    return failures


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--browse-rate", type=float, default=100.0, help="GET /events per s")
    parser.add_argument("--book-rate", type=float, default=20.0, help="bookings per s")
    parser.add_argument("--hold-rate", type=float, default=10.0, help="holds per s")
    parser.add_argument("--cancel-rate", type=float, default=5.0, help="cancellations per s")
    parser.add_argument(
        "--confirm-fraction",
        type=float,
        default=0.5,
        help="share of holds confirmed; the rest are left to expire",
    )
    parser.add_argument(
        "--hold-seconds", type=int, default=20, help="BOXOFFICE_HOLD_SECONDS for the server"
    )
    parser.add_argument("--max-quantity", type=int, default=4, help="seats per booking, 1..N")
    parser.add_argument("--subscribers", type=int, default=100)
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--events", type=int, default=20)
    parser.add_argument("--pool", type=int, default=8, help="database connections")
    parser.add_argument("--max-in-flight", type=int, default=256)
    parser.add_argument(
        "--max-drop",
        type=float,
        default=0.20,
        help="fail if the last minute's throughput is this far below the first",
    )
    parser.add_argument(
        "--max-rss-growth",
        type=float,
        default=25.0,
        help="fail if the server's RSS grows more than this %% after minute 1",
    )
    args = parser.parse_args()

    # The server takes its settings from the environment (see harness.own_server).
    os.environ["BOXOFFICE_HOLD_SECONDS"] = str(args.hold_seconds)
    # Tokens made at the start must outlive the run (websockets close when theirs expire).
    os.environ["BOXOFFICE_ACCESS_TOKEN_TTL"] = str(int(args.minutes * 60) + 1800)
    with scratch_database() as dsn:
        async with own_server(dsn, args.pool) as server:
            connector = aiohttp.TCPConnector(limit=args.max_in_flight + args.subscribers)
            async with aiohttp.ClientSession(connector=connector) as http:
                failures = await run(server, dsn, http, args)
    print()
    if failures:
        print("FAILED: " + "; ".join(failures))
        return 1
    print("all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
