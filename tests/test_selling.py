"""Who may sell and for how much: a user's booking of a priced event is a reservation paid
at the counter, staff fields are staff's, a user holds a limited number of seats, and a
used ticket is refunded only when staff override."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from support import PASSWORD, Actors, call

from common.client import ApiError, Client
from server.app import create_app
from server.config import Config, ConfigError
from server.keys import API_TOKENS
from server.security import Principal

V1 = "/api/v1"
BOOKINGS = f"{V1}/bookings"


async def book(actor: Any, event: dict[str, Any], quantity: int = 1, **extra: Any) -> Any:
    return await actor.post(BOOKINGS, json={"event_id": event["id"], "quantity": quantity, **extra})


async def seats_left(actor: Any, event: dict[str, Any]) -> int:
    return (await actor.get(f"{V1}/events/{event['id']}")).data["available_seats"]


async def audit_of(admin: Any, booking_id: int) -> list[dict[str, Any]]:
    reply = await admin.get(f"{V1}/audit", params={"booking_id": booking_id})
    assert reply.status == 200, reply.body
    return reply.data


@pytest.fixture
async def api_user(client: TestClient, admin: Any) -> Any:
    """An integration API token with the role user, as an actor."""
    signer = Principal(admin.user_id, admin.username, admin.role)
    _, secret = await client.server.app[API_TOKENS].issue(signer, "partner", "user")

    class Token:
        async def post(self, path: str, json: Any = None) -> Any:
            return await call(client, "POST", path, token=secret, json=json)

    return Token()


# --- a user's booking of a priced event is a reservation ---------------------------------


async def test_a_users_booking_of_a_priced_event_is_a_hold(user, admin, make_event):
    """No ticket, no sale: the seats are held until paid, and the answer says so."""
    event = await make_event(total_seats=10, price="25.00")
    reply = await book(user, event, 2)
    assert reply.status == 201
    assert reply.body["message"] == "Seats held"
    assert reply.data["status"] == "pending"
    assert reply.data["ticket_code"] is None and reply.data["expires_at"] is not None
    assert reply.data["amount"] == "50.00"
    assert await seats_left(user, event) == 8
    [record] = await audit_of(admin, reply.data["id"])
    assert record["action"] == "booking.hold"
    assert (await user.get(f"{BOOKINGS}/{reply.data['id']}/ticket")).status == 409


async def test_an_api_token_with_the_role_user_reserves_too(api_user, make_event):
    event = await make_event(price="25.00")
    reply = await book(api_user, event)
    assert (reply.status, reply.data["status"]) == (201, "pending")


async def test_free_events_and_staff_sales_confirm_at_once(user, clerk, make_event):
    """A free event's booking is a sale for a user too; staff sell priced events outright."""
    free, priced = await make_event(price="0.00"), await make_event(price="25.00")
    for actor, event in ((user, free), (clerk, priced)):
        reply = await book(actor, event)
        assert reply.status == 201
        assert reply.body["message"] == "Booking confirmed"
        assert reply.data["status"] == "confirmed" and reply.data["ticket_code"]


async def test_users_who_pay_elsewhere_confirm_at_once(
    config, clean_db, aiohttp_client, make_event
):
    """BOXOFFICE_USER_BOOKINGS=confirm: a user's booking of a priced event is a sale, and a
    user may confirm their own hold of one."""
    elsewhere = await aiohttp_client(create_app(config.replace(user_bookings="confirm")))
    buyer = await Actors(elsewhere).new("user", username="buyer")
    event = await make_event(price="25.00")
    sold = await book(buyer, event)
    assert (sold.status, sold.data["status"], sold.body["message"]) == (
        201,
        "confirmed",
        "Booking confirmed",
    )
    held = await book(buyer, event, hold=True)
    assert held.data["status"] == "pending"
    confirmed = await buyer.post(f"{BOOKINGS}/{held.data['id']}/confirm", json={})
    assert (confirmed.status, confirmed.data["status"]) == (200, "confirmed")


def test_user_bookings_and_max_held_seats_are_configured_and_checked():
    config = Config.from_env(
        {"BOXOFFICE_USER_BOOKINGS": "confirm", "BOXOFFICE_MAX_HELD_SEATS": "4"}
    )
    assert (config.user_bookings, config.max_held_seats) == ("confirm", 4)
    assert (Config().user_bookings, Config().max_held_seats) == ("reserve", 10)
    with pytest.raises(ConfigError, match="USER_BOOKINGS"):
        Config.from_env({"BOXOFFICE_USER_BOOKINGS": "free"})
    with pytest.raises(ConfigError, match="MAX_HELD_SEATS"):
        Config.from_env({"BOXOFFICE_MAX_HELD_SEATS": "-1"})


