"""Ticket types per event: who sees them (staff-only types: staff only), who changes them
(admins), the rules (zones of the plan, unique names, quotas against active tickets, the
default type and types with tickets stay), bad input, the audit log and the typed client."""

from __future__ import annotations

from decimal import Decimal

import pytest
from support import call, event_body, place_order, seated_venue

from common.client import ApiError, Client
from common.models import TicketTypeCreate, TicketTypePatch

EVENTS = "/api/v1/events"


def types_path(event_id, type_id=None):
    path = f"{EVENTS}/{event_id}/ticket-types"
    return path if type_id is None else f"{path}/{type_id}"


async def seated_event(admin):
    venue = await seated_venue(admin)
    reply = await admin.post(EVENTS, json=event_body(total_seats=None, venue_id=venue["id"]))
    assert reply.status == 201, reply.body
    return reply.data


async def add(admin, event_id, **body):
    reply = await admin.post(types_path(event_id), json=body)
    assert reply.status == 201, reply.body
    return reply.data


async def test_every_event_has_a_default_type_anyone_can_read(client, make_event):
    """A new event has its default type, 'Standard' at the event's price, without a
    token; GET /events/{id} lists it too."""
    event = await make_event()
    reply = await call(client, "GET", types_path(event["id"]))
    assert reply.status == 200, reply.body
    [default] = reply.data
    assert (default["name"], default["price"], default["is_default"]) == ("Standard", None, True)
    assert (default["quota"], default["sold"], default["on_sale"]) == (None, None, True)
    detail = await call(client, "GET", f"{EVENTS}/{event['id']}")
    assert detail.data["ticket_types"] == [default]


async def test_admin_adds_types_with_zone_prices(admin):
    """A seated event's types price its plan's zones; they list in position order."""
    event = await seated_event(admin)
    child = await add(admin, event["id"], name="Child", zone_prices={"A": "12.50", "B": 10})
    adult = await add(admin, event["id"], name="Adult", price="30", position=0)
    assert child["zone_prices"] == {"A": "12.50", "B": "10.00"}
    assert child["position"] == 1  # after the default type's 0
    assert (adult["price"], adult["staff_only"], adult["on_sale"]) == ("30.00", False, True)
    listed = (await admin.get(types_path(event["id"]))).data
    assert [t["name"] for t in listed] == ["Standard", "Adult", "Child"]


async def test_an_order_is_priced_by_type_and_zone(admin, database_url):
    """What the types say is what the order function charges: the zone's price, else the
    type's, else the event's."""
    event = await seated_event(admin)
    child = await add(admin, event["id"], name="Child", zone_prices={"A": "5.00"}, price="7.00")
    # The event's price is 25.00; Child costs 5.00 in zone A and 7.00 elsewhere.
    for quantity, zone, amount in ((2, "A", "10.00"), (1, "C", "7.00")):
        order = await place_order(
            admin,
            event_id=event["id"],
            lines=[{"ticket_type_id": child["id"], "quantity": quantity}],
            best_available={"together": True, "zone": zone},
        )
        assert Decimal(order.data["amount"]) == Decimal(amount), order.body


async def test_staff_only_types_are_invisible_to_users(client, admin, actors, make_event):
    """A staff-only type is listed to clerks and admins, never to users or without a
    token (in both the list and the event)."""
    event = await make_event()
    comp = await add(admin, event["id"], name="Complimentary", price="0", staff_only=True)
    user, clerk = await actors.new("user"), await actors.new("clerk")
    for viewer in (None, user):
        get = (lambda p, v=viewer: v.get(p)) if viewer else (lambda p: call(client, "GET", p))
        names = [t["name"] for t in (await get(types_path(event["id"]))).data]
        assert names == ["Standard"]
        detail = (await get(f"{EVENTS}/{event['id']}")).data
        assert [t["name"] for t in detail["ticket_types"]] == ["Standard"]
    for staff in (clerk, admin):
        ids = [t["id"] for t in (await staff.get(types_path(event["id"]))).data]
        assert comp["id"] in ids
    bad = await call(client, "GET", types_path(event["id"]), headers={"Authorization": "Bearer x"})
    assert bad.status == 401


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "VIP", "zone_prices": {"Z": "10"}}, "zone_prices.Z"),
        ({"name": "VIP", "zone_prices": {"A": "-1"}}, "zone_prices.A"),
        ({"name": "VIP", "price": "-1"}, "price"),
        ({"name": "VIP", "price": "1.234"}, "price"),
        ({"name": "VIP", "quota": -1}, "quota"),
        ({"name": "VIP", "quota": True}, "quota"),
        ({"name": "VIP", "on_sale": "yes"}, "on_sale"),
        ({"name": "  "}, "name"),
        ({"name": "x" * 101}, "name"),
        ({"price": "1"}, "name"),
        ({"name": "VIP", "colour": "red"}, "colour"),
        ({"name": "VIP", "position": -1}, "position"),
    ],
    ids=repr,
)
async def test_bad_input_is_a_422_naming_the_field(admin, body, field):
    event = await seated_event(admin)
    reply = await admin.post(types_path(event["id"]), json=body)
    assert reply.status == 422, reply.body
    assert reply.fields == [field]
    assert len((await admin.get(types_path(event["id"]))).data) == 1


