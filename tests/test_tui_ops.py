"""Box-office operations in the terminal: payment methods and holds in the sell dialog,
confirming holds, check-in at the door, the shift report and the audit log; driven by
Textual's pilot against a real server and database."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from textual.widgets import DataTable, Input, OptionList, RadioSet
from tui_support import (
    Notices,
    go_to,
    kept_out,
    on_bookings,
    rows,
    running,
    select_row,
    sell,
    text,
    until,
)

from tui.app import BoxofficeApp
from tui.formatting import ticket_code
from tui.screens.audit import AuditScreen, parse_filter
from tui.screens.bookings import BookingsScreen
from tui.screens.checkin import CheckInScreen
from tui.screens.confirm import PaymentScreen
from tui.screens.dashboard import DashboardScreen
from tui.screens.events import EventsScreen
from tui.screens.help import HelpScreen
from tui.screens.sell import ReceiptScreen, SellScreen
from tui.screens.shift import ShiftScreen
from tui.settings import Settings
from tui.widgets.bookings_table import BookingsTable
from tui.widgets.gauge import SeatGauge

SMALL = (80, 24)  # the classic terminal


async def open_sell_dialog(pilot: Any, quantity: str, customer: str) -> SellScreen:
    screen = await go_to(pilot, SellScreen, "enter")
    await pilot.press("backspace", *quantity, "enter", *customer)
    return screen


# --- selling: payment and holds -------------------------------------------------------


async def test_sale_paid_by_card_shows_the_ticket_code(tui, clerk, make_event):
    await make_event(title="Card Night", total_seats=10, price="12.50")
    app = tui(clerk)
    async with running(app, SMALL) as pilot:
        sell_screen = await open_sell_dialog(pilot, "2", "Grace Hopper")
        assert sell_screen.payment_method == "cash"  # the default
        await pilot.click("#pay-card")
        assert sell_screen.payment_method == "card"
        await pilot.click("#sell-confirm")
        await until(pilot, lambda: isinstance(app.screen, ReceiptScreen))
        receipt = app.screen
        booking = (await clerk.get(f"/api/v1/bookings/{receipt.booking.id}")).data
        assert booking["payment_method"] == "card" and booking["status"] == "confirmed"
        code = booking["ticket_code"]
        assert code and f"Ticket    {ticket_code(code)}" == text(receipt.query_one("#ticket-code"))
        assert ticket_code(code).split() == [code[i : i + 4] for i in range(0, len(code), 4)]
        assert "Sold" in text(receipt.query_one(".title"))
        assert "25.00" in text(receipt.query_one("#receipt-body"))
        assert "paid by card" in text(receipt.query_one("#receipt-body"))

        # The next sale starts from the method chosen last.
        await go_to(pilot, EventsScreen, "enter")
        sell_screen = await go_to(pilot, SellScreen, "enter")
        assert sell_screen.payment_method == "card"
        pressed = sell_screen.query_one(RadioSet).pressed_button
        assert pressed is not None and pressed.id == "pay-card"


async def test_enter_sells_with_the_payment_chosen_by_keyboard(tui, clerk, make_event):
    await make_event(title="Keyboard Night", total_seats=10)
    app = tui(clerk)
    async with running(app, SMALL) as pilot:
        sell_screen = await open_sell_dialog(pilot, "1", "Ada")
        await pilot.press("tab")  # from the customer to the payment choice
        assert sell_screen.query_one(RadioSet).has_focus
        await pilot.press("right", "right", "enter")
        assert sell_screen.payment_method == "other"
        # Back to the customer: Enter sells.
        receipt = await go_to(pilot, ReceiptScreen, "shift+tab", "enter")
        reply = await clerk.get(f"/api/v1/bookings/{receipt.booking.id}")
        assert reply.data["payment_method"] == "other"


async def test_hold_shows_when_it_lapses_and_is_confirmed_from_bookings(tui, clerk, make_event):
    event = await make_event(title="Hold Night", total_seats=10, price="20.00")
    app = tui(clerk)
    async with running(app, SMALL) as pilot:
        await open_sell_dialog(pilot, "3", "Alan Turing")
        await pilot.click("#sell-hold")
        await until(pilot, lambda: isinstance(app.screen, ReceiptScreen))
        receipt = app.screen
        held = (await clerk.get(f"/api/v1/bookings/{receipt.booking.id}")).data
        assert held["status"] == "pending" and held["ticket_code"] is None
        until_local = datetime.fromisoformat(held["expires_at"]).astimezone()
        assert text(receipt.query_one(".title")) == f"HELD until {until_local:%H:%M}"
        assert f"#{held['id']}" in text(receipt.query_one("#reference"))
        assert "to pay" in text(receipt.query_one("#receipt-body"))
        await until(pilot, lambda: app.store.events[event["id"]].available_seats == 7)

        screen = await go_to(pilot, BookingsScreen, "enter", "f3")
        table = screen.query_one(BookingsTable)
        await until(pilot, lambda: table.row_count == 1)
        assert f"held till {until_local:%H:%M}" in rows(table)[0]
        table.focus()
        assert "to pay by" in text(screen.query_one("#booking-detail"))

        await go_to(pilot, PaymentScreen, "p")
        await pilot.press("2")  # card
        await until(pilot, lambda: app.screen is screen)
        await until(pilot, lambda: "confirmed" in rows(table)[0])
        confirmed = (await clerk.get(f"/api/v1/bookings/{held['id']}")).data
        assert confirmed["status"] == "confirmed" and confirmed["payment_method"] == "card"
        assert ticket_code(confirmed["ticket_code"]) in text(screen.query_one("#booking-detail"))
        assert app.payment_method == "card"

        await pilot.press("p")  # not a hold any more
        await pilot.pause(0.1)
        assert app.screen is screen
    assert (await clerk.get(f"/api/v1/events/{event['id']}")).data["available_seats"] == 7


async def test_confirming_a_hold_can_be_put_off(tui, clerk, make_event):
    event = await make_event(title="Undecided Night")
    held = await sell(clerk, event, 1, "Ada", hold=True)
    app = tui(clerk)
    async with on_bookings(app, listed=1) as (pilot, screen, table):
        table.focus()
        await go_to(pilot, PaymentScreen, "p")
        await pilot.press("escape")
        await until(pilot, lambda: app.screen is screen)
        await pilot.pause(0.2)
    assert (await clerk.get(f"/api/v1/bookings/{held['id']}")).data["status"] == "pending"


async def test_bookings_are_fresh_when_coming_back(tui, clerk, make_event):
    """A hold sold at the counter is there when the clerk goes back to the bookings."""
    event = await make_event(title="Return Night")
    app = tui(clerk)
    async with running(app) as pilot:
        screen = await go_to(pilot, BookingsScreen, "f3")
        table = screen.query_one(BookingsTable)
        await until(pilot, lambda: text(screen.query_one("#bookings-message")) == "0 bookings")
        await go_to(pilot, EventsScreen, "f2")
        held = await sell(clerk, event, 2, "Ada", hold=True)
        await pilot.press("f3")
        await until(pilot, lambda: table.row_count == 1)
        assert rows(table)[0].startswith(f"#{held['id']} ") and "held till" in rows(table)[0]
        # A dialog closing on top is not coming back: the cursor stays where it was.
        await pilot.press("f1")
        await until(pilot, lambda: app.screen is not screen)
        await pilot.press("escape")
        await until(pilot, lambda: app.screen is screen)


# --- check-in at the door -------------------------------------------------------------


async def scan(pilot: Any, screen: CheckInScreen, code: str) -> None:
    """Type a code and Enter, as a scanner does; wait for the answer."""
    scans = len(screen.history)
    await pilot.press(*code, "enter")
    await until(pilot, lambda: len(screen.history) == scans + 1)


def panel(screen: CheckInScreen) -> tuple[str, str]:
    result = screen.query_one("#checkin-result")
    return str(result.border_title), text(result)


def ready_for_the_next(screen: CheckInScreen) -> bool:
    box = screen.query_one("#scan", Input)
    return box.value == "" and box.has_focus


async def test_check_in_admits_a_ticket_once(tui, clerk, make_event, tmp_path):
    event = await make_event(title="Door Night", total_seats=50)
    booking = await sell(clerk, event, 4, "Grace Hopper", payment_method="cash")
    code = booking["ticket_code"]
    app = tui(clerk)
    async with running(app, SMALL) as pilot:
        screen = await go_to(pilot, CheckInScreen, "f5")
        assert ready_for_the_next(screen)

        # The gate, once: remembered for the next run.
        await pilot.press("ctrl+g", *"North door", "enter")
        assert ready_for_the_next(screen)
        assert Settings.load(tmp_path / "tui.json").gate == "North door"

        # Typed by a person: in groups, in lower case.
        await scan(pilot, screen, ticket_code(code).lower())
        title, shown = panel(screen)
        assert title == "✔ ADMITTED"
        assert screen.query_one("#checkin-result").has_class("-admitted")
        assert "Door Night" in shown and "Grace Hopper" in shown
        assert "4 tickets admitted: Standard" in shown and "General admission" in shown
        assert "4 in for this event" in shown
        assert ready_for_the_next(screen)
        admitted = (await clerk.get(f"/api/v1/bookings/{booking['id']}")).data
        assert admitted["checked_in_at"] is not None
        assert admitted["checked_in_gate"] == "North door"
        await until(pilot, lambda: app.store.events[event["id"]].checked_in == 4)

        # Scanned again: refused, and the door is told when, where and by whom.
        await scan(pilot, screen, code)
        title, shown = panel(screen)
        assert title == "✘ REFUSED"
        assert screen.query_one("#checkin-result").has_class("-refused")
        first = datetime.fromisoformat(admitted["checked_in_at"]).astimezone()
        assert f"Already admitted at {first:%H:%M} at North door by {clerk.username}" in shown
        assert ready_for_the_next(screen)

        await scan(pilot, screen, "NOT-A-TICKET")
        title, shown = panel(screen)
        assert title == "✘ REFUSED" and "Unknown ticket code" in shown
        assert ready_for_the_next(screen)

        # Newest first under the panel.
        history = rows(screen.query_one("#scans", DataTable))
        assert [r.split()[1] for r in history] == ["REFUSED", "REFUSED", "ADMITTED"]

    again = tui(clerk)
    async with running(again, SMALL) as pilot:
        screen = await go_to(pilot, CheckInScreen, "f5")
        assert screen.query_one("#gate", Input).value == "North door"


async def test_check_in_refuses_cancelled_and_held_tickets(tui, clerk, make_event):
    event = await make_event(title="Void Night")
    cancelled = await sell(clerk, event, 1, "Ada")
    assert (await clerk.delete(f"/api/v1/bookings/{cancelled['id']}")).status == 200
    app = tui(clerk)
    async with running(app, SMALL) as pilot:
        screen = await go_to(pilot, CheckInScreen, "f5")
        await scan(pilot, screen, cancelled["ticket_code"])
        title, shown = panel(screen)
        assert title == "✘ REFUSED" and "Cancelled" in shown
        assert ready_for_the_next(screen)
        # Escape clears the panel for the next customer.
        await pilot.press("escape")
        assert panel(screen)[0] == "Ready"


async def test_quick_scans_are_each_answered(tui, clerk, make_event):
    """A scanner types fast: the second code goes in while the first is being checked."""
    event = await make_event(title="Rush Night")
    first = await sell(clerk, event, 1, "Ada")
    second = await sell(clerk, event, 2, "Grace")
    app = tui(clerk)
    async with running(app, SMALL) as pilot:
        screen = await go_to(pilot, CheckInScreen, "f5")
        await pilot.press(*first["ticket_code"], "enter", *second["ticket_code"], "enter")
        await until(pilot, lambda: len(screen.history) == 2)
        assert {scan.verdict for scan in screen.history} == {"admitted"}
        assert "Grace" in panel(screen)[1]  # the newest scan is the one shown
        assert ready_for_the_next(screen)
    for booking in (first, second):
        reply = await clerk.get(f"/api/v1/bookings/{booking['id']}")
        assert reply.data["checked_in_at"] is not None


async def test_check_in_is_for_staff_only(tui, user, make_event):
    await make_event()
    app = tui(user)
    notices = Notices()
    async with running(app, notices=notices) as pilot:
        await kept_out(pilot, notices, "checkin", "clerks and admins only", "f5", "f6", "f7")


async def test_dashboard_counts_tickets_admitted(tui, admin, clerk, make_event):
    event = await make_event(title="Counted Night", total_seats=20)
    booking = await sell(clerk, event, 2, "Ada")
    app = tui(admin)
    async with running(app) as pilot:
        screen = await go_to(pilot, DashboardScreen, "f4")
        assert "0 tickets admitted" in text(screen.query_one("#totals"))
        reply = await clerk.post("/api/v1/checkins", json={"code": booking["ticket_code"]})
        assert reply.status == 200, reply.body
        gauge = screen.query_one(f"#gauge-{event['id']}", SeatGauge)
        # The order's code admits both of its tickets.
        await until(pilot, lambda: gauge.event.checked_in == 2)
        assert "2 tickets admitted" in text(screen.query_one("#totals"))
        assert str(gauge.render()).rstrip().endswith("2 in")
        assert "2 tickets admitted" in text(screen.query_one("#last-change"))


# --- the shift report -----------------------------------------------------------------


async def sold_and_one_returned(
    clerk: Any, event: dict[str, Any], quantity: int, method: str, refund_by: str | None = None
) -> dict[str, Any]:
    """An order of ``quantity`` tickets paid by ``method``, its first ticket returned
    (refunded by ``refund_by``, or as it was paid)."""
    placed = await clerk.post(
        "/api/v1/orders",
        json={"event_id": event["id"], "lines": [{"quantity": quantity}], "payment_method": method},
    )
    assert placed.status == 201, placed.body
    order = placed.data
    back = await clerk.post(
        f"/api/v1/orders/{order['id']}/returns",
        json={"ticket_ids": [order["tickets"][0]["id"]], "payment_method": refund_by},
    )
    assert back.status == 200, back.body
    return order


async def test_shift_report_lists_the_clerks_sales_and_exports_csv(
    tui, clerk, actors, make_event, tmp_path
):
    event = await make_event(title="Shift Night", total_seats=50, price="10.00")
    cash = await sell(clerk, event, 2, "Ada Lovelace", payment_method="cash")
    card = await sell(clerk, event, 3, "Grace Hopper", payment_method="card")
    refunded = await sell(clerk, event, 1, "Alan Turing", payment_method="card")
    assert (await clerk.delete(f"/api/v1/bookings/{refunded['id']}")).status == 200
    other = await actors.new("clerk")
    await sell(other, event, 4, "Not Mine", payment_method="cash")

    app = tui(clerk)
    app.settings.export_dir = str(tmp_path / "exports")
    notices = Notices()
    async with running(app, notices=notices) as pilot:
        screen = await go_to(pilot, ShiftScreen, "f6")
        table = screen.query_one("#shift-bookings", DataTable)
        await until(pilot, lambda: screen.report is not None)
        listed = rows(table)
        assert {f"#{b['id']}" for b in (cash, card, refunded)} == {r.split()[1] for r in listed}
        assert not any("Not Mine" in r for r in listed)
        totals = text(screen.query_one("#shift-totals"))
        assert "Sold" in totals and "60.00" in totals  # 2 + 3 + 1 seats at 10.00
        assert "Cancelled" in totals
        payments = text(screen.query_one("#shift-payments")).splitlines()
        assert next(line for line in payments if line.startswith("Cash")).split()[1] == "20.00"
        card_line = next(line for line in payments if line.startswith("Card")).split()
        assert card_line[1:] == ["40.00", "10.00", "30.00"]
        assert not screen.query_one("#shift-clerk").display  # a clerk sees only their own

        await pilot.press("x")
        exported = tmp_path / "exports" / f"shift-{clerk.username}-{screen.day.isoformat()}.csv"
        await until(pilot, lambda: exported.exists())
        csv = exported.read_text()
        assert "Grace Hopper" in csv and "Not Mine" not in csv
        assert any(str(exported) in m for m in notices.messages)


async def test_shift_report_shows_a_ticket_returned_from_a_sale(tui, clerk, make_event):
    event = await make_event(title="Return Night", price="10.00")
    await sold_and_one_returned(clerk, event, 3, "cash")
    app = tui(clerk)
    async with running(app) as pilot:
        screen = await go_to(pilot, ShiftScreen, "f6")
        table = screen.query_one("#shift-bookings", DataTable)
        await until(pilot, lambda: screen.report is not None and table.row_count == 1)
        cells = [str(cell) for cell in table.get_row_at(0)]
        assert cells[2:6] == ["sold+return", "Cash", "20.00", "3"]  # 3 sold, 1 back
        totals = text(screen.query_one("#shift-totals")).splitlines()
        assert next(line for line in totals if line.startswith("Returned")).split()[1:] == [
            "1",
            "1",
            "10.00",
        ]
        assert "20.00" in next(line for line in totals if line.startswith("Net takings"))
        assert "3 seats sold" in text(screen.query_one("#shift-message"))


async def test_admin_picks_whose_shift(tui, admin, clerk, make_event):
    event = await make_event(title="Picked Night", price="5.00")
    await sell(clerk, event, 2, "Ada Lovelace", payment_method="cash")
    app = tui(admin)
    async with running(app) as pilot:
        screen = await go_to(pilot, ShiftScreen, "f6")
        table = screen.query_one("#shift-bookings", DataTable)
        await until(pilot, lambda: screen.report is not None)
        assert table.row_count == 0  # the admin sold nothing
        picker = screen.query_one("#shift-clerk")
        assert picker.display
        choices = picker.query_one(OptionList)
        await until(
            pilot,
            lambda: any(
                str(choices.get_option_at_index(i).prompt) == f"{clerk.username} (clerk)"
                for i in range(choices.option_count)
            ),
        )
        picker.value = clerk.username
        await until(pilot, lambda: table.row_count == 1 and "Ada Lovelace" in rows(table)[0])
        assert screen.report.clerk == clerk.username


# --- the audit log --------------------------------------------------------------------


def test_audit_filters_are_read_from_what_is_typed():
    assert parse_filter("") == {}
    assert parse_filter("#12") == {"booking_id": 12}
    assert parse_filter("event 3 booking:4 user=5 actor 6") == {
        "event_id": 3,
        "booking_id": 4,
        "user_id": 5,
        "actor_id": 6,
    }
    assert parse_filter("booking.cancel") == {"action": "booking.cancel"}
    assert parse_filter("event 3 booking") == {"event_id": 3, "action": "booking"}
    with pytest.raises(ValueError, match="Not understood"):
        parse_filter("event three")


async def test_clerk_cannot_reach_the_audit_log(tui, clerk, make_event):
    await make_event()
    app = tui(clerk)
    notices = Notices()
    async with running(app, notices=notices) as pilot:
        screen = app.screen
        await kept_out(pilot, notices, "audit", "admins only", "f7")
        assert "Audit log" not in [c.title for c in app.get_system_commands(screen)]
        app.show_audit("booking 1")
        await pilot.pause(0.2)
        assert not isinstance(app.screen, AuditScreen)


async def test_admin_browses_the_audit_log(tui, admin, clerk, make_event):
    event = await make_event(title="Audited Night")
    kept = await sell(clerk, event, 2, "Ada Lovelace", payment_method="card")
    cancelled = await sell(clerk, event, 1, "Grace Hopper")
    assert (await clerk.delete(f"/api/v1/bookings/{cancelled['id']}")).status == 200
    app = tui(admin)
    async with running(app) as pilot:
        screen = await go_to(pilot, AuditScreen, "f7")
        table = screen.query_one("#audit", DataTable)
        await until(pilot, lambda: table.row_count >= 4)
        actions = [str(table.get_row_at(i)[2]) for i in range(table.row_count)]
        assert actions.index("booking.cancel") < actions.index("event.create")  # newest first

        await pilot.press("slash", *f"booking {cancelled['id']}", "enter")
        await until(pilot, lambda: table.row_count == 2)
        assert [str(table.get_row_at(i)[2]) for i in range(2)] == [
            "booking.cancel",
            "booking.create",
        ]
        assert table.has_focus
        summary = text(screen.query_one("#audit-summary"))
        assert "booking.cancel" in summary and clerk.username in summary
        assert f"#{cancelled['id']}" in summary

        # From the bookings screen: h shows a booking's history.
        bookings = (await go_to(pilot, BookingsScreen, "f3")).query_one(BookingsTable)
        await until(pilot, lambda: kept["id"] in bookings.bookings)
        bookings.focus()
        select_row(bookings, kept["id"])
        await pilot.press("h")
        await until(pilot, lambda: app.screen is screen)
        await until(pilot, lambda: table.row_count == 1)
        assert screen.query_one("#audit-filter", Input).value == f"booking {kept['id']}"
        details = str(screen.query_one("#audit-details").visual)
        assert '"quantity": 2' in details or "card" in details


async def test_the_audit_log_says_what_a_return_gave_back(tui, admin, clerk, make_event):
    event = await make_event(title="Returned Night", price="30.00")
    order = await sold_and_one_returned(clerk, event, 2, "card", refund_by="cash")
    app = tui(admin)
    async with running(app) as pilot:
        screen = await go_to(pilot, AuditScreen, "f7")
        table = screen.query_one("#audit", DataTable)
        await pilot.press("slash", *f"booking {order['id']}", "enter")
        await until(pilot, lambda: table.row_count == 2)
        assert str(table.get_row_at(0)[2]) == "booking.return"
        summary = text(screen.query_one("#audit-summary"))
        assert "returned 1 ticket, refund 30.00 cash" in summary
        assert clerk.username in summary


async def test_help_names_the_new_screens(tui, admin):
    app = tui(admin)
    async with running(app) as pilot:
        source = (await go_to(pilot, HelpScreen, "f1")).query_one("Markdown").source
        for name in ("Check-in", "Shift report", "Audit log"):
            assert name in source
        assert isinstance(app, BoxofficeApp)
