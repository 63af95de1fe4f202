"""The one LISTEN connection of a server instance.

Every change to an event is NOTIFYed by the database (see migrations/0002_live.sql); this
connection hears them all, whichever instance made the change, and hands them to the hub.
When it drops (database restart, network), it reconnects with backoff and the hub resends
every subscriber a snapshot, so nobody is left showing stale numbers.
"""

from __future__ import annotations

import asyncio
import logging

import aiopg
import psycopg2

from common.models import CHANNEL

from .live import Hub

log = logging.getLogger(__name__)

# How the connection shows in pg_stat_activity.
APPLICATION_NAME = "boxoffice-listen"


class Listener:
    def __init__(self, dsn: str, hub: Hub, *, ping_interval: float = 10.0) -> None:
        self.dsn = dsn
        self.hub = hub
        self.ping_interval = ping_interval
        self.connected = asyncio.Event()
        self.reconnects = 0

    async def run_forever(self) -> None:
        backoff = 0.1
        first = True
        while True:
            try:
                conn = await aiopg.connect(
                    self.dsn, enable_hstore=False, timeout=10, application_name=APPLICATION_NAME
                )
            except (psycopg2.Error, OSError, TimeoutError) as exc:
                log.warning("LISTEN connection failed (%s); retrying in %.1f s", exc, backoff)
            else:
                try:
                    async with conn.cursor() as cur:
                        await cur.execute(f"LISTEN {CHANNEL}")
                    self.connected.set()
                    if not first:
                        self.reconnects += 1
                        log.info("LISTEN connection back; resyncing subscribers")
                    first = False
                    backoff = 0.1
                    # Changes made while we were away: covered by a fresh snapshot.
                    await self.hub.resync()
                    await self._pump(conn)
                except (psycopg2.Error, OSError, TimeoutError) as exc:
                    log.warning("LISTEN connection lost (%s); reconnecting", exc)
                finally:
                    self.connected.clear()
                    conn.close()
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 5.0)

    async def _pump(self, conn: aiopg.Connection) -> None:
        while True:
            try:
                async with asyncio.timeout(self.ping_interval):
                    note = await conn.notifies.get()
            except TimeoutError:
                # Quiet for a while: make sure the connection is really there.
                async with asyncio.timeout(self.ping_interval), conn.cursor() as cur:
                    await cur.execute("SELECT 1")
                continue
            try:
                self.hub.notified(note.payload)
            except (ValueError, KeyError, TypeError) as exc:
                log.error("unreadable notification %r: %s", note.payload[:200], exc)
