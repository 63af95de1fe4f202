"""Holds: seats reserved while the customer pays, released on time when not confirmed."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from support import Actors

from server.app import create_app
from server.config import Config

BOOKINGS = "/api/v1/bookings"


async def hold(actor: Any, event_id: int, quantity: int = 1, **extra: Any) -> dict[str, Any]:
    body = {"event_id": event_id, "quantity": quantity, "hold": True, **extra}
    reply = await actor.post(BOOKINGS, json=body)
    assert reply.status == 201, reply.body
    return reply.data


async def seats_left(actor: Any, event_id: int) -> int:
    return (await actor.get(f"/api/v1/events/{event_id}")).data["available_seats"]


async def eventually(condition: Any, within: float = 10.0) -> None:
    """Wait for ``condition()`` (sync or async) to hold, checking every 20 ms."""
    async with asyncio.timeout(within):
        while True:
            result = condition()
            if asyncio.iscoroutine(result):
                result = await result
            if result:
                return
            await asyncio.sleep(0.02)


@pytest.fixture
def lapse(db_execute: Any) -> Any:
    """``lapse(*ids)``: make holds' time run out now, as if ten minutes had passed."""

    def run(*booking_ids: int) -> None:
        db_execute(
            "UPDATE bookings SET expires_at = now() - interval '1 second' WHERE id = ANY(%s)",
            list(booking_ids),
        )

    return run


async def test_hold_takes_seats_until_it_expires(user, make_event, config):
    event = await make_event(total_seats=10, price="20.00")
    held = await hold(user, event["id"], 3)
    assert held["status"] == "pending"
    assert held["ticket_code"] is None and held["expires_at"] is not None
    assert held["available_seats"] == 7 and held["amount"] == "60.00"
    assert await seats_left(user, event["id"]) == 7


async def test_confirming_a_hold_issues_a_ticket(clerk, make_event):
    event = await make_event(total_seats=10)
    held = await hold(clerk, event["id"], 2, customer_name="Ann")
    reply = await clerk.post(f"{BOOKINGS}/{held['id']}/confirm", json={"payment_method": "card"})
    assert reply.status == 200, reply.body
    assert reply.data["status"] == "confirmed" and reply.data["payment_method"] == "card"
    assert len(reply.data["ticket_code"]) == 32 and reply.data["expires_at"] is None
    assert await seats_left(clerk, event["id"]) == 8  # the held seats, now sold
    again = await clerk.post(f"{BOOKINGS}/{held['id']}/confirm", json={})
    assert again.status == 409 and "already confirmed" in again.body["message"]


async def test_confirming_a_lapsed_hold_is_409_never_a_rebook(user, make_event, lapse, db_rows):
    event = await make_event(total_seats=5)
    held = await hold(user, event["id"], 2)
    lapse(held["id"])
    reply = await user.post(f"{BOOKINGS}/{held['id']}/confirm", json={})
    assert reply.status == 409 and "hold expired" in reply.body["message"]
    [(status,)] = db_rows("SELECT status FROM bookings WHERE id = %s", held["id"])
    assert status in ("pending", "expired")  # not confirmed, whatever the sweep did


async def test_lapsed_hold_releases_its_seats_on_time(user, make_event, lapse, db_rows):
    event = await make_event(total_seats=5)
    held = await hold(user, event["id"], 4)
    kept = await hold(user, event["id"], 1)
    lapse(held["id"])
    await eventually(lambda: _is(user, event, 4))
    rows = db_rows("SELECT id, status FROM bookings ORDER BY id")
    assert rows == [(held["id"], "expired"), (kept["id"], "pending")]
    [(count,)] = db_rows(
        "SELECT count(*) FROM audit_log WHERE action = 'booking.expire' AND booking_id = %s",
        held["id"],
    )
    assert count == 1


async def _is(actor: Any, event: dict[str, Any], seats: int) -> bool:
    return await seats_left(actor, event["id"]) == seats


async def test_a_hold_can_be_cancelled_and_its_seats_return(user, make_event):
    event = await make_event(total_seats=5)
    held = await hold(user, event["id"], 2)
    reply = await user.delete(f"{BOOKINGS}/{held['id']}")
    assert reply.status == 200 and reply.data["status"] == "cancelled"
    assert await seats_left(user, event["id"]) == 5


async def test_others_cannot_confirm_my_hold(actors, make_event):
    owner, stranger = await actors.new("user"), await actors.new("user")
    event = await make_event()
    held = await hold(owner, event["id"])
    reply = await stranger.post(f"{BOOKINGS}/{held['id']}/confirm", json={})
    assert reply.status == 404


async def test_bad_hold_and_payment_values_are_422(user, make_event):
    event = await make_event()
    for body, field in (
        ({"event_id": event["id"], "hold": "maybe"}, "hold"),
        ({"event_id": event["id"], "payment_method": "cheque"}, "payment_method"),
    ):
        reply = await user.post(BOOKINGS, json=body)
        assert reply.status == 422
        assert [e["field"] for e in reply.data["errors"]] == [field]


async def test_two_instances_release_each_lapsed_hold_exactly_once(
    config: Config, clean_db: None, make_event, db_rows, lapse
):
    """Both instances sweep at once; SKIP LOCKED gives each hold to one of them."""
    fast = config.replace(hold_sweep_seconds=0.01)
    servers = [TestServer(create_app(fast)) for _ in range(2)]
    clients = [TestClient(server) for server in servers]
    for c in clients:
        await c.start_server()
    try:
        # Clerks: a user may hold only max_held_seats seats at a time.
        buyers = [await Actors(c).new("clerk", username=f"buyer{i}") for i, c in enumerate(clients)]
        event = await make_event(total_seats=200)
        holds = await asyncio.gather(*(hold(buyers[i % 2], event["id"], 2) for i in range(60)))
        assert await seats_left(buyers[0], event["id"]) == 80
        lapse(*(h["id"] for h in holds))
        await eventually(lambda: _is(buyers[1], event, 200))
        [(expired, records)] = db_rows(
            "SELECT (SELECT count(*) FROM bookings WHERE status = 'expired'), "
            "(SELECT count(*) FROM audit_log WHERE action = 'booking.expire')"
        )
        assert (expired, records) == (len(holds), len(holds))
    finally:
        for c in clients:
            await c.close()
