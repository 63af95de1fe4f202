"""POST /orders/{id}/prints: every print at the counter is in the audit log, reprints as such."""

from __future__ import annotations

from typing import Any

from support import PASSWORD

from common.client import Client

V1 = "/api/v1"


async def sell(clerk: Any, event: dict[str, Any], **body: Any) -> dict[str, Any]:
    body = {"event_id": event["id"], "payment_method": "cash", "lines": [{"quantity": 1}], **body}
    reply = await clerk.post(f"{V1}/orders", json=body)
    assert reply.status == 201, reply.body
    return reply.data


def prints_url(order: dict[str, Any]) -> str:
    return f"{V1}/orders/{order['id']}/prints"


async def print_records(admin: Any, order: dict[str, Any]) -> list[dict[str, Any]]:
    reply = await admin.get(f"{V1}/audit?booking_id={order['id']}&action=ticket")
    assert reply.status == 200, reply.body
    return list(reversed(reply.data))  # oldest first


async def test_a_print_then_a_copy_are_audited_as_print_and_reprint(clerk, admin, make_event):
    """The first print of an order's tickets is ticket.print; printing them again is a
    ticket.reprint even if the terminal does not say so; the receipt is counted apart."""
    order = await sell(clerk, await make_event(), lines=[{"quantity": 2}])

    first = await clerk.post(prints_url(order), json={"what": "tickets"})
    again = await clerk.post(prints_url(order), json={"what": "tickets", "reprint": False})
    receipt = await clerk.post(prints_url(order), json={"what": "receipt"})

    assert first.status == 201, first.body
    assert first.data["action"] == "ticket.print" and first.data["reprint"] is False
    assert again.data["action"] == "ticket.reprint" and again.data["printed_before"] == 1
    assert receipt.data["action"] == "ticket.print" and receipt.data["what"] == "receipt"
    records = await print_records(admin, order)
    assert [(r["action"], r["details"]["what"]) for r in records] == [
        ("ticket.print", "tickets"),
        ("ticket.reprint", "tickets"),
        ("ticket.print", "receipt"),
    ]
    assert {r["actor"] for r in records} == {clerk.username}
    assert records[0]["event_id"] == order["event_id"]


async def test_a_reprint_asked_for_is_recorded_as_one(clerk, admin, make_event):
    order = await sell(clerk, await make_event())
    reply = await clerk.post(prints_url(order), json={"what": "receipt", "reprint": True})
    assert reply.status == 201 and reply.data["action"] == "ticket.reprint"
    assert [r["action"] for r in await print_records(admin, order)] == ["ticket.reprint"]


async def test_a_holds_tickets_do_not_print_but_its_receipt_does(clerk, admin, make_event):
    """A hold's tickets have no codes yet: 409 and nothing recorded; its receipt prints."""
    held = await sell(clerk, await make_event(), hold=True)
    refused = await clerk.post(prints_url(held), json={"what": "tickets"})
    assert refused.status == 409, refused.body
    assert refused.data == {"status": "pending"}
    assert (await clerk.post(prints_url(held), json={"what": "receipt"})).status == 201
    assert [r["details"]["what"] for r in await print_records(admin, held)] == ["receipt"]


async def test_prints_are_for_staff_and_for_orders_that_exist(user, clerk, make_event):
    order = await sell(clerk, await make_event())
    own = await user.post(
        f"{V1}/orders", json={"event_id": order["event_id"], "lines": [{"quantity": 1}]}
    )
    assert own.status == 201, own.body
    assert (await user.post(prints_url(own.data), json={"what": "tickets"})).status == 403
    missing = await clerk.post(f"{V1}/orders/999999/prints", json={"what": "tickets"})
    assert missing.status == 404
    bad = await clerk.post(prints_url(order), json={"what": "poster"})
    assert bad.status == 422 and bad.fields == ["what"]


async def test_the_client_records_a_print(client, clerk, make_event):
    """The typed client's call, as the terminal makes it."""
    order = await sell(clerk, await make_event())
    async with Client(str(client.make_url(""))) as api:
        await api.login(clerk.username, PASSWORD)
        record = await api.record_print(order["id"], "tickets")
        assert record.action == "ticket.print" and record.order_id == order["id"]
        record = await api.record_print(order["id"], "tickets", reprint=True)
        assert record.reprint and record.printed_before == 1


async def test_prints_are_documented(client):
    async with client.get(f"{V1}/openapi.json") as resp:
        doc = await resp.json()
    op = doc["paths"][f"{V1}/orders/{{order_id}}/prints"]["post"]
    assert op["x-roles"] == ["admin", "clerk"]
    assert set(op["responses"]) >= {"201", "403", "404", "409", "422"}
