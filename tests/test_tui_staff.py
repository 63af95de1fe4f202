"""The staff screens of the terminal: bookings, the dashboard, the event editor and help,
driven by Textual's pilot against a real server and database."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

from textual.widgets import Input, Markdown, Select
from tui_support import (
    Notices,
    go_to,
    kept_out,
    keys_do_nothing,
    on_bookings,
    rows,
    running,
    select_row,
    sell,
    text,
    until,
)

from common.models import Event, LiveEvent
from tui.app import BoxofficeApp
from tui.model import EventStore
from tui.screens.bookings import BookingsScreen, once
from tui.screens.confirm import ConfirmScreen
from tui.screens.dashboard import DashboardScreen
from tui.screens.event_form import DATE_FORMAT, EventFormScreen
from tui.screens.events import EventsScreen
from tui.screens.help import HelpScreen
from tui.widgets.bookings_table import BookingsTable
from tui.widgets.events_table import EventsTable
from tui.widgets.gauge import SeatGauge


async def search(pilot: Any, screen: BookingsScreen, typed: str) -> None:
    box = screen.query_one("#booking-search", Input)
    box.value = ""
    box.focus()
    await pilot.press(*typed)


# --- bookings -------------------------------------------------------------------------


async def test_bookings_found_by_customer_and_reference(tui, clerk, make_event):
    event = await make_event(title="Difference Engine")
    ada = await sell(clerk, event, 2, "Ada Lovelace")
    await sell(clerk, event, 1, "Charles Babbage")
    app = tui(clerk)
    async with on_bookings(app, listed=2) as (pilot, screen, table):
        message = screen.query_one("#bookings-message")

        await search(pilot, screen, "lovel")
        await until(pilot, lambda: table.row_count == 1)
        assert "Ada Lovelace" in rows(table)[0]
        assert text(message) == "1 booking"

        await search(pilot, screen, f"#{ada['id']}")
        await until(pilot, lambda: rows(table) and rows(table)[0].startswith(f"#{ada['id']} "))
        assert table.row_count == 1

        await search(pilot, screen, "#999999")
        await until(pilot, lambda: "No booking" in text(message))
        assert table.row_count == 0


async def test_cancel_asks_first_and_returns_the_seats(tui, clerk, make_event, admin):
    event = await make_event(total_seats=10)
    booking = await sell(clerk, event, 2, "Ada Lovelace")
    app = tui(clerk)
    async with on_bookings(app, listed=1) as (pilot, screen, table):
        assert table.has_focus  # the screen opens on the results

        await go_to(pilot, ConfirmScreen, "c")
        await pilot.press("n")
        await until(pilot, lambda: app.screen is screen)
        await pilot.pause(0.2)
        reply = await clerk.get(f"/api/v1/bookings/{booking['id']}")
        assert reply.data["status"] == "confirmed"

        await go_to(pilot, ConfirmScreen, "c")
        await pilot.press("y")
        await until(pilot, lambda: "cancelled" in rows(table)[0])
        reply = await admin.get(f"/api/v1/events/{event['id']}")
        assert reply.data["available_seats"] == 10
        await until(pilot, lambda: app.store.events[event["id"]].available_seats == 10)


async def test_cancelling_an_admitted_ticket_asks_for_the_override(tui, clerk, make_event, db_rows):
    """An admitted ticket is not refunded by a plain cancel: the clerk is told why and asked
    whether to cancel anyway; only yes refunds it, recorded as an override."""
    event = await make_event(total_seats=10)
    booking = await sell(clerk, event, 2, "Ada Lovelace")
    scanned = await clerk.post("/api/v1/checkins", json={"code": booking["ticket_code"]})
    assert scanned.status == 200, scanned.body
    app = tui(clerk)
    async with on_bookings(app, listed=1) as (pilot, screen, table):
        await go_to(pilot, ConfirmScreen, "c")
        await pilot.press("y")
        asked = await go_to(pilot, ConfirmScreen)
        assert "already admitted" in text(asked.query_one(".question"))
        await pilot.press("n")
        await until(pilot, lambda: app.screen is screen)
        assert (await clerk.get(f"/api/v1/bookings/{booking['id']}")).data["status"] == (
            "confirmed"
        )

        await go_to(pilot, ConfirmScreen, "c")
        await pilot.press("y")
        await go_to(pilot, ConfirmScreen)
        await pilot.press("y")
        await until(pilot, lambda: "cancelled" in rows(table)[0])
    [(details,)] = db_rows(
        "SELECT details FROM audit_log WHERE action = 'booking.cancel' AND booking_id = %s",
        booking["id"],
    )
    assert details["override"] is True


async def test_cancel_retried_after_a_lost_answer_reports_the_cancellation(tui, clerk, make_event):
    """The clerk's first cancel went through but its answer never arrived, and the table
    still shows the booking confirmed: cancelling again tells the clerk it is cancelled,
    not a 409. (The first attempt is made while the clerk's second one waits in the
    confirmation dialog, before the list can follow the live feed.)"""
    event = await make_event(total_seats=10)
    booking = await sell(clerk, event, 2, "Ada Lovelace")
    app = tui(clerk)
    notices = Notices()
    async with on_bookings(app, listed=1, notices=notices) as (pilot, _screen, table):
        await go_to(pilot, ConfirmScreen, "c")
        key = once("cancel", table.selected)
        lost = await app.client.cancel(booking["id"], idempotency_key=key)
        assert lost.status == "cancelled" and "confirmed" in rows(table)[0]

        await pilot.press("y")
        await until(pilot, lambda: "cancelled" in rows(table)[0])
        messages = notices.messages
        assert any("cancelled; 2 seats back on sale" in m for m in messages), messages
        assert not any(n.severity == "error" for n in notices.seen), messages


async def test_the_list_follows_cancellations_elsewhere_and_keeps_the_cursor(
    tui, clerk, admin, make_event
):
    """A booking cancelled at another window shows as cancelled without pressing r, and
    the clerk's cursor stays on the booking it was on."""
    event = await make_event(total_seats=10)
    ada, ben, cy = [await sell(clerk, event, 1, name) for name in ("Ada", "Ben", "Cy")]
    app = tui(clerk)
    async with on_bookings(app, listed=3) as (pilot, _screen, table):
        select_row(table, ben["id"])
        assert (await admin.delete(f"/api/v1/bookings/{cy['id']}")).status == 200
        await until(pilot, lambda: table.bookings[cy["id"]].status == "cancelled")
        assert "cancelled" in " ".join(map(str, table.get_row(str(cy["id"]))))
        assert table.selected is not None and table.selected.id == ben["id"]
        assert table.bookings[ada["id"]].status == "confirmed"


