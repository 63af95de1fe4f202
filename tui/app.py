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
from common.models import STAFF_ROLES, Event, Order, PaymentMethod, Role

from . import printing
from .messages import ConnectionChanged
from .model import Change, EventStore
from .screens.audit import AuditScreen
from .screens.bookings import BookingsScreen
from .screens.checkin import CheckInScreen
from .screens.dashboard import DashboardScreen
from .screens.events import EventsScreen
from .screens.help import HelpScreen
from .screens.login import LoginScreen
from .screens.printer import PrinterScreen
from .screens.shift import ShiftScreen
from .screens.venues import VenuesScreen
from .screens.webhooks import WebhooksScreen
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
    "venues": VenuesScreen,
    "webhooks": WebhooksScreen,
}
ADMIN_MODES = {"dashboard", "audit", "venues", "webhooks"}
# Areas for clerks and admins only.
STAFF_MODES = {"checkin", "shift"}
# The API's largest page of events.
EVENT_PAGE = 500
MODE_TITLES = {
    "events": "Events",
    "bookings": "Bookings",
    "dashboard": "Dashboard",
    "checkin": "Check-in",
    "shift": "Shift report",
    "audit": "Audit log",
    "venues": "Venues",
    "webhooks": "Webhooks",
}


async def every_event(client: Client, *, upcoming: bool = False) -> list[Event]:
    """Every event (or every upcoming one), however many, page by page in date order.

    Each page starts at the last one's date (skipping the events of that date already
    read), not at an offset: an event added or deleted before it does not shift the next
    page, so none is skipped or read twice."""
    found: dict[int, Event] = {}
    date_from, skip = None, 0
    while True:
        page = await client.events(
            upcoming=upcoming, date_from=date_from, skip=skip, limit=EVENT_PAGE
        )
        found.update((event.id, event) for event in page)
        if len(page) < EVENT_PAGE:
            return list(found.values())
        last = page[-1].date
        same = sum(event.date == last for event in page)
        skip = skip + same if last == date_from else same
        date_from = last


class BoxofficeApp(App[None]):
    CSS_PATH = "boxoffice.tcss"
    TITLE = "Boxoffice"
    MODES = MODES
    BINDINGS = [
        Binding("f1", "help", "Help", id="help"),
        # In the footer after the screen's own keys, those of the areas this user may go
        # to (not the one shown); short, so that more of them fit 80 columns (the help
        # and the mouse's tooltip say it in full).
        Binding("f2", "go('events')", "Events", id="events"),
        Binding("f3", "go('bookings')", "Bookings", id="bookings"),
        Binding("f4", "go('dashboard')", "Dashboard", id="dashboard"),
        Binding("f5", "go('checkin')", "Check-in", id="checkin"),
        Binding("f6", "go('shift')", "Shift", tooltip="Shift report", id="shift"),
        Binding("f7", "go('audit')", "Audit", tooltip="Audit log", id="audit"),
        Binding("f8", "go('venues')", "Venues", id="venues"),
        Binding("f9", "go('webhooks')", "Hooks", tooltip="Webhooks", id="webhooks"),
        # Set once per counter: in the help and the palette, not the footer.
        Binding(
            "f10",
            "printer_settings",
            "Printer",
            tooltip="Printer settings",
            show=False,
            id="printer",
        ),
        # Known to every terminal user: in the help and the palette, not the footer.
        Binding("ctrl+q", "quit", "Quit", id="quit", priority=True, show=False),
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
        # Every upcoming event at once; the live feed brings the past ones as it starts.
        self.store.load(await every_event(self.client, upcoming=True))
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
        an event deleted meanwhile is only noticed by listing them again, all of them:
        an event missing from the list is taken as deleted."""
        with contextlib.suppress(ClientError):
            since = self.store.mark()
            self.store.replace(await every_event(self.client), since)

    def _publish_changes(self) -> None:
        changes = self.store.take_changes()
        if changes:
            self.events_changed.publish(changes)

    # --- navigation -----------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Hide the navigation keys before login, admin areas from everyone else, and the
        key of the area shown."""
        if action == "go":
            if self.client.tokens is None or parameters[0] == self.current_mode:
                return False
            return self.may_enter(str(parameters[0]))
        if action == "printer_settings":
            return self.client.tokens is not None and self.is_staff
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

    def action_printer_settings(self) -> None:
        if self.is_staff and not isinstance(self.screen, PrinterScreen):
            self.push_screen(PrinterScreen())

    @work(group="print")
    async def print_order(self, order: Order | int) -> None:
        """Print an order's tickets (and its receipt, as the settings say) where the
        printer settings say, telling the clerk what came out or why not. The server
        records the print first; the printer's I/O runs in a thread. A worker of the app,
        so it finishes even if the dialog that asked is closed."""
        try:
            if isinstance(order, int):
                order = await self.client.order(order)
            event = self.store.events.get(order.event_id)
            done = await printing.print_order(
                self.client,
                self.settings.printer_setup(),
                order,
                event,
                receipt=self.settings.print_receipt,
            )
        except (ClientError, printing.PrintError) as exc:
            self.notify(f"Not printed: {exc}", severity="error", timeout=10)
            return
        self.notify(done)

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        if self.client.tokens is None:
            return
        for mode, title in MODE_TITLES.items():
            if self.may_enter(mode):
                yield SystemCommand(
                    title, f"Go to {title.lower()}", lambda m=mode: self.action_go(m)
                )
        if self.is_staff:
            yield SystemCommand(
                "Printer settings",
                "Where p prints tickets and receipts: PDF files or an ESC/POS printer (F10)",
                self.action_printer_settings,
            )
        yield SystemCommand("Log out", "End this session", self.action_logout)
