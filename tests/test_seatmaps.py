"""GET /api/v1/events/{id}/seats: a seated event's seat states, compact, with the version
they are current at; and common/seatmap.py, which clients keep them in."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest
from support import PASSWORD, Actor, call, event_body, seat_states

from common.client import ApiError, Client
from common.models import LiveSeatChanges, SeatCounts, SeatStates
from common.seatmap import SeatMap, SeatMapGap, pack, runs, unpack
from server.config import Config
from server.venues import shipped_plan

VENUES = "/api/v1/venues"


async def seated(admin: Actor, plan: str = "studio") -> int:
    """A free seated event on a new venue of a shipped plan, made through the API; its id."""
    body = shipped_plan(plan).model_dump(mode="json", exclude_none=True)
    venue = await admin.post(VENUES, json=body)
    assert venue.status == 201, venue.body
    body = event_body(venue_id=venue.data["id"], total_seats=None, price="0.00")
    event = await admin.post("/api/v1/events", json=body)
    assert event.status == 201, event.body
    return event.data["id"]


@pytest.fixture
def config(config: Config) -> Config:
    """Orders of thousands of seats: maps at their least compressible, changes too big to
    notify."""
    return dataclasses.replace(config, max_tickets_per_booking=10_000)


def order_body(
    event_id: int, *, quantity: int | None = None, seats: list[int] | None = None, hold=False
) -> dict[str, Any]:
    """POST /api/v1/orders's body: ``quantity`` best seats (not necessarily together), or
    the ``seats`` picked (a line per thousand)."""
    if seats is not None:
        lines = [{"seat_ids": seats[i : i + 1000]} for i in range(0, len(seats), 1000)]
    else:
        lines = [{"quantity": quantity}]
    body: dict[str, Any] = {"event_id": event_id, "lines": lines, "hold": hold}
    if quantity is not None:
        body["best_available"] = {"together": False}
    return body


async def place(staff: Actor, event_id: int, **how: Any) -> dict[str, Any]:
    """An order through the API (a free event's: a sale, or a hold with ``hold=True``)."""
    reply = await staff.post("/api/v1/orders", json=order_body(event_id, **how))
    assert reply.status == 201, reply.body
    return reply.data


async def test_arena_map_is_compact_and_equals_the_database(client, admin, database_url):
    """Anyone may read a 10,000-seat arena's map; at its least compressible (every other
    seat held) it is still a fraction of 64 KiB, and it says what the database says."""
    event_id = await seated(admin, "arena")
    _, before = seat_states(database_url, event_id)
    assert len(before) == 10_000
    ids = sorted(before)
    await place(admin, event_id, seats=ids[1::2], hold=True)
    await place(admin, event_id, seats=ids[:20:2])  # sold

    async with client.get(f"/api/v1/events/{event_id}/seats") as resp:  # no token
        assert resp.status == 200
        body = await resp.read()
    assert len(body) < 16 * 1024, len(body)
    states = SeatStates.model_validate(json.loads(body)["data"])
    version, stored = seat_states(database_url, event_id)
    assert states.version == version
    seat_map = SeatMap(states)
    assert seat_map.states() == stored
    assert seat_map.counts() == states.counts == SeatCounts(free=4990, held=5000, sold=10)


async def test_a_free_arena_is_a_few_bytes(client, admin, database_url):
    event_id = await seated(admin, "arena")
    reply = await call(client, "GET", f"/api/v1/events/{event_id}/seats")
    assert reply.data["states"] == "f10000"
    assert len(json.dumps(reply.data)) < 300


async def test_general_admission_unknown_and_bad_ids(client, make_event):
    """A general-admission event has no map (409, saying so); an unknown event is a 404 and
    a bad id a 422 naming it."""
    event = await make_event()
    ga = await call(client, "GET", f"/api/v1/events/{event['id']}/seats")
    assert ga.status == 409 and "general admission" in ga.body["message"]
    assert (await call(client, "GET", "/api/v1/events/999999/seats")).status == 404
    bad = await call(client, "GET", "/api/v1/events/x/seats")
    assert bad.status == 422 and bad.fields == ["event_id"]


async def test_typed_client_reads_seat_states(client, admin, user, database_url, make_event):
    event_id = await seated(admin)
    placed = await place(admin, event_id, quantity=3)
    async with Client(str(client.make_url(""))) as api:
        await api.login(user.username, PASSWORD)
        seat_map = SeatMap(await api.event_seats(event_id))
        assert seat_map.version == placed["event_version"]
        sold = {t["seat_id"] for t in placed["tickets"]}
        assert {s for s, state in seat_map.states().items() if state == "sold"} == sold
        with pytest.raises(ApiError) as refused:
            await api.event_seats((await make_event())["id"])
        assert refused.value.status == 409


# --- the compact form and SeatMap, on their own ------------------------------------------


def test_runs_and_packed_states_round_trip():
    ids = [1, 2, 3, 7, 9, 10]
    assert runs(ids) == [(1, 3), (7, 7), (9, 10)]
    assert pack("fffshhf") == "f3sh2f"
    assert unpack("f3sh2f") == "fffshhf"
    with pytest.raises(ValueError):
        unpack("f3x")


def snapshot(version: int, states: str) -> SeatStates:
    return SeatStates(
        event_id=1,
        venue_id=1,
        version=version,
        seat_ids=[(10, 13)],
        states=pack(states),
        counts=SeatCounts(free=0, held=0, sold=0),
    )


def changes(since: int, version: int, **seats: list[tuple[int, int]]) -> LiveSeatChanges:
    counts = SeatCounts(free=0, held=0, sold=0)
    return LiveSeatChanges(event_id=1, since=since, version=version, counts=counts, **seats)


def test_seat_map_applies_changes_by_version():
    """Changes apply to a map at a version from ``since`` (inclusive) to ``version``
    (exclusive); older ones are ignored, and ones past the map's version are a gap."""
    seat_map = SeatMap(snapshot(5, "ffff"))
    assert seat_map.apply(changes(4, 7, sold=[(10, 11)]))  # since 4 <= 5 < 7
    assert seat_map.apply(changes(7, 8, held=[(13, 13)], free=[(10, 10)]))
    assert not seat_map.apply(changes(6, 8, sold=[(12, 12)]))  # nothing new
    assert seat_map.states() == {10: "free", 11: "sold", 12: "free", 13: "held"}
    assert seat_map.version == 8
    with pytest.raises(SeatMapGap):
        seat_map.apply(changes(9, 10, sold=[(12, 12)]))
    assert not seat_map.apply(snapshot(7, "ssss"))  # older than the map
    assert seat_map.apply(snapshot(9, "sssh"))
    assert seat_map.state(13) == "held" and seat_map.counts().sold == 3
