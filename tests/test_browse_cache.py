"""The browse cache (server/browse_cache.py): answers kept in memory and never stale to the
client who changed something, fresh on another instance within the NOTIFY delay, dropped
while the LISTEN connection is away, never shared between what staff and others see.

Two real server instances on one database; the first one's notifications are held back
where a test must show that its own change is seen without them."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg2
import pytest
from aiohttp.test_utils import TestClient, make_mocked_request
from support import Actor, add_type, call, cut_listeners, event_body
from test_live import connect, receive, subscribe

from server.app import create_app
from server.browse_cache import EVENT, BrowseCache, Filled
from server.keys import BROWSE, LISTENER

EVENTS = "/api/v1/events"


@contextlib.contextmanager
def deaf(client: TestClient) -> Iterator[None]:
    """The instance's browse cache hears no notification meanwhile (the LISTEN connection
    still runs): what it shows fresh is its own doing."""
    cache = client.server.app[BROWSE]
    cache.notified = cache.types_notified = lambda payload: None  # type: ignore[method-assign]
    try:
        yield
    finally:
        del cache.notified, cache.types_notified


async def cached(client: TestClient, path: str, token: str | None = None) -> dict[str, Any]:
    """GET ``path`` until an answer comes from the cache, and return it (the notifications
    of the test's setup may still be arriving and dropping what was kept)."""
    cache = client.server.app[BROWSE]
    for _ in range(50):
        hits = cache.hits
        reply = await call(client, "GET", path, token=token)
        assert reply.status == 200, reply.body
        if cache.hits == hits + 1:
            return reply.data
    pytest.fail(f"GET {path} was never answered from the cache")


async def test_your_own_event_changes_are_seen_at_once(client, admin, make_event):
    """Create, edit and delete an event: each shows in the next read of the same instance,
    even with no notification heard."""
    event = await make_event(title="Before")
    path = f"{EVENTS}/{event['id']}"
    await cached(client, EVENTS)
    await cached(client, path)
    with deaf(client):
        patched = await admin.call("PATCH", path, json={"title": "After"})
        assert patched.status == 200
        assert (await call(client, "GET", path)).data["title"] == "After"
        assert [e["title"] for e in (await call(client, "GET", EVENTS)).data] == ["After"]

        other = await make_event(title="Second", date="2099-07-01T19:30:00+00:00")
        assert [e["title"] for e in await cached(client, EVENTS)] == ["After", "Second"]

        put = await admin.call("PUT", path, json=event_body(title="Put", total_seats=80))
        assert put.status == 200, put.body
        listed = (await call(client, "GET", EVENTS)).data
        assert [(e["title"], e["total_seats"]) for e in listed] == [("Put", 80), ("Second", 100)]

        assert (await admin.delete(f"{EVENTS}/{other['id']}")).status == 200
        assert [e["title"] for e in (await call(client, "GET", EVENTS)).data] == ["Put"]
        assert (await call(client, "GET", f"{EVENTS}/{other['id']}")).status == 404


async def test_your_own_bookings_are_seen_at_once(client, clerk, make_event):
    """Book, hold, confirm, cancel and check in: the seats left and the check-ins show in
    the next read (list, available list and detail) of the same instance."""
    event = await make_event(total_seats=10)
    path = f"{EVENTS}/{event['id']}"

    async def available() -> tuple[int, int, int]:
        listed = (await call(client, "GET", EVENTS)).data[0]["available_seats"]
        open_ = (await call(client, "GET", f"{EVENTS}/available")).data
        detail = (await call(client, "GET", path)).data["available_seats"]
        return listed, (open_[0]["available_seats"] if open_ else 0), detail

    await cached(client, EVENTS)
    await cached(client, f"{EVENTS}/available")
    await cached(client, path)
    with deaf(client):
        sold = await clerk.post("/api/v1/bookings", json={"event_id": event["id"], "quantity": 3})
        assert sold.status == 201
        assert await available() == (7, 7, 7)
        held = await clerk.post(
            "/api/v1/bookings", json={"event_id": event["id"], "quantity": 7, "hold": True}
        )
        assert held.status == 201
        assert await available() == (0, 0, 0)  # and gone from the available list
        confirmed = await clerk.post(f"/api/v1/bookings/{held.data['id']}/confirm", json={})
        assert confirmed.status == 200
        assert (await clerk.delete(f"/api/v1/bookings/{held.data['id']}")).status == 200
        assert await available() == (7, 7, 7)
        code = sold.data["ticket_code"]
        assert (await clerk.post("/api/v1/checkins", json={"code": code})).status == 200
        assert (await call(client, "GET", path)).data["checked_in"] == 3


async def test_your_own_seated_orders_are_seen_at_once(
    client, clerk, admin, seated_event, make_event
):
    """Order, hold, confirm and return seats: the seat map and the detail show each."""
    event = await seated_event()
    seats_path = f"{EVENTS}/{event['id']}/seats"
    path = f"{EVENTS}/{event['id']}"
    a1, a2 = event["seats"]["A1"], event["seats"]["A2"]
    free = (await cached(client, seats_path))["counts"]["free"]
    await cached(client, path)
    with deaf(client):
        order = await clerk.post(
            "/api/v1/orders", json={"event_id": event["id"], "lines": [{"seat_ids": [a1]}]}
        )
        assert order.status == 201, order.body
        assert (await call(client, "GET", seats_path)).data["counts"]["sold"] == 1
        held = await clerk.post(
            "/api/v1/orders",
            json={"event_id": event["id"], "lines": [{"seat_ids": [a2]}], "hold": True},
        )
        assert held.status == 201, held.body
        counts = (await call(client, "GET", seats_path)).data["counts"]
        assert counts == {"free": free - 2, "held": 1, "sold": 1}
        confirmed = await clerk.post(f"/api/v1/bookings/{held.data['id']}/confirm", json={})
        assert confirmed.status == 200
        assert (await call(client, "GET", seats_path)).data["counts"]["sold"] == 2
        ticket = order.data["tickets"][0]["id"]
        returned = await clerk.post(
            f"/api/v1/orders/{order.data['id']}/returns", json={"ticket_ids": [ticket]}
        )
        assert returned.status == 200, returned.body
        assert (await call(client, "GET", seats_path)).data["counts"]["sold"] == 1
        assert (await call(client, "GET", path)).data["available_seats"] == free - 1


async def test_your_own_ticket_type_and_plan_changes_are_seen_at_once(client, admin, seated_event):
    event = await seated_event()
    path = f"{EVENTS}/{event['id']}"
    seats_path = f"{path}/seats"
    types = f"{path}/ticket-types"
    await cached(client, path)
    await cached(client, seats_path)
    with deaf(client):
        type_id = await add_type(admin, event["id"], "Students")
        names = [t["name"] for t in (await call(client, "GET", path)).data["ticket_types"]]
        assert names == ["Standard", "Students"]
        await admin.call("PATCH", f"{types}/{type_id}", json={"name": "Pupils"})
        names = [t["name"] for t in (await call(client, "GET", path)).data["ticket_types"]]
        assert names == ["Standard", "Pupils"]
        assert (await admin.delete(f"{types}/{type_id}")).status == 200
        assert len((await call(client, "GET", path)).data["ticket_types"]) == 1

        # The hall without its row C: the event's seats go with it.
        before = (await call(client, "GET", seats_path)).data["counts"]["free"]
        venue = (await admin.get(f"/api/v1/venues/{event['venue_id']}")).data["plan"]
        rows = venue["sections"][0]["rows"]
        venue["sections"][0]["rows"] = [r for r in rows if r["row"] != "C"]
        replaced = await admin.call("PUT", f"/api/v1/venues/{event['venue_id']}", json=venue)
        assert replaced.status == 200, replaced.body
        after = (await call(client, "GET", seats_path)).data["counts"]["free"]
        assert after == before - 8


async def test_another_instance_sees_a_change_within_the_notify_delay(
    aiohttp_client, client, config, admin, clerk, user, make_event
):
    """B keeps answers; a change made through A reaches B's cache by NOTIFY: once B's
    websocket has the change, B's next read shows it (the cache hears first)."""
    event = await make_event(total_seats=20)
    path = f"{EVENTS}/{event['id']}"
    other = await aiohttp_client(create_app(config))
    await cached(other, EVENTS)
    await cached(other, path)
    staff_view = await cached(other, path, token=clerk.token)
    ws = await connect(other, user)
    await subscribe(ws, [event["id"]])

    booked = await clerk.post("/api/v1/bookings", json={"event_id": event["id"], "quantity": 5})
    await receive(ws, lambda m: m["version"] >= booked.data["event_version"])
    assert (await call(other, "GET", EVENTS)).data[0]["available_seats"] == 15
    assert (await call(other, "GET", path)).data["available_seats"] == 15

    # Ticket types do not touch the event's row: told on a channel of their own, before
    # the rename below (notifications arrive in commit order).
    await add_type(admin, event["id"], "Crew", staff_only=True)
    renamed = await admin.call("PATCH", path, json={"title": "Renamed"})
    await receive(ws, lambda m: m["version"] >= renamed.data["version"])
    staff_now = (await call(other, "GET", path, token=clerk.token)).data
    assert [t["name"] for t in staff_now["ticket_types"]] == ["Standard", "Crew"]
    assert len(staff_view["ticket_types"]) == 1
    anyone = (await call(other, "GET", path)).data
    assert anyone["title"] == "Renamed" and len(anyone["ticket_types"]) == 1
    assert [e["title"] for e in (await call(other, "GET", EVENTS)).data] == ["Renamed"]
    await ws.close()


async def test_a_lost_listen_connection_drops_the_cache_until_it_is_back(
    client, user, make_event, database_url
):
    """A change the cache cannot hear (made with the database's triggers off) stays unseen
    while the cache holds the old answer; losing the LISTEN connection drops it, and once
    the listener is back the answers are right and kept again."""
    event = await make_event(title="Old title")
    path = f"{EVENTS}/{event['id']}"
    assert (await cached(client, path))["title"] == "Old title"
    conn = psycopg2.connect(database_url)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("SET session_replication_role = replica")  # no trigger, no NOTIFY
        cur.execute("UPDATE events SET title = 'Silent' WHERE id = %s", (event["id"],))
    conn.close()
    assert (await cached(client, path))["title"] == "Old title"  # unheard: as designed

    ws = await connect(client, user)
    await subscribe(ws, [event["id"]])
    reconnects = client.server.app[LISTENER].reconnects
    assert cut_listeners(database_url) == 1
    await receive(ws, lambda m: m.get("reason") == "resync", within=10)
    assert client.server.app[LISTENER].reconnects == reconnects + 1
    assert (await cached(client, path))["title"] == "Silent"
    await ws.close()


async def test_a_read_that_began_before_a_change_is_not_kept():
    """The race the tick guards: a read that began before a change ends after it with
    the old body; it is answered but not kept, so the next read is fresh."""
    cache = BrowseCache()
    cache.resumed()
    request = make_mocked_request("GET", "/api/v1/events/1")
    reading = asyncio.Event()
    finish = asyncio.Event()

    async def slow_fill() -> Filled:
        reading.set()
        await finish.wait()
        return Filled(b'{"title": "old"}', frozenset({1}))

    read = asyncio.create_task(cache.answer(request, (EVENT, 1, False), EVENT, slow_fill))
    await reading.wait()
    cache.changed(1, moved=False)  # committed while the read was under way
    finish.set()
    assert (await read).body == b'{"title": "old"}'
    assert len(cache) == 0

    async def fill() -> Filled:
        return Filled(b'{"title": "new"}', frozenset({1}))

    assert (await cache.answer(request, (EVENT, 1, False), EVENT, fill)).body == (
        b'{"title": "new"}'
    )
    assert len(cache) == 1
    cache.lost()
    assert len(cache) == 0


async def test_if_none_match_is_answered_304(aiohttp_client, client, config, admin, make_event):
    event = await make_event()
    other = await aiohttp_client(create_app(config))
    for path in (EVENTS, f"{EVENTS}/available", f"{EVENTS}/{event['id']}"):
        async with client.get(path) as first:
            etag = first.headers["ETag"]
        async with client.get(path, headers={"If-None-Match": etag}) as again:
            assert again.status == 304 and await again.read() == b""
            assert again.headers["ETag"] == etag
        async with other.get(path, headers={"If-None-Match": f'"x", {etag}'}) as elsewhere:
            assert elsewhere.status == 304  # the same answer has the same tag everywhere
    patched = await admin.call("PATCH", f"{EVENTS}/{event['id']}", json={"price": "30.00"})
    assert patched.status == 200
    async with client.get(EVENTS, headers={"If-None-Match": etag}) as changed:
        assert changed.status == 200 and changed.headers["ETag"] != etag
        assert (await changed.json())["data"][0]["price"] == "30.00"


async def test_seat_map_etag(client, seated_event, clerk):
    event = await seated_event()
    path = f"{EVENTS}/{event['id']}/seats"
    async with client.get(path) as first:
        etag = first.headers["ETag"]
    async with client.get(path, headers={"If-None-Match": etag}) as again:
        assert again.status == 304
    order = {"event_id": event["id"], "lines": [{"seat_ids": [event["seats"]["B1"]]}]}
    assert (await clerk.post("/api/v1/orders", json=order)).status == 201
    async with client.get(path, headers={"If-None-Match": etag}) as changed:
        assert changed.status == 200
        assert (await changed.json())["data"]["counts"]["sold"] == 1


async def test_staff_only_ticket_types_never_reach_others(client, actors, admin, make_event):
    """Staff read first (their answer is kept), then everyone else: no staff-only type for
    them, from the cache or not; and the other way round."""
    event = await make_event()
    await add_type(admin, event["id"], "Comp", staff_only=True, price="0.00")
    path = f"{EVENTS}/{event['id']}"
    clerk: Actor = await actors.new("clerk")
    user: Actor = await actors.new("user")
    names = lambda d: [t["name"] for t in d["ticket_types"]]  # noqa: E731
    assert names(await cached(client, path, token=clerk.token)) == ["Standard", "Comp"]
    assert names(await cached(client, path)) == ["Standard"]
    assert names(await cached(client, path, token=user.token)) == ["Standard"]
    assert names(await cached(client, path, token=admin.token)) == ["Standard", "Comp"]
    bad = await call(client, "GET", path, token="not-a-token")
    assert bad.status == 401  # a bad token is still refused, however the answer is kept


async def test_an_upcoming_list_drops_an_event_when_it_starts(client, make_event):
    """A list of upcoming events goes stale by time alone: kept no longer than until its
    first event starts."""
    soon = datetime.now(UTC) + timedelta(seconds=1.5)
    await make_event(title="Soon", date=soon.isoformat())
    await make_event(title="Later")
    upcoming = (f"{EVENTS}?upcoming=true", f"{EVENTS}/available", f"{EVENTS}?upcoming=true&skip=1")
    for path in upcoming:
        await call(client, "GET", path)
    listed = await cached(client, f"{EVENTS}?upcoming=true")
    assert [e["title"] for e in listed] == ["Soon", "Later"]
    # Waiting for the time itself: the event starting is what is tested.
    await asyncio.sleep(max(0.0, (soon - datetime.now(UTC)).total_seconds()) + 0.05)
    assert [e["title"] for e in (await call(client, "GET", f"{EVENTS}?upcoming=true")).data] == [
        "Later"
    ]
    assert [e["title"] for e in (await call(client, "GET", f"{EVENTS}/available")).data] == [
        "Later"
    ]
    assert (await call(client, "GET", f"{EVENTS}?upcoming=true&skip=1")).data == []


async def test_the_cache_can_be_turned_off(aiohttp_client, config, clean_db):
    """BOXOFFICE_BROWSE_CACHE=false: every browse reads the database."""
    app = create_app(config.replace(browse_cache=False))
    plain = await aiohttp_client(app)
    await call(plain, "GET", EVENTS)
    await call(plain, "GET", EVENTS)
    assert len(app[BROWSE]) == 0 and app[BROWSE].hits == 0
