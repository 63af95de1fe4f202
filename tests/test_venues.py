"""Venues and seating plans: the compact form in and out, every plan problem a 422 naming
its place, plan edits keeping seat ids by label, who may change venues, the audit log,
idempotent retries and the 10,000-seat arena."""

from __future__ import annotations

import asyncio
import copy
import json
import time
from typing import Any

import psycopg2
import psycopg2.errors
import pytest
from support import PASSWORD, call, place_order, seated_venue, small_plan

from common.client import ApiError, Client
from common.models import VenuePlan
from server import demo
from server.venues import shipped_plan

V1 = "/api/v1"
VENUES = f"{V1}/venues"


def seat_set(seats: dict[str, Any]) -> set[tuple]:
    """Every seat as (section, row, number, x, y, zone, wheelchair, companion, restricted)."""
    flags = {name: set(seats[name]) for name in ("wheelchair", "companion", "restricted_view")}
    return {
        (
            seats["section"][i],
            seats["row"][i],
            seats["number"][i],
            seats["x"][i],
            seats["y"][i],
            seats["zone"][i],
            *(seat_id in flags[name] for name in flags),
        )
        for i, seat_id in enumerate(seats["id"])
    }


def ids_by_label(seats: dict[str, Any]) -> dict[tuple[str, str, str], int]:
    return {
        (seats["section"][i], seats["row"][i], seats["number"][i]): seat_id
        for i, seat_id in enumerate(seats["id"])
    }


async def create(admin: Any, plan: dict[str, Any]) -> dict[str, Any]:
    reply = await admin.post(VENUES, json=plan)
    assert reply.status == 201, reply.body
    return reply.data


async def seats_of(client: Any, venue_id: int) -> dict[str, Any]:
    reply = await call(client, "GET", f"{VENUES}/{venue_id}/seats")
    assert reply.status == 200, reply.body
    return reply.data


# --- create, read, export ----------------------------------------------------------------


async def test_create_expands_the_compact_form(client, admin):
    """Ranges, gaps, descending and odd/even numbering, zones and flags become the seats a
    box office expects, each at its grid position."""
    venue = await create(admin, small_plan())
    assert venue["seat_count"] == 8 + 10 + 8
    assert venue["version"] == 1
    seats = seat_set(await seats_of(client, venue["id"]))
    stalls_a = {s for s in seats if s[:2] == ("Stalls", "A")}
    # "1-4, _, _, 5-8" from x=1: the aisle is x=5 and 6.
    assert sorted((s[2], s[3]) for s in stalls_a) == sorted(
        [("1", 1), ("2", 2), ("3", 3), ("4", 4), ("5", 7), ("6", 8), ("7", 9), ("8", 10)]
    )
    assert {s[2] for s in stalls_a if s[6]} == {"1", "8"}  # wheelchair spaces
    row_b = sorted((s[3], s[2]) for s in seats if s[:2] == ("Stalls", "B"))
    assert [n for _, n in row_b] == [str(n) for n in range(10, 0, -1)]
    assert {s[5] for s in seats if s[:2] == ("Stalls", "B")} == {"B"}
    assert {s[2] for s in seats if s[:2] == ("Stalls", "B") and s[7]} == {"2", "3"}
    circle = sorted((s[3], s[2], s[4], s[5], s[8]) for s in seats if s[0] == "Circle")
    assert [c[1] for c in circle] == ["7", "5", "3", "1", "2", "4", "6", "8"]
    assert [c[0] for c in circle] == [0, 1, 2, 3, 5, 6, 7, 8]  # one gap in the middle
    assert {c[2] for c in circle} == {5}  # the section's origin moves its rows
    assert {c[1]: c[3] for c in circle if c[3] != "C"} == {"7": "B", "8": "B"}
    assert all(c[4] for c in circle)  # restricted view, the whole row


