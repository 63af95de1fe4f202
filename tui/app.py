"""The Boxoffice terminal: counter sales, check-in at the door and shift reports for
clerks; a live dashboard and the audit log for admins.

The app owns the API client and the event store. Screens ask the app to do things and
listen for what changed; every network call runs in a worker, so the interface never
waits on the network.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterable
from pathlib import Path

from textual import work
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.reactive import reactive
from textual.screen import Screen
from textual.signal import Signal

from common.client import Client, ClientError, Connection
from common.models import STAFF_ROLES, PaymentMethod, Role

from .messages import ConnectionChanged
from .model import Change, EventStore
from .screens.audit import AuditScreen
from .screens.bookings import BookingsScreen
from .screens.checkin import CheckInScreen
from .screens.dashboard import DashboardScreen
from .screens.events import EventsScreen
from .screens.help import HelpScreen
from .screens.login import LoginScreen
from .screens.shift import ShiftScreen
from .settings import Settings

# Areas of the app, each with its own screen stack; restricted ones are checked on entry.
MODES = {
    "login": LoginScreen,
    "events": EventsScreen,
    "bookings": BookingsScreen,
    "dashboard": DashboardScreen,
    "checkin": CheckInScreen,
    "shift": ShiftScreen,
    "audit": AuditScreen,
}
ADMIN_MODES = {"dashboard", "audit"}
# Areas for clerks and admins only.
STAFF_MODES = {"checkin", "shift"}
# The counter shows every event at once; a venue's list is far below this.
EVENT_LIMIT = 500
MODE_TITLES = {
    "events": "Events",
    "bookings": "Bookings",
    "dashboard": "Dashboard",
    "checkin": "Check-in",
    "shift": "Shift report",
    "audit": "Audit log",
}


class BoxofficeApp(App[None]):
    CSS_PATH = "boxoffice.tcss"
    TITLE = "Boxoffice"
    MODES = MODES
    BINDINGS = [
        Binding("f1", "help", "Help", id="help"),
        # In the footer after the screen's own keys (those the role may not use are hidden).
        Binding("f2", "go('events')", "Events", id="events"),
        Binding("f3", "go('bookings')", "Bookings", id="bookings"),
        Binding("f4", "go('dashboard')", "Dashboard", id="dashboard"),
        Binding("f5", "go('checkin')", "Check-in", id="checkin"),
        Binding("f6", "go('shift')", "Shift report", id="shift"),
        Binding("f7", "go('audit')", "Audit log", id="audit"),
        Binding("ctrl+q", "quit", "Quit", id="quit", priority=True),
    ]

    connected: reactive[bool | None] = reactive(None)
    """Whether live updates are flowing (None: not started)."""

    def __init__(
        self,
        server: str | None = None,
        *,
        username: str | None = None,
        password: str | None = None,
        settings_path: Path | None = None,
        login_hint: str = "",
    ) -> None:
        super().__init__()
        self.settings_path = settings_path
        self.settings = Settings.load(settings_path)
        if server:
            self.settings.server = server
        self.client = Client(self.settings.server)
        self.store = EventStore()
        self.events_changed: Signal[list[Change]] = Signal(self, "events-changed")
        self.auto_login = (username, password) if username and password else None
        self.payment_method: PaymentMethod = "cash"
        """The last payment method chosen in the sell dialog: the next sale's default."""
        self.login_hint = login_hint

    @property
    def role(self) -> Role | None:
        return self.client.role

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    @property
    def is_staff(self) -> bool:
        return self.role in STAFF_ROLES

    def may_enter(self, mode: str) -> bool:
        """Whether the logged-in role may see ``mode``."""
        if mode in ADMIN_MODES:
            return self.is_admin
        return mode not in STAFF_MODES or self.is_staff

    def on_mount(self) -> None:
        if self.settings.theme in self.available_themes:
            self.theme = self.settings.theme
        self.set_interval(0.1, self._publish_changes)
        self.switch_mode("login")

    def watch_theme(self, theme: str) -> None:
        self.settings.theme = theme
        self.settings.save(self.settings_path)

    async def on_unmount(self) -> None:
        await self.client.close()

    # --- session --------------------------------------------------------------------

    async def log_in(self, server: str, username: str, password: str) -> None:
        """Log in (raises the client's errors for the login screen to show)."""
        if server.rstrip("/") != self.client.base_url:
            await self.client.close()
            self.client = Client(server)
        await self.client.login(username, password)
        self.settings.server, self.settings.username = self.client.base_url, username
        self.settings.save(self.settings_path)
        self.store = EventStore()
        self.store.load(await self.client.events(limit=EVENT_LIMIT))
        # What is loaded now lives as long as the session: keep it out of the collector's
        # full passes, which otherwise stall the screen for 100 ms or more during a storm.
        gc.freeze()
        self.follow_live()
        self.switch_mode("events")

    async def action_logout(self) -> None:
        self.workers.cancel_group(self, "live")
        await self.client.logout()
        self.connected = None
        self.payment_method = "cash"
        await self.switch_mode("login")
        if isinstance(self.screen, LoginScreen):
            self.screen.logged_out()
        for mode in MODES:  # forget the screens of the last session
            if mode != "login":
                await self.remove_mode(mode)
                self.add_mode(mode, MODES[mode])

    @work(exclusive=True, group="live")
    async def follow_live(self) -> None:
        """Apply every live change to the store; report the connection as it comes and goes."""
        async for item in self.client.live("all"):
            if isinstance(item, Connection):
                self.post_message(ConnectionChanged(item.connected, item.reason))
            else:
                self.store.apply(item)

    def on_connection_changed(self, message: ConnectionChanged) -> None:
        if message.connected and self.connected is False:
            self.resync()
        if self.connected and not message.connected:
            self.notify("Live updates lost; reconnecting…", severity="warning")
        elif self.connected is False and message.connected:
            self.notify("Live updates are back.")
        self.connected = message.connected

    @work(exclusive=True, group="resync")
    async def resync(self) -> None:
        """After a lost connection: snapshots bring every event's seats up to date, but
        an event deleted meanwhile is only noticed by listing them again."""
        with contextlib.suppress(ClientError):
            since = self.store.mark()
            self.store.replace(await self.client.events(limit=EVENT_LIMIT), since)

    def _publish_changes(self) -> None:
        changes = self.store.take_changes()
        if changes:
            self.events_changed.publish(changes)

    # --- navigation -----------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Hide the navigation keys before login, and admin areas from everyone else."""
        if action == "go":
            if self.client.tokens is None:
                return False
            return self.may_enter(str(parameters[0]))
        return True

    def action_go(self, mode: str) -> None:
        if self.client.tokens is None:
            return
        if not self.may_enter(mode):
            who = "admins" if mode in ADMIN_MODES else "clerks and admins"
            self.notify(f"That is for {who} only.", severity="error")
            return
        self.switch_mode(mode)

    @work(group="navigate")
    async def show_bookings(self, event_id: int) -> None:
        """The bookings screen, looking at one event."""
        await self.switch_mode("bookings")
        if isinstance(self.screen, BookingsScreen):
            self.screen.show_event(event_id)

    @work(group="navigate")
    async def show_audit(self, text: str) -> None:
        """The audit log, filtered by ``text`` (``booking 12``, say)."""
        if not self.may_enter("audit"):
            return
        await self.switch_mode("audit")
        if isinstance(self.screen, AuditScreen):
            self.screen.show_filter(text)

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen(self.screen))

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        if self.client.tokens is None:
            return
        for mode, title in MODE_TITLES.items():
            if self.may_enter(mode):
                yield SystemCommand(
                    title, f"Go to {title.lower()}", lambda m=mode: self.action_go(m)
                )
        yield SystemCommand("Log out", "End this session", self.action_logout)
