"""What every screen of the app shares: typed access to the app, and the staff layout."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, TypeVar, cast

from textual.app import ComposeResult
from textual.screen import ModalScreen, Screen
from textual.widget import Widget
from textual.widgets import Footer, Header

from ..model import Change, Changes
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
    # Live changes that came while the user was elsewhere: one per event, first "before"
    # and last "after", applied all at once on coming back.
    _held: Changes
    _apply_changes: Callable[[list[Change]], None] | None = None

    def compose(self) -> ComposeResult:
        yield Header()
        yield from self.compose_body()
        yield ConnectionStatus()
        yield Footer(compact=True, show_command_palette=False)

    def compose_body(self) -> Iterable[Widget]:
        raise NotImplementedError

    def on_mount(self) -> None:
        client = self.boxoffice.client
        status = self.query_one(ConnectionStatus)
        status.who = f"{client.username} ({client.role}) @ {client.base_url}"

        def show(connected: bool | None) -> None:
            status.connected = connected

        self.watch(self.boxoffice, "connected", show)

    def follow_events(self, apply: Callable[[list[Change]], None]) -> None:
        """Give live changes to ``apply``: at once while the screen is shown (a dialog on
        top included), merged per event while the user is in another area of the app and
        applied on coming back, so hidden screens do no drawing under a storm of sales."""
        self._held = Changes()
        self._apply_changes = apply
        self.boxoffice.events_changed.subscribe(self, self._live_changes)

    def _live_changes(self, changes: list[Change]) -> None:
        assert self._apply_changes is not None
        if not self._left:
            self._apply_changes(changes)
            return
        for change in changes:
            event = change.after or change.before
            assert event is not None
            self._held.add(event.id, change)

    def on_screen_suspend(self) -> None:
        self._left = not isinstance(self.app.screen, ModalScreen)

    def on_screen_resume(self) -> None:
        if self._left:
            self._left = False
            if self._apply_changes is not None and self._held:
                self._apply_changes(self._held.take())
            self.came_back()

    def came_back(self) -> None:
        """The user is back from another area of the app: bring what is shown up to date
        (a dialog closing on top of the screen is not coming back)."""
