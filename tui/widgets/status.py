"""The status line: who is logged in where, and whether live updates are flowing."""

from __future__ import annotations

from textual.reactive import reactive
from textual.widgets import Static


class ConnectionStatus(Static):
    """● live / ○ offline; the app sets ``connected`` from the live feed."""

    connected: reactive[bool | None] = reactive(None)
    who: reactive[str] = reactive("")

    def render(self) -> str:
        if self.connected is None:
            state = "[$text-muted]◌ connecting…[/]"
        elif self.connected:
            state = "[$success]● live[/]"
        else:
            state = "[$error]○ offline: reconnecting…[/]"
        return f"{self.who}  {state}" if self.who else state

    def watch_connected(self, connected: bool | None) -> None:
        self.set_class(connected is False, "-offline")
        self.set_class(bool(connected), "-live")
