"""What every screen of the app shares: typed access to the app, and the staff layout."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, TypeVar, cast

from textual.app import ComposeResult
from textual.screen import ModalScreen, Screen
from textual.widget import Widget
from textual.widgets import Footer, Header

from ..widgets.status import ConnectionStatus

if TYPE_CHECKING:
    from ..app import BoxofficeApp

T = TypeVar("T")


class AppScreen(Screen[None]):
    @property
    def boxoffice(self) -> BoxofficeApp:
        return cast("BoxofficeApp", self.app)


class Modal(ModalScreen[T]):
    @property
    def boxoffice(self) -> BoxofficeApp:
        return cast("BoxofficeApp", self.app)


class StaffScreen(AppScreen):
    """A screen for a logged-in user: header, the screen's own body, the connection
    status line and a footer with the current key bindings."""

    _left = False  # the user went to another area of the app (not just a dialog on top)

    def compose(self) -> ComposeResult:
        yield Header()
        yield from self.compose_body()
        yield ConnectionStatus()
        yield Footer(compact=True)

    def compose_body(self) -> Iterable[Widget]:
        raise NotImplementedError

    def on_mount(self) -> None:
        client = self.boxoffice.client
        status = self.query_one(ConnectionStatus)
        status.who = f"{client.username} ({client.role}) @ {client.base_url}"

        def show(connected: bool | None) -> None:
            status.connected = connected

        self.watch(self.boxoffice, "connected", show)

    def on_screen_suspend(self) -> None:
        self._left = not isinstance(self.app.screen, ModalScreen)

    def on_screen_resume(self) -> None:
        if self._left:
            self._left = False
            self.came_back()

    def came_back(self) -> None:
        """The user is back from another area of the app: bring what is shown up to date
        (a dialog closing on top of the screen is not coming back)."""
