"""What a new clerk found on a first try at the counter, fixed: every event of a long
history, keys in the footer, typing to search, text that fits 80x24, errors in a clerk's
words, the audit log in names. Driven by Textual's pilot against a real server."""

from __future__ import annotations

import asyncio

from support import PASSWORD
from tui_support import started, until

from common.client import Client
from server.app import create_app
from server.background import BackgroundServer
from tui.app import EVENT_PAGE, BoxofficeApp, every_event
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
    server = BackgroundServer(create_app(config), "127.0.0.1", 0)
    await asyncio.to_thread(server.__enter__)
    app = BoxofficeApp(
        server.url, username=clerk.username, password=PASSWORD, settings_path=tmp_path / "s.json"
    )
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            await started(pilot)
            table = app.screen.query_one(EventsTable)
            assert table.row_count == UPCOMING
            await until(pilot, lambda: len(app.store.events) == PAST + UPCOMING)

            await asyncio.to_thread(server.__exit__, None, None, None)
            await until(pilot, lambda: app.connected is False)
            [(gone,)] = db_execute(
                "DELETE FROM events WHERE id = (SELECT max(id) FROM events) RETURNING id"
            )
            server = BackgroundServer(create_app(config), "127.0.0.1", server.port)
            await asyncio.to_thread(server.__enter__)
            await until(pilot, lambda: gone not in app.store.events)
            assert len(app.store.events) == PAST + UPCOMING - 1
            await until(pilot, lambda: table.row_count == UPCOMING - 1)
    finally:
        await asyncio.to_thread(server.__exit__, None, None, None)