async def test_zone_prices_on_a_general_admission_event_are_a_422(admin, make_event):
    event = await make_event()
    reply = await admin.post(types_path(event["id"]), json={"name": "VIP", "zone_prices": {"A": 1}})
    assert reply.status == 422 and reply.fields == ["zone_prices"], reply.body
    reply = await admin.call(
        "PATCH", types_path(event["id"], (await admin.get(types_path(event["id"]))).data[0]["id"]),
        json={"zone_prices": {"A": 1}},
    )  # fmt: skip
    assert reply.status == 422 and reply.fields == ["zone_prices"], reply.body


async def test_names_are_unique_whatever_the_case(admin, make_event):
    """A second 'standard' (create or rename) is a 409 naming name."""
    event = await make_event()
    reply = await admin.post(types_path(event["id"]), json={"name": "STANDARD"})
    assert reply.status == 409 and reply.fields == ["name"], reply.body
    child = await add(admin, event["id"], name="Child")
    reply = await admin.call(
        "PATCH", types_path(event["id"], child["id"]), json={"name": "standard "}
    )
    assert reply.status == 409 and reply.fields == ["name"], reply.body
    # Another event may have the same names.
    other = await make_event()
    await add(admin, other["id"], name="Child")


async def test_patch_changes_only_what_is_given(admin, make_event):
    event = await make_event()
    child = await add(admin, event["id"], name="Child", price="5")
    path = types_path(event["id"], child["id"])
    reply = await admin.call("PATCH", path, json={"on_sale": False, "price": None})
    assert reply.status == 200, reply.body
    assert (reply.data["name"], reply.data["on_sale"], reply.data["price"]) == (
        "Child",
        False,
        None,
    )
    assert (await admin.call("PATCH", path, json={})).data == reply.data
    for field in ("name", "on_sale", "staff_only", "position", "zone_prices"):
        refused = await admin.call("PATCH", path, json={field: None})
        assert refused.status == 422 and refused.fields == [field], refused.body


async def test_quota_counts_active_tickets(admin, database_url):
    """Setting a quota recounts sold from the active tickets; one below them is a 409
    that says how many; removing it shows sold as null again."""
    event = await seated_event(admin)
    child = await add(admin, event["id"], name="Child")
    for _ in range(2):
        order = await place_order(
            admin, event_id=event["id"], lines=[{"ticket_type_id": child["id"], "quantity": 2}]
        )
        assert order.status == 201, order.body
    path = types_path(event["id"], child["id"])
    reply = await admin.call("PATCH", path, json={"quota": 3})
    assert reply.status == 409 and reply.fields == ["quota"], reply.body
    assert reply.data["active"] == 4
    reply = await admin.call("PATCH", path, json={"quota": 6})
    assert reply.status == 200, reply.body
    assert (reply.data["quota"], reply.data["sold"]) == (6, 4)
    # The order function now counts against it: 2 left.
    refused = await place_order(
        admin, event_id=event["id"], lines=[{"ticket_type_id": child["id"], "quantity": 3}]
    )
    assert refused.status == 409 and refused.data["left"] == 2, refused.body
    reply = await admin.call("PATCH", path, json={"quota": None})
    assert (reply.data["quota"], reply.data["sold"]) == (None, None)
    created = await add(admin, event["id"], name="Limited", quota=0)
    assert (created["quota"], created["sold"]) == (0, 0)


