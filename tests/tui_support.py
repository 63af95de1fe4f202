"""Helpers for driving the terminal app with Textual's pilot in tests."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any, TypeVar

from support import PASSWORD
from textual.message import Message
from textual.notifications import Notification, Notify
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import DataTable

from tui.app import BoxofficeApp
from tui.screens.bookings import BookingsScreen
from tui.screens.events import EventsScreen
from tui.widgets.bookings_table import BookingsTable

SIZE = (100, 30)

S = TypeVar("S", bound=Screen[Any])


class Notices:
    """Every notification the app raised (``notify``), as Textual's public message hook
    sees it: pass one to ``running`` and read ``seen`` or ``messages``."""

    def __init__(self) -> None:
        self.seen: list[Notification] = []

    def __call__(self, message: Message) -> None:
        if isinstance(message, Notify):
            self.seen.append(message.notification)

    @property
    def messages(self) -> list[str]:
        return [n.message for n in self.seen]


async def until(pilot: Any, condition: Callable[[], object], within: float = 10.0) -> None:
    """Let the app run until ``condition`` holds; fail after ``within`` seconds."""
    async with asyncio.timeout(within):
        while not condition():
            await pilot.pause(0.01)


async def started(pilot: Any) -> None:
    """Wait for the automatic login: the events screen, with live updates flowing."""
    app = pilot.app
    await until(pilot, lambda: isinstance(app.screen, EventsScreen) and app.connected)


@contextlib.asynccontextmanager
async def running(
    app: BoxofficeApp, size: tuple[int, int] = SIZE, *, notices: Notices | None = None
) -> AsyncIterator[Any]:
    """The app under Textual's pilot, once logged in on the events screen: the pilot.
    ``notices`` records what the app notifies."""
    async with app.run_test(size=size, message_hook=notices) as pilot:
        await started(pilot)
        yield pilot


async def go_to(pilot: Any, kind: type[S], *keys: str) -> S:
    """Press ``keys`` and wait until a ``kind`` screen is on top; that screen."""
    await pilot.press(*keys)
    await until(pilot, lambda: isinstance(pilot.app.screen, kind))
    return pilot.app.screen


async def keys_do_nothing(pilot: Any, *keys: str) -> None:
    """Press each key: the same screen is still on top a moment later."""
    screen = pilot.app.screen
    for key in keys:
        await pilot.press(key)
        await pilot.pause(0.2)  # not waiting for something: giving it time not to happen
        assert pilot.app.screen is screen, key


async def kept_out(pilot: Any, notices: Notices, name: str, notice: str, *keys: str) -> None:
    """The logged-in role may not open screen ``name``: its ``keys`` do nothing, and asking
    for it by name only notifies ``notice`` (``notices`` is what ``running`` was given)."""
    app = pilot.app
    screen = app.screen
    await keys_do_nothing(pilot, *keys)
    app.action_go(name)
    await pilot.pause(0.1)
    assert app.screen is screen, name
    assert any(notice in m for m in notices.messages)


def rows(table: DataTable[Any]) -> list[str]:
    """Every row of the table, its cells joined by spaces."""
    return [" ".join(map(str, table.get_row_at(i))) for i in range(table.row_count)]


def select_row(table: DataTable[Any], key: int) -> None:
    """Put the cursor on the row of ``key`` (an event or booking id)."""
    table.move_cursor(row=table.get_row_index(str(key)))


def text(widget: Widget) -> str:
    """What a Static (or Label) shows, without markup."""
    return str(widget.visual)  # type: ignore[attr-defined]


async def sell(
    clerk: Any, event: dict[str, Any], quantity: int, customer: str, **extra: Any
) -> dict[str, Any]:
    """Book through the API as ``clerk`` (set the scene before or behind the app)."""
    body = {"event_id": event["id"], "quantity": quantity, "customer_name": customer, **extra}
    reply = await clerk.post("/api/v1/bookings", json=body)
    assert reply.status == 201, reply.body
    return reply.data


@contextlib.asynccontextmanager
async def on_bookings(
    app: BoxofficeApp,
    listed: int,
    *,
    notices: Notices | None = None,
    size: tuple[int, int] = SIZE,
) -> AsyncIterator[tuple[Any, BookingsScreen, BookingsTable]]:
    """The app running on its bookings screen, once the table lists ``listed`` bookings:
    (pilot, screen, table)."""
    async with running(app, size, notices=notices) as pilot:
        screen = await go_to(pilot, BookingsScreen, "f3")
        table = screen.query_one(BookingsTable)
        await until(pilot, lambda: table.row_count == listed)
        yield pilot, screen, table


class OwnServer:
    """A real server of the test's own on loopback, which the test stops and starts again
    on the same port: a connection lost and recovered. ``own_server`` makes one."""

    def __init__(self, config: Any) -> None:
        self.config = config
        self.port = 0
        self._server: Any = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        from server.app import create_app
        from server.background import BackgroundServer

        self._server = BackgroundServer(create_app(self.config), "127.0.0.1", self.port)
        await asyncio.to_thread(self._server.__enter__)
        self.port = self._server.port

    def terminal(self, actor: Any, settings_dir: Any) -> BoxofficeApp:
        """The terminal app for this server, logging ``actor`` in as it starts."""
        return BoxofficeApp(
            self.url,
            username=actor.username,
            password=PASSWORD,
            settings_path=settings_dir / "tui.json",
        )

    async def stop(self) -> None:
        if self._server is not None:
            server, self._server = self._server, None
            await asyncio.to_thread(server.__exit__, None, None, None)


@contextlib.asynccontextmanager
async def own_server(config: Any) -> AsyncIterator[OwnServer]:
    server = OwnServer(config)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()
