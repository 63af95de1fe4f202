"""F6 (staff): the shift report: today's sales, cancellations and returns, the takings per
payment method, and every booking behind them. ``[`` and ``]`` go a day back and forth; ``x``
exports the report as CSV. Admins pick whose shift (or all staff's); clerks see their own.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from datetime import date, datetime, time, timedelta
from pathlib import Path

from rich.text import Text
from textual import on, work
from textual.binding import Binding
from textual.containers import Horizontal
from textual.widget import Widget
from textual.widgets import DataTable, Select, Static

from common.client import ClientError
from common.models import STAFF_ROLES, PaymentTotal, ShiftLine, ShiftReport, Tally

from ..formatting import PAYMENT_METHODS, clock, money, seats
from .base import StaffScreen

ALL_STAFF = "*"  # the Select value for every staff member's sales
COLUMNS = (
    ("at", "Time"),
    ("ref", "Ref"),
    ("what", "What"),
    ("paid", "Paid"),
    ("amount", "Amount"),
    ("seats", "Seats"),
    ("customer", "Customer"),
    ("event", "Event"),
)


def period(day: date) -> tuple[datetime, datetime]:
    """The local day ``day``, midnight to midnight, as aware date-times."""
    start = datetime.combine(day, time()).astimezone()
    return start, datetime.combine(day + timedelta(days=1), time()).astimezone()


def tally(label: str, figures: Tally) -> str:
    return f"{label:<14}{figures.count:>5}{figures.seats:>6}{money(figures.amount):>11}"


def what(line: ShiftLine) -> Text:
    # A sale cancelled, or tickets returned, later in the same shift: both on one line.
    given_back = "cancel" if line.cancellation else "return" if line.tickets_returned else ""
    if line.sale and given_back:
        return Text(f"sold+{given_back}", style="yellow")
    if line.cancellation:
        return Text("cancelled", style="red")
    if line.tickets_returned:
        return Text("returned", style="red")
    if line.sale:
        return Text("sale", style="green")
    return Text(line.status, style="dim")


def row(line: ShiftLine, by: bool) -> tuple[object, ...]:
    customer = line.customer_name or "—"
    # The tickets sold; for a line of refunds only, the tickets given back.
    tickets = line.tickets_sold if line.sale else line.tickets_cancelled + line.tickets_returned
    return (
        clock(line.counted_at),
        f"#{line.booking_id}",
        what(line),
        PAYMENT_METHODS[line.payment_method] if line.payment_method else "—",
        Text(money(line.net), justify="right", style="red" if line.net < 0 else ""),
        Text(str(tickets), justify="right"),
        f"{customer} ({line.sold_by})" if by else customer,
        line.event_title,
    )


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


class ShiftScreen(StaffScreen):
    BINDINGS = [
        Binding("left_square_bracket", "day(-1)", "Day before"),
        Binding("right_square_bracket", "day(1)", "Day after"),
        Binding("t", "today", "Today"),
        Binding("x", "export", "Export CSV"),
        Binding("r", "reload", "Reload"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.day = date.today()
        self.report: ShiftReport | None = None
        self.last_export: Path | None = None

    def compose_body(self) -> Iterable[Widget]:
        with Horizontal(id="shift-bar"):
            yield Static("", id="shift-period")
            yield Select[str]([], allow_blank=True, prompt="Whose shift", id="shift-clerk")
        with Horizontal(id="shift-top"):
            yield Static("", id="shift-totals")
            yield Static("", id="shift-payments")
        yield DataTable[object](id="shift-bookings", cursor_type="row", zebra_stripes=True)
        yield Static("", id="shift-message")

    @property
    def table(self) -> DataTable[object]:
        return self.query_one("#shift-bookings", DataTable)

    @property
    def clerk(self) -> str | None:
        """Whose report: the caller unless an admin picked someone else (None: all)."""
        value = self.query_one("#shift-clerk", Select).value
        if not isinstance(value, str):
            return self.boxoffice.client.username
        return None if value == ALL_STAFF else value

    def came_back(self) -> None:
        self.action_reload()

    def on_mount(self) -> None:
        super().on_mount()
        self.sub_title = "Shift"
        self.query_one("#shift-totals").border_title = "Totals"
        self.query_one("#shift-payments").border_title = "By payment"
        for key, label in COLUMNS:
            self.table.add_column(label, key=key)
        picker = self.query_one("#shift-clerk", Select)
        picker.display = self.boxoffice.is_admin
        me = self.boxoffice.client.username or ""
        with self.prevent(Select.Changed):
            picker.set_options([(f"{me} (me)", me), ("All staff", ALL_STAFF)])
            picker.value = me
        if self.boxoffice.is_admin:
            self.fill_clerks()
        self.table.focus()
        self.action_reload()

    @work(group="clerks")
    async def fill_clerks(self) -> None:
        """Admins pick any staff member: the accounts that can sell."""
        try:
            users = await self.boxoffice.client.users(limit=500)
        except ClientError:
            return
        me = self.boxoffice.client.username or ""
        picker = self.query_one("#shift-clerk", Select)
        options = [(f"{me} (me)", me), ("All staff", ALL_STAFF)] + [
            (f"{u.username} ({u.role})", u.username)
            for u in sorted(users, key=lambda u: u.username.casefold())
            if u.role in STAFF_ROLES and u.username != me
        ]
        chosen = picker.value
        with self.prevent(Select.Changed):
            picker.set_options(options)
            picker.value = chosen if any(v == chosen for _, v in options) else me

    # --- the period and the clerk -----------------------------------------------------

    def action_day(self, step: int) -> None:
        self.day += timedelta(days=step)
        self.action_reload()

    def action_today(self) -> None:
        self.day = date.today()
        self.action_reload()

    @on(Select.Changed, "#shift-clerk")
    def action_reload(self) -> None:
        label = "Today" if self.day == date.today() else f"{self.day:%a %d %b %Y}"
        who = self.clerk or "all staff"
        self.query_one("#shift-period", Static).update(f"[b]{label}[/b] · {who}")
        self.load(self.clerk, self.day)

    @work(exclusive=True, group="shift")
    async def load(self, clerk: str | None, day: date) -> None:
        start, end = period(day)
        message = self.query_one("#shift-message", Static)
        try:
            report = await self.boxoffice.client.shift_report(
                clerk=clerk, date_from=start, date_to=end
            )
        except ClientError as exc:
            message.update(f"Could not load the report: {exc.message}")
            return
        self.report = report
        self._show(report)

    def _show(self, report: ShiftReport) -> None:
        self.query_one("#shift-totals", Static).update(
            "\n".join(
                [
                    f"[dim]{'':<14}{'Count':>5}{'Seats':>6}{'Amount':>11}[/dim]",
                    tally("Sold", report.sales),
                    tally(" of them holds", report.holds_confirmed),
                    tally("Cancelled", report.cancellations),
                    tally("Returned", report.returns),
                    f"{'Net takings':<25}[b]{money(report.net_takings):>11}[/b]",
                ]
            )
        )
        payments: list[tuple[str, PaymentTotal]] = [
            (label, getattr(report.payments, method)) for method, label in PAYMENT_METHODS.items()
        ]
        if report.payments.unrecorded.sold or report.payments.unrecorded.refunded:
            payments.append(("None", report.payments.unrecorded))
        self.query_one("#shift-payments", Static).update(
            "\n".join(
                [f"[dim]{'':<6}{'Sold':>10}{'Refunded':>10}{'Net':>10}[/dim]"]
                + [
                    f"{label:<6}{money(t.sold):>10}{money(t.refunded):>10}[b]{money(t.net):>10}[/b]"
                    for label, t in payments
                ]
            )
        )
        by = report.clerk is None
        self.table.clear()
        for line in report.bookings:
            self.table.add_row(*row(line, by), key=str(line.booking_id))
        count = len(report.bookings)
        sold = report.sales.seats
        start, end = report.date_from.astimezone(), report.date_to.astimezone()
        self.query_one("#shift-message", Static).update(
            f"{count} booking{'s' * (count != 1)} · {seats(sold)} sold · "
            f"{start:%d %b %H:%M} to {end:%d %b %H:%M} · x exports CSV"
        )

    # --- export -------------------------------------------------------------------------

    def export_dir(self) -> Path:
        configured = self.boxoffice.settings.export_dir
        return Path(configured).expanduser() if configured else Path.home()

    def action_export(self) -> None:
        self.export(self.clerk, self.day)

    @work(exclusive=True, group="export")
    async def export(self, clerk: str | None, day: date) -> None:
        start, end = period(day)
        try:
            csv = await self.boxoffice.client.shift_report_csv(
                clerk=clerk, date_from=start, date_to=end
            )
        except ClientError as exc:
            self.notify(exc.message, title="Not exported", severity="error")
            return
        name = f"shift-{clerk or 'all-staff'}-{day.isoformat()}.csv"
        path = self.export_dir() / name
        try:
            await asyncio.to_thread(write, path, csv)
        except OSError as exc:
            self.notify(f"{path}: {exc.strerror or exc}", title="Not exported", severity="error")
            return
        self.last_export = path
        self.notify(str(path), title="Shift report exported", timeout=10)