async def test_picking_an_event_shows_only_its_bookings(tui, clerk, make_event):
    first = await make_event(title="First Night", date="2099-06-01T19:30:00+00:00")
    second = await make_event(title="Second Night", date="2099-06-02T19:30:00+00:00")
    await sell(clerk, first, 1, "Ada Lovelace")
    await sell(clerk, second, 1, "Grace Hopper")
    await sell(clerk, second, 3, "Alan Turing")
    app = tui(clerk)
    async with on_bookings(app, listed=3) as (pilot, screen, table):
        # Through the event picker: My sales, First Night, Second Night.
        await pilot.click("#booking-event")
        await pilot.press("down", "down", "enter")
        await until(pilot, lambda: table.row_count == 2)
        assert screen.query_one("#booking-event", Select).value == second["id"]
        assert all("Second Night" in row for row in rows(table))

        # From the events screen: ctrl+b on the first event's row.
        events = (await go_to(pilot, EventsScreen, "f2")).query_one(EventsTable)
        events.focus()
        select_row(events, first["id"])
        await pilot.press("ctrl+b")
        await until(pilot, lambda: app.screen is screen)
        await until(pilot, lambda: rows(table) and all("First Night" in r for r in rows(table)))
        assert table.row_count == 1
        assert "Ada Lovelace" in rows(table)[0]


async def test_events_b_opens_bookings_of_that_event(tui, clerk, make_event):
    """Straight from the events screen, before the bookings screen was ever shown."""
    await make_event(title="Other Night")
    event = await make_event(title="Late Show", date="2099-07-01T21:00:00+00:00")
    await sell(clerk, event, 2, "Grace Hopper")
    app = tui(clerk)
    async with running(app) as pilot:
        select_row(app.screen.query_one(EventsTable), event["id"])
        screen = await go_to(pilot, BookingsScreen, "ctrl+b")
        table = screen.query_one(BookingsTable)
        await until(pilot, lambda: table.row_count == 1 and "Late Show" in rows(table)[0])
        assert screen.query_one("#booking-event", Select).value == event["id"]


