"""The typed API client (common/client.py) against a real server."""

from __future__ import annotations

import asyncio
import socket
import time
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import jwt
import pytest
from support import PASSWORD

from common.client import ApiError, Client, Connection, Unreachable
from common.models import (
    AuditRecord,
    Booking,
    EventCreate,
    EventPatch,
    LiveEvent,
    OrderCreate,
    OrderLine,
    ShiftReport,
)


@pytest.fixture
async def api(client):
    async with Client(str(client.make_url(""))) as api:
        yield api


async def test_counter_sale_round_trip(api, clerk, make_event):
    """Log in, list events, sell, look the booking up, cancel: typed models throughout."""
    event = await make_event(total_seats=10, title="Typed Night")
    tokens = await api.login(clerk.username, PASSWORD)
    assert tokens.role == "clerk" and api.role == "clerk"
    [listed] = await api.events(q="typed", upcoming=True)
    assert listed.id == event["id"] and listed.available_seats == 10

    sold = await api.book(listed.id, quantity=3, customer_name="Ann")
    assert sold.available_seats == 7 and sold.customer_name == "Ann"
    assert (await api.booking(sold.id)).status == "confirmed"
    assert [b.id for b in await api.event_bookings(listed.id)] == [sold.id]

    cancelled = await api.cancel(sold.id)
    assert cancelled.status == "cancelled" and cancelled.available_seats == 10


async def test_an_order_and_a_return_round_trip(api, clerk, make_event):
    """Place an order of one line, read it back, give one ticket back: typed throughout."""
    event = await make_event(total_seats=10, price="12.00")
    await api.login(clerk.username, PASSWORD)
    order = await api.place_order(
        OrderCreate(event_id=event["id"], lines=[OrderLine(quantity=3)], payment_method="cash")
    )
    assert order.available_seats == 7 and len(order.tickets) == 3
    assert [(line.quantity, line.amount) for line in order.lines] == [(3, Decimal("36.00"))]
    assert (await api.order(order.id)).tickets == order.tickets
    back = await api.return_tickets(order.id, [order.tickets[0].id])
    assert back.returned == 1 and back.refund == Decimal("12.00") and back.quantity == 2
    with pytest.raises(ApiError) as refused:
        await api.return_tickets(order.id, [order.tickets[0].id])
    assert refused.value.status == 409 and refused.value.data["ticket_ids"] == [order.tickets[0].id]


async def test_errors_carry_message_and_fields(api, user, make_event):
    event = await make_event(total_seats=1)
    await api.login(user.username, PASSWORD)
    with pytest.raises(ApiError) as bad:
        await api.book(event["id"], quantity=0)
    assert bad.value.status == 422 and "quantity" in bad.value.fields
    await api.book(event["id"])
    with pytest.raises(ApiError) as sold_out:
        await api.book(event["id"])
    assert sold_out.value.status == 409 and sold_out.value.message == "Sold out"
    with pytest.raises(ApiError) as forbidden:
        await api.create_event(
            EventCreate(title="x", date="2099-01-01T00:00:00Z", total_seats=1, price="1")
        )
    assert forbidden.value.status == 403


async def test_wrong_password_and_throttling(api, user, config):
    with pytest.raises(ApiError) as wrong:
        await api.login(user.username, "not the password")
    assert wrong.value.status == 401
    for _ in range(config.login_max_failures):
        with pytest.raises(ApiError):
            await api.login(user.username, "not the password")
    with pytest.raises(ApiError) as locked:
        await api.login(user.username, PASSWORD)
    assert locked.value.status == 429 and locked.value.retry_after


async def test_unreachable_server():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    async with Client(f"http://127.0.0.1:{port}") as api:
        with pytest.raises(Unreachable):
            await api.events()


async def test_expired_access_token_is_refreshed_inside(api, admin, config):
    """A request with a token the server rejects refreshes once and succeeds."""
    await api.login(admin.username, PASSWORD)
    now = int(time.time())
    expired = jwt.encode(
        {
            "sub": str(admin.user_id),
            "role": "admin",
            "typ": "access",
            "iat": now - 60,
            "exp": now - 1,
        },
        config.jwt_secret,
        algorithm="HS256",
    )
    api.tokens = api.tokens.model_copy(update={"access_token": expired})
    refresh_before = api.tokens.refresh_token
    event = await api.create_event(
        EventCreate(title="After refresh", date="2099-01-01T00:00:00Z", total_seats=5, price="2")
    )
    assert event.title == "After refresh"
    assert api.tokens.refresh_token != refresh_before
    updated = await api.update_event(event.id, EventPatch(price="3.50"))
    assert str(updated.price) == "3.50"


async def test_live_feed_yields_snapshot_then_changes(api, user, clerk, make_event):
    event = await make_event(total_seats=8)
    await api.login(user.username, PASSWORD)
    feed = api.live([event["id"]])
    assert await anext(feed) == Connection(True)
    snapshot = await anext(feed)
    assert isinstance(snapshot, LiveEvent) and snapshot.type == "snapshot"
    await clerk.post("/api/v1/bookings", json={"event_id": event["id"], "quantity": 2})
    change = await asyncio.wait_for(anext(feed), 5)
    assert change.type == "seats" and change.event.available_seats == 6
    await feed.aclose()


# --- box-office operations -------------------------------------------------------------


