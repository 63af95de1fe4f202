"""What a new clerk found on a first try at the counter, fixed: every event of a long
history, keys in the footer, typing to search, text that fits 80x24, errors in a clerk's
words, the audit log in names. Driven by Textual's pilot against a real server."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError
from support import PASSWORD
from textual.widgets import DataTable, Footer, Input
from textual.widgets._footer import FooterKey
from tui_support import go_to, own_server, rows, running, started, text, until
from tui_support import sell as sell_seats

from common.client import ApiError, Client
from common.models import EventCreate
from tui.app import EVENT_PAGE, every_event
from tui.formatting import clerk_errors, clerk_message
from tui.screens.audit import AuditScreen
from tui.screens.bookings import BookingsScreen
from tui.screens.login import LoginScreen
from tui.screens.shift import ShiftScreen
from tui.widgets.events_table import EventsTable

# --- a long history -------------------------------------------------------------------

PAST, UPCOMING = 300, 2 * EVENT_PAGE + 20


def add_events(db_execute) -> None:
    """A venue with a long history: past events, and more upcoming ones than a page,
    most of them on one evening (events on one date run past a page too)."""
    db_execute(
        "INSERT INTO events (title, date, venue, total_seats, available_seats, price)"
        " SELECT 'Past ' || n, now() - n * interval '1 day', 'Old Hall', 50, 50, 10"
        " FROM generate_series(1, %s) n",
        PAST,
    )
    db_execute(
        "INSERT INTO events (title, date, venue, total_seats, available_seats, price)"
        " SELECT 'Show ' || n,"
        "  CASE WHEN n <= %s THEN timestamptz '2099-01-01 19:30+00'"
        "  ELSE now() + n * interval '1 hour' END, 'Old Hall', 50, 50, 10"
        " FROM generate_series(1, %s) n",
        EVENT_PAGE + 100,
        UPCOMING,
    )


async def test_every_event_pages_through_a_long_history(clerk, db_execute):
    add_events(db_execute)
    client = Client(str(clerk.client.make_url("")))
    try:
        await client.login(clerk.username, PASSWORD)
        upcoming = await every_event(client, upcoming=True)
        everything = await every_event(client)
    finally:
        await client.close()
    assert len(upcoming) == len({e.id for e in upcoming}) == UPCOMING
    assert len({e.id for e in everything}) == PAST + UPCOMING


async def test_a_long_history_is_all_shown_and_kept_after_a_reconnect(
    clerk, config, db_execute, tmp_path
):
    """Every upcoming event shows at once; after the connection comes back, the events
    are listed again: one deleted meanwhile goes, and none of the others is lost."""
    add_events(db_execute)
    async with own_server(config) as server:
        app = server.terminal(clerk, tmp_path)
        async with running(app, size=(80, 24)) as pilot:
            table = app.screen.query_one(EventsTable)
            assert table.row_count == UPCOMING
            await until(pilot, lambda: len(app.store.events) == PAST + UPCOMING)

            await server.stop()
            await until(pilot, lambda: app.connected is False)
            [(gone,)] = db_execute(
                "DELETE FROM events WHERE id = (SELECT max(id) FROM events) RETURNING id"
            )
            await server.start()
            await until(pilot, lambda: gone not in app.store.events)
            assert len(app.store.events) == PAST + UPCOMING - 1
            await until(pilot, lambda: table.row_count == UPCOMING - 1)


# --- keys -----------------------------------------------------------------------------


def footer_keys(screen: Any) -> dict[str, str]:
    """The keys the footer shows in full on ``screen``: key -> what it does."""
    width = screen.app.size.width
    return {
        key.key: key.description
        for key in screen.query_one(Footer).query(FooterKey)
        if key.region.width and key.region.right <= width
    }


async def test_the_footer_shows_where_each_f_key_goes(tui, clerk, admin, make_event):
    await make_event()
    app = tui(clerk)
    async with running(app, size=(120, 36)) as pilot:
        await until(pilot, lambda: "f1" in footer_keys(app.screen))  # laid out
        keys = footer_keys(app.screen)
        assert {"f1": "Help", "f3": "Bookings", "f5": "Check-in", "f6": "Shift"}.items() <= (
            keys.items()
        )
        assert "f2" not in keys  # the events are on screen
        assert not {"f4", "f7"} & set(keys)  # admins only
        bookings = await go_to(pilot, BookingsScreen, "f3")
        await until(pilot, lambda: "f2" in footer_keys(bookings))
        keys = footer_keys(bookings)
        assert {"f2", "f5", "f6"} <= set(keys) and "f3" not in keys
    app = tui(admin)
    async with running(app, size=(120, 36)) as pilot:
        shift = await go_to(pilot, ShiftScreen, "f6")
        await until(pilot, lambda: "f2" in footer_keys(shift))
        assert {"f2", "f3", "f4", "f5", "f7"} <= set(footer_keys(shift))


async def test_typing_on_the_events_table_searches(tui, clerk, make_event):
    await make_event(title="Hamlet", venue="Old Vic")
    await make_event(title="Zebra Jazz", venue="North Hall")
    app = tui(clerk)
    async with running(app, size=(80, 24)) as pilot:
        screen = app.screen
        table = screen.query_one(EventsTable)
        box = screen.query_one("#search", Input)
        assert table.has_focus
        await pilot.press(*"Ham")
        await until(pilot, lambda: table.row_count == 1)
        assert (box.value, box.has_focus) == ("Ham", True)
        assert "Hamlet" in rows(table)[0]
        await pilot.press("enter")  # to the results
        assert table.has_focus
        await pilot.press(*"zeb")  # a new search, not "Hamzeb"
        await until(pilot, lambda: box.value == "zeb" and table.row_count == 1)
        assert "Zebra Jazz" in rows(table)[0]
        await pilot.press("escape")
        await until(pilot, lambda: table.row_count == 2 and table.has_focus)


# --- 80x24 ----------------------------------------------------------------------------

DEMO_HINT = "\n".join(
    f"  {role:6} {name} / {password}"
    for name, password, role in (
        ("admin", "admin-demo", "admin"),
        ("clerk", "clerk-demo", "clerk"),
        ("guest", "guest-demo", "user"),
    )
)


async def test_the_login_box_fits_80x24_and_forgets_logging_in(tui, clerk):
    """The whole box shows at 80x24 without scrolling, the demo's accounts under it too;
    after a log out the form says "Logged out.", not the last "Logging in…"."""
    app = tui(login_hint=DEMO_HINT)
    async with app.run_test(size=(80, 24)) as pilot:
        login = app.screen
        assert isinstance(login, LoginScreen)
        await pilot.pause()
        box = login.query_one("#login-box")
        assert login.max_scroll_y == 0
        assert box.region.y >= 0 and box.region.bottom <= 23  # above the footer
        assert text(login.query_one("#login-hint")).endswith("guest / guest-demo")

        login.query_one("#username", Input).value = clerk.username
        login.query_one("#password", Input).value = PASSWORD
        await pilot.click("#login")
        await started(pilot)
        assert text(login.query_one("#login-message")) == ""
        await app.action_logout()
        await until(pilot, lambda: app.screen is login)
        assert text(login.query_one("#login-message")) == "Logged out."


async def test_long_titles_end_in_an_ellipsis_at_80x24(tui, clerk, make_event):
    title = "The Importance of Being Earnest, a Trivial Comedy for Serious People"
    await make_event(title=title, venue="Royal Court Theatre, Jerwood Theatre Downstairs")
    app = tui(clerk)
    async with running(app, size=(80, 24)) as pilot:
        table = app.screen.query_one(EventsTable)
        await pilot.pause()
        assert table.virtual_size.width <= table.size.width  # nothing runs off the edge
        line = table.render_line(1).text
        assert "The Importance of" in line and "Royal Court" in line
        assert line.count("…") == 2, line
        assert str(table.get_row_at(0)[3]) == title  # the whole title is kept, only cut short


# --- errors in a clerk's words --------------------------------------------------------


async def test_refusals_read_in_a_clerks_words(clerk, admin, make_event):
    """The server's field errors and the forms' own checks, as the clerk reads them."""
    event = await make_event(total_seats=20)
    await sell_seats(clerk, event, 10, "Ada Lovelace")
    await sell_seats(clerk, event, 2, "Grace Hopper")
    client = Client(str(admin.client.make_url("")))
    try:
        await client.login(admin.username, PASSWORD)
        path = f"/api/v1/events/{event['id']}"
        with pytest.raises(ApiError) as typed:
            await client.request("PATCH", path, json={"total_seats": "twelve", "price": "1.234"})
        with pytest.raises(ApiError) as below:
            await client.request("PATCH", path, json={"total_seats": 5})
    finally:
        await client.close()
    assert clerk_errors(typed.value) == {
        "total_seats": "Seats: enter a whole number",
        "price": "Price: use at most 2 decimal places",
    }
    assert clerk_errors(below.value) == {
        "total_seats": "Seats cannot be below the 12 seats already sold"
    }
    assert clerk_message(below.value) == "Seats cannot be below the 12 seats already sold"
    with pytest.raises(ValidationError) as form:
        EventCreate.model_validate({"title": "", "date": "tomorrow", "total_seats": -1})
    assert clerk_errors(form.value) == {
        "title": "Title: fill this in",
        "date": "Date: enter a date like 2026-12-31 20:00",
        "total_seats": "Seats: must be at least 1",
        "price": "Price: fill this in",
    }


# --- the audit log --------------------------------------------------------------------


async def test_the_audit_log_is_about_titles_and_customers(tui, admin, clerk, make_event):
    """ "About" names the event and the customer, also for records that do not carry the
    name (a cancel) and for an event deleted since."""
    event = await make_event(title="Audited Night")
    cancelled = await sell_seats(clerk, event, 1, "Grace Hopper")
    assert (await clerk.delete(f"/api/v1/bookings/{cancelled['id']}")).status == 200
    gone = await make_event(title="Cancelled Gala")
    assert (await admin.delete(f"/api/v1/events/{gone['id']}")).status in (200, 204)
    app = tui(admin)
    async with running(app, size=(120, 36)) as pilot:
        screen = await go_to(pilot, AuditScreen, "f7")
        table = screen.query_one("#audit", DataTable)
        await until(pilot, lambda: table.row_count >= 5)
        about = {
            (str(table.get_row_at(i)[2]), str(table.get_row_at(i)[3]))
            for i in range(table.row_count)
        }
        assert ("booking.cancel", f"Audited Night · #{cancelled['id']} Grace Hopper") in about
        assert ("booking.create", f"Audited Night · #{cancelled['id']} Grace Hopper") in about
        assert ("event.delete", "Cancelled Gala") in about
        summary = text(screen.query_one("#audit-summary"))
        assert f"(event {gone['id']})" in summary or f"(event {event['id']}" in summary
