"""Ask before doing something that cannot be undone, or how a customer paid."""

from __future__ import annotations

from collections.abc import Callable
from typing import cast

from textual import on
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Static

from common.models import PaymentMethod

from ..formatting import PAYMENT_METHODS
from .base import Modal


def confirm_then(app: App[object], question: str, yes: str, then: Callable[[], object]) -> None:
    """Ask ``question``; call ``then`` only if the answer is yes."""
    app.push_screen(ConfirmScreen(question, yes), lambda answer: then() if answer else None)


class ConfirmScreen(Modal[bool]):
    BINDINGS = [
        Binding("y", "answer(True)", "Yes"),
        Binding("n,escape", "answer(False)", "No"),
    ]

    def __init__(self, question: str, yes: str = "Yes", no: str = "Keep it") -> None:
        super().__init__()
        self.question, self.yes, self.no = question, yes, no

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static(self.question, classes="question")
            with Horizontal(classes="buttons"):
                yield Button(f"{self.yes} (y)", variant="error", id="yes")
                yield Button(f"{self.no} (n)", id="no")

    def on_mount(self) -> None:
        self.query_one("#no").focus()

    @on(Button.Pressed)
    def pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)


class PaymentScreen(Modal[PaymentMethod | None]):
    """How did the customer pay? One key or button per method; None: not now."""

    BINDINGS = [
        Binding("1", "pay('cash')", "Cash"),
        Binding("2", "pay('card')", "Card"),
        Binding("3", "pay('other')", "Other"),
        Binding("escape", "pay(None)", "Not now"),
    ]

    def __init__(self, question: str, default: PaymentMethod = "cash") -> None:
        super().__init__()
        self.question, self.default = question, default

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static(self.question, classes="question")
            yield Static("How did the customer pay?", classes="muted", id="pay-question")
            with Horizontal(classes="buttons"):
                for n, (method, label) in enumerate(PAYMENT_METHODS.items(), start=1):
                    yield Button(f"{label} ({n})", variant="success", id=f"pay-{method}")
                yield Button("Not now", id="pay-none")

    def on_mount(self) -> None:
        self.query_one(f"#pay-{self.default}").focus()

    @on(Button.Pressed)
    def pressed(self, event: Button.Pressed) -> None:
        method = (event.button.id or "").removeprefix("pay-")
        self.action_pay(method if method in PAYMENT_METHODS else None)

    def action_pay(self, method: str | None) -> None:
        self.dismiss(cast(PaymentMethod, method) if method in PAYMENT_METHODS else None)
