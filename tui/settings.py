"""What the terminal remembers between runs: the server URL, the last username, the
door's gate name, where reports are saved, and its printer."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import cast

from .printing import DEFAULT_PROFILE, PRINTER_KINDS, PrinterKind, PrinterSetup

DEFAULT_SERVER = "http://127.0.0.1:8080"


def settings_path() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config"
    return Path(base) / "boxoffice" / "tui.json"


def _typed(default: object, value: object) -> object:
    """A remembered value as its setting's type: a switch stays a switch (anything else
    there is its default), the rest are text."""
    if isinstance(default, bool):
        return value if isinstance(value, bool) else default
    return str(value)


@dataclass
class Settings:
    server: str = DEFAULT_SERVER
    username: str = ""
    theme: str = ""
    gate: str = ""
    """the gate (door) this terminal checks tickets in at"""
    export_dir: str = ""
    """where exported reports are written; empty: the home directory"""
    printer: str = "pdf"
    """pdf (files in pdf_dir), or an ESC/POS printer: network, usb or file"""
    printer_address: str = ""
    """network: host[:port]; usb: vendor:product in hex; file: the device file"""
    printer_profile: str = ""
    """the ESC/POS printer's python-escpos profile; empty: the reference Epson (TM-T88V)"""
    pdf_dir: str = ""
    """where PDF tickets and receipts are saved; empty: the export folder"""
    pdf_lp: bool = False
    """also send each PDF to the system printer with lp"""
    print_receipt: bool = True
    """print the receipt with the tickets"""

    @classmethod
    def load(cls, path: Path | None = None) -> Settings:
        path = path or settings_path()
        try:
            data = json.loads(path.read_text())
            fields = cls.__dataclass_fields__
            return cls(**{k: _typed(fields[k].default, v) for k, v in data.items() if k in fields})
        except (OSError, ValueError, TypeError):
            return cls()

    def save(self, path: Path | None = None) -> None:
        path = path or settings_path()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(asdict(self), indent=2))
        except OSError:
            pass  # remembering is a convenience, never a reason to fail

    def printer_setup(self) -> PrinterSetup:
        """Where this terminal prints, for the printing thread."""
        folder = self.pdf_dir or self.export_dir
        kind = self.printer if self.printer in PRINTER_KINDS else "pdf"
        return PrinterSetup(
            kind=cast(PrinterKind, kind),
            address=self.printer_address,
            folder=Path(folder).expanduser() if folder else Path.home(),
            lp=self.pdf_lp,
            profile=self.printer_profile or DEFAULT_PROFILE,
        )