async def test_list_and_read_are_open_to_everyone(client, admin):
    """Like events, venues and their plans are readable without logging in."""
    venue = await create(admin, small_plan())
    listed = await call(client, "GET", VENUES)
    assert [v["id"] for v in listed.data] == [venue["id"]]
    assert listed.data[0]["seat_count"] == 26
    one = await call(client, "GET", f"{VENUES}/{venue['id']}")
    assert one.status == 200
    assert one.data["name"] == "The Playhouse"
    assert [z["code"] for z in one.data["plan"]["zones"]] == ["A", "B", "C"]


async def test_export_round_trips_seat_for_seat(client, admin):
    """The plan a venue exports, imported again, gives exactly the same seats."""
    venue = await create(admin, small_plan())
    exported = (await call(client, "GET", f"{VENUES}/{venue['id']}")).data["plan"]
    again = await create(admin, exported)
    assert seat_set(await seats_of(client, again["id"])) == seat_set(
        await seats_of(client, venue["id"])
    )


@pytest.mark.parametrize("name", ["theatre", "studio"])
async def test_shipped_plans_round_trip(client, admin, name):
    """The demo's plans import and export back to the same seats."""
    plan = shipped_plan(name).model_dump(mode="json")
    venue = await create(admin, plan)
    exported = (await call(client, "GET", f"{VENUES}/{venue['id']}")).data["plan"]
    again = await create(admin, exported)
    first, second = await seats_of(client, venue["id"]), await seats_of(client, again["id"])
    assert seat_set(first) == seat_set(second)
    assert len(first["id"]) == venue["seat_count"]


async def test_unknown_venue_is_a_404(client, admin):
    assert (await call(client, "GET", f"{VENUES}/999")).status == 404
    assert (await call(client, "GET", f"{VENUES}/999/seats")).status == 404
    assert (await admin.call("PUT", f"{VENUES}/999", json=small_plan())).status == 404
    assert (await admin.delete(f"{VENUES}/999")).status == 404


# --- every problem a 422 naming its place ------------------------------------------------


def with_row(**row: Any) -> dict[str, Any]:
    plan = small_plan()
    plan["sections"][0]["rows"].append({"row": "Z", "y": 9, **row})
    return plan


INVALID = {
    "overlap": (
        with_row(seats="1-3", x=3, y=0),
        "sections.0.rows.2.seats",
        ["Stalls Z 1 overlaps Stalls A 3"],
    ),
    "duplicate label": (with_row(row="A", seats="9, 3"), "sections.0.rows.2.seats", ["Stalls A 3"]),
    "unknown zone": (with_row(seats="1-3", zone="Q"), "sections.0.rows.2.zone", ["'Q'"]),
    "bad range": (with_row(seats="1-3, 4--5"), "sections.0.rows.2.seats", ["'4--5'"]),
    "uneven step": (with_row(seats="1-4/2"), "sections.0.rows.2.seats", ["1-4/2"]),
    "flag of no seat": (
        with_row(seats="1-3", wheelchair="4"),
        "sections.0.rows.2.wheelchair",
        ["4"],
    ),
    "empty row": (with_row(seats="_, _"), "sections.0.rows.2.seats", ["no seats"]),
    "empty plan": (small_plan(sections=[]), "sections", ["no seats"]),
    "too large": (
        small_plan(
            sections=[
                {
                    "name": "Bowl",
                    "zone": "A",
                    "rows": [{"row": str(r), "y": r, "seats": "1-10000"} for r in range(11)],
                }
            ]
        ),
        "sections.0.rows.10",
        ["more than 100000 seats"],
    ),
    "row too long": (
        with_row(seats="1-100000, _, 100001-100002"),
        "sections.0.rows.2.seats",
        ["more than 100000 seats"],
    ),
    "past the grid": (
        with_row(seats="1-3", x=100_000),
        "sections.0.rows.2.seats",
        ["Stalls Z 2 is at x=100001"],
    ),
    "zone defined twice": (
        small_plan(zones=[{"code": "A", "name": "x"}, {"code": "A", "name": "y"}]),
        "zones",
        ["'A'"],
    ),
}


