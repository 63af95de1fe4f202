"""Orders at the counter: an order's lines and tickets in the bookings screen, giving some
tickets back (the refund, how it is paid back, the staff override), the cancel
confirmation's refund, the bookings keys in the footer, and check-in of an order's code;
driven by Textual's pilot against a real server and database."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from support import add_type, place_order
from textual.widgets import Checkbox, SelectionList
from textual.widgets._footer import FooterKey
from tui_support import Notices, go_to, on_bookings, rows, running, text, until

from tui.app import BoxofficeApp
from tui.screens.bookings import BookingsScreen
from tui.screens.checkin import CheckInScreen
from tui.screens.confirm import ConfirmScreen
from tui.screens.order_detail import OrderScreen, ReturnScreen

SMALL = (80, 24)  # the classic terminal: the order dialog must work there


async def order_of(actor: Any, **order: Any) -> dict[str, Any]:
    """Place an order through the API (the scene set behind the app); its answer."""
    reply = await place_order(actor, **order)
    assert reply.status == 201, reply.body
    return reply.data


async def open_order(pilot: Any) -> OrderScreen:
    """Enter on the selected booking: the order dialog, once its tickets are listed."""
    screen = await go_to(pilot, OrderScreen, "enter")
    await until(pilot, lambda: screen.order is not None)
    return screen


def tickets(screen: OrderScreen) -> list[str]:
    """The ticket list's rows, as shown."""
    picker = screen.query_one(SelectionList)
    return [str(picker.get_option_at_index(i).prompt) for i in range(picker.option_count)]


async def test_a_general_admission_order_shows_its_lines_and_tickets(tui, clerk, admin, make_event):
    event = await make_event(title="Open Floor", total_seats=20, price="20.00")
    child = await add_type(admin, event["id"], "Child", price=Decimal("8.50"))
    order = await order_of(
        clerk,
        event_id=event["id"],
        lines=[{"quantity": 2}, {"ticket_type_id": child, "quantity": 1}],
        customer_name="Ada Lovelace",
        payment_method="card",
    )
    app = tui(clerk)
    async with on_bookings(app, listed=1) as (pilot, _screen, _table):
        screen = await open_order(pilot)
        assert text(screen.query_one(".title")) == f"Order #{order['id']} · Ada Lovelace"
        summary = text(screen.query_one("#order-summary"))
        assert "Open Floor" in summary and "Paid 48.50 by card" in summary
        lines = text(screen.query_one("#order-lines")).splitlines()
        assert lines[0].split() == ["Standard", "2", "x", "20.00", "40.00"]
        assert lines[1].split() == ["Child", "1", "x", "8.50", "8.50"]
        listed = tickets(screen)
        assert len(listed) == 3
        assert all(r.startswith("General admission") and r.endswith("valid") for r in listed)
        assert [r.split()[2] for r in listed] == ["Standard", "Standard", "Child"]
        # The highlighted ticket's code in full, in groups of four, to read aloud.
        first = order["tickets"][0]["code"]
        assert f"code {' '.join(first[i : i + 4] for i in range(0, 32, 4))}" in text(
            screen.query_one("#ticket-detail")
        )


async def test_a_seated_order_shows_seats_zones_and_prices(tui, clerk, admin, seated_event):
    event = await seated_event()
    child = await add_type(admin, event["id"], "Child", zone_prices={"A": "20.00", "B": "10.00"})
    seats = event["seats"]
    await order_of(
        clerk,
        event_id=event["id"],
        lines=[
            {"seat_ids": [seats["A1"], seats["A2"]]},
            {"ticket_type_id": child, "seat_ids": [seats["C1"]]},
        ],
        customer_name="Grace Hopper",
        payment_method="cash",
    )
    app = tui(clerk)
    async with on_bookings(app, listed=1, size=SMALL) as (pilot, _screen, _table):
        screen = await open_order(pilot)
        lines = text(screen.query_one("#order-lines")).splitlines()
        assert lines[0].split() == ["Standard", "·", "zone", "A", "2", "x", "50.00", "100.00"]
        assert lines[1].split() == ["Child", "·", "zone", "B", "1", "x", "10.00", "10.00"]
        listed = tickets(screen)
        assert [r.split()[:3] for r in listed] == [
            ["Stalls", "A1", "Standard"],
            ["Stalls", "A2", "Standard"],
            ["Stalls", "C1", "Child"],
        ]
        assert "Paid 110.00 by cash" in text(screen.query_one("#order-summary"))
        # Everything fits the classic terminal: the buttons are on screen.
        assert screen.query_one("#give-back").region.bottom <= SMALL[1]


