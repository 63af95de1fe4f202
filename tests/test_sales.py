"""The admins' dashboards' reads: an event's held and sold tickets and takings per zone
and ticket type, seats per zone of the seated events, and tickets made per bucket lately."""

from __future__ import annotations

import time
from decimal import Decimal

from support import PASSWORD, add_type, place_order

from common.models import EventSales, RecentSales, ZoneSales

EVENTS = "/api/v1/events"


async def test_event_sales_per_zone_and_type(admin, clerk, seated_event):
    """Held and sold tickets and takings at the prices sold, per zone and per type."""
    event = await seated_event()
    seats = event["seats"]
    child = await add_type(admin, event["id"], "Child", zone_prices={"A": "20.00"})
    sold = await place_order(
        clerk,
        event_id=event["id"],
        lines=[
            {"seat_ids": [seats["A1"], seats["A2"]]},  # default type: 50.00 in zone A
            {"ticket_type_id": child, "seat_ids": [seats["A3"]]},  # 20.00
            {"seat_ids": [seats["C1"]]},  # 30.00 in zone B
        ],
        payment_method="cash",
    )
    assert sold.status == 201, sold.body
    held = await place_order(
        clerk, event_id=event["id"], lines=[{"seat_ids": [seats["C2"]]}], hold=True
    )
    assert held.status == 201, held.body

    reply = await admin.get(f"{EVENTS}/{event['id']}/sales")
    assert reply.status == 200, reply.body
    sales = EventSales.model_validate(reply.data)
    assert (sales.seats, sales.free, sales.held, sales.sold) == (28, 23, 1, 4)
    assert sales.takings == Decimal("150.00")
    zones = {z.zone: (z.name, z.seats, z.free, z.held, z.sold, z.takings) for z in sales.zones}
    assert zones == {
        "A": ("Front", 20, 17, 0, 3, Decimal("120.00")),
        "B": ("Back", 8, 6, 1, 1, Decimal("30.00")),
    }
    types = {t.name: (t.held, t.sold, t.takings) for t in sales.types}
    assert types == {"Standard": (1, 3, Decimal("130.00")), "Child": (0, 1, Decimal("20.00"))}


async def test_general_admission_sales_have_no_zones(admin, clerk, make_event):
    event = await make_event(total_seats=10, price="12.00")
    order = await place_order(
        clerk, event_id=event["id"], lines=[{"quantity": 3}], payment_method="card"
    )
    assert order.status == 201, order.body
    sales = EventSales.model_validate((await admin.get(f"{EVENTS}/{event['id']}/sales")).data)
    assert (sales.seats, sales.free, sales.sold, sales.takings) == (10, 7, 3, Decimal("36.00"))
    assert sales.zones == []


async def test_zone_seats_of_every_seated_event(admin, clerk, seated_event, make_event):
    first, second = await seated_event("First"), await seated_event("Second")
    await make_event(title="Standing")  # general admission: no zones
    order = await place_order(
        clerk, event_id=second["id"], lines=[{"seat_ids": [second["seats"]["C8"]]}]
    )
    assert order.status == 201, order.body
    reply = await admin.get("/api/v1/reports/zones")
    assert reply.status == 200, reply.body
    zones = [ZoneSales.model_validate(z) for z in reply.data]
    assert [(z.event_id, z.zone, z.free, z.sold) for z in zones] == [
        (first["id"], "A", 20, 0),
        (first["id"], "B", 8, 0),
        (second["id"], "A", 20, 0),
        (second["id"], "B", 7, 1),
    ]
    one = await admin.get("/api/v1/reports/zones", params={"event_id": second["id"]})
    assert [z["event_id"] for z in one.data] == [second["id"]] * 2


async def test_recent_sales_counts_tickets_per_bucket(admin, clerk, make_event, db_execute):
    """Tickets made lately, in buckets numbered by epoch seconds; older ones are not
    counted, and the last bucket is the one now running."""
    event = await make_event(total_seats=50)
    for quantity in (2, 3):
        order = await place_order(clerk, event_id=event["id"], lines=[{"quantity": quantity}])
        assert order.status == 201, order.body
    old = await place_order(clerk, event_id=event["id"], lines=[{"quantity": 4}])
    db_execute(
        "UPDATE tickets SET created_at = now() - interval '10 minutes' WHERE booking_id = %s",
        old.data["id"],
    )
    before = time.time()
    reply = await admin.get("/api/v1/reports/recent-sales", params={"bucket_seconds": 5})
    assert reply.status == 200, reply.body
    recent = RecentSales.model_validate(reply.data)
    assert recent.bucket_seconds == 5 and len(recent.tickets) == 60
    assert sum(recent.tickets) == 5
    assert recent.first_bucket + 59 in (int(before // 5), int(time.time() // 5))


async def test_sales_are_for_admins_and_bad_input_is_422(clerk, admin, make_event):
    event = await make_event()
    for path in (f"{EVENTS}/{event['id']}/sales", "/api/v1/reports/zones"):
        assert (await clerk.get(path)).status == 403
    assert (await admin.get(f"{EVENTS}/999999/sales")).status == 404
    bad = await admin.get("/api/v1/reports/recent-sales", params={"minutes": "0"})
    assert bad.status == 422 and bad.data["errors"][0]["field"] == "minutes"
    assert (await admin.get("/api/v1/reports/zones", params={"event_id": "x"})).status == 422


async def test_the_client_reads_them(client, admin, seated_event):
    from common.client import Client

    event = await seated_event()
    async with Client(str(client.make_url(""))) as api:
        await api.login(admin.username, PASSWORD)
        sales = await api.event_sales(event["id"])
        assert sales.free == 28 and [z.zone for z in sales.zones] == ["A", "B"]
        assert len(await api.zone_seats(event["id"])) == 2
        assert len((await api.recent_sales(minutes=2, bucket_seconds=60)).tickets) == 2