@pytest.mark.parametrize("case", sorted(INVALID))
async def test_plan_problems_are_422s_naming_the_place(client, admin, case):
    """Each problem is a 422 whose error names the field and the seats; nothing is made."""
    plan, field, words = INVALID[case]
    reply = await admin.post(VENUES, json=plan)
    assert reply.status == 422, reply.body
    assert field in reply.fields, reply.body
    message = next(e["message"] for e in reply.data["errors"] if e["field"] == field)
    for word in words:
        assert word in message, message
    assert (await call(client, "GET", VENUES)).data == []


async def test_a_row_without_any_zone_is_named(admin):
    plan = small_plan()
    del plan["sections"][0]["zone"]
    reply = await admin.post(VENUES, json=plan)
    assert reply.status == 422
    assert "sections.0.rows.0.zone" in reply.fields


async def test_a_bad_row_label_is_a_pydantic_422(admin):
    reply = await admin.post(VENUES, json=with_row(row="A, B", seats="1"))
    assert reply.status == 422
    assert reply.fields == ["sections.0.rows.2.row"]


# --- replacing a plan --------------------------------------------------------------------


async def test_replace_keeps_ids_by_label_and_retires_removed_seats(client, admin, db_rows):
    """Seats whose label stays keep their id (moved or rezoned); removed seats are retired,
    not deleted; new seats get new ids, never one used before."""
    venue = await create(admin, small_plan())
    before = ids_by_label(await seats_of(client, venue["id"]))
    plan = small_plan(name="The New Playhouse")
    # Row A loses seats 7 and 8 and moves one line back; a new row C.
    plan["sections"][0]["rows"][0] = {"row": "A", "y": 2, "seats": "1-4, _, 5-6"}
    plan["sections"][0]["rows"].append({"row": "C", "y": 3, "seats": "1-2", "zone": "B"})
    reply = await admin.call("PUT", f"{VENUES}/{venue['id']}", json=plan)
    assert reply.status == 200, reply.body
    assert reply.data["version"] == 2
    assert reply.data["name"] == "The New Playhouse"
    after_seats = await seats_of(client, venue["id"])
    after = ids_by_label(after_seats)
    removed = {("Stalls", "A", "7"), ("Stalls", "A", "8")}
    assert set(before) - set(after) == removed
    assert {label: after[label] for label in set(before) - removed} == {
        label: before[label] for label in set(before) - removed
    }
    new_ids = {after[("Stalls", "C", "1")], after[("Stalls", "C", "2")]}
    assert min(new_ids) > max(before.values())
    a1 = after_seats["id"].index(after[("Stalls", "A", "1")])
    assert (after_seats["x"][a1], after_seats["y"][a1]) == (0, 2)
    retired = db_rows(
        "SELECT id FROM seats WHERE venue_id = %s AND retired_at IS NOT NULL", venue["id"]
    )
    assert {r[0] for r in retired} == {before[label] for label in removed}
    # Seat 7 comes back: the same seat, its old id.
    plan["sections"][0]["rows"][0]["seats"] = "1-4, _, 5-7"
    reply = await admin.call("PUT", f"{VENUES}/{venue['id']}", json=plan)
    assert reply.status == 200, reply.body
    assert (
        ids_by_label(await seats_of(client, venue["id"]))[("Stalls", "A", "7")]
        == before[("Stalls", "A", "7")]
    )


async def test_replace_can_swap_seats_positions(client, admin):
    """Two seats may trade places in one edit (no clash half way through)."""
    venue = await create(admin, small_plan())
    before = ids_by_label(await seats_of(client, venue["id"]))
    plan = small_plan()
    plan["sections"][0]["rows"][0]["seats"] = "2, 1, 3-4, _, _, 5-8"
    reply = await admin.call("PUT", f"{VENUES}/{venue['id']}", json=plan)
    assert reply.status == 200, reply.body
    seats = await seats_of(client, venue["id"])
    assert ids_by_label(seats) == before
    assert seats["x"][seats["id"].index(before[("Stalls", "A", "2")])] == 1


