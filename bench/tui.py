"""TUI benchmark: the admin dashboard open while hundreds of seats sell per second.

The terminal app runs headless in this process, logged in as an admin, on the dashboard.
A lag probe in the app's event loop measures how late the loop wakes a task that asks to
sleep 10 ms: first with no sales (the baseline, same run), then while a separate buyer
process books 1-2 seats at a time at a steady rate across every event. It also counts the
live updates the app receives, times the dashboard's handling of each merged batch, each
frame it draws and each garbage collection, and at the end checks every gauge and the
totals against the database.

    .venv/bin/python bench/tui.py              # 500 seats/s, 20 events, 10 s per phase
    .venv/bin/python bench/tui.py --rate 1000 --seconds 20 --events 100
    .venv/bin/python bench/tui.py --gc-freeze

A second small process runs the same probe in an empty event loop, as a control: lag it
sees too comes from the machine being busy (server, PostgreSQL, buyers), not from the app.
It prints its figures; it asserts nothing but the gauges (exit status 1 on a mismatch).

With ``--seats`` it is the seat map instead: the shipped 10,000-seat arena, one seated
event on it, and a clerk's sell dialog open on that event. It times the map's first draw
(the widget built from the plan and the states, mounted and painted), then the same lag
probe with no sales and while buyers take ``--rate`` seats a second (best available, 1 or
2 at a time) on that event, and at the end reads every seat's glyph off the map's lines
and compares it with the database (exit status 1 on a mismatch or a first draw over
100 ms, or a storm p99 lag over 50 ms).

    .venv/bin/python bench/tui.py --seats      # 500 seats/s for 10 s on the arena
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import math
import multiprocessing
import os
import random
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import aiohttp
from harness import (
    ADMIN_PASSWORD,
    login,
    make_seated_event,
    make_venue,
    own_server,
    percentile,
    post,
    scratch_database,
    seed,
)

# After harness: it puts the project first on sys.path, ahead of this file's directory,
# so "tui" is the app's package and not this module.
from common.models import Event, LiveEvent, SeatStates, VenueSeats
from common.seatmap import SeatMap, expand, unpack
from server.venues import shipped_plan
from tui.app import BoxofficeApp
from tui.model import Change
from tui.screens.dashboard import DashboardScreen
from tui.screens.events import EventsScreen
from tui.screens.sell import SellScreen
from tui.widgets.gauge import SeatGauge
from tui.widgets.seat_map import HELD, SOLD, SeatMapView

PROBE_INTERVAL = 0.01
FRAME_MS = 1000 / 60


# --- measuring ------------------------------------------------------------------------


@dataclass
class Probe:
    """How late an event loop wakes a task that sleeps PROBE_INTERVAL, again and again."""

    samples: list[tuple[float, float]] = field(default_factory=list)  # (woke at, lag)

    async def run(self) -> None:
        while True:
            asked = time.perf_counter()
            await asyncio.sleep(PROBE_INTERVAL)
            woke = time.perf_counter()
            self.samples.append((woke, woke - asked - PROBE_INTERVAL))

    def lags(self, start: float, end: float) -> list[float]:
        return [lag for woke, lag in self.samples if start <= woke < end]


@dataclass
class Timed:
    """Something the app's thread did: a screen handling a batch of changes (``changes``),
    the dashboard drawing a frame (``layout``: after arranging its widgets again), or a
    garbage collection (``generation``). ``seconds`` is wall time, ``cpu`` the thread's."""

    at: float
    seconds: float
    cpu: float
    changes: int = 0
    layout: bool = False
    generation: int = 0


@dataclass
class Window:
    name: str
    start: float
    end: float
    cpu: float  # seconds of CPU the app's thread used in the window

    def has(self, at: float) -> bool:
        return self.start <= at < self.end

    @property
    def seconds(self) -> float:
        return self.end - self.start


