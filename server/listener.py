"""The one LISTEN connection of a server instance.

Every change to an event is NOTIFYed by the database (see migrations/0002_live.sql), every
change to a seated event's seats (0010_orders.sql) and every change to an account's access
(0007_account_push.sql), every change to an event's ticket types (ticket_types.py) and every
new webhook delivery (0014_webhooks.sql); this connection hears them all, whichever instance
made the change, and hands them to the hub, the accounts, the browse cache and the webhook
sender. When it drops (database restart, network), the accounts
stop trusting what they know (see accounts.py), the hub's seat maps stop changing and the
browse cache empties and serves from the database; it reconnects with backoff, the accounts
reload what matters, the browse cache keeps answers again and the hub resends every
subscriber a snapshot (seat maps read again), so nobody is left showing stale numbers.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable

import aiopg
import psycopg2
from psycopg2.extensions import Notify

from common.models import CHANNEL

from . import accounts
from .accounts import Accounts
from .browse_cache import BROWSE_CHANNEL, BrowseCache
from .live import Hub
from .seatmaps import SEAT_CHANNEL
from .webhooks import CHANNEL as WEBHOOK_CHANNEL

log = logging.getLogger(__name__)

# How the connection shows in pg_stat_activity.
APPLICATION_NAME = "boxoffice-listen"
# The longest wait between attempts to reconnect: a failover takes seconds, and live updates
# (and /readyz) should follow the new primary within about this much of its promotion.
MAX_BACKOFF = 1.0


class Listener:
    def __init__(
        self,
        dsn: str,
        hub: Hub,
        accounts: Accounts,
        browse: BrowseCache,
        *,
        ping_interval: float = 10.0,
        webhooks: Callable[[], None] = lambda: None,
    ) -> None:
        self.dsn = dsn
        self.hub = hub
        self.accounts = accounts
        self.browse = browse
        self.ping_interval = ping_interval
        # Wakes the webhook sender: the outbox has new deliveries.
        self.webhooks = webhooks
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
                        await cur.execute(
                            f"LISTEN {CHANNEL}; LISTEN {SEAT_CHANNEL}; LISTEN {accounts.CHANNEL};"
                            f" LISTEN {BROWSE_CHANNEL}; LISTEN {WEBHOOK_CHANNEL}"
                        )
                    # Changes to accounts made while we were away: covered by a fresh load,
                    # trusted once what was heard meanwhile is applied too.
                    await self.accounts.reload()
                    while not conn.notifies.empty():
                        self._dispatch(conn.notifies.get_nowait())
                    self.accounts.trust()
                    # Every change committed from here on will be heard: keep answers.
                    self.browse.resumed()
                    self.connected.set()
                    self.webhooks()  # what was written while we were not listening
                    if not first:
                        self.reconnects += 1
                        log.info("LISTEN connection back; resyncing subscribers")
                    first = False
                    backoff = 0.1
                    # And a fresh snapshot for every subscriber.
                    await self.hub.resync()
                    await self._pump(conn)
                except (psycopg2.Error, OSError, TimeoutError) as exc:
                    log.warning("LISTEN connection lost (%s); reconnecting", exc)
                finally:
                    self.connected.clear()
                    self.accounts.lost()
                    self.browse.lost()
                    self.hub.lost()
                    conn.close()
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, MAX_BACKOFF)

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
            self._dispatch(note)
            # A combined batch's changes arrive together: take them all now, without
            # waiting for each (a task and a timeout apiece).
            while not conn.notifies.empty():
                self._dispatch(conn.notifies.get_nowait())

    def _dispatch(self, note: Notify) -> None:
        try:
            if note.channel == accounts.CHANNEL:
                self.accounts.notified(note.payload)
            elif note.channel == SEAT_CHANNEL:
                # (The browse cache heard the event's own notification, same version.)
                self.hub.seats_notified(note.payload)
            elif note.channel == WEBHOOK_CHANNEL:
                self.webhooks()
            elif note.channel == BROWSE_CHANNEL:
                self.browse.types_notified(note.payload)
            else:
                # The cache first: it must not outlive a change a subscriber already has.
                change = json.loads(note.payload)
                self.browse.notified(change)
                self.hub.notified(change)
        except (ValueError, KeyError, TypeError) as exc:
            log.error("unreadable notification %r: %s", note.payload[:200], exc)
