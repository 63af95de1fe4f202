"""Live updates inside one server instance: who is subscribed to what, and fanning each
change out to them.

Changes arrive from PostgreSQL (see ``listener.py``). Under a storm they are coalesced
twice, so memory and CPU stay bounded however fast seats sell:

- per event in the hub: a flush takes the latest state of each changed event, at most
  once per ``flush_interval``, and serialises it once for every subscriber;
- per event in each subscriber: a client still busy receiving gets, next time, only the
  latest state of each event it missed, never a backlog.

A message is never older than one already sent: versions only go up.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections import deque
from collections.abc import Iterable, Iterator
from typing import Any

from aiohttp import WSCloseCode, web

from common.models import Event, LiveEvent

from . import queries as q
from .db import Database, Row
from .security import Principal

log = logging.getLogger(__name__)

# Close codes of /api/v1/ws, besides the standard ones (1001 going away, 1007 a text message
# that is not UTF-8, 1009 too big: aiohttp sends these two itself).
CLOSE_UNAUTHORIZED = 4401  # missing, invalid or expired access token, or revoked API token
CLOSE_TOO_SLOW = 4408  # the client did not read its messages in time
CLOSE_INTERNAL_ERROR = 1011  # a server bug, logged with its traceback
CLOSE_TRY_AGAIN = 1013  # the database was unreachable (checking an API token, subscribing)
CLOSE_CODES = {
    1001: "the server is shutting down or restarting: reconnect",
    1007: "a text message from the client was not UTF-8",
    1009: "a message from the client was too large",
    CLOSE_INTERNAL_ERROR: "an error on the server (logged): reconnect",
    CLOSE_TRY_AGAIN: "the database is unavailable: reconnect shortly",
    CLOSE_UNAUTHORIZED: "missing, invalid, expired or revoked token: get a valid one, reconnect",
    CLOSE_TOO_SLOW: "the client did not keep up with its messages: reconnect",
}

MAX_CONTROL_MESSAGES = 64  # acks and errors waiting to be sent, before a client counts as stuck
# Subscribes that read the database, per connection: this many at once, then one a second.
# (A subscribe to what the connection already follows reads nothing and is not counted.)
SUBSCRIBE_BURST = 10
SUBSCRIBE_INTERVAL = 1.0


class TooManySubscribes(Exception):
    """A connection asked for fresh snapshots faster than it may; retry in ``retry_after``."""

    def __init__(self, retry_after: float) -> None:
        super().__init__(f"too many subscribes: retry in {retry_after:.1f} s")
        self.retry_after = retry_after


class Allowance:
    """A token bucket: ``burst`` at once, then one every ``interval`` seconds."""

    def __init__(self, burst: int, interval: float) -> None:
        self.burst = burst
        self.interval = interval
        self._tokens = float(burst)
        self._updated = time.monotonic()

    def take(self) -> None:
        """Use one, or raise TooManySubscribes saying when the next is due."""
        now = time.monotonic()
        self._tokens = min(self.burst, self._tokens + (now - self._updated) / self.interval)
        self._updated = now
        if self._tokens < 1:
            raise TooManySubscribes((1 - self._tokens) * self.interval)
        self._tokens -= 1


class Subscriber:
    """One websocket client: what it wants, and what it has yet to be sent."""

    def __init__(self, ws: web.WebSocketResponse, who: Principal) -> None:
        self.ws = ws
        self.who = who
        self.events: set[int] = set()
        self.everything = False
        self._pending: dict[int, tuple[int, str]] = {}  # event id -> (version, message)
        self._sent: dict[int, int] = {}  # event id -> version last sent
        self._control: deque[str] = deque()
        self._wake = asyncio.Event()
        self._holding = 0  # subscribes in progress: event messages wait for their ack
        self.stuck = False
        self._closing: tuple[int, str] | None = None  # close_soon()'s code and reason
        self.closed_with: tuple[int, str] | None = None
        self.reads = Allowance(SUBSCRIBE_BURST, SUBSCRIBE_INTERVAL)  # subscribes that read

    @contextlib.contextmanager
    def holding(self) -> Iterator[None]:
        self._holding += 1
        try:
            yield
        finally:
            self._holding -= 1
            self._wake.set()

    @property
    def waiting(self) -> int:
        """Event states queued and not yet sent: never more than one per event."""
        return len(self._pending)

    def wants(self, event_id: int) -> bool:
        return self.everything or event_id in self.events

    def offer(self, event_id: int, version: int, text: str, *, snapshot: bool = False) -> None:
        """Queue the state of an event, replacing an older one not yet sent. A snapshot is
        sent even at the version last sent: the client asked for it, or the server owes it
        one after a reconnection."""
        sent = self._sent.get(event_id, 0)
        if version < sent or (version == sent and not snapshot):
            return
        pending = self._pending.get(event_id)
        if pending is None or version > pending[0] or (snapshot and version == pending[0]):
            self._pending[event_id] = (version, text)
            self._wake.set()

    def say(self, text: str) -> None:
        """Queue a reply (ack, error, pong): these are never dropped, so they are bounded."""
        if len(self._control) >= MAX_CONTROL_MESSAGES:
            self.stuck = True
        self._control.append(text)
        self._wake.set()

    async def send_forever(self, send_timeout: float) -> None:
        """The only task that writes to the websocket; closes it if the client stalls."""
        while not self.ws.closed:
            await self._wake.wait()
            self._wake.clear()
            if self.stuck:
                await self.close(CLOSE_TOO_SLOW, "too many unanswered messages")
                return
            if self._closing is not None:
                await self.close(*self._closing)
                return
            batch = list(self._control)
            self._control.clear()
            if not self._holding:
                for event_id, (version, text) in self._pending.items():
                    self._sent[event_id] = version
                    batch.append(text)
                self._pending.clear()
            try:
                async with asyncio.timeout(send_timeout):
                    for text in batch:
                        await self.ws.send_str(text)
            except TimeoutError:
                await self.close(
                    CLOSE_TOO_SLOW, f"not reading: nothing sent for {send_timeout:g} s"
                )
                return
            except ConnectionError:
                return

    def close_soon(self, code: int, reason: str) -> None:
        """Close from a callback (a timer): the sender task does it, so no task is left
        running unowned."""
        self._closing = (code, reason)
        self._wake.set()

    async def close(self, code: int, reason: str) -> None:
        self.closed_with = (code, reason)
        # A client that stopped reading would never drain the close frame: do not wait.
        with contextlib.suppress(ConnectionError, RuntimeError):
            await self.ws.close(
                code=code, message=reason.encode()[:120], drain=code != CLOSE_TOO_SLOW
            )


class Hub:
    """Every subscriber of this instance, indexed by event, and the changes to send them."""

    def __init__(self, db: Database, flush_interval: float) -> None:
        self.db = db
        self.flush_interval = flush_interval
        self.subscribers: set[Subscriber] = set()
        self._by_event: dict[int, set[Subscriber]] = {}
        self._everything: set[Subscriber] = set()
        self._changed: dict[int, tuple[int, str]] = {}
        self._wake = asyncio.Event()

    # --- subscriptions ------------------------------------------------------------------

    def join(self, sub: Subscriber) -> None:
        self.subscribers.add(sub)

    def leave(self, sub: Subscriber) -> None:
        self.subscribers.discard(sub)
        self._everything.discard(sub)
        for event_id in sub.events:
            self._unindex(event_id, sub)
        sub.events.clear()

    async def subscribe(self, sub: Subscriber, ids: list[int] | None) -> list[int]:
        """Subscribe to events (None: all), then queue a snapshot of each; return the ids
        that match no event. Subscribing before reading means no change falls between.

        Events the connection already follows are neither read again nor sent again: it
        has them and hears every change. A subscribe that does read is paced (``reads``):
        past the allowance it raises TooManySubscribes and changes nothing."""
        following = set(sub.events)
        if ids is None:
            if sub.everything:
                return []
            sub.reads.take()
            sub.everything = True
            self._everything.add(sub)
            rows = await self.db.fetchall(q.ALL_EVENTS)
            missing: list[int] = []
        else:
            new = set(ids) - following
            if not new:
                return []
            sub.reads.take()
            for event_id in new:
                sub.events.add(event_id)
                self._by_event.setdefault(event_id, set()).add(sub)
            rows = await self.db.fetchall(q.EVENTS_BY_ID, ids=sorted(new))
            missing = sorted(new - {r["id"] for r in rows})
            for event_id in missing:  # only real events stay subscribed
                sub.events.discard(event_id)
                self._unindex(event_id, sub)
        for row in rows:
            if row["id"] not in following:
                sub.offer(row["id"], row["version"], snapshot(row, "subscribe"), snapshot=True)
        return missing

    def unsubscribe(self, sub: Subscriber, ids: list[int] | None) -> None:
        if ids is None:
            sub.everything = False
            self._everything.discard(sub)
            ids = list(sub.events)
        for event_id in ids:
            sub.events.discard(event_id)
            self._unindex(event_id, sub)

    def _unindex(self, event_id: int, sub: Subscriber) -> None:
        subs = self._by_event.get(event_id)
        if subs is not None:
            subs.discard(sub)
            if not subs:
                del self._by_event[event_id]

    # --- changes ------------------------------------------------------------------------

    def notified(self, payload: str) -> None:
        """A change heard from the database (the trigger's JSON); sent on the next flush."""
        change = json.loads(payload)
        event_id, version = int(change["id"]), int(change["version"])
        current = self._changed.get(event_id)
        if current is None or version > current[0]:
            self._changed[event_id] = (version, change)
            self._wake.set()

    async def flush_forever(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            changed, self._changed = self._changed, {}
            for event_id, (version, change) in changed.items():
                subs = list(self._interested(event_id))
                if subs:  # serialised only if someone listens, then once for all of them
                    try:
                        text = live_message(change)
                    except ValueError as exc:  # pydantic's ValidationError included
                        log.error("unusable change for event %s: %s", event_id, exc)
                        continue
                    for sub in subs:
                        sub.offer(event_id, version, text)
            # Sent at once when things are quiet; at most this often under a storm.
            await asyncio.sleep(self.flush_interval)

    def _interested(self, event_id: int) -> Iterable[Subscriber]:
        yield from self._everything
        for sub in self._by_event.get(event_id, ()):
            if not sub.everything:
                yield sub

    async def resync(self) -> None:
        """Send every subscriber a fresh snapshot (after the LISTEN connection came back)."""
        if not self.subscribers:
            return
        if self._everything:
            rows = await self.db.fetchall(q.ALL_EVENTS)
        else:
            rows = await self.db.fetchall(q.EVENTS_BY_ID, ids=sorted(self._by_event))
        for row in rows:
            text = snapshot(row, "resync")
            for sub in self._interested(row["id"]):
                sub.offer(row["id"], row["version"], text, snapshot=True)

    async def close_all(self, code: int, reason: str) -> None:
        await asyncio.gather(*(sub.close(code, reason) for sub in list(self.subscribers)))


def snapshot(row: Row, reason: str) -> str:
    event = Event.model_validate(row)
    message = LiveEvent(
        type="snapshot", event_id=event.id, version=event.version, event=event, reason=reason
    )
    return message.model_dump_json()


def live_message(change: dict[str, Any]) -> str:
    """The websocket message for a change the trigger reported (same shapes as the REST API)."""
    event = Event.model_validate(change["event"]) if change.get("event") else None
    message = LiveEvent(
        type=change["type"], event_id=change["id"], version=change["version"], event=event
    )
    return message.model_dump_json()


GOING_AWAY = WSCloseCode.GOING_AWAY