# --- staff fields, and who confirms a reservation ------------------------------------------


@pytest.mark.parametrize(
    ("extra", "fields"),
    [
        ({"payment_method": "cash"}, ["payment_method"]),
        ({"customer_name": "Somebody"}, ["customer_name"]),
        (
            {"customer_name": "Somebody", "payment_method": "card"},
            ["customer_name", "payment_method"],
        ),
    ],
)
async def test_staff_fields_from_a_user_are_403_naming_them(
    user, api_user, make_event, extra, fields
):
    event = await make_event(total_seats=5, price="0.00")
    for actor in (user, api_user):
        reply = await book(actor, event, **extra)
        assert reply.status == 403
        assert reply.fields == fields
        assert fields[0] in reply.body["message"]
    assert await seats_left(user, event) == 5


async def test_a_user_cannot_confirm_a_reservation_staff_take_the_payment(
    user, clerk, make_event, db_rows
):
    event = await make_event(total_seats=5, price="25.00")
    held = (await book(user, event, 2)).data
    url = f"{BOOKINGS}/{held['id']}/confirm"

    refused = await user.post(url, json={})
    assert refused.status == 403
    cash = await user.post(url, json={"payment_method": "cash"})
    assert (cash.status, cash.fields) == (403, ["payment_method"])
    [(status,)] = db_rows("SELECT status FROM bookings WHERE id = %s", held["id"])
    assert status == "pending"

    paid = await clerk.post(url, json={"payment_method": "card"})
    assert paid.status == 200
    assert (paid.data["status"], paid.data["payment_method"]) == ("confirmed", "card")
    assert paid.data["ticket_code"]
    [(confirmed_by,)] = db_rows("SELECT confirmed_by FROM bookings WHERE id = %s", held["id"])
    assert confirmed_by == clerk.user_id


async def test_a_user_confirms_their_own_hold_of_a_free_event(user, make_event):
    event = await make_event(price="0.00")
    held = (await book(user, event, hold=True)).data
    reply = await user.post(f"{BOOKINGS}/{held['id']}/confirm", json={})
    assert (reply.status, reply.data["status"]) == (200, "confirmed")


async def test_a_payment_method_stored_with_a_users_hold_never_reaches_the_till(
    user, clerk, actors, make_event, db_execute
):
    """Staff confirming a hold sell with their own payment method: one stored with the hold
    (a user could have set it before) is dropped; a clerk's own hold keeps theirs."""
    event = await make_event(total_seats=10, price="25.00")
    users_hold = (await book(user, event)).data
    db_execute("UPDATE bookings SET payment_method = 'cash' WHERE id = %s", users_hold["id"])
    confirmed = await clerk.post(f"{BOOKINGS}/{users_hold['id']}/confirm", json={})
    assert (confirmed.status, confirmed.data["payment_method"]) == (200, None)

    other = await actors.new("clerk")
    colleagues_hold = (await book(other, event, hold=True, payment_method="card")).data
    confirmed = await clerk.post(f"{BOOKINGS}/{colleagues_hold['id']}/confirm", json={})
    assert confirmed.data["payment_method"] is None
    own_hold = (await book(clerk, event, hold=True, payment_method="card")).data
    confirmed = await clerk.post(f"{BOOKINGS}/{own_hold['id']}/confirm", json={})
    assert confirmed.data["payment_method"] == "card"


# --- how many seats a user may hold --------------------------------------------------------


async def test_a_user_holds_at_most_max_held_seats_across_events(
    user, clerk, config, make_event, db_execute
):
    most = config.max_held_seats
    one, two = await make_event(price="25.00"), await make_event(price="25.00")
    first = (await book(user, one, most - 3)).data
    await book(user, two, 3, hold=True)
    over = await book(user, two, 1)
    assert over.status == 409
    assert over.data == {"held_seats": most, "max_held_seats": most}
    assert "hold" in over.body["message"]
    assert await seats_left(user, two) == 97

    # A free event's sale holds nothing; staff are not limited.
    assert (await book(user, await make_event(price="0.00"), 2)).status == 201
    assert (await book(clerk, one, 5, hold=True)).status == 201

    # A cancelled or lapsed hold no longer counts.
    assert (await user.delete(f"{BOOKINGS}/{first['id']}")).status == 200
    assert (await book(user, one, 2)).status == 201
    db_execute("UPDATE bookings SET expires_at = now() - interval '1 second' WHERE user_id = %s",
               user.user_id)  # fmt: skip
    assert (await book(user, two, most)).status == 201