async def test_dropped_zone_is_retired_and_a_bad_replace_changes_nothing(client, admin):
    """A replace that fails validation leaves the plan as it was; one that drops a zone
    exports without it."""
    venue = await create(admin, small_plan())
    before = await seats_of(client, venue["id"])
    bad = with_row(seats="1-3", x=3, y=0)
    assert (await admin.call("PUT", f"{VENUES}/{venue['id']}", json=bad)).status == 422
    assert await seats_of(client, venue["id"]) == before
    plan = small_plan()
    plan["zones"] = plan["zones"][:2]
    plan["sections"] = plan["sections"][:1]
    assert (await admin.call("PUT", f"{VENUES}/{venue['id']}", json=plan)).status == 200
    exported = (await call(client, "GET", f"{VENUES}/{venue['id']}")).data["plan"]
    assert [z["code"] for z in exported["zones"]] == ["A", "B"]


async def test_delete_removes_the_venue(client, admin):
    venue = await create(admin, small_plan())
    assert (await admin.delete(f"{VENUES}/{venue['id']}")).status == 200
    assert (await call(client, "GET", f"{VENUES}/{venue['id']}")).status == 404
    assert (await call(client, "GET", VENUES)).data == []


# --- roles, audit, idempotency -------------------------------------------------------------


@pytest.mark.parametrize("role", ["user", "clerk"])
async def test_users_and_clerks_cannot_change_venues(client, actors, admin, role):
    """403 for creating, replacing and deleting, and the venue stays as it was."""
    actor = await actors.new(role)
    venue = await create(admin, small_plan())
    url = f"{VENUES}/{venue['id']}"
    assert (await actor.post(VENUES, json=small_plan())).status == 403
    assert (await actor.call("PUT", url, json=small_plan(name="Mine"))).status == 403
    assert (await actor.delete(url)).status == 403
    assert [v["name"] for v in (await call(client, "GET", VENUES)).data] == ["The Playhouse"]


async def test_every_change_is_audited(admin):
    """venue.create, venue.update and venue.delete records, signed by the admin, with the
    counts of the plan edit."""
    venue = await create(admin, small_plan())
    plan = small_plan()
    plan["sections"] = plan["sections"][:1]
    plan["sections"][0]["rows"].append({"row": "C", "y": 3, "seats": "1-2"})
    assert (await admin.call("PUT", f"{VENUES}/{venue['id']}", json=plan)).status == 200
    assert (await admin.delete(f"{VENUES}/{venue['id']}")).status == 200
    records = (await admin.get(f"{V1}/audit", params={"limit": 10})).data
    venue_records = [r for r in records if r["action"].startswith("venue.")]
    assert sorted(r["action"] for r in venue_records) == [
        "venue.create",
        "venue.delete",
        "venue.update",
    ]
    assert all(r["actor"] == admin.username for r in venue_records)
    by_action = {r["action"]: r["details"] for r in venue_records}
    assert by_action["venue.create"]["seats"] == 26
    assert (
        by_action["venue.update"].items()
        >= {
            "venue_id": venue["id"],
            "seats": 20,
            "kept": 18,
            "added": 2,
            "retired": 8,
        }.items()
    )


async def test_idempotent_retry_creates_one_venue(client, admin):
    """A create retried with the same Idempotency-Key gets the first answer back."""
    headers = {"Idempotency-Key": "venue-create-1"}
    first = await admin.post(VENUES, json=small_plan(), headers=headers)
    again = await admin.post(VENUES, json=small_plan(), headers=headers)
    assert first.status == again.status == 201
    assert again.data == first.data
    assert len((await call(client, "GET", VENUES)).data) == 1


# --- the arena --------------------------------------------------------------------------