@dataclass
class Meter:
    """What the app did: live updates in, batches handled by the screens."""

    updates: list[float] = field(default_factory=list)  # when each LiveEvent arrived
    stale: int = 0  # updates the store ignored (not newer than what it had)
    dashboard: list[Timed] = field(default_factory=list)
    table: list[Timed] = field(default_factory=list)  # the events screen, in the background
    frames: list[Timed] | None = None  # None: could not be measured
    collections: list[Timed] = field(default_factory=list)

    def count_updates(self, app: BoxofficeApp) -> None:
        """Wrap this session's store (login makes a new one) to count what it is given."""
        store = app.store
        apply = store.apply

        def counted(update: LiveEvent) -> None:
            self.updates.append(time.perf_counter())
            current = store.events.get(update.event_id)
            if current is not None and update.version <= current.version:
                self.stale += 1
            apply(update)

        store.apply = counted  # type: ignore[method-assign]

    @staticmethod
    def time_handler(
        app: BoxofficeApp,
        screen: DashboardScreen | EventsScreen,
        into: list[Timed],
    ) -> None:
        """Time the screen's handler of ``events_changed``. The screen subscribed its bound
        method on mount, so replacing the instance attribute now would not be seen: swap
        the subscription instead, for this screen only."""
        handler = screen.on_events_changed

        def timed(changes: list[Change]) -> None:
            started, cpu = time.perf_counter(), time.thread_time()
            handler(changes)
            seconds, cpu = time.perf_counter() - started, time.thread_time() - cpu
            into.append(Timed(started, seconds, cpu, changes=len(changes)))

        app.events_changed.unsubscribe(screen)
        app.events_changed.subscribe(screen, timed)

    def time_frames(self, screen: DashboardScreen) -> None:
        """Time each frame the screen draws: its compositor's refresh, with a layout pass
        before it or not. These are Textual's private methods (8.x): if they are gone, the
        frames go unmeasured and the report says so."""
        names = ("_refresh_layout", "_compositor_refresh")
        if not all(hasattr(screen, name) for name in names):
            return
        frames = self.frames = []
        depth = 0  # _refresh_layout calls _compositor_refresh: one frame, timed once

        def wrap(name: str) -> Callable[..., None]:
            original = getattr(screen, name)

            def timed(*args: Any, **kwargs: Any) -> None:
                nonlocal depth
                started, cpu = time.perf_counter(), time.thread_time()
                depth += 1
                try:
                    original(*args, **kwargs)
                finally:
                    depth -= 1
                if not depth:
                    seconds, cpu = time.perf_counter() - started, time.thread_time() - cpu
                    layout = name == "_refresh_layout"
                    frames.append(Timed(started, seconds, cpu, layout=layout))

            return timed

        for name in names:
            setattr(screen, name, wrap(name))

    def watch_gc(self) -> Callable[[], None]:
        """Time every garbage collection in this process; returns how to stop."""
        started = cpu = 0.0

        def callback(phase: str, info: dict[str, int]) -> None:
            nonlocal started, cpu
            if phase == "start":
                started, cpu = time.perf_counter(), time.thread_time()
            else:
                seconds, cpu = time.perf_counter() - started, time.thread_time() - cpu
                generation = info["generation"]
                self.collections.append(Timed(started, seconds, cpu, generation=generation))

        gc.callbacks.append(callback)
        return lambda: gc.callbacks.remove(callback)


async def until(pilot: Any, condition: Callable[[], object], within: float) -> None:
    """Let the app run until ``condition`` holds; give up after ``within`` seconds."""
    async with asyncio.timeout(within):
        while not condition():
            await pilot.pause(0.02)


# --- the other processes --------------------------------------------------------------


async def control_probe(conn: Connection) -> list[tuple[float, float]]:
    """A lag probe in an otherwise empty event loop, until told to stop: its samples."""
    probe = Probe()
    task = asyncio.create_task(probe.run())
    conn.send("ready")
    await asyncio.to_thread(conn.recv)
    task.cancel()
    return probe.samples


