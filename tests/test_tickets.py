"""Printable tickets: an HTML page per confirmed booking, with its code as a QR symbol."""

from __future__ import annotations

import html
import re
from typing import Any

import pytest
import zxingcpp
from support import call

V1 = "/api/v1"
BOOKINGS = f"{V1}/bookings"


def ticket_url(booking: dict[str, Any]) -> str:
    return f"{BOOKINGS}/{booking['id']}/ticket"


async def book(actor: Any, event: dict[str, Any], **body: Any) -> dict[str, Any]:
    reply = await actor.post(BOOKINGS, json={"event_id": event["id"], **body})
    assert reply.status == 201, reply.body
    return reply.data


async def page(client: Any, url: str, token: str | None = None) -> tuple[int, str, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with client.get(url, headers=headers) as resp:
        return resp.status, await resp.text(), resp


def grouped(code: str) -> str:
    return " ".join(code[i : i + 4] for i in range(0, len(code), 4))


def qr_symbols(text: str) -> list[str]:
    """The inline <svg> QR symbols of a page, a ticket's each."""
    return re.findall(r"<svg\b.*?</svg>", text, re.S)


def qr_symbol(text: str) -> str:
    """The one inline <svg> QR symbol of a page (an order of one ticket)."""
    found = qr_symbols(text)
    assert len(found) == 1, found
    return found[0]


def decode_qr(svg: str, scale: int = 8) -> str:
    """Draw segno's SVG path (unit modules: "M x y", "m dx dy", "h n") as a grayscale
    image and decode it with zxing-cpp, a reader that knows nothing of how it was made."""
    size = int(re.search(r'viewBox="0 0 (\d+) (\d+)"', svg).group(1))
    dark = [[False] * size for _ in range(size)]
    path = re.search(r'\sd="([^"]+)"', svg).group(1)
    x = y = 0.0
    for op, args in re.findall(r"([MmHh])([^MmHh]*)", path):
        nums = [float(n) for n in re.findall(r"-?\d+(?:\.\d+)?", args)]
        if op == "M":
            x, y = nums
        elif op == "m":
            x, y = x + nums[0], y + nums[1]
        else:
            run = nums[0] if op == "h" else nums[0] - x
            for col in range(int(x), int(x + run)):
                dark[int(y)][col] = True
            x += run
    width = size * scale
    pixels = bytearray(
        0 if dark[row // scale][col // scale] else 255
        for row in range(width)
        for col in range(width)
    )
    found = zxingcpp.read_barcodes(memoryview(pixels).cast("B", (width, width)))
    assert len(found) == 1, found
    assert found[0].format == zxingcpp.BarcodeFormat.QRCode
    return found[0].text


@pytest.mark.parametrize("viewer", ["owner", "clerk", "admin"])
async def test_ticket_page_shows_the_booking_and_a_qr_of_its_code(
    client, actors, make_event, viewer
):
    """The owner and staff get an HTML page: event, date, venue, seats, customer, booking
    number, amount, and a ticket per seat, each with its own code printed and as a QR
    symbol that decodes to it; the order's code (which admits them all) is printed once."""
    owner = await actors.new("user", username="alice")
    event = await make_event(title="Gala Night", venue="Grand Hall", price="12.50")
    held = await book(owner, event, quantity=3)  # a reservation, paid at the counter
    till = await actors.new("clerk")
    paid = await till.post(f"{BOOKINGS}/{held['id']}/confirm", json={"payment_method": "card"})
    booking = paid.data
    code = booking["ticket_code"]
    who = owner if viewer == "owner" else await actors.new(viewer)

    status, text, resp = await page(client, ticket_url(booking), who.token)

    assert status == 200
    assert resp.content_type == "text/html"
    assert "no-store" in resp.headers["Cache-Control"]
    assert resp.headers["Referrer-Policy"] == "no-referrer"
    assert "<title>Ticket: Gala Night</title>" in text
    for shown in ("Gala Night", "Grand Hall", "2099", "3 seats", "alice", "37.50"):
        assert shown in text, shown
    assert f"No. {booking['id']}" in text
    assert grouped(code) in text
    tickets = (await till.get(f"{V1}/orders/{booking['id']}")).data["tickets"]
    codes = [t["code"] for t in tickets]
    assert len(set(codes)) == 3 and code not in codes
    assert [decode_qr(svg) for svg in qr_symbols(text)] == codes
    for ticket_code in codes:
        assert grouped(ticket_code) in text
    assert text.count("General admission") == 3
    assert "admission ticket 3 of 3" in text


async def test_a_seated_orders_page_names_each_seat_and_leaves_out_returned_ones(
    clerk, seated_event
):
    """One ticket a seat, labelled as on the seat map; a ticket given back is not on it."""
    event = await seated_event()
    picked = [event["seats"]["B4"], event["seats"]["B6"]]
    placed = await clerk.post(
        f"{V1}/orders",
        json={"event_id": event["id"], "lines": [{"seat_ids": picked}], "payment_method": "cash"},
    )
    assert placed.status == 201, placed.body
    order = placed.data
    back = await clerk.post(
        f"{V1}/orders/{order['id']}/returns", json={"ticket_ids": [order["tickets"][1]["id"]]}
    )
    assert back.status == 200, back.body

    _, text, _ = await page(clerk.client, ticket_url(order), clerk.token)

    kept, returned = order["tickets"]
    assert 'class="seat">Stalls B4<' in text
    assert [decode_qr(svg) for svg in qr_symbols(text)] == [kept["code"]]
    assert grouped(returned["code"]) not in text
    assert "1 seat<" in text


async def test_walk_in_ticket_carries_the_customers_name_escaped(clerk, make_event):
    """A counter sale's ticket names the walk-in customer, as text (never as markup)."""
    event = await make_event(title="Jazz & Blues <Live>")
    booking = await book(
        clerk, event, customer_name="Bob <script>alert(1)</script>", payment_method="cash"
    )
    status, text, _ = await page(clerk.client, ticket_url(booking), clerk.token)
    assert status == 200
    assert "<script>" not in text
    assert html.escape("Bob <script>alert(1)</script>", quote=False) in text
    assert "Jazz &amp; Blues &lt;Live&gt;" in text
    assert "(cash)" in text


async def test_ticket_of_a_confirmed_hold(clerk, make_event):
    """A hold gets its ticket once confirmed, with the code issued then."""
    event = await make_event()
    held = await book(clerk, event, hold=True, customer_name="Carol")
    confirmed = await clerk.post(
        f"{BOOKINGS}/{held['id']}/confirm", json={"payment_method": "card"}
    )
    assert confirmed.status == 200, confirmed.body
    status, text, _ = await page(clerk.client, ticket_url(held), clerk.token)
    assert status == 200
    order = (await clerk.get(f"{V1}/orders/{held['id']}")).data
    assert decode_qr(qr_symbol(text)) == order["tickets"][0]["code"]
    assert grouped(confirmed.data["ticket_code"]) in text
    assert "Carol" in text


async def test_another_users_ticket_is_not_found(actors, make_event):
    """Someone else's booking is a 404, as for GET /bookings/{id}: ids reveal nothing."""
    owner, other = await actors.new("user"), await actors.new("user")
    booking = await book(owner, await make_event(price="0"))
    reply = await other.get(ticket_url(booking))
    assert reply.status == 404
    assert booking["ticket_code"] not in str(reply.body)
    assert (await other.get(f"{BOOKINGS}/999999/ticket")).status == 404


async def test_bad_booking_id_is_422(user):
    reply = await user.get(f"{BOOKINGS}/abc/ticket")
    assert reply.status == 422
    assert reply.fields == ["booking_id"]


async def test_only_confirmed_bookings_have_tickets(user, clerk, make_event, db_execute):
    """A pending hold, a cancelled and an expired booking have no ticket: 409 saying why."""
    event = await make_event(price="0")
    held = await book(user, event, hold=True)
    cancelled = await book(user, event)
    assert (await user.delete(f"{BOOKINGS}/{cancelled['id']}")).status == 200
    expired = await book(user, event, hold=True)
    # Expired as the sweep would: the hold's seats go back on sale.
    db_execute(
        "WITH gone AS (UPDATE bookings SET status = 'expired' WHERE id = %s"
        " RETURNING event_id, quantity)"
        " UPDATE events SET available_seats = available_seats + gone.quantity"
        " FROM gone WHERE events.id = gone.event_id",
        expired["id"],
    )

    for booking, status in ((held, "pending"), (cancelled, "cancelled"), (expired, "expired")):
        for viewer in (user, clerk):
            reply = await viewer.get(ticket_url(booking))
            assert reply.status == 409, (status, reply.body)
            assert reply.data == {"status": status}
    assert "confirm" in (await user.get(ticket_url(held))).body["message"]


async def test_a_cancelled_tickets_page_is_gone(user, make_event):
    """The page answers while the booking stands and stops when it is cancelled."""
    booking = await book(user, await make_event(price="0"))
    assert (await page(user.client, ticket_url(booking), user.token))[0] == 200
    assert (await user.delete(f"{BOOKINGS}/{booking['id']}")).status == 200
    assert (await user.get(ticket_url(booking))).status == 409


async def test_ticket_needs_a_token(client, user, make_event):
    """No token is a 401 envelope; a browser may pass the access token as ?token=."""
    booking = await book(user, await make_event(price="0"))
    url = ticket_url(booking)
    reply = await call(client, "GET", url)
    assert reply.status == 401
    assert reply.headers["WWW-Authenticate"] == "Bearer"

    status, text, resp = await page(client, f"{url}?token={user.token}")
    assert status == 200 and resp.content_type == "text/html"
    assert grouped(booking["ticket_code"]) in text

    assert (await call(client, "GET", f"{url}?token=not-a-token")).status == 401


async def test_query_token_does_not_override_the_header(actors, make_event):
    """With both, the Authorization header decides: a stranger's header is still a 404."""
    owner, stranger = await actors.new("user"), await actors.new("user")
    booking = await book(owner, await make_event(price="0"))
    reply = await stranger.get(f"{ticket_url(booking)}?token={owner.token}")
    assert reply.status == 404


async def test_checked_in_ticket_says_so(clerk, make_event):
    """A reprint of an admitted ticket shows when and where it was admitted."""
    booking = await book(clerk, await make_event(), customer_name="Dan")
    admitted = await clerk.post(
        f"{V1}/checkins", json={"code": booking["ticket_code"], "gate": "North door"}
    )
    assert admitted.status == 200, admitted.body
    _, text, _ = await page(clerk.client, ticket_url(booking), clerk.token)
    assert "Admitted" in text and "North door" in text


async def test_ticket_is_documented_as_html(client):
    """The OpenAPI document says the ticket is an HTML page and errors are envelopes."""
    async with client.get(f"{V1}/openapi.json") as resp:
        doc = await resp.json()
    op = doc["paths"][f"{BOOKINGS}/{{booking_id}}/ticket"]["get"]
    assert set(op["responses"]["200"]["content"]) == {"text/html"}
    assert "application/json" in op["responses"]["409"]["content"]
    assert op["x-roles"] == ["admin", "clerk", "user"]
    assert "token" in [p["name"] for p in op["parameters"] if p["in"] == "query"]