async def test_the_largest_order_fits_the_classic_terminal(tui, clerk, make_event):
    """Ten tickets (the most an order has) at 80x24: the list scrolls, the buttons stay."""
    event = await make_event(title="Family Day", total_seats=20, price="5.00")
    await order_of(clerk, event_id=event["id"], lines=[{"quantity": 10}], payment_method="cash")
    app = tui(clerk)
    async with on_bookings(app, listed=1, size=SMALL) as (pilot, _screen, _table):
        screen = await open_order(pilot)
        picker = screen.query_one(SelectionList)
        await until(pilot, lambda: picker.option_count == 10)
        button = screen.query_one("#give-back")
        # The list is fitted once the dialog is laid out.
        await until(pilot, lambda: 3 <= picker.region.height < 10)
        assert button.region.bottom <= SMALL[1] - 1
        await pilot.press("a")  # every ticket picked, the list scrolled by keyboard
        assert len(picker.selected) == 10
        asked = await go_to(pilot, ReturnScreen, "r")
        listed = text(asked.query_one("#give-back-tickets"))
        assert listed == "10 x General admission · Standard · 5.00"
        assert "Refund 50.00 by cash." in text(asked.query_one("#refund"))


async def test_giving_back_one_ticket_of_three(tui, clerk, seated_event, db_rows):
    """One of three tickets back: picked with the mouse, refunded by card though the sale
    was cash; the dialog says what was returned and the refund, the ticket shows
    returned, and the seat is on sale again."""
    event = await seated_event()
    seats = [event["seats"][label] for label in ("A1", "A2", "A3")]
    order = await order_of(
        clerk,
        event_id=event["id"],
        lines=[{"seat_ids": seats}],
        customer_name="Alan Turing",
        payment_method="cash",
    )
    app = tui(clerk)
    notices = Notices()
    async with on_bookings(app, listed=1, notices=notices, size=SMALL) as (pilot, _, table):
        await until(pilot, lambda: event["id"] in app.store.events)
        before = app.store.events[event["id"]].available_seats
        screen = await open_order(pilot)

        await pilot.press("r")  # nothing picked yet: said so, nothing asked
        assert "Pick the tickets" in text(screen.query_one("#order-message"))
        assert app.screen is screen

        await pilot.click("#order-tickets", offset=(10, 1))  # the second ticket: A2
        assert screen.query_one(SelectionList).selected == [order["tickets"][1]["id"]]

        asked = await go_to(pilot, ReturnScreen, "r")
        assert "Refund 50.00 by cash." in text(asked.query_one("#refund"))  # as it was paid
        await pilot.click("#refund-card")
        assert "Refund 50.00 by card." in text(asked.query_one("#refund"))
        sure = await go_to(pilot, ConfirmScreen, "g")
        question = text(sure.query_one(".question"))
        assert "Give back 1 ticket of order" in question and "Stalls A2" in question
        assert "Refund 50.00 by card." in question
        await pilot.press("y")

        said = "Gave back 1 ticket (Stalls A2); refund 50.00 by card."
        await until(pilot, lambda: text(screen.query_one("#order-message")) == said)
        assert said in notices.messages
        assert [r.split()[-1] for r in tickets(screen)] == ["valid", "returned", "valid"]
        assert "1 returned" in text(screen.query_one("#order-lines"))
        assert "Paid 150.00 by cash, 50.00 refunded" in text(screen.query_one("#order-summary"))
        await until(pilot, lambda: app.store.events[event["id"]].available_seats == before + 1)

        # Picking them all picks those still held: a returned ticket is not given back twice.
        await pilot.press("a")
        asked = await go_to(pilot, ReturnScreen, "r")
        assert text(asked.query_one("#give-back-tickets")).splitlines() == [
            "Stalls A1 · Standard · 50.00",
            "Stalls A3 · Standard · 50.00",
        ]
        await pilot.press("escape")
        await until(pilot, lambda: app.screen is screen)

        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, BookingsScreen))
        assert rows(table)[0].split()[3] == "2"  # two seats still held
    [(status, refund, method)] = db_rows(
        "SELECT t.release, t.refund, t.refund_method FROM tickets t WHERE t.id = %s",
        order["tickets"][1]["id"],
    )
    assert (status, refund, method) == ("returned", Decimal("50.00"), "card")