async def buyers(
    conn: Connection,
    base: str,
    tokens: list[str],
    event_ids: list[int],
    rate: float,
    seconds: float,
    in_flight: int,
    seated: bool = False,
) -> dict[str, Any]:
    """Book 1 or 2 seats at a time on a random event, ``rate`` seats a second on average,
    for ``seconds``, at most ``in_flight`` requests at once (it falls behind rather than
    queueing without bound). Reports what it sold. ``seated``: orders of the best seats
    available (an order is a booking) instead of general-admission bookings."""
    rng = random.Random(1)
    slots = asyncio.Semaphore(in_flight)
    seats = bookings = refused = errors = 0
    latencies: list[float] = []

    async def book(token: str, event: int, quantity: int) -> None:
        nonlocal seats, bookings, refused, errors
        sent = time.perf_counter()
        try:
            if seated:
                best = {"count": quantity, "together": False}
                body = {"event_id": event, "best_available": best}
                reply = await post(http, base + "/api/v1/orders", body, token)
            else:
                body = {"event_id": event, "quantity": quantity}
                reply = await post(http, base + "/api/v1/bookings", body, token)
        except (aiohttp.ClientError, ValueError):
            errors += 1
        else:
            if reply.get("code") == 201:
                seats += quantity
                bookings += 1
                latencies.append(time.perf_counter() - sent)
            elif reply.get("code") == 409:
                refused += 1
            else:
                errors += 1
        finally:
            slots.release()

    connector = aiohttp.TCPConnector(limit=in_flight)
    async with aiohttp.ClientSession(connector=connector) as http:
        for _ in range(3):  # open a connection before the clock starts
            async with http.get(base + "/api/v1/events?limit=1") as resp:
                await resp.read()
        conn.send("ready")
        await asyncio.to_thread(conn.recv)  # "go"
        tasks = []
        start = due = time.perf_counter()
        while due < start + seconds:
            now = time.perf_counter()
            if due > now:
                await asyncio.sleep(due - now)  # pacing the load, not synchronising
            elif now - due > 0.1:
                due = now  # fell behind: carry on from now rather than burst to catch up
            await slots.acquire()
            quantity = rng.choice((1, 2))
            token = tokens[len(tasks) % len(tokens)]
            tasks.append(asyncio.create_task(book(token, rng.choice(event_ids), quantity)))
            due += quantity / rate
        await asyncio.gather(*tasks)
        elapsed = time.perf_counter() - start
    return {
        "seats": seats,
        "bookings": bookings,
        "refused": refused,
        "errors": errors,
        "seconds": elapsed,
        "latencies": latencies,
    }


def _run(target: Callable[..., Awaitable[Any]], conn: Connection, *args: Any) -> None:
    """In the other process: ``target(conn, *args)`` in an event loop; send what it returns."""
    conn.send(asyncio.run(target(conn, *args)))


def spawn(target: Callable[..., Awaitable[Any]], *args: Any) -> tuple[Any, Connection]:
    """Start ``target(conn, *args)`` in a fresh interpreter: its own GIL and event loop. What
    it returns is its last message on the connection."""
    here, there = multiprocessing.get_context("spawn").Pipe()
    process = multiprocessing.get_context("spawn").Process(
        target=_run, args=(target, there, *args), daemon=True
    )
    process.start()
    return process, here


async def receive(conn: Connection, within: float) -> Any:
    """The next message from another process; a worker thread waits, not the app's loop."""

    def wait() -> Any:
        if not conn.poll(within):
            raise TimeoutError(f"no answer from the other process in {within:g} s")
        return conn.recv()  # EOFError if it died

    return await asyncio.to_thread(wait)


# --- the run --------------------------------------------------------------------------


async def availability(http: aiohttp.ClientSession, base: str) -> dict[int, tuple[int, int]]:
    """Event id -> (available seats, total seats), as the API reports them."""
    async with http.get(base + "/api/v1/events?limit=500") as resp:
        reply = await resp.json()
    return {e["id"]: (e["available_seats"], e["total_seats"]) for e in reply["data"]}