async def test_picked_event_deleted_falls_back_to_all_bookings(tui, admin, clerk, make_event):
    kept = await make_event(title="Kept Night")
    doomed = await make_event(title="Doomed Night")
    await sell(clerk, kept, 1, "Ada Lovelace")
    app = tui(clerk)
    async with running(app) as pilot:
        screen = await go_to(pilot, BookingsScreen, "f3")
        table = screen.query_one(BookingsTable)
        picker = screen.query_one("#booking-event", Select)
        picker.value = doomed["id"]
        await until(pilot, lambda: text(screen.query_one("#bookings-message")) == "0 bookings")

        assert (await admin.delete(f"/api/v1/events/{doomed['id']}")).status == 200
        await until(pilot, lambda: table.row_count == 1)
        assert picker.value == 0  # "My sales"
        assert "Ada Lovelace" in rows(table)[0]


# --- dashboard ------------------------------------------------------------------------


async def test_dashboard_follows_sales_made_elsewhere(tui, admin, clerk, make_event):
    quiet = await make_event(title="Quiet Night", total_seats=50)
    busy = await make_event(title="Busy Night", total_seats=20, price="10.00")
    app = tui(admin)
    async with running(app) as pilot:
        screen = await go_to(pilot, DashboardScreen, "f4")
        gauges = {gauge.event.id: gauge for gauge in screen.query(SeatGauge)}
        assert set(gauges) == {quiet["id"], busy["id"]}
        assert "0 of 70 seats sold" in text(screen.query_one("#totals"))

        await sell(clerk, busy, 3, "Ada Lovelace")
        await until(pilot, lambda: gauges[busy["id"]].event.available_seats == 17)
        assert gauges[quiet["id"]].event.available_seats == 50
        totals = text(screen.query_one("#totals"))
        assert "3 of 70 seats sold" in totals
        assert "Takings 30.00" in totals
        last = text(screen.query_one("#last-change"))
        assert "Busy Night" in last and "3 seats sold" in last
        assert app.store.sales.last_minute() == 3


async def test_dashboard_gauges_follow_events_added_and_deleted(tui, admin, clerk, make_event):
    early = await make_event(title="Early", date="2099-01-01T19:00:00+00:00", total_seats=2)
    late = await make_event(title="Late", date="2099-12-01T19:00:00+00:00")
    await sell(clerk, early, 2, "Ada Lovelace")
    app = tui(admin)
    async with running(app) as pilot:
        screen = await go_to(pilot, DashboardScreen, "f4")

        def titles() -> list[str]:
            return [gauge.event.title for gauge in screen.query(SeatGauge)]

        assert titles() == ["Early", "Late"]
        assert screen.query_one(f"#gauge-{early['id']}").has_class("-sold-out")

        middle = await make_event(title="Middle", date="2099-06-01T19:00:00+00:00")
        await until(pilot, lambda: titles() == ["Early", "Middle", "Late"])
        assert "Middle was added" in text(screen.query_one("#last-change"))

        # Added and deleted before the screen redraws: no gauge, and no crash.
        for _ in range(3):
            blink = await make_event(title="Blink")
            assert (await admin.delete(f"/api/v1/events/{blink['id']}")).status == 200
        assert (await admin.delete(f"/api/v1/events/{late['id']}")).status == 200
        await until(pilot, lambda: titles() == ["Early", "Middle"])
        assert set(app.store.events) == {early["id"], middle["id"]}
        assert "Late was deleted" in text(screen.query_one("#last-change"))