async def test_arena_of_10000_seats_is_a_short_document_and_imports(client, admin, capsys):
    """The shipped 10,000-seat arena is a few kilobytes and imports within seconds; its
    expanded seats (one array per column) stay a reasonable read."""
    plan = shipped_plan("arena").model_dump(mode="json", exclude_none=True)
    document = json.dumps(plan, separators=(",", ":"))
    assert len(document) < 16 * 1024
    started = time.perf_counter()
    venue = await create(admin, plan)
    took = time.perf_counter() - started
    assert venue["seat_count"] == 10_000
    started = time.perf_counter()
    reply = await client.get(f"{VENUES}/{venue['id']}/seats")
    body = await reply.read()
    read = time.perf_counter() - started
    # Replacing the plan as it is keeps all 10,000 ids.
    before = ids_by_label(json.loads(body)["data"])
    started = time.perf_counter()
    again = await admin.call("PUT", f"{VENUES}/{venue['id']}", json=copy.deepcopy(plan))
    replaced = time.perf_counter() - started
    assert again.status == 200
    assert ids_by_label(await seats_of(client, venue["id"])) == before
    with capsys.disabled():
        print(
            f"\narena: plan {len(document)} bytes, import {took:.2f}s, replace {replaced:.2f}s,"
            f" seats read {len(body)} bytes in {read:.2f}s"
        )
    assert took < 30  # generous: a shared 2-core machine; the figure is printed above


# --- the typed client and the demo ---------------------------------------------------------


async def test_typed_client_covers_every_venue_call(client, admin):
    """create, list, read, seats, replace (with an Idempotency-Key) and delete, typed."""
    async with Client(str(client.make_url(""))) as api:
        await api.login(admin.username, PASSWORD)
        plan = VenuePlan.model_validate(small_plan())
        made = await api.create_venue(plan)
        assert made.seat_count == 26
        assert [v.id for v in await api.venues()] == [made.id]
        detail = await api.venue(made.id)
        seats = await api.venue_seats(made.id)
        assert len(seats.id) == 26 and seats.version == 1
        renamed = detail.plan.model_copy(update={"name": "Renamed"})
        first = await api.replace_venue(made.id, renamed, idempotency_key="rename-1")
        again = await api.replace_venue(made.id, renamed, idempotency_key="rename-1")
        assert first == again and first.version == 2
        assert (await api.venue_seats(made.id)).id == seats.id
        await api.delete_venue(made.id)
        with pytest.raises(ApiError) as refused:
            await api.venue(made.id)
        assert refused.value.status == 404


async def test_demo_seed_creates_the_theatre_and_the_studio(client):
    """The demo has a ~400-seat theatre (3 zones, wheelchair spaces) and a small studio;
    seeding again adds nothing."""
    await demo.seed(client.server.app)
    await demo.seed(client.server.app)
    venues = {v["name"]: v for v in (await call(client, "GET", VENUES)).data}
    assert set(venues) == {"Royal Court Theatre", "Studio Theatre"}
    theatre = venues["Royal Court Theatre"]
    assert 350 <= theatre["seat_count"] <= 450
    assert venues["Studio Theatre"]["seat_count"] == 60
    seats = await seats_of(client, theatre["id"])
    assert len(set(seats["zone"])) == 3 and set(seats["section"]) == {"Stalls", "Circle"}
    assert seats["wheelchair"]


# --- what the database enforces -------------------------------------------------------------


async def test_database_refuses_a_second_current_seat_at_a_label_or_position(
    admin, db_execute, db_rows
):
    """Unique (venue, section, row, number) and (venue, x, y) among current seats, and a
    seat's zone one of its venue's; a retired seat frees its position and label."""
    venue = await create(admin, small_plan())
    insert = (
        "INSERT INTO seats (venue_id, section, row_label, number, x, y, zone)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s)"
    )
    with pytest.raises(psycopg2.errors.UniqueViolation):
        db_execute(insert, venue["id"], "Stalls", "A", "1", 50, 50, "A")  # label taken
    with pytest.raises(psycopg2.errors.UniqueViolation):
        db_execute(insert, venue["id"], "Stalls", "Z", "1", 1, 0, "A")  # Stalls A 1's place
    with pytest.raises(psycopg2.errors.ForeignKeyViolation):
        db_execute(insert, venue["id"], "Stalls", "Z", "1", 50, 50, "Q")
    db_execute(
        "UPDATE seats SET retired_at = now() WHERE venue_id = %s AND number = '1'"
        " AND row_label = 'A' AND section = 'Stalls'",
        venue["id"],
    )
    db_execute(insert, venue["id"], "Stalls", "A", "1", 1, 0, "A")
    assert db_rows(
        "SELECT count(*) FROM seats WHERE section = 'Stalls' AND row_label = 'A' AND number = '1'"
    ) == [(2,)]


