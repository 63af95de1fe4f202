"""F5: admit tickets at the door.

A barcode scanner types the ticket code and Enter into the one big box (or a person does);
the box clears at once, ready for the next scan, while the server answers in a worker. The
answer fills the result panel: green ADMITTED with the event, the customer, how many
tickets this scan let in (an order's code admits every ticket of it not yet in) and their
seats, or red REFUSED with the reason and the code as it was typed. The gate name is
remembered between runs.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

from rich.text import Text
from textual import on, work
from textual.binding import Binding
from textual.containers import Horizontal
from textual.widget import Widget
from textual.widgets import DataTable, Input, Static

from common.client import ApiError, ClientError
from common.models import CheckInResult, Ticket

from ..formatting import clock, plural, seat_list, when
from ..widgets.banner import banner
from .base import StaffScreen

Verdict = Literal["admitted", "refused", "unchecked"]
HEADLINES: dict[Verdict, tuple[str, str]] = {  # (the banner's word, the panel's title)
    "admitted": ("ADMITTED", "✔ ADMITTED"),
    "refused": ("REFUSED", "✘ REFUSED"),
    "unchecked": ("NOT CHECKED", "? NOT CHECKED"),
}
HISTORY = 100  # scans listed under the panel
WHY_NOT = {
    "cancelled": "Cancelled booking: the ticket is void",
    "pending": "Held, not paid: the hold must be confirmed first",
    "expired": "Hold expired: the ticket was never paid",
}


@dataclass
class Scan:
    """One scan and what the server said about it."""

    code: str
    verdict: Verdict
    lines: list[str]
    """what to show under the headline"""
    summary: str
    """the same, in one line, for the list of recent scans"""
    at: datetime = field(default_factory=lambda: datetime.now(UTC))


def short_code(code: str) -> str:
    return code if len(code) <= 12 else f"{code[:4]}…{code[-4:]}"


def normalised(code: str) -> str:
    """A code as the server reads it: without spaces or dashes, in capitals."""
    return code.replace(" ", "").replace("-", "").upper()


def let_in(code: str, result: CheckInResult) -> list[Ticket]:
    """The tickets this scan admitted: the one whose own code it was, or (an order's code)
    those admitted last, together, by this scan."""
    mine = [t for t in result.tickets if t.code == normalised(code)]
    if mine:
        return mine
    times = [t.checked_in_at for t in result.tickets if t.checked_in_at is not None]
    return [t for t in result.tickets if times and t.checked_in_at == max(times)]


def admitted(code: str, result: CheckInResult, date: str) -> Scan:
    """What the door needs first: how many to let in and where they sit; then the event
    and the booking."""
    booking = result.booking
    customer = booking.customer_name or "—"
    count = f"{plural(result.admitted, 'ticket')} admitted"
    tickets = let_in(code, result)
    kinds = Counter(t.ticket_type for t in tickets)
    what = ", ".join(kind if len(kinds) == 1 else f"{n} {kind}" for kind, n in kinds.items())
    already = sum(t.status == "admitted" for t in result.tickets) - len(tickets)
    lines = [
        (f"{count}: {what}" if what else count)
        + (f" ({already} already in)" if already > 0 else ""),
        seat_list(tickets),
        f"{result.event_title}" + (f" · {date}" if date else ""),
        f"{customer} · booking #{booking.id} · {result.event_checked_in} in for this event",
    ]
    return Scan(
        code,
        "admitted",
        [line for line in lines if line],
        f"{count} · {result.event_title} · {customer}",
        scanned_at(result, tickets),
    )


def scanned_at(result: CheckInResult, tickets: list[Ticket]) -> datetime:
    """When this scan let them in: the booking's time is its first admission, and a later
    scan of another of its tickets is later."""
    times = [t.checked_in_at for t in tickets if t.checked_in_at is not None]
    first = result.booking.checked_in_at
    if first is None:
        return max(times, default=datetime.now(UTC))
    return max([first, *times])


def refusal(exc: ApiError) -> str:
    """Why a ticket was refused, for the person at the door."""
    data = exc.data if isinstance(exc.data, dict) else {}
    if exc.status == 404:
        return "Unknown ticket code: not one of our tickets"
    if exc.status == 409 and data.get("checked_in_at"):
        at = datetime.fromisoformat(data["checked_in_at"]).astimezone()
        day = "" if at.date() == datetime.now().astimezone().date() else f" on {at:%d %b}"
        gate = f" at {data['gate']}" if data.get("gate") else ""
        by = f" by {data['checked_in_by']}" if data.get("checked_in_by") else ""
        return f"Already admitted{day} at {at:%H:%M}{gate}{by}"
    if exc.status == 409 and exc.message.startswith("Not admitted: the booking is "):
        status = exc.message.removeprefix("Not admitted: the booking is ")
        return WHY_NOT.get(status, exc.message)
    if exc.fields:
        return f"Not a ticket code: {next(iter(exc.fields.values()))}"
    return exc.message


class CheckInScreen(StaffScreen):
    BINDINGS = [
        Binding("ctrl+g", "gate", "Gate"),
        Binding("escape", "clear", "Clear", show=False),
    ]
    AUTO_FOCUS = "#scan"

    def __init__(self) -> None:
        super().__init__()
        self.history: deque[Scan] = deque(maxlen=HISTORY)
        self._asked = 0  # scans sent so far
        self._shown = 0  # the number of the scan the panel shows

    def compose_body(self) -> Iterable[Widget]:
        with Horizontal(id="checkin-bar"):
            yield Input(
                placeholder="Scan or type a ticket code, then Enter", id="scan", max_length=80
            )
            yield Input(
                self.boxoffice.settings.gate,
                placeholder="gate (optional)",
                id="gate",
                max_length=64,
            )
        yield Static("", id="checkin-result")
        yield DataTable[object](id="scans", cursor_type="none", zebra_stripes=True)

    def on_mount(self) -> None:
        super().on_mount()
        self.sub_title = "Check-in"
        self.query_one("#scan").border_title = "Ticket code"
        self.query_one("#gate").border_title = "Gate"
        table = self.query_one("#scans", DataTable)
        table.border_title = "Recent scans"
        for key, label in (("at", "Time"), ("verdict", "Result"), ("code", "Code"), ("what", "")):
            table.add_column(label, key=key)
        self._show_panel(None)

    # --- scanning -----------------------------------------------------------------------

    @on(Input.Submitted, "#scan")
    def submitted(self, message: Input.Submitted) -> None:
        box = self.query_one("#scan", Input)
        code = message.value.strip()
        box.value = ""
        box.focus()
        if code:
            self._asked += 1
            self.check(code, self.boxoffice.settings.gate, self._asked)

    @work(group="checkin")
    async def check(self, code: str, gate: str, number: int) -> None:
        """Ask the server; not exclusive, so a quick second scan never cancels the first."""
        try:
            result = await self.boxoffice.client.check_in(code, gate or None)
        except ApiError as exc:
            reason = refusal(exc)
            # The code as typed: regrouping it would hide what the scanner really sent.
            scan = Scan(code, "refused", [reason, f"Code {code}"], reason)
        except ClientError as exc:
            lines = [exc.message, "The ticket was not checked: scan it again."]
            scan = Scan(code, "unchecked", lines, exc.message)
        else:
            event = self.boxoffice.store.events.get(result.booking.event_id)
            scan = admitted(code, result, when(event) if event else "")
        self.history.appendleft(scan)
        self._show_history()
        if number > self._shown:  # an older answer arriving late does not hide a newer one
            self._shown = number
            self._show_panel(scan)
        if scan.verdict != "admitted":
            self.app.bell()

    def _show_panel(self, scan: Scan | None) -> None:
        panel = self.query_one("#checkin-result", Static)
        panel.set_classes("")
        if scan is None:
            panel.border_title = "Ready"
            panel.update("Scan a ticket, or type its code and press Enter.")
            return
        word, panel.border_title = HEADLINES[scan.verdict]
        panel.add_class(f"-{scan.verdict}")
        big = banner(word)
        if big is None or max(map(len, big.splitlines())) > self.size.width - 4:
            big = word  # a narrow terminal: in plain letters
        # No blank line under the banner: the panel has room for it and four lines.
        panel.update(Text.assemble((big, "bold"), "\n", "\n".join(scan.lines), justify="center"))

    def _show_history(self) -> None:
        table = self.query_one("#scans", DataTable)
        table.clear()
        styles = {"admitted": "bold green", "refused": "bold red", "unchecked": "bold yellow"}
        for scan in self.history:
            table.add_row(
                clock(scan.at, seconds=True),
                Text(scan.verdict.upper(), style=styles[scan.verdict]),
                short_code(scan.code),
                scan.summary,
            )

    # --- the gate -----------------------------------------------------------------------

    @on(Input.Changed, "#gate")
    def _gate_changed(self, message: Input.Changed) -> None:
        self.boxoffice.settings.gate = message.value.strip()

    @on(Input.Blurred, "#gate")
    def _save_gate(self) -> None:
        self.boxoffice.settings.save(self.boxoffice.settings_path)

    @on(Input.Submitted, "#gate")
    def _back_to_scanning(self) -> None:
        self.query_one("#scan").focus()

    def action_gate(self) -> None:
        self.query_one("#gate").focus()

    def action_clear(self) -> None:
        box = self.query_one("#scan", Input)
        box.value = ""
        box.focus()
        self._shown = self._asked
        self._show_panel(None)
