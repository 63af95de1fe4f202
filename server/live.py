"""Live updates inside one server instance: who is subscribed to what, and fanning each
change out to them.

Changes arrive from PostgreSQL (see ``listener.py``). Under a storm they are coalesced
twice, so memory and CPU stay bounded however fast seats sell:

- per event in the hub: a flush takes the latest state of each changed event, at most
  once per ``flush_interval``, and serialises it once for every subscriber;
- per event in each subscriber: a client still busy receiving gets, next time, only the
  latest state of each event it missed, never a backlog.

A message is never older than one already sent: versions only go up.

Seated events followed by id also get their seat map and its changes (``seatmaps.py``): the
hub keeps a copy of the map, merges each flush's changes per seat, and a subscriber still
busy receiving gets its missed changes merged too, or the whole map once they outgrow it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import psycopg2
from aiohttp import WSCloseCode, web

from common.models import Event, LiveEvent, SeatCounts

from . import queries as q
from .db import Database, Row
from .seatmaps import Board, Changes, changes_message
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


@dataclass
class SeatsOwed:
    """What a subscriber is owed of one seated event: the whole map (``reason`` set: made
    from the board when sent, so it is the latest), or the changes it has not been sent."""

    board: Board
    reason: str | None = None
    since: int = 0
    version: int = 0
    seats: dict[int, str] = field(default_factory=dict)
    counts: SeatCounts | None = None
    text: str | None = None  # the hub's message, shared, until another is merged into it


class Subscriber:
    """One websocket client: what it wants, and what it has yet to be sent."""

    def __init__(self, ws: web.WebSocketResponse, who: Principal) -> None:
        self.ws = ws
        self.who = who
        self.events: set[int] = set()
        self.everything = False
        self._pending: dict[int, tuple[int, str]] = {}  # event id -> (version, message)
        self._sent: dict[int, int] = {}  # event id -> version last sent
        self._seats: dict[int, SeatsOwed] = {}  # seated event id -> its seats owed
        self._seats_sent: dict[int, int] = {}  # seated event id -> seat version last sent
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
        """Event states and seat messages queued and not yet sent: never more than one of
        each per event."""
        return len(self._pending) + len(self._seats)

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

    def offer_seat_map(self, board: Board, reason: str) -> None:
        """Owe the event's whole map: it replaces any changes owed, which it includes."""
        self._seats[board.event_id] = SeatsOwed(board, reason=reason)
        self._wake.set()

    def offer_seat_changes(self, board: Board, changes: Changes) -> None:
        """Queue changes to a map this client has or is owed, merged with those not yet
        sent (each seat's latest state); past the board's limit, the whole map instead."""
        event_id = board.event_id
        owed = self._seats.get(event_id)
        if owed is None:
            sent = self._seats_sent.get(event_id)
            if sent is None or changes.version <= sent:
                return  # no map yet (the one owed will include this), or already said
            self._seats[event_id] = SeatsOwed(
                board, None, changes.since, changes.version, changes.seats, changes.counts,
                changes.text,
            )  # fmt: skip
        elif owed.reason is not None:
            return  # the map owed is made when sent, with these changes in it
        else:
            if owed.text is not None:  # the hub's dict is shared: merge into a copy
                owed.seats = dict(owed.seats)
                owed.text = None
            owed.seats.update(changes.seats)
            owed.version = changes.version
            owed.counts = changes.counts
            if len(owed.seats) > board.delta_limit:
                self._seats[event_id] = SeatsOwed(board, reason="catch_up")
        self._wake.set()

    def forget_seats(self, event_id: int) -> None:
        self._seats.pop(event_id, None)
        self._seats_sent.pop(event_id, None)

    def _seat_messages(self) -> list[str]:
        """The seat messages to send now; a map owed of a board being read again waits."""
        texts = []
        for event_id, owed in list(self._seats.items()):
            board = owed.board
            if board.gone:
                del self._seats[event_id]
                continue
            if owed.reason is not None:
                if not board.ready:
                    continue
                version, text = board.snapshot(owed.reason)
            else:
                assert owed.counts is not None
                version = owed.version
                text = owed.text or changes_message(
                    event_id, owed.since, owed.version, owed.seats, owed.counts
                )
            del self._seats[event_id]
            self._seats_sent[event_id] = version
            texts.append(text)
        return texts

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
                batch.extend(self._seat_messages())
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
        # Seat maps of the seated events followed by id here (by event id), those with
        # changes to send (or to read again), and the reads again in progress.
        self.boards: dict[int, Board] = {}
        self._seats_due: set[int] = set()
        self._rereads: dict[int, asyncio.Task[None]] = {}
        self.listening = False  # every change is heard (the LISTEN connection is up)

    # --- subscriptions ------------------------------------------------------------------

    def join(self, sub: Subscriber) -> None:
        self.subscribers.add(sub)

    def leave(self, sub: Subscriber) -> None:
        self.subscribers.discard(sub)
        self._everything.discard(sub)
        for event_id in sub.events:
            self._unindex(event_id, sub)
            self._unwatch_seats(sub, event_id)
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
        if ids is not None:  # seat maps only by id: "all" is every event, seated or not
            for row in rows:
                if row["venue_id"] is not None and row["id"] not in following:
                    await self._watch_seats(sub, row["id"])
        return missing

    async def _watch_seats(self, sub: Subscriber, event_id: int) -> None:
        """Follow a seated event's seats: its map first (read once per instance), then
        its changes."""
        board = self.boards.get(event_id)
        if board is None:
            board = self.boards[event_id] = Board(event_id)
        board.subscribers.add(sub)
        try:
            await board.load(self.db, self._listening)
        except BaseException:
            self._unwatch_seats(sub, event_id)
            raise
        if board.gone:  # not seated after all (deleted meanwhile)
            self._unwatch_seats(sub, event_id)
            return
        # Sent once the board is ready (now, or after the LISTEN connection is back).
        sub.offer_seat_map(board, "subscribe")

    def _unwatch_seats(self, sub: Subscriber, event_id: int) -> None:
        sub.forget_seats(event_id)
        board = self.boards.get(event_id)
        if board is None:
            return
        board.subscribers.discard(sub)
        if not board.subscribers:  # nobody here follows it: stop keeping it
            del self.boards[event_id]
            board.gone = True
            reread = self._rereads.pop(event_id, None)
            if reread is not None:
                reread.cancel()

    def _listening(self) -> bool:
        return self.listening

    def unsubscribe(self, sub: Subscriber, ids: list[int] | None) -> None:
        if ids is None:
            sub.everything = False
            self._everything.discard(sub)
            ids = list(sub.events)
        for event_id in ids:
            sub.events.discard(event_id)
            self._unindex(event_id, sub)
            self._unwatch_seats(sub, event_id)

    def _unindex(self, event_id: int, sub: Subscriber) -> None:
        subs = self._by_event.get(event_id)
        if subs is not None:
            subs.discard(sub)
            if not subs:
                del self._by_event[event_id]

    # --- changes ------------------------------------------------------------------------

    def notified(self, change: dict[str, Any]) -> None:
        """A change heard from the database (the trigger's JSON, read); sent on the next
        flush."""
        event_id, version = int(change["id"]), int(change["version"])
        current = self._changed.get(event_id)
        if current is None or version > current[0]:
            self._changed[event_id] = (version, change)
            self._wake.set()

    def seats_notified(self, payload: str) -> None:
        """Seats of a seated event changed (``seatmaps.py`` has the payload); merged into
        its board, if anyone here follows it, and sent on the next flush."""
        change = json.loads(payload)
        board = self.boards.get(int(change["id"]))
        if board is None:
            return
        seats: dict[str, list[int]] | None = None  # None: read the seats again
        if not change.get("resync"):
            try:
                seats = {
                    str(state): [int(i) for i in ids] for state, ids in change["seats"].items()
                }
            except (AttributeError, KeyError, TypeError, ValueError):
                log.error("unreadable seats of event %s; reading them again", board.event_id)
        if board.heard(int(change["version"]), seats):
            self._seats_due.add(board.event_id)
            self._wake.set()

    async def flush_forever(self) -> None:
        try:
            while True:
                await self._wake.wait()
                self._wake.clear()
                self._flush_events()
                self._flush_seats()
                # Sent at once when things are quiet; at most this often under a storm.
                await asyncio.sleep(self.flush_interval)
        finally:
            for task in self._rereads.values():
                task.cancel()

    def _flush_events(self) -> None:
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

    def _flush_seats(self) -> None:
        due, self._seats_due = self._seats_due, set()
        for event_id in due:
            board = self.boards.get(event_id)
            if board is None:
                continue
            if not board.ready:  # a resync notification, or a seat it did not know
                self._reread(board)
                continue
            changes = board.take_changes()
            if changes is None:
                continue
            for sub in board.subscribers:
                if changes.text is None:
                    sub.offer_seat_map(board, "catch_up")
                else:
                    sub.offer_seat_changes(board, changes)

    def _reread(self, board: Board) -> None:
        """Read a board's seats again in a task of its own (the flush never waits for the
        database); its subscribers then get the whole map."""
        if board.event_id not in self._rereads:
            task = asyncio.create_task(self._reread_seats(board), name="reread seats")
            self._rereads[board.event_id] = task

    async def _reread_seats(self, board: Board) -> None:
        backoff = 0.1
        try:
            while True:
                try:
                    await board.load(self.db, self._listening)
                    break
                except (psycopg2.Error, OSError, TimeoutError) as exc:
                    log.warning(
                        "reading event %s's seats failed (%s); retrying in %.1f s",
                        board.event_id, exc, backoff,
                    )  # fmt: skip
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, 5.0)
        finally:
            if self._rereads.get(board.event_id) is asyncio.current_task():
                del self._rereads[board.event_id]
        if board.ready and not board.gone:
            for sub in board.subscribers:
                sub.offer_seat_map(board, "resync")

    def lost(self) -> None:
        """The LISTEN connection dropped: changes may go unheard, so no board says more
        until it is read again (``resync``)."""
        self.listening = False
        for board in self.boards.values():
            board.stale()

    def _interested(self, event_id: int) -> Iterable[Subscriber]:
        yield from self._everything
        for sub in self._by_event.get(event_id, ()):
            if not sub.everything:
                yield sub

    async def resync(self) -> None:
        """Send every subscriber a fresh snapshot (after the LISTEN connection came back)."""
        self.listening = True
        for board in self.boards.values():
            board.stale()
            self._reread(board)
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