async def test_concurrent_plan_edits_each_apply_whole(client, admin):
    """Two replaces of one plan at once: both succeed one after the other (version 3), no
    seat is duplicated, and the plan is one of the two."""
    venue = await create(admin, small_plan())
    url = f"{VENUES}/{venue['id']}"
    first = small_plan(name="First")
    second = small_plan(name="Second")
    second["sections"][0]["rows"][0]["seats"] = "1-4, _, 5-9"
    replies = await asyncio.gather(
        admin.call("PUT", url, json=first), admin.call("PUT", url, json=second)
    )
    assert sorted(r.status for r in replies) == [200, 200]
    assert sorted(r.data["version"] for r in replies) == [2, 3]
    seats = await seats_of(client, venue["id"])
    assert len(set(ids_by_label(seats))) == len(seats["id"])
    last = max(replies, key=lambda r: r.data["version"]).data["name"]
    assert len(seats["id"]) == {"First": 26, "Second": 27}[last]


# --- plan edits and seated events ------------------------------------------------------------


async def _seated_event(admin, venue, **overrides):
    body = {
        "title": "On the plan",
        "date": "2099-06-01T19:30:00+00:00",
        "price": "20.00",
        "venue_id": venue["id"],
        **overrides,
    }
    reply = await admin.post(f"{V1}/events", json=body)
    assert reply.status == 201, reply.body
    return reply.data


def _seat_id(db_rows, venue_id, section, row, number):
    [(seat_id,)] = db_rows(
        "SELECT id FROM seats WHERE venue_id = %s AND section = %s AND row_label = %s "
        "AND number = %s AND retired_at IS NULL",
        venue_id, section, row, number,
    )  # fmt: skip
    return seat_id


def _without_circle() -> dict[str, Any]:
    plan = small_plan()
    plan["sections"] = plan["sections"][:1]
    return plan


async def test_removing_a_sold_seat_is_a_409_naming_it(admin, db_rows, database_url):
    """A plan edit that removes a seat sold (or held) for an upcoming event is refused,
    naming the seats and the events, and changes nothing."""
    venue = await seated_venue(admin)
    event = await _seated_event(admin, venue)
    seat = _seat_id(db_rows, venue["id"], "Circle", "A", "3")
    held = _seat_id(db_rows, venue["id"], "Circle", "A", "5")
    for seat_ids, hold in (([seat], False), ([held], True)):
        order = await place_order(
            admin, event_id=event["id"], lines=[{"seat_ids": seat_ids}], hold=hold
        )
        assert order.status == 201, order.body
    reply = await admin.call("PUT", f"{VENUES}/{venue['id']}", json=_without_circle())
    assert reply.status == 409, reply.body
    assert sorted(reply.data["seats"], key=lambda s: s["id"]) == sorted(
        [{"id": seat, "label": "Circle A 3"}, {"id": held, "label": "Circle A 5"}],
        key=lambda s: s["id"],
    )
    assert [e["id"] for e in reply.data["events"]] == [event["id"]]
    assert "Circle A 3" in reply.body["message"]
    assert (await admin.get(f"{VENUES}/{venue['id']}")).data["seat_count"] == 26
    after = (await admin.get(f"{V1}/events/{event['id']}")).data
    assert (after["total_seats"], after["available_seats"]) == (26, 24)


