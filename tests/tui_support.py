"""Helpers for driving the terminal app with Textual's pilot in tests."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from textual.widget import Widget
from textual.widgets import DataTable

from tui.screens.events import EventsScreen


async def until(pilot: Any, condition: Callable[[], object], within: float = 10.0) -> None:
    """Let the app run until ``condition`` holds; fail after ``within`` seconds."""
    async with asyncio.timeout(within):
        while not condition():
            await pilot.pause(0.01)


async def started(pilot: Any) -> None:
    """Wait for the automatic login: the events screen, with live updates flowing."""
    app = pilot.app
    await until(pilot, lambda: isinstance(app.screen, EventsScreen) and app.connected)


def select_row(table: DataTable[Any], key: int) -> None:
    """Put the cursor on the row of ``key`` (an event or booking id)."""
    table.move_cursor(row=table.get_row_index(str(key)))


def text(widget: Widget) -> str:
    """What a Static (or Label) shows, without markup."""
    return str(widget.visual)  # type: ignore[attr-defined]