def gauges_disagree(screen: DashboardScreen, truth: dict[int, tuple[int, int]]) -> list[str]:
    """How the dashboard differs from the database (empty: it agrees)."""
    problems = []
    shown = {g.event.id: g for g in screen.query(SeatGauge) if g.event is not None}
    if set(shown) != set(truth):
        problems.append(f"gauges for events {sorted(shown)}, database has {sorted(truth)}")
    for event_id, (available, total) in sorted(truth.items()):
        gauge = shown.get(event_id)
        if gauge is None or gauge.event is None:
            continue
        if gauge.event.available_seats != available:
            problems.append(
                f"event {event_id}: gauge {gauge.event.available_seats} left, database {available}"
            )
        elif f"{total - available:,} / {total:,}" not in gauge.render().plain:
            problems.append(f"event {event_id}: gauge draws {gauge.render().plain.strip()!r}")
    sold = sum(total - available for available, total in truth.values())
    totals = str(screen.query_one("#totals").visual)  # type: ignore[attr-defined]
    if f"{sold:,} of" not in totals:
        problems.append(f"totals show {totals!r}, database has {sold:,} seats sold")
    return problems


def stats(values: list[float]) -> tuple[float, float, float]:
    """p50, p99 and max, in milliseconds."""
    ms = [v * 1000 for v in values]
    return percentile(ms, 50), percentile(ms, 99), max(ms, default=math.nan)


def timing(name: str, rate: str, items: list[Timed] | None, note: str = "") -> str:
    """A line of the summary: a rate, then the mean (and mean CPU), p99 and max time."""
    if not items:
        return f"{name:<28} {rate:<18} {'none' if items is not None else 'not measured'}"
    _, p99, top = stats([i.seconds for i in items])
    mean = sum(i.seconds for i in items) / len(items) * 1000
    cpu = sum(i.cpu for i in items) / len(items) * 1000
    line = f"mean {mean:5.1f} ms (CPU {cpu:5.1f})  p99 {p99:5.1f} ms  max {top:6.1f} ms"
    return f"{name:<28} {rate:<18} {line}" + (f"  {note}" if note else "")


def lag_row(name: str, lags: list[float], cpu_share: float | None = None) -> str:
    p50, p99, top = stats(lags)
    cpu = f"{cpu_share:10.0%}" if cpu_share is not None else ""
    return f"  {name:<32} {p50:7.1f} {p99:7.1f} {top:7.1f}{cpu}"


@dataclass
class Results:
    sold: dict[str, Any]
    meter: Meter
    probe: Probe
    control: list[tuple[float, float]]
    baseline: Window
    storm: Window
    problems: list[str]
    converged: float


