"""Check-in at the door: each ticket admits once, and a refusal says why."""

from __future__ import annotations

import asyncio
from typing import Any

CHECKINS = "/api/v1/checkins"
BOOKINGS = "/api/v1/bookings"


async def sold(clerk: Any, event_id: int, quantity: int = 2) -> dict[str, Any]:
    body = {"event_id": event_id, "quantity": quantity, "customer_name": "Ann"}
    reply = await clerk.post(BOOKINGS, json=body)
    assert reply.status == 201, reply.body
    return reply.data


async def test_a_ticket_admits_once_and_the_second_scan_says_when_and_where(clerk, make_event):
    event = await make_event(title="Door Night")
    booking = await sold(clerk, event["id"])
    first = await clerk.post(CHECKINS, json={"code": booking["ticket_code"], "gate": "North"})
    assert first.status == 200, first.body
    # The order's code admits every ticket of it: one per seat.
    seats = booking["quantity"]
    assert first.data["event_title"] == "Door Night" and first.data["event_checked_in"] == seats
    assert first.data["admitted"] == seats
    assert first.data["booking"]["checked_in_gate"] == "North"

    second = await clerk.post(CHECKINS, json={"code": booking["ticket_code"], "gate": "South"})
    assert second.status == 409
    message = second.body["message"]
    assert "Already admitted" in message and "North" in message and clerk.username in message
    assert second.data["gate"] == "North" and second.data["checked_in_by"] == clerk.username
    event_now = (await clerk.get(f"/api/v1/events/{event['id']}")).data
    assert event_now["checked_in"] == seats


async def test_codes_are_accepted_as_people_type_them(clerk, make_event):
    booking = await sold(clerk, (await make_event())["id"])
    code = booking["ticket_code"]
    typed = " ".join(code[i : i + 4] for i in range(0, len(code), 4)).lower()
    reply = await clerk.post(CHECKINS, json={"code": f"  {typed} "})
    assert reply.status == 200, reply.body


async def test_concurrent_scans_of_one_ticket_admit_it_once(clerk, admin, make_event):
    event = await make_event()
    booking = await sold(clerk, event["id"])
    scanners = [clerk, admin] * 10
    replies = await asyncio.gather(
        *(s.post(CHECKINS, json={"code": booking["ticket_code"]}) for s in scanners)
    )
    assert sorted(r.status for r in replies) == [200] + [409] * 19
    event_now = (await clerk.get(f"/api/v1/events/{event['id']}")).data
    assert event_now["checked_in"] == booking["quantity"]


async def test_cancelled_and_unknown_tickets_are_refused(clerk, make_event, db_rows):
    booking = await sold(clerk, (await make_event())["id"])
    await clerk.delete(f"{BOOKINGS}/{booking['id']}")
    cancelled = await clerk.post(CHECKINS, json={"code": booking["ticket_code"]})
    assert cancelled.status == 409 and "cancelled" in cancelled.body["message"]
    unknown = await clerk.post(CHECKINS, json={"code": "0" * 32})
    assert unknown.status == 404 and "Unknown ticket" in unknown.body["message"]
    [(records,)] = db_rows("SELECT count(*) FROM audit_log WHERE action = 'ticket.check_in'")
    assert records == 0


async def test_check_in_is_audited(clerk, make_event, db_rows):
    booking = await sold(clerk, (await make_event())["id"])
    await clerk.post(CHECKINS, json={"code": booking["ticket_code"], "gate": "Door 2"})
    rows = db_rows(
        "SELECT actor, source, details->>'gate' FROM audit_log "
        "WHERE action = 'ticket.check_in' AND booking_id = %s",
        booking["id"],
    )
    assert rows == [(clerk.username, "127.0.0.1", "Door 2")]


async def test_bad_check_in_input_is_422(clerk):
    for body, field in (
        ({}, "code"),
        ({"code": ""}, "code"),
        ({"code": "x", "gate": "g" * 65}, "gate"),
    ):
        reply = await clerk.post(CHECKINS, json=body)
        assert reply.status == 422, reply.body
        assert [e["field"] for e in reply.data["errors"]] == [field]
