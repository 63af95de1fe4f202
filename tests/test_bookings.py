"""Bookings: take seats, list them, cancel them, and keep the seat ledger straight."""

import pytest

BOOKINGS = "/api/v1/bookings"


async def book(actor, event_id, quantity=1, **extra):
    reply = await actor.post(BOOKINGS, json={"event_id": event_id, "quantity": quantity, **extra})
    assert reply.status == 201, reply.body
    return reply.data


async def seats_left(actor, event_id):
    return (await actor.get(f"/api/v1/events/{event_id}")).data["available_seats"]


def ids(reply):
    assert reply.status == 200, reply.body
    return [b["id"] for b in reply.data]


# --- booking ---------------------------------------------------------------------


async def test_booking_takes_seats(user, make_event):
    """A booking answers the seats left and the event's new version, and the event shows it."""
    event = await make_event(total_seats=10, price="0.00")  # free: a user's booking is a sale
    reply = await user.post(BOOKINGS, json={"event_id": event["id"], "quantity": 3})
    assert reply.status == 201
    assert (reply.data["status"], reply.data["quantity"]) == ("confirmed", 3)
    assert reply.data["user_id"] == user.user_id
    after = (await user.get(f"/api/v1/events/{event['id']}")).data
    assert reply.data["available_seats"] == after["available_seats"] == 7
    assert reply.data["event_version"] == after["version"] > event["version"]


async def test_quantity_defaults_to_one(user, make_event):
    """Without a quantity, one seat is booked."""
    event = await make_event(total_seats=10)
    reply = await user.post(BOOKINGS, json={"event_id": event["id"]})
    assert reply.status == 201
    assert reply.data["quantity"] == 1
    assert await seats_left(user, event["id"]) == 9


async def test_clerk_counter_sale_keeps_stripped_customer_name(clerk, make_event):
    """A clerk's sale records the walk-in customer's name, without surrounding spaces."""
    event = await make_event()
    booking = await book(clerk, event["id"], 2, customer_name="  Ann Smith \t")
    assert booking["customer_name"] == "Ann Smith"
    assert (await clerk.get(f"{BOOKINGS}/{booking['id']}")).data["customer_name"] == "Ann Smith"


async def test_quantity_above_configured_maximum_is_422(user, make_event, config):
    """More tickets than max_tickets_per_booking is a 422 naming quantity; the maximum is fine."""
    most = config.max_tickets_per_booking
    event = await make_event(total_seats=most * 3)
    reply = await user.post(BOOKINGS, json={"event_id": event["id"], "quantity": most + 1})
    assert reply.status == 422
    assert reply.fields == ["quantity"]
    assert await seats_left(user, event["id"]) == most * 3
    await book(user, event["id"], most)


@pytest.mark.parametrize("quantity", [0, -1, "two", 2**40, 1.5, None])
async def test_bad_quantity_is_422(user, make_event, quantity):
    """A quantity that is not a positive whole number is a 422 naming quantity."""
    event = await make_event()
    reply = await user.post(BOOKINGS, json={"event_id": event["id"], "quantity": quantity})
    assert reply.status == 422
    assert reply.fields == ["quantity"]
    assert await seats_left(user, event["id"]) == 100


async def test_unknown_event_is_404(user):
    """Booking an event that does not exist is a 404."""
    reply = await user.post(BOOKINGS, json={"event_id": 999999})
    assert reply.status == 404


async def test_sold_out_event_is_409(user, make_event):
    """Once every seat is gone, booking is a 409 "Sold out"."""
    event = await make_event(total_seats=2)
    await book(user, event["id"], 2)
    reply = await user.post(BOOKINGS, json={"event_id": event["id"]})
    assert reply.status == 409
    assert reply.body["message"] == "Sold out"
    assert reply.data["available_seats"] == 0


async def test_more_than_left_is_409_saying_how_many_left(user, make_event):
    """Asking for more seats than remain is a 409 that says how many are left."""
    event = await make_event(total_seats=5)
    await book(user, event["id"], 2)
    reply = await user.post(BOOKINGS, json={"event_id": event["id"], "quantity": 4})
    assert reply.status == 409
    assert "3 left" in reply.body["message"]
    assert reply.data["available_seats"] == 3
    assert await seats_left(user, event["id"]) == 3


async def test_started_event_cannot_be_booked(user, make_event, db_execute):
    """An event whose start time has passed is a 409 and keeps its seats."""
    event = await make_event(total_seats=5)
    db_execute("UPDATE events SET date = now() - interval '1 minute' WHERE id = %s", event["id"])
    reply = await user.post(BOOKINGS, json={"event_id": event["id"]})
    assert reply.status == 409
    assert "started" in reply.body["message"]
    assert await seats_left(user, event["id"]) == 5


# --- listing ---------------------------------------------------------------------