async def run(args: argparse.Namespace) -> Results:
    per_event = args.rate * args.seconds / args.events
    capacity = max(100, math.ceil(per_event * 3))  # about a third sells: no event sells out
    with scratch_database() as dsn, tempfile.TemporaryDirectory() as tmp:
        async with own_server(dsn, 8) as server:
            base = server.url
            async with aiohttp.ClientSession() as http:
                print(f"setting up {args.events} events and {args.buyers} buyers ...", flush=True)
                tokens, event_ids = await seed(http, base, args.buyers, args.events, capacity)

                control, control_conn = spawn(control_probe)
                buyer, buyer_conn = spawn(
                    buyers, base, tokens, event_ids, args.rate, args.seconds, args.in_flight
                )
                await receive(control_conn, 30)
                await receive(buyer_conn, 30)

                app = BoxofficeApp(
                    base,
                    username="benchadmin",
                    password=ADMIN_PASSWORD,
                    settings_path=Path(tmp) / "tui.json",
                )
                meter = Meter()
                probe = Probe()
                async with app.run_test(size=(120, 40)) as pilot:
                    await until(
                        pilot, lambda: isinstance(app.screen, EventsScreen) and app.connected, 30
                    )
                    events_screen = app.screen
                    assert isinstance(events_screen, EventsScreen)
                    await until(pilot, lambda: len(app.store.events) == args.events, 10)
                    meter.count_updates(app)
                    await pilot.press("f4")
                    await until(
                        pilot,
                        lambda: (
                            isinstance(app.screen, DashboardScreen)
                            and len(app.screen.query(SeatGauge)) == args.events
                        ),
                        10,
                    )
                    dashboard = app.screen
                    assert isinstance(dashboard, DashboardScreen)
                    Meter.time_handler(app, dashboard, meter.dashboard)
                    Meter.time_handler(app, events_screen, meter.table)
                    meter.time_frames(dashboard)
                    await pilot.pause()  # until the first frames are drawn and all is idle
                    if args.gc_freeze:
                        gc.freeze()  # what the app could do once it has started
                    stop_watching_gc = meter.watch_gc()
                    probe_task = asyncio.create_task(probe.run())

                    print(f"baseline: dashboard open, no sales, {args.seconds:g} s ...", flush=True)
                    start, cpu = time.perf_counter(), time.thread_time()
                    await asyncio.sleep(args.seconds)  # the measurement window itself
                    baseline = Window(
                        "baseline", start, time.perf_counter(), time.thread_time() - cpu
                    )

                    print(
                        f"storm: {args.rate:g} seats/s over {args.events} events, "
                        f"{args.seconds:g} s ...",
                        flush=True,
                    )
                    start, cpu = time.perf_counter(), time.thread_time()
                    buyer_conn.send("go")
                    sold = await receive(buyer_conn, args.seconds + 60)
                    storm = Window("storm", start, time.perf_counter(), time.thread_time() - cpu)

                    truth = await availability(http, base)
                    with contextlib.suppress(TimeoutError):  # reported as a mismatch
                        await until(pilot, lambda: not gauges_disagree(dashboard, truth), 15)
                    converged = time.perf_counter() - storm.end
                    problems = gauges_disagree(dashboard, truth)
                    probe_task.cancel()
                    stop_watching_gc()
                control_conn.send("stop")
                control_samples = await receive(control_conn, 10)
                buyer.join(10)
                control.join(10)
    return Results(sold, meter, probe, control_samples, baseline, storm, problems, converged)


