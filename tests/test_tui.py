"""The terminal application, driven by Textual's pilot against a real server and database."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from conftest import PASSWORD

from tui.app import BoxofficeApp
from tui.screens.events import EventsScreen
from tui.screens.login import LoginScreen
from tui.widgets.events_table import EventsTable


async def until(pilot: Any, condition: Callable[[], object], within: float = 10.0) -> None:
    """Let the app run until ``condition`` holds; fail after ``within`` seconds."""
    async with asyncio.timeout(within):
        while not condition():
            await pilot.pause(0.01)


@pytest.fixture
def tui(client, tmp_path):
    """``tui(username=..., password=...)``: the app pointed at the test server."""

    def make(**kwargs: Any) -> BoxofficeApp:
        return BoxofficeApp(str(client.make_url("")), settings_path=tmp_path / "tui.json", **kwargs)

    return make


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