async def test_concurrent_holds_by_one_user_never_pass_the_limit(user, config, make_event, db_rows):
    """A storm of one-seat holds by one user on two events at once: exactly max_held_seats
    get through, whichever event they hit."""
    most = config.max_held_seats
    events = [await make_event(total_seats=100, price="25.00") for _ in range(2)]
    replies = await asyncio.gather(*(book(user, events[i % 2]) for i in range(3 * most)))
    statuses = sorted(r.status for r in replies)
    assert statuses == [201] * most + [409] * (2 * most), statuses
    assert all(r.data["max_held_seats"] == most for r in replies if r.status == 409)
    [(held,)] = db_rows(
        "SELECT coalesce(sum(quantity), 0) FROM bookings WHERE user_id = %s AND status = 'pending'",
        user.user_id,
    )
    assert held == most


# --- cancelling a used ticket ----------------------------------------------------------------


async def test_an_admitted_ticket_is_refunded_only_by_staff_overriding(
    user, clerk, admin, make_event
):
    event = await make_event(total_seats=5, price="0.00")
    sold = (await book(user, event, 2)).data
    assert (await clerk.post(f"{V1}/checkins", json={"code": sold["ticket_code"]})).status == 200
    url = f"{BOOKINGS}/{sold['id']}"

    for actor in (user, clerk):
        refused = await actor.delete(url)
        assert refused.status == 409
        assert "admitted" in refused.body["message"]
    sneaky = await user.delete(url, params={"override": "true"})
    assert (sneaky.status, sneaky.fields) == (403, ["override"])
    assert await seats_left(user, event) == 3

    overridden = await clerk.delete(url, params={"override": "true"})
    assert overridden.status == 200 and overridden.data["status"] == "cancelled"
    assert await seats_left(user, event) == 5
    record = (await audit_of(admin, sold["id"]))[0]
    assert record["action"] == "booking.cancel" and record["details"]["override"] is True


async def test_a_booking_of_a_started_event_is_refunded_only_by_staff_overriding(
    user, admin, make_event, db_execute
):
    event = await make_event(total_seats=5, price="0.00")
    sold = (await book(user, event)).data
    db_execute("UPDATE events SET date = now() - interval '1 minute' WHERE id = %s", event["id"])
    url = f"{BOOKINGS}/{sold['id']}"
    refused = await user.delete(url)
    assert refused.status == 409 and "started" in refused.body["message"]
    assert (await admin.delete(url)).status == 409
    assert (await admin.delete(url, params={"override": "true"})).status == 200


async def test_an_ordinary_cancel_records_no_override(user, admin, make_event):
    sold = (await book(user, await make_event(price="0.00"))).data
    assert (await user.delete(f"{BOOKINGS}/{sold['id']}")).status == 200
    record = (await audit_of(admin, sold["id"]))[0]
    assert record["action"] == "booking.cancel" and "override" not in record["details"]


async def test_the_client_cancels_with_an_override(client, clerk, make_event):
    event = await make_event(price="0.00")
    sold = (await book(clerk, event)).data
    assert (await clerk.post(f"{V1}/checkins", json={"code": sold["ticket_code"]})).status == 200
    async with Client(str(client.make_url(""))) as api:
        await api.login(clerk.username, PASSWORD)
        with pytest.raises(ApiError) as refused:
            await api.cancel(sold["id"])
        assert refused.value.status == 409
        cancelled = await api.cancel(sold["id"], override=True)
    assert cancelled.status == "cancelled"


async def test_the_override_is_documented(client):
    async with client.get(f"{V1}/openapi.json") as resp:
        spec = await resp.json()
    operation = spec["paths"][f"{BOOKINGS}/{{booking_id}}"]["delete"]
    assert [p["name"] for p in operation["parameters"] if p["in"] == "query"] == ["override"]
    assert "403" in operation["responses"]