def report(args: argparse.Namespace, r: Results) -> int:
    baseline, storm, meter, sold = r.baseline, r.storm, r.meter, r.sold

    def during(items: list[Any], window: Window) -> list[Any]:
        return [item for item in items if window.has(item.at)]

    def per_second(count: int) -> str:
        return f"{count / storm.seconds:7.1f} /s"

    updates = sum(1 for at in meter.updates if storm.has(at))
    dashboard = during(meter.dashboard, storm)
    table = during(meter.table, storm)
    frames = during(meter.frames, storm) if meter.frames is not None else None
    collections = during(meter.collections, storm)
    longest_full = max((c.seconds for c in collections if c.generation == 2), default=0.0)
    full = sum(1 for c in collections if c.generation == 2)
    base_lags = r.probe.lags(baseline.start, baseline.end)
    storm_lags = r.probe.lags(storm.start, storm.end)
    latencies = sold["latencies"]
    _, booking_p99, _ = stats(latencies)

    print()
    print(
        f"Boxoffice TUI benchmark: {os.cpu_count()} cores, admin dashboard at 120x40 headless, "
        f"{args.events} events, {args.seconds:g} s per phase; server, PostgreSQL and the "
        f"buyer process on the same machine{'; gc.freeze() after start-up' * args.gc_freeze}"
    )
    rate = f"{sold['seats'] / sold['seconds']:7,.0f} /s"
    print(
        f"{'seats sold':<28} {rate:<18} target {args.rate:g}; {sold['seats']:,} seats in "
        f"{sold['bookings']:,} bookings, {sold['refused']} refused, {sold['errors']} errors, "
        f"booking p99 {booking_p99:.0f} ms"
    )
    print(
        f"{'live updates received':<28} {per_second(updates):<18} {updates:,} in the storm "
        f"({meter.stale} stale), {sum(1 for at in meter.updates if baseline.has(at))} "
        "in the baseline"
    )
    changes = sum(b.changes for b in dashboard)
    print(
        f"{'dashboard batches':<28} {per_second(len(dashboard)):<18} "
        f"{changes:,} event changes, {changes / max(1, len(dashboard)):.1f} per batch"
    )
    print(timing("  its handler, per batch", "", dashboard))
    print(
        timing(
            "  frames drawn",
            per_second(len(frames or ())),
            frames,
            f"({sum(f.layout for f in frames)} with a layout pass)" if frames else "",
        )
    )
    print(
        timing(
            "events table (hidden screen)",
            per_second(len(table)),
            table,
            "handler per batch",
        )
    )
    print(
        timing(
            "garbage collections",
            per_second(len(collections)),
            collections,
            f"({full} full, the longest {longest_full * 1000:.0f} ms)",
        )
    )
    print()
    print(
        f"  {'UI loop lag, ms (10 ms sleeps)':<32} {'p50':>7} {'p99':>7} {'max':>7}{'app CPU':>10}"
    )
    print(lag_row("baseline: no sales", base_lags, baseline.cpu / baseline.seconds))
    print(lag_row(f"storm: {args.rate:g} seats/s", storm_lags, storm.cpu / storm.seconds))
    ratios = [a / b for a, b in zip(stats(storm_lags), stats(base_lags), strict=True)]
    print(f"  {'storm / baseline':<32} {ratios[0]:6.1f}x {ratios[1]:6.1f}x {ratios[2]:6.1f}x")
    control = Probe(r.control)
    print(lag_row("control process, baseline", control.lags(baseline.start, baseline.end)))
    print(lag_row("control process, storm", control.lags(storm.start, storm.end)))
    print(
        f"  (a 60 Hz frame is {FRAME_MS:.1f} ms; the control is an idle loop on the same machine)"
    )
    print()
    if r.problems:
        print(f"gauges vs database: MISMATCH ({len(r.problems)} after {r.converged:.1f} s)")
        for problem in r.problems[:20]:
            print(f"  {problem}")
        return 1
    print(
        f"gauges vs database: OK ({args.events} gauges and the totals agree, "
        f"{r.converged:.2f} s after the last booking's response)"
    )
    return 0


# --- the seat map (--seats) -------------------------------------------------------------

FIRST_DRAW_LIMIT_MS = 100
LAG_P99_LIMIT_MS = 50


async def first_draw(pilot: Any, box: Any, venue: VenueSeats, states: SeatStates) -> float:
    """Seconds from nothing to a painted map: the widget built from the plan and the
    states, mounted, laid out and drawn once (a second copy, removed after)."""
    painted = asyncio.Event()
    start = time.perf_counter()
    view = SeatMapView(venue, SeatMap(states), selectable=False)
    await box.mount(view)
    view.call_after_refresh(painted.set)
    await painted.wait()
    seconds = time.perf_counter() - start
    await view.remove()
    return seconds


def seats_disagree(view: SeatMapView, truth: SeatStates) -> list[str]:
    """Seats whose glyph on the map is not the database's state (empty: all agree)."""
    state_of = {HELD: "held", SOLD: "sold"}
    letters = {"f": "free", "h": "held", "s": "sold"}
    problems = []
    for seat, letter in zip(expand(truth.seat_ids), unpack(truth.states), strict=True):
        shown = state_of.get(view.drawn(seat), "free")
        if shown != letters[letter]:
            problems.append(f"seat {seat}: drawn {shown}, database {letters[letter]}")
    return problems


