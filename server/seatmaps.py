"""Seat maps of seated events: GET /api/v1/events/{id}/seats, and each instance's live copy
(a ``Board``) of the seated events its websocket clients follow by id.

A board is read from the database once, then kept current by the seat notifications
(channel ``boxoffice_seats``, migrations/0010_orders.sql): ``{"id", "version", "seats":
{state: [ids]}}``, or ``{"id", "version", "resync": true}`` for a change too big to send.
Its changes are sent on as ``seat_changes`` (since the version of the last message, up to
the board's), and a subscriber's snapshot is made from it, not from the database. A board
that may have missed a change (the LISTEN connection lost, a resync notification, a seat it
does not know) is read again before anything more is said from it. docs/live.md#seat-maps.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from common.models import LiveSeatChanges, LiveSeatMap, SeatCounts, SeatStates
from common.seatmap import LETTER, STATE_OF, STATES, pack, runs
from common.seatmap import counts as count_letters

from . import queries as q
from .db import Database, Row
from .envelope import Conflict, NotFound

if TYPE_CHECKING:
    from .live import Subscriber

SEAT_CHANNEL = "boxoffice_seats"

# Changes to more seats than this (or an eighth of the event's seats, if more) are sent as
# the whole map instead: it is no bigger, and a slow client's queue stays bounded.
MIN_DELTA_LIMIT = 64


def seat_states(row: Row) -> SeatStates:
    """The compact form of an EVENT_SEAT_STATES row."""
    letters = row["letters"] or ""
    return SeatStates(
        event_id=row["event_id"],
        venue_id=row["venue_id"],
        version=row["version"],
        seat_ids=runs(row["seat_ids"] or []),
        states=pack(letters),
        counts=count_letters(letters),
    )


class SeatMaps:
    """Seat states as the database has them now (the live copies are the hub's)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def get(self, event_id: int) -> SeatStates:
        row = await self.db.fetchone(q.EVENT_SEAT_STATES, event_id=event_id)
        if row is None:
            raise NotFound(f"Event {event_id} not found")
        if row["venue_id"] is None:
            raise Conflict(f"Event {event_id} is general admission: it has no seat map")
        return seat_states(row)


def changes_message(
    event_id: int, since: int, version: int, seats: dict[int, str], at: SeatCounts
) -> str:
    """The seat_changes message: each seat's latest state after ``since`` up to ``version``."""
    by_state: dict[str, list[int]] = {state: [] for state in STATES}
    for seat, state in seats.items():
        by_state[state].append(seat)
    message = LiveSeatChanges(
        event_id=event_id,
        since=since,
        version=version,
        counts=at,
        **{state: runs(sorted(ids)) for state, ids in by_state.items()},
    )
    return message.model_dump_json()


@dataclass
class Changes:
    """A board's changes between two messages, sent to every subscriber of the event."""

    since: int
    version: int
    seats: dict[int, str]  # seat id -> its latest state
    counts: SeatCounts
    text: str | None  # None: too many seats; the subscribers get the whole map instead


class Board:
    """This instance's copy of one seated event's seat states, for its subscribers."""

    def __init__(self, event_id: int) -> None:
        self.event_id = event_id
        self.subscribers: set[Subscriber] = set()
        # ready: the states are the event's at ``version`` and every later change will be
        # heard. gone: the event is not seated (or no more), or nobody here follows it.
        self.ready = False
        self.gone = False
        self.venue_id = 0
        self.version = 0
        self._runs: list[tuple[int, int]] = []
        self._index: dict[int, int] = {}
        self._letters = bytearray()
        self._counts: dict[int, int] = {}
        self.changes: dict[int, str] = {}  # since the last message: seat id -> latest state
        self.since = 0  # the version of the last message said
        self._texts: dict[str, str] = {}  # the map at ``version``, per reason
        self._reading = False
        self._buffer: list[tuple[int, dict[str, list[int]] | None]] = []
        self._generation = 0  # a read started before stale() may have missed something
        self._lock = asyncio.Lock()

    @property
    def delta_limit(self) -> int:
        return max(MIN_DELTA_LIMIT, len(self._index) // 8)

    def stale(self) -> None:
        """Something may have been missed: read again before saying anything more."""
        self.ready = False
        self._generation += 1

    async def load(self, db: Database, listening: Callable[[], bool]) -> None:
        """Read the seats (unless ready) and apply what was heard during the read. Not
        while nothing is heard: the read after the LISTEN connection is back does it."""
        async with self._lock:
            while not self.ready and not self.gone:
                if not listening():
                    return
                generation = self._generation
                self._buffer = []
                self._reading = True
                try:
                    row = await db.fetchone(q.EVENT_SEAT_STATES, event_id=self.event_id)
                finally:
                    self._reading = False
                if generation != self._generation:
                    continue
                if row is None or row["venue_id"] is None:
                    self.gone = True
                    return
                self._read(row)
                heard, self._buffer = self._buffer, []
                for version, seats in heard:  # committed after the read: newer versions
                    self.heard(version, seats)
                # Whoever waits for this read is sent the whole map: no changes are due.
                self.changes = {}
                self.since = self.version

    def _read(self, row: Row) -> None:
        ids: list[int] = row["seat_ids"] or []
        letters: str = row["letters"] or ""
        self.venue_id = row["venue_id"]
        self.version = row["version"]
        self._runs = runs(ids)
        self._index = {seat: i for i, seat in enumerate(ids)}
        self._letters = bytearray(letters.encode())
        self._counts = {ord(LETTER[state]): letters.count(LETTER[state]) for state in STATES}
        self._texts = {}
        self.ready = True

    def heard(self, version: int, seats: dict[str, list[int]] | None) -> bool:
        """A notification (``seats`` None: a resync one); True when the hub has work: changes
        to send, or the seats to read again."""
        if not self.ready:
            if self._reading:  # the read may or may not include it: decided by version
                self._buffer.append((version, seats))
            return False
        if version <= self.version:
            return False
        if seats is None:
            self.stale()
            return True
        for state, ids in seats.items():
            letter = LETTER.get(state)
            if letter is None:
                self.stale()
                return True
            code = ord(letter)
            for seat in ids:
                i = self._index.get(seat)
                if i is None:  # not a seat of this copy: read the event again
                    self.stale()
                    return True
                old = self._letters[i]
                if old != code:
                    self._counts[old] -= 1
                    self._counts[code] += 1
                    self._letters[i] = code
                self.changes[seat] = state
        self.version = version
        self._texts = {}
        return True

    def counts(self) -> SeatCounts:
        return SeatCounts(**{STATE_OF[chr(code)]: n for code, n in self._counts.items()})

    def take_changes(self) -> Changes | None:
        """The changes since the last message, once; None when there are none."""
        if not self.changes:
            return None
        seats, self.changes = self.changes, {}
        at = self.counts()
        text = None
        if len(seats) <= self.delta_limit:
            text = changes_message(self.event_id, self.since, self.version, seats, at)
        changes = Changes(self.since, self.version, seats, at, text)
        self.since = self.version
        return changes

    def snapshot(self, reason: str) -> tuple[int, str]:
        """The whole map as it is now (made once per version and reason), and its version."""
        text = self._texts.get(reason)
        if text is None:
            letters = self._letters.decode()
            text = LiveSeatMap(
                reason=reason,  # type: ignore[arg-type]
                event_id=self.event_id,
                venue_id=self.venue_id,
                version=self.version,
                seat_ids=self._runs,
                states=pack(letters),
                counts=self.counts(),
            ).model_dump_json()
            self._texts[reason] = text
        return self.version, text
