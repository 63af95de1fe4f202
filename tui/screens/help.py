"""F1: what this screen is for and every key it answers to."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Markdown

from .base import Modal

ABOUT = """\
# Boxoffice

Sell seats at the counter, admit tickets at the door, and watch every event's seats change
live, whoever sells them.

- **Events** (F2): every event and its seats, live. Type to search (letters typed on the
  list start the search; Enter goes back to the list), **Enter** sells: pick the payment
  (cash, card, other) and **Sell**, or **Hold** the seats for a customer who pays later.
  The receipt shows the ticket code, in groups of four to read aloud. **ctrl+b**: the
  selected event's bookings.
- **Bookings** (F3): find a booking by **#reference** or customer name, or pick an event;
  **p** confirms a hold once paid, **c** cancels after you confirm.
- **Check-in** (F5, staff): scan or type a ticket code and Enter: ADMITTED or REFUSED, and
  why. **ctrl+g** sets this door's gate name, which is remembered.
- **Shift** (F6, staff): your sales and cancellations today, totals per payment method;
  **x** exports them as CSV. Admins pick any clerk.
- **Dashboard** (F4, admins): every event's seats, tickets admitted, sales per minute.
- **Audit log** (F7, admins): every change, who made it, when and from where.
- **Printing** (staff): **p** in an order's dialog prints its tickets (a QR code each) and
  receipt; **F10** sets the printer: PDF files, or an ESC/POS printer. Prints are audited.
- **ctrl+p**: the command palette: go anywhere, change theme, printer settings, log out.

The line at the bottom shows whether live updates are flowing; when the connection is
lost it reconnects by itself and brings every figure up to date.
"""


def key_table(screen: Screen) -> str:
    """The keys that work on ``screen``: those the focused widget shows in the footer
    (Enter sells, say), then every key of the screen and of the app it allows now.

    Not ``screen.active_bindings``: with a text box focused that lists every editing key
    of the box and none of the screen's letter keys (the box takes them as typing)."""
    app = screen.app
    widgets = []
    if screen.focused is not None:
        for node in screen.focused.ancestors_with_self:
            if node is screen:
                break
            widgets.append(node)
    namespaces = [(node, True) for node in widgets] + [(screen, False), (app, False)]
    # (where, action) -> (what it does, the keys that do it): "c,delete" is one row, but
    # two actions both called "Bookings" are two.
    rows: dict[tuple[int, str], tuple[str, list[str]]] = {}
    for namespace, shown_only in namespaces:
        for _key, binding in namespace._bindings:
            description = binding.tooltip or binding.description  # the longer, if any
            if not description or (shown_only and not binding.show):
                continue
            if not app._check_action_state(binding.action, namespace):
                continue  # disabled here, or not for this user
            _, listed = rows.setdefault((id(namespace), binding.action), (description, []))
            if (display := app.get_key_display(binding)) not in listed:
                listed.append(display)
    return "\n".join(
        ["| Key | Does |", "|---|---|"]
        + [
            f"| {', '.join(f'`{key}`' for key in listed)} | {description} |"
            for description, listed in rows.values()
        ]
    )


class HelpScreen(Modal[None]):
    BINDINGS = [Binding("escape,f1,q", "dismiss(None)", "Close help")]

    def __init__(self, screen: Screen) -> None:
        super().__init__()
        self.about = screen

    def compose(self) -> ComposeResult:
        title = self.about.sub_title or self.about.__class__.__name__.removesuffix("Screen")
        with VerticalScroll(classes="dialog", id="help"):
            yield Markdown(f"{ABOUT}\n## Keys on this screen ({title})\n\n{key_table(self.about)}")