async def test_dashboard_left_for_another_area_catches_up_on_return(tui, admin, clerk, make_event):
    """While the admin is on the events screen the dashboard draws nothing; coming back it
    shows every sale, new event and deletion made meanwhile, at once."""
    gala = await make_event(title="Gala", date="2099-01-01T19:00:00+00:00", total_seats=20)
    gone = await make_event(title="Gone", date="2099-12-01T19:00:00+00:00")
    app = tui(admin)
    async with running(app) as pilot:
        screen = await go_to(pilot, DashboardScreen, "f4")
        gala_gauge = screen.query_one(f"#gauge-{gala['id']}", SeatGauge)
        events = (await go_to(pilot, EventsScreen, "f2")).query_one(EventsTable)

        await sell(clerk, gala, 3, "Ada Lovelace")
        await sell(clerk, gala, 2, "Ben Jonson")
        new = await make_event(title="New", date="2099-06-01T19:00:00+00:00")
        assert (await admin.delete(f"/api/v1/events/{gone['id']}")).status == 200
        await until(pilot, lambda: set(app.store.events) == {gala["id"], new["id"]})
        await until(pilot, lambda: "15 / 20" in " ".join(rows(events)))  # this screen follows
        assert gala_gauge.event.available_seats == 20  # the hidden dashboard did not

        await go_to(pilot, DashboardScreen, "f4")
        titles = [gauge.event.title for gauge in screen.query(SeatGauge)]
        assert titles == ["Gala", "New"]
        assert gala_gauge.event.available_seats == 15
        assert "5 of 120 seats sold" in text(screen.query_one("#totals"))

        # And the other way round: the events screen catches up with what the dashboard saw.
        await sell(clerk, gala, 1, "Cy Twombly")
        late = await make_event(title="Late Show", date="2099-09-01T19:00:00+00:00")
        await until(pilot, lambda: bool(screen.query(f"#gauge-{late['id']}")))
        await until(pilot, lambda: gala_gauge.event.available_seats == 14)
        assert "15 / 20" in " ".join(rows(events))
        await go_to(pilot, EventsScreen, "f2")
        shown = " ".join(rows(events))
        assert "14 / 20" in shown and "Late Show" in shown and "Gone" not in shown


async def test_clerk_has_no_dashboard_and_no_event_admin(tui, clerk, make_event):
    await make_event(title="Counter Night")
    app = tui(clerk)
    notices = Notices()
    async with running(app, notices=notices) as pilot:
        await kept_out(pilot, notices, "dashboard", "admins only", "f4")
        footer = {key.action for key in app.screen.query("FooterKey")}
        assert footer and "go('dashboard')" not in footer
        assert not footer & EventsScreen.ADMIN_ACTIONS
        await keys_do_nothing(pilot, "n", "e", "delete")


# --- the event editor -----------------------------------------------------------------


def fill(form: EventFormScreen, **values: str) -> None:
    for name, value in values.items():
        form.query_one(f"#{name}", Input).value = value


def error_of(form: EventFormScreen, name: str) -> str:
    error = form.query_one(f"#{name}-error")
    return text(error) if error.display else ""


async def test_admin_creates_an_event(tui, admin):
    app = tui(admin)
    when = (datetime.now() + timedelta(days=30)).replace(second=0, microsecond=0)
    async with running(app) as pilot:
        table = app.screen.query_one(EventsTable)
        form = await go_to(pilot, EventFormScreen, "ctrl+n")
        fill(
            form,
            title="Opening Night",
            date=when.strftime(DATE_FORMAT),
            venue="Main Hall",
            total_seats="120",
            price="15.50",
        )
        await go_to(pilot, EventsScreen, "ctrl+s")
        reply = await admin.get("/api/v1/events")
        [created] = reply.data
        assert created["title"] == "Opening Night"
        assert created["total_seats"] == 120 and created["venue"] == "Main Hall"
        assert datetime.fromisoformat(created["date"]) == when.astimezone()
        await until(pilot, lambda: any("Opening Night" in row for row in rows(table)))


async def test_saving_twice_quickly_creates_one_event(tui, admin):
    app = tui(admin)
    async with running(app) as pilot:
        form = await go_to(pilot, EventFormScreen, "ctrl+n")
        fill(form, title="Eager Night", total_seats="10")
        form.action_save()
        await asyncio.sleep(0.01)  # the first request is on its way: press again
        await go_to(pilot, EventsScreen, "ctrl+s")
        await pilot.pause(0.3)
        assert [e["title"] for e in (await admin.get("/api/v1/events")).data] == ["Eager Night"]


async def test_event_form_refuses_bad_input(tui, admin):
    app = tui(admin)
    async with running(app) as pilot:
        form = await go_to(pilot, EventFormScreen, "ctrl+n")
        fill(form, title="Bad Night", total_seats="0", price="5.00")
        await pilot.press("ctrl+s")
        await until(pilot, lambda: error_of(form, "total_seats"))
        assert error_of(form, "total_seats") == "Seats: must be at least 1"

        fill(form, total_seats="10", date="tomorrow")
        await pilot.press("ctrl+s")
        await until(pilot, lambda: error_of(form, "date"))
        assert not error_of(form, "total_seats")
        await pilot.pause(0.2)
        assert app.screen is form
        assert (await admin.get("/api/v1/events")).data == []


