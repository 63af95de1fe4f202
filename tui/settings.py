"""What the terminal remembers between runs: the server URL, the last username, the
door's gate name and where reports are saved."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

DEFAULT_SERVER = "http://127.0.0.1:8080"


def settings_path() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config"
    return Path(base) / "boxoffice" / "tui.json"


@dataclass
class Settings:
    server: str = DEFAULT_SERVER
    username: str = ""
    theme: str = ""
    gate: str = ""
    """the gate (door) this terminal checks tickets in at"""
    export_dir: str = ""
    """where exported reports are written; empty: the home directory"""

    @classmethod
    def load(cls, path: Path | None = None) -> Settings:
        path = path or settings_path()
        try:
            data = json.loads(path.read_text())
            return cls(**{k: str(v) for k, v in data.items() if k in cls.__dataclass_fields__})
        except (OSError, ValueError, TypeError):
            return cls()

    def save(self, path: Path | None = None) -> None:
        path = path or settings_path()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(asdict(self), indent=2))
        except OSError:
            pass  # remembering is a convenience, never a reason to fail
