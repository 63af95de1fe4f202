"""Readiness: whether this instance can do its work (the database answers, live updates
are connected). Liveness needs no service: answering at all is the answer."""

from __future__ import annotations

import asyncio

from . import queries as q
from .db import Database
from .listener import Listener

# How long the database may take to answer readiness's SELECT 1.
READY_TIMEOUT = 2.0


class Health:
    def __init__(self, db: Database, listener: Listener) -> None:
        self.db = db
        self.listener = listener

    async def checks(self) -> dict[str, str]:
        """Each check: "ok" or why it failed ("timeout", "down", "error: ...")."""
        return {"database": await self._database(), "listen": self._listen()}

    async def _database(self) -> str:
        try:
            async with asyncio.timeout(READY_TIMEOUT):
                await self.db.fetchone(q.PING)
        except TimeoutError:
            return "timeout"
        except Exception as exc:  # whatever the driver raises, the answer is "not ready"
            return f"error: {type(exc).__name__}"
        return "ok"

    def _listen(self) -> str:
        return "ok" if self.listener.connected.is_set() else "down"
