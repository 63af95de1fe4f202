"""Seat maps over /api/v1/ws: a seated event's map on subscribe, then its per-seat changes,
and after a resync a fresh map; a client applying them always equals the database. Two real
server processes on one database, under a storm of orders and cancellations."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import aiohttp
import pytest
from server_process import ADMIN, PASSWORD, ServerProcess, request
from support import cut_listeners, seat_states
from test_live import Message, connect, receive, wait_until
from test_seatmaps import config, order_body, place, seated  # noqa: F401 (config)

from common.client import Client, Connection
from common.models import EventCreate, LiveSeatChanges, LiveSeatMap
from common.seatmap import SeatMap
from server.keys import HUB
from server.venues import shipped_plan

SeatMessage = LiveSeatMap | LiveSeatChanges
ORDERS = "/api/v1/orders"


def is_seat_message(m: Message) -> bool:
    return m["type"] in ("seat_map", "seat_changes")


async def subscribe_seated(ws: Any, event_id: int) -> tuple[Message, Message]:
    """Subscribe to a seated event: the acknowledgement, its snapshot, then its map."""
    await ws.send_json({"type": "subscribe", "events": [event_id]})
    assert (await receive(ws))["type"] == "subscribed"
    snap, seat_map = await receive(ws), await receive(ws)
    assert snap["type"] == "snapshot"
    assert seat_map["type"] == "seat_map" and seat_map["reason"] == "subscribe"
    return snap, seat_map


async def test_a_seated_event_sends_its_map_then_its_changes(client, admin, user, database_url):
    event_id = await seated(admin, "theatre")
    ws = await connect(client, user)
    snap, first = await subscribe_seated(ws, event_id)
    seat_map = SeatMap(LiveSeatMap.model_validate(first))
    assert seat_map.version == snap["version"]
    assert seat_map.counts().free == len(seat_map.seat_ids) == 396

    placed = await place(admin, event_id, quantity=4, hold=True)
    # The event's own message is unchanged, and the seats follow at the same version.
    seen: list[Message] = []
    change = await receive(ws, is_seat_message, seen=seen)
    assert [m["type"] for m in seen] == ["seats"]
    assert change["type"] == "seat_changes"
    assert change["since"] == first["version"]
    assert change["version"] == seen[0]["version"] == placed["event_version"]
    assert seat_map.apply(LiveSeatChanges.model_validate(change))
    assert change["counts"] == {"free": 392, "held": 4, "sold": 0}
    version, stored = seat_states(database_url, event_id)
    assert (seat_map.version, seat_map.states()) == (version, stored)

    await admin.delete(f"/api/v1/bookings/{placed['id']}")
    change = await receive(ws, is_seat_message)
    assert seat_map.apply(LiveSeatChanges.model_validate(change))
    assert seat_map.counts().free == 396
    await ws.close()


async def test_all_events_subscription_gets_no_seat_maps(client, admin, database_url):
    """ "all" (the dashboard) hears every event's counts, not every seat of every event."""
    event_id = await seated(admin)
    ws = await connect(client, admin)
    await ws.send_json({"type": "subscribe", "events": "all"})
    assert (await receive(ws))["type"] == "subscribed"
    assert (await receive(ws))["type"] == "snapshot"
    await place(admin, event_id, quantity=2)
    seen: list[Message] = []
    await ws.send_json({"type": "ping"})
    await receive(ws, lambda m: m["type"] == "pong", seen=seen)
    if not any(m["type"] == "seats" for m in seen):  # (it may come before the pong)
        await receive(ws, lambda m: m["type"] == "seats", seen=seen)
    assert not [m for m in seen if is_seat_message(m)]
    await ws.close()