async def test_removed_free_seats_leave_upcoming_events(admin, db_rows, database_url):
    """Removing seats no ticket holds drops them from upcoming events' inventories (their
    totals go down, their versions up); a past event keeps its seats; added seats join
    no existing event."""
    venue = await seated_venue(admin)
    upcoming = await _seated_event(admin, venue)
    past = await _seated_event(admin, venue, title="Gone", date="2099-01-01T00:00:00+00:00")
    sold = _seat_id(db_rows, venue["id"], "Stalls", "A", "1")
    await place_order(admin, event_id=upcoming["id"], lines=[{"seat_ids": [sold]}])
    with psycopg2.connect(database_url) as conn, conn.cursor() as cur:
        cur.execute(
            "UPDATE events SET date = now() - interval '2 days' WHERE id = %s", (past["id"],)
        )
    conn.close()
    plan = _without_circle()
    plan["sections"][0]["rows"].append({"row": "C", "y": 2, "seats": "1-4"})  # 4 new seats
    reply = await admin.call("PUT", f"{VENUES}/{venue['id']}", json=plan)
    assert reply.status == 200, reply.body
    assert reply.data["seat_count"] == 18 + 4
    now = (await admin.get(f"{V1}/events/{upcoming['id']}")).data
    assert (now["total_seats"], now["available_seats"]) == (18, 17)
    assert now["version"] > upcoming["version"]
    [(stocked,)] = db_rows("SELECT count(*) FROM event_seats WHERE event_id = %s", upcoming["id"])
    assert stocked == 18
    [(kept,)] = db_rows("SELECT count(*) FROM event_seats WHERE event_id = %s", past["id"])
    assert kept == 26
    # A new event on the plan has its current seats, the new row included.
    fresh = await _seated_event(admin, venue, title="Fresh")
    assert fresh["total_seats"] == 22
    # Removing the sold seat is refused; the refusal names the upcoming event only.
    plan["sections"][0]["rows"][0].update(seats="2-4, _, _, 5-8", wheelchair="8")
    reply = await admin.call("PUT", f"{VENUES}/{venue['id']}", json=plan)
    assert reply.status == 409, reply.body
    assert reply.data["seats"] == [{"id": sold, "label": "Stalls A 1"}]
    assert [e["id"] for e in reply.data["events"]] == [upcoming["id"]]


async def test_a_venue_in_use_cannot_be_deleted(admin):
    """A venue with a seated event on it is a 409; once the event is gone, it goes."""
    venue = await seated_venue(admin)
    event = await _seated_event(admin, venue)
    reply = await admin.delete(f"{VENUES}/{venue['id']}")
    assert reply.status == 409 and reply.data["event_ids"] == [event["id"]], reply.body
    assert (await admin.delete(f"{V1}/events/{event['id']}")).status == 200
    assert (await admin.delete(f"{VENUES}/{venue['id']}")).status == 200


async def test_demo_seats_events_on_its_venues(client, admin):
    """The demo seats shows on the theatre (2) and the studio (1) beside its general-
    admission ones, with Adult, Concession, Child and a staff-only Complimentary, some
    seats already sold."""
    await demo.seed(client.server.app)
    events = (await call(client, "GET", f"{V1}/events")).data
    seated = [e for e in events if e["venue_id"] is not None]
    assert len(seated) == 3 and len(events) - len(seated) == len(demo.SHOWS)
    venues = {v["id"]: v["name"] for v in (await call(client, "GET", VENUES)).data}
    assert sorted(venues[e["venue_id"]] for e in seated) == [
        "Royal Court Theatre", "Royal Court Theatre", "Studio Theatre",
    ]  # fmt: skip
    for event in seated:
        assert 0 < event["available_seats"] < event["total_seats"]
        public = (await call(client, "GET", f"{V1}/events/{event['id']}")).data
        assert [t["name"] for t in public["ticket_types"]] == ["Adult", "Concession", "Child"]
        adult = public["ticket_types"][0]
        assert adult["is_default"] and adult["zone_prices"]
        staff = (await admin.get(f"{V1}/events/{event['id']}/ticket-types")).data
        comp = staff[-1]
        assert (comp["name"], comp["staff_only"], comp["price"]) == ("Complimentary", True, "0.00")
