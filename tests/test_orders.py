"""Orders: several ticket types and seats in one order, all or nothing; best available;
giving part of an order back. A booking is an order with one line (test_bookings.py)."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from support import Actors, add_type

from server.app import create_app
from server.config import Config

V1 = "/api/v1"
ORDERS = f"{V1}/orders"


def seats_of(order: dict[str, Any]) -> list[str]:
    return [f"{t['row']}{t['number']}" for t in order["tickets"]]


def seat_states(db_rows: Any, event_id: int) -> dict[int, str]:
    return dict(db_rows("SELECT seat_id, state FROM event_seats WHERE event_id = %s", event_id))


# --- general admission -----------------------------------------------------------------


async def test_an_order_of_two_types_prices_each_line_and_issues_a_ticket_each(
    admin, clerk, make_event
):
    event = await make_event(total_seats=10, price="20.00")
    child = await add_type(admin, event["id"], "Child", price=Decimal("8.50"))
    reply = await clerk.post(
        ORDERS,
        json={
            "event_id": event["id"],
            "lines": [{"quantity": 2}, {"ticket_type_id": child, "quantity": 1}],
            "customer_name": "Ms Lee",
            "payment_method": "card",
        },
    )
    assert reply.status == 201, reply.body
    order = reply.data
    assert order["status"] == "confirmed" and order["quantity"] == 3
    assert Decimal(order["amount"]) == Decimal("48.50")
    assert order["available_seats"] == 7
    lines = {(line["ticket_type"], line["quantity"], line["amount"]) for line in order["lines"]}
    assert lines == {("Standard", 2, "40.00"), ("Child", 1, "8.50")}
    codes = [t["code"] for t in order["tickets"]]
    assert len(set(codes)) == 3 and all(codes)
    # Read back: the same lines and tickets.
    again = await clerk.get(f"{ORDERS}/{order['id']}")
    assert again.status == 200 and again.data["tickets"] == order["tickets"]


async def test_each_ticket_is_admitted_on_its_own(clerk, make_event):
    event = await make_event(total_seats=10)
    order = await clerk.post(ORDERS, json={"event_id": event["id"], "lines": [{"quantity": 3}]})
    first, second, _ = order.data["tickets"]
    admitted = await clerk.post(f"{V1}/checkins", json={"code": first["code"], "gate": "N"})
    assert admitted.status == 200 and admitted.data["admitted"] == 1
    assert admitted.data["event_checked_in"] == 1
    again = await clerk.post(f"{V1}/checkins", json={"code": first["code"]})
    assert again.status == 409 and "Already admitted" in again.body["message"]
    # The order's own code admits the two not yet in.
    rest = await clerk.post(f"{V1}/checkins", json={"code": order.data["ticket_code"]})
    assert rest.status == 200 and rest.data["admitted"] == 2
    assert rest.data["event_checked_in"] == 3
    assert {t["status"] for t in rest.data["tickets"]} == {"admitted"}
    assert second["code"] != first["code"]


async def test_a_quota_sells_out_its_type_only(admin, clerk, make_event):
    event = await make_event(total_seats=10)
    early = await add_type(admin, event["id"], "Early bird", price=Decimal("5"), quota=2)
    line = {"ticket_type_id": early, "quantity": 2}
    assert (await clerk.post(ORDERS, json={"event_id": event["id"], "lines": [line]})).status == 201
    refused = await clerk.post(ORDERS, json={"event_id": event["id"], "lines": [line]})
    assert refused.status == 409 and refused.data == {"ticket_type_id": early, "left": 0}
    assert "Early bird" in refused.body["message"]
    standard = await clerk.post(ORDERS, json={"event_id": event["id"], "lines": [{"quantity": 2}]})
    assert standard.status == 201


async def test_staff_only_and_off_sale_types_are_refused_by_name(
    admin, user, clerk, make_event, db_rows
):
    event = await make_event(total_seats=10, price="0.00")
    comp = await add_type(admin, event["id"], "Complimentary", price=Decimal(0), staff_only=True)
    gone = await add_type(admin, event["id"], "Preview", price=Decimal(1), on_sale=False)

    def order(type_id: int) -> dict[str, Any]:
        return {
            "event_id": event["id"],
            "lines": [{"quantity": 1}, {"ticket_type_id": type_id, "quantity": 1}],
        }

    forbidden = await user.post(ORDERS, json=order(comp))
    assert forbidden.status == 403
    assert forbidden.data["errors"][0]["field"] == "lines.1.ticket_type_id"
    assert (await clerk.post(ORDERS, json=order(comp))).status == 201
    off = await clerk.post(ORDERS, json=order(gone))
    assert off.status == 422 and "not on sale" in off.body["message"]
    other = await make_event()
    foreign = await clerk.post(ORDERS, json=order(await add_type(admin, other["id"], "Other")))
    assert foreign.status == 422 and foreign.data["errors"][0]["field"] == "lines.1.ticket_type_id"
    # Nothing of the refused orders was kept: one order of two tickets.
    assert db_rows("SELECT count(*) FROM tickets WHERE event_id = %s", event["id"]) == [(2,)]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"lines": []}, "body"),
        ({"lines": [{"quantity": 0}]}, "lines.0.quantity"),
        ({"lines": [{"quantity": 1, "seat_ids": [1]}]}, "lines.0"),
        ({"lines": [{"seat_ids": [1, 2]}, {"seat_ids": [2]}]}, "body"),
        ({"lines": [{"seat_ids": []}]}, "lines.0.seat_ids"),
        ({"lines": [{"quantity": 2}], "best_available": {"count": 3}}, "body"),
        (
            {"lines": [{"quantity": 1}], "best_available": {"zone": "no such"}},
            "best_available.zone",
        ),
        ({"lines": [{"quantity": True}]}, "lines.0.quantity"),
    ],
)
async def test_bad_orders_name_the_field(clerk, make_event, body, field):
    event = await make_event()
    reply = await clerk.post(ORDERS, json={"event_id": event["id"], **body})
    assert reply.status == 422, reply.body
    assert reply.data["errors"][0]["field"] == field, reply.data


async def test_picking_seats_of_a_general_admission_event_is_a_422(clerk, make_event):
    event = await make_event()
    reply = await clerk.post(ORDERS, json={"event_id": event["id"], "lines": [{"seat_ids": [1]}]})
    assert reply.status == 422 and reply.data["errors"][0]["field"] == "lines.0.seat_ids"


async def test_more_tickets_than_an_order_allows(clerk, make_event):
    event = await make_event(total_seats=100)
    reply = await clerk.post(ORDERS, json={"event_id": event["id"], "lines": [{"quantity": 11}]})
    assert reply.status == 422 and "at most 10" in reply.body["message"]


# --- seated events ---------------------------------------------------------------------


async def test_picked_seats_are_sold_at_their_zone_price(clerk, seated_event, db_rows):
    event = await seated_event()
    seats = event["seats"]
    assert event["total_seats"] == 28 and event["available_seats"] == 28
    reply = await clerk.post(
        ORDERS,
        json={"event_id": event["id"], "lines": [{"seat_ids": [seats["A5"], seats["C1"]]}]},
    )
    assert reply.status == 201, reply.body
    assert sorted(seats_of(reply.data)) == ["A5", "C1"]
    assert Decimal(reply.data["amount"]) == Decimal("80.00")
    assert {(t["zone"], t["price"]) for t in reply.data["tickets"]} == {
        ("A", "50.00"),
        ("B", "30.00"),
    }
    states = seat_states(db_rows, event["id"])
    assert states[seats["A5"]] == states[seats["C1"]] == "sold"
    assert reply.data["available_seats"] == 26


async def test_a_taken_seat_refuses_the_whole_order_and_names_it(clerk, seated_event, db_rows):
    event = await seated_event()
    seats = event["seats"]
    first = await clerk.post(
        ORDERS, json={"event_id": event["id"], "lines": [{"seat_ids": [seats["A2"]]}]}
    )
    assert first.status == 201
    wanted = [seats["A1"], seats["A2"], seats["A3"]]
    refused = await clerk.post(
        ORDERS, json={"event_id": event["id"], "lines": [{"seat_ids": wanted}]}
    )
    assert refused.status == 409 and refused.data == {"seat_ids": [seats["A2"]]}
    assert str(seats["A2"]) in refused.body["message"]
    states = seat_states(db_rows, event["id"])
    assert states[seats["A1"]] == states[seats["A3"]] == "free"


async def test_seats_of_another_event_are_a_422_naming_them(clerk, seated_event, make_event):
    event, other = await seated_event(), await seated_event("Another night")
    foreign = other["seats"]["A1"]
    # Both events are on the same hall, so a seat of the plan is a seat of each; a seat id
    # of no event's plan is named.
    reply = await clerk.post(
        ORDERS, json={"event_id": event["id"], "lines": [{"seat_ids": [foreign, 9_999_999]}]}
    )
    assert reply.status == 422 and reply.data["seat_ids"] == [9_999_999]
    assert reply.data["errors"][0]["field"] == "seat_ids"


async def test_best_available_takes_the_front_centre_block_together(clerk, seated_event):
    event = await seated_event()
    reply = await clerk.post(ORDERS, json={"event_id": event["id"], "best_available": {"count": 3}})
    assert reply.status == 201, reply.body
    # Row A (front, zone A): the middle block of its right or left half (an aisle splits
    # the row into 1-5 and 6-10), never across the aisle.
    assert sorted(seats_of(reply.data)) in (["A3", "A4", "A5"], ["A6", "A7", "A8"])
    zone_b = await clerk.post(
        ORDERS,
        json={"event_id": event["id"], "lines": [{"quantity": 4}], "best_available": {"zone": "B"}},
    )
    assert sorted(seats_of(zone_b.data)) == ["C3", "C4", "C5", "C6"]


async def test_no_block_large_enough_together_says_the_largest_free(clerk, seated_event):
    event = await seated_event()
    # Zone B is one row of 8: sell C4, leaving blocks of 3 and 4.
    seats = event["seats"]
    await clerk.post(ORDERS, json={"event_id": event["id"], "lines": [{"seat_ids": [seats["C4"]]}]})
    refused = await clerk.post(
        ORDERS, json={"event_id": event["id"], "best_available": {"count": 5, "zone": "B"}}
    )
    assert refused.status == 409 and refused.data == {"largest_block": 4}
    apart = await clerk.post(
        ORDERS,
        json={
            "event_id": event["id"],
            "best_available": {"count": 5, "zone": "B", "together": False},
        },
    )
    assert apart.status == 201 and len(apart.data["tickets"]) == 5


async def test_two_hundred_buyers_of_the_same_seats_one_wins(actors, seated_event, db_rows):
    event = await seated_event()
    seats = event["seats"]
    wanted = [seats[s] for s in ("B3", "B4", "B5", "B6")]
    buyers = [await actors.new("clerk") for _ in range(4)]
    body = {"event_id": event["id"], "lines": [{"seat_ids": wanted}]}
    replies = await asyncio.gather(*(buyers[i % 4].post(ORDERS, json=body) for i in range(40)))
    statuses = sorted(r.status for r in replies)
    assert statuses == [201] + [409] * 39
    for lost in (r for r in replies if r.status == 409):
        assert set(lost.data["seat_ids"]) <= set(wanted) and lost.data["seat_ids"]
    assert db_rows(
        "SELECT count(*) FROM tickets WHERE event_id = %s AND released_at IS NULL", event["id"]
    ) == [(4,)]


async def test_best_available_storm_sells_each_seat_once(actors, seated_event, db_rows):
    event = await seated_event()
    buyers = [await actors.new("clerk") for _ in range(4)]
    body = {"event_id": event["id"], "best_available": {"count": 2}}
    replies = await asyncio.gather(*(buyers[i % 4].post(ORDERS, json=body) for i in range(20)))
    won = [r for r in replies if r.status == 201]
    assert {r.status for r in replies} <= {201, 409}
    sold = [t["seat_id"] for r in won for t in r.data["tickets"]]
    assert len(sold) == len(set(sold)) == 2 * len(won)
    # Every pair sits side by side in one row, never across the aisle.
    for r in won:
        rows = {t["row"] for t in r.data["tickets"]}
        numbers = sorted(int(t["number"]) for t in r.data["tickets"])
        assert len(rows) == 1 and numbers[1] - numbers[0] == 1 and numbers != [5, 6]
    # A refusal was honest: no two seats side by side were left free.
    free = db_rows(
        "SELECT s.row_label, s.x FROM event_seats e JOIN seats s ON s.id = e.seat_id "
        "WHERE e.event_id = %s AND e.state = 'free'",
        event["id"],
    )
    assert len(won) < 20 and not any((row, x + 1) in set(free) for row, x in free)
    # Centre first, no seat left alone: each 5-seat half row gave 2 pairs, row C 3.
    assert len(won) == 11


# --- holds, returns, cancellations -----------------------------------------------------


async def test_a_held_seat_is_held_and_lapses_back_to_free(
    clerk, seated_event, db_rows, db_execute, client
):
    event = await seated_event()
    seat = event["seats"]["B1"]
    body = {"event_id": event["id"], "lines": [{"seat_ids": [seat]}], "hold": True}
    held = await clerk.post(ORDERS, json=body)
    assert held.status == 201 and held.data["status"] == "pending"
    assert seat_states(db_rows, event["id"])[seat] == "held"
    assert held.data["tickets"][0]["code"] is None  # codes come with the payment
    db_execute(
        "UPDATE bookings SET expires_at = now() - interval '1 second' WHERE id = %s",
        held.data["id"],
    )
    from server.keys import BOOKINGS

    assert await client.server.app[BOOKINGS].expire_holds() == 1
    assert seat_states(db_rows, event["id"])[seat] == "free"
    again = await clerk.post(ORDERS, json={**body, "hold": False})
    assert again.status == 201


async def test_confirming_a_seated_hold_sells_its_seats_and_issues_codes(
    clerk, seated_event, db_rows
):
    event = await seated_event()
    body = {"event_id": event["id"], "best_available": {"count": 2}, "hold": True}
    held = (await clerk.post(ORDERS, json=body)).data
    confirmed = await clerk.post(
        f"{V1}/bookings/{held['id']}/confirm", json={"payment_method": "cash"}
    )
    assert confirmed.status == 200, confirmed.body
    order = (await clerk.get(f"{ORDERS}/{held['id']}")).data
    assert all(t["code"] for t in order["tickets"])
    states = seat_states(db_rows, event["id"])
    assert {states[t["seat_id"]] for t in order["tickets"]} == {"sold"}


async def test_returning_one_ticket_refunds_it_and_frees_its_seat(clerk, seated_event, db_rows):
    event = await seated_event()
    seats = event["seats"]
    body = {
        "event_id": event["id"],
        "lines": [{"seat_ids": [seats["A4"], seats["A5"], seats["C2"]]}],
        "payment_method": "card",
    }
    order = (await clerk.post(ORDERS, json=body)).data
    back = next(t for t in order["tickets"] if t["seat_id"] == seats["C2"])
    reply = await clerk.post(
        f"{ORDERS}/{order['id']}/returns",
        json={"ticket_ids": [back["id"]], "payment_method": "cash"},
    )
    assert reply.status == 200, reply.body
    assert reply.data["returned"] == 1 and Decimal(reply.data["refund"]) == Decimal("30.00")
    assert reply.data["status"] == "confirmed" and reply.data["quantity"] == 2
    assert reply.data["available_seats"] == event["total_seats"] - 2
    statuses = {t["seat_id"]: t["status"] for t in reply.data["tickets"]}
    assert statuses == {seats["A4"]: "valid", seats["A5"]: "valid", seats["C2"]: "returned"}
    assert seat_states(db_rows, event["id"])[seats["C2"]] == "free"
    [(refund, method)] = db_rows(
        "SELECT refund, refund_method FROM tickets WHERE id = %s", back["id"]
    )
    assert (refund, method) == (Decimal("30.00"), "cash")
    [(details,)] = db_rows(
        "SELECT details FROM audit_log WHERE booking_id = %s AND action = 'booking.return'",
        order["id"],
    )
    assert details["ticket_ids"] == [back["id"]] and details["refund_method"] == "cash"
    # Twice is a 409 naming it; a ticket of another order a 422.
    twice = await clerk.post(f"{ORDERS}/{order['id']}/returns", json={"ticket_ids": [back["id"]]})
    assert twice.status == 409 and twice.data["ticket_ids"] == [back["id"]]
    other = (
        await clerk.post(ORDERS, json={"event_id": event["id"], "best_available": {"count": 1}})
    ).data
    foreign = other["tickets"][0]["id"]
    wrong = await clerk.post(f"{ORDERS}/{order['id']}/returns", json={"ticket_ids": [foreign]})
    assert wrong.status == 422 and wrong.data["ticket_ids"] == [foreign]
    # Returning the rest cancels the order.
    rest = [t["id"] for t in order["tickets"] if t["id"] != back["id"]]
    last = await clerk.post(f"{ORDERS}/{order['id']}/returns", json={"ticket_ids": rest})
    assert last.status == 200 and last.data["status"] == "cancelled"
    assert Decimal(last.data["refund"]) == Decimal("100.00")


async def test_a_user_returns_only_their_own_and_never_an_admitted_ticket(
    user, actors, clerk, make_event
):
    event = await make_event(total_seats=10, price="0.00")
    order = (
        await user.post(ORDERS, json={"event_id": event["id"], "lines": [{"quantity": 2}]})
    ).data
    first, second = order["tickets"]
    stranger = await actors.new("user")
    hidden = await stranger.post(
        f"{ORDERS}/{order['id']}/returns", json={"ticket_ids": [first["id"]]}
    )
    assert hidden.status == 404
    assert (await stranger.get(f"{ORDERS}/{order['id']}")).status == 404
    await clerk.post(f"{V1}/checkins", json={"code": first["code"]})
    used = await user.post(f"{ORDERS}/{order['id']}/returns", json={"ticket_ids": [first["id"]]})
    assert used.status == 409 and used.data["ticket_ids"] == [first["id"]]
    override = await user.post(
        f"{ORDERS}/{order['id']}/returns", json={"ticket_ids": [first["id"]], "override": True}
    )
    assert override.status == 403
    staff = await clerk.post(
        f"{ORDERS}/{order['id']}/returns", json={"ticket_ids": [first["id"]], "override": True}
    )
    assert staff.status == 200
    mine = await user.post(f"{ORDERS}/{order['id']}/returns", json={"ticket_ids": [second["id"]]})
    assert mine.status == 200 and mine.data["status"] == "cancelled"


async def test_cancelling_a_seated_order_frees_every_seat(clerk, seated_event, db_rows):
    event = await seated_event()
    order = (
        await clerk.post(ORDERS, json={"event_id": event["id"], "best_available": {"count": 4}})
    ).data
    reply = await clerk.delete(f"{V1}/bookings/{order['id']}")
    assert reply.status == 200 and reply.data["available_seats"] == event["total_seats"]
    assert set(seat_states(db_rows, event["id"]).values()) == {"free"}


async def test_an_order_retried_with_its_idempotency_key_is_placed_once(
    clerk, seated_event, db_rows
):
    event = await seated_event()
    body = {"event_id": event["id"], "best_available": {"count": 2}}
    headers = {"Idempotency-Key": "order-1"}
    first, second = [await clerk.post(ORDERS, json=body, headers=headers) for _ in range(2)]
    assert first.status == second.status == 201
    assert first.data["tickets"] == second.data["tickets"]
    assert db_rows("SELECT count(*) FROM bookings WHERE event_id = %s", event["id"]) == [(1,)]


async def test_two_instances_never_sell_a_seat_twice(
    config: Config, clean_db: None, admin, seated_event, db_rows
):
    """Buyers on two server instances of one database fight over overlapping picks and the
    best seats at once: every seat is sold once, and every loser is told which seats."""
    event = await seated_event()
    seats = event["seats"]
    servers = [TestServer(create_app(config)) for _ in range(2)]
    clients = [TestClient(server) for server in servers]
    for c in clients:
        await c.start_server()
    try:
        buyers = [
            await Actors(c).new("clerk", username=f"seller{i}") for i, c in enumerate(clients)
        ]
        picks = [[seats[f"B{n}"], seats[f"B{n + 1}"]] for n in range(1, 10)]
        bodies = [{"event_id": event["id"], "lines": [{"seat_ids": p}]} for p in picks] * 4
        bodies += [{"event_id": event["id"], "best_available": {"count": 2}}] * 16
        replies = await asyncio.gather(
            *(buyers[i % 2].post(ORDERS, json=body) for i, body in enumerate(bodies))
        )
        assert {r.status for r in replies} <= {201, 409}, [r.body for r in replies]
        won = [r for r in replies if r.status == 201]
        sold = [t["seat_id"] for r in won for t in r.data["tickets"]]
        assert len(sold) == len(set(sold))
        for r in replies:
            if r.status == 409 and "seat_ids" in r.data:
                assert set(r.data["seat_ids"]) & set(sold)
        [(active,)] = db_rows(
            "SELECT count(*) FROM tickets WHERE event_id = %s AND released_at IS NULL", event["id"]
        )
        assert active == len(sold)
    finally:
        for c in clients:
            await c.close()


async def test_giving_back_part_of_a_hold_lowers_what_it_will_cost(clerk, make_event):
    event = await make_event(total_seats=10, price="15.00")
    body = {"event_id": event["id"], "lines": [{"quantity": 3}], "hold": True}
    held = (await clerk.post(ORDERS, json=body)).data
    back = await clerk.post(
        f"{ORDERS}/{held['id']}/returns", json={"ticket_ids": [held["tickets"][0]["id"]]}
    )
    assert back.status == 200 and back.data["status"] == "pending"
    assert Decimal(back.data["amount"]) == Decimal("30.00")
    assert Decimal(back.data["refund"]) == 0  # nothing was paid yet
    paid = await clerk.post(f"{V1}/bookings/{held['id']}/confirm", json={"payment_method": "cash"})
    assert paid.status == 200 and Decimal(paid.data["amount"]) == Decimal("30.00")


async def test_best_available_finds_seats_in_a_row_longer_than_its_first_read(
    admin, clerk, make_event
):
    """Best-available reads free seats in batches (64 first): a row of 100 free seats
    must still be found whole, not skipped for filling the first batch."""
    plan = {
        "name": "Long Row Hall",
        "zones": [{"code": "A", "name": "Floor", "rank": 1}],
        "sections": [
            {"name": "Floor", "zone": "A", "rows": [{"row": "A", "y": 0, "seats": "1-100"}]}
        ],
    }
    venue = await admin.post(f"{V1}/venues", json=plan)
    assert venue.status == 201, venue.body
    event = await make_event(total_seats=None, venue_id=venue.data["id"])
    order = await clerk.post(ORDERS, json={"event_id": event["id"], "best_available": {"count": 4}})
    assert order.status == 201, order.body
    assert sorted(int(t["number"]) for t in order.data["tickets"]) == [49, 50, 51, 52]