async def run_seats(args: argparse.Namespace) -> dict[str, Any]:
    out: dict[str, Any] = {}
    with scratch_database() as dsn, tempfile.TemporaryDirectory() as tmp:
        async with own_server(dsn, 8) as server:
            base = server.url
            async with aiohttp.ClientSession() as http:
                print(f"setting up the arena and {args.buyers} buyers ...", flush=True)
                tokens, _ = await seed(http, base, args.buyers, 0, 0)
                admin = await login(http, base, "benchadmin", ADMIN_PASSWORD)
                plan = shipped_plan("arena").model_dump(mode="json", exclude_none=True)
                venue_id = await make_venue(http, base, admin, plan)
                event_id = await make_seated_event(http, base, admin, venue_id)
                async with http.get(f"{base}/api/v1/events/{event_id}") as resp:
                    event = Event.model_validate((await resp.json())["data"])

                control, control_conn = spawn(control_probe)
                buyer, buyer_conn = spawn(
                    buyers, base, tokens, [event_id], args.rate, args.seconds, args.in_flight, True
                )
                await receive(control_conn, 30)
                await receive(buyer_conn, 30)

                app = BoxofficeApp(
                    base, username="benchadmin", password=ADMIN_PASSWORD,
                    settings_path=Path(tmp) / "tui.json",
                )  # fmt: skip
                probe = Probe()
                async with app.run_test(size=(120, 40)) as pilot:
                    await until(
                        pilot, lambda: isinstance(app.screen, EventsScreen) and app.connected, 30
                    )
                    dialog = SellScreen(event)
                    app.push_screen(dialog)
                    await until(pilot, lambda: dialog.view and dialog.view.states, 30)
                    view = dialog.view
                    assert view is not None and view.states is not None
                    venue = await app.client.venue_seats(venue_id)
                    states = await app.client.event_seats(event_id)
                    box = dialog.query_one("#map-box")
                    draws = [await first_draw(pilot, box, venue, states) for _ in range(5)]
                    gc.collect()  # the five copies' garbage is the benchmark's, not the app's
                    out["first_draw"] = draws
                    out["seats_count"] = len(venue.id)
                    applied: list[float] = []  # seconds per live message the map applied
                    apply = view.apply

                    def timed(message: Any) -> bool:
                        start = time.perf_counter()
                        try:
                            return apply(message)
                        finally:
                            applied.append(time.perf_counter() - start)

                    view.apply = timed  # type: ignore[method-assign]
                    await pilot.pause()
                    # Collections counted, not timed: a callback on each would add its own lag.
                    collected = [g["collections"] for g in gc.get_stats()]
                    probe_task = asyncio.create_task(probe.run())

                    print(f"baseline: the arena's map open, no sales, {args.seconds:g} s ...")
                    start = time.perf_counter()
                    await asyncio.sleep(args.seconds)  # the measurement window itself
                    baseline = (start, time.perf_counter())

                    print(f"storm: {args.rate:g} seats/s on the arena, {args.seconds:g} s ...")
                    start, count_before = time.perf_counter(), len(applied)
                    buyer_conn.send("go")
                    out["sold"] = await receive(buyer_conn, args.seconds + 60)
                    storm = (start, time.perf_counter())
                    out["messages"] = len(applied) - count_before

                    async with http.get(f"{base}/api/v1/events/{event_id}/seats") as resp:
                        truth = SeatStates.model_validate((await resp.json())["data"])
                    with contextlib.suppress(TimeoutError):  # reported as a mismatch
                        await until(
                            pilot,
                            lambda: (
                                view.states is not None and view.states.version >= truth.version
                            ),
                            15,
                        )
                    out["converged"] = time.perf_counter() - storm[1]
                    await pilot.pause()
                    out["problems"] = seats_disagree(view, truth)
                    out["counts"] = truth.counts
                    probe_task.cancel()
                    out["collections"] = [
                        g["collections"] - before
                        for g, before in zip(gc.get_stats(), collected, strict=True)
                    ]
                    out["worst"] = sorted(
                        ((lag, woke - storm[0]) for woke, lag in probe.samples
                         if storm[0] <= woke < storm[1]), reverse=True
                    )[:5]  # fmt: skip
                    out["base_lags"] = probe.lags(*baseline)
                    out["storm_lags"] = probe.lags(*storm)
                    out["applied"] = applied
                control_conn.send("stop")
                control = Probe(await receive(control_conn, 10))
                out["control_lags"] = control.lags(*storm)
                buyer.join(10)
    return out