async def test_users_list_only_their_own_bookings_newest_first(actors, make_event):
    """GET /bookings shows the caller's bookings, newest first, and nobody else's."""
    alice, bob = await actors.new("user"), await actors.new("user")
    event = await make_event()
    first = await book(alice, event["id"])
    await book(bob, event["id"])
    second = await book(alice, event["id"])
    assert ids(await alice.get(BOOKINGS)) == [second["id"], first["id"]]
    assert len((await bob.get(BOOKINGS)).data) == 1


async def test_own_bookings_page_and_filter_by_status(user, make_event):
    """skip, limit and status narrow the caller's bookings."""
    event = await make_event(price="0.00")
    made = [(await book(user, event["id"]))["id"] for _ in range(4)]
    await user.delete(f"{BOOKINGS}/{made[1]}")
    newest_first = made[::-1]
    assert ids(await user.get(BOOKINGS, params={"skip": 1, "limit": 2})) == newest_first[1:3]
    assert ids(await user.get(BOOKINGS, params={"status": "cancelled"})) == [made[1]]
    confirmed = await user.get(BOOKINGS, params={"status": "confirmed"})
    assert ids(confirmed) == [made[3], made[2], made[0]]


async def test_admin_lists_everyones_bookings(admin, actors, make_event):
    """GET /bookings/all shows every user's bookings to an admin, and is closed to users."""
    alice, bob = await actors.new("user"), await actors.new("user")
    event = await make_event()
    a = await book(alice, event["id"])
    b = await book(bob, event["id"])
    assert ids(await admin.get(f"{BOOKINGS}/all")) == [b["id"], a["id"]]
    assert (await alice.get(f"{BOOKINGS}/all")).status == 403


async def test_staff_list_one_events_bookings(clerk, admin, user, make_event):
    """GET /bookings/event/{id} lists that event's bookings only, for clerks and admins."""
    concert, play = await make_event(), await make_event()
    mine = await book(user, concert["id"])
    await book(user, play["id"])
    sale = await book(clerk, concert["id"], customer_name="Walk-in")
    for staff in (clerk, admin):
        listed = await staff.get(f"{BOOKINGS}/event/{concert['id']}")
        assert ids(listed) == [sale["id"], mine["id"]]
    assert (await user.get(f"{BOOKINGS}/event/{concert['id']}")).status == 403


async def test_find_bookings_by_part_of_the_customer_name(clerk, admin, make_event):
    """``customer`` matches part of the name, any case; % and _ are taken literally."""
    event = await make_event()
    ada = await book(clerk, event["id"], customer_name="Ada Lovelace")
    await book(clerk, event["id"], customer_name="Grace Hopper")
    percent = await book(clerk, event["id"], customer_name="100% Real")
    for path in (BOOKINGS, f"{BOOKINGS}/event/{event['id']}"):
        assert ids(await clerk.get(path, params={"customer": "LOVE"})) == [ada["id"]]
    assert ids(await admin.get(f"{BOOKINGS}/all", params={"customer": "%"})) == [percent["id"]]
    assert ids(await clerk.get(BOOKINGS, params={"customer": "_"})) == []
    reply = await clerk.get(f"{BOOKINGS}/event/{event['id']}", params={"customer": "nobody"})
    assert (reply.status, reply.data) == (200, [])


async def test_event_bookings_unknown_is_404_and_empty_is_empty(clerk, make_event):
    """An unknown event's bookings are a 404; an event nobody booked has an empty list."""
    assert (await clerk.get(f"{BOOKINGS}/event/999999")).status == 404
    event = await make_event()
    reply = await clerk.get(f"{BOOKINGS}/event/{event['id']}")
    assert (reply.status, reply.data) == (200, [])


# --- cancelling ------------------------------------------------------------------


async def test_cancel_returns_seats(user, make_event):
    """Cancelling marks the booking cancelled and gives its seats back."""
    event = await make_event(total_seats=10)
    booking = await book(user, event["id"], 4)
    reply = await user.delete(f"{BOOKINGS}/{booking['id']}")
    assert reply.status == 200
    assert reply.data["status"] == "cancelled"
    assert reply.data["available_seats"] == 10
    assert await seats_left(user, event["id"]) == 10
    assert (await user.get(f"{BOOKINGS}/{booking['id']}")).data["status"] == "cancelled"


async def test_cancel_twice_is_409_and_returns_seats_once(user, make_event):
    """A second cancel is a 409 "already cancelled" and does not hand the seats back again."""
    event = await make_event(total_seats=10)
    other = await book(user, event["id"], 3)
    booking = await book(user, event["id"], 4)
    assert (await user.delete(f"{BOOKINGS}/{booking['id']}")).status == 200
    again = await user.delete(f"{BOOKINGS}/{booking['id']}")
    assert again.status == 409
    assert "already cancelled" in again.body["message"]
    assert await seats_left(user, event["id"]) == 10 - other["quantity"]


async def test_cancel_unknown_booking_is_404(user):
    """Cancelling a booking that does not exist is a 404."""
    assert (await user.delete(f"{BOOKINGS}/999999")).status == 404