@pytest.mark.parametrize(
    ("plan", "seats", "reason"),
    [("arena", slice(-1500, None), "resync"), ("theatre", slice(100), "catch_up")],
    ids=["too-big-to-notify", "bigger-than-the-map"],
)
async def test_a_big_change_resends_the_whole_map(
    client, admin, user, database_url, plan, seats, reason
):
    """1,500 seats in one order are too many for a notification: the instance reads the
    seats again (resync). 100 of the theatre's 396 notify, but are more than a map's worth
    of changes (an eighth of the seats, at least 64): the map is sent (catch_up)."""
    event_id = await seated(admin, plan)
    ws = await connect(client, user)
    _, first = await subscribe_seated(ws, event_id)
    seat_map = SeatMap(LiveSeatMap.model_validate(first))
    placed = await place(admin, event_id, seats=seat_map.seat_ids[seats])
    resent = await receive(ws, is_seat_message)
    assert resent["type"] == "seat_map" and resent["reason"] == reason
    assert seat_map.apply(LiveSeatMap.model_validate(resent))
    assert seat_map.version == placed["event_version"]
    assert seat_map.states() == seat_states(database_url, event_id)[1]
    await ws.close()


@pytest.mark.parametrize(
    ("quantities", "expected"),
    [((2, 3, 4), "seat_changes"), ((10,) * 7, "seat_map")],
    ids=["merged", "outgrown"],
)
async def test_a_busy_client_gets_what_it_missed_in_one_message(
    client, admin, user, database_url, quantities, expected
):
    """A client that is sent nothing for a while (here: its connection is held, as while it
    is still busy receiving) then gets one message per event: its missed seat changes merged,
    each seat once; or, past an eighth of the seats (at least 64), the whole map."""
    event_id = await seated(admin, "theatre")
    ws = await connect(client, user)
    _, first = await subscribe_seated(ws, event_id)
    seat_map = SeatMap(LiveSeatMap.model_validate(first))
    hub = client.server.app[HUB]
    [sub] = hub.subscribers
    board = hub.boards[event_id]
    with sub.holding():
        placed = [await place(admin, event_id, quantity=n) for n in quantities]
        await admin.delete(f"/api/v1/bookings/{placed[0]['id']}")
        version, stored = seat_states(database_url, event_id)
        await wait_until(lambda: board.since >= version)  # flushed to the subscriber
    seen: list[Message] = []
    got = await receive(ws, is_seat_message, seen=seen)
    assert [m["version"] for m in seen if m["type"] == "seats"] == [version]
    assert got["type"] == expected and got["version"] == version
    if expected == "seat_changes":
        assert got["since"] == first["version"]
        assert seat_map.apply(LiveSeatChanges.model_validate(got))
    else:
        assert got["reason"] == "catch_up"
        assert seat_map.apply(LiveSeatMap.model_validate(got))
    assert seat_map.states() == stored
    await ws.send_json({"type": "ping"})
    assert (await receive(ws))["type"] == "pong"  # nothing else was owed
    await ws.close()


# --- two server processes ----------------------------------------------------------------


@pytest.fixture
async def instances(scratch_dsn, tmp_path) -> AsyncIterator[list[ServerProcess]]:
    """Two `boxoffice serve` processes on one database, ready, with an admin account."""
    procs = []
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        procs.append(
            ServerProcess(scratch_dsn, tmp_path / name, BOXOFFICE_MAX_TICKETS_PER_BOOKING="3000")
        )
    procs[0].add_admin()
    try:
        for n, proc in enumerate(procs, 1):
            proc.start()
            await proc.wait_ready(listeners=n)
        yield procs
    finally:
        for proc in procs:
            proc.close()