async def test_payment_hold_confirm_and_check_in(api, clerk, make_event):
    event = await make_event(total_seats=10, title="Door Night", price="5.00")
    await api.login(clerk.username, PASSWORD)

    sold = await api.book(event["id"], 2, "Ann", payment_method="card")
    assert sold.status == "confirmed" and sold.payment_method == "card"
    assert sold.ticket_code and sold.amount == Decimal("10.00")

    held = await api.book(event["id"], 3, "Bob", hold=True)
    assert held.status == "pending" and held.expires_at is not None
    assert held.ticket_code is None and held.available_seats == 5
    confirmed = await api.confirm(held.id, payment_method="cash")
    assert isinstance(confirmed, Booking)
    assert confirmed.status == "confirmed" and confirmed.payment_method == "cash"
    assert confirmed.ticket_code
    with pytest.raises(ApiError) as twice:
        await api.confirm(held.id)
    assert twice.value.status == 409

    admitted = await api.check_in(sold.ticket_code.lower(), gate="North door")
    # The order's code admits every ticket of the order at once.
    assert admitted.event_title == "Door Night" and admitted.event_checked_in == sold.quantity
    assert admitted.admitted == sold.quantity
    assert admitted.booking.id == sold.id and admitted.booking.checked_in_gate == "North door"
    with pytest.raises(ApiError) as again:
        await api.check_in(sold.ticket_code)
    assert again.value.status == 409 and "Already admitted" in again.value.message
    assert again.value.data["gate"] == "North door"
    assert again.value.data["checked_in_by"] == clerk.username
    with pytest.raises(ApiError) as unknown:
        await api.check_in("NOT-A-TICKET")
    assert unknown.value.status == 404


async def test_shift_report_as_json_and_csv(api, clerk, make_event):
    event = await make_event(total_seats=10, price="4.00")
    await api.login(clerk.username, PASSWORD)
    sold = await api.book(event["id"], 2, "Ann", payment_method="cash")
    start = datetime.now(UTC) - timedelta(hours=1)
    end = datetime.now(UTC) + timedelta(hours=1)

    report = await api.shift_report(date_from=start, date_to=end)
    assert isinstance(report, ShiftReport) and report.clerk == clerk.username
    assert [line.booking_id for line in report.bookings] == [sold.id]
    assert report.payments.cash.sold == Decimal("8.00")
    assert report.net_takings == Decimal("8.00")
    by_day = await api.shift_report(clerk=clerk.username, date_from=date.today())
    assert by_day.clerk == clerk.username

    csv = await api.shift_report_csv(date_from=start, date_to=end)
    assert isinstance(csv, str) and "Ann" in csv
    assert len(csv.splitlines()) > 1
    with pytest.raises(ApiError) as bad:
        await api.shift_report_csv(clerk="someone-else")
    assert bad.value.status in (403, 404)  # errors stay envelopes, CSV or not


async def test_audit_log_filters(api, admin, clerk, make_event):
    event = await make_event(total_seats=10)
    await api.login(clerk.username, PASSWORD)
    booking = await api.book(event["id"], 1, "Ann")
    await api.cancel(booking.id)
    with pytest.raises(ApiError) as forbidden:
        await api.audit()
    assert forbidden.value.status == 403

    await api.login(admin.username, PASSWORD)
    records = await api.audit(booking_id=booking.id)
    assert all(isinstance(r, AuditRecord) for r in records)
    assert [r.action for r in records] == ["booking.cancel", "booking.create"]  # newest first
    assert records[0].actor == clerk.username and records[0].event_id == event["id"]
    [cancel] = await api.audit(event_id=event["id"], action="booking.cancel")
    assert cancel.booking_id == booking.id
    assert len(await api.audit(limit=1)) == 1
    assert [r.id for r in await api.audit(booking_id=booking.id, skip=1)] == [records[1].id]


async def test_a_retry_with_the_same_idempotency_key_books_once(api, clerk, make_event, db_rows):
    event = await make_event(total_seats=10)
    await api.login(clerk.username, PASSWORD)
    first = await api.book(event["id"], 2, "Ann", idempotency_key="sale-42")
    again = await api.book(event["id"], 2, "Ann", idempotency_key="sale-42")
    assert again.id == first.id and again.available_seats == 8
    [(count,)] = db_rows("SELECT count(*) FROM bookings WHERE event_id = %s", event["id"])
    assert count == 1


async def test_retried_confirm_and_cancel_with_their_keys_answer_as_the_first_time(
    api, clerk, make_event
):
    """An answer lost on the way back is asked for again: with the same key the retry gets
    the first answer, not a 409 for a hold already confirmed or a booking already cancelled."""
    event = await make_event(total_seats=10)
    await api.login(clerk.username, PASSWORD)
    hold = await api.book(event["id"], 2, "Ann", hold=True)
    paid = await api.confirm(hold.id, "card", idempotency_key="pay-7")
    assert await api.confirm(hold.id, "card", idempotency_key="pay-7") == paid
    assert paid.status == "confirmed" and paid.ticket_code

    cancelled = await api.cancel(hold.id, idempotency_key="refund-7")
    assert await api.cancel(hold.id, idempotency_key="refund-7") == cancelled
    assert cancelled.available_seats == 10
    with pytest.raises(ApiError) as again:
        await api.cancel(hold.id)  # without a key, a second cancel is refused
    assert again.value.status == 409