async def test_the_open_order_shows_a_return_made_elsewhere_and_keeps_the_picks(
    tui, clerk, admin, make_event
):
    """A clerk has an order open with a ticket picked; another gives a different ticket of
    it back at another counter: the dialog shows it returned, says the order changed, and
    the picked ticket is still picked."""
    event = await make_event(title="Open Floor", total_seats=20, price="20.00")
    order = await order_of(
        clerk, event_id=event["id"], lines=[{"quantity": 3}], payment_method="card"
    )
    first, _, third = (t["id"] for t in order["tickets"])
    app = tui(clerk)
    async with on_bookings(app, listed=1) as (pilot, _, _table):
        screen = await open_order(pilot)
        await pilot.press("down", "down", "space")
        assert screen.query_one(SelectionList).selected == [third]

        elsewhere = await admin.post(
            f"/api/v1/orders/{order['id']}/returns", json={"ticket_ids": [first]}
        )
        assert elsewhere.status == 200, elsewhere.body
        await until(pilot, lambda: tickets(screen)[0].endswith("returned"))
        assert [r.split()[-1] for r in tickets(screen)] == ["returned", "valid", "valid"]
        assert "changed meanwhile" in text(screen.query_one("#order-message"))
        assert screen.query_one(SelectionList).selected == [third]
        assert "20.00 refunded" in text(screen.query_one("#order-summary"))


async def test_an_admitted_ticket_is_given_back_only_with_the_override(
    tui, clerk, make_event, db_rows
):
    event = await make_event(title="Door Night", total_seats=10, price="15.00")
    order = await order_of(
        clerk, event_id=event["id"], lines=[{"quantity": 2}], payment_method="cash"
    )
    admitted = order["tickets"][0]
    assert (await clerk.post("/api/v1/checkins", json={"code": admitted["code"]})).status == 200
    app = tui(clerk)
    async with on_bookings(app, listed=1, size=SMALL) as (pilot, _screen, _table):
        screen = await open_order(pilot)
        assert tickets(screen)[0].endswith("checked in")
        await pilot.press("space")
        asked = await go_to(pilot, ReturnScreen, "r")
        override = asked.query_one("#override", Checkbox)
        assert "Staff override: 1 ticket already checked in" in str(override.label)
        await pilot.press("g")  # not ticked: refused here, nothing sent
        assert "Tick the staff override" in text(asked.query_one("#give-back-message"))
        assert app.screen is asked

        await pilot.click("#override")
        sure = await go_to(pilot, ConfirmScreen, "g")
        assert "Staff override" in text(sure.query_one(".question"))
        await pilot.press("y")
        await until(pilot, lambda: tickets(screen)[0].endswith("returned"))
    [(details,)] = db_rows(
        "SELECT details FROM audit_log WHERE action = 'booking.return' AND booking_id = %s",
        order["id"],
    )
    assert details["override"] is True