class Watcher:
    """A typed client following one seated event on one instance: every seat message it
    received, in order, and the map they make."""

    def __init__(self, api: Client, event_id: int) -> None:
        self.api = api
        self.event_id = event_id
        self.messages: list[SeatMessage] = []
        self.map: SeatMap | None = None
        self.changed = asyncio.Condition()

    async def follow(self) -> None:
        async for item in self.api.live([self.event_id]):
            if isinstance(item, Connection):
                continue
            if isinstance(item, LiveSeatMap | LiveSeatChanges):
                self.messages.append(item)
                if self.map is None:
                    assert isinstance(item, LiveSeatMap), item
                    self.map = SeatMap(item)
                else:
                    self.map.apply(item)  # a SeatMapGap fails the test
            async with self.changed:
                self.changed.notify_all()

    async def until(self, ready: Callable[[], bool], within: float = 20.0) -> None:
        async with asyncio.timeout(within), self.changed:
            await self.changed.wait_for(ready)

    async def at(self, version: int) -> None:
        await self.until(lambda: self.map is not None and self.map.version >= version)


async def watchers(procs: list[ServerProcess], event_id: int) -> list[Watcher]:
    made = []
    for proc in procs:
        api = Client(proc.url)
        await api.login(ADMIN, PASSWORD)
        made.append(Watcher(api, event_id))
    return made


async def seated_on(proc: ServerProcess, plan: str) -> tuple[int, str]:
    """A free seated event on a new venue of a shipped plan, and an admin's access token."""
    async with Client(proc.url) as api:
        await api.login(ADMIN, PASSWORD)
        venue = await api.create_venue(shipped_plan(plan))
        when = datetime(2099, 6, 1, 19, 30, tzinfo=UTC)
        event = await api.create_event(
            EventCreate(title="Seated", date=when, price=Decimal(0), venue_id=venue.id)
        )
        assert api.tokens is not None
        return event.id, api.tokens.access_token


async def call_on(
    http: aiohttp.ClientSession, proc: ServerProcess, token: str, method: str, path: str,
    body: Any = None, expect: int = 200,
) -> dict[str, Any]:  # fmt: skip
    """A request to one instance; its envelope's data, once its status is ``expect``."""
    status, reply, _ = await request(http, method, proc.url + path, token, json=body)
    assert status == expect, reply
    return reply["data"]


async def test_cut_listen_connections_resend_every_map(instances, scratch_dsn):
    """Both instances' LISTEN connections cut, orders made meanwhile: each client gets the
    map again (resync), equal to the database, then changes as before."""
    event_id, token = await seated_on(instances[0], "theatre")
    following = await watchers(instances, event_id)
    tasks = [asyncio.create_task(w.follow()) for w in following]
    http = aiohttp.ClientSession()
    try:
        start, _ = seat_states(scratch_dsn, event_id)
        for w in following:
            await w.at(start)
        assert cut_listeners(scratch_dsn) == 2
        for n in range(5):
            body = order_body(event_id, quantity=3)
            await call_on(http, instances[n % 2], token, "POST", ORDERS, body, expect=201)
        version, stored = seat_states(scratch_dsn, event_id)
        for w in following:
            await w.until(
                lambda w=w: (
                    any(getattr(m, "reason", None) == "resync" for m in w.messages)
                    and w.map is not None
                    and w.map.version >= version
                )
            )
            assert w.map is not None and w.map.states() == stored

        body = order_body(event_id, quantity=2)
        more = await call_on(http, instances[1], token, "POST", ORDERS, body, expect=201)
        version, stored = seat_states(scratch_dsn, event_id)
        assert version == more["event_version"]
        for w in following:
            await w.at(version)
            assert isinstance(w.messages[-1], LiveSeatChanges)
            assert w.map is not None and w.map.states() == stored
    finally:
        await http.close()
        await stop(following, tasks)


async def stop(following: list[Watcher], tasks: list[asyncio.Task[None]]) -> None:
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    for w in following:
        await w.api.close()


