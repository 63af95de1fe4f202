"""The terminal application, driven by Textual's pilot against a real server and database."""

from __future__ import annotations

from support import PASSWORD
from textual.widgets import Button, Static
from tui_support import go_to, own_server, running, started, until

from server import demo
from server.app import create_app
from server.background import BackgroundServer
from tui.app import BoxofficeApp
from tui.screens.events import EventsScreen
from tui.screens.login import LoginScreen
from tui.screens.sell import ReceiptScreen, SellScreen
from tui.widgets.events_table import EventsTable
from tui.widgets.status import ConnectionStatus


async def test_clerk_logs_in_and_sees_events(tui, clerk, make_event):
    await make_event(title="Pilot Night", total_seats=40)
    app = tui()
    async with app.run_test(size=(100, 30)) as pilot:
        assert isinstance(app.screen, LoginScreen)
        app.screen.query_one("#username").value = clerk.username
        app.screen.query_one("#password").value = PASSWORD
        await pilot.click("#login")
        await until(pilot, lambda: isinstance(app.screen, EventsScreen))
        table = app.screen.query_one(EventsTable)
        assert table.row_count == 1
        assert "Pilot Night" in str(table.get_row_at(0))


def seats_shown(app: BoxofficeApp, event_id: int) -> str:
    table = app.screen.query_one(EventsTable)
    return str(table.get_cell(str(event_id), "seats"))


async def test_wrong_password_is_refused_clearly(tui, clerk):
    app = tui()
    async with app.run_test(size=(80, 24)) as pilot:
        app.screen.query_one("#username").value = clerk.username
        app.screen.query_one("#password").value = "not the password"
        await pilot.click("#login")
        message = app.screen.query_one("#login-message")
        await until(pilot, lambda: "Wrong username or password" in str(message.render()))
        assert isinstance(app.screen, LoginScreen)
        assert app.screen.query_one("#password").value == ""


async def test_unreachable_server_is_named(tui, tmp_path, unused_tcp_port):
    app = BoxofficeApp(
        f"http://127.0.0.1:{unused_tcp_port}",
        username="clerk",
        password=PASSWORD,
        settings_path=tmp_path / "tui.json",
    )
    async with app.run_test(size=(80, 24)) as pilot:
        message = app.screen.query_one("#login-message")
        await until(pilot, lambda: "Cannot reach" in str(message.render()))


async def test_login_remembers_server_and_username(tui, clerk, tmp_path):
    app = tui(clerk)
    async with app.run_test() as pilot:
        await until(pilot, lambda: isinstance(app.screen, EventsScreen))
    again = tui()
    async with again.run_test() as pilot:
        assert again.screen.query_one("#username").value == clerk.username
        assert again.screen.query_one("#server").value == app.client.base_url
        assert again.focused is again.screen.query_one("#password")


async def test_selling_seats_shows_a_receipt_and_changes_availability(tui, clerk, make_event):
    event = await make_event(title="Counter Night", total_seats=10, price="12.50")
    app = tui(clerk)
    async with app.run_test(size=(80, 24)) as pilot:
        await started(pilot)
        assert "10 / 10" in seats_shown(app, event["id"])
        await pilot.press("enter")
        assert isinstance(app.screen, SellScreen)
        await pilot.press("backspace", "3", "enter", *"Grace Hopper", "enter")
        await until(pilot, lambda: isinstance(app.screen, ReceiptScreen))
        receipt = app.screen
        assert isinstance(receipt, ReceiptScreen)
        body = str(receipt.query_one("#receipt-body").render())
        assert "Grace Hopper" in body and "37.50" in body
        reference = str(receipt.query_one("#reference").render())
        assert f"#{receipt.booking.id}" in reference

        await pilot.press("enter")
        assert isinstance(app.screen, EventsScreen)
        await until(pilot, lambda: "7 / 10" in seats_shown(app, event["id"]))
    booking = (await clerk.get(f"/api/v1/bookings/{receipt.booking.id}")).data
    assert booking["quantity"] == 3 and booking["customer_name"] == "Grace Hopper"


async def test_event_selling_out_while_the_clerk_types(tui, clerk, user, make_event):
    event = await make_event(title="Last Seats", total_seats=3)
    app = tui(clerk)
    async with app.run_test(size=(80, 24)) as pilot:
        await started(pilot)
        await pilot.press("enter", "backspace", "2")
        sell = app.screen
        assert isinstance(sell, SellScreen)
        # Someone else takes two of the three seats meanwhile.
        reply = await user.post("/api/v1/bookings", json={"event_id": event["id"], "quantity": 2})
        assert reply.status == 201
        message = sell.query_one("#sell-message")
        await until(pilot, lambda: "Only 1 seat left" in str(message.render()))
        # The clerk sells anyway: the server refuses, the dialog says so and stays open.
        await pilot.click("#sell-confirm")
        await until(pilot, lambda: "Not enough seats: 1 left" in str(message.render()))
        assert app.screen is sell
        await pilot.press("escape")
        assert isinstance(app.screen, EventsScreen)
    assert (await clerk.get(f"/api/v1/events/{event['id']}")).data["available_seats"] == 1


