"""What happened, as Textual messages: screens react to these, not to the network."""

from __future__ import annotations

from textual.message import Message


class ConnectionChanged(Message):
    """The live feed connected or lost its connection."""

    def __init__(self, connected: bool, reason: str = "") -> None:
        super().__init__()
        self.connected = connected
        self.reason = reason