def replay_equals_history(
    messages: list[SeatMessage], history: dict[int, dict[int, str]], start: int
) -> None:
    """Apply ``messages`` in order to a map, checking it against the database's states at
    each version it reaches (``history``: each change's version -> its seats' new states,
    on top of every seat free at ``start``)."""
    expected: dict[int, str] = {}
    versions = sorted(history)
    done = 0  # history versions applied to ``expected``
    seat_map: SeatMap | None = None
    for message in messages:
        if seat_map is None:
            seat_map = SeatMap(message)  # type: ignore[arg-type]
            expected = dict.fromkeys(seat_map.seat_ids, "free")
        else:
            seat_map.apply(message)
        while done < len(versions) and versions[done] <= seat_map.version:
            expected.update(history[versions[done]])
            done += 1
        assert seat_map.version == start or seat_map.version in history, seat_map.version
        assert seat_map.states() == expected, f"differs at version {seat_map.version}"


async def test_storm_across_two_instances_every_map_equals_the_database(instances, scratch_dsn):
    """Concurrent orders, cancellations and returns through both instances' API, on an
    arena (one order too big to notify); a websocket on each instance follows the event.
    Every map each client holds, after every message, is the database's at that version,
    and each ends on the final one."""
    event_id, token = await seated_on(instances[0], "arena")
    start, _ = seat_states(scratch_dsn, event_id)
    following = await watchers(instances, event_id)
    tasks = [asyncio.create_task(w.follow()) for w in following]
    try:
        for w in following:
            await w.at(start)
        async with aiohttp.ClientSession() as http:
            history = await storm(http, instances, token, event_id)
        version, stored = seat_states(scratch_dsn, event_id)
        assert version == max(history)
        for w in following:
            await w.at(version)
            assert w.map is not None and w.map.states() == stored
            assert w.map.version == version
            replay_equals_history(w.messages, history, start)
            kinds = {getattr(m, "reason", "changes") for m in w.messages}
            assert kinds == {"subscribe", "changes", "resync"}
    finally:
        await stop(following, tasks)


async def storm(
    http: aiohttp.ClientSession, procs: list[ServerProcess], token: str, event_id: int
) -> dict[int, dict[int, str]]:
    """Eight workers, each sending its requests to both instances in turn: holds and sales
    of 1 to 6 best seats, cancelling some orders and returning a ticket of others, and one
    order of 2,000 seats (too big to notify). Each change's version -> its seats' new
    states."""
    rng = random.Random(10)
    history: dict[int, dict[int, str]] = {}

    def changed(version: int, seats: dict[int, str]) -> None:
        assert version not in history
        history[version] = seats

    async def worker(number: int, n: int) -> None:
        mine: list[dict[str, Any]] = []  # orders with their tickets not given back
        for i in range(n):
            proc = procs[(number + i) % 2]
            big = number == 0 and i == n // 2
            if mine and not big and rng.random() < 0.3:
                gone = mine.pop(rng.randrange(len(mine)))
                path = f"/api/v1/bookings/{gone['id']}"
                cancelled = await call_on(http, proc, token, "DELETE", path)
                changed(cancelled["event_version"], {t["seat_id"]: "free" for t in gone["tickets"]})
            elif mine and not big and rng.random() < 0.2:
                some = rng.choice(mine)
                ticket = some["tickets"].pop()
                if not some["tickets"]:
                    mine.remove(some)
                path = f"/api/v1/orders/{some['id']}/returns"
                body = {"ticket_ids": [ticket["id"]]}
                returned = await call_on(http, proc, token, "POST", path, body)
                changed(returned["event_version"], {ticket["seat_id"]: "free"})
            else:
                hold = rng.random() < 0.5
                quantity = 2000 if big else rng.randint(1, 6)
                body = order_body(event_id, quantity=quantity, hold=hold)
                placed = await call_on(http, proc, token, "POST", ORDERS, body, expect=201)
                mine.append(placed)
                state = "held" if hold else "sold"
                changed(placed["event_version"], {t["seat_id"]: state for t in placed["tickets"]})

    await asyncio.gather(*(worker(number, 30) for number in range(8)))
    return history