async def test_delete_refuses_the_default_and_types_with_tickets(admin, database_url):
    event = await seated_event(admin)
    [default] = (await admin.get(types_path(event["id"]))).data
    reply = await admin.delete(types_path(event["id"], default["id"]))
    assert reply.status == 409, reply.body
    child = await add(admin, event["id"], name="Child")
    await place_order(
        admin, event_id=event["id"], lines=[{"ticket_type_id": child["id"], "quantity": 1}]
    )
    reply = await admin.delete(types_path(event["id"], child["id"]))
    assert reply.status == 409 and "on_sale" in reply.body["message"], reply.body
    spare = await add(admin, event["id"], name="Spare")
    assert (await admin.delete(types_path(event["id"], spare["id"]))).status == 200
    names = [t["name"] for t in (await admin.get(types_path(event["id"]))).data]
    assert names == ["Standard", "Child"]


async def test_unknown_ids_are_404s(admin, make_event):
    event = await make_event()
    other = await make_event()
    [default] = (await admin.get(types_path(other["id"]))).data
    assert (await admin.get(types_path(999999))).status == 404
    assert (await admin.post(types_path(999999), json={"name": "X"})).status == 404
    # A type of another event is not this event's.
    for method in ("PATCH", "DELETE"):
        kwargs = {"json": {"name": "X"}} if method == "PATCH" else {}
        reply = await admin.call(method, types_path(event["id"], default["id"]), **kwargs)
        assert reply.status == 404, reply.body
        reply = await admin.call(method, types_path(event["id"], 999999), **kwargs)
        assert reply.status == 404, reply.body
    assert (await admin.get(f"{EVENTS}/{event['id']}/ticket-types/x")).status in (404, 405)
    reply = await admin.call("PATCH", types_path(event["id"], "0"), json={"name": "X"})
    assert reply.status == 422 and reply.fields == ["type_id"]


@pytest.mark.parametrize("role", ["user", "clerk"])
async def test_only_admins_change_types(actors, admin, make_event, role):
    event = await make_event()
    [default] = (await admin.get(types_path(event["id"]))).data
    actor = await actors.new(role)
    assert (await actor.post(types_path(event["id"]), json={"name": "X"})).status == 403
    path = types_path(event["id"], default["id"])
    assert (await actor.call("PATCH", path, json={"name": "X"})).status == 403
    assert (await actor.delete(path)).status == 403
    assert [t["name"] for t in (await admin.get(types_path(event["id"]))).data] == ["Standard"]


async def test_every_change_is_audited(admin, make_event):
    event = await make_event()
    child = await add(admin, event["id"], name="Child", price="5")
    path = types_path(event["id"], child["id"])
    await admin.call("PATCH", path, json={"price": "6", "name": "Kid"})
    await admin.delete(path)
    records = (await admin.get("/api/v1/audit", params={"action": "ticket_type"})).data
    by_action = {r["action"]: r for r in records}
    assert set(by_action) == {"ticket_type.create", "ticket_type.update", "ticket_type.delete"}
    assert all(r["event_id"] == event["id"] and r["actor"] == admin.username for r in records)
    assert by_action["ticket_type.create"]["details"]["name"] == "Child"
    update = by_action["ticket_type.update"]["details"]
    assert update["before"] == {"name": "Child", "price": 5}
    assert update["after"] == {"name": "Kid", "price": 6}
    assert update["ticket_type_id"] == child["id"]


async def test_typed_client_covers_every_type_call(client, admin, make_event):
    event = await make_event()
    async with Client(str(client.make_url(""))) as api:
        await api.login(admin.username, "correct horse battery")
        made = await api.create_ticket_type(
            event["id"], TicketTypeCreate(name="Member", price=Decimal("20"))
        )
        changed = await api.update_ticket_type(
            event["id"], made.id, TicketTypePatch(quota=10, staff_only=True)
        )
        assert (changed.quota, changed.sold, changed.staff_only) == (10, 0, True)
        listed = await api.ticket_types(event["id"])
        assert [t.name for t in listed] == ["Standard", "Member"]
        detail = await api.event(event["id"])
        assert [t.id for t in detail.ticket_types] == [t.id for t in listed]
        await api.delete_ticket_type(event["id"], made.id)
        with pytest.raises(ApiError) as refused:
            await api.delete_ticket_type(event["id"], made.id)
        assert refused.value.status == 404