async def test_sales_by_others_appear_live(tui, clerk, user, make_event):
    event = await make_event(title="Live Night", total_seats=50)
    app = tui(clerk)
    async with app.run_test(size=(80, 24)) as pilot:
        await started(pilot)
        for _ in range(5):
            await user.post("/api/v1/bookings", json={"event_id": event["id"], "quantity": 2})
        await until(pilot, lambda: "40 / 50" in seats_shown(app, event["id"]))
        await make_event(title="Added Later")
        table = app.screen.query_one(EventsTable)
        await until(pilot, lambda: table.row_count == 2)


async def test_search_sort_and_upcoming_filter(tui, clerk, make_event):
    await make_event(title="Zebra Jazz", venue="North Hall", date="2099-01-02T19:00:00+00:00")
    await make_event(title="Alpha Opera", venue="South Hall", date="2099-03-04T19:00:00+00:00")
    app = tui(clerk)
    async with app.run_test(size=(80, 24)) as pilot:
        await started(pilot)
        table = app.screen.query_one(EventsTable)

        def titles() -> list[str]:
            return [str(table.get_row_at(i)[3]) for i in range(table.row_count)]

        assert titles() == ["Zebra Jazz", "Alpha Opera"]  # by date
        await pilot.press("ctrl+s")
        assert titles() == ["Alpha Opera", "Zebra Jazz"]  # by title
        await pilot.press("slash", *"north")
        assert titles() == ["Zebra Jazz"]
        await pilot.press("escape")
        assert table.row_count == 2


async def test_connection_lost_and_recovered(clerk, user, config, make_event, tmp_path):
    """The server goes away: the status line says so; it comes back: live again, by itself."""
    event = await make_event(title="Resilient Night", total_seats=20)
    async with own_server(config) as server:
        app = server.terminal(clerk, tmp_path)
        async with running(app, size=(80, 24)) as pilot:
            status = app.screen.query_one(ConnectionStatus)
            assert "live" in str(status.render())

            await server.stop()
            await until(pilot, lambda: app.connected is False)
            assert "offline" in str(status.render())
            assert status.has_class("-offline")

            # Seats sell while the terminal is cut off; it must show them once back.
            await user.post("/api/v1/bookings", json={"event_id": event["id"], "quantity": 4})
            await server.start()
            await until(pilot, lambda: app.connected is True)
            assert "live" in str(status.render())
            await until(pilot, lambda: "16 / 20" in seats_shown(app, event["id"]))


async def test_demo_opens_on_the_clerk(config, clean_db, tmp_path):
    """What `boxoffice demo` shows: demo events (general admission and seated), logged in
    as the demo clerk."""
    app_server = create_app(config)
    app_server.on_startup.append(demo.seed)
    with BackgroundServer(app_server, "127.0.0.1", 0) as server:
        name, password, _ = demo.CLERK
        app = BoxofficeApp(
            server.url, username=name, password=password, settings_path=tmp_path / "s.json"
        )
        async with app.run_test(size=(80, 24)) as pilot:
            await started(pilot)
            assert app.role == "clerk"
            shows = len(demo.SHOWS) + len(demo.SEATED_SHOWS)
            assert app.screen.query_one(EventsTable).row_count == shows


async def test_log_out_from_the_command_palette(tui, clerk, make_event):
    await make_event()
    app = tui(clerk)
    async with app.run_test(size=(80, 24)) as pilot:
        await started(pilot)
        await pilot.press("ctrl+p", *"log out", "enter")
        await until(pilot, lambda: isinstance(app.screen, LoginScreen))
        assert app.client.tokens is None and app.connected is None
        message = str(app.screen.query_one("#login-message").render())
        assert message == "Logged out." and app.screen.query_one("#password").value == ""
        await pilot.press("f2")  # no way past the login screen without logging in
        assert isinstance(app.screen, LoginScreen)


async def test_throttled_login_says_when_to_try_again(tui, clerk, client, config):
    for _ in range(config.login_max_failures):
        await client.post(
            "/api/v1/auth/login", json={"username": clerk.username, "password": "wrong-password"}
        )
    app = tui(clerk)  # the right password, but too late
    async with app.run_test(size=(80, 24)) as pilot:
        message = app.screen.query_one("#login-message")
        await until(pilot, lambda: "Too many failed attempts" in str(message.render()))
        assert "Try again in" in str(message.render())
        assert isinstance(app.screen, LoginScreen)


async def test_a_user_books_and_a_priced_event_is_reserved(tui, user, make_event):
    """A user's sell dialog has no customer or payment fields (staff fields the server
    refuses them) and one Book button; on a priced event the booking is a reservation to
    pay at the box office, and the receipt says so."""
    await make_event(title="Kiosk Night", total_seats=10, price="12.50")
    app = tui(user)
    async with app.run_test(size=(80, 24)) as pilot:
        await started(pilot)
        sell = await go_to(pilot, SellScreen, "enter")
        assert not sell.query("#customer") and not sell.query("#payment")
        assert not sell.query("#sell-hold")
        assert str(sell.query_one("#sell-confirm", Button).label) == "Book"
        await pilot.press("backspace", "2", "enter")
        await until(pilot, lambda: isinstance(app.screen, ReceiptScreen))
        receipt = app.screen
        assert isinstance(receipt, ReceiptScreen)
        assert "HELD" in str(receipt.query_one(".title", Static).render())
        assert "pay at the box office" in str(receipt.query_one("#ticket-code").render())
    booking = (await user.get(f"/api/v1/bookings/{receipt.booking.id}")).data
    assert (booking["status"], booking["payment_method"]) == ("pending", None)