async def test_edit_below_seats_sold_shows_the_servers_refusal(tui, admin, clerk, make_event):
    event = await make_event(title="Small Room", total_seats=10)
    await sell(clerk, event, 5, "Ada Lovelace")
    app = tui(admin)
    async with running(app) as pilot:
        form = await go_to(pilot, EventFormScreen, "ctrl+e")
        assert form.query_one("#total_seats", Input).value == "10"
        fill(form, total_seats="3")
        await pilot.press("ctrl+s")
        message = form.query_one("#form-message")
        await until(pilot, lambda: "already sold" in text(message))
        assert "5 seats" in text(message)
        assert error_of(form, "total_seats") == "Seats cannot be below the 5 seats already sold"
        assert app.screen is form
        assert (await admin.get(f"/api/v1/events/{event['id']}")).data["total_seats"] == 10


async def test_admin_deletes_an_event(tui, admin, make_event):
    keep = await make_event(title="Keeper", date="2099-06-01T19:30:00+00:00")
    doomed = await make_event(title="Doomed", date="2099-06-02T19:30:00+00:00")
    app = tui(admin)
    async with running(app) as pilot:
        table = app.screen.query_one(EventsTable)
        select_row(table, doomed["id"])
        await go_to(pilot, ConfirmScreen, "delete")
        await pilot.press("y")
        await until(pilot, lambda: table.row_count == 1)
        assert "Keeper" in rows(table)[0]
        assert (await admin.get(f"/api/v1/events/{doomed['id']}")).status == 404
        assert (await admin.get(f"/api/v1/events/{keep['id']}")).status == 200


# --- help -----------------------------------------------------------------------------


async def test_f1_lists_the_keys_of_the_current_screen(tui, clerk):
    app = tui(clerk)
    async with running(app) as pilot:
        screen = await go_to(pilot, BookingsScreen, "f3")
        source = (await go_to(pilot, HelpScreen, "f1")).query_one(Markdown).source
        assert "Keys on this screen (Bookings)" in source
        assert "Cancel booking" in source and "Reload" in source
        assert "Sell" not in source.split("Keys on this screen")[1]
        await pilot.press("escape")
        await until(pilot, lambda: app.screen is screen)


async def test_help_shows_only_the_keys_a_clerk_may_use(tui, clerk):
    app = tui(clerk)
    async with running(app) as pilot:
        help_screen = await go_to(pilot, HelpScreen, "f1")
        keys = help_screen.query_one(Markdown).source.split("Keys on this screen (Events)")[1]
        for binding in EventsScreen.BINDINGS:
            admin_only = binding.action in EventsScreen.ADMIN_ACTIONS
            assert (f"| {binding.description} |" in keys) != admin_only, binding
        dashboard = next(b for b in BoxofficeApp.BINDINGS if "dashboard" in b.action)
        assert f"| {dashboard.description} |" not in keys
        await go_to(pilot, EventsScreen, "f1")


# --- the store behind every screen ----------------------------------------------------


async def test_a_list_fetched_before_a_delete_does_not_bring_the_event_back(make_event):
    """After a reconnect the app lists the events again; the live feed may already have
    said that one of them was deleted."""
    event = Event.model_validate(await make_event())
    store = EventStore()
    store.load([event])
    store.take_changes()
    since = store.mark()  # the list is asked for...
    store.apply(LiveEvent(type="deleted", event_id=event.id, version=event.version + 1, event=None))
    store.replace([event], since)  # ...and answered just before the delete
    assert store.events == {}
    assert [(c.before, c.after) for c in store.take_changes()] == [(event, None)]


async def test_an_event_created_while_the_list_is_fetched_stays(make_event):
    """The live feed brings a new event while the list (which predates it) is on its way."""
    old = Event.model_validate(await make_event(title="Old"))
    store = EventStore()
    store.load([old])
    since = store.mark()
    new = Event.model_validate(await make_event(title="New"))
    store.apply(LiveEvent(type="created", event_id=new.id, version=new.version, event=new))
    store.replace([old], since)
    assert set(store.events) == {old.id, new.id}