def report_seats(args: argparse.Namespace, r: dict[str, Any]) -> int:
    sold, draws = r["sold"], r["first_draw"]
    print()
    print(
        f"Boxoffice seat map benchmark: {os.cpu_count()} cores, a clerk's sell dialog at "
        f"120x40 headless on the {r['seats_count']:,}-seat arena; server, PostgreSQL and the "
        "buyer process on the same machine"
    )
    first = min(draws) * 1000
    print(
        f"{'first draw (built, mounted, painted)':<40} best {first:5.1f} ms, "
        f"worst {max(draws) * 1000:5.1f} ms of {len(draws)} (limit {FIRST_DRAW_LIMIT_MS} ms)"
    )
    print(
        f"{'seats sold':<40} {sold['seats'] / sold['seconds']:7,.0f} /s (target {args.rate:g}): "
        f"{sold['seats']:,} seats in {sold['bookings']:,} orders, {sold['refused']} refused, "
        f"{sold['errors']} errors"
    )
    applied = r["applied"]
    _, apply_p99, apply_max = stats(applied) if applied else (0.0, 0.0, 0.0)
    print(
        f"{'live seat messages applied':<40} {r['messages']:,} in the storm; per message "
        f"p99 {apply_p99:.2f} ms, max {apply_max:.2f} ms"
    )
    print(f"  {'UI loop lag, ms (10 ms sleeps)':<38} {'p50':>7} {'p99':>7} {'max':>7}")
    print(lag_row("baseline: map open, no sales", r["base_lags"]))
    print(lag_row(f"storm: {args.rate:g} seats/s", r["storm_lags"]))
    print(lag_row("control process, storm", r["control_lags"]))
    young, middle, full = r["collections"]
    print(
        f"  garbage collections, baseline and storm: {young + middle + full} ({full} full); "
        "worst lags in the storm (ms at s): "
        + ", ".join(f"{lag * 1000:.0f} at {at:.1f}" for lag, at in r["worst"])
    )
    _, storm_p99, _ = stats(r["storm_lags"])
    failed = False
    if first > FIRST_DRAW_LIMIT_MS:
        print(f"first draw: OVER the limit of {FIRST_DRAW_LIMIT_MS} ms")
        failed = True
    if storm_p99 > LAG_P99_LIMIT_MS:
        print(f"storm lag p99: OVER the limit of {LAG_P99_LIMIT_MS} ms")
        failed = True
    if r["problems"]:
        print(f"seats on the map vs database: MISMATCH ({len(r['problems'])})")
        for problem in r["problems"][:20]:
            print(f"  {problem}")
        return 1
    counts = r["counts"]
    print(
        f"seats on the map vs database: OK (all {r['seats_count']:,} glyphs: {counts.free:,} "
        f"free, {counts.held:,} held, {counts.sold:,} sold; {r['converged']:.2f} s after the "
        "last order's response)"
    )
    return 1 if failed else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=500.0, help="seats sold per second")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each phase")
    parser.add_argument("--events", type=int, default=20)
    parser.add_argument("--buyers", type=int, default=200, help="buyer accounts")
    parser.add_argument("--in-flight", type=int, default=64, help="most bookings at once")
    parser.add_argument(
        "--gc-freeze",
        action="store_true",
        help="gc.freeze() once the dashboard shows, to see what that would do for the app",
    )
    parser.add_argument(
        "--seats", action="store_true", help="the seat map on a 10,000-seat arena instead"
    )
    args = parser.parse_args()
    if args.seats:
        sys.exit(report_seats(args, asyncio.run(run_seats(args))))
    sys.exit(report(args, asyncio.run(run(args))))


if __name__ == "__main__":
    main()
