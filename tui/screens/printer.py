"""The printer settings (F10, or "Printer settings" in the command palette): where ``p``
prints an order's tickets and receipt. PDF files in a folder (sent on to the system printer
with ``lp`` if asked), or an ESC/POS thermal printer on the network, on USB or at a device
file. Saved in the terminal's settings, so the counter keeps them."""

from __future__ import annotations

import shutil
from typing import cast

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Checkbox, Input, Label, RadioButton, RadioSet, Static

from ..printing import (
    DEFAULT_PROFILE,
    PRINTER_KINDS,
    PrinterKind,
    PrinterSetup,
    parse_address,
    profiles,
)
from .base import Modal

KIND_LABELS: dict[PrinterKind, str] = {
    "pdf": "PDF files",
    "network": "Network",
    "usb": "USB",
    "file": "Device file",
}
ADDRESS_HINTS: dict[PrinterKind, str] = {
    "pdf": "(not used for PDF files)",
    "network": "host or host:port, as 192.168.1.50:9100",
    "usb": "vendor:product in hex, as 04b8:0202 (lsusb)",
    "file": "the device file, as /dev/usb/lp0",
}


class PrinterScreen(Modal[bool]):
    """Edit the printer settings; dismissed with whether they were saved."""

    BINDINGS = [
        Binding("ctrl+s", "save", "Save"),
        Binding("escape", "cancel", "Cancel"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.kind = cast(PrinterKind, "pdf")

    def compose(self) -> ComposeResult:
        settings = self.boxoffice.settings
        kind = settings.printer if settings.printer in PRINTER_KINDS else "pdf"
        self.kind = cast(PrinterKind, kind)
        with Vertical(classes="dialog", id="printer-dialog"):
            yield Static("Printer", classes="title")
            with RadioSet(id="printer-kind"):
                for key, label in KIND_LABELS.items():
                    yield RadioButton(label, value=key == kind, id=f"printer-{key}")
            with Horizontal(classes="field compact"):
                yield Label("Address")
                yield Input(settings.printer_address, id="printer-address", compact=True)
            with Horizontal(classes="field compact"):
                yield Label("Profile")
                yield Input(
                    settings.printer_profile,
                    placeholder=f"{DEFAULT_PROFILE} (the reference Epson)",
                    id="printer-profile",
                    compact=True,
                )
            with Horizontal(classes="field compact"):
                yield Label("PDF folder")
                yield Input(
                    settings.pdf_dir,
                    placeholder=settings.export_dir or "the home folder",
                    id="pdf-dir",
                    compact=True,
                )
            lp = shutil.which("lp") is not None
            yield Checkbox(
                "Send PDFs to the system printer (lp)" + ("" if lp else ": no lp here"),
                settings.pdf_lp,
                id="pdf-lp",
                compact=True,
                disabled=not lp and not settings.pdf_lp,
            )
            yield Checkbox(
                "Print the receipt with the tickets",
                settings.print_receipt,
                id="print-receipt",
                compact=True,
            )
            yield Static("", id="printer-message", classes="field-error")
            with Horizontal(classes="buttons"):
                yield Button("Save (ctrl+s)", variant="primary", id="printer-save")
                yield Button("Cancel (esc)", id="printer-cancel")

    def on_mount(self) -> None:
        self._kind_changed()
        self.query_one(RadioSet).focus()

    @on(RadioSet.Changed, "#printer-kind")
    def _picked(self, message: RadioSet.Changed) -> None:
        self.kind = cast(PrinterKind, (message.pressed.id or "").removeprefix("printer-"))
        self._kind_changed()

    def _kind_changed(self) -> None:
        """Only the fields this kind of printer uses can be edited."""
        escpos = self.kind != "pdf"
        address = self.query_one("#printer-address", Input)
        address.placeholder = ADDRESS_HINTS[self.kind]
        address.disabled = not escpos
        self.query_one("#printer-profile", Input).disabled = not escpos
        self.query_one("#pdf-dir", Input).disabled = escpos
        self.query_one("#printer-message", Static).update("")

    def _error(self, message: str) -> None:
        self.query_one("#printer-message", Static).update(message)

    @on(Button.Pressed, "#printer-save")
    @on(Input.Submitted)
    def action_save(self) -> None:
        address = self.query_one("#printer-address", Input).value.strip()
        profile = self.query_one("#printer-profile", Input).value.strip()
        if self.kind != "pdf":
            try:
                parse_address(self.kind, address)
            except ValueError as exc:
                self._error(str(exc))
                return
            if profile and profile not in profiles():
                self._error(f"No printer profile {profile!r}: try {DEFAULT_PROFILE} or TM-T20II")
                return
        settings = self.boxoffice.settings
        settings.printer, settings.printer_address, settings.printer_profile = (
            self.kind,
            address,
            profile,
        )
        settings.pdf_dir = self.query_one("#pdf-dir", Input).value.strip()
        settings.pdf_lp = self.query_one("#pdf-lp", Checkbox).value
        settings.print_receipt = self.query_one("#print-receipt", Checkbox).value
        settings.save(self.boxoffice.settings_path)
        self.notify(f"Printing to {describe(self.boxoffice.settings.printer_setup())}.")
        self.dismiss(True)

    @on(Button.Pressed, "#printer-cancel")
    def action_cancel(self) -> None:
        self.dismiss(False)


def describe(setup: PrinterSetup) -> str:
    """Where the terminal prints, in words."""
    if setup.kind == "pdf":
        return f"PDF files in {setup.folder}" + (" (and lp)" if setup.lp else "")
    return f"the {KIND_LABELS[setup.kind].lower()} printer {setup.address}"