async def test_the_cancel_confirmation_says_the_refund_and_how(tui, clerk, make_event):
    """After one ticket of two was given back, cancelling refunds the other one's price,
    as the sale was paid; the confirmation and the notice say so."""
    event = await make_event(title="Refund Night", total_seats=10, price="20.00")
    order = await order_of(
        clerk, event_id=event["id"], lines=[{"quantity": 2}], payment_method="card"
    )
    one = order["tickets"][0]["id"]
    reply = await clerk.post(f"/api/v1/orders/{order['id']}/returns", json={"ticket_ids": [one]})
    assert reply.status == 200, reply.body
    app = tui(clerk)
    notices = Notices()
    async with on_bookings(app, listed=1, notices=notices) as (pilot, _screen, table):
        sure = await go_to(pilot, ConfirmScreen, "c")
        question = text(sure.query_one(".question"))
        assert f"Cancel booking #{order['id']}: 1 ticket?" in question
        assert "Refund 20.00 by card." in question
        await pilot.press("y")
        await until(pilot, lambda: "cancelled" in rows(table)[0])
        assert any("refund 20.00 by card" in m for m in notices.messages), notices.messages


async def test_a_hold_is_cancelled_with_no_refund(tui, clerk, make_event):
    event = await make_event(title="Held Night", total_seats=10, price="20.00")
    await order_of(clerk, event_id=event["id"], lines=[{"quantity": 3}], hold=True)
    app = tui(clerk)
    async with on_bookings(app, listed=1) as (pilot, _screen, _table):
        sure = await go_to(pilot, ConfirmScreen, "c")
        assert "Nothing was paid (a hold): no refund." in text(sure.query_one(".question"))


def footer_keys(app: BoxofficeApp) -> set[str]:
    return {key.description for key in app.screen.query(FooterKey)}


async def test_the_bookings_keys_show_on_opening(tui, clerk, make_event):
    """The screen opens on the table, so its keys are in the footer at once, with the
    area keys; in the search box they are letters, and Esc comes back."""
    event = await make_event(title="Key Night")
    await order_of(clerk, event_id=event["id"], lines=[{"quantity": 1}])
    app = tui(clerk)
    async with on_bookings(app, listed=1) as (pilot, screen, table):
        assert table.has_focus
        await until(pilot, lambda: "Cancel booking" in footer_keys(app))
        shown = footer_keys(app)
        assert {"Tickets", "Confirm hold", "Cancel booking", "Reload", "Search"} <= shown
        assert {"Events", "Check-in", "Shift"} <= shown
        assert "Bookings" not in shown  # the area shown
        assert "Dashboard" not in shown  # an admin's area: not for a clerk

        await pilot.press("slash", "k", "e", "y")
        assert screen.query_one("#booking-search").has_focus
        await until(pilot, lambda: "Cancel booking" not in footer_keys(app))
        await pilot.press("escape")
        assert table.has_focus
        await until(pilot, lambda: "Cancel booking" in footer_keys(app))


async def test_an_order_code_admits_all_its_tickets_and_says_how_many(
    tui, clerk, admin, seated_event
):
    event = await seated_event()
    child = await add_type(admin, event["id"], "Child", zone_prices={"A": "20.00", "B": "10.00"})
    seats = event["seats"]
    family = await order_of(
        clerk,
        event_id=event["id"],
        lines=[
            {"seat_ids": [seats["B1"], seats["B2"]]},
            {"ticket_type_id": child, "seat_ids": [seats["B3"]]},
        ],
        customer_name="The Hoppers",
        payment_method="cash",
    )
    single = await order_of(
        clerk, event_id=event["id"], lines=[{"seat_ids": [seats["A7"]]}], payment_method="card"
    )
    app = tui(clerk)
    async with running(app, SMALL) as pilot:
        screen = await go_to(pilot, CheckInScreen, "f5")

        async def scan(code: str) -> str:
            scans = len(screen.history)
            await pilot.press(*code, "enter")
            await until(pilot, lambda: len(screen.history) == scans + 1)
            return text(screen.query_one("#checkin-result"))

        shown = await scan(family["ticket_code"])
        assert "3 tickets admitted: 2 Standard, 1 Child" in shown
        assert "Stalls B1, B2, B3" in shown and "The Hoppers" in shown
        assert "3 in for this event" in shown

        # A ticket's own code: that one ticket, and its seat.
        shown = await scan(single["tickets"][0]["code"].lower())
        assert "1 ticket admitted: Standard" in shown and "Stalls A7" in shown

        # A refused code is echoed as it was typed, not regrouped.
        shown = await scan("B0A5 -1DB 1-ED")
        assert "Code B0A5 -1DB 1-ED" in shown
